package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/audit"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/geo"
	"tracker/projections/projector"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
	"tracker/views/web"
)

// The fixture: one day (2026-03-10, UTC) of two friends, as their phones
// would have sent it, and a third friend whose names need escaping. The
// injected clock stands at 18:00 that day.
var (
	day      = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	clockNow = day.Add(18 * time.Hour)

	home   = geo.Point{Lat: 51.5000, Lon: -0.1200}       // alice's phone region "Home", r = 100 m
	office = geo.Point{Lat: 51.5200, Lon: -0.1000}       // bob's phone region "Office" (r = 150 m) and the server area "HQ" (r = 200 m)
	desk   = geo.Point{Lat: 51.5201, Lon: -0.1001}       // where bob sits: inside both
	park   = geo.Point{Lat: 51.4700, Lon: -0.1500}       // far from everything
	wtst   = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // when the phone regions were created
	lateAt = day.Add(10 * time.Hour)                     // alice's fix that arrives last
)

const (
	aliceID = "alice/phone"
	bobID   = "bob/tablet"
	// oddUser and oddDevice are legal topic levels that need escaping in
	// a URL and in HTML.
	oddUser   = "Zoë <img src=x onerror=alert(1)>" // a topic level: no "/"
	oddDevice = "my phone"

	homeID   = "p:alice/phone:rid:home1"
	officeID = "p:bob/tablet:rid:off1"
	hqID     = "s:hq"

	hqBody = `{"name":"HQ","center":{"lat":51.52,"lon":-0.1},"radius":200}`
)

// at returns the Unix time of hh:mm:ss on the fixture day.
func at(h, m, s int) int64 {
	return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second).Unix()
}

// aliceTsts are alice's fixes today: every 15 minutes from 06:00 to 17:45,
// at home until 08:45, at the office from 09:00 to 16:45, home again from
// 17:00.
func aliceTsts() []int64 {
	var out []int64
	for i := range 48 {
		out = append(out, at(6, 15*i, 0))
	}
	return out
}

func alicePlace(tst int64) geo.Point {
	if tst >= at(9, 0, 0) && tst < at(17, 0, 0) {
		return office
	}
	return home
}

// bobTsts are bob's fixes today: every 30 minutes from 08:00 to 17:30,
// all at his desk.
func bobTsts() []int64 {
	var out []int64
	for i := range 20 {
		out = append(out, at(8, 30*i, 0))
	}
	return out
}

// locationPayload is a location as the Android app sends it (~200 bytes).
func locationPayload(tid string, p geo.Point, tst int64) []byte {
	return fmt.Appendf(nil, `{"_type":"location","tid":%q,"lat":%.5f,"lon":%.5f,"tst":%d,"created_at":%d,"acc":12,"alt":41,"vac":3,"vel":0,"cog":-1,"batt":81,"bs":1,"conn":"w","m":1,"t":"p"}`,
		tid, p.Lat, p.Lon, tst, tst+2)
}

func ev(topic string, received time.Time, payload string) events.Event {
	return events.Event{Topic: topic, Payload: []byte(payload), QoS: 1, Source: events.SourceEmbedded, Received: received}
}

// fixtureEvents returns the phones' messages in the order they reach the
// server: by arrival, with alice's 10:00 fix (cached while offline) last.
func fixtureEvents() []events.Event {
	var evs []events.Event
	recv := func(tst int64) time.Time { return time.Unix(tst+5, 0).UTC() }
	// Yesterday noon alice was in the park.
	y := day.Add(-12 * time.Hour).Unix()
	evs = append(evs, ev("owntracks/alice/phone", recv(y), string(locationPayload("al", park, y))))
	// Early this morning both phones exported a region, alice sent her card.
	evs = append(evs,
		ev("owntracks/alice/phone/waypoint", day.Add(5*time.Hour),
			fmt.Sprintf(`{"_type":"waypoint","desc":"Home","lat":%g,"lon":%g,"rad":100,"tst":%d,"rid":"home1"}`, home.Lat, home.Lon, wtst.Unix())),
		ev("owntracks/bob/tablet/waypoint", day.Add(5*time.Hour+time.Minute),
			fmt.Sprintf(`{"_type":"waypoint","desc":"Office","lat":%g,"lon":%g,"rad":150,"tst":%d,"rid":"off1"}`, office.Lat, office.Lon, wtst.Unix())),
		ev("owntracks/alice/phone/info", day.Add(5*time.Hour+30*time.Minute), `{"_type":"card","name":"Alice Liddell","tid":"al"}`),
	)
	for _, tst := range aliceTsts() {
		if tst == lateAt.Unix() {
			continue
		}
		evs = append(evs, ev("owntracks/alice/phone", recv(tst), string(locationPayload("al", alicePlace(tst), tst))))
	}
	for _, tst := range bobTsts() {
		evs = append(evs, ev("owntracks/bob/tablet", recv(tst), string(locationPayload("bt", desk, tst))))
	}
	transition := func(topic, event, desc, rid string, p geo.Point, tst int64, tid string) events.Event {
		return ev(topic, recv(tst), fmt.Sprintf(`{"_type":"transition","event":%q,"desc":%q,"rid":%q,"wtst":%d,"tst":%d,"lat":%g,"lon":%g,"acc":10,"t":"c","tid":%q}`,
			event, desc, rid, wtst.Unix(), tst, p.Lat, p.Lon, tid))
	}
	evs = append(evs,
		transition("owntracks/bob/tablet/event", "enter", "Office", "off1", desk, at(8, 5, 0), "bt"),
		transition("owntracks/bob/tablet/event", "leave", "Office", "off1", desk, at(12, 0, 0), "bt"),
		transition("owntracks/alice/phone/event", "enter", "Home", "home1", home, at(17, 0, 30), "al"),
		ev("owntracks/"+oddUser+"/"+oddDevice, recv(at(10, 0, 0)), string(locationPayload("zo", park, at(10, 0, 0)))),
		// A broken fix: kept in the log, counted as invalid, never applied.
		ev("owntracks/bob/tablet", recv(at(12, 30, 0)), fmt.Sprintf(`{"_type":"location","tid":"bt","lat":91.2,"lon":-0.1,"tst":%d}`, at(12, 30, 0))),
	)
	slices.SortStableFunc(evs, func(a, b events.Event) int { return a.Received.Compare(b.Received) })
	late := ev("owntracks/alice/phone", day.Add(17*time.Hour+50*time.Minute), string(locationPayload("al", office, lateAt.Unix())))
	return append(evs, late)
}

// fakeIngest is the message intake as the health check sees it.
type fakeIngest struct{ down atomic.Bool }

func (f *fakeIngest) Connected() bool { return !f.down.Load() }
func (f *fakeIngest) Source() string  { return "test" }

// stack is the whole server over real Badger databases in t.TempDir().
type stack struct {
	log    *badgerlog.Log
	proj   *projector.Projector
	audit  *audit.Auditor
	ingest *fakeIngest
	site   *web.Server
	srv    *httptest.Server
}

// newStack starts log, projector, auditor and HTTP server, appends the
// fixture and defines the server area HQ through the API. Everything is
// stopped in t.Cleanup.
func newStack(t *testing.T) *stack {
	t.Helper()
	log := eventstest.OpenLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
	dec := &owntracks.Decoder{}
	changes := projections.NewFeed() // as serve wires it
	p, err := projector.Open(ctx, t.TempDir(), log, *dec, logger, projector.Options{OnChange: changes.Send})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	st := &stack{log: log, proj: p, audit: audit.New(log, dec, logger), ingest: &fakeIngest{}}
	assets := static.New()
	hub := live.New(p, func() views.Page { return views.Page{Assets: assets, Now: clockNow} }, nil, logger)
	var wg sync.WaitGroup
	wg.Go(func() { changes.Run(ctx, hub.Notify) })
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			t.Errorf("projector: %v", err)
		}
	})
	wg.Go(func() {
		if err := st.audit.Run(ctx, 1); err != nil {
			t.Errorf("auditor: %v", err)
		}
	})
	st.site = web.New(web.Deps{
		Log: log, Appender: log, Decoder: dec, Ingest: st.ingest, Stats: st.audit,
		Projections: p, Checkpoint: p.Checkpoint, Logger: logger, Now: func() time.Time { return clockNow }, Hub: hub,
	})
	st.srv = httptest.NewServer(st.site.Routes())
	t.Cleanup(func() {
		st.srv.Close()
		cancel()
		wg.Wait()
		if err := p.Close(); err != nil {
			t.Errorf("close projections: %v", err)
		}
	})

	st.appendAll(t, fixtureEvents()...)
	res, body := st.do(t, http.MethodPost, "/api/v1/areas", hqBody)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("define HQ: %s: %s", res.Status, body)
	}
	return st
}

// appendAll appends evs in order (one group commit for all) and waits
// until the projections include them.
func (st *stack) appendAll(t *testing.T, evs ...events.Event) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(evs))
	for i, e := range evs {
		wg.Add(1)
		st.log.AppendAsync(e, func(_ uint64, err error) { errs[i] = err; wg.Done() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := st.proj.WaitFor(ctx, st.log.Head()); err != nil {
		t.Fatalf("projections did not catch up to %d: %v", st.log.Head(), err)
	}
}

// do sends one request; body is sent when not empty.
func (st *stack) do(t *testing.T, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	return doURL(t, method, st.srv.URL+path, body)
}

// send sends req and reads the whole answer.
func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func doURL(t *testing.T, method, u, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, req)
}

// reqCase is one request and what must come back. Every table of them is
// listed in allCases, which the route coverage test reads.
type reqCase struct {
	name   string
	method string
	path   string // escaped path and query
	body   string
	code   int
	// errMsg, for error answers, is the plain-text message; the body must
	// be exactly this line.
	errMsg string
	// errPrefix is used instead of errMsg when the message ends with
	// text from a library (a JSON decoder error).
	errPrefix string
	// before, when set, prepares the stack (and undoes it in t.Cleanup).
	before func(t *testing.T, st *stack)
	check  func(t *testing.T, st *stack, res *http.Response, body []byte)
}

// run sends c to st and checks status, error text and content type.
func (c reqCase) run(t *testing.T, st *stack) {
	t.Helper()
	if c.before != nil {
		c.before(t, st)
	}
	res, body := st.do(t, c.method, c.path, c.body)
	if res.StatusCode != c.code {
		t.Fatalf("%s %s: status %d, want %d; body: %s", c.method, c.path, res.StatusCode, c.code, body)
	}
	checkErrorBody(t, res, body, c.errMsg, c.errPrefix)
	if c.code < 300 && c.code != http.StatusNoContent {
		if ct := res.Header.Get("Content-Type"); ct != "application/json" && ct != "application/x-ndjson" {
			t.Errorf("Content-Type = %q, want JSON", ct)
		}
	}
	if c.check != nil {
		c.check(t, st, res, body)
	}
}

func checkErrorBody(t *testing.T, res *http.Response, body []byte, msg, prefix string) {
	t.Helper()
	if msg == "" && prefix == "" {
		return
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("error Content-Type = %q, want text/plain", ct)
	}
	got := strings.TrimSuffix(string(body), "\n")
	switch {
	case msg != "" && got != msg:
		t.Errorf("error message:\n got: %s\nwant: %s", got, msg)
	case prefix != "" && !strings.HasPrefix(got, prefix):
		t.Errorf("error message:\n got: %s\nwant prefix: %s", got, prefix)
	}
}

// decode unmarshals body strictly into a T.
func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T: %v\nbody: %s", v, err, body)
	}
	if dec.More() {
		t.Fatalf("decode %T: more than one JSON value in body: %s", v, body)
	}
	return v
}

// keysOf returns the top-level keys of a JSON object.
func keysOf(t *testing.T, raw json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, raw)
	}
	return m
}

// requireKeys fails unless obj has every key.
func requireKeys(t *testing.T, what string, obj json.RawMessage, keys ...string) {
	t.Helper()
	m := keysOf(t, obj)
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: no %q field in %s", what, k, obj)
		}
	}
}

// friendPath is /api/v1/friends/{user}/{device}/{what} with both names
// escaped as one path segment each.
func friendPath(user, device, what string) string {
	return "/api/v1/friends/" + url.PathEscape(user) + "/" + url.PathEscape(device) + "/" + what
}

// withQuery adds a query to path.
func withQuery(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return path + "?" + q.Encode()
}
