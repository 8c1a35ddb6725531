package web

import (
	"net/http"
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
		err := s.proj(r).AreaEvents(a.ID, from, to, func(e projections.AreaEvent) error {
			total[a.ID]++
			if len(keep) == views.AreaRecentEvents {
				copy(keep, keep[1:])
				keep = keep[:len(keep)-1]
			}
			keep = append(keep, e)
			return nil
		})
		if err != nil {
			s.pageError(w, r, "areas", http.StatusInternalServerError, "Could not read the areas' events; try again.", err)
			return
		}
		recent[a.ID] = keep
	}
	s.render(w, r, views.AreasPageView(views.BuildAreasPage(p, s.proj(r).Friends(), areas, recent, total)))
}
