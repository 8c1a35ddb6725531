package projector

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
)

func appendAll(t testing.TB, l events.Appender, evs ...events.Event) {
	t.Helper()
	for _, e := range evs {
		if _, err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func loc(user string, tst int64, lat, lon float64) events.Event {
	return events.Event{
		Topic:    "owntracks/" + user + "/phone",
		Payload:  fmt.Appendf(nil, `{"_type":"location","lat":%g,"lon":%g,"tst":%d,"tid":"%s","batt":50}`, lat, lon, tst, user[:2]),
		Source:   events.SourceEmbedded,
		Received: time.Unix(tst+5, 0),
	}
}

func dump(t testing.TB, p *Projector) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.Dump(func(k, v []byte) error { fmt.Fprintf(&b, "%q=%q\n", k, v); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLiveEqualsRebuild(t *testing.T) {
	log := eventstest.OpenLog(t)
	root := t.TempDir()
	ctx := t.Context()
	p, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	appendAll(t, log,
		events.Event{Topic: projections.AreaTopic, Source: events.SourceAdmin, Received: time.Unix(1000, 0),
			Payload: []byte(`{"_type":"area","action":"define","name":"Gym","center":{"lat":51.5,"lon":-0.12},"radius":100}`)},
		loc("alice", 2000, 51.5, -0.12),
		loc("alice", 1500, 40, 3), // late: history only
		loc("alice", 3000, 40, 3),
		loc("bob", 2500, 51.5001, -0.1201),
	)
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ := p.Friend("alice/phone")
	if a.Location == nil || a.Location.Tst != 3000 {
		t.Fatalf("alice's current location = %+v, want tst 3000", a.Location)
	}
	areas := p.Areas()
	if len(areas) != 1 || len(areas[0].Members) != 1 || areas[0].Members[0].Device != "bob/phone" {
		t.Fatalf("areas = %+v, want Gym with bob", areas)
	}
	var n int
	_ = p.History("alice/phone", 0, 1<<40, func(projections.Point) error { n++; return nil })
	if n != 3 {
		t.Errorf("alice has %d history points, want 3", n)
	}
	live := dump(t, p)
	if _, err := p.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if rebuilt := dump(t, p); rebuilt != live {
		t.Errorf("rebuild differs from live:\nlive:\n%s\nrebuilt:\n%s", live, rebuilt)
	}
	// Reopen: the link points at the rebuilt generation.
	_ = p.Close()
	p2, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if got := dump(t, p2); got != live {
		t.Errorf("reopened projections differ")
	}
	matches, _ := filepath.Glob(filepath.Join(root, genPrefix+"*"))
	if len(matches) != 1 {
		t.Errorf("generations left on disk: %v", matches)
	}
}
