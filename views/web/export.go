package web

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// The downloads of a history range. Each is written while the range is
// read: memory stays flat however many points it holds.

func (s *Server) exportGPX(w http.ResponseWriter, r *http.Request) {
	s.export(w, r, &gpxTrack{})
}

func (s *Server) exportGeoJSON(w http.ResponseWriter, r *http.Request) {
	s.export(w, r, &geoJSONTrack{})
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	s.export(w, r, &csvTrack{})
}

// trackFormat writes one download format.
type trackFormat interface {
	ext() string
	contentType() string
	begin(b *httpx.BufWriter, t trackInfo)
	point(b *httpx.BufWriter, p projections.Point)
	end(b *httpx.BufWriter)
}

// linePass is a format that reads the range twice: once for a line
// through every point, then for the points. Reading twice keeps memory
// flat; a point arriving between the passes may be in one and not the
// other.
type linePass interface {
	linePoint(b *httpx.BufWriter, p projections.Point)
	lineEnd(b *httpx.BufWriter, t trackInfo)
}

// trackInfo describes the track for the file's header.
type trackInfo struct {
	Name     string // the friend's display name
	User     string
	Device   string
	From, To time.Time
	Created  time.Time
}

// export streams a friend's points in a range as a file download.
func (s *Server) export(w http.ResponseWriter, r *http.Request, f trackFormat) {
	id, ok := s.friendParam(w, r)
	if !ok {
		return
	}
	loc := views.ViewerLocation(r, s.now().Location())
	from, to, err := s.rangeOf(r.URL.Query(), loc)
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	fv, _ := s.proj(r).Friend(id)
	info := trackInfo{Name: fv.DisplayName(), User: fv.User, Device: fv.Device, From: from.In(loc), To: to.In(loc), Created: s.now()}

	h := w.Header()
	h.Set("Content-Type", f.contentType())
	h.Set("Content-Disposition", attachment(exportFilename(fv.User, fv.Device, info.From, info.To, f.ext())))
	h.Set("X-Content-Type-Options", "nosniff")
	cw := &httpx.CountWriter{W: w}
	bw := httpx.NewBufWriter(cw)
	f.begin(bw, info)
	if lp, ok := f.(linePass); ok {
		err = httpx.EachPoint(r.Context(), s.proj(r), id, from.Unix(), to.Unix(), func(p projections.Point) error {
			lp.linePoint(bw, p)
			return bw.Err()
		})
		if err == nil {
			lp.lineEnd(bw, info)
		}
	}
	if err == nil {
		err = httpx.EachPoint(r.Context(), s.proj(r), id, from.Unix(), to.Unix(), func(p projections.Point) error {
			f.point(bw, p)
			return bw.Err()
		})
	}
	if err != nil {
		if bw.Err() == nil { // else the client went away
			httpx.FailMid(s.Logger, w, r, cw.N, "the history of "+string(id), err)
		}
		return
	}
	f.end(bw)
	_ = bw.Flush() // an error here means the client went away
}

func exportFilename(user, device string, from, to time.Time, ext string) string {
	date := from.Format("2006-01-02")
	if last := to.Add(-time.Second).Format("2006-01-02"); last != date {
		date += "_" + last
	}
	return safeName(user, "friend") + "-" + safeName(device, "device") + "-" + date + "." + ext
}

// safeName keeps the letters and digits (of any script), '.', '_' and '-'
// of s, turns runs of anything else into one '_', and caps the length at
// 40 characters.
func safeName(s, fallback string) string {
	var b strings.Builder
	gap, n := false, 0
	for _, c := range s {
		if n >= 40 {
			break
		}
		switch {
		case unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '-' || c == '.':
			b.WriteRune(c)
			gap = false
			n++
		case !gap && b.Len() > 0:
			b.WriteByte('_')
			gap = true
			n++
		}
	}
	out := strings.Trim(b.String(), "._-")
	if out == "" {
		return fallback
	}
	return out
}

// attachment is the Content-Disposition of a download named name (from
// safeName: letters, digits, '.', '_', '-'): an ASCII filename for old
// clients (other letters become '_', one for a run) and, when the name has
// more, RFC 5987's filename* in UTF-8, which browsers prefer (RFC 6266).
func attachment(name string) string {
	var ascii, ext []byte
	for _, c := range name {
		b := byte('_')
		if c < utf8.RuneSelf {
			b = byte(c)
		}
		if b == '_' && len(ascii) > 0 && ascii[len(ascii)-1] == '_' {
			continue
		}
		ascii = append(ascii, b)
	}
	v := `attachment; filename="` + string(ascii) + `"`
	if string(ascii) == name {
		return v
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-':
			ext = append(ext, c)
		default:
			ext = append(ext, '%', hex[c>>4], hex[c&0xf])
		}
	}
	return v + "; filename*=UTF-8''" + string(ext)
}

// GPX 1.1: one track, one segment, a trkpt per point with its elevation
// and time, and what else the phone sent (accuracy, speed, course,
// battery, connection, trigger) as extensions in our namespace.
type gpxTrack struct{ buf []byte }

// GPXNamespace is the namespace of the OwnTracks values in the GPX
// export's extensions (prefix "ot").
const GPXNamespace = "urn:x-tracker:owntracks:1"

func (*gpxTrack) ext() string         { return "gpx" }
func (*gpxTrack) contentType() string { return "application/gpx+xml" }

func (g *gpxTrack) begin(b *httpx.BufWriter, t trackInfo) {
	name := xmlText(t.Name + " (" + t.User + "/" + t.Device + ")")
	b.WriteString(xml.Header)
	b.WriteString(`<gpx version="1.1" creator="tracker" xmlns="http://www.topografix.com/GPX/1/1" xmlns:ot="` + GPXNamespace + `">` + "\n")
	b.WriteString("<metadata><name>" + name + "</name><desc>" +
		xmlText(t.From.UTC().Format(time.RFC3339)+" to "+t.To.UTC().Format(time.RFC3339)) +
		"</desc><time>" + t.Created.UTC().Format(time.RFC3339) + "</time></metadata>\n")
	b.WriteString("<trk><name>" + name + "</name><trkseg>\n")
}

func (g *gpxTrack) point(b *httpx.BufWriter, p projections.Point) {
	o := append(g.buf[:0], `<trkpt lat="`...)
	o = strconv.AppendFloat(o, p.Lat, 'f', -1, 64)
	o = append(o, `" lon="`...)
	o = strconv.AppendFloat(o, p.Lon, 'f', -1, 64)
	o = append(o, `">`...)
	if alt, ok := p.Altitude(); ok {
		o = append(o, "<ele>"...)
		o = strconv.AppendInt(o, int64(alt), 10)
		o = append(o, "</ele>"...)
	}
	o = append(o, "<time>"...)
	o = p.Time().AppendFormat(o, time.RFC3339)
	o = append(o, "</time>"...)
	ext := len(o)
	o = append(o, "<extensions>"...)
	known := len(o)
	for _, n := range knownNumbers(p) {
		if n.ok {
			o = append(o, "<ot:"+n.name+">"...)
			o = strconv.AppendInt(o, int64(n.v), 10)
			o = append(o, "</ot:"+n.name+">"...)
		}
	}
	for _, s := range [...]struct{ name, v string }{{"conn", p.Conn}, {"t", p.Trigger}} {
		if s.v != "" {
			o = append(o, "<ot:"+s.name+">"...)
			o = append(o, xmlText(s.v)...)
			o = append(o, "</ot:"+s.name+">"...)
		}
	}
	if len(o) == known {
		o = o[:ext] // nothing but lat, lon, time
	} else {
		o = append(o, "</extensions>"...)
	}
	o = append(o, "</trkpt>\n"...)
	b.Write(o)
	g.buf = o
}

func (g *gpxTrack) end(b *httpx.BufWriter) { b.WriteString("</trkseg></trk>\n</gpx>\n") }

// number is one of a point's optional numbers: ok when the phone sent it.
type number struct {
	name string
	v    int
	ok   bool
}

// knownNumbers lists a point's accuracy, speed, course, battery level and
// battery status (0 is "unknown" in the protocol), each with whether it
// is known.
func knownNumbers(p projections.Point) [5]number {
	acc, accOK := p.Accuracy()
	vel, velOK := p.Speed()
	cog, cogOK := p.Course()
	batt, battOK := p.Battery()
	return [5]number{{"acc", acc, accOK}, {"vel", vel, velOK}, {"cog", cog, cogOK}, {"batt", batt, battOK}, {"bs", p.BS, p.BS > 0}}
}

// xmlText escapes s for XML character data and attributes; characters XML
// does not allow become U+FFFD.
func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // a bytes.Buffer does not fail
	return b.String()
}

// GeoJSON: a FeatureCollection of a LineString feature through the track
// (when it has two points or more), then a Point feature per fix in tst
// order whose properties carry what the phone sent (a value it did not
// send is left out).
type geoJSONTrack struct {
	buf   []byte
	n     int        // features written
	line  int        // points of the line read
	first [2]float64 // the line's first point (lon, lat), written with the second
}

func (*geoJSONTrack) ext() string         { return "geojson" }
func (*geoJSONTrack) contentType() string { return "application/geo+json" }

func (g *geoJSONTrack) begin(b *httpx.BufWriter, t trackInfo) {
	b.WriteString(`{"type":"FeatureCollection","features":[`)
}

func appendLonLat(o []byte, lon, lat float64) []byte {
	o = append(o, '[')
	o = strconv.AppendFloat(o, lon, 'f', -1, 64)
	o = append(o, ',')
	o = strconv.AppendFloat(o, lat, 'f', -1, 64)
	return append(o, ']')
}

func (g *geoJSONTrack) linePoint(b *httpx.BufWriter, p projections.Point) {
	g.line++
	o := g.buf[:0]
	switch g.line {
	case 1:
		g.first = [2]float64{p.Lon, p.Lat}
		return
	case 2:
		o = append(o, "\n"+`{"type":"Feature","geometry":{"type":"LineString","coordinates":[`...)
		o = appendLonLat(o, g.first[0], g.first[1])
	}
	o = append(o, ',')
	o = appendLonLat(o, p.Lon, p.Lat)
	b.Write(o)
	g.buf = o
}

func (g *geoJSONTrack) lineEnd(b *httpx.BufWriter, t trackInfo) {
	if g.line < 2 {
		return // a LineString needs two positions (RFC 7946 3.1.4)
	}
	o := append(g.buf[:0], `]},"properties":{"name":`...)
	o = appendJSONString(o, t.Name)
	o = append(o, `,"user":`...)
	o = appendJSONString(o, t.User)
	o = append(o, `,"device":`...)
	o = appendJSONString(o, t.Device)
	o = append(o, `,"from":"`...)
	o = t.From.UTC().AppendFormat(o, time.RFC3339)
	o = append(o, `","to":"`...)
	o = t.To.UTC().AppendFormat(o, time.RFC3339)
	o = append(o, `"}}`...)
	b.Write(o)
	g.buf = o
	g.n++
}

func (g *geoJSONTrack) point(b *httpx.BufWriter, p projections.Point) {
	o := g.buf[:0]
	if g.n > 0 {
		o = append(o, ',')
	}
	g.n++
	o = append(o, "\n"+`{"type":"Feature","geometry":{"type":"Point","coordinates":`...)
	o = appendLonLat(o, p.Lon, p.Lat)
	o = append(o, `},"properties":{"tst":`...)
	o = strconv.AppendInt(o, p.Tst, 10)
	o = append(o, `,"time":"`...)
	o = p.Time().AppendFormat(o, time.RFC3339)
	o = append(o, '"')
	if alt, ok := p.Altitude(); ok {
		o = append(o, `,"alt":`...)
		o = strconv.AppendInt(o, int64(alt), 10)
	}
	for _, n := range knownNumbers(p) {
		if n.ok {
			o = append(o, `,"`+n.name+`":`...)
			o = strconv.AppendInt(o, int64(n.v), 10)
		}
	}
	if p.Conn != "" {
		o = append(o, `,"conn":`...)
		o = appendJSONString(o, p.Conn)
	}
	o = append(o, `,"t":`...)
	o = appendJSONString(o, p.Trigger)
	o = append(o, "}}"...)
	b.Write(o)
	g.buf = o
}

func (g *geoJSONTrack) end(b *httpx.BufWriter) { b.WriteString("\n]}\n") }

// appendJSONString appends s as a JSON string, escaped as encoding/json
// does (HTML-sensitive characters too); invalid UTF-8 becomes U+FFFD.
func appendJSONString(o []byte, s string) []byte {
	const hex = "0123456789abcdef"
	o = append(o, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				o = append(o, '\\', c)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				o = append(o, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				o = append(o, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			o = append(o, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			o = append(o, `\u202`...)
			o = append(o, hex[r&0xf])
		default:
			o = append(o, s[i:i+size]...)
		}
		i += size
	}
	return append(o, '"')
}

// CSV with a header row; text fields are quoted when needed and guarded
// against spreadsheet formulas.
type csvTrack struct{ buf []byte }

func (*csvTrack) ext() string         { return "csv" }
func (*csvTrack) contentType() string { return "text/csv; charset=utf-8" }

func (c *csvTrack) begin(b *httpx.BufWriter, t trackInfo) {
	b.WriteString("time,tst,lat,lon,acc,alt,vel,cog,batt,conn,trigger,seq\n")
}

func (c *csvTrack) point(b *httpx.BufWriter, p projections.Point) {
	o := p.Time().AppendFormat(c.buf[:0], time.RFC3339)
	o = append(o, ',')
	o = strconv.AppendInt(o, p.Tst, 10)
	o = append(o, ',')
	o = strconv.AppendFloat(o, p.Lat, 'f', -1, 64)
	o = append(o, ',')
	o = strconv.AppendFloat(o, p.Lon, 'f', -1, 64)
	// A value the phone did not send is an empty field, never a 0.
	acc, accOK := p.Accuracy()
	alt, altOK := p.Altitude()
	vel, velOK := p.Speed()
	cog, cogOK := p.Course()
	batt, battOK := p.Battery()
	for _, v := range [...]struct {
		v  int
		ok bool
	}{{acc, accOK}, {alt, altOK}, {vel, velOK}, {cog, cogOK}, {batt, battOK}} {
		o = append(o, ',')
		if v.ok {
			o = strconv.AppendInt(o, int64(v.v), 10)
		}
	}
	o = append(o, ',')
	o = appendCSVText(o, p.Conn)
	o = append(o, ',')
	o = appendCSVText(o, p.Trigger)
	o = append(o, ',')
	o = strconv.AppendUint(o, p.Seq, 10)
	o = append(o, '\n')
	b.Write(o)
	c.buf = o
}

func (c *csvTrack) end(b *httpx.BufWriter) {}

// appendCSVText appends a text field: a leading character a spreadsheet
// would read as a formula gets a "'" in front, and the field is quoted when
// it holds a comma, quote or line break.
func appendCSVText(o []byte, s string) []byte {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		s = "'" + s
	}
	if !strings.ContainsAny(s, ",\"\r\n") {
		return append(o, s...)
	}
	o = append(o, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			o = append(o, '"')
		}
		o = append(o, s[i])
	}
	return append(o, '"')
}
