package projector

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
)

func locAcc(user string, tst int64, lat, lon float64, acc int) events.Event {
	return events.Event{
		Topic:    "owntracks/" + user + "/phone",
		Payload:  fmt.Appendf(nil, `{"_type":"location","lat":%g,"lon":%g,"tst":%d,"acc":%d,"tid":"%s"}`, lat, lon, tst, acc, user[:2]),
		Source:   events.SourceEmbedded,
		Received: time.Unix(tst+5, 0),
	}
}

func correction(c projections.CorrectionCommand) events.Event {
	c.Type = "correction"
	if c.By == "" {
		c.By = "test"
	}
	b, _ := json.Marshal(c)
	return events.Event{Topic: projections.CorrectionTopic, Source: events.SourceAdmin, Received: time.Unix(9000, 0), Payload: b}
}

// seen is what the answers say of alice: her position, her points and
// her comings and goings.
func seen(t *testing.T, p *Projector) string {
	t.Helper()
	f, _ := p.Friend("alice/phone")
	pos := "none"
	if f.Location != nil {
		pos = fmt.Sprint(f.Location.Tst)
		if f.Sent == nil || !json.Valid(f.Sent.Payload) {
			t.Errorf("position %s without what the phone sent: %+v", pos, f.Sent)
		}
	}
	var pts []int64
	if err := p.History("alice/phone", 0, 1<<40, func(pt projections.Point) error { pts = append(pts, pt.Tst); return nil }); err != nil {
		t.Fatal(err)
	}
	var evs []string
	if err := p.DeviceEvents("alice/phone", 0, 1<<40, func(e projections.AreaEvent) error {
		evs = append(evs, fmt.Sprintf("%s@%d", e.Event, e.Tst))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var area []string
	if err := p.AreaEvents("s:gym", 0, 1<<40, func(e projections.AreaEvent) error {
		area = append(area, fmt.Sprintf("%s@%d", e.Event, e.Tst))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	in := 0
	for _, a := range p.Areas() {
		in += len(a.Members)
	}
	recent := len(p.RecentAreaEvents(10))
	return fmt.Sprintf("pos=%s points=%v events=%v area=%v members=%d recent=%d", pos, pts, evs, area, in, recent)
}

// TestCorrectionsEverywhereAndRebuild: a hidden point leaves the
// position, the history, the enter/leave events and the area's members,
// comes back on unhide, and a rebuild gives the same bytes at every step.
func TestCorrectionsEverywhereAndRebuild(t *testing.T) {
	log := eventstest.OpenLog(t)
	root := t.TempDir()
	ctx := t.Context()
	p, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	appendAll(t, log,
		events.Event{Topic: projections.AreaTopic, Source: events.SourceAdmin, Received: time.Unix(500, 0),
			Payload: []byte(`{"_type":"area","action":"define","name":"Gym","center":{"lat":51.5,"lon":-0.12},"radius":100}`)},
		locAcc("alice", 1000, 40, 3, 10),       // seq 2
		locAcc("alice", 2000, 51.5, -0.12, 10), // 3: an outlier into the gym
		locAcc("alice", 3000, 40, 3, 10),       // 4
		locAcc("alice", 4000, 51.5, -0.12, 10), // 5: newest, in the gym
	)
	step := func(name, want string, evs ...events.Event) {
		t.Helper()
		appendAll(t, log, evs...)
		if err := p.catchUp(ctx); err != nil {
			t.Fatal(err)
		}
		if got := seen(t, p); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		live := dump(t, p)
		if _, err := p.Rebuild(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if rebuilt := dump(t, p); rebuilt != live {
			t.Errorf("%s: rebuild differs from live:\n%s", name, diffLines(live, rebuilt))
		}
		if got := seen(t, p); got != want {
			t.Errorf("%s after rebuild:\n got %s\nwant %s", name, got, want)
		}
	}
	all := "pos=4000 points=[1000 2000 3000 4000] events=[enter@2000 leave@3000 enter@4000] area=[enter@2000 leave@3000 enter@4000] members=1 recent=3"
	step("before", all)
	hideNewest := correction(projections.CorrectionCommand{Action: projections.CorrectHide, User: "alice", Device: "phone", Seq: 5, Tst: 4000, Reason: "<b>bad</b>"})
	step("newest hidden", "pos=3000 points=[1000 2000 3000] events=[enter@2000 leave@3000] area=[enter@2000 leave@3000] members=0 recent=2", hideNewest)
	step("hidden twice", "pos=3000 points=[1000 2000 3000] events=[enter@2000 leave@3000] area=[enter@2000 leave@3000] members=0 recent=2", hideNewest)
	step("outlier hidden too", "pos=3000 points=[1000 3000] events=[] area=[] members=0 recent=0",
		correction(projections.CorrectionCommand{Action: projections.CorrectHide, User: "alice", Device: "phone", Seq: 3, Tst: 2000}))
	step("unhide the newest", "pos=4000 points=[1000 3000 4000] events=[enter@4000] area=[enter@4000] members=1 recent=1",
		correction(projections.CorrectionCommand{Action: projections.CorrectUnhide, User: "alice", Device: "phone", Seq: 5}))
	step("range hides everything", "pos=none points=[] events=[] area=[] members=0 recent=0",
		correction(projections.CorrectionCommand{Action: projections.CorrectHide, User: "alice", Device: "phone", From: 1000, To: 4000}))
	step("a fix in the hidden range arrives late", "pos=none points=[] events=[] area=[] members=0 recent=0",
		locAcc("alice", 3500, 40, 3, 10))
	step("range unhidden, with the single point in it", "pos=4000 points=[1000 2000 3000 3500 4000] events=[enter@2000 leave@3000 enter@4000] area=[enter@2000 leave@3000 enter@4000] members=1 recent=3",
		correction(projections.CorrectionCommand{Action: projections.CorrectUnhide, User: "alice", Device: "phone", From: 0 + 1, To: 5000}))
	step("threshold for all: a poor fix is not used", "pos=4000 points=[1000 2000 3000 3500 4000] events=[enter@2000 leave@3000 enter@4000] area=[enter@2000 leave@3000 enter@4000] members=1 recent=3",
		correction(projections.CorrectionCommand{Action: projections.CorrectAccuracy, All: true, Max: 200}),
		locAcc("alice", 6000, 40, 3, 500))
	// A fix hidden when it came made no enter/leave: shown, it moves
	// the position and membership, not the timeline.
	step("device threshold looser than all", "pos=6000 points=[1000 2000 3000 3500 4000 6000] events=[enter@2000 leave@3000 enter@4000] area=[enter@2000 leave@3000 enter@4000] members=0 recent=3",
		correction(projections.CorrectionCommand{Action: projections.CorrectAccuracy, User: "alice", Device: "phone", Max: 1000}))
	step("device threshold cleared: all's applies", "pos=4000 points=[1000 2000 3000 3500 4000] events=[enter@2000 leave@3000 enter@4000] area=[enter@2000 leave@3000 enter@4000] members=1 recent=3",
		correction(projections.CorrectionCommand{Action: projections.CorrectAccuracy, User: "alice", Device: "phone", Max: 0}))
	step("all's cleared", "pos=6000 points=[1000 2000 3000 3500 4000 6000] events=[enter@2000 leave@3000 enter@4000] area=[enter@2000 leave@3000 enter@4000] members=0 recent=3",
		correction(projections.CorrectionCommand{Action: projections.CorrectAccuracy, All: true}))
}
