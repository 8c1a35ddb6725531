package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/projections"
	"tracker/views/web"
)

// countingLog is the real log, counting how its events are read.
type countingLog struct {
	*badgerlog.Log
	gets, passes atomic.Int64
}

func (c *countingLog) Get(seq uint64) (events.Event, error) {
	c.gets.Add(1)
	return c.Log.Get(seq)
}

func (c *countingLog) Events(ctx context.Context, seqs []uint64, fn func(events.Event) error) error {
	c.passes.Add(1)
	return c.Log.Events(ctx, seqs, fn)
}

// TestRecorderAnswersReadNoEventOneByOne: /api/0/locations in every
// format, /api/0/last, /ws/last's LAST and the HTTP mode's friends answer
// never read an event of the log one by one: /locations reads a chunk's
// payloads in one ordered pass over the log (GPX none), the others take
// the payload and the card's face kept by the projections.
func TestRecorderAnswersReadNoEventOneByOne(t *testing.T) {
	st := newStack(t)
	base := time.Date(2025, 10, 1, 8, 0, 0, 0, time.UTC)
	evs := []events.Event{
		userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "root", Admin: true}),
		ev("owntracks/demo/iphone/info", base, `{"_type":"card","name":"Demo","tid":"dm","face":"`+recFace+`"}`),
	}
	const points = 3000 // three chunks
	for i := range points {
		at := base.Add(time.Duration(i) * time.Minute)
		evs = append(evs, ev("owntracks/demo/iphone", at.Add(2*time.Second),
			fmt.Sprintf(`{"_type":"location","lat":51.%04d,"lon":13.6,"tst":%d,"vac":6,"tid":"dm"}`, i, at.Unix())))
	}
	st.appendAll(t, evs...)
	sessions, err := web.OpenSessions(filepath.Join(t.TempDir(), "sessions.json"))
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingLog{Log: st.log}
	site := *st.site
	site.Events = counted
	site.Auth = &web.Auth{Users: st.proj, Sessions: sessions, Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(site.Routes())
	t.Cleanup(srv.Close)
	rs := &recorderStack{stack: st, srv: srv}

	rng := "&from=2025-10-01&to=2025-10-04"
	for _, tc := range []struct {
		path   string
		passes int64 // ordered passes over the log
	}{
		{"/api/0/locations?user=demo&device=iphone" + rng, 3},
		{"/api/0/locations?user=demo&device=iphone&format=geojson" + rng, 3},
		{"/api/0/locations?user=demo&device=iphone&format=linestring" + rng, 3},
		{"/api/0/locations?user=demo&device=iphone&format=gpx" + rng, 0},
		{"/api/0/locations?user=demo&device=iphone&limit=2500" + rng, 3},
		{"/api/0/last", 0},
	} {
		counted.gets.Store(0)
		counted.passes.Store(0)
		res, body := rs.call(t, "root", http.MethodGet, tc.path, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", tc.path, res.Status, body)
		}
		if g, p := counted.gets.Load(), counted.passes.Load(); g != 0 || p != tc.passes {
			t.Errorf("%s: %d single reads and %d passes over the log, want 0 and %d", tc.path, g, p, tc.passes)
		}
	}

	counted.gets.Store(0)
	c := rs.dialLast(t, "root", "?user=demo")
	if got := c.last(); len(got) != 1 || got[0]["face"] != recFace {
		t.Errorf("LAST answered %v", got)
	}
	res, body := postPub(t, srv.URL+"/pub", []byte(`{"_type":"location","lat":1,"lon":2,"tst":1759305600}`), "Authorization", basic("root"))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("pub: %s %s", res.Status, body)
	}
	if g := counted.gets.Load(); g != 0 {
		t.Errorf("LAST and the HTTP mode's answer read %d events one by one, want 0", g)
	}
}
