package projector

import (
	"slices"
	"strings"

	"tracker/projections"
	"tracker/projections/store"
)

// Friends returns every friend with the areas it is in now.
func (p *Projector) Friends() []projections.FriendView {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state.FriendViews()
}

// Friend returns one friend; ok is false when unknown.
func (p *Projector) Friend(id projections.DeviceID) (projections.FriendView, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if _, ok := p.state.Friends[id]; !ok {
		return projections.FriendView{}, false
	}
	return p.state.FriendView(id), true
}

// Areas returns every area with who is in it now.
func (p *Projector) Areas() []projections.AreaView {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state.AreaViews()
}

// AreasFor returns the areas with geometry that concern dev (for time
// spent per area over a history range).
func (p *Projector) AreasFor(dev projections.DeviceID) []*projections.Area {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []*projections.Area
	for _, id := range p.state.AreaIDs() {
		if a := p.state.Areas[id]; a.AppliesTo(dev) && a.HasGeometry() {
			c := *a
			out = append(out, &c)
		}
	}
	return out
}

// History calls fn for dev's points with from <= tst < to (Unix seconds),
// ordered by tst: one range read. Points a correction hides are left out.
func (p *Projector) History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	if f := p.filter(dev); !f.Empty() {
		return p.history(dev, from, to, func(pt projections.Point) error {
			if f.Hides(pt) {
				return nil
			}
			return fn(pt)
		})
	}
	return p.history(dev, from, to, fn)
}

// history reads every point, hidden or not.
func (p *Projector) history(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	st, done := p.reading()
	defer done()
	if st == nil {
		return projections.ErrRebuilding
	}
	var fnErr error
	err := st.History(dev, from, to, func(pt projections.Point) error {
		fnErr = fn(pt)
		return fnErr
	})
	if fnErr == nil {
		p.readFailed(err)
	}
	return err
}

// HistoryBack calls fn for dev's points with tst <= at, newest first,
// until fn returns false (as-of reads: the last fix at a moment, and how
// long it had been in its places). Points a correction hides are left
// out, as History leaves them out.
func (p *Projector) HistoryBack(dev projections.DeviceID, at int64, fn func(projections.Point) bool) error {
	f := p.filter(dev)
	st, done := p.reading()
	defer done()
	if st == nil {
		return projections.ErrRebuilding
	}
	err := st.HistoryBack(dev, at, func(pt projections.Point) bool {
		if !f.Empty() && f.Hides(pt) {
			return true
		}
		return fn(pt)
	})
	p.readFailed(err)
	return err
}

// PhoneEventsBack calls fn for dev's enter/leave events reported by the
// phone with tst <= at, newest first, until fn returns false; those of
// hidden fixes are left out.
func (p *Projector) PhoneEventsBack(dev projections.DeviceID, at int64, fn func(projections.AreaEvent) bool) error {
	f := p.filter(dev)
	ef := projections.NewEventFilter(func(projections.DeviceID) projections.Filter { return f })
	st, done := p.reading()
	defer done()
	if st == nil {
		return projections.ErrRebuilding
	}
	err := st.DeviceEventsBack(dev, at, projections.OriginPhone, func(e projections.AreaEvent) bool {
		if !f.Empty() && !ef.Keep(e) {
			return true
		}
		return fn(e)
	})
	p.readFailed(err)
	return err
}

// DeviceEvents calls fn for dev's enter/leave events with from <= tst < to,
// in tst order: the fold's (leaving out those of hidden fixes,
// projections.EventFilter), and the geometry crossings from before each
// area's definition, derived from dev's history (past.go).
func (p *Projector) DeviceEvents(dev projections.DeviceID, from, to int64, fn func(projections.AreaEvent) error) error {
	areas := p.areaCopies()
	need, until := pastFor(areas, from, func(a *projections.Area) bool { return a.AppliesTo(dev) })
	derived, err := p.derive(dev, need, from, min(to, until))
	if err != nil {
		return err
	}
	return mergeEvents(derived, areas, func(f func(projections.AreaEvent) error) error { return p.storedDeviceEvents(dev, from, to, f) }, fn)
}

func (p *Projector) storedDeviceEvents(dev projections.DeviceID, from, to int64, fn func(projections.AreaEvent) error) error {
	if f := p.filter(dev); !f.Empty() {
		ef := projections.NewEventFilter(func(projections.DeviceID) projections.Filter { return f })
		inner := fn
		fn = func(e projections.AreaEvent) error {
			if !ef.Keep(e) {
				return nil
			}
			return inner(e)
		}
	}
	st, done := p.reading()
	defer done()
	if st == nil {
		return projections.ErrRebuilding
	}
	var fnErr error
	err := st.DeviceEvents(dev, from, to, func(e projections.AreaEvent) error {
		fnErr = fn(e)
		return fnErr
	})
	if fnErr == nil {
		p.readFailed(err)
	}
	return err
}

// AreaEvents calls fn for an area's enter/leave events with from <= tst <
// to, in tst order: the fold's (leaving out those of hidden fixes), and
// the geometry crossings from before the area's definition, derived from
// history (past.go).
func (p *Projector) AreaEvents(area string, from, to int64, fn func(projections.AreaEvent) error) error {
	areas := p.areaCopies()
	var derived []projections.AreaEvent
	if a, ok := areas[area]; ok && a.HasGeometry() && projections.DefinedAt(a) > from {
		if from >= projections.DefinedAt(a)-pastWindow {
			evs, err := p.pastOf([]*projections.Area{a})
			if err != nil {
				return err
			}
			for _, e := range evs {
				if e.Tst >= from && e.Tst < to {
					derived = append(derived, e)
				}
			}
		} else {
			for _, dev := range p.deviceIDs() {
				evs, err := p.derive(dev, []*projections.Area{a}, from, min(to, projections.DefinedAt(a)))
				if err != nil {
					return err
				}
				derived = append(derived, evs...)
			}
		}
	}
	return mergeEvents(derived, areas, func(f func(projections.AreaEvent) error) error { return p.storedAreaEvents(area, from, to, f) }, fn)
}

func (p *Projector) storedAreaEvents(area string, from, to int64, fn func(projections.AreaEvent) error) error {
	ef := projections.NewEventFilter(p.rulesNow())
	inner := fn
	fn = func(e projections.AreaEvent) error {
		if !ef.Keep(e) {
			return nil
		}
		return inner(e)
	}
	st, done := p.reading()
	defer done()
	if st == nil {
		return projections.ErrRebuilding
	}
	var fnErr error
	err := st.AreaEvents(area, from, to, func(e projections.AreaEvent) error {
		fnErr = fn(e)
		return fnErr
	})
	if fnErr == nil {
		p.readFailed(err)
	}
	return err
}

// AsOf returns the friends may allows (nil: all) and the areas as they
// were at at (Unix seconds): projections.AsOf over this projector's
// history.
func (p *Projector) AsOf(at int64, may func(projections.DeviceID) bool) ([]projections.FriendView, []projections.AreaView, error) {
	p.mu.RLock()
	friends := make([]projections.FriendView, 0, len(p.state.Friends))
	for _, f := range p.state.Friends {
		if may == nil || may(f.ID) {
			friends = append(friends, projections.FriendView{Friend: *f})
		}
	}
	areas := make([]projections.AreaView, 0, len(p.state.Areas))
	for _, id := range p.state.AreaIDs() {
		a := *p.state.Areas[id]
		a.Polygon = slices.Clone(a.Polygon)
		areas = append(areas, projections.AreaView{Area: a})
	}
	p.mu.RUnlock()
	return projections.AsOf(p, friends, areas, at)
}

// Dump calls fn for every stored key and value (tests compare rebuilds).
func (p *Projector) Dump(fn func(k, v []byte) error) error {
	st, done := p.reading()
	defer done()
	if st == nil {
		return projections.ErrRebuilding
	}
	return st.Dump(fn)
}

// reading returns the current store for a range read, held open (a
// rebuild's switch waits to close it) without holding p.mu, so a long or
// slow read never holds up the projector's writes.
func (p *Projector) reading() (*store.Store, func()) {
	p.mu.RLock()
	st := p.store
	p.storeMu.RLock()
	p.mu.RUnlock()
	return st, p.storeMu.RUnlock
}

// User returns a copy of one user; ok is false when there is none.
func (p *Projector) User(name string) (projections.User, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	u, ok := p.state.Users[name]
	if !ok {
		return projections.User{}, false
	}
	c := *u
	c.Sees = slices.Clone(u.Sees)
	return c, true
}

// Users lists every user by name.
func (p *Projector) Users() []projections.User {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]projections.User, 0, len(p.state.Users))
	for _, u := range p.state.Users {
		c := *u
		c.Sees = slices.Clone(u.Sees)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b projections.User) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// IssuedAt returns the event that applied the admin command with
// identity id, when the fold remembers it (projections.MaxIssued).
func (p *Projector) IssuedAt(id string) (uint64, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state.IssuedAt(id)
}

// HasUsers reports whether any user exists (then everything needs a login).
func (p *Projector) HasUsers() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.state.Users) > 0
}

// Face returns dev's card face (base64), "" when it has none.
func (p *Projector) Face(dev projections.DeviceID) (string, error) {
	st, done := p.reading()
	defer done()
	if st == nil {
		return "", projections.ErrRebuilding
	}
	face, err := st.Face(dev)
	p.readFailed(err)
	return face, err
}
