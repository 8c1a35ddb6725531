package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/projections"
	"tracker/views/visible"
	"tracker/views/web/internal/httpx"
)

// Projections is what the server needs of the projector: its reads,
// which handlers reach only through a visible.Gate, and its controls.
type Projections interface {
	visible.Source
	projector
}

// projector is the projector's controls, which read no friend's data.
type projector interface {
	WaitFor(ctx context.Context, seq uint64) error
	Rebuild(ctx context.Context, progress projections.Progress) (projections.RebuildStats, error)
}

// maxAreaEvents bounds the area events one answer holds in memory (README,
// "Limits of the read API"; httpx.MaxRange bounds a history's range).
const maxAreaEvents = 100_000

func (s *Server) listFriends(w http.ResponseWriter, r *http.Request) {
	if s.asOfAPI(w, r, false) { // ?at= (asof.go)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.proj(r).Friends())
}

func (s *Server) listAreas(w http.ResponseWriter, r *http.Request) {
	if s.asOfAPI(w, r, true) { // ?at= (asof.go)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.proj(r).Areas())
}

// friendParam finds the friend named in the path; it writes a 404 and
// returns false when there is none.
func (s *Server) friendParam(w http.ResponseWriter, r *http.Request) (projections.DeviceID, bool) {
	user, device := pathParam(r, "user"), pathParam(r, "device")
	id := projections.MakeDeviceID(user, device)
	if _, ok := s.proj(r).Friend(id); !ok {
		s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("no friend %q with device %q", user, device), nil)
		return "", false
	}
	return id, true
}

// friendRange reads the friend and the time range of a request; it writes
// the 404 or 400 and returns false when either is wrong.
func (s *Server) friendRange(w http.ResponseWriter, r *http.Request) (id projections.DeviceID, from, to time.Time, ok bool) {
	if id, ok = s.friendParam(w, r); !ok {
		return
	}
	from, to, err := timeRange(r.URL.Query(), s.now())
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return id, from, to, false
	}
	return id, from, to, true
}

// pathParam returns a decoded path segment (topic levels may hold spaces,
// slashes escaped as %2F, any Unicode).
func pathParam(r *http.Request, name string) string {
	v := chi.URLParam(r, name)
	if r.URL.RawPath != "" {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
	}
	return v
}

// timeRange reads ?from=&to= (RFC 3339 or Unix seconds). The default is
// today, midnight to midnight in the server's time zone.
func timeRange(q url.Values, now time.Time) (from, to time.Time, err error) {
	y, m, d := now.Date()
	from = time.Date(y, m, d, 0, 0, 0, 0, now.Location())
	to = from.AddDate(0, 0, 1)
	if v := q.Get("from"); v != "" {
		if from, err = parseTime(v); err != nil {
			return from, to, fmt.Errorf("from: %w", err)
		}
		if q.Get("to") == "" {
			to = from.AddDate(0, 0, 1)
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseTime(v); err != nil {
			return from, to, fmt.Errorf("to: %w", err)
		}
	}
	if err := httpx.CheckTime("from", from); err != nil {
		return from, to, err
	}
	if err := httpx.CheckTime("to", to); err != nil {
		return from, to, err
	}
	switch {
	case !from.Before(to):
		return from, to, fmt.Errorf("from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	case to.Sub(from) > httpx.MaxRange:
		return from, to, fmt.Errorf("range is %s long; at most %d days per request", to.Sub(from).Round(time.Hour), int(httpx.MaxRange.Hours()/24))
	}
	return from, to, nil
}

func parseTime(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 1e11 {
			return time.Time{}, fmt.Errorf("%d is not a plausible Unix time in seconds", n)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("want RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds, got %q", v)
	}
	return t, nil
}

// friendLocations streams one friend's points in a range, then the
// distance and time per area they add up to. The points are written as
// they are read: memory stays flat however long the range.
func (s *Server) friendLocations(w http.ResponseWriter, r *http.Request) {
	id, from, to, ok := s.friendRange(w, r)
	if !ok {
		return
	}
	stats := projections.NewRangeStats(s.proj(r).AreasFor(id))
	stats.MaxGap = s.visitsConfig().MaxGap
	w.Header().Set("Content-Type", "application/json")
	head, _ := json.Marshal(struct {
		Device projections.DeviceID `json:"device"`
		From   time.Time            `json:"from"`
		To     time.Time            `json:"to"`
	}{id, from.UTC(), to.UTC()})
	cw := &httpx.CountWriter{W: w}
	bw := httpx.NewBufWriter(cw)
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"points":[`)
	err := httpx.EachPoint(r.Context(), s.proj(r), id, from.Unix(), to.Unix(), func(p projections.Point) error {
		if stats.Points() > 0 {
			bw.Byte(',')
		}
		stats.Add(p)
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		bw.Write(b)
		return bw.Err()
	})
	if err != nil {
		if bw.Err() == nil { // else the client went away
			httpx.FailMid(s.Logger, w, r, cw.N, "the history of "+string(id), err)
		}
		return
	}
	tail, _ := json.Marshal(struct {
		Count       int                    `json:"count"`
		DistanceM   float64                `json:"distance_m"`
		TimeInAreas []projections.AreaTime `json:"time_in_areas"`
	}{stats.Points(), stats.Distance(), nonNil(stats.TimeInAreas())})
	bw.WriteString("],")
	bw.Write(tail[1:])
	bw.Byte('\n')
	_ = bw.Flush()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// friendAreaEvents lists a friend's enter/leave events in a range.
func (s *Server) friendAreaEvents(w http.ResponseWriter, r *http.Request) {
	id, from, to, ok := s.friendRange(w, r)
	if !ok {
		return
	}
	out := []projections.AreaEvent{}
	err := s.proj(r).DeviceEvents(id, from.Unix(), to.Unix(), func(e projections.AreaEvent) error {
		if len(out) == maxAreaEvents {
			return errLimit
		}
		out = append(out, e)
		return nil
	})
	if errors.Is(err, errLimit) {
		s.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("this range holds more than %d area events; ask for a shorter range", maxAreaEvents), nil)
		return
	}
	if err != nil {
		s.httpError(w, r, http.StatusInternalServerError, "could not read area events", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		Device projections.DeviceID    `json:"device"`
		From   time.Time               `json:"from"`
		To     time.Time               `json:"to"`
		Events []projections.AreaEvent `json:"events"`
	}{id, from.UTC(), to.UTC(), out})
}

// defineArea appends an admin event defining (or redefining) a server
// area, waits until the projections include it, and answers with it.
func (s *Server) defineArea(w http.ResponseWriter, r *http.Request) {
	var c projections.AreaCommand
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&c); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "area: body is not valid JSON: "+err.Error(), nil)
		return
	}
	c.Type, c.Action = "area", projections.AreaDefine
	s.appendArea(w, r, c, http.StatusCreated)
}

func (s *Server) removeArea(w http.ResponseWriter, r *http.Request) {
	c := projections.AreaCommand{Type: "area", Action: projections.AreaRemove, Name: pathParam(r, "name")}
	for _, a := range s.proj(r).Areas() {
		if a.ID == projections.ServerAreaID(c.Name) {
			s.appendArea(w, r, c, http.StatusOK)
			return
		}
	}
	s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("no server area named %q", c.Name), nil)
}

// areaResult answers an area command with its outcome: the area as now
// defined (its fields inline), or Exists false after a removal.
type areaResult struct {
	*projections.AreaView
	Seq       uint64 `json:"seq"`
	CommandID string `json:"command_id"`
	Exists    bool   `json:"exists"`
	// Removed names the area a removal took away (kept from earlier
	// versions' answer).
	Removed string `json:"removed,omitempty"`
}

func (s *Server) appendArea(w http.ResponseWriter, r *http.Request, c projections.AreaCommand, code int) {
	if err := c.Validate(); err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	c.Issue = projections.NewIssue(issuer(ViewerFrom(r.Context())), s.now())
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(r.Context(), events.Event{
		Topic: projections.AreaTopic, Payload: payload, QoS: 1,
		Source: events.SourceAdmin, Received: s.now(),
	})
	if err != nil {
		s.httpError(w, r, http.StatusServiceUnavailable, "could not record the area; try again", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if err := s.projector.WaitFor(ctx, seq); err != nil {
		s.httpError(w, r, http.StatusAccepted, fmt.Sprintf("area recorded as event %d; projections are catching up", seq), nil)
		return
	}
	res := areaResult{Seq: seq, CommandID: c.ID}
	for _, a := range s.proj(r).Areas() {
		if a.ID == projections.ServerAreaID(c.Target()) {
			res.AreaView, res.Exists = &a, true
			break
		}
	}
	if !res.Exists {
		res.Removed = strings.TrimSpace(c.Name)
	}
	if res.Exists != (c.Action != projections.AreaRemove) {
		s.httpError(w, r, http.StatusInternalServerError, fmt.Sprintf("area %s recorded as event %d, but the projections do not show it", c.Action, seq), nil)
		return
	}
	httpx.WriteJSON(w, code, res)
}
