package visible_test

import (
	"slices"
	"testing"

	"tracker/projections"
	"tracker/views/visible"
)

const (
	ann = projections.DeviceID("ann/phone") // the viewer may see her
	bob = projections.DeviceID("bob/phone") // hidden from the viewer
)

// world is the projections' data about ann and bob: each has a point, an
// area event, a phone region, and both are in the server area "hq".
type world struct{}

func (world) Friends() []projections.FriendView {
	return []projections.FriendView{{Friend: projections.Friend{ID: ann}}, {Friend: projections.Friend{ID: bob}}}
}

func (w world) Friend(id projections.DeviceID) (projections.FriendView, bool) {
	for _, f := range w.Friends() {
		if f.ID == id {
			return f, true
		}
	}
	return projections.FriendView{}, false
}

func (world) Face(projections.DeviceID) (string, error) { return "", nil }

// AsOf answers like the projector: the friends may allows (a source that
// ignored may would still be filtered by the reader), the areas with
// both as members.
func (w world) AsOf(at int64, may func(projections.DeviceID) bool) ([]projections.FriendView, []projections.AreaView, error) {
	return w.Friends(), w.Areas(), nil
}

func (world) Areas() []projections.AreaView {
	members := []projections.Presence{{Device: ann, Area: "s:hq"}, {Device: bob, Area: "s:hq"}}
	return []projections.AreaView{
		{Area: projections.Area{ID: "s:hq", Origin: projections.OriginServer}, Members: members},
		{Area: projections.Area{ID: "p:ann", Origin: projections.OriginPhone, Owner: ann}},
		{Area: projections.Area{ID: "p:bob", Origin: projections.OriginPhone, Owner: bob}},
	}
}

func (world) RecentAreaEvents(n int) []projections.AreaEvent {
	return []projections.AreaEvent{{Device: ann, Area: "s:hq"}, {Device: bob, Area: "s:hq"}}
}

func (world) AreasFor(dev projections.DeviceID) []*projections.Area {
	return []*projections.Area{{ID: "s:hq", Origin: projections.OriginServer}, {ID: "p:" + string(dev), Origin: projections.OriginPhone, Owner: dev}}
}

func (world) History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	return fn(projections.Point{Tst: from})
}

func (world) HistoryMarked(dev projections.DeviceID, from, to int64, fn func(projections.Point, *projections.Hidden) error) error {
	return fn(projections.Point{Tst: from}, &projections.Hidden{Kind: "point"})
}

func (world) Corrections(dev projections.DeviceID) projections.Corrections {
	return projections.Corrections{Device: dev, Points: []projections.HiddenPoint{{Seq: 1}}}
}

func (world) DeviceEvents(dev projections.DeviceID, from, to int64, fn func(projections.AreaEvent) error) error {
	return fn(projections.AreaEvent{Device: dev, Area: "s:hq"})
}

func (w world) AreaEvents(area string, from, to int64, fn func(projections.AreaEvent) error) error {
	for _, e := range w.RecentAreaEvents(10) {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (world) Days(dev projections.DeviceID, q projections.DaysQuery, got func(int, []byte) error) error {
	return got(0, []byte(dev))
}

// devicesSeen is every device a reader reveals, read by read.
func devicesSeen(p visible.Reader) map[string][]projections.DeviceID {
	out := map[string][]projections.DeviceID{}
	add := func(read string, d projections.DeviceID) {
		if !slices.Contains(out[read], d) {
			out[read] = append(out[read], d)
		}
	}
	for _, f := range p.Friends() {
		add("Friends", f.ID)
	}
	for _, d := range []projections.DeviceID{ann, bob} {
		if f, ok := p.Friend(d); ok {
			add("Friend", f.ID)
		}
		if p.MaySee(d) {
			add("MaySee", d)
		}
		if len(p.AreasFor(d)) > 0 {
			add("AreasFor", d)
		}
		_ = p.History(d, 0, 1, func(projections.Point) error { add("History", d); return nil })
		_ = p.DeviceEvents(d, 0, 1, func(e projections.AreaEvent) error { add("DeviceEvents", e.Device); return nil })
		_ = p.HistoryMarked(d, 0, 1, func(projections.Point, *projections.Hidden) error { add("HistoryMarked", d); return nil })
		_ = p.Days(d, projections.DaysQuery{}, func(_ int, v []byte) error { add("Days", projections.DeviceID(v)); return nil })
		if len(p.Corrections(d).Points) > 0 {
			add("Corrections", d)
		}
	}
	past, pastAreas, _ := p.AsOf(0)
	for _, f := range past {
		add("AsOf", f.ID)
	}
	for _, a := range pastAreas {
		if a.Owner != "" {
			add("AsOf", a.Owner)
		}
		for _, m := range a.Members {
			add("AsOf", m.Device)
		}
	}
	for _, a := range p.Areas() {
		if a.Owner != "" {
			add("Areas", a.Owner)
		}
		for _, m := range a.Members {
			add("Areas", m.Device)
		}
	}
	for _, e := range p.RecentAreaEvents(10) {
		add("RecentAreaEvents", e.Device)
	}
	_ = p.AreaEvents("s:hq", 0, 1, func(e projections.AreaEvent) error { add("AreaEvents", e.Device); return nil })
	return out
}

// Every read of a Reader applies the viewer's rule: a device the rule
// hides is in no answer, and a nil rule (an admin) sees everything.
func TestReaderAppliesRuleToEveryRead(t *testing.T) {
	reads := []string{"Friends", "Friend", "MaySee", "AreasFor", "History", "DeviceEvents", "Areas", "RecentAreaEvents", "AreaEvents", "HistoryMarked", "Corrections", "AsOf", "Days"}
	gate := visible.New(world{})
	for _, c := range []struct {
		name string
		rule visible.Rule
		want []projections.DeviceID
	}{
		{"admin", nil, []projections.DeviceID{ann, bob}},
		{"sees ann", func(d projections.DeviceID) bool { return d == ann }, []projections.DeviceID{ann}},
		{"sees nobody", func(projections.DeviceID) bool { return false }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := devicesSeen(gate.For(c.rule))
			for _, read := range reads {
				if got := seen[read]; !slices.Equal(got, c.want) {
					t.Errorf("%s revealed %v, want %v", read, got, c.want)
				}
			}
		})
	}
}
