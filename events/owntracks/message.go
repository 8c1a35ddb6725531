package owntracks

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Kind classifies a message. It comes from the payload's _type, never from
// the topic suffix: the base topic carries both locations and LWTs, and
// cards turn up on any topic (protocol §1).
type Kind string

// The kinds. KindClear and KindUnknown have no _type of their own.
const (
	KindLocation      Kind = "location"
	KindTransition    Kind = "transition"
	KindWaypoint      Kind = "waypoint"
	KindWaypoints     Kind = "waypoints"
	KindCard          Kind = "card"
	KindLWT           Kind = "lwt"
	KindStatus        Kind = "status"
	KindCmd           Kind = "cmd"
	KindSteps         Kind = "steps"
	KindBeacon        Kind = "beacon"
	KindEncrypted     Kind = "encrypted"
	KindConfiguration Kind = "configuration"
	KindRequest       Kind = "request"
	KindVisit         Kind = "visit"   // not OwnTracks': a stay at a place an import keeps for the places feature (events/google); no typed form yet
	KindClear         Kind = "clear"   // empty payload: the retained message was deleted
	KindUnknown       Kind = "unknown" // a JSON object whose _type is missing, not a string or not one of the above
)

// kindOf maps a _type to its kind. The match is exact: the apps never vary
// the case, so "Location" is somebody else's message type.
func kindOf(typ string) Kind {
	switch typ {
	case "location":
		return KindLocation
	case "transition":
		return KindTransition
	case "waypoint":
		return KindWaypoint
	case "waypoints":
		return KindWaypoints
	case "card":
		return KindCard
	case "lwt":
		return KindLWT
	case "status":
		return KindStatus
	case "cmd":
		return KindCmd
	case "steps":
		return KindSteps
	case "beacon":
		return KindBeacon
	case "encrypted":
		return KindEncrypted
	case "configuration":
		return KindConfiguration
	case "request":
		return KindRequest
	case "visit":
		return KindVisit
	}
	return KindUnknown
}

// Message is one decoded payload. Exactly the pointer (or slice) matching
// Kind is set, and only when decoding succeeded; kinds without a typed
// form (clear, configuration, unknown) set none.
//
// Strings are kept verbatim, including markup and any Unicode: escaping is
// the renderer's job. Numeric fields that were absent are zero.
type Message struct {
	Topic     Topic
	Kind      Kind   // for an opened encrypted payload, the kind of what was inside
	Decrypted bool   // the payload was _type encrypted and was opened
	Type      string // the _type string as sent ("" when absent or not a string)

	Location   *Location
	Transition *Transition
	Waypoint   *Waypoint  // kind waypoint
	Waypoints  []Waypoint // kind waypoints; may be empty
	Card       *Card
	LWT        *LWT
	Status     *Status
	Cmd        *Cmd
	Steps      *Steps
	Beacon     *Beacon
	Request    *Request

	Plaintext []byte // the decrypted JSON when Decrypted
}

// Location is a position report (protocol §2.1).
type Location struct {
	Lat, Lon  float64 // degrees, always in range
	Tst       int64   // Unix seconds of the fix; always set
	CreatedAt int64   // Unix seconds the message was built (cached fixes differ from Tst)

	Acc      int     // horizontal accuracy, m
	Alt      int     // altitude, m
	Vac      int     // vertical accuracy, m; -1 from old iOS means invalid
	Vel      int     // speed, km/h; -1 possible
	Cog      int     // course over ground, degrees; -1 possible
	Batt     int     // battery, %
	BS       int     // battery status: 0 unknown, 1 unplugged, 2 charging, 3 full
	Mode     int     // "m": monitoring mode, 1 significant, 2 move
	Pressure float64 // "p": barometric pressure, kPa
	Rad      int     // region radius on enter/leave (iOS), m

	// Absent are the optional numbers above the payload did not carry
	// (or carried as null): they read 0, which a phone also sends (a
	// speed of 0 standing still, an altitude of 0 at the sea).
	Absent Fields

	Conn    string // "w" wifi, "m" mobile, "o" offline
	Trigger string // "t": what caused the report ("p" ping, "c" region, "u" manual, ...); "" automatic
	TID     string // tracker id; display only, never identity

	InRegions        []string // region names currently inside
	InRIDs           []string // region ids currently inside
	SSID, BSSID      string
	POI              string
	Tag              string
	MotionActivities []string
}

// Fields is a set of a location's optional numbers.
type Fields uint8

// The optional numbers of a location, for Location.Absent.
const (
	FieldAcc Fields = 1 << iota
	FieldAlt
	FieldVac
	FieldVel
	FieldCog
	FieldBatt
	FieldBS
)

// Time returns Tst as a UTC time.
func (l *Location) Time() time.Time { return time.Unix(l.Tst, 0).UTC() }

// Transition is a region enter or leave (protocol §2.2). Old apps send no
// RID; then the region is known by Desc and Wtst.
type Transition struct {
	Event    string // "enter" or "leave"
	Desc     string
	RID      string
	Wtst     int64 // creation time of the region, Unix seconds
	Tst      int64 // when it happened, Unix seconds; always set
	Lat, Lon float64
	Acc      int
	Trigger  string // "t": "c" circular, "b" beacon, "l" from a location update
	TID      string
}

// Time returns Tst as a UTC time.
func (t *Transition) Time() time.Time { return time.Unix(t.Tst, 0).UTC() }

// Waypoint is one region definition (protocol §2.3). Lat and Lon are zero
// for pure beacon regions; Rad <= 0 marks a beacon region on iOS.
type Waypoint struct {
	Desc     string
	Lat, Lon float64
	Rad      int   // m
	Tst      int64 // creation time, Unix seconds; the region key when RID is empty
	RID      string
	UUID     string // iBeacon
	Major    int
	Minor    int
}

// Card carries a display name and avatar (protocol §2.4).
type Card struct {
	TID  string
	Name string
	// Face is the base64 image as sent, set only when it decodes to a PNG
	// or JPEG within the size cap; FaceType is then "image/png" or
	// "image/jpeg". A bad face does not invalidate the card (the name is
	// still good): Face is "" and FaceInvalid says why.
	Face        string
	FaceType    string
	FaceInvalid string
}

// FaceBytes returns the decoded image, nil when there is none.
func (c *Card) FaceBytes() []byte {
	if c.Face == "" {
		return nil
	}
	b, _ := decodeBase64(c.Face)
	return b
}

// LWT is the broker-published will of a vanished client (protocol §2.5).
type LWT struct {
	Tst int64 // when the app connected, not when it vanished; 0 when absent
}

// Status answers a "status" command (protocol §2.6). The platform objects
// are informational and change between app versions, so they stay raw.
type Status struct {
	ID      string          // "_id"
	IOS     json.RawMessage // "iOS" object, nil when absent
	Android json.RawMessage // "android" object, nil when absent
}

// Cmd is a command to a phone (protocol §2.7). Its members depend on the
// action, so the whole object is kept in Raw.
type Cmd struct {
	Action string
	Raw    json.RawMessage
}

// Steps answers reportSteps (protocol §2.10).
type Steps struct {
	Tst      int64
	Steps    int // -1: unsupported or invalid range
	From, To int64
}

// Beacon is an iOS ranging report (protocol §2.10).
type Beacon struct {
	Desc  string
	UUID  string
	Major int
	Minor int
	Tst   int64
	Acc   int // m
	RSSI  int // dBm
	Prox  int // 0 unknown, 1 immediate, 2 near, 3 far
}

// Request is a tours request (protocol §2.10).
type Request struct {
	Request string          // "tour", "tours", "untour"
	Tour    json.RawMessage // for "tour": {"label","from","to"}
	UUID    string          // for "untour"
}

func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some encoders drop the padding.
		if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return b2, nil
		}
	}
	return b, err
}
