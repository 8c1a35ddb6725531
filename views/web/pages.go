package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/projections"
	"tracker/views"
)

// EventGetter reads events: one (card faces are served from their
// event), or many in one ordered pass (the Recorder's answers).
type EventGetter interface {
	Get(seq uint64) (events.Event, error)
	Events(ctx context.Context, seqs []uint64, fn func(events.Event) error) error
}

// page returns the settings every page renders with.
func (s *Server) page(title, active string) views.Page {
	return views.Page{Title: title, Assets: s.Assets, Tiles: s.Tiles, Active: active, Now: s.now(), StaleAfter: s.StaleAfter}
}

// pageFor is page with the request's viewer, for the header.
func (s *Server) pageFor(r *http.Request, title, active string) views.Page {
	p := s.page(title, active)
	p.Now = p.Now.In(views.ViewerLocation(r, p.Now.Location()))
	v := ViewerFrom(r.Context())
	p.User, p.Admin = v.Name, v.Admin || v.Open
	if z := v.user.Zone; z != "" { // chosen on /me
		if loc, err := time.LoadLocation(z); err == nil {
			p.Now, p.Zone = p.Now.In(loc), z
		}
	}
	return p
}

// render writes a component as a full page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.Render(r.Context(), w); err != nil && r.Context().Err() == nil {
		s.Logger.Error("rendering a page failed", "uri", r.URL.RequestURI(), "err", err)
	}
}

// dashboard is the main page: map, friends, places, feed. Past
// views.ListPage friends the list pages (?show=) and filters (?q=).
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	if at, ok, err := atParam(r.URL.Query(), views.ViewerLocation(r, s.now().Location())); ok {
		if err != nil {
			s.pageError(w, r, "dashboard", http.StatusBadRequest, err.Error(), nil)
			return
		}
		s.dashboardAt(w, r, at) // time travel (asof.go)
		return
	}
	p := s.proj(r)
	m := views.BuildDashboard(s.pageFor(r, "Dashboard", "dashboard"), views.ParseListOptions(r.URL.Query()),
		p.Friends(), p.Areas(), p.RecentAreaEvents(views.FeedMax*4))
	s.render(w, r, views.DashboardPage(m))
}

// markers is every marker the viewer may see, for the map of a dashboard
// whose list is paged (views.MarkersURL): one compact JSON array.
func (s *Server) markers(w http.ResponseWriter, r *http.Request) {
	friends := s.proj(r).Friends()
	v := views.NewViewing(s.pageFor(r, "", ""), friends, s.proj(r).Areas())
	out := make([]views.Marker, 0, len(friends))
	for _, f := range friends {
		if m, ok := v.Row(f).Marker(); ok {
			out = append(out, m)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(out); err != nil && r.Context().Err() == nil {
		s.Logger.Warn("writing the markers failed", "err", err)
	}
}

// face serves a card's avatar image from the event that carried it.
func (s *Server) face(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(chi.URLParam(r, "seq"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	e, err := s.Events.Get(seq)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	m, err := s.Decoder.DecodeAt(e.Topic, e.Payload, e.Received)
	if err != nil || m.Card == nil || m.Card.Face == "" ||
		!s.proj(r).MaySee(projections.MakeDeviceID(m.Topic.User, m.Topic.Device)) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", m.Card.FaceType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable") // an event never changes
	_, _ = w.Write(m.Card.FaceBytes())
}
