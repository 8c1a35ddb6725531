package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// Time travel: the dashboard and the read API as of any moment (?at=),
// and the data of a replay.

// asOfRoutes: the replay's data.
func (s *Server) asOfRoutes(r chi.Router) {
	r.Get("/api/v1/replay", s.replay)
}

// atParam reads ?at= (RFC 3339 or Unix seconds; on pages also the date
// picker's local date and time, in the viewer's zone loc). ok is false
// when the request has none.
func atParam(q url.Values, loc *time.Location) (at time.Time, ok bool, err error) {
	v := q.Get("at")
	if v == "" {
		return time.Time{}, false, nil
	}
	if loc != nil {
		for _, layout := range localLayouts {
			if t, err := time.ParseInLocation(layout, v, loc); err == nil {
				return t, true, nil
			}
		}
	}
	if at, err = parseTime(v); err != nil {
		return at, true, fmt.Errorf("at: %w", err)
	}
	if err := httpx.CheckTime("at", at); err != nil {
		return at, true, err
	}
	return at, true, nil
}

// asOfAPI answers /api/v1/friends and /api/v1/areas for ?at=: it writes
// the answer (or the 400) and returns true when the request has ?at=.
func (s *Server) asOfAPI(w http.ResponseWriter, r *http.Request, areas bool) bool {
	at, ok, err := atParam(r.URL.Query(), nil)
	if !ok {
		return false
	}
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return true
	}
	friends, as, err := s.proj(r).AsOf(at.Unix())
	if err != nil {
		s.readFailed(w, r, err)
		return true
	}
	if areas {
		httpx.WriteJSON(w, http.StatusOK, as)
	} else {
		httpx.WriteJSON(w, http.StatusOK, friends)
	}
	return true
}

// readFailed answers a read of the projections that failed: 503 while
// they are rebuilt, else 500.
func (s *Server) readFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, projections.ErrRebuilding) {
		s.httpError(w, r, http.StatusServiceUnavailable, err.Error(), nil)
		return
	}
	s.httpError(w, r, http.StatusInternalServerError, "could not read the history", err)
}

// pastFeedWindow is how far back the dashboard's comings and goings reach
// when it shows a moment in the past.
const pastFeedWindow = 2 * time.Hour

// dashboardAt is the dashboard as of a moment: everyone at their last fix
// at or before it, the places they were in, the comings and goings of the
// two hours before; no live stream (the past does not change under the
// viewer).
func (s *Server) dashboardAt(w http.ResponseWriter, r *http.Request, at time.Time) {
	p := s.proj(r)
	friends, areas, err := p.AsOf(at.Unix())
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, projections.ErrRebuilding) {
			status = http.StatusServiceUnavailable
		}
		s.pageError(w, r, "dashboard", status, "Could not read the history; try again.", err)
		return
	}
	// Read by area, not by friend: areas are few, friends many, and each
	// read is an index seek (an area's past is cached, past.go).
	var evs []projections.AreaEvent
	from, to := at.Add(-pastFeedWindow).Unix(), at.Unix()+1
	for _, a := range areas {
		var mine []projections.AreaEvent
		err := p.AreaEvents(a.ID, from, to, func(e projections.AreaEvent) error {
			mine = append(mine, e)
			return nil
		})
		if err != nil {
			s.pageError(w, r, "dashboard", http.StatusInternalServerError, "Could not read the history; try again.", err)
			return
		}
		// Each area's newest lines are enough: the feed shows FeedMax.
		evs = append(evs, mine[max(0, len(mine)-4*views.FeedMax):]...)
	}
	projections.SortEvents(evs)
	page := s.pageFor(r, "Dashboard", "dashboard")
	now := page.Now
	page.Now = at.In(now.Location())
	m := views.BuildDashboard(page, views.ParseListOptions(r.URL.Query()), friends, areas, evs)
	m.Time = views.NewTimeBar(now, at)
	for i := range m.Friends {
		m.Friends[i].CanLocate = false // no "Locate now" in the past
	}
	s.render(w, r, views.DashboardPage(m))
}

// replayMaxPoints bounds the points of one replay answer: beyond, each
// friend's track is thinned evenly.
const replayMaxPoints = 20_000

// replay answers the data of a replay: for each friend the viewer may see
// (or ?friend=user/device), the track over ?from=&to= (thinned when long),
// where everyone and every place stood at from, and each arrival and
// departure within the range, as the as-of answers tell them.
func (s *Server) replay(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, to, err := timeRange(q, s.now())
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	p := s.proj(r)
	only := projections.DeviceID(q.Get("friend"))
	if only != "" {
		if _, ok := p.Friend(only); !ok {
			s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("no friend %q", only), nil)
			return
		}
	}
	start, areas, err := p.AsOf(from.Unix())
	if err != nil {
		s.readFailed(w, r, err)
		return
	}
	friends := p.Friends()
	if only != "" {
		f, _ := p.Friend(only)
		friends = []projections.FriendView{f}
	}
	rp := views.NewReplay(s.pageFor(r, "", ""), from, to, friends, start, areas)
	perFriend := max(200, replayMaxPoints/max(1, len(friends)))
	geo := make([]*projections.Area, 0, len(areas))
	for i := range areas {
		geo = append(geo, &areas[i].Area)
	}
	for _, f := range friends {
		track := rp.Track(f.ID, perFriend)
		cross := projections.NewGeoCrossings(f.ID, geo, nil)
		for _, sf := range start {
			if sf.ID == f.ID && sf.Location != nil {
				cross.Start(*sf.Location)
			}
		}
		err := httpx.EachPoint(r.Context(), p, f.ID, from.Unix(), to.Unix(), func(pt projections.Point) error {
			track.Add(pt)
			cross.Add(pt, rp.AddCrossing)
			return nil
		})
		if err == nil {
			err = p.DeviceEvents(f.ID, from.Unix(), to.Unix(), func(e projections.AreaEvent) error {
				if e.Origin == projections.OriginPhone {
					rp.AddCrossing(e)
				}
				return nil
			})
		}
		if err != nil {
			if r.Context().Err() == nil {
				s.readFailed(w, r, err)
			}
			return
		}
	}
	httpx.WriteJSON(w, http.StatusOK, rp.Done())
}
