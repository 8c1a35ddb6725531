package projector

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"sync"

	"tracker/projections"
)

// Areas apply to the past: the geometry crossings of an area from before
// its definition are derived from history (projections.GeoCrossings),
// those from its definition on are the fold's, as before. Every
// enter/leave read (DeviceEvents, AreaEvents, RecentAreaEvents) merges the
// two by that rule, so the feed, the areas page and a friend's timeline
// agree, and a rebuild gives the same answers (both come from the log).

// pastWindow is how far before an area's definition the feed looks for
// its past crossings (a week: what the areas page lists).
const pastWindow = 7 * 24 * 3600

// pastCache keeps, per area, its derived crossings of the pastWindow
// before its definition, for every device, so a feed read does not read
// history. An entry is for one definition (seq); a fix from within an
// entry's window (a late or imported one) drops it.
type pastCache struct {
	mu    sync.Mutex
	areas map[string]pastArea
}

type pastArea struct {
	seq     uint64
	defined int64 // Unix s
	evs     []projections.AreaEvent
}

// saw drops cached crossings a saved change may alter: those of areas
// whose week before their definition holds one of the new fixes.
func (c *pastCache) saw(ch *projections.Changes) {
	if len(ch.Rules) > 0 {
		c.reset() // points hidden or shown again: any past may change
		return
	}
	if len(ch.History) == 0 {
		return
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, h := range ch.History {
		lo, hi = min(lo, h.Point.Tst), max(hi, h.Point.Tst)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, a := range c.areas {
		if lo < a.defined && hi >= a.defined-pastWindow {
			delete(c.areas, id)
		}
	}
}

func (c *pastCache) reset() {
	c.mu.Lock()
	c.areas = nil
	c.mu.Unlock()
}

// areaCopies returns copies of the areas defined now, by id.
func (p *Projector) areaCopies() map[string]*projections.Area {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make(map[string]*projections.Area, len(p.state.Areas))
	for id, a := range p.state.Areas {
		c := *a
		out[id] = &c
	}
	return out
}

// deviceIDs returns the devices known, in order.
func (p *Projector) deviceIDs() []projections.DeviceID {
	p.mu.RLock()
	devs := make([]projections.DeviceID, 0, len(p.state.Friends))
	for d := range p.state.Friends {
		devs = append(devs, d)
	}
	p.mu.RUnlock()
	slices.Sort(devs)
	return devs
}

// derive returns dev's geometry crossings of areas with from <= tst < to,
// each before its area's definition.
func (p *Projector) derive(dev projections.DeviceID, areas []*projections.Area, from, to int64) ([]projections.AreaEvent, error) {
	g := projections.NewGeoCrossings(dev, areas, projections.DefinedAt)
	if g.Empty() || from >= to {
		return nil, nil
	}
	if err := p.HistoryBack(dev, from-1, func(pt projections.Point) bool { g.Start(pt); return false }); err != nil {
		return nil, err
	}
	var out []projections.AreaEvent
	err := p.History(dev, from, to, func(pt projections.Point) error {
		g.Add(pt, func(e projections.AreaEvent) { out = append(out, e) })
		return nil
	})
	return out, err
}

// pastFor lists the areas (of those given) whose definition is after
// from, and the latest of their definitions.
func pastFor(areas map[string]*projections.Area, from int64, keep func(*projections.Area) bool) ([]*projections.Area, int64) {
	var out []*projections.Area
	until := int64(math.MinInt64)
	for _, a := range areas {
		if a.HasGeometry() && projections.DefinedAt(a) > from && keep(a) {
			out = append(out, a)
			until = max(until, projections.DefinedAt(a))
		}
	}
	slices.SortFunc(out, func(a, b *projections.Area) int { return cmp.Compare(a.ID, b.ID) })
	return out, until
}

// mergeEvents streams stored events (in tst order, through read) kept by
// the rule, merged with derived ones in (tst, seq) order.
func mergeEvents(derived []projections.AreaEvent, areas map[string]*projections.Area,
	read func(func(projections.AreaEvent) error) error, fn func(projections.AreaEvent) error) error {
	projections.SortEvents(derived)
	areas = projections.WithFormerIDs(areas)
	i := 0
	before := func(a, b projections.AreaEvent) bool { return a.Tst < b.Tst || (a.Tst == b.Tst && a.Seq < b.Seq) }
	err := read(func(e projections.AreaEvent) error {
		if !projections.KeepStored(e, areas) {
			return nil
		}
		for ; i < len(derived) && before(derived[i], e); i++ {
			if err := fn(derived[i]); err != nil {
				return err
			}
		}
		return fn(e)
	})
	if err != nil {
		return err
	}
	for ; i < len(derived); i++ {
		if err := fn(derived[i]); err != nil {
			return err
		}
	}
	return nil
}

// pastOf returns the cached past crossings of the given areas (each for
// the pastWindow before its definition, every device), computing those
// missing in one pass over each device's history.
func (p *Projector) pastOf(areas []*projections.Area) ([]projections.AreaEvent, error) {
	c := &p.past
	c.mu.Lock()
	defer c.mu.Unlock()
	var missing []*projections.Area
	for _, a := range areas {
		if e, ok := c.areas[a.ID]; !ok || e.seq != a.Seq {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		devs := p.deviceIDs()
		got := map[string][]projections.AreaEvent{}
		// Areas defined at about the same time share one read of each
		// device's history; one defined a year earlier gets its own.
		slices.SortFunc(missing, func(a, b *projections.Area) int {
			return cmp.Compare(projections.DefinedAt(a), projections.DefinedAt(b))
		})
		for i := 0; i < len(missing); {
			from, to := projections.DefinedAt(missing[i])-pastWindow, projections.DefinedAt(missing[i])
			j := i + 1
			for ; j < len(missing) && projections.DefinedAt(missing[j])-from <= 2*pastWindow; j++ {
				to = projections.DefinedAt(missing[j])
			}
			for _, dev := range devs {
				evs, err := p.derive(dev, missing[i:j], from, to)
				if err != nil {
					return nil, err
				}
				for _, e := range evs {
					got[e.Area] = append(got[e.Area], e)
				}
			}
			i = j
		}
		if c.areas == nil {
			c.areas = map[string]pastArea{}
		}
		for _, a := range missing {
			start := projections.DefinedAt(a) - pastWindow
			var keep []projections.AreaEvent
			for _, e := range got[a.ID] {
				if e.Tst >= start {
					keep = append(keep, e)
				}
			}
			c.areas[a.ID] = pastArea{seq: a.Seq, defined: projections.DefinedAt(a), evs: keep}
		}
	}
	var out []projections.AreaEvent
	for _, a := range areas {
		out = append(out, c.areas[a.ID].evs...)
	}
	return out, nil
}

// RecentAreaEvents returns up to n of the newest enter/leave events,
// oldest first: the fold's (leaving out those of hidden fixes), and each
// area's past crossings from the week before its definition.
func (p *Projector) RecentAreaEvents(n int) []projections.AreaEvent {
	p.mu.RLock()
	stored := p.recent.list
	if p.state != nil && len(p.state.Rules) > 0 {
		stored = projections.FilterEvents(stored, p.state.FilterFor) // leaving out those of hidden fixes
	}
	stored = slices.Clone(stored)
	p.mu.RUnlock()
	areas := p.areaCopies()
	withGeo, _ := pastFor(areas, math.MinInt64, func(*projections.Area) bool { return true })
	derived, err := p.pastOf(withGeo)
	if err != nil {
		if !errors.Is(err, projections.ErrRebuilding) { // the feed is whole again once rebuilt
			p.logger.Warn("reading past crossings for the feed failed; it shows the fold's events only", "err", err)
		}
		derived = nil
	}
	var out []projections.AreaEvent
	_ = mergeEvents(derived, areas, func(fn func(projections.AreaEvent) error) error {
		for _, e := range stored {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}, func(e projections.AreaEvent) error { out = append(out, e); return nil })
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
