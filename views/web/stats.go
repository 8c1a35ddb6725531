package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/projections/stats"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// statsRoutes: the stats pages (a friend picker, a friend's stats).
func (s *Server) statsRoutes(r chi.Router) {
	r.Get("/stats", s.statsPicker)
	r.Get("/stats/{user}/{device}", s.statsPage)
}

// statsAPIRoutes: under /api/v1, a friend's stats and heatmap.
func (s *Server) statsAPIRoutes(r chi.Router) {
	r.Get("/friends/{user}/{device}/stats", s.friendStats)
	r.Get("/friends/{user}/{device}/heatmap", s.friendHeatmap)
}

// errNoPeriod is a period that cannot be answered (the reason is for the
// person who asked).
var errNoPeriod = errors.New("bad period")

// statsReport adds up a friend's period from its day summaries, made or
// read from the cache (projections.DaysQuery), in the viewer's zone.
// ?period= is week, month (the default), year or all; ?date=YYYY-MM-DD
// names a day in it (default today).
func (s *Server) statsReport(r *http.Request, id projections.DeviceID, now time.Time) (stats.Report, stats.Period, error) {
	q := r.URL.Query()
	name := q.Get("period")
	if name == "" {
		name = stats.PeriodMonth
	}
	at := now
	if v := q.Get("date"); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, now.Location())
		if err != nil {
			return stats.Report{}, stats.Period{}, fmt.Errorf("%w: date: want YYYY-MM-DD, got %q", errNoPeriod, v)
		}
		at = t
	}
	first := now
	if name == stats.PeriodAll {
		var err error
		if first, err = s.firstFix(r, id, now); err != nil {
			return stats.Report{}, stats.Period{}, err
		}
	}
	p, err := stats.PeriodOf(name, at, now, first)
	if err != nil {
		return stats.Report{}, p, fmt.Errorf("%w: %w", errNoPeriod, err)
	}
	sum := s.Summarizer
	spans := p.Spans()
	days := make([]stats.Day, len(spans))
	var bad error
	err = s.proj(r).Days(id, projections.DaysQuery{
		Zone:    now.Location().String(),
		Spans:   spans,
		Version: sum.CacheVersion(),
		Make: func(sp projections.DaySpan, pts []projections.Point) ([]byte, error) {
			return stats.Encode(sum.Summarize(sp, pts))
		},
	}, func(i int, v []byte) error {
		d, err := stats.Decode(v)
		if err != nil { // kept by an older program: made again next time the day changes
			bad = err
			d = stats.Day{From: spans[i].From, To: spans[i].To}
		}
		days[i] = d
		return r.Context().Err()
	})
	if err != nil {
		return stats.Report{}, p, err
	}
	if bad != nil {
		s.Logger.Warn("a cached day summary could not be read; that day shows no data", "device", string(id), "err", bad)
	}
	return stats.Add(p, days, s.proj(r).AreasFor(id)), p, nil
}

// firstFix is the time of dev's oldest fix in use (now when none).
func (s *Server) firstFix(r *http.Request, dev projections.DeviceID, now time.Time) (time.Time, error) {
	errFound := errors.New("found")
	first := now
	err := s.proj(r).History(dev, math.MinInt64/2, now.Unix()+1, func(p projections.Point) error {
		first = p.Time()
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return first, err
	}
	return first, nil
}

// friendStats answers a friend's stats for a period as JSON.
func (s *Server) friendStats(w http.ResponseWriter, r *http.Request) {
	id, ok := s.friendParam(w, r)
	if !ok {
		return
	}
	now := s.pageFor(r, "", "").Now
	rep, _, err := s.statsReport(r, id, now)
	switch {
	case errors.Is(err, errNoPeriod):
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	case err != nil:
		if r.Context().Err() == nil {
			s.httpError(w, r, http.StatusInternalServerError, "could not read the history of "+string(id), err)
		}
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Device projections.DeviceID `json:"device"`
		stats.Report
	}{id, rep})
}

// statsPicker lists the friends whose stats the viewer may see.
func (s *Server) statsPicker(w http.ResponseWriter, r *http.Request) {
	m := views.StatsPicker{Page: s.pageFor(r, "Stats", "stats"), Friends: s.proj(r).Friends()}
	s.render(w, r, views.StatsPickerPage(m))
}

// statsPage shows a friend's stats for a period: figures, bars by week
// (by day for a week), a calendar of days with data, places, countries,
// towns and a heatmap of the period.
func (s *Server) statsPage(w http.ResponseWriter, r *http.Request) {
	user, device := pathParam(r, "user"), pathParam(r, "device")
	id := projections.MakeDeviceID(user, device)
	f, ok := s.proj(r).Friend(id)
	if !ok {
		s.pageError(w, r, "stats", http.StatusNotFound, fmt.Sprintf("no friend %q with device %q", user, device), nil)
		return
	}
	page := s.pageFor(r, f.DisplayName()+" · stats", "stats")
	rep, p, err := s.statsReport(r, id, page.Now)
	switch {
	case errors.Is(err, errNoPeriod):
		s.pageError(w, r, "stats", http.StatusBadRequest, "Bad period: "+err.Error(), nil)
		return
	case err != nil:
		if r.Context().Err() == nil {
			s.pageError(w, r, "stats", http.StatusInternalServerError, "Could not read the history; try again.", err)
		}
		return
	}
	s.render(w, r, views.StatsPage(views.BuildStats(page, f, p, rep)))
}
