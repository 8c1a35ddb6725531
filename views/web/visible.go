package web

import (
	"context"
	"net/http"

	"tracker/projections"
	"tracker/projections/projector"
)

// visible is the one place that decides what a viewer may see: every
// handler reads projections through it, so a friend hidden from a viewer
// is absent from pages, API answers and exports alike.
type visible struct {
	Projections
	may func(projections.DeviceID) bool
}

// proj returns the projections as the request's viewer may see them.
func (s *Server) proj(r *http.Request) Projections {
	v := ViewerFrom(r.Context())
	if v.Open || v.Admin {
		return s.Projections
	}
	return visible{Projections: s.Projections, may: v.MaySee}
}

func (p visible) Friends() []projections.FriendView {
	var out []projections.FriendView
	for _, f := range p.Projections.Friends() {
		if p.may(f.ID) {
			out = append(out, f)
		}
	}
	return out
}

func (p visible) Friend(id projections.DeviceID) (projections.FriendView, bool) {
	if !p.may(id) {
		return projections.FriendView{}, false
	}
	return p.Projections.Friend(id)
}

// Areas drops the regions of phones the viewer may not see and the
// members it may not see from every area.
func (p visible) Areas() []projections.AreaView {
	var out []projections.AreaView
	for _, a := range p.Projections.Areas() {
		if a.Owner != "" && !p.may(a.Owner) {
			continue
		}
		members := a.Members[:0:0]
		for _, m := range a.Members {
			if p.may(m.Device) {
				members = append(members, m)
			}
		}
		a.Members = members
		out = append(out, a)
	}
	return out
}

func (p visible) RecentAreaEvents(n int) []projections.AreaEvent {
	var out []projections.AreaEvent
	for _, e := range p.Projections.RecentAreaEvents(n * 4) {
		if p.may(e.Device) {
			out = append(out, e)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

func (p visible) History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	if !p.may(dev) {
		return nil
	}
	return p.Projections.History(dev, from, to, fn)
}

func (p visible) DeviceEvents(dev projections.DeviceID, from, to int64, fn func(projections.AreaEvent) error) error {
	if !p.may(dev) {
		return nil
	}
	return p.Projections.DeviceEvents(dev, from, to, fn)
}

func (p visible) AreaEvents(area string, from, to int64, fn func(projections.AreaEvent) error) error {
	return p.Projections.AreaEvents(area, from, to, func(e projections.AreaEvent) error {
		if !p.may(e.Device) {
			return nil
		}
		return fn(e)
	})
}

// Rebuild is an admin action; routes keep viewers away from it.
func (p visible) Rebuild(ctx context.Context, progress projector.Progress) (projector.Stats, error) {
	return p.Projections.Rebuild(ctx, progress)
}
