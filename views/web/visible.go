package web

import (
	"context"
	"net/http"

	"tracker/projections"
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
	return s.projAs(ViewerFrom(r.Context()))
}

// projAs returns the projections as v may see them.
func (s *Server) projAs(v Viewer) Projections {
	if v.Open || v.Admin {
		return s.Projections
	}
	return visible{Projections: s.Projections, may: v.MaySee}
}

func (p visible) Friends() []projections.FriendView {
	return projections.VisibleFriends(p.Projections.Friends(), p.may)
}

func (p visible) Friend(id projections.DeviceID) (projections.FriendView, bool) {
	if !p.may(id) {
		return projections.FriendView{}, false
	}
	return p.Projections.Friend(id)
}

func (p visible) Areas() []projections.AreaView {
	return projections.VisibleAreas(p.Projections.Areas(), p.may)
}

func (p visible) RecentAreaEvents(n int) []projections.AreaEvent {
	out := projections.VisibleEvents(p.Projections.RecentAreaEvents(n*4), p.may)
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
func (p visible) Rebuild(ctx context.Context, progress projections.Progress) (projections.RebuildStats, error) {
	return p.Projections.Rebuild(ctx, progress)
}
