package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// historyRoutes: the per-friend history page and its downloads.
func (s *Server) historyRoutes(r chi.Router) {
	r.Get("/friends/{user}/{device}", s.history)
	r.Get("/friends/{user}/{device}/export.gpx", s.exportGPX)
	r.Get("/friends/{user}/{device}/export.geojson", s.exportGeoJSON)
	r.Get("/friends/{user}/{device}/export.csv", s.exportCSV)
}

// history shows one friend's points, area time and comings and goings over
// a range (default today), the points a page at a time, oldest first. It
// reads the range once: the statistics take every point, the table keeps
// only its page, so memory does not grow with the range.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	user, device := pathParam(r, "user"), pathParam(r, "device")
	id := projections.MakeDeviceID(user, device)
	f, ok := s.proj(r).Friend(id)
	if !ok {
		s.pageError(w, r, "history", http.StatusNotFound, fmt.Sprintf("no friend %q with device %q", user, device), nil)
		return
	}
	q := r.URL.Query()
	from, to, err := s.rangeOf(q, views.ViewerLocation(r, s.now().Location()))
	if err != nil {
		s.pageError(w, r, "history", http.StatusBadRequest, "Bad range: "+err.Error(), nil)
		return
	}
	pageNo := 1
	if v := q.Get("page"); v != "" {
		if pageNo, err = strconv.Atoi(v); err != nil || pageNo < 1 || pageNo > 1<<24 {
			s.pageError(w, r, "history", http.StatusBadRequest, fmt.Sprintf("page: %q is not a page number (1 or more)", v), nil)
			return
		}
	}

	// "history": no navigation entry is this page, so none is marked.
	m := views.BuildHistory(s.pageFor(r, f.DisplayName()+" · history", "history"), f, from, to)
	m.PageNo = pageNo
	stats := projections.NewRangeStats(s.proj(r).AreasFor(id))
	stats.MaxGap = s.visitsConfig().MaxGap
	story := s.newStory(s.proj(r), id, views.HistoryStoryMax) // the day as stays and journeys (visits.go)
	// Hidden points are listed (marked, to be shown and restored), and
	// left out of the figures, the timeline and the map.
	m.Corrections = s.proj(r).Corrections(id)
	m.CanCorrect = mayCorrect(ViewerFrom(r.Context()), id)
	filter := m.Corrections.Filter()
	err = httpx.EachPoint(r.Context(), marked{s.proj(r)}, id, from.Unix(), to.Unix(), func(p projections.Point) error {
		why := filter.Why(p)
		if why == nil {
			stats.Add(p)
			story.add(p)
		}
		m.AddPoint(p, why)
		return nil
	})
	if err == nil {
		m.DistanceM, m.TimeInAreas = stats.Distance(), stats.TimeInAreas()
		err = s.proj(r).DeviceEvents(id, from.Unix(), to.Unix(), func(e projections.AreaEvent) error {
			m.AddEvent(e)
			story.event(e)
			return nil
		})
		m.Crossings(views.PlaceNamesOf(s.proj(r).Areas()))
		m.StayRadius = s.visitsConfig().Radius
		m.SetStory(story.close(), s.visitsConfig().MaxGap)
	}
	if err != nil {
		if r.Context().Err() == nil {
			s.pageError(w, r, "history", http.StatusInternalServerError, "Could not read the history; try again.", err)
		}
		return
	}
	// When the range includes now, the page listens on the dashboard's
	// websocket and app.js redraws the track when this friend's row changes.
	s.render(w, r, views.HistoryPage(m))
}

// Layouts the range form sends (<input type="datetime-local"> and
// type="date"), read in the viewer's zone.
var localLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"}

// rangeOf reads ?from=&to= as timeRange does, and also the values of the
// page's form: a local date and time in the viewer's zone loc, or a date
// (a date as "to" includes that whole day). The default range is the
// viewer's today.
func (s *Server) rangeOf(q url.Values, loc *time.Location) (from, to time.Time, err error) {
	now := s.now().In(loc)
	norm := url.Values{}
	for _, k := range []string{"from", "to"} {
		v := q.Get(k)
		for _, layout := range localLayouts {
			t, err := time.ParseInLocation(layout, v, now.Location())
			if err != nil {
				continue
			}
			if k == "to" && len(layout) == len("2006-01-02") {
				t = t.AddDate(0, 0, 1)
			}
			v = t.Format(time.RFC3339)
			break
		}
		if v != "" {
			norm.Set(k, v)
		}
	}
	return timeRange(norm, now)
}

// pageError answers a page request that cannot be served with an HTML page
// saying why (the API's httpError answers in plain text); server-side
// failures are logged once, here.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, active string, code int, msg string, err error) {
	if code >= 500 {
		s.Logger.Error("request failed", "method", r.Method, "uri", r.URL.RequestURI(), "status", code, "err", err)
	}
	p := s.pageFor(r, http.StatusText(code), active)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if err := views.ErrorView(views.ErrorPage{Page: p, Code: code, Message: msg, Back: "/"}).Render(r.Context(), w); err != nil && r.Context().Err() == nil {
		s.Logger.Error("rendering an error page failed", "uri", r.URL.RequestURI(), "err", err)
	}
}
