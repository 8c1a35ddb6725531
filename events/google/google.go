// Package google reads the location history Google has exported over
// the years and turns every position in it into an OwnTracks location
// event for one device, at the position's own time, as if the phone had
// published it then:
//
//   - Records.json of a Takeout archive (also the older "Location
//     History.json"): {"locations":[{latitudeE7, longitudeE7, timestamp or
//     timestampMs, accuracy, altitude, velocity, heading, activity, …}]};
//   - the Semantic Location History monthly files (2019_MARCH.json):
//     {"timelineObjects":[{"placeVisit":{…}} | {"activitySegment":{…}}]};
//   - the Timeline export made on the phone since 2024: on Android
//     {"semanticSegments":[…], "rawSignals":[…], "userLocationProfile":{…}}
//     with positions as "50.85°, 4.35°" strings, on iOS a top-level array
//     of segments with "geo:50.85,4.35" strings.
//
// The files reach gigabytes, so they are read as a stream of JSON tokens
// and each record (one location, one timeline object, one segment) is
// decoded on its own: memory stays flat in the file size. A record that
// cannot be used is reported with a reason and skipped; JSON that cannot
// be read at all stops the reading with an error naming the byte offset.
//
// Place visits (placeVisit, visit) are kept twice: as locations at the
// visit's start and end (so the history shows the stay), and as one event
// of their own, {"_type":"visit", …} on owntracks/<user>/<device>/visit,
// carrying the place's id, name, address, kind and the visit's start and
// end, for the places feature to read.
package google

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"tracker/events"
)

// Reasons a record or position is skipped.
const (
	ReasonCoords    = "bad coordinates"  // not numbers, out of range, or 0,0
	ReasonNoCoords  = "no coordinates"   // the record has no position
	ReasonNoTime    = "no time"          // the record has no time
	ReasonTime      = "bad time"         // a time that is not a time, or before 2000 or after 2200
	ReasonDuplicate = "duplicate point"  // the same time and position as a point just before it
	ReasonShape     = "not a record"     // a value of the wrong JSON type where a record belongs
	ReasonField     = "bad field"        // a record with a field of the wrong JSON type
	ReasonUnknown   = "unknown segment"  // a timeline segment with nothing this reader knows
	ReasonTooLarge  = "record too large" // one record over MaxRecord bytes (stops the reading)
	ReasonJSON      = "malformed JSON"   // JSON that cannot be read, or cut off (stops the reading)
	ReasonRead      = "read failed"      // the file itself could not be read (stops the reading)
)

// MaxRecord bounds one record (one element of a list) and one JSON token,
// which are held whole while they are decoded. Google's records are a few
// kilobytes; a hostile file must not make the reader hold gigabytes.
const MaxRecord = 16 << 20

// VisitSuffix is the topic level visits are published under:
// owntracks/<user>/<device>/visit.
const VisitSuffix = "visit"

// ErrNotGoogle is returned for JSON that is none of the formats above
// (a Settings.json or Timeline Edits.json of the same archive, say).
var ErrNotGoogle = errors.New("not a Google location history file (want Records.json, a Semantic Location History month or a Timeline export)")

// Device is whose positions they are: the events go to
// owntracks/<User>/<Device> with tracker id TID.
type Device struct {
	User, Device string
	// TID is the tracker id put in each location; default: the last two
	// characters of Device, as the OwnTracks apps do.
	TID string
}

// Topic is the device's base topic.
func (d Device) Topic() string { return "owntracks/" + d.User + "/" + d.Device }

func (d Device) tid() string {
	if d.TID != "" {
		return d.TID
	}
	r := []rune(d.Device)
	if len(r) > 2 {
		r = r[len(r)-2:]
	}
	return string(r)
}

// Record is one event made from the file.
type Record struct {
	Event events.Event
	Where string // "locations[17]", "timelineObjects[3].activitySegment.waypointPath[2]"
	Done  int64  // bytes of the input read so far
}

// Problem is something skipped, and why.
type Problem struct {
	Where  string
	Reason string
	Detail string
}

func (p Problem) String() string {
	if p.Detail == "" {
		return p.Where + ": " + p.Reason
	}
	return p.Where + ": " + p.Reason + ": " + p.Detail
}

// Format names what a file holds.
type Format string

const (
	FormatRecords  Format = "Records.json (raw locations)"
	FormatSemantic Format = "Semantic Location History"
	FormatAndroid  Format = "Timeline export (Android)"
	FormatIOS      Format = "Timeline export (iOS)"
)

// Stats counts what was in the file.
type Stats struct {
	Format      Format
	Records     int // list elements read: locations, timeline objects, segments, raw signals
	Points      int // positions met (good and bad), visits' start and end included
	Visits      int // visit events made
	Activities  int // activity segments
	Interpolate int // waypoints of activity segments, which have no time of their own: placed in time by distance along the path
	Wrapped     int // E7 coordinates written past 32 bits by old exports, read back as negative numbers
	Signals     int // raw signals without a position (activity records, Wi-Fi scans): not imported
	Frequent    int // userLocationProfile's frequent places (no time): not imported
	Memories    int // iOS timelineMemory segments (trip summaries): not imported
	// DeviceTags counts Records.json locations per Google device
	// (deviceTag), up to maxDeviceTags devices.
	DeviceTags map[int64]int
}

const maxDeviceTags = 16

// Notes are the summary lines about what was read and what was left out.
func (s Stats) Notes(dev Device) []string {
	var notes []string
	if s.Format != "" {
		notes = append(notes, fmt.Sprintf("%s: %d records, %d positions", s.Format, s.Records, s.Points))
	}
	if s.Visits > 0 {
		notes = append(notes, fmt.Sprintf("%d place visits kept as events on %s/%s (place id, name, address, start and end) for the places feature, and as locations at their start and end",
			s.Visits, dev.Topic(), VisitSuffix))
	}
	if s.Interpolate > 0 {
		notes = append(notes, fmt.Sprintf("%d waypoints of activity segments have no time of their own: placed between the segment's start and end by distance", s.Interpolate))
	}
	if s.Wrapped > 0 {
		notes = append(notes, fmt.Sprintf("%d coordinates written past 32 bits (an old export's overflow) read as the negative numbers they are", s.Wrapped))
	}
	if len(s.DeviceTags) > 1 {
		notes = append(notes, fmt.Sprintf("the locations come from %d Google devices (deviceTag); all are imported as %s/%s", len(s.DeviceTags), dev.User, dev.Device))
	}
	for _, n := range []struct {
		count int
		what  string
	}{
		{s.Signals, "raw signals without a position (activity records, Wi-Fi scans)"},
		{s.Frequent, "frequent places (home, work: no time)"},
		{s.Memories, "trip summaries (timelineMemory)"},
	} {
		if n.count > 0 {
			notes = append(notes, fmt.Sprintf("%d %s not imported", n.count, n.what))
		}
	}
	return notes
}

// Detect tells from the first bytes of a file (after a UTF-8 byte-order
// mark and white space) whether it is one of Google's formats: a JSON
// object whose first key is one of theirs, or a JSON array (iOS). It
// needs the first key whole; 4 KB is plenty.
func Detect(head []byte) bool {
	head = bytes.TrimLeft(bytes.TrimPrefix(head, bom), " \t\r\n")
	if len(head) == 0 {
		return false
	}
	if head[0] == '[' {
		// An array of objects, each a segment with a startTime.
		rest := bytes.TrimLeft(head[1:], " \t\r\n")
		return len(rest) == 0 || rest[0] == '{' || rest[0] == ']'
	}
	d := json.NewDecoder(bytes.NewReader(head))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	t, err := d.Token()
	key, ok := t.(string)
	return err == nil && ok && topKeys[key]
}

var bom = []byte{0xef, 0xbb, 0xbf}

// topKeys are the first keys Google's files start with.
var topKeys = map[string]bool{
	"locations": true, "timelineObjects": true,
	"semanticSegments": true, "rawSignals": true, "userLocationProfile": true,
}

// Read calls fn with an event for each position (and each visit) of r, in
// file order, and problem for each one it skips. It stops at the first
// error of fn, when ctx ends, or at JSON it cannot read.
func Read(ctx context.Context, r io.Reader, dev Device, fn func(Record) error, problem func(Problem)) (Stats, error) {
	cr := &capReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	var skipped int64
	if head, _ := br.Peek(3); bytes.Equal(head, bom) {
		_, _ = br.Discard(3)
		skipped = 3
	}
	rd := &reader{skipped: skipped,
		ctx: ctx, dev: dev, tid: dev.tid(), fn: fn, problem: problem, cr: cr,
		dec: json.NewDecoder(br), seen: newRecent(4096),
	}
	rd.st.DeviceTags = map[int64]int{}
	err := rd.top()
	if err != nil && !errors.Is(err, ErrNotGoogle) && !errors.Is(err, errStop) && ctx.Err() == nil {
		var syn *json.SyntaxError
		reason := ReasonRead
		switch {
		case errors.Is(err, errTooLarge):
			reason = ReasonTooLarge
		case errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errTrailing):
			reason = ReasonJSON
		}
		problem(Problem{Where: fmt.Sprintf("byte %d", rd.offset()), Reason: reason, Detail: err.Error()})
		err = fmt.Errorf("google: %s at byte %d: %w (what came before it was read)", reason, rd.offset(), err)
	}
	if errors.Is(err, errStop) {
		err = rd.stopErr
	}
	return rd.st, err
}

var errTrailing = errors.New("more JSON after the end of the file's value")

// errStop carries fn's error (or ctx's) out of the decoding.
var errStop = errors.New("stop")

type reader struct {
	ctx     context.Context
	dev     Device
	tid     string
	fn      func(Record) error
	problem func(Problem)
	cr      *capReader
	skipped int64 // a byte-order mark
	dec     *json.Decoder
	st      Stats
	seen    *recent
	n       int
	stopErr error
}

// offset is how far the decoder got in the file.
func (r *reader) offset() int64 { return r.skipped + r.dec.InputOffset() }

// bound lets the next token or record read at most MaxRecord more bytes.
func (r *reader) bound() { r.cr.max = r.cr.n + MaxRecord }

func (r *reader) token() (json.Token, error) {
	r.bound()
	return r.dec.Token()
}

// top reads the outermost value and dispatches on its shape.
func (r *reader) top() error {
	t, err := r.token()
	if err == io.EOF {
		return fmt.Errorf("%w: the file is empty", ErrNotGoogle)
	}
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('['):
		r.st.Format = FormatIOS
		if err := r.elements("", r.iosSegment); err != nil {
			return err
		}
		return r.end()
	case json.Delim('{'):
	default:
		return fmt.Errorf("%w: it starts with %v", ErrNotGoogle, t)
	}
	for first := true; r.dec.More(); first = false {
		t, err := r.token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if first && !topKeys[key] {
			return fmt.Errorf("%w: its first key is %q", ErrNotGoogle, key)
		}
		switch key {
		case "locations":
			r.st.Format = FormatRecords
			err = r.list(key, r.location)
		case "timelineObjects":
			r.st.Format = FormatSemantic
			err = r.list(key, r.timelineObject)
		case "semanticSegments":
			r.st.Format = FormatAndroid
			err = r.list(key, r.segment)
		case "rawSignals":
			r.st.Format = FormatAndroid
			err = r.list(key, r.rawSignal)
		case "userLocationProfile":
			err = r.profile()
		default:
			err = r.skip()
		}
		if err != nil {
			return err
		}
	}
	if _, err := r.token(); err != nil { // the closing }
		return err
	}
	return r.end()
}

// end checks that nothing but white space follows the outermost value.
func (r *reader) end() error {
	if _, err := r.token(); err != io.EOF {
		if err == nil {
			err = errTrailing
		}
		return err
	}
	return nil
}

// list reads the value of key, which should be a list of records.
func (r *reader) list(key string, each func(where string) error) error {
	t, err := r.token()
	if err != nil {
		return err
	}
	switch t {
	case json.Delim('['):
		return r.elements(key, each)
	case nil:
		return nil
	case json.Delim('{'):
		r.problem(Problem{Where: key, Reason: ReasonShape, Detail: "an object, want a list"})
		return r.skipRest(1)
	default:
		r.problem(Problem{Where: key, Reason: ReasonShape, Detail: fmt.Sprintf("%s, want a list", jsonNoun(t))})
		return nil
	}
}

// elements reads the elements of a list whose [ was read, and its ].
func (r *reader) elements(key string, each func(where string) error) error {
	for i := 0; r.dec.More(); i++ {
		if r.n++; r.n%1024 == 0 {
			if err := r.ctx.Err(); err != nil {
				r.stopErr = err
				return errStop
			}
		}
		r.st.Records++
		r.bound()
		if err := each(key + "[" + strconv.Itoa(i) + "]"); err != nil {
			return err
		}
	}
	_, err := r.token()
	return err
}

// decode decodes the next record into v. A record with a value of the
// wrong type is reported and skipped (the decoder has read all of it);
// anything else stops the reading.
func (r *reader) decode(where string, v any) (ok bool, err error) {
	err = r.dec.Decode(v)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			r.problem(Problem{Where: where, Reason: ReasonShape, Detail: fmt.Sprintf("%s, want an object", te.Value)})
		} else {
			r.problem(Problem{Where: where, Reason: ReasonField, Detail: fmt.Sprintf("%s is %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind().String()))})
		}
		return false, nil
	}
	return err == nil, err
}

// skip reads and drops the next value, a token at a time, so a large
// value is never held whole.
func (r *reader) skip() error {
	t, err := r.token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); ok && (d == '{' || d == '[') {
		return r.skipRest(1)
	}
	return nil
}

// skipRest drops tokens until depth open containers are closed.
func (r *reader) skipRest(depth int) error {
	for depth > 0 {
		t, err := r.token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// profile counts the frequent places of userLocationProfile (they carry
// no time, so they are not imported).
func (r *reader) profile() error {
	var p struct {
		FrequentPlaces []json.RawMessage `json:"frequentPlaces"`
	}
	ok, err := r.decode("userLocationProfile", &p)
	if ok {
		r.st.Frequent += len(p.FrequentPlaces)
	}
	return err
}

// point is one position to turn into a location.
type point struct {
	where    string
	lat, lon float64
	at       time.Time
	acc, alt int64 // metres; 0: absent
	vac      int64
	vel, cog int64 // km/h, degrees; -1: absent
	motion   string
}

func newPoint(where string) point { return point{where: where, vel: -1, cog: -1} }

// emit turns p into a location event and hands it on, unless it repeats
// a point just before it.
func (r *reader) emit(p point) error {
	key := pointKey{p.at.Unix(), int64(math.Round(p.lat * 1e7)), int64(math.Round(p.lon * 1e7))}
	if r.seen.add(key) {
		r.problem(Problem{Where: p.where, Reason: ReasonDuplicate, Detail: p.at.UTC().Format(time.RFC3339)})
		return nil
	}
	b := make([]byte, 0, 160)
	b = append(b, `{"_type":"location","lat":`...)
	b = strconv.AppendFloat(b, p.lat, 'f', -1, 64)
	b = append(b, `,"lon":`...)
	b = strconv.AppendFloat(b, p.lon, 'f', -1, 64)
	b = append(b, `,"tst":`...)
	b = strconv.AppendInt(b, p.at.Unix(), 10)
	for _, f := range []struct {
		name string
		v    int64
		ok   bool
	}{
		{"acc", p.acc, p.acc > 0}, {"alt", p.alt, p.alt != 0}, {"vac", p.vac, p.vac > 0},
		{"vel", p.vel, p.vel >= 0}, {"cog", p.cog, p.cog >= 0},
	} {
		if f.ok {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = strconv.AppendInt(b, f.v, 10)
		}
	}
	if p.motion != "" {
		b = append(b, `,"motionactivities":["`...)
		b = append(b, p.motion...) // one of motionNames: plain ASCII
		b = append(b, `"]`...)
	}
	b = append(b, `,"tid":`...)
	b = appendString(b, r.tid)
	b = append(b, '}')
	// The event's time is tst's: whole seconds, as OwnTracks has them.
	return r.send(p.where, events.Event{Received: time.Unix(p.at.Unix(), 0).UTC(), Topic: r.dev.Topic(), Payload: b, Source: events.SourceGoogle})
}

func (r *reader) send(where string, e events.Event) error {
	if err := r.fn(Record{Event: e, Where: where, Done: r.offset()}); err != nil {
		r.stopErr = err
		return errStop
	}
	return nil
}

// visit is a stay at a place, kept as an event of its own.
type visit struct {
	where             string
	lat, lon          float64
	start, end        time.Time
	placeID, name     string
	address, semantic string
	probability       float64
	hasProbability    bool
}

// Longest place name, address or id kept (hostile files).
const maxText = 1024

// emitVisit makes the visit event: {"_type":"visit","lat","lon","tst"
// (start),"end","place_id","name","address","semantic_type",
// "probability","tid"} on owntracks/<user>/<device>/visit.
func (r *reader) emitVisit(v visit) error {
	r.st.Visits++
	b := make([]byte, 0, 256)
	b = append(b, `{"_type":"visit","lat":`...)
	b = strconv.AppendFloat(b, v.lat, 'f', -1, 64)
	b = append(b, `,"lon":`...)
	b = strconv.AppendFloat(b, v.lon, 'f', -1, 64)
	b = append(b, `,"tst":`...)
	b = strconv.AppendInt(b, v.start.Unix(), 10)
	if !v.end.IsZero() {
		b = append(b, `,"end":`...)
		b = strconv.AppendInt(b, v.end.Unix(), 10)
	}
	for _, f := range []struct{ name, v string }{
		{"place_id", v.placeID}, {"name", v.name}, {"address", v.address}, {"semantic_type", v.semantic},
	} {
		if s := clip(f.v); s != "" {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = appendString(b, s)
		}
	}
	if v.hasProbability {
		b = append(b, `,"probability":`...)
		b = strconv.AppendFloat(b, math.Round(v.probability*1e4)/1e4, 'f', -1, 64)
	}
	b = append(b, `,"tid":`...)
	b = appendString(b, r.tid)
	b = append(b, '}')
	return r.send(v.where, events.Event{Received: time.Unix(v.start.Unix(), 0).UTC(), Topic: r.dev.Topic() + "/" + VisitSuffix, Payload: b, Source: events.SourceGoogle})
}

// stay records a visit whose place and start were checked: the event at
// the place, and locations at its start and end where the device was.
func (r *reader) stay(v visit, spot, at place) error {
	if !v.end.IsZero() && (v.end.Before(v.start) || !validTime(v.end)) {
		v.end = time.Time{}
	}
	v.lat, v.lon = spot.lat, spot.lon
	r.st.Points++
	if err := r.emitVisit(v); err != nil {
		return err
	}
	p := newPoint(v.where)
	p.lat, p.lon, p.at = at.lat, at.lon, v.start
	if err := r.emit(p); err != nil {
		return err
	}
	if !v.end.IsZero() && v.end.Unix() != v.start.Unix() {
		r.st.Points++
		p.at = v.end
		return r.emit(p)
	}
	return nil
}

// usable reports whether at is a position, reporting why not.
func (r *reader) usable(where string, at place) bool {
	switch {
	case !at.set && at.detail == "":
		r.problem(Problem{Where: where, Reason: ReasonNoCoords})
		return false
	case !at.set:
		r.problem(Problem{Where: where, Reason: ReasonCoords, Detail: at.detail})
		return false
	}
	return true
}

// timed reports whether t is a usable time, reporting why not.
func (r *reader) timed(where string, t when) bool {
	switch {
	case !t.set && t.raw == "":
		r.problem(Problem{Where: where, Reason: ReasonNoTime})
		return false
	case !t.set || !validTime(t.t):
		r.problem(Problem{Where: where, Reason: ReasonTime, Detail: quoteShort(t.raw)})
		return false
	}
	return true
}

func validTime(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 2000 && y <= 2200
}

// position records one timed position.
func (r *reader) position(p point, at place, t when) error {
	r.st.Points++
	if !r.usable(p.where, at) || !r.timed(p.where, t) {
		return nil
	}
	p.lat, p.lon, p.at = at.lat, at.lon, t.t
	return r.emit(p)
}

// motionNames maps Google's activity types to the names OwnTracks uses in
// motionactivities (iOS's motion activity: stationary, walking, running,
// automotive, cycling). Unknown, tilting and the like map to nothing.
func motionName(googleType string) string {
	k := strings.ToUpper(squash.Replace(googleType)) // IN_BUS, inVehicle, "in passenger vehicle" (iOS)
	switch k {
	case "STILL":
		return "stationary"
	case "ONFOOT", "WALKING", "WALK", "HIKING":
		return "walking"
	case "RUNNING":
		return "running"
	case "ONBICYCLE", "CYCLING", "BICYCLE":
		return "cycling"
	case "FLYING", "DRIVING", "DRIVE", "MOTORCYCLING", "SAILING", "SKIING", "BOATING":
		return "automotive"
	}
	if strings.HasPrefix(k, "IN") && k != "INVALID" {
		return "automotive" // IN_VEHICLE, IN_PASSENGER_VEHICLE, IN_BUS, IN_TRAIN, inVehicle, …
	}
	return ""
}

var squash = strings.NewReplacer("_", "", " ", "")

// recent remembers the last n point keys, to drop points that repeat one
// just before them (Google's files repeat points) in bounded memory.
type recent struct {
	ring []pointKey
	set  map[pointKey]int
	next int
}

type pointKey struct{ t, lat, lon int64 }

func newRecent(n int) *recent {
	return &recent{ring: make([]pointKey, 0, n), set: make(map[pointKey]int, n)}
}

// add reports whether k was seen among the last n keys, and remembers it.
func (s *recent) add(k pointKey) bool {
	if _, ok := s.set[k]; ok {
		return true
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, k)
	} else {
		old := s.ring[s.next]
		if s.set[old]--; s.set[old] <= 0 {
			delete(s.set, old)
		}
		s.ring[s.next] = k
		s.next = (s.next + 1) % len(s.ring)
	}
	s.set[k]++
	return false
}

// capReader counts the bytes read and fails once more than max were read
// (max is moved ahead before every token and record).
type capReader struct {
	r      io.Reader
	n, max int64
}

var errTooLarge = fmt.Errorf("a record or value over %d MB", MaxRecord>>20)

func (c *capReader) Read(p []byte) (int, error) {
	if c.max > 0 && c.n > c.max {
		return 0, errTooLarge
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

// clip shortens s to maxText bytes at a rune boundary.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	s = s[:maxText]
	for len(s) > 0 && !utf8RuneStart(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	if len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func quoteShort(s string) string {
	if len(s) > 64 {
		s = clip(s[:64])
	}
	return strconv.Quote(s)
}

func jsonNoun(t json.Token) string {
	switch t.(type) {
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprint(t)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "a list"
	case "string":
		return "a string"
	}
	return goKind
}
