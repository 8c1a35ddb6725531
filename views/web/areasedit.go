package web

import (
	"cmp"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// areaEditRoutes are what the areas page's drawing panel calls besides
// POST /api/v1/areas and DELETE /api/v1/areas/{name}: a rename and the
// preview of a shape. Mounted inside /api/v1's admin group.
func (s *Server) areaEditRoutes(r chi.Router) {
	r.Post("/areas/preview", s.previewArea)
	r.Post("/areas/{name}/rename", s.renameArea)
}

// PreviewDays is how far back the preview of a drawn area looks.
const PreviewDays = 7

// jsonBody decodes a JSON request body into v; it writes the 415 or 400
// and returns false when it cannot. The content type is required: a form
// on another site cannot send it without the browser asking first.
func (s *Server) jsonBody(w http.ResponseWriter, r *http.Request, what string, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		s.httpError(w, r, http.StatusUnsupportedMediaType, what+": send the body as application/json", nil)
		return false
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		s.httpError(w, r, http.StatusBadRequest, what+": body is not valid JSON: "+err.Error(), nil)
		return false
	}
	return true
}

// renameArea gives a server area a new name in one event, with a new
// shape when the body carries one: {"to":"New name"[, "center", "radius"
// | "polygon"]}.
func (s *Server) renameArea(w http.ResponseWriter, r *http.Request) {
	var c projections.AreaCommand
	if !s.jsonBody(w, r, "area rename", &c) {
		return
	}
	c.Type, c.Action, c.Name = "area", projections.AreaRename, pathParam(r, "name")
	if err := c.Validate(); err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	from, to := projections.ServerAreaID(c.Name), projections.ServerAreaID(c.To)
	areas := s.proj(r).Areas()
	if !slices.ContainsFunc(areas, func(a projections.AreaView) bool { return a.ID == from }) {
		s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("no server area named %q", c.Name), nil)
		return
	}
	if to != from && slices.ContainsFunc(areas, func(a projections.AreaView) bool { return a.ID == to }) {
		s.httpError(w, r, http.StatusConflict, fmt.Sprintf("there is already an area named %q; pick another name or remove that one first", strings.TrimSpace(c.To)), nil)
		return
	}
	s.appendArea(w, r, c, http.StatusOK)
}

// AreaPreview answers "who was inside this shape lately": per friend the
// viewer may see, the time inside and the first and last moments, by the
// history's rule for time in areas.
type AreaPreview struct {
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	Friends []FriendInArea `json:"friends"` // the friends who were inside, most time first
	Checked int            `json:"checked"` // friends looked at
	Points  int            `json:"points"`  // their points in the range
}

// FriendInArea is one friend's time inside a previewed shape.
type FriendInArea struct {
	Device  projections.DeviceID `json:"device"`
	Name    string               `json:"name"`
	Seconds float64              `json:"seconds"`
	First   time.Time            `json:"first"`
	Last    time.Time            `json:"last"`
	Inside  int                  `json:"points_inside"`
}

// previewArea takes a shape as POST /api/v1/areas does ({"center",
// "radius"} or {"polygon"}; a name is optional) and answers who was
// inside it over the last PreviewDays days. Nothing is recorded.
func (s *Server) previewArea(w http.ResponseWriter, r *http.Request) {
	var c projections.AreaCommand
	if !s.jsonBody(w, r, "area preview", &c) {
		return
	}
	c.Type, c.Action = "area", projections.AreaDefine
	if strings.TrimSpace(c.Name) == "" {
		c.Name = "preview"
	}
	if err := c.Validate(); err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	area := &projections.Area{Name: c.Name, Origin: projections.OriginServer, Center: c.Center, Radius: c.Radius, Polygon: c.Polygon}
	now := s.now()
	// A day ahead too, as the areas page: a phone's clock may run fast.
	from, to := now.AddDate(0, 0, -PreviewDays), now.Add(24*time.Hour)
	out := AreaPreview{From: from.UTC(), To: to.UTC(), Friends: []FriendInArea{}}
	p := s.proj(r)
	friends := p.Friends()
	names := views.NamesOf(friends)
	for _, f := range friends {
		v := projections.NewAreaVisits(area)
		v.SetMaxGap(s.visitsConfig().MaxGap) // the time in areas' gap rule (visits.go)
		if err := httpx.EachPoint(r.Context(), p, f.ID, from.Unix(), to.Unix(), func(pt projections.Point) error {
			v.Add(pt)
			return nil
		}); err != nil {
			s.httpError(w, r, http.StatusInternalServerError, "could not read the history for the preview; try again", err)
			return
		}
		out.Checked++
		out.Points += v.Points()
		if v.Inside == 0 {
			continue
		}
		out.Friends = append(out.Friends, FriendInArea{Device: f.ID, Name: names[f.ID], Seconds: v.Time().Seconds(),
			First: time.Unix(v.First, 0).UTC(), Last: time.Unix(v.Last, 0).UTC(), Inside: v.Inside})
	}
	slices.SortStableFunc(out.Friends, func(a, b FriendInArea) int {
		return cmp.Or(cmp.Compare(b.Seconds, a.Seconds), strings.Compare(string(a.Device), string(b.Device)))
	})
	httpx.WriteJSON(w, http.StatusOK, out)
}
