// Package visible applies the sharing rule (projections.User.MaySee) to
// every read of the projections. A Gate holds the projections and hands
// out only Readers scoped to one viewer's rights, so code that is given a
// Gate cannot read a friend the viewer may not see: there is no unscoped
// read to forget the rule on. The live hub filters its fan-out with the
// same Rule.
package visible

import (
	"tracker/projections"
)

// Rule says which devices a viewer may see; nil: every device (an admin,
// or open mode).
type Rule func(projections.DeviceID) bool

// MaySee reports whether the rule lets the viewer see dev.
func (r Rule) MaySee(dev projections.DeviceID) bool { return r == nil || r(dev) }

// Friends keeps the friends the rule lets the viewer see.
func (r Rule) Friends(in []projections.FriendView) []projections.FriendView {
	if r == nil {
		return in
	}
	return projections.VisibleFriends(in, r)
}

// Areas drops the regions of phones the rule hides and, from every area,
// the members it hides.
func (r Rule) Areas(in []projections.AreaView) []projections.AreaView {
	if r == nil {
		return in
	}
	return projections.VisibleAreas(in, r)
}

// Events keeps the area events of devices the rule lets the viewer see.
func (r Rule) Events(in []projections.AreaEvent) []projections.AreaEvent {
	if r == nil {
		return in
	}
	return projections.VisibleEvents(in, r)
}

// Source is what the rule filters: the projections' reads.
type Source interface {
	Friends() []projections.FriendView
	Friend(id projections.DeviceID) (projections.FriendView, bool)
	Areas() []projections.AreaView
	RecentAreaEvents(n int) []projections.AreaEvent
	AreasFor(dev projections.DeviceID) []*projections.Area
	History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error
	DeviceEvents(dev projections.DeviceID, from, to int64, fn func(projections.AreaEvent) error) error
	AreaEvents(area string, from, to int64, fn func(projections.AreaEvent) error) error
	// Face is a friend's card face (base64), "" when none.
	Face(dev projections.DeviceID) (string, error)
	// HistoryMarked is History with the hidden points, each with why it
	// is hidden (nil for a point in use); Corrections lists a device's.
	HistoryMarked(dev projections.DeviceID, from, to int64, fn func(projections.Point, *projections.Hidden) error) error
	Corrections(dev projections.DeviceID) projections.Corrections
	// AsOf is the friends may allows and the areas as they were at a
	// moment (projections.AsOf).
	AsOf(at int64, may func(projections.DeviceID) bool) ([]projections.FriendView, []projections.AreaView, error)
	// Days are a device's day summaries (the stats; projections.DaysQuery).
	Days(dev projections.DeviceID, q projections.DaysQuery, got func(i int, summary []byte) error) error
}

// Gate holds the projections and gives them out only through a Rule.
type Gate struct{ src Source }

// New is the gate to src.
func New(src Source) *Gate { return &Gate{src: src} }

// For returns the projections as a viewer with rule may see them.
func (g *Gate) For(rule Rule) Reader { return Reader{src: g.src, rule: rule} }

// Reader is the projections as one viewer may see them: a friend hidden
// from the viewer is absent from every answer, as if it did not exist.
type Reader struct {
	src  Source
	rule Rule
}

// MaySee reports whether the viewer may see dev.
func (p Reader) MaySee(dev projections.DeviceID) bool { return p.rule.MaySee(dev) }

func (p Reader) Friends() []projections.FriendView { return p.rule.Friends(p.src.Friends()) }

func (p Reader) Friend(id projections.DeviceID) (projections.FriendView, bool) {
	if !p.rule.MaySee(id) {
		return projections.FriendView{}, false
	}
	return p.src.Friend(id)
}

func (p Reader) Areas() []projections.AreaView { return p.rule.Areas(p.src.Areas()) }

// RecentAreaEvents returns the viewer's newest n area events, looking
// through four times as many of everybody's.
func (p Reader) RecentAreaEvents(n int) []projections.AreaEvent {
	if p.rule == nil {
		return p.src.RecentAreaEvents(n)
	}
	out := p.rule.Events(p.src.RecentAreaEvents(n * 4))
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// AreasFor returns the areas that concern dev, none when dev is hidden.
func (p Reader) AreasFor(dev projections.DeviceID) []*projections.Area {
	if !p.rule.MaySee(dev) {
		return nil
	}
	return p.src.AreasFor(dev)
}

func (p Reader) History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	if !p.rule.MaySee(dev) {
		return nil
	}
	return p.src.History(dev, from, to, fn)
}

// Face returns dev's card face, "" when dev is hidden.
func (p Reader) Face(dev projections.DeviceID) (string, error) {
	if !p.rule.MaySee(dev) {
		return "", nil
	}
	return p.src.Face(dev)
}

func (p Reader) DeviceEvents(dev projections.DeviceID, from, to int64, fn func(projections.AreaEvent) error) error {
	if !p.rule.MaySee(dev) {
		return nil
	}
	return p.src.DeviceEvents(dev, from, to, fn)
}

func (p Reader) AreaEvents(area string, from, to int64, fn func(projections.AreaEvent) error) error {
	if p.rule == nil {
		return p.src.AreaEvents(area, from, to, fn)
	}
	return p.src.AreaEvents(area, from, to, func(e projections.AreaEvent) error {
		if !p.rule(e.Device) {
			return nil
		}
		return fn(e)
	})
}

// HistoryMarked is History with the hidden points too (nothing when dev
// is hidden from the viewer).
func (p Reader) HistoryMarked(dev projections.DeviceID, from, to int64, fn func(projections.Point, *projections.Hidden) error) error {
	if !p.rule.MaySee(dev) {
		return nil
	}
	return p.src.HistoryMarked(dev, from, to, fn)
}

// Corrections lists dev's corrections (none when dev is hidden).
func (p Reader) Corrections(dev projections.DeviceID) projections.Corrections {
	if !p.rule.MaySee(dev) {
		return projections.Corrections{Device: dev, Points: []projections.HiddenPoint{}, Ranges: []projections.HiddenRange{}}
	}
	return p.src.Corrections(dev)
}

// AsOf returns the friends the viewer may see and the areas, as they were
// at at (Unix seconds): each friend at its last fix at or before it.
func (p Reader) AsOf(at int64) ([]projections.FriendView, []projections.AreaView, error) {
	var may func(projections.DeviceID) bool
	if p.rule != nil {
		may = p.rule
	}
	friends, areas, err := p.src.AsOf(at, may)
	return p.rule.Friends(friends), p.rule.Areas(areas), err
}

// Days calls got with dev's day summaries (nothing when dev is hidden).
func (p Reader) Days(dev projections.DeviceID, q projections.DaysQuery, got func(i int, summary []byte) error) error {
	if !p.rule.MaySee(dev) {
		return nil
	}
	return p.src.Days(dev, q, got)
}
