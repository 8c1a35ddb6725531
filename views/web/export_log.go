package web

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/views/web/internal/httpx"
)

// The whole event log as a backup: gzip-compressed JSON lines, one event
// each, in the eventjson.Line format without the decoded fields. `tracker
// import log` restores it byte for byte.

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
	n, err := WriteLogLines(r.Context(), gz, s.Log)
	if err != nil {
		httpx.FailMid(s.Logger, w, r, cw.N, fmt.Sprintf("the event log (after %d events)", n), err)
		return
	}
	if err := gz.Close(); err != nil && r.Context().Err() == nil {
		s.Logger.Error("log export failed", "events", n, "err", err)
	}
}

// ExportLine is e as a line of the log export: the stored fields and the
// payload (as text when it is valid UTF-8, else base64), nothing decoded.
func ExportLine(e events.Event) eventjson.Line {
	l := eventjson.Line{
		Seq: e.Seq, ReceivedAt: e.Received.UTC(), Topic: e.Topic, Source: e.Source,
		QoS: e.QoS, Retained: e.Retained, Dup: e.Dup, DuplicateOf: e.DuplicateOf,
		Client: e.Client, PacketID: e.PacketID,
	}
	if utf8.Valid(e.Payload) {
		p := string(e.Payload)
		l.Payload = &p
	} else {
		l.PayloadB64 = base64.StdEncoding.EncodeToString(e.Payload)
	}
	return l
}

// WriteLogLines writes every event of log up to its current head to w as
// export lines and returns how many it wrote.
func WriteLogLines(ctx context.Context, w io.Writer, log events.Reader) (uint64, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var n uint64
	err := log.Scan(ctx, 1, func(e events.Event) error {
		if err := enc.Encode(ExportLine(e)); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}
