// Package recorder is the OwnTracks Recorder's HTTP API, so that the
// OwnTracks Frontend and scripts written for the Recorder work against this
// server: /api/0/version, /api/0/list, /api/0/last, /api/0/locations (here)
// and the /ws/last websocket (ws.go). The shapes follow the Recorder's README, API.md
// and http.c/storage.c (github.com/owntracks/recorder); README.md lists what
// differs. Everything goes through the same login and the same sharing rule
// as the rest: a viewer never learns of a friend it may not see, not even
// that it exists.
package recorder

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/events/owntracks/recjson"
	"tracker/projections"
	"tracker/views/web/internal/httpx"
)

// API serves the Recorder-compatible routes. It never holds the
// projections themselves: every handler reads them through Read or
// Current, as the request's viewer may see them.
type API struct {
	// Read returns the projections as the request's viewer may see them.
	Read func(r *http.Request) Reader
	// Current returns the request's viewer's name and their view as of
	// each call, for the websocket, which outlives the login check: false
	// once the login has ended (logout, password change, removal).
	Current func(r *http.Request) (name string, now func() (Reader, bool))
	// Watch calls wake when user's account changes or they log out; stop
	// ends it. Nil when nothing announces such changes.
	Watch   func(user string, wake func()) (stop func())
	Log     events.Reader                               // followed by /ws/last
	Events  EventReader                                 // the stored payloads; nil: locations are rebuilt from points
	WaitFor func(ctx context.Context, seq uint64) error // until the projections include seq
	Decoder *owntracks.Decoder
	// Addresses names street addresses for addr; nil: answers carry none
	// (cc and locality come offline from projections/geocode).
	Addresses AddressBook
	Logger    *slog.Logger
	Now       func() time.Time // clock for default ranges; time.Now when nil
}

// Reader is the projections as one viewer may see them.
type Reader interface {
	Friends() []projections.FriendView
	History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error
	MaySee(dev projections.DeviceID) bool
	// Face is a friend's card face (base64), "" when none.
	Face(dev projections.DeviceID) (string, error)
}

// EventReader reads events of the log: those seqs names (ascending),
// each block of the log read once.
type EventReader interface {
	Events(ctx context.Context, seqs []uint64, fn func(events.Event) error) error
}

// Routes registers the Recorder-compatible API; stream wraps the
// websocket (the server caps live connections per user). The Recorder
// takes its parameters from the query, a form body (curl -d) or
// X-Limit-* headers, so every verb answers GET and POST alike.
func (a *API) Routes(r chi.Router, stream func(http.HandlerFunc) http.HandlerFunc) {
	r.Route("/api/0", func(r chi.Router) {
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			r.MethodFunc(m, "/version", a.recorderVersion)
			r.MethodFunc(m, "/list", a.recorderList)
			r.MethodFunc(m, "/last", a.recorderLast)
			r.MethodFunc(m, "/locations", a.recorderLocations)
		}
	})
	r.Get("/ws/last", stream(a.recorderWS))
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) decoder() *owntracks.Decoder {
	if a.Decoder == nil {
		return &owntracks.Decoder{}
	}
	return a.Decoder
}

const (
	// recorderHistory is the Recorder's default range for /locations:
	// the last 6 hours (DEFAULT_HISTORY_HOURS).
	recorderHistory = 6 * time.Hour
	// maxRecorderLimit bounds ?limit=, whose points are held in memory
	// (the Recorder reads at most one month file backwards instead).
	maxRecorderLimit = 100_000
	// geohashPrecision is the Recorder's default ghash length (GHASHPREC).
	geohashPrecision = 7
	isoLayout        = "2006-01-02T15:04:05Z"
	dispLayout       = "2006-01-02 15:04:05"
)

// recorderParam reads a parameter as the Recorder does: an X-Limit-<name>
// header wins over the query or form value.
func recorderParam(r *http.Request, name string) string {
	if v := r.Header.Get("X-Limit-" + name); v != "" {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(r.FormValue(name))
}

// limitBody caps a POSTed form before FormValue reads it.
func limitBody(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
}

// recorderVersion answers {"version": ..., "git": ...} like the Recorder,
// with this server's build.
func (a *API) recorderVersion(w http.ResponseWriter, r *http.Request) {
	v := struct {
		Version string `json:"version"`
		Git     string `json:"git,omitempty"`
	}{Version: "tracker (devel)"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = "tracker " + bi.Main.Version
		}
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" {
				v.Git = kv.Value
			}
		}
	}
	httpx.WriteJSON(w, http.StatusOK, v)
}

// recorderFriends returns the friends the viewer may see that have a
// location, ordered by user and device, narrowed to user and device when
// given. A name matches exactly or, when nothing matches exactly, without
// regard to case (the Recorder lower-cases names; topics keep theirs).
func recorderFriends(view Reader, user, device string) []projections.FriendView {
	var all []projections.FriendView
	for _, f := range view.Friends() {
		if f.Location != nil {
			all = append(all, f)
		}
	}
	slices.SortFunc(all, func(a, b projections.FriendView) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return strings.Compare(a.Device, b.Device)
	})
	all = matchNames(all, user, func(f projections.FriendView) string { return f.User })
	return matchNames(all, device, func(f projections.FriendView) string { return f.Device })
}

func matchNames(in []projections.FriendView, want string, name func(projections.FriendView) string) []projections.FriendView {
	if want == "" {
		return in
	}
	var exact, folded []projections.FriendView
	for _, f := range in {
		switch n := name(f); {
		case n == want:
			exact = append(exact, f)
		case strings.EqualFold(n, want):
			folded = append(folded, f)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return folded
}

// recorderList lists users; with ?user= that user's devices; with
// ?user=&device= the device's month files, named as the Recorder's
// storage would name them (rec/<user>/<device>/YYYY-MM.rec), for the
// months that hold points up to ?to= (default now).
func (a *API) recorderList(w http.ResponseWriter, r *http.Request) {
	limitBody(w, r)
	user, device := recorderParam(r, "user"), recorderParam(r, "device")
	view := a.Read(r)
	results := []string{}
	switch {
	case user == "":
		for _, f := range recorderFriends(view, "", "") {
			if len(results) == 0 || results[len(results)-1] != f.User {
				results = append(results, f.User)
			}
		}
	case device == "":
		for _, f := range recorderFriends(view, user, "") {
			results = append(results, f.Device)
		}
	default:
		_, to, err := a.recorderRange(r)
		if err != nil {
			recorderRangeError(w, err)
			return
		}
		for _, f := range recorderFriends(view, user, device) {
			months, err := recMonths(view, f.ID, to.Unix())
			if err != nil {
				httpx.Error(a.Logger, w, r, http.StatusInternalServerError, "could not read the history", err)
				return
			}
			for _, m := range months {
				results = append(results, "rec/"+f.User+"/"+f.Device+"/"+m+".rec")
			}
		}
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Results []string `json:"results"`
	}{results})
}

var errFoundFirst = errors.New("stop")

// recMonths returns the months (YYYY-MM, UTC) in which dev has points
// before to: one short read per month that has any.
func recMonths(view Reader, dev projections.DeviceID, to int64) ([]string, error) {
	var out []string
	from := int64(0)
	for from < to {
		var first *projections.Point
		err := view.History(dev, from, to, func(p projections.Point) error {
			first = &p
			return errFoundFirst
		})
		if err != nil && !errors.Is(err, errFoundFirst) {
			return nil, err
		}
		if first == nil {
			break
		}
		t := first.Time()
		out = append(out, t.Format("2006-01"))
		from = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC).Unix()
	}
	return out, nil
}

// recorderLast answers an array of the newest location of each device
// (?user=, ?device= narrow it; ?fields=a,b keeps only those members):
// the phone's payload as it sent it, plus the members the Recorder adds.
func (a *API) recorderLast(w http.ResponseWriter, r *http.Request) {
	limitBody(w, r)
	fields := fieldList(recorderParam(r, "fields"))
	out := []jsonObject{}
	view := a.Read(r)
	var places placeCache
	for _, f := range recorderFriends(view, recorderParam(r, "user"), recorderParam(r, "device")) {
		if f.Hidden {
			continue // the phone cleared its location
		}
		o := a.lastObject(view, f, &places)
		if fields != nil {
			o = o.Pick(fields)
		}
		out = append(out, o)
	}
	// What encoding/json makes of the array (the objects are already
	// compact JSON; it escapes HTML characters), without its reflection.
	var b bytes.Buffer
	b.WriteByte('[')
	for i, o := range out {
		if i > 0 {
			b.WriteByte(',')
		}
		json.HTMLEscape(&b, o.Append(nil))
	}
	b.WriteString("]\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes()) // the client went away; nothing to do
}

func fieldList(v string) []string {
	if v == "" {
		return nil
	}
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, recjson.Key(f))
		}
	}
	return out
}

// lastObject is a friend's newest location as the Recorder's last/ file
// holds it (payload, topic, username, device, ghash), with the members
// it adds when answering (isotst, disptst, the card's name and face, and
// the place: cc, addr, locality). The payload is the one the projections
// keep beside the friend. places may be nil.
func (a *API) lastObject(view Reader, f projections.FriendView, places *placeCache) jsonObject {
	var o jsonObject
	topic := a.defaultTopic(f.ID)
	if f.Sent != nil {
		if s, ok := recjson.Stored(f.Sent.Payload, f.Location.Lat, f.Location.Lon, f.Location.Tst); ok {
			o, _ = recjson.Parse(nil, s)
			topic = f.Sent.Topic
		}
	}
	if o == nil {
		o = pointObject(*f.Location)
	}
	o.SetString(kTopic, topic)
	o.SetString(kUsername, f.User)
	o.SetString(kDevice, f.Device)
	o.SetString(kGhash, geohash(f.Location.Lat, f.Location.Lon, geohashPrecision))
	o.SetRaw(kIsotst, quotedTime(f.Location.Time(), isoLayout))
	o.SetRaw(kDisptst, quotedTime(f.Location.Time(), dispLayout))
	// The card's members, where the location has none of its own.
	if _, ok := o.Get(kTid); !ok && f.TID != "" {
		o.Set(kTid, f.TID)
	}
	if f.Name != "" {
		o.SetDefault(kName, f.Name)
	}
	if f.FaceSeq != 0 {
		if face, err := view.Face(f.ID); err == nil && face != "" {
			o.SetDefault(kFace, face)
		}
	}
	a.setPlace(&o, places, f.Location.Lat, f.Location.Lon)
	return o
}

// defaultTopic is the topic of a location whose payload is not at hand.
func (a *API) defaultTopic(dev projections.DeviceID) string {
	user, device := dev.Split()
	return httpx.PubRoot(a.decoder()) + "/" + user + "/" + device
}

// sentFixes holds, for a chunk of points, their payloads as sent, read
// from the log in one ordered pass (each block of the log read once),
// in the Recorder's stored form.
type sentFixes struct {
	seqs  []uint64 // ascending
	fixes []sentFix
	buf   []byte // the stored forms
}

type sentFix struct {
	seq      uint64
	off, n   int
	received int64
}

// read fills f with the events of pts; a point whose event is not
// found or not an object has none.
func (f *sentFixes) read(ctx context.Context, log EventReader, dec *owntracks.Decoder, pts []projections.Point) error {
	f.seqs, f.fixes, f.buf = f.seqs[:0], f.fixes[:0], f.buf[:0]
	if log == nil {
		return nil
	}
	byseq := make(map[uint64]projections.Point, len(pts))
	for _, p := range pts {
		if _, ok := byseq[p.Seq]; !ok {
			byseq[p.Seq] = p
			f.seqs = append(f.seqs, p.Seq)
		}
	}
	slices.Sort(f.seqs)
	return log.Events(ctx, f.seqs, func(e events.Event) error {
		p := byseq[e.Seq]
		payload := e.Payload
		if bytes.Contains(payload, []byte(`"encrypted"`)) {
			m, err := dec.DecodeAt(e.Topic, e.Payload, time.Time{})
			if err != nil || m.Location == nil {
				return nil
			}
			if m.Decrypted {
				payload = m.Plaintext
			}
		}
		s, ok := recjson.Stored(payload, p.Lat, p.Lon, p.Tst)
		if !ok {
			return nil
		}
		off := len(f.buf)
		f.buf = append(f.buf, s...)
		f.fixes = append(f.fixes, sentFix{seq: e.Seq, off: off, n: len(s), received: e.Received.Unix()})
		return nil
	})
}

// get returns the fix of event seq.
func (f *sentFixes) get(seq uint64) (sentFix, bool) {
	i, ok := slices.BinarySearchFunc(f.fixes, seq, func(x sentFix, s uint64) int { return cmp.Compare(x.seq, s) })
	if !ok {
		return sentFix{}, false
	}
	return f.fixes[i], true
}

// quotedTime is t formatted by layout as a JSON string (the layouts give
// plain ASCII).
func quotedTime(t time.Time, layout string) []byte {
	b := make([]byte, 0, len(layout)+2)
	b = append(b, '"')
	b = t.AppendFormat(b, layout)
	return append(b, '"')
}

// pointObject is a location payload made from a history point.
func pointObject(p projections.Point) jsonObject {
	o := jsonObject{}
	o.Set(kType, "location")
	o.SetRaw(kLat, recjson.Float(p.Lat))
	o.SetRaw(kLon, recjson.Float(p.Lon))
	o.Set(kTst, p.Tst)
	for _, m := range []struct {
		k string
		v int
	}{{"acc", p.Acc}, {"alt", p.Alt}, {"vel", p.Vel}, {"cog", p.Cog}, {"batt", p.Batt}, {"bs", p.BS}} {
		if m.v != 0 {
			o.Set(recjson.Key(m.k), m.v)
		}
	}
	if p.Conn != "" {
		o.Set(recjson.Key("conn"), p.Conn)
	}
	if p.Trigger != "" {
		o.Set(recjson.Key("t"), p.Trigger)
	}
	return o
}

// recorderRange reads ?from=&to= as the Recorder does (UTC, YYYY-MM-DD
// with optional THH, THH:MM, THH:MM:SS, or YYYY-MM), also RFC 3339 and
// Unix seconds; the default is the last 6 hours.
func (a *API) recorderRange(r *http.Request) (from, to time.Time, err error) {
	now := a.now().UTC()
	from, to = now.Add(-recorderHistory), now
	if v := recorderParam(r, "from"); v != "" {
		if from, err = recorderTime(v); err != nil {
			return from, to, err
		}
	}
	if v := recorderParam(r, "to"); v != "" {
		if to, err = recorderTime(v); err != nil {
			return from, to, err
		}
	}
	if err := httpx.CheckTime("from", from); err != nil {
		return from, to, err
	}
	if err := httpx.CheckTime("to", to); err != nil {
		return from, to, err
	}
	if from.After(to) {
		return from, to, fmt.Errorf("from %s is after to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

// recorderRangeError answers a range recorderRange refused: 400 with the
// reason for a time beyond what the API accepts or a range too long,
// else the Recorder's 416.
func recorderRangeError(w http.ResponseWriter, err error) {
	if errors.Is(err, httpx.ErrTimeBounds) || errors.Is(err, errRangeTooLong) {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	http.Error(w, "impossible date/time ranges", http.StatusRequestedRangeNotSatisfiable)
}

var errRangeTooLong = fmt.Errorf("range longer than %d days; ask for a shorter one (or use ?limit=N)", int(httpx.MaxRange.Hours()/24))

var recorderLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02T15", "2006-01-02", "2006-01"}

// recorderTime parses one time in UTC.
func recorderTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && len(v) > 7 {
		return time.Unix(n, 0).UTC(), nil
	}
	if len(v) > 10 && (v[10] == 't' || v[10] == ' ') {
		v = v[:10] + "T" + v[11:]
	}
	if len(v) > 19 { // the Recorder ignores what follows the seconds (fractions, a Z)
		v = v[:19]
	}
	v = strings.TrimSuffix(v, "Z")
	for _, l := range recorderLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised time %q", v)
}

// recorderFormat writes one output format of /api/0/locations.
type recorderFormat interface {
	contentType() string
	begin(b *httpx.BufWriter)
	item(b *httpx.BufWriter, o jsonObject, p projections.Point)
	end(b *httpx.BufWriter, count int)
	chronological() bool // needs the points oldest first
}

// recorderLocations answers a device's locations in a range: ?user= and
// ?device= are required; ?from=&to= (default the last 6 hours),
// ?limit=N (the newest N before ?to=, newest first, ignoring ?from=),
// ?fields=, ?format=json|geojson|linestring|gpx.
func (a *API) recorderLocations(w http.ResponseWriter, r *http.Request) {
	limitBody(w, r)
	user, device := recorderParam(r, "user"), recorderParam(r, "device")
	if user == "" || device == "" {
		http.Error(w, "user and device are required", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	var f recorderFormat
	switch v := recorderParam(r, "format"); v {
	case "", "json":
		f = &recJSON{}
	case "geojson":
		f = &recGeoJSON{}
	case "linestring":
		f = &recLineString{}
	case "gpx":
		f = &recGPX{}
	case "csv", "xml", "geojsonpoi":
		http.Error(w, fmt.Sprintf("format %q is not supported by this server; use json, geojson, linestring or gpx", v), http.StatusBadRequest)
		return
	default:
		http.Error(w, "unrecognized format", http.StatusBadRequest)
		return
	}
	from, to, err := a.recorderRange(r)
	limit, _ := strconv.Atoi(recorderParam(r, "limit")) // the Recorder's atoi: junk is 0
	limit = min(max(limit, 0), maxRecorderLimit)
	if err == nil && limit == 0 && to.Sub(from) > httpx.MaxRange {
		err = errRangeTooLong // with ?limit=, from is ignored and limit bounds the answer
	}
	if err != nil {
		recorderRangeError(w, err)
		return
	}
	fields := fieldList(recorderParam(r, "fields"))

	// Unknown and hidden friends answer alike: no points.
	view := a.Read(r)
	var dev projections.DeviceID
	if fs := recorderFriends(view, user, device); len(fs) > 0 {
		dev = fs[0].ID
	}
	var points []projections.Point
	if dev != "" && limit > 0 {
		if points, err = lastPoints(r.Context(), view, dev, to.Unix(), limit); err != nil {
			httpx.Error(a.Logger, w, r, http.StatusInternalServerError, "could not read the history", err)
			return
		}
		if f.chronological() {
			slices.Reverse(points)
		}
	}

	w.Header().Set("Content-Type", f.contentType())
	cw := &httpx.CountWriter{W: w}
	bw := httpx.NewBufWriter(cw)
	f.begin(bw)
	count := 0
	var sent sentFixes
	var scratch jsonObject
	var places placeCache
	// emit writes a chunk of points, their payloads read from the log in
	// one ordered pass (GPX needs only the points).
	emit := func(pts []projections.Point) error {
		if _, gpx := f.(*recGPX); !gpx {
			if err := sent.read(r.Context(), a.Events, a.decoder(), pts); err != nil {
				return err
			}
		}
		for _, p := range pts {
			o, rcvd := jsonObject(nil), p.Tst
			if fix, ok := sent.get(p.Seq); ok {
				scratch, _ = recjson.Parse(scratch, sent.buf[fix.off:fix.off+fix.n])
				o, rcvd = scratch, fix.received
			} else {
				o = pointObject(p)
			}
			o.SetString(kGhash, geohash(p.Lat, p.Lon, geohashPrecision))
			if _, gpx := f.(*recGPX); !gpx {
				a.setPlace(&o, &places, p.Lat, p.Lon)
			}
			o.SetRaw(kIsorcv, quotedTime(time.Unix(rcvd, 0).UTC(), isoLayout))
			o.SetRaw(kIsotst, quotedTime(p.Time(), isoLayout))
			o.SetRaw(kDisptst, quotedTime(p.Time(), dispLayout))
			if len(o) > 0 && len(scratch) > 0 && &o[0] == &scratch[0] {
				scratch = o // keep what it grew to for the next point
			}
			if fields != nil {
				o = o.Pick(fields)
			}
			f.item(bw, o, p)
			count++
			if err := bw.Err(); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case dev == "":
	case limit > 0:
		for c := range slices.Chunk(points, 1024) {
			if err = emit(c); err != nil {
				break
			}
		}
	default:
		err = httpx.EachChunk(r.Context(), view, dev, from.Unix(), to.Unix(), emit)
	}
	if err != nil {
		if bw.Err() == nil { // else the client went away
			httpx.FailMid(a.Logger, w, r, cw.N, "the history of "+string(dev), err)
		}
		return
	}
	f.end(bw, count)
	_ = bw.Flush()
}

// lastPoints returns dev's newest n points with tst < to, newest first. It
// reads growing windows back from to (a day, a month, a year, then all)
// until one holds n points.
func lastPoints(ctx context.Context, view Reader, dev projections.DeviceID, to int64, n int) ([]projections.Point, error) {
	var ring []projections.Point
	next := 0
	for _, span := range []int64{86400, 31 * 86400, 366 * 86400, 0} {
		from := int64(0)
		if span > 0 {
			from = max(to-span, 0)
		}
		ring, next = ring[:0], 0
		err := httpx.EachPoint(ctx, view, dev, from, to, func(p projections.Point) error {
			if len(ring) < n {
				ring = append(ring, p)
			} else {
				ring[next] = p
				next = (next + 1) % n
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(ring) >= n || from == 0 {
			break
		}
	}
	out := append(slices.Clone(ring[next:]), ring[:next]...)
	slices.Reverse(out)
	return out, nil
}

// {"data":[...],"count":N,"status":200}, as the Recorder answers (its
// members in another order: JSON objects have none).
type recJSON struct {
	n   int
	buf []byte
}

func (*recJSON) contentType() string      { return "application/json" }
func (*recJSON) chronological() bool      { return false }
func (*recJSON) begin(b *httpx.BufWriter) { b.WriteString(`{"data":[`) }
func (j *recJSON) item(b *httpx.BufWriter, o jsonObject, _ projections.Point) {
	if j.n > 0 {
		b.Byte(',')
	}
	j.n++
	j.buf = o.Append(j.buf[:0])
	b.Write(j.buf)
}
func (*recJSON) end(b *httpx.BufWriter, count int) {
	b.WriteString(`],"count":` + strconv.Itoa(count) + `,"status":200}` + "\n")
}

// A FeatureCollection of points, each with properties name (the tid) and
// address (addr: "" unless an address book named it), as the Recorder's
// geo_json makes it.
type recGeoJSON struct{ n int }

func (*recGeoJSON) contentType() string { return "application/json" }
func (*recGeoJSON) chronological() bool { return false }
func (*recGeoJSON) begin(b *httpx.BufWriter) {
	b.WriteString(`{"type":"FeatureCollection","features":[`)
}
func (g *recGeoJSON) item(b *httpx.BufWriter, o jsonObject, _ projections.Point) {
	if g.n > 0 {
		b.Byte(',')
	}
	g.n++
	lat, _ := o.Float(kLat)
	lon, _ := o.Float(kLon)
	addr, _ := o.String(kAddr)
	tid, _ := o.String(kTid)
	feature := struct {
		Type     string `json:"type"`
		Geometry struct {
			Type        string     `json:"type"`
			Coordinates [2]float64 `json:"coordinates"`
		} `json:"geometry"`
		Properties struct {
			Name    string `json:"name"`
			Address string `json:"address"`
		} `json:"properties"`
	}{Type: "Feature"}
	feature.Geometry.Type = "Point"
	feature.Geometry.Coordinates = [2]float64{lon, lat}
	feature.Properties.Name, feature.Properties.Address = tid, addr
	v, _ := json.Marshal(feature)
	b.Write(v)
}
func (*recGeoJSON) end(b *httpx.BufWriter, _ int) { b.WriteString("]}\n") }

// One Feature with a LineString through the points, oldest first.
type recLineString struct{ n int }

func (*recLineString) contentType() string { return "application/json" }
func (*recLineString) chronological() bool { return true }
func (*recLineString) begin(b *httpx.BufWriter) {
	b.WriteString(`{"type":"Feature","geometry":{"coordinates":[`)
}
func (l *recLineString) item(b *httpx.BufWriter, o jsonObject, _ projections.Point) {
	lat, okLat := o.Float(kLat)
	lon, okLon := o.Float(kLon)
	if !okLat || !okLon {
		return
	}
	if l.n > 0 {
		b.Byte(',')
	}
	l.n++
	b.WriteString("[" + string(recjson.Float(lon)) + "," + string(recjson.Float(lat)) + "]")
}
func (*recLineString) end(b *httpx.BufWriter, _ int) { b.WriteString(`],"type":"LineString"}}` + "\n") }

// GPX 1.1, one track, written by the history export's point writer.
type recGPX struct{ t httpx.GPXPoints }

func (*recGPX) contentType() string { return "application/gpx+xml" }
func (*recGPX) chronological() bool { return true }
func (*recGPX) begin(b *httpx.BufWriter) {
	b.WriteString(xml.Header)
	b.WriteString(`<gpx version="1.1" creator="tracker" xmlns="http://www.topografix.com/GPX/1/1">` + "\n<trk><trkseg>\n")
}
func (g *recGPX) item(b *httpx.BufWriter, _ jsonObject, p projections.Point) { g.t.Point(b, p) }
func (g *recGPX) end(b *httpx.BufWriter, _ int)                              { g.t.End(b) }

// jsonObject is a JSON object that keeps its members in order, so a
// phone's payload goes out as it came, with the Recorder's members after.
// Its keys are held quoted (recjson.Key).
type jsonObject = recjson.Object

// Keys of the members the Recorder's answers read or add.
var (
	kType     = recjson.Key("_type")
	kLat      = recjson.Key("lat")
	kLon      = recjson.Key("lon")
	kTst      = recjson.Key("tst")
	kTid      = recjson.Key("tid")
	kAddr     = recjson.Key("addr")
	kTopic    = recjson.Key("topic")
	kUsername = recjson.Key("username")
	kDevice   = recjson.Key("device")
	kGhash    = recjson.Key("ghash")
	kIsotst   = recjson.Key("isotst")
	kDisptst  = recjson.Key("disptst")
	kIsorcv   = recjson.Key("isorcv")
	kName     = recjson.Key("name")
	kFace     = recjson.Key("face")
)

const geohashAlphabet = "0123456789bcdefghjkmnpqrstuvwxyz"

// geohash encodes a position as a geohash of n characters: bits
// alternately halve the longitude and latitude ranges, longitude first,
// five bits per base-32 character.
func geohash(lat, lon float64, n int) string {
	latLo, latHi, lonLo, lonHi := -90.0, 90.0, -180.0, 180.0
	out := make([]byte, 0, n)
	even := true
	var ch, bit byte
	for len(out) < n {
		if even {
			mid := (lonLo + lonHi) / 2
			if lon >= mid {
				ch |= 1 << (4 - bit)
				lonLo = mid
			} else {
				lonHi = mid
			}
		} else {
			mid := (latLo + latHi) / 2
			if lat >= mid {
				ch |= 1 << (4 - bit)
				latLo = mid
			} else {
				latHi = mid
			}
		}
		even = !even
		if bit++; bit == 5 {
			out = append(out, geohashAlphabet[ch])
			ch, bit = 0, 0
		}
	}
	return string(out)
}
