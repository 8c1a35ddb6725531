package owntracks

// Payloads are validated and picked apart in one pass by the small
// scanner below rather than by encoding/json, whose reflection-driven
// decoding costs several times more; at 200,000 events/s during a rebuild
// that matters. It accepts exactly what json.Valid accepts, including the
// nesting limit (FuzzDecode compares the two), and for input it rejects
// the reason comes from encoding/json's own SyntaxError.

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// fields receives every member any kind uses. Member names match exactly,
// as the apps send them; a repeated member counts as its last value.
type fields struct {
	Type text // _type

	Lat, Lon, Tst, CreatedAt            number
	Acc, Alt, Vac, Vel, Cog, Batt, BS   number
	M, P, Rad                           number
	Conn, T, TID, SSID, BSSID, POI, Tag text
	InRegions, InRIDs, Motion           texts

	Event, Desc, RID text
	Wtst             number

	UUID         text
	Major, Minor number
	Waypoints    []byte // raw

	Name, Face text
	Data       text

	ID           text   // _id
	IOS, Android []byte // raw

	Action          text
	Steps, From, To number
	RSSI, Prox      number
	Request         text
	Tour            []byte // raw
}

// member records one member of a payload object.
func (f *fields) member(key, val []byte) {
	switch string(key) {
	case "_type":
		f.Type.set(val)
	case "lat":
		f.Lat.set(val)
	case "lon":
		f.Lon.set(val)
	case "tst":
		f.Tst.set(val)
	case "created_at":
		f.CreatedAt.set(val)
	case "acc":
		f.Acc.set(val)
	case "alt":
		f.Alt.set(val)
	case "vac":
		f.Vac.set(val)
	case "vel":
		f.Vel.set(val)
	case "cog":
		f.Cog.set(val)
	case "batt":
		f.Batt.set(val)
	case "bs":
		f.BS.set(val)
	case "m":
		f.M.set(val)
	case "p":
		f.P.set(val)
	case "rad":
		f.Rad.set(val)
	case "conn":
		f.Conn.set(val)
	case "t":
		f.T.set(val)
	case "tid":
		f.TID.set(val)
	case "SSID":
		f.SSID.set(val)
	case "BSSID":
		f.BSSID.set(val)
	case "poi":
		f.POI.set(val)
	case "tag":
		f.Tag.set(val)
	case "inregions":
		f.InRegions.set(val)
	case "inrids":
		f.InRIDs.set(val)
	case "motionactivities":
		f.Motion.set(val)
	case "event":
		f.Event.set(val)
	case "desc":
		f.Desc.set(val)
	case "rid":
		f.RID.set(val)
	case "wtst":
		f.Wtst.set(val)
	case "uuid":
		f.UUID.set(val)
	case "major":
		f.Major.set(val)
	case "minor":
		f.Minor.set(val)
	case "waypoints":
		f.Waypoints = val
	case "name":
		f.Name.set(val)
	case "face":
		f.Face.set(val)
	case "data":
		f.Data.set(val)
	case "_id":
		f.ID.set(val)
	case "iOS":
		f.IOS = val
	case "android":
		f.Android = val
	case "action":
		f.Action.set(val)
	case "steps":
		f.Steps.set(val)
	case "from":
		f.From.set(val)
	case "to":
		f.To.set(val)
	case "rssi":
		f.RSSI.set(val)
	case "prox":
		f.Prox.set(val)
	case "request":
		f.Request.set(val)
	case "tour":
		f.Tour = val
	}
}

// walk validates p as one JSON value and, when it is an object, calls
// member for each of its members. It returns the first byte of the value
// and whether p is valid. member may have been called for a payload that
// turns out invalid.
func walk(p []byte, member func(key, val []byte)) (first byte, ok bool) {
	i := skipSpace(p, 0)
	if i >= len(p) {
		return 0, false
	}
	var end int
	if p[i] == '{' {
		end = objectEnd(p, i, 1, member)
	} else {
		end = valueEnd(p, i, 0)
	}
	if end < 0 || skipSpace(p, end) != len(p) {
		return 0, false
	}
	return p[i], true
}

// eachMember calls fn for each member of p, an object within a payload
// walk has accepted.
func eachMember(p []byte, fn func(key, val []byte)) {
	objectEnd(p, skipSpace(p, 0), 1, fn)
}

// eachElement calls fn for each element of p, an array within a payload
// walk has accepted.
func eachElement(p []byte, fn func(i int, val []byte)) {
	arrayEnd(p, skipSpace(p, 0), 1, fn)
}

// valueEnd returns the offset just after the JSON value at p[i], or -1
// when there is no valid value there. depth counts the enclosing
// containers.
func valueEnd(p []byte, i, depth int) int {
	if i >= len(p) {
		return -1
	}
	switch p[i] {
	case '{':
		return objectEnd(p, i, depth+1, nil)
	case '[':
		return arrayEnd(p, i, depth+1, nil)
	case '"':
		return stringEnd(p, i)
	case 't':
		return literalEnd(p, i, "true")
	case 'f':
		return literalEnd(p, i, "false")
	case 'n':
		return literalEnd(p, i, "null")
	}
	return numberEnd(p, i)
}

// objectEnd is valueEnd for the object at p[i], whose depth includes
// itself; fn, when not nil, receives each member.
func objectEnd(p []byte, i, depth int, fn func(key, val []byte)) int {
	if i >= len(p) || p[i] != '{' || depth > maxDepth {
		return -1
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return i + 1
	}
	for {
		keyEnd := stringEnd(p, i)
		if keyEnd < 0 {
			return -1
		}
		key := p[i:keyEnd]
		i = skipSpace(p, keyEnd)
		if i >= len(p) || p[i] != ':' {
			return -1
		}
		i = skipSpace(p, i+1)
		end := valueEnd(p, i, depth)
		if end < 0 {
			return -1
		}
		if fn != nil {
			if k, ok := unquote(key); ok {
				fn(k, p[i:end])
			}
		}
		i = skipSpace(p, end)
		if i >= len(p) {
			return -1
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}

// arrayEnd is valueEnd for the array at p[i], whose depth includes
// itself; fn, when not nil, receives each element and its index.
func arrayEnd(p []byte, i, depth int, fn func(n int, val []byte)) int {
	if i >= len(p) || p[i] != '[' || depth > maxDepth {
		return -1
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == ']' {
		return i + 1
	}
	for n := 0; ; n++ {
		end := valueEnd(p, i, depth)
		if end < 0 {
			return -1
		}
		if fn != nil {
			fn(n, p[i:end])
		}
		i = skipSpace(p, end)
		if i >= len(p) {
			return -1
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case ']':
			return i + 1
		default:
			return -1
		}
	}
}

// stringEnd is valueEnd for the string at p[i].
func stringEnd(p []byte, i int) int {
	if i >= len(p) || p[i] != '"' {
		return -1
	}
	for i++; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(p) {
				return -1
			}
			switch p[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(p) {
					return -1
				}
				for _, h := range p[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// numberEnd is valueEnd for the number at p[i]:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func numberEnd(p []byte, i int) int {
	if i < len(p) && p[i] == '-' {
		i++
	}
	switch {
	case i >= len(p):
		return -1
	case p[i] == '0':
		i++
	case '1' <= p[i] && p[i] <= '9':
		i = digitsEnd(p, i)
	default:
		return -1
	}
	if i < len(p) && p[i] == '.' {
		if i = digitsEnd(p, i+1); i < 0 {
			return -1
		}
	}
	if i < len(p) && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < len(p) && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if i = digitsEnd(p, i); i < 0 {
			return -1
		}
	}
	return i
}

// digitsEnd returns the end of the run of at least one digit at p[i], or
// -1 when there is none.
func digitsEnd(p []byte, i int) int {
	start := i
	for i < len(p) && '0' <= p[i] && p[i] <= '9' {
		i++
	}
	if i == start {
		return -1
	}
	return i
}

func literalEnd(p []byte, i int, lit string) int {
	if len(p)-i >= len(lit) && string(p[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return -1
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}
