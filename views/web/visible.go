package web

import (
	"net/http"

	"tracker/projections"

	"tracker/views/visible"
)

// proj is the projections as the request's viewer may see them: the only
// way handlers read friends, areas and histories. Server keeps the
// projections behind a visible.Gate (Router), so a handler has no
// unscoped reader to forget the sharing rule with; TestHandlersReadThroughGate
// keeps it so.
func (s *Server) proj(r *http.Request) visible.Reader {
	return s.projAs(ViewerFrom(r.Context()))
}

// projAs is the projections as v may see them (for streams, v as of now).
func (s *Server) projAs(v Viewer) visible.Reader {
	return s.reads.For(v.rule())
}

// projOne is the projections as a share link's viewer may see them:
// dev alone (share.go).
func (s *Server) projOne(dev projections.DeviceID) visible.Reader {
	return s.reads.For(func(d projections.DeviceID) bool { return d == dev })
}

// rule is what v may see under the sharing rule (projections.User.MaySee);
// nil, everything, for admins and in open mode.
func (v Viewer) rule() visible.Rule {
	if v.Open || v.Admin {
		return nil
	}
	u := v.user
	return u.MaySee
}
