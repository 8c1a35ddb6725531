package projector

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/geo"
)

// streamGen generates a plausible, messy event stream: several phones
// reporting with out-of-order fixes, redeliveries, garbage, region
// definitions and transitions (also for regions never defined), server
// areas coming and going, cards and lwts.
type streamGen struct {
	r       *rand.Rand
	now     int64 // receive clock, Unix seconds
	devs    []projections.DeviceID
	last    map[projections.DeviceID]int64    // newest tst per device
	regions map[projections.DeviceID][]region // regions defined per device
	sent    []events.Event                    // for redeliveries
}

type region struct {
	desc, rid string
	centre    geo.Point
	rad       int
}

// The places fixes and areas cluster around, so that memberships change.
var places = []geo.Point{
	{Lat: 51.5072, Lon: -0.1276}, // gym
	{Lat: 52.52, Lon: 13.405},    // home
	{Lat: 52.50, Lon: 13.30},     // work
	{Lat: 0.5, Lon: 179.9},       // by the antimeridian
}

var serverAreaNames = []string{"Gym", "Park", "Dateline", "Office"}

func newStreamGen(seed uint64) *streamGen {
	return &streamGen{
		r:       rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15)),
		now:     1_718_000_000,
		devs:    []projections.DeviceID{"alice/phone", "alice/tablet", "bob/phone", "carol/phone"},
		last:    map[projections.DeviceID]int64{},
		regions: map[projections.DeviceID][]region{},
	}
}

// near returns a point within about m metres of one of the places.
func (g *streamGen) near(m float64) geo.Point {
	p := places[g.r.IntN(len(places))]
	d := m / 111_195
	lon := p.Lon + (g.r.Float64()*2-1)*d
	if lon > 180 {
		lon -= 360
	}
	return geo.Point{Lat: p.Lat + (g.r.Float64()*2-1)*d, Lon: lon}
}

func (g *streamGen) payload(typ string, fields map[string]any) []byte {
	fields["_type"] = typ
	b, err := json.Marshal(fields)
	if err != nil {
		panic(err)
	}
	return b
}

func (g *streamGen) msg(dev projections.DeviceID, suffix string, payload []byte) events.Event {
	topic := "owntracks/" + string(dev)
	if suffix != "" {
		topic += "/" + suffix
	}
	return events.Event{Topic: topic, Payload: payload, Source: events.SourceEmbedded, Received: time.Unix(g.now, 0)}
}

// tst is a fix time for dev: usually after its newest, sometimes well
// before (a queued fix arriving late), sometimes equal.
func (g *streamGen) tst(dev projections.DeviceID) int64 {
	last, ok := g.last[dev]
	if !ok {
		last = g.now - 60
	}
	var t int64
	switch n := g.r.IntN(10); {
	case n < 2:
		t = last - 1 - g.r.Int64N(7200) // out of order
	case n < 3:
		t = last // same second
	default:
		t = min(last+1+g.r.Int64N(300), g.now)
	}
	t = max(t, 1_600_000_000)
	g.last[dev] = max(g.last[dev], t)
	return t
}

func (g *streamGen) regionOf(dev projections.DeviceID) (region, bool) {
	rs := g.regions[dev]
	if len(rs) == 0 {
		return region{}, false
	}
	return rs[g.r.IntN(len(rs))], true
}

func (g *streamGen) waypointFields(w region) map[string]any {
	f := map[string]any{"desc": w.desc, "lat": w.centre.Lat, "lon": w.centre.Lon, "rad": w.rad, "tst": 1_700_000_000}
	if w.rid != "" {
		f["rid"] = w.rid
	}
	return f
}

// next returns the next event to append.
func (g *streamGen) next() events.Event {
	g.now += 1 + g.r.Int64N(90)
	dev := g.devs[g.r.IntN(len(g.devs))]
	var e events.Event
	switch n := g.r.IntN(100); {
	case n < 40: // location
		p := g.near(400)
		f := map[string]any{"lat": p.Lat, "lon": p.Lon, "tst": g.tst(dev), "tid": string(dev[:2]),
			"batt": g.r.IntN(101), "acc": g.r.IntN(50), "vel": g.r.IntN(80), "conn": []string{"w", "m", "o"}[g.r.IntN(3)]}
		if g.r.IntN(4) == 0 {
			var names, rids []string
			for _, w := range g.regions[dev] {
				if g.r.IntN(2) == 0 {
					names = append(names, w.desc)
					if w.rid != "" {
						rids = append(rids, w.rid)
					}
				}
			}
			f["inregions"], f["inrids"] = append([]string{}, names...), append([]string{}, rids...)
		}
		e = g.msg(dev, "", g.payload("location", f))
		e.Retained = g.r.IntN(15) == 0
	case n < 48 && len(g.sent) > 0: // exact redelivery: same topic and payload
		old := g.sent[g.r.IntN(len(g.sent))]
		e = events.Event{Topic: old.Topic, Payload: old.Payload, Source: old.Source, Received: time.Unix(g.now, 0), Retained: old.Retained}
	case n < 54: // garbage
		bad := []string{
			`{"_type":"location","lat":52.5,`,
			`{"_type":"location","lat":95,"lon":13.4,"tst":1718000000}`,
			`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000000}`,
			`{"_type":"transition","event":"maybe","tst":1718000000}`,
			`[1,2,3]`,
			"\xff\xfe\x00",
		}
		e = g.msg(dev, "", []byte(bad[g.r.IntN(len(bad))]))
		if g.r.IntN(5) == 0 {
			e = events.Event{Topic: projections.AreaTopic, Source: events.SourceAdmin, Received: time.Unix(g.now, 0),
				Payload: []byte(`{"_type":"area","action":"define","name":"Gym","radius":-3}`)}
		}
	case n < 64: // transition, for a known region or one never defined
		f := map[string]any{"event": []string{"enter", "leave"}[g.r.IntN(2)], "tst": g.tst(dev), "t": "c"}
		if w, ok := g.regionOf(dev); ok && g.r.IntN(3) > 0 {
			f["desc"] = w.desc
			if w.rid != "" && g.r.IntN(4) > 0 {
				f["rid"] = w.rid
			}
		} else {
			k := g.r.IntN(3)
			f["desc"], f["rid"] = fmt.Sprintf("Unknown %d", k), fmt.Sprintf("u%d", k)
		}
		e = g.msg(dev, "event", g.payload("transition", f))
	case n < 70: // one waypoint (new or edited)
		k := g.r.IntN(4)
		w := region{desc: fmt.Sprintf("Region %d", k), rid: fmt.Sprintf("r%d", k), centre: g.near(300), rad: 50 + g.r.IntN(400)}
		if k == 3 {
			w.rid = "" // an old app: keyed by desc
		}
		if g.r.IntN(8) == 0 {
			w.rad = 0 // a beacon region: no geometry
		}
		rs := slices.DeleteFunc(g.regions[dev], func(o region) bool { return o.desc == w.desc })
		g.regions[dev] = append(rs, w)
		e = g.msg(dev, "waypoint", g.payload("waypoint", g.waypointFields(w)))
	case n < 73: // export: a subset of the regions
		var keep []region
		var list []any
		for _, w := range g.regions[dev] {
			if g.r.IntN(3) > 0 {
				keep = append(keep, w)
				f := g.waypointFields(w)
				f["_type"] = "waypoint"
				list = append(list, f)
			}
		}
		g.regions[dev] = keep
		if list == nil {
			list = []any{}
		}
		e = g.msg(dev, "waypoints", g.payload("waypoints", map[string]any{"waypoints": list}))
	case n < 80: // server area defined, redefined or removed
		name := serverAreaNames[g.r.IntN(len(serverAreaNames))]
		c := projections.AreaCommand{Type: "area", Action: projections.AreaDefine, Name: name}
		switch g.r.IntN(4) {
		case 0:
			c.Action = projections.AreaRemove
		case 1:
			p := g.near(200)
			d := 0.003 + g.r.Float64()*0.01
			c.Polygon = []geo.Point{{Lat: p.Lat - d, Lon: p.Lon - d}, {Lat: p.Lat - d, Lon: p.Lon + d}, {Lat: p.Lat + d, Lon: p.Lon + d}, {Lat: p.Lat + d, Lon: p.Lon - d}}
			for i := range c.Polygon {
				if c.Polygon[i].Lon > 180 {
					c.Polygon[i].Lon -= 360
				}
			}
		default:
			p := g.near(300)
			c.Center, c.Radius = &p, 50+g.r.Float64()*500
		}
		b, err := json.Marshal(c)
		if err != nil {
			panic(err)
		}
		e = events.Event{Topic: projections.AreaTopic, Payload: b, Source: events.SourceAdmin, Received: time.Unix(g.now, 0)}
	case n < 85: // card
		f := map[string]any{"tid": string(dev[:2])}
		if g.r.IntN(4) > 0 {
			f["name"] = []string{"Anna", "Anna M.", "Bob <b>", "Carol"}[g.r.IntN(4)]
		}
		if g.r.IntN(3) == 0 {
			f["face"] = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
		}
		e = g.msg(dev, "info", g.payload("card", f))
		e.Retained = true
	case n < 91: // lwt
		e = g.msg(dev, "", g.payload("lwt", map[string]any{"tst": g.now - 3600}))
	case n < 94: // retained message cleared
		e = g.msg(dev, []string{"", "info"}[g.r.IntN(2)], nil)
		e.Retained = true
	case n < 96: // a command, ours or a friend's
		e = g.msg(dev, "cmd", g.payload("cmd", map[string]any{"action": "reportLocation"}))
		if g.r.IntN(2) == 0 {
			e.Source = events.SourceServer
		}
	default:
		e = g.msg(dev, "status", g.payload("status", map[string]any{"_id": "x"}))
	}
	g.sent = append(g.sent, e)
	return e
}

// appendGroup appends evs as one group commit and waits until all are
// durable.
func appendGroup(t testing.TB, l events.Appender, evs []events.Event) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(evs))
	for i, e := range evs {
		wg.Add(1)
		l.AppendAsync(e, func(_ uint64, err error) { errs[i] = err; wg.Done() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// views is the in-memory state as readers see it, as JSON.
func views(t testing.TB, p *Projector) string {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"friends": p.Friends(), "areas": p.Areas(), "checkpoint": p.Checkpoint()}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// openProjector opens the projections under root; they are closed at
// cleanup (closing twice is fine).
func openProjector(t testing.TB, ctx context.Context, root string, log events.Reader) *Projector {
	t.Helper()
	p, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestLiveRestartRebuildAgree: whatever the stream, folding it live in
// small steps, in chunks with restarts in between, and in one rebuild all
// store exactly the same projections.
func TestLiveRestartRebuildAgree(t *testing.T) {
	seeds, perSeed := 20, 400
	if testing.Short() {
		seeds = 4
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			log := eventstest.OpenLog(t)
			g := newStreamGen(seed)
			rootLive, rootChunks := t.TempDir(), t.TempDir()

			live := openProjector(t, ctx, rootLive, log)
			chunked := openProjector(t, ctx, rootChunks, log)
			restarts := 0

			for n := 0; n < perSeed; {
				group := make([]events.Event, 1+g.r.IntN(8))
				for i := range group {
					group[i] = g.next()
				}
				appendGroup(t, log, group)
				n += len(group)
				if err := live.CatchUp(ctx); err != nil {
					t.Fatal(err)
				}
				if g.r.IntN(12) == 0 || n >= perSeed { // the end of a chunk: stop, start, catch up
					if err := chunked.Close(); err != nil {
						t.Fatal(err)
					}
					chunked = openProjector(t, ctx, rootChunks, log)
					if err := chunked.CatchUp(ctx); err != nil {
						t.Fatal(err)
					}
					restarts++
				}
			}
			if live.Checkpoint() != log.Head() || chunked.Checkpoint() != log.Head() {
				t.Fatalf("checkpoints live %d chunked %d, log head %d", live.Checkpoint(), chunked.Checkpoint(), log.Head())
			}

			wantDump, wantViews := dump(t, live), views(t, live)
			// The stream must have exercised what it is meant to.
			for _, want := range []string{`"h/`, `"ed/`, `"s/`, `"a/s:`, `"a/p:`, `late\":true`, `origin\":\"phone`, `origin\":\"geometry`} {
				if !strings.Contains(wantDump, want) {
					t.Errorf("no %s in the projections: the generator missed a case", want)
				}
			}
			if !strings.Contains(wantViews, `"disagree": true`) {
				t.Error("no disagreement between phone and geometry: the generator missed a case")
			}
			compare := func(what string, p *Projector) {
				t.Helper()
				if got := dump(t, p); got != wantDump {
					t.Errorf("%s: stored projections differ from live:\n%s", what, diffLines(wantDump, got))
				}
				if got := views(t, p); got != wantViews {
					t.Errorf("%s: views differ from live:\n%s", what, diffLines(wantViews, got))
				}
			}
			compare(fmt.Sprintf("chunks with %d restarts", restarts), chunked)

			fresh := openProjector(t, ctx, t.TempDir(), log) // no projections yet: built by a rebuild
			compare("opened on an empty root", fresh)

			if _, err := live.Rebuild(ctx, nil); err != nil {
				t.Fatal(err)
			}
			compare("full rebuild", live)
		})
	}
}

// diffLines shows the first lines where two dumps differ.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for i := 0; i < max(len(w), len(g)) && len(out) < 10; i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			out = append(out, fmt.Sprintf("line %d\n  want %s\n   got %s", i+1, a, b))
		}
	}
	return fmt.Sprintf("(%d vs %d lines)\n%s", len(w), len(g), strings.Join(out, "\n"))
}

// TestReadsDuringApply: readers (the web pages) run beside the applier.
func TestReadsDuringApply(t *testing.T) {
	ctx := t.Context()
	log := eventstest.OpenLog(t)
	root := t.TempDir()
	g := newStreamGen(99)
	evs := make([]events.Event, 300)
	for i := range evs {
		evs[i] = g.next()
	}
	appendGroup(t, log, evs[:150])
	p := openProjector(t, ctx, root, log)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = openProjector(t, ctx, root, log) // loaded from the store

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, f := range p.Friends() {
					_ = f.DisplayName()
				}
				_ = p.Areas()
				_, _ = p.Friend("alice/phone")
			}
		})
	}
	for i := 150; i < len(evs); i += 10 {
		appendGroup(t, log, evs[i:i+10])
		if err := p.CatchUp(ctx); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
}
