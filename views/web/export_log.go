package web

import (
	"compress/gzip"
	"fmt"
	"net/http"
	"strconv"

	"tracker/events/eventjson"
	"tracker/views/web/internal/httpx"
)

// The whole event log as a backup: gzip-compressed JSON lines, one event
// each (eventjson.Stored). `tracker import log` restores it byte for byte.

// exportLog streams the whole log (GET /api/v1/export, admins only). When
// the scan fails midway the connection is aborted (and the gzip stream
// has no trailer), so the client sees a truncated download rather than a
// short backup that looks complete.
func (s *Server) exportLog(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="tracker-log-`+s.now().UTC().Format("20060102-150405")+`.jsonl.gz"`)
	h.Set("X-Log-Head", strconv.FormatUint(s.Log.Head(), 10))
	cw := &httpx.CountWriter{W: w}
	gz := gzip.NewWriter(cw)
	n, err := eventjson.WriteStored(r.Context(), gz, s.Log)
	if err != nil {
		httpx.FailMid(s.Logger, w, r, cw.N, fmt.Sprintf("the event log (after %d events)", n), err)
		return
	}
	if err := gz.Close(); err != nil && r.Context().Err() == nil {
		s.Logger.Error("log export failed", "events", n, "err", err)
	}
}
