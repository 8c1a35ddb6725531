// Package projections derives what the pages show from the event log:
// friends and their current locations, areas, who is in which area, the
// enter/leave timeline and the per-friend history index.
//
// Everything here is a pure fold: Apply takes the state and one decoded
// event and updates the state, reporting what changed. No I/O, no clock:
// time comes from the events. Storing the state (projections/store) and
// running the fold over the log (projections/projector) are separate jobs.
package projections

import (
	"strings"
	"time"

	"tracker/events/owntracks"
	"tracker/projections/geo"
)

// SchemaVersion changes whenever the fold or the stored shape changes;
// stored projections of another version are rebuilt from the log at start.
// 9: points know which numbers the phone did not send (Point.Absent).
// 10: server areas can be renamed (Area.Formerly).
// 11: users' last login (a login event), remembered command identities.
// 12: corrections (State.Rules, AreaEvent.Fix).
// 13: an imported place visit (_type visit) is a sign of life, no longer invalid.
// 14: users carry device credentials and a time zone (account.go).
// 15: users carry their notification rules (notify.go).
// 16: share links (State.Shares, share.go).
// 17: users carry their browsers' Web Push subscriptions (push.go).
const SchemaVersion = 17

// DeviceID names one phone: "user/device", as in the topic.
type DeviceID string

// MakeDeviceID joins user and device.
func MakeDeviceID(user, device string) DeviceID { return DeviceID(user + "/" + device) }

// Split returns the user and device parts.
func (d DeviceID) Split() (user, device string) {
	u, dev, _ := strings.Cut(string(d), "/")
	return u, dev
}

// Point is one location fix, as kept in history and as a friend's current
// position.
type Point struct {
	Seq     uint64  `json:"seq"` // the event it came from
	Tst     int64   `json:"tst"` // Unix seconds of the fix
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Acc     int     `json:"acc,omitempty"`  // m
	Alt     int     `json:"alt,omitempty"`  // m
	Vel     int     `json:"vel,omitempty"`  // km/h
	Cog     int     `json:"cog,omitempty"`  // degrees
	Batt    int     `json:"batt,omitempty"` // %
	BS      int     `json:"bs,omitempty"`   // battery status
	Conn    string  `json:"conn,omitempty"` // w, m, o
	Trigger string  `json:"t,omitempty"`
	// Absent are the numbers the phone did not send; they hold 0.
	Absent owntracks.Fields `json:"-"`
}

// Accuracy is the horizontal accuracy in metres; false when the phone did
// not send one (or sent a negative, "invalid").
func (p Point) Accuracy() (int, bool) { return p.Acc, p.Absent&owntracks.FieldAcc == 0 && p.Acc >= 0 }

// Altitude is the altitude in metres; false when the phone did not send one.
func (p Point) Altitude() (int, bool) { return p.Alt, p.Absent&owntracks.FieldAlt == 0 }

// Speed is the speed in km/h; false when the phone did not send one (iOS
// sends -1 for "invalid").
func (p Point) Speed() (int, bool) { return p.Vel, p.Absent&owntracks.FieldVel == 0 && p.Vel >= 0 }

// Course is the course over ground in degrees; false when the phone did
// not send one (or sent -1, "invalid").
func (p Point) Course() (int, bool) { return p.Cog, p.Absent&owntracks.FieldCog == 0 && p.Cog >= 0 }

// Battery is the battery level in percent; false when the phone did not
// send one.
func (p Point) Battery() (int, bool) { return p.Batt, p.Absent&owntracks.FieldBatt == 0 && p.Batt >= 0 }

// Time returns Tst as a UTC time.
func (p Point) Time() time.Time { return time.Unix(p.Tst, 0).UTC() }

// Geo returns the position.
func (p Point) Geo() geo.Point { return geo.Point{Lat: p.Lat, Lon: p.Lon} }

// Friend is one user/device as the server knows it now.
type Friend struct {
	ID       DeviceID `json:"id"`
	User     string   `json:"user"`
	Device   string   `json:"device"`
	Name     string   `json:"name,omitempty"` // from the card
	TID      string   `json:"tid,omitempty"`
	FaceSeq  uint64   `json:"face_seq,omitempty"` // event holding the card's face; 0 when none
	FaceType string   `json:"face_type,omitempty"`

	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"` // newest message of any kind from the phone
	Online    bool      `json:"online"`
	// PresenceAt is when Online last changed.
	PresenceAt time.Time `json:"presence_at"`

	// Location is the fix with the newest tst, whatever order they arrived
	// in. Hidden is set when the phone cleared its retained location.
	Location *Point `json:"location,omitempty"`
	Hidden   bool   `json:"hidden,omitempty"`
	// Sent is Location as the phone sent it, for the answers that give
	// it back (the Recorder's API, the HTTP mode). Kept by the store
	// beside the friend, not shown by the native API.
	Sent      *Sent    `json:"-"`
	InRegions []string `json:"inregions,omitempty"` // as the phone reported with that fix
}

// DisplayName is the card's name, else the tracker id, else the user.
func (f *Friend) DisplayName() string {
	switch {
	case f.Name != "":
		return f.Name
	case f.TID != "":
		return f.TID
	}
	return f.User
}

// Origins of areas and of membership facts.
const (
	OriginServer   = "server"   // area defined by an admin, for everybody
	OriginPhone    = "phone"    // area (waypoint) or membership (transition, inregions) from a phone
	OriginGeometry = "geometry" // membership computed by the server from positions
)

// Area is a named place. Server areas apply to everybody; a phone's
// regions belong to that phone.
type Area struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Origin  string      `json:"origin"`          // OriginServer or OriginPhone
	Owner   DeviceID    `json:"owner,omitempty"` // the phone, for OriginPhone
	RID     string      `json:"rid,omitempty"`
	Center  *geo.Point  `json:"center,omitempty"` // circle
	Radius  float64     `json:"radius,omitempty"` // m
	Polygon []geo.Point `json:"polygon,omitempty"`
	Defined time.Time   `json:"defined"`
	Seq     uint64      `json:"seq"` // event that defined it last
	// Formerly are the ids a server area had before it was renamed, so
	// its past crossings (recorded under those ids) stay with it.
	Formerly []FormerID `json:"formerly,omitempty"`
}

// FormerID is an id an area had until it was renamed (Unix seconds).
type FormerID struct {
	ID    string `json:"id"`
	Until int64  `json:"until"`
}

// HasGeometry reports whether the server can tell on its own who is inside.
func (a *Area) HasGeometry() bool {
	return (a.Center != nil && a.Radius > 0) || len(a.Polygon) >= 3
}

// Contains reports whether p is inside the area's geometry.
func (a *Area) Contains(p geo.Point) bool {
	if len(a.Polygon) >= 3 {
		return geo.InPolygon(p, a.Polygon)
	}
	if a.Center != nil && a.Radius > 0 {
		return geo.InCircle(p, *a.Center, a.Radius)
	}
	return false
}

// AppliesTo reports whether the area concerns dev: server areas concern
// everybody, phone regions only their own phone.
func (a *Area) AppliesTo(dev DeviceID) bool {
	return a.Origin == OriginServer || a.Owner == dev
}

// MemberKey identifies one membership fact: one device, one area, one
// origin (the phone's report and the server's geometry are kept apart).
type MemberKey struct {
	Device DeviceID
	Area   string
	Origin string // OriginPhone or OriginGeometry
}

// String is the key's stable text form (used in storage).
func (k MemberKey) String() string {
	return string(k.Device) + "\x00" + k.Area + "\x00" + k.Origin
}

// Member is the latest fact for a MemberKey.
type Member struct {
	Device DeviceID `json:"device"`
	Area   string   `json:"area"`
	Origin string   `json:"origin"`
	In     bool     `json:"in"`
	Since  int64    `json:"since"` // Unix seconds of the last change
	AsOf   int64    `json:"as_of"` // Unix seconds of the newest fact applied; older facts go to the timeline only
	Seq    uint64   `json:"seq"`
}

// Key returns the member's key.
func (m *Member) Key() MemberKey { return MemberKey{m.Device, m.Area, m.Origin} }

// AreaEvent is one enter or leave on the timeline.
type AreaEvent struct {
	Seq      uint64   `json:"seq"`
	Tst      int64    `json:"tst"`
	Device   DeviceID `json:"device"`
	Area     string   `json:"area"`
	AreaName string   `json:"area_name"`
	Event    string   `json:"event"`  // "enter" or "leave"
	Origin   string   `json:"origin"` // OriginPhone or OriginGeometry
	// Late is set when the fact was older than what was already known, so
	// it is history only and did not change current membership.
	Late bool `json:"late,omitempty"`
	// Fix is the location that made the event, zero for events of other
	// kinds: hiding that location hides the event (EventFilter).
	Fix FixRef `json:"fix,omitzero"`
}

// HistoryPoint is one entry of a device's history index.
type HistoryPoint struct {
	Device DeviceID
	Point  Point
	// Hash tells apart two fixes with the same tst; identical fixes share
	// a key, so a redelivered location is stored once.
	Hash uint32
}

// Sent is a friend's current location as the phone sent it, as the
// Recorder's answers and the HTTP mode give it back, so that they need
// not read the log.
type Sent struct {
	// Payload is the payload (the plaintext of an encrypted one).
	Payload  []byte `json:"payload"`
	Topic    string `json:"topic"`
	Received int64  `json:"received"`      // Unix seconds the server received it
	Vac      int    `json:"vac,omitempty"` // vertical accuracy, m (Point does not keep it)
}
