package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/views/web/internal/httpx"
)

// errLimit stops a scan once enough events were written.
var errLimit = errors.New("limit reached")

// listEvents streams events as JSON lines (the `tracker log --json`
// format): ?from=SEQ (default 1), ?limit=N (0: no limit), ?follow=1 to keep
// the response open and send new events as they are appended.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := uintParam(q.Get("from"), 1)
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, "from: "+err.Error(), nil)
		return
	}
	limit, err := uintParam(q.Get("limit"), 0)
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, "limit: "+err.Error(), nil)
		return
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Log-Head", strconv.FormatUint(s.Log.Head(), 10))
	flusher, _ := w.(http.Flusher)
	cw := &httpx.CountWriter{W: w}
	enc := json.NewEncoder(cw)
	var sent uint64
	emit := func(e events.Event) error {
		if err := enc.Encode(eventjson.Make(e, s.Decoder)); err != nil {
			return err
		}
		sent++
		if limit > 0 && sent >= limit {
			return errLimit
		}
		return nil
	}
	if follow {
		// Headers go out now: a client may wait long for the first event.
		w.WriteHeader(http.StatusOK)
		if flusher != nil {
			flusher.Flush()
		}
		err = events.Follow(r.Context(), s.Log, from, func(e events.Event) error {
			if err := emit(e); err != nil {
				return err
			}
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		})
	} else {
		err = s.Log.Scan(r.Context(), from, emit)
	}
	if err != nil && !errors.Is(err, errLimit) && !errors.Is(err, context.Canceled) {
		sent := cw.N
		if follow {
			sent++ // the headers went out: too late for an error status
		}
		httpx.FailMid(s.Logger, w, r, sent, "the event log", err)
	}
}

func uintParam(v string, def uint64) (uint64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a non-negative whole number", v)
	}
	return n, nil
}
