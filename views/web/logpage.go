package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/views"
)

// logPageRoutes: the event log page.
func (s *Server) logPageRoutes(r chi.Router) {
	r.Get("/log", s.logPage)
}

// logWindow is how many events a filtered page reads per step backwards.
const logWindow = 1000

// logPage shows the log newest first, views.LogPageSize events a page:
// ?before=SEQ pages back, ?user= and ?kind= filter. The log only scans
// forwards, so the page reads windows [cursor-N, cursor) going back; a
// filtered page stops after views.LogScanMax events and says so.
func (s *Server) logPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	head := s.Log.Head()
	m := views.LogPage{
		Page:   s.pageFor(r, "Event log", "log"),
		Filter: views.LogFilter{User: strings.TrimSpace(q.Get("user")), Kind: q.Get("kind")},
		Head:   head,
		Before: head + 1,
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			s.pageError(w, r, "log", http.StatusBadRequest, fmt.Sprintf("before: %q is not an event number (1 or more)", v), nil)
			return
		}
		m.Before = min(n, head+1)
	}
	if k := m.Filter.Kind; k != "" && k != "invalid" && !slices.Contains(views.LogKinds, k) {
		s.pageError(w, r, "log", http.StatusBadRequest, fmt.Sprintf("kind: %q is not a kind of event", k), nil)
		return
	}
	for _, f := range s.proj(r).Friends() {
		if !slices.Contains(m.Users, f.User) {
			m.Users = append(m.Users, f.User)
		}
	}
	slices.Sort(m.Users)

	err := s.logOlder(r.Context(), &m)
	if err == nil && m.Before <= head {
		err = s.logNewer(r.Context(), &m)
	}
	if err != nil {
		if r.Context().Err() == nil {
			s.pageError(w, r, "log", http.StatusInternalServerError, "Could not read the event log; try again.", err)
		}
		return
	}
	s.render(w, r, views.LogPageView(m))
}

// logOlder fills m.Rows with the newest matching events below m.Before,
// reading windows backwards, and sets the cursor of the older page.
func (s *Server) logOlder(ctx context.Context, m *views.LogPage) error {
	hi := m.Before // exclusive
	m.ScannedDown = hi
	for hi > 1 && len(m.Rows) < views.LogPageSize && m.Scanned < views.LogScanMax {
		need := views.LogPageSize - len(m.Rows)
		n := uint64(need)
		if m.Filter.Active() {
			n = logWindow
		}
		n = min(n, hi-1, uint64(views.LogScanMax-m.Scanned))
		lo := hi - n
		// The newest `need` matches of [lo, hi), oldest first, in a ring.
		ring := make([]views.LogRow, 0, need)
		next := 0
		err := s.Log.Scan(ctx, lo, func(e events.Event) error {
			if e.Seq >= hi {
				return errLimit
			}
			m.Scanned++
			l := eventjson.Make(e, s.Decoder)
			if !m.Filter.Match(&l) {
				return nil
			}
			row := views.MakeLogRow(l)
			if len(ring) < need {
				ring = append(ring, row)
			} else {
				ring[next] = row
				next = (next + 1) % need
			}
			return nil
		})
		if err != nil && !errors.Is(err, errLimit) {
			return err
		}
		for i := len(ring) - 1; i >= 0; i-- {
			m.Rows = append(m.Rows, ring[(next+i)%len(ring)])
		}
		m.ScannedDown, hi = lo, lo
	}
	switch {
	case len(m.Rows) == views.LogPageSize:
		if last := m.Rows[len(m.Rows)-1].Seq; last > 1 {
			m.Older = last
		}
	case hi > 1: // the scan limit, before the page was full
		m.StoppedEarly, m.Older = true, hi
	}
	return nil
}

// logNewer finds the cursor of the next newer page: just above the
// views.LogPageSize-th match at or after m.Before, or the newest page.
func (s *Server) logNewer(ctx context.Context, m *views.LogPage) error {
	matches, scanned := 0, 0
	var newer uint64
	err := s.Log.Scan(ctx, m.Before, func(e events.Event) error {
		scanned++
		l := eventjson.Make(e, s.Decoder)
		if m.Filter.Match(&l) {
			matches++
		}
		if matches == views.LogPageSize || scanned >= views.LogScanMax {
			newer = e.Seq + 1
			return errLimit
		}
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		return err
	}
	if newer == 0 || newer > m.Head {
		m.NewerIsNewest = true
	} else {
		m.Newer = newer
	}
	return nil
}
