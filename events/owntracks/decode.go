// Package owntracks turns an MQTT topic and payload into a typed OwnTracks
// message, or into a short, precise reason why it cannot. It is pure: no
// I/O, no logging, no clock unless asked (Decoder.Now), and it never
// panics, whatever the input.
//
// Section numbers (§n) refer to the project's OwnTracks protocol note
// (owntracks-protocol.md), distilled from the OwnTracks booklet and the
// Recorder. Identity comes from the topic only; tid and a body "topic"
// are never trusted.
package owntracks

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Invalid is the error for input that does not decode. Reason is meant for
// people (the log view shows it as is); Kind is what could be told before
// the failure ("location" for a location with a bad lat), "" when nothing
// could.
type Invalid struct {
	Reason string
	Kind   Kind
}

// Error returns Reason unadorned, because it is displayed next to the
// event rather than passed up a call chain.
func (e *Invalid) Error() string { return e.Reason }

// Category is the kind of problem without its values ("lat out of
// range: 91.2" -> "lat out of range"), so counts by category stay few.
func (e *Invalid) Category() string { return category(e.Reason) }

// Category is err's kind of problem: an *Invalid's Category, or for any
// other error (an admin command the projections refuse) its message
// shortened the same way.
func Category(err error) string {
	if inv, ok := errors.AsType[*Invalid](err); ok {
		return inv.Category()
	}
	return category(err.Error())
}

func category(reason string) string {
	if i := strings.IndexByte(reason, ':'); i > 0 {
		reason = reason[:i]
	}
	if i := strings.IndexAny(reason, "\"0123456789"); i > 0 {
		reason = reason[:i]
	}
	return strings.TrimSpace(reason)
}

func invalid(kind Kind, format string, args ...any) *Invalid {
	return &Invalid{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// Limits.
const (
	// DefaultMaxPayload caps payloads when Decoder.MaxPayload is 0. The
	// largest legitimate payloads are cards with a face and POI
	// locations with an image, a few hundred KB.
	DefaultMaxPayload = 512 << 10
	// MaxFace caps a card's decoded face image.
	MaxFace = 256 << 10
	// MaxFuture is how far a timestamp may lie ahead of now (clock skew
	// between phone and server) before it is rejected.
	MaxFuture = 24 * time.Hour
)

// Decoder decodes payloads. The zero value decodes topics under
// "owntracks/", caps payloads at DefaultMaxPayload, opens nothing
// encrypted and checks timestamps against the wall clock. It is safe for
// concurrent use.
type Decoder struct {
	Keys Keys // for encrypted payloads; nil: none
	// Now is the clock for the future-timestamp check; nil: time.Now.
	// DecodeAt bypasses it.
	Now func() time.Time
	// Root is the required first topic level: "" means DefaultRoot,
	// AnyRoot ("+") accepts any.
	Root string
	// MaxPayload is the largest payload accepted, in bytes: 0 means
	// DefaultMaxPayload, negative means no limit.
	MaxPayload int
}

// Decode decodes with a zero Decoder using keys.
func Decode(topic string, payload []byte, keys Keys) (Message, error) {
	return Decoder{Keys: keys}.Decode(topic, payload)
}

// Decode decodes payload as published on topic, checking timestamps
// against d.Now. See DecodeAt.
func (d Decoder) Decode(topic string, payload []byte) (Message, error) {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	return d.DecodeAt(topic, payload, now())
}

// DecodeAt decodes payload as published on topic at time now: timestamps
// more than MaxFuture after now are rejected. Replays should pass the
// event's receive time so a rebuild decides exactly as the live run did;
// a zero now skips the check.
//
// The error is always an *Invalid. The Message is filled as far as
// decoding got (Topic, Kind, Type) even when there is an error, but its
// typed member is set only on success.
func (d Decoder) DecodeAt(topic string, payload []byte, now time.Time) (Message, error) {
	var m Message
	t, err := d.ParseTopic(topic)
	if err != nil {
		return m, err
	}
	m.Topic = t
	// A zero-length publish deletes a retained message (a removed
	// friend); it means "clear", not bad JSON (§1).
	if len(payload) == 0 {
		m.Kind = KindClear
		return m, nil
	}
	limit := d.MaxPayload
	if limit == 0 {
		limit = DefaultMaxPayload
	}
	if limit > 0 && len(payload) > limit {
		return m, invalid("", "payload is %d bytes, limit %d", len(payload), limit)
	}
	var unix int64
	if !now.IsZero() {
		unix = now.Unix()
	}
	if inv := d.decode(&m, payload, unix, false); inv != nil {
		return m, inv
	}
	return m, nil
}

var bom = []byte{0xef, 0xbb, 0xbf}

// decode decodes one JSON payload into m; inner is set for the plaintext
// of an encrypted payload.
func (d Decoder) decode(m *Message, p []byte, now int64, inner bool) *Invalid {
	// JSON forbids a byte-order mark and no OwnTracks publisher sends
	// one; rejecting it keeps "what is stored is what was decoded".
	if bytes.HasPrefix(p, bom) {
		return invalid("", "starts with a UTF-8 byte-order mark")
	}
	// encoding/json would quietly turn bad bytes into U+FFFD.
	if !utf8.Valid(p) {
		off := invalidUTF8(p)
		return invalid("", "not UTF-8: invalid byte 0x%02x at offset %d", p[off], off)
	}

	f := new(fields) // stays on the stack
	first, ok := walk(p, f.member)
	if !ok {
		// Decode again with encoding/json for the error: a SyntaxError
		// with its offset.
		var syn *json.SyntaxError
		if err := json.Unmarshal(p, new(struct{})); errors.As(err, &syn) {
			return invalid("", "%s", syntaxReason(syn))
		}
		return invalid("", "not JSON") // the scanner and encoding/json disagree
	}
	if first != '{' {
		return invalid("", "not a JSON object: got %s", jsonNoun(first))
	}

	switch f.Type.st {
	case absent:
		m.Kind = KindUnknown
		return invalid(KindUnknown, "no _type")
	case null, bad:
		m.Kind = KindUnknown
		return invalid(KindUnknown, "_type is %s, want a string", f.Type.what)
	}
	m.Type = f.Type.s
	m.Kind = kindOf(m.Type)

	c := check{kind: m.Kind, now: now}
	switch m.Kind {
	case KindUnknown:
		return invalid(KindUnknown, "unknown _type %s", quoteShort(m.Type))
	case KindLocation:
		v := c.location(f)
		if c.ok() {
			m.Location = v
		}
	case KindTransition:
		v := c.transition(f)
		if c.ok() {
			m.Transition = v
		}
	case KindWaypoint:
		v := c.waypoint(f)
		if c.ok() {
			m.Waypoint = &v
		}
	case KindWaypoints:
		v := c.waypoints(f)
		if c.ok() {
			m.Waypoints = v
		}
	case KindCard:
		v := c.card(f)
		if c.ok() {
			m.Card = v
		}
	case KindLWT:
		v := &LWT{Tst: c.time("tst", &f.Tst, false)}
		if c.ok() {
			m.LWT = v
		}
	case KindStatus:
		v := &Status{ID: c.str("_id", &f.ID), IOS: object(f.IOS), Android: object(f.Android)}
		if c.ok() {
			m.Status = v
		}
	case KindCmd:
		v := &Cmd{Action: c.reqStr("action", &f.Action), Raw: bytes.Clone(bytes.TrimSpace(p))}
		if c.ok() {
			m.Cmd = v
		}
	case KindSteps:
		v := &Steps{
			Tst:   c.time("tst", &f.Tst, false),
			Steps: c.int("steps", &f.Steps),
			From:  c.time("from", &f.From, false),
			To:    c.time("to", &f.To, false),
		}
		if c.ok() {
			m.Steps = v
		}
	case KindBeacon:
		v := &Beacon{
			Desc:  c.str("desc", &f.Desc),
			UUID:  c.str("uuid", &f.UUID),
			Major: c.int("major", &f.Major),
			Minor: c.int("minor", &f.Minor),
			Tst:   c.time("tst", &f.Tst, false),
			Acc:   c.int("acc", &f.Acc),
			RSSI:  c.int("rssi", &f.RSSI),
			Prox:  c.int("prox", &f.Prox),
		}
		if c.ok() {
			m.Beacon = v
		}
	case KindRequest:
		v := &Request{Request: c.reqStr("request", &f.Request), Tour: object(f.Tour), UUID: c.str("uuid", &f.UUID)}
		if c.ok() {
			m.Request = v
		}
	case KindConfiguration:
		// Settings, including the broker password: nothing here needs
		// them, so they are not decoded.
	case KindVisit:
		// An imported stay at a place, kept for the places feature; its
		// position and times are checked by whoever reads it.
	case KindEncrypted:
		if inner {
			return invalid(KindEncrypted, "nested encrypted payload")
		}
		data := c.reqStr("data", &f.Data)
		if !c.ok() {
			break
		}
		plain, inv := open(data, d.Keys, m.Topic)
		if inv != nil {
			return inv
		}
		m.Decrypted, m.Plaintext = true, plain
		m.Kind, m.Type = "", ""
		if len(plain) == 0 {
			return invalid("", "decrypted payload is empty")
		}
		// Process it as if it had arrived on the same topic (§2.9).
		if inv := d.decode(m, plain, now, true); inv != nil {
			inv.Reason = "decrypted payload: " + inv.Reason
			return inv
		}
	}
	if !c.ok() {
		return &Invalid{Kind: m.Kind, Reason: c.reason}
	}
	return nil
}

func (c *check) location(f *fields) *Location {
	l := &Location{
		Lat:       c.lat(&f.Lat, true),
		Lon:       c.lon(&f.Lon, true),
		Tst:       c.time("tst", &f.Tst, true),
		CreatedAt: c.time("created_at", &f.CreatedAt, false),
		Acc:       c.int("acc", &f.Acc),
		Alt:       c.int("alt", &f.Alt),
		Vac:       c.int("vac", &f.Vac),
		Vel:       c.int("vel", &f.Vel),
		Cog:       c.int("cog", &f.Cog),
		Batt:      c.int("batt", &f.Batt),
		BS:        c.int("bs", &f.BS),
		Mode:      c.int("m", &f.M),
		Rad:       c.int("rad", &f.Rad),
		Conn:      c.str("conn", &f.Conn),
		Trigger:   c.str("t", &f.T),
		TID:       c.str("tid", &f.TID),
		InRegions: c.strs("inregions", &f.InRegions),
		InRIDs:    c.strs("inrids", &f.InRIDs),
		SSID:      c.str("SSID", &f.SSID),
		BSSID:     c.str("BSSID", &f.BSSID),
		POI:       c.str("poi", &f.POI),
		Tag:       c.str("tag", &f.Tag),

		MotionActivities: c.strs("motionactivities", &f.Motion),
	}
	l.Pressure, _ = c.num("p", &f.P, false)
	for _, o := range [...]struct {
		n *number
		f Fields
	}{{&f.Acc, FieldAcc}, {&f.Alt, FieldAlt}, {&f.Vac, FieldVac}, {&f.Vel, FieldVel}, {&f.Cog, FieldCog}, {&f.Batt, FieldBatt}, {&f.BS, FieldBS}} {
		if o.n.st != good {
			l.Absent |= o.f
		}
	}
	return l
}

func (c *check) transition(f *fields) *Transition {
	t := &Transition{
		Event:   c.reqStr("event", &f.Event),
		Desc:    c.str("desc", &f.Desc),
		RID:     c.str("rid", &f.RID),
		Wtst:    c.time("wtst", &f.Wtst, false),
		Tst:     c.time("tst", &f.Tst, true),
		Lat:     c.lat(&f.Lat, false),
		Lon:     c.lon(&f.Lon, false),
		Acc:     c.int("acc", &f.Acc),
		Trigger: c.str("t", &f.T),
		TID:     c.str("tid", &f.TID),
	}
	if f.Event.st == good && t.Event != "enter" && t.Event != "leave" {
		c.fail("transition event is %s, want enter or leave", quoteShort(t.Event))
	}
	return t
}

func (c *check) waypoint(f *fields) Waypoint {
	w := Waypoint{
		Desc:  c.str("desc", &f.Desc),
		Lat:   c.lat(&f.Lat, false),
		Lon:   c.lon(&f.Lon, false),
		Rad:   c.int("rad", &f.Rad),
		Tst:   c.time("tst", &f.Tst, false),
		RID:   c.str("rid", &f.RID),
		UUID:  c.str("uuid", &f.UUID),
		Major: c.int("major", &f.Major),
		Minor: c.int("minor", &f.Minor),
	}
	// A centre needs both coordinates; beacon regions have neither.
	if f.Lat.st == good && f.Lon.st != good {
		c.fail("%s has lat but no lon", c.kind)
	} else if f.Lon.st == good && f.Lat.st != good {
		c.fail("%s has lon but no lat", c.kind)
	}
	return w
}

func (c *check) waypoints(f *fields) []Waypoint {
	raw := f.Waypoints
	if len(raw) == 0 || string(raw) == "null" {
		c.fail("waypoints has no waypoints")
		return nil
	}
	if raw[0] != '[' {
		c.fail("waypoints member is %s, want an array", jsonType(raw))
		return nil
	}
	list := []Waypoint{}
	eachElement(raw, func(i int, e []byte) {
		if !c.ok() {
			return
		}
		if e[0] != '{' {
			c.fail("waypoints[%d] is %s, want an object", i, jsonType(e))
			return
		}
		var g fields
		eachMember(e, g.member)
		sub := check{kind: KindWaypoint, now: c.now}
		w := sub.waypoint(&g)
		if !sub.ok() {
			c.fail("waypoints[%d]: %s", i, sub.reason)
			return
		}
		list = append(list, w)
	})
	return list
}

func (c *check) card(f *fields) *Card {
	card := &Card{TID: c.str("tid", &f.TID), Name: c.str("name", &f.Name)}
	// A bad face costs the avatar, not the name.
	switch f.Face.st {
	case good:
		if f.Face.s == "" {
			break
		}
		card.FaceType, card.FaceInvalid = checkFace(f.Face.s)
		if card.FaceInvalid == "" {
			card.Face = f.Face.s
		}
	case bad:
		card.FaceInvalid = "face is " + f.Face.what + ", want a string"
	}
	return card
}

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xff, 0xd8, 0xff}
)

// checkFace returns the image type of a base64 face, or why it is unusable.
func checkFace(s string) (typ, reason string) {
	// Cards come from scripts; refuse to decode something far too big.
	if len(s) > 2*base64.StdEncoding.EncodedLen(MaxFace) {
		return "", fmt.Sprintf("face is about %d bytes, limit %d", base64.StdEncoding.DecodedLen(len(s)), MaxFace)
	}
	img, err := decodeBase64(s)
	switch {
	case err != nil:
		return "", "face is not base64: " + base64Problem(s, err)
	case len(img) > MaxFace:
		return "", fmt.Sprintf("face is %d bytes, limit %d", len(img), MaxFace)
	case bytes.HasPrefix(img, pngMagic):
		return "image/png", ""
	case bytes.HasPrefix(img, jpegMagic):
		return "image/jpeg", ""
	}
	return "", "face is not a PNG or JPEG image"
}

// base64Problem describes a base64 decoding error of s.
func base64Problem(s string, err error) string {
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		if off := int64(ce); off >= 0 && off < int64(len(s)) {
			return fmt.Sprintf("illegal byte 0x%02x at offset %d", s[off], off)
		}
		return fmt.Sprintf("truncated at offset %d", int64(ce))
	}
	return err.Error()
}

// object returns a copy of a raw member, nil when it is absent or null.
func object(raw []byte) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return bytes.Clone(raw)
}

// syntaxReason rewords encoding/json's syntax errors for people. Offset
// counts the bytes read up to and including the one that failed.
func syntaxReason(e *json.SyntaxError) string {
	msg := e.Error()
	switch {
	case msg == "unexpected end of JSON input":
		msg = "unexpected end of input"
	case strings.HasSuffix(msg, "exceeded max depth"):
		return fmt.Sprintf("JSON nested too deeply (over 10000 levels) at byte %d", e.Offset)
	}
	return fmt.Sprintf("not JSON: %s at byte %d", msg, e.Offset)
}

// invalidUTF8 returns the offset of the first byte that is not part of a
// valid UTF-8 sequence.
func invalidUTF8(p []byte) int {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return 0 // not reached for invalid input
}

// quoteShort quotes s for a reason, shortened.
func quoteShort(s string) string {
	const max = 40
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// check validates the members of one message and keeps the first problem.
type check struct {
	kind   Kind
	now    int64 // Unix seconds; 0 disables the future check
	reason string
}

func (c *check) ok() bool { return c.reason == "" }

func (c *check) fail(format string, args ...any) {
	if c.reason == "" {
		c.reason = fmt.Sprintf(format, args...)
	}
}

// num returns a numeric member. Required members must be present and not
// null; optional ones that are absent or null read as 0.
func (c *check) num(name string, n *number, required bool) (float64, bool) {
	switch n.st {
	case good:
		return n.v, true
	case absent:
		if required {
			c.fail("%s has no %s", c.kind, name)
		}
	case null:
		if required {
			c.fail("%s is not a number: null", name)
		}
	case bad:
		c.fail("%s is not a number: %s", name, n.raw)
	case huge:
		c.fail("%s out of range: %s", name, n.raw)
	}
	return 0, false
}

func (c *check) lat(n *number, required bool) float64 {
	v, ok := c.num("lat", n, required)
	if ok && (v < -90 || v > 90) {
		c.fail("lat out of range: %s", fmtNum(v))
	}
	return v
}

func (c *check) lon(n *number, required bool) float64 {
	v, ok := c.num("lon", n, required)
	if ok && (v < -180 || v > 180) {
		c.fail("lon out of range: %s", fmtNum(v))
	}
	return v
}

// maxInt bounds integer members: beyond it float64 loses integer
// precision, and no OwnTracks measurement comes near it.
const maxInt = 1 << 53

// int returns an optional integer member, rounded (57.0 and 57.4 are 57).
func (c *check) int(name string, n *number) int {
	v, ok := c.num(name, n, false)
	if !ok {
		return 0
	}
	if v < -maxInt || v > maxInt {
		c.fail("%s out of range: %s", name, fmtNum(v))
		return 0
	}
	return int(math.Round(v))
}

// Timestamps are Unix seconds. Values from maxSeconds up to maxMillis are
// what a publisher sending milliseconds produces (today is ~1.7e9 s or
// ~1.7e12 ms); anything beyond is just out of range.
const (
	maxSeconds = 1e11 // year 5138
	maxMillis  = 1e14
)

// time returns a timestamp member in whole seconds. Required timestamps
// must also be non-zero.
func (c *check) time(name string, n *number, required bool) int64 {
	v, ok := c.num(name, n, required)
	if !ok {
		return 0
	}
	switch {
	case v < 0:
		c.fail("%s is negative: %s", name, fmtNum(v))
	case v == 0:
		if required {
			c.fail("%s is zero", name)
		}
	case v < 1:
		if required {
			c.fail("%s rounds down to zero: %s", name, fmtNum(v))
		}
	case v >= maxMillis:
		c.fail("%s out of range: %s", name, fmtNum(v))
	case v >= maxSeconds:
		c.fail("%s %s looks like milliseconds, want seconds", name, fmtNum(v))
	case c.now != 0 && v > float64(c.now)+MaxFuture.Seconds():
		c.fail("%s %s is %s in the future", name, fmtNum(v), ahead(int64(v)-c.now))
	default:
		return int64(math.Floor(v))
	}
	return 0
}

// ahead phrases a number of seconds more than a day.
func ahead(s int64) string {
	const day = 24 * 60 * 60
	switch {
	case s < 2*day:
		return fmt.Sprintf("%d hours", s/3600)
	case s < 2*365*day:
		return fmt.Sprintf("%d days", s/day)
	}
	return fmt.Sprintf("%d years", s/(365*day+day/4))
}

func (c *check) str(name string, t *text) string {
	if t.st == bad {
		c.fail("%s is %s, want a string", name, t.what)
	}
	return t.s
}

func (c *check) reqStr(name string, t *text) string {
	switch t.st {
	case absent:
		c.fail("%s has no %s", c.kind, name)
	case null:
		c.fail("%s is null, want a string", name)
		return ""
	}
	return c.str(name, t)
}

func (c *check) strs(name string, t *texts) []string {
	if t.st == bad {
		c.fail("%s %s", name, t.what)
	}
	return t.list
}

// fmtNum formats a number for a reason: integers in full (1718000000000,
// not 1.718e+12), everything else as short as exact.
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e21 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
