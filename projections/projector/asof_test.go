package projector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
)

// Places of the as-of fixtures: ~7 km apart, so each is in one area.
var (
	home = [2]float64{50.0, 4.0}
	work = [2]float64{50.1, 4.1}
	gym  = [2]float64{50.05, 4.05} // an area defined after everything else
	park = [2]float64{50.2, 4.2}   // bob's phone region
	road = [2]float64{50.3, 4.3}   // in no area
)

func fix(user, source string, tst int64, at [2]float64) events.Event {
	e := loc(user, tst, at[0], at[1])
	e.Source = source
	if events.IsImport(source) {
		e.Received = time.Unix(9000, 0)
	}
	return e
}

func areaDef(name string, at [2]float64, received int64) events.Event {
	return events.Event{Topic: projections.AreaTopic, Source: events.SourceAdmin, Received: time.Unix(received, 0),
		Payload: fmt.Appendf(nil, `{"_type":"area","action":"define","name":%q,"center":{"lat":%g,"lon":%g},"radius":200}`, name, at[0], at[1])}
}

func phoneMsg(user string, received int64, payload string) events.Event {
	return events.Event{Topic: "owntracks/" + user + "/phone", Payload: []byte(payload), Source: events.SourceEmbedded, Received: time.Unix(received, 0)}
}

// asOfLog is live (alice), late (bob: older fixes arriving after newer
// ones) and imported (carol) data, bob's phone region with transitions,
// and an area (Gym) defined after all of it.
func asOfLog() []events.Event {
	const imp = "import:recorder"
	return []events.Event{
		areaDef("Home", home, 500),
		areaDef("Work", work, 500),
		phoneMsg("bob", 900, `{"_type":"waypoint","desc":"Park","lat":50.2,"lon":4.2,"rad":200,"rid":"pk","tst":900}`),
		// alice, live, in order
		fix("alice", events.SourceEmbedded, 1000, home), fix("alice", events.SourceEmbedded, 1100, home),
		fix("alice", events.SourceEmbedded, 1200, road), fix("alice", events.SourceEmbedded, 1300, gym),
		fix("alice", events.SourceEmbedded, 1400, gym), fix("alice", events.SourceEmbedded, 1500, work),
		fix("alice", events.SourceEmbedded, 1600, road),
		// bob: 1000 and 1400 first, the fixes between arrive late
		fix("bob", events.SourceEmbedded, 1000, road), fix("bob", events.SourceEmbedded, 1400, gym),
		fix("bob", events.SourceEmbedded, 1100, home), fix("bob", events.SourceEmbedded, 1200, home),
		fix("bob", events.SourceEmbedded, 1300, gym),
		fix("bob", events.SourceEmbedded, 1500, park),
		phoneMsg("bob", 1505, `{"_type":"transition","event":"enter","desc":"Park","rid":"pk","lat":50.2,"lon":4.2,"tst":1500,"acc":10,"t":"c"}`),
		phoneMsg("bob", 1705, `{"_type":"transition","event":"leave","desc":"Park","rid":"pk","lat":50.3,"lon":4.3,"tst":1700,"acc":10,"t":"c"}`),
		fix("bob", events.SourceEmbedded, 1700, road),
		// carol, imported from the Recorder, ends in the gym
		fix("carol", imp, 1000, home), fix("carol", imp, 1100, road),
		fix("carol", imp, 1200, gym), fix("carol", imp, 1300, gym),
		areaDef("Gym", gym, 5000),
	}
}

// foldAt is the reference: the fold over the areas as defined now, then
// the fixes and transitions whose tst is at or before at, in tst order.
func foldAt(t *testing.T, log []events.Event, at int64) []projections.FriendView {
	t.Helper()
	st, ch := projections.NewState(), projections.NewChanges()
	var timed []projections.Input
	for i, e := range log {
		e.Seq = uint64(i + 1)
		in := projections.Decode(owntracks.Decoder{}, e)
		switch {
		case in.Area != nil || (in.Err == nil && in.Msg.Kind == owntracks.KindWaypoint):
			projections.Apply(st, in, ch)
		case in.Err == nil && in.Msg.Kind == owntracks.KindLocation && in.Msg.Location.Tst <= at:
			timed = append(timed, in)
		case in.Err == nil && in.Msg.Kind == owntracks.KindTransition && in.Msg.Transition.Tst <= at:
			timed = append(timed, in)
		}
	}
	tst := func(in projections.Input) int64 {
		if in.Msg.Location != nil {
			return in.Msg.Location.Tst
		}
		return in.Msg.Transition.Tst
	}
	slices.SortStableFunc(timed, func(a, b projections.Input) int { return cmp.Compare(tst(a), tst(b)) })
	for _, in := range timed {
		projections.Apply(st, in, ch)
	}
	var out []projections.FriendView
	for _, f := range st.FriendViews() {
		if f.Location != nil {
			out = append(out, f)
		}
	}
	return out
}

// said is what an answer says about friends: where each is and which
// places it is in, since when, by which origin.
func said(friends []projections.FriendView) string {
	var b strings.Builder
	for _, f := range friends {
		fmt.Fprintf(&b, "%s at tst %d (seq %d) %.2f,%.2f:", f.ID, f.Location.Tst, f.Location.Seq, f.Location.Lat, f.Location.Lon)
		for _, a := range f.Areas {
			verdict := func(v *bool) string {
				if v == nil {
					return "-"
				}
				return fmt.Sprint(*v)
			}
			fmt.Fprintf(&b, " %s since %d phone=%s geometry=%s disagree=%v;", a.Area, a.Since, verdict(a.Phone), verdict(a.Geometry), a.Disagree)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// An as-of answer matches a fold of the log up to that moment, for live,
// late and imported data, an area defined afterwards included, also after
// a rebuild.
func TestAsOfMatchesFold(t *testing.T) {
	log := eventstest.OpenLog(t)
	ctx := t.Context()
	p, err := Open(ctx, t.TempDir(), log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	evs := asOfLog()
	appendAll(t, log, evs...)
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	moments := []struct {
		name string
		at   int64
	}{
		{"before any fix", 999},
		{"first fixes", 1000},
		{"alice and bob at home (bob's fixes late)", 1150},
		{"on the road", 1250},
		{"in the gym defined later", 1300},
		{"still in the gym: since its first fix", 1450},
		{"bob in his region, by phone and position", 1550},
		{"bob left by position, not yet by phone", 1650},
		{"after everything", 2000},
	}
	check := func(t *testing.T) {
		for _, m := range moments {
			t.Run(m.name, func(t *testing.T) {
				got, areas, err := p.AsOf(m.at, nil)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := said(got), said(foldAt(t, evs, m.at)); g != w {
					t.Errorf("as of %d:\n%s\nwant (fold):\n%s", m.at, g, w)
				}
				// The areas answer names the same people.
				in := map[string][]string{}
				for _, f := range got {
					for _, a := range f.Areas {
						in[a.Area] = append(in[a.Area], string(f.ID))
					}
				}
				for _, a := range areas {
					var members []string
					for _, mb := range a.Members {
						members = append(members, string(mb.Device))
					}
					if !slices.Equal(members, in[a.ID]) {
						t.Errorf("area %s as of %d has %v, friends say %v", a.ID, m.at, members, in[a.ID])
					}
				}
			})
		}
	}
	t.Run("live", check)
	if _, err := p.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Run("rebuilt", check)

	// Spot checks, so the reference cannot be wrong in the same way.
	got, _, _ := p.AsOf(1450, nil)
	want := "alice/phone at tst 1400 (seq 8) 50.05,4.05: s:gym since 1300 phone=- geometry=true disagree=false;\n" +
		"bob/phone at tst 1400 (seq 12) 50.05,4.05: s:gym since 1300 phone=- geometry=true disagree=false;\n" +
		"carol/phone at tst 1300 (seq 23) 50.05,4.05: s:gym since 1200 phone=- geometry=true disagree=false;\n"
	if s := said(got); s != want {
		t.Errorf("as of 1450:\n%s\nwant:\n%s", s, want)
	}
	if got, _, _ := p.AsOf(999, nil); len(got) != 0 {
		t.Errorf("before any fix: %s", said(got))
	}
}

// events lists enter/leave events in a short form.
func eventsText(evs []projections.AreaEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%d %s %s %s %s\n", e.Tst, e.Device, e.Event, e.Area, e.Origin)
	}
	return b.String()
}

// An area defined after the fact has its past arrivals and departures in
// every enter/leave read (a friend's, the area's, the feed), derived
// from history the same after a rebuild; the "inside when defined" event
// gives way to the arrival it stood for.
func TestPastCrossingsOfLaterArea(t *testing.T) {
	log := eventstest.OpenLog(t)
	ctx := t.Context()
	p, err := Open(ctx, t.TempDir(), log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	appendAll(t, log, asOfLog()...)
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	collect := func(read func(fn func(projections.AreaEvent) error) error) string {
		var out []projections.AreaEvent
		if err := read(func(e projections.AreaEvent) error { out = append(out, e); return nil }); err != nil {
			t.Fatal(err)
		}
		var gymOnly []projections.AreaEvent
		for _, e := range out {
			if e.Area == "s:gym" {
				gymOnly = append(gymOnly, e)
			}
		}
		return eventsText(gymOnly)
	}
	wantAlice := "1300 alice/phone enter s:gym geometry\n1500 alice/phone leave s:gym geometry\n"
	wantArea := "1200 carol/phone enter s:gym geometry\n" +
		"1300 alice/phone enter s:gym geometry\n" +
		"1300 bob/phone enter s:gym geometry\n" +
		"1500 alice/phone leave s:gym geometry\n" +
		"1500 bob/phone leave s:gym geometry\n"
	check := func(t *testing.T) {
		if got := collect(func(fn func(projections.AreaEvent) error) error { return p.DeviceEvents("alice/phone", 0, 1<<40, fn) }); got != wantAlice {
			t.Errorf("alice's events at the gym:\n%s\nwant:\n%s", got, wantAlice)
		}
		if got := collect(func(fn func(projections.AreaEvent) error) error { return p.AreaEvents("s:gym", 0, 1<<40, fn) }); got != wantArea {
			t.Errorf("the gym's events:\n%s\nwant:\n%s", got, wantArea)
		}
		// A range that starts inside a visit: the state before it counts.
		if got := collect(func(fn func(projections.AreaEvent) error) error {
			return p.DeviceEvents("alice/phone", 1350, 1<<40, fn)
		}); got != "1500 alice/phone leave s:gym geometry\n" {
			t.Errorf("alice's events from 1350:\n%s", got)
		}
		recent := p.RecentAreaEvents(100)
		if got := collect(func(fn func(projections.AreaEvent) error) error {
			for _, e := range recent {
				if err := fn(e); err != nil {
					return err
				}
			}
			return nil
		}); got != wantArea {
			t.Errorf("the feed's events at the gym:\n%s\nwant:\n%s", got, wantArea)
		}
		if !slices.IsSortedFunc(recent, func(a, b projections.AreaEvent) int { return cmp.Compare(a.Tst, b.Tst) }) {
			t.Errorf("the feed is not in time order:\n%s", eventsText(recent))
		}
	}
	t.Run("live", check)
	if _, err := p.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Run("rebuilt", check)

	// Fixes from before the gym's definition that arrive now (an import)
	// show in the feed, which had the gym's past cached.
	appendAll(t, log, fix("dave", "import:gpx", 1250, gym), fix("dave", "import:gpx", 1260, road))
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	var dave []projections.AreaEvent
	for _, e := range p.RecentAreaEvents(100) {
		if e.Device == "dave/phone" && e.Area == "s:gym" {
			dave = append(dave, e)
		}
	}
	if got, want := eventsText(dave), "1250 dave/phone enter s:gym geometry\n1260 dave/phone leave s:gym geometry\n"; got != want {
		t.Errorf("the feed after a late import:\n%s\nwant:\n%s", got, want)
	}
}
