package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// failMidResponse ends a streamed answer whose read failed: with a proper
// error status when nothing reached the client yet (sent == 0), else by
// aborting the connection, so the client sees a broken transfer (a chunked
// body without its last chunk) instead of a 200 with a short body that
// looks complete. A client that went away is not logged.
func (s *Server) failMidResponse(w http.ResponseWriter, r *http.Request, sent int64, what string, err error) {
	if r.Context().Err() != nil {
		return
	}
	if sent == 0 {
		w.Header().Del("Content-Disposition")
		s.httpError(w, r, http.StatusInternalServerError, "could not read "+what, err)
		return
	}
	s.Logger.Error("read failed mid-response; aborting the connection so the client sees it is cut off",
		"what", what, "uri", r.URL.RequestURI(), "bytes_sent", sent, "err", err)
	panic(http.ErrAbortHandler)
}

// countWriter counts what reached the client, so a streamed answer can
// tell whether it may still answer with an error status.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Times a read API accepts: what JSON and RFC 3339 can say (years 1970 to
// 9999). Beyond, a date is a 400, not a failure while answering.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

var errTimeBounds = errors.New("time out of range")

// checkTime refuses times outside [minTime, maxTime].
func checkTime(name string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%s %s is outside 1970-01-01 to 9999-12-31: %w", name, t.UTC().Format("2006-01-02T15:04:05Z07:00"), errTimeBounds)
	}
	return nil
}

// writeJSON answers v as JSON with code, or a 500 when v cannot be
// encoded: never a 200 with an empty body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "could not encode the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n')) // the client went away; nothing to do
}
