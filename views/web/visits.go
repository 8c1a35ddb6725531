package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections"
	"tracker/projections/visits"
	"tracker/views/visible"
	"tracker/views/web/internal/httpx"
)

// Bounds of the visits' reads: they fold every fix of the range.
const (
	// maxVisitsRange bounds GET .../visits (a month of fixes a minute is
	// 45 000 fixes, a tenth of a second).
	maxVisitsRange = 31 * 24 * time.Hour
	// suggestDays is the window suggested places look back over, by
	// default and at most.
	suggestDays, maxSuggestDays = 30, 90
	// maxPlaceEnters bounds the phone transitions read to name stays.
	maxPlaceEnters = 10_000
)

// visitAPIRoutes: a friend's stays and journeys; the suggested places
// (admins).
func (s *Server) visitAPIRoutes(r chi.Router) {
	r.Get("/friends/{user}/{device}/visits", s.friendVisits)
	r.With(s.requireAdmin).Get("/places/suggested", s.suggestedPlaces)
}

// visitsAnswer is GET /api/v1/friends/{user}/{device}/visits.
type visitsAnswer struct {
	Device   projections.DeviceID `json:"device"`
	From     time.Time            `json:"from"`
	To       time.Time            `json:"to"`
	Config   visitsConfigJSON     `json:"config"`
	Segments []visits.Segment     `json:"segments"`
}

type visitsConfigJSON struct {
	RadiusM  float64 `json:"radius_m"`
	MinStayS float64 `json:"min_stay_s"`
	MaxGapS  float64 `json:"max_gap_s"`
}

func (s *Server) visitsConfig() visits.Config { return s.Visits.WithDefaults() }

// friendVisits tells one friend's range as stays and journeys, computed
// from the history as the viewer may see it (hidden fixes left out).
func (s *Server) friendVisits(w http.ResponseWriter, r *http.Request) {
	id, from, to, ok := s.friendRange(w, r)
	if !ok {
		return
	}
	if to.Sub(from) > maxVisitsRange {
		s.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("range is %s long; visits cover at most %d days per request", to.Sub(from).Round(time.Hour), int(maxVisitsRange.Hours()/24)), nil)
		return
	}
	segs, err := s.visitsOf(r.Context(), s.proj(r), id, from, to, true)
	if err != nil {
		if r.Context().Err() == nil {
			s.httpError(w, r, http.StatusInternalServerError, "could not read the history of "+string(id), err)
		}
		return
	}
	cfg := s.visitsConfig()
	httpx.WriteJSON(w, http.StatusOK, visitsAnswer{
		Device: id, From: from.UTC(), To: to.UTC(),
		Config:   visitsConfigJSON{RadiusM: cfg.Radius, MinStayS: cfg.MinStay.Seconds(), MaxGapS: cfg.MaxGap.Seconds()},
		Segments: nonNil(segs),
	})
}

// visitsOf folds id's fixes in [from, to) into stays and journeys and,
// with name, names the stays' places. rd is the viewer's gate: the points
// it gives are those corrections leave.
func (s *Server) visitsOf(ctx context.Context, rd visible.Reader, id projections.DeviceID, from, to time.Time, name bool) ([]visits.Segment, error) {
	st := s.newStory(rd, id, 0)
	if err := httpx.EachPoint(ctx, rd, id, from.Unix(), to.Unix(), func(p projections.Point) error {
		st.add(p)
		return nil
	}); err != nil {
		return nil, err
	}
	if !name {
		st.det.Close()
		return st.segs, nil
	}
	if err := rd.DeviceEvents(id, from.Unix(), to.Unix(), func(e projections.AreaEvent) error {
		st.event(e)
		return nil
	}); err != nil {
		return nil, err
	}
	return st.close(), nil
}

// story gathers one device's stays and journeys while its history is
// read (the history page feeds it the fixes it reads anyway), and the
// phone's transitions that name them.
type story struct {
	det    *visits.Detector
	segs   []visits.Segment
	places visits.Places
}

// newStory starts a story of id; max > 0 keeps at most that many
// segments (one more, to tell there were more).
func (s *Server) newStory(rd visible.Reader, id projections.DeviceID, max int) *story {
	st := &story{places: visits.Places{Areas: rd.AreasFor(id), Address: s.PlaceAddress}}
	st.det = visits.NewDetector(s.visitsConfig(), func(seg visits.Segment) {
		if max > 0 && len(st.segs) > max {
			return
		}
		st.segs = append(st.segs, seg)
	})
	return st
}

// add takes the next fix in use.
func (st *story) add(p projections.Point) { st.det.Add(p) }

// event takes the device's next area event; its phone's enters name stays.
func (st *story) event(e projections.AreaEvent) {
	if e.Origin == projections.OriginPhone && e.Event == "enter" && len(st.places.Enters) < maxPlaceEnters {
		st.places.Enters = append(st.places.Enters, e)
	}
}

// close ends the input and names the stays.
func (st *story) close() []visits.Segment {
	st.det.Close()
	st.places.Name(st.segs)
	return st.segs
}

// suggestedPlaces: where devices (every one, or ?device=user/device)
// stayed at least three times over the last ?days= (30 by default, at
// most 90) that no area covers yet, for an
// admin to name (the areas page turns one into a circle area through
// POST /api/v1/areas).
func (s *Server) suggestedPlaces(w http.ResponseWriter, r *http.Request) {
	days := suggestDays
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSuggestDays {
			s.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("days: %q is not a number of days from 1 to %d", v, maxSuggestDays), nil)
			return
		}
		days = n
	}
	var only projections.DeviceID
	if v := r.URL.Query().Get("device"); v != "" {
		only = projections.DeviceID(v)
		if _, ok := s.proj(r).Friend(only); !ok {
			s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("device: no friend %q", v), nil)
			return
		}
	}
	sg, err := s.suggestions(r.Context(), s.proj(r), days, only)
	if err != nil {
		if r.Context().Err() == nil {
			s.httpError(w, r, http.StatusInternalServerError, "could not read the histories", err)
		}
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Days        int                 `json:"days"`
		Suggestions []visits.Suggestion `json:"suggestions"`
	}{days, sg})
}

// suggestions gathers the stays of every friend rd shows (or only one)
// over the last days.
func (s *Server) suggestions(ctx context.Context, rd visible.Reader, days int, only projections.DeviceID) ([]visits.Suggestion, error) {
	to := s.now()
	from := to.AddDate(0, 0, -days)
	cfg := s.visitsConfig()
	sg := visits.Suggester{Radius: cfg.Radius}
	var areas []*projections.Area
	for _, f := range rd.Friends() {
		if only != "" && f.ID != only {
			continue
		}
		segs, err := s.visitsOf(ctx, rd, f.ID, from, to, false)
		if err != nil {
			return nil, err
		}
		sg.Add(f.ID, segs)
	}
	for _, a := range rd.Areas() {
		if a.HasGeometry() {
			areas = append(areas, &a.Area)
		}
	}
	out := sg.Suggestions(areas)
	if s.PlaceAddress != nil {
		for i := range out {
			if name, _, ok := s.PlaceAddress(out[i].Centre); ok {
				out[i].Address = name
			}
		}
	}
	return out, nil
}
