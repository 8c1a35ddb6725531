package web

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/views"
)

// areaPageRoutes: the areas page.
func (s *Server) areaPageRoutes(r chi.Router) {
	r.Get("/areas", s.areasPage)
}

// areasPage lists every place (areas of one name) with its members now,
// its definitions and its newest crossings of the last days.
func (s *Server) areasPage(w http.ResponseWriter, r *http.Request) {
	p := s.pageFor(r, "Areas", "areas")
	areas := s.proj(r).Areas()
	// A day ahead too: a phone's clock may run fast.
	from, to := p.Now.AddDate(0, 0, -views.AreaRecentDays).Unix(), p.Now.Add(24*time.Hour).Unix()
	recent := make(map[string][]projections.AreaEvent, len(areas))
	total := make(map[string]int, len(areas))
	for _, a := range areas {
		var keep []projections.AreaEvent // the newest AreaRecentEvents, oldest first
		// A renamed area's crossings before the rename are under its
		// former ids.
		ids := []projections.FormerID{{ID: a.ID, Until: to}}
		for _, f := range a.Formerly {
			ids = append(ids, projections.FormerID{ID: f.ID, Until: min(to, f.Until+1)})
		}
		for _, id := range ids {
			var some []projections.AreaEvent
			err := s.proj(r).AreaEvents(id.ID, from, id.Until, func(e projections.AreaEvent) error {
				total[a.ID]++
				if len(some) == views.AreaRecentEvents {
					copy(some, some[1:])
					some = some[:len(some)-1]
				}
				some = append(some, e)
				return nil
			})
			if err != nil {
				s.pageError(w, r, "areas", http.StatusInternalServerError, "Could not read the areas' events; try again.", err)
				return
			}
			keep = append(keep, some...)
		}
		if len(ids) > 1 {
			slices.SortStableFunc(keep, func(x, y projections.AreaEvent) int {
				return cmp.Or(cmp.Compare(x.Tst, y.Tst), cmp.Compare(x.Seq, y.Seq))
			})
			keep = keep[max(0, len(keep)-views.AreaRecentEvents):]
		}
		recent[a.ID] = keep
	}
	s.render(w, r, views.AreasPageView(views.BuildAreasPage(p, s.proj(r).Friends(), areas, recent, total)))
}
