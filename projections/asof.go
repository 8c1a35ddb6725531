package projections

import (
	"cmp"
	"math"
	"slices"
)

// The past, as the log tells it: where everyone was at a moment, and when
// they came and went at places defined later.
//
// An as-of answer (AsOf) is what a fold of the log reaches when it takes
// the fixes and transitions whose own time (tst) is at or before the
// moment, in tst order, with the areas as defined now: each device's last
// fix at or before the moment is its location; it is in an area by
// geometry when that fix lies inside, since the first fix of the run of
// fixes inside that ends with it; and in a phone's region as the phone's
// last report at or before the moment says, since the first report of that
// run. So a fix that arrived late counts at its own time, imported data
// like live data, and an area defined today applies to last spring.

// PastReader reads history backwards from a moment, newest first, until
// fn returns false.
type PastReader interface {
	HistoryBack(dev DeviceID, at int64, fn func(Point) bool) error
	PhoneEventsBack(dev DeviceID, at int64, fn func(AreaEvent) bool) error
}

// PastLookback bounds how far back an as-of answer looks for when a
// friend came to the place it is in (Since): a run of fixes inside that
// began longer ago reads as beginning PastLookback before the moment.
const PastLookback = 31 * 24 * 3600

// AsOf returns the friends (those with a fix at or before at) and the
// areas (as defined now) as they were at at (Unix seconds). friends and
// areas are the current views, which give identities, names and areas.
func AsOf(r PastReader, friends []FriendView, areas []AreaView, at int64) ([]FriendView, []AreaView, error) {
	st := NewState()
	for i := range areas {
		a := areas[i].Area
		st.setArea(&a)
	}
	ids := st.SortedAreas()
	for _, fv := range friends {
		f := fv.Friend
		f.Location, f.Sent, f.InRegions, f.Hidden = nil, nil, nil, false
		var loc *Point
		var geo []*Area // areas with geometry that hold loc
		since := map[string]*Member{}
		err := r.HistoryBack(f.ID, at, func(p Point) bool {
			if loc == nil {
				pc := p
				loc = &pc
				for _, id := range ids {
					if a := st.Areas[id]; a.HasGeometry() && a.AppliesTo(f.ID) && a.Contains(p.Geo()) {
						geo = append(geo, a)
						since[id] = &Member{Device: f.ID, Area: id, Origin: OriginGeometry, In: true, Since: p.Tst, AsOf: p.Tst, Seq: p.Seq}
					}
				}
				return len(geo) > 0
			}
			if p.Tst < at-PastLookback {
				return false
			}
			open := geo[:0]
			for _, a := range geo {
				if a.Contains(p.Geo()) {
					since[a.ID].Since, since[a.ID].Seq = p.Tst, p.Seq
					open = append(open, a)
				}
			}
			geo = open
			return len(geo) > 0
		})
		if err != nil {
			return nil, nil, err
		}
		if loc == nil {
			continue // not on the map yet
		}
		f.Location, f.LastSeen, f.PresenceAt, f.Online = loc, loc.Time(), loc.Time(), true
		st.Friends[f.ID] = &f
		for id, m := range since {
			st.Members[MemberKey{f.ID, id, OriginGeometry}] = m
		}
		if err := phoneAsOf(r, st, f.ID, ids, at); err != nil {
			return nil, nil, err
		}
	}
	return st.FriendViews(), st.AreaViews(), nil
}

// phoneAsOf sets dev's phone membership at at from the phone's own
// reports: the newest for each of its regions decides, since the first of
// that run.
func phoneAsOf(r PastReader, st *State, dev DeviceID, ids []string, at int64) error {
	open := map[string]bool{}
	for _, id := range ids {
		if a := st.Areas[id]; a.Origin == OriginPhone && a.Owner == dev {
			open[id] = true
		}
	}
	if len(open) == 0 {
		return nil
	}
	return r.PhoneEventsBack(dev, at, func(e AreaEvent) bool {
		if e.Tst < at-PastLookback {
			return false
		}
		if !open[e.Area] {
			return len(open) > 0
		}
		in := e.Event == "enter"
		k := MemberKey{dev, e.Area, OriginPhone}
		m, ok := st.Members[k]
		switch {
		case !ok:
			st.Members[k] = &Member{Device: dev, Area: e.Area, Origin: OriginPhone, In: in, Since: e.Tst, AsOf: e.Tst, Seq: e.Seq}
		case m.In == in:
			m.Since, m.Seq = e.Tst, e.Seq
		default:
			delete(open, e.Area) // the run began after this report
		}
		return len(open) > 0
	})
}

// GeoCrossings finds, fix by fix, where one device's track entered and
// left areas by their geometry, as the fold's geometry would have seen
// it had the areas been defined all along: the first fix inside an area
// is an arrival, the first one outside after it a departure. Each area
// may have a cut-off (Unix seconds): crossings at or after it are not
// reported (the fold reports those itself, from the area's definition on).
type GeoCrossings struct {
	dev   DeviceID
	areas []*Area
	until []int64
	in    []bool
}

// NewGeoCrossings prepares to find dev's crossings of areas (those with
// geometry that concern dev); until gives each area's cut-off, nil: none.
func NewGeoCrossings(dev DeviceID, areas []*Area, until func(*Area) int64) *GeoCrossings {
	g := &GeoCrossings{dev: dev}
	for _, a := range areas {
		if !a.HasGeometry() || !a.AppliesTo(dev) {
			continue
		}
		g.areas = append(g.areas, a)
		u := int64(math.MaxInt64)
		if until != nil {
			u = until(a)
		}
		g.until = append(g.until, u)
	}
	g.in = make([]bool, len(g.areas))
	return g
}

// Empty reports whether no area concerns the device.
func (g *GeoCrossings) Empty() bool { return len(g.areas) == 0 }

// Start sets where the device was before the first fix given to Add (its
// last fix before the range), without reporting anything.
func (g *GeoCrossings) Start(p Point) {
	for i, a := range g.areas {
		g.in[i] = a.Contains(p.Geo())
	}
}

// Add takes the next fix, in tst order, and reports each crossing it makes.
func (g *GeoCrossings) Add(p Point, emit func(AreaEvent)) {
	for i, a := range g.areas {
		in := a.Contains(p.Geo())
		if in == g.in[i] {
			continue
		}
		g.in[i] = in
		if p.Tst >= g.until[i] {
			continue
		}
		emit(areaEvent(MemberKey{g.dev, a.ID, OriginGeometry}, a.Name, in, p.Tst, p.Seq, fixOf(p), false))
	}
}

// DefinedAt is when an area's definition took effect (Unix seconds): the
// fold reports its geometry crossings from then on, and GeoCrossings
// derives those before it from history.
func DefinedAt(a *Area) int64 { return a.Defined.Unix() }

// KeepStored reports whether a stored enter/leave event stays in an
// answer that derives the crossings before each area's definition from
// history. Of an area defined now with geometry (areas are by id, former
// ids of renamed areas included: WithFormerIDs), the fold's geometry
// events after its definition stay; those before it, of an earlier
// geometry or a former name, go, and so do those the definition itself
// made ("inside when defined", which the history tells better: since
// when).
func KeepStored(e AreaEvent, areas map[string]*Area) bool {
	if e.Origin != OriginGeometry {
		return true
	}
	a, ok := areas[e.Area]
	if !ok || !a.HasGeometry() {
		return true
	}
	d := DefinedAt(a)
	return e.Tst > d || (e.Tst == d && e.Seq > a.Seq)
}

// WithFormerIDs is areas (by id) with each renamed area also under the
// ids it had before (Area.Formerly), unless another area has that id now.
func WithFormerIDs(areas map[string]*Area) map[string]*Area {
	out := make(map[string]*Area, len(areas))
	for id, a := range areas {
		out[id] = a
	}
	for _, a := range areas {
		for _, f := range a.Formerly {
			if _, taken := areas[f.ID]; !taken {
				out[f.ID] = a
			}
		}
	}
	return out
}

// SortEvents orders enter/leave events by tst, then seq.
func SortEvents(evs []AreaEvent) {
	slices.SortStableFunc(evs, func(a, b AreaEvent) int {
		return cmp.Or(cmp.Compare(a.Tst, b.Tst), cmp.Compare(a.Seq, b.Seq))
	})
}
