// Package httpx holds what the web handlers and the Recorder-compatible
// API share about answering: JSON and error answers, streamed answers
// that fail midway, buffered writing, the read API's time limits and
// reading a device's history in chunks.
package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
)

// Error writes a plain-text error and logs server-side failures once.
func Error(log *slog.Logger, w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	switch {
	case errors.Is(err, events.ErrDiskFull):
		msg = "disk nearly full: not accepting new messages; try again later" // the guard logged it once
	case errors.Is(err, projections.ErrRebuilding):
		code, msg = http.StatusServiceUnavailable, err.Error()
	case code >= 500:
		log.Error("request failed", "method", r.Method, "uri", r.URL.RequestURI(), "status", code, "err", err)
	}
	http.Error(w, msg, code)
}

// FailMid ends a streamed answer whose read failed: with a proper
// error status when nothing reached the client yet (sent == 0), else by
// aborting the connection, so the client sees a broken transfer (a chunked
// body without its last chunk) instead of a 200 with a short body that
// looks complete. A client that went away is not logged.
func FailMid(log *slog.Logger, w http.ResponseWriter, r *http.Request, sent int64, what string, err error) {
	if r.Context().Err() != nil {
		return
	}
	if sent == 0 {
		w.Header().Del("Content-Disposition")
		Error(log, w, r, http.StatusInternalServerError, "could not read "+what, err)
		return
	}
	log.Error("read failed mid-response; aborting the connection so the client sees it is cut off",
		"what", what, "uri", r.URL.RequestURI(), "bytes_sent", sent, "err", err)
	panic(http.ErrAbortHandler)
}

// CountWriter counts what reached the client, so a streamed answer can
// tell whether it may still answer with an error status.
type CountWriter struct {
	W io.Writer
	N int64
}

func (c *CountWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}

// MaxRange bounds one history request's range (README, "Limits of the
// read API"): points are streamed, so memory stays flat.
const MaxRange = 366 * 24 * time.Hour

// Times a read API accepts: what JSON and RFC 3339 can say (years 1970 to
// 9999). Beyond, a date is a 400, not a failure while answering.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

var ErrTimeBounds = errors.New("time out of range")

// CheckTime refuses times outside [minTime, maxTime].
func CheckTime(name string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%s %s is outside 1970-01-01 to 9999-12-31: %w", name, t.UTC().Format("2006-01-02T15:04:05Z07:00"), ErrTimeBounds)
	}
	return nil
}

// WriteJSON answers v as JSON with code, or a 500 when v cannot be
// encoded: never a 200 with an empty body.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "could not encode the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n')) // the client went away; nothing to do
}

// PubRoot is the first topic level HTTP-mode messages are filed under: the
// decoder's root, so they read like the phone had published them.
func PubRoot(d *owntracks.Decoder) string {
	if d.Root == "" || d.Root == owntracks.AnyRoot {
		return owntracks.DefaultRoot
	}
	return d.Root
}

// History is a device's points, as one viewer may see them.
type History interface {
	History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error
}

// historyChunk is how many points are read under the projector's lock at
// once; they are written out after it is released, so a slow client never
// holds up the projections.
const historyChunk = 1024

var errChunkFull = errors.New("chunk full")

// EachPoint calls fn for dev's points with from <= tst < to, in tst order,
// reading them historyChunk at a time. fn runs outside the projector's
// read lock. Points sharing a tst across a chunk boundary are passed on
// once each: the next chunk starts at that tst and skips those already
// passed on.
func EachPoint(ctx context.Context, h History, dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	return EachChunk(ctx, h, dev, from, to, func(pts []projections.Point) error {
		for _, p := range pts {
			if err := fn(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// EachChunk is EachPoint a chunk at a time: fn gets up to historyChunk
// points, in a buffer reused for the next chunk.
func EachChunk(ctx context.Context, h History, dev projections.DeviceID, from, to int64, fn func([]projections.Point) error) error {
	buf := make([]projections.Point, 0, historyChunk)
	skip := 0 // points with tst == from already passed on
	for {
		buf = buf[:0]
		skipped := 0
		err := h.History(dev, from, to, func(p projections.Point) error {
			if p.Tst == from && skipped < skip {
				skipped++
				return nil
			}
			buf = append(buf, p)
			if len(buf) == cap(buf) {
				return errChunkFull
			}
			return nil
		})
		full := errors.Is(err, errChunkFull)
		if err != nil && !full {
			return err
		}
		if len(buf) > 0 {
			if err := fn(buf); err != nil {
				return err
			}
		}
		if !full {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		last, same := buf[len(buf)-1].Tst, 0
		for i := len(buf) - 1; i >= 0 && buf[i].Tst == last; i-- {
			same++
		}
		if last == from {
			skip += same
		} else {
			from, skip = last, same
		}
	}
}

// GPXPoints writes GPX 1.1 track points (trkpt), reusing one buffer.
type GPXPoints struct{ buf []byte }

func (g *GPXPoints) Point(b *BufWriter, p projections.Point) {
	o := append(g.buf[:0], `<trkpt lat="`...)
	o = strconv.AppendFloat(o, p.Lat, 'f', -1, 64)
	o = append(o, `" lon="`...)
	o = strconv.AppendFloat(o, p.Lon, 'f', -1, 64)
	o = append(o, `">`...)
	if p.Alt != 0 {
		o = append(o, "<ele>"...)
		o = strconv.AppendInt(o, int64(p.Alt), 10)
		o = append(o, "</ele>"...)
	}
	o = append(o, "<time>"...)
	o = p.Time().AppendFormat(o, time.RFC3339)
	o = append(o, "</time></trkpt>\n"...)
	b.Write(o)
	g.buf = o
}

// End closes the segment, the track and the document.
func (*GPXPoints) End(b *BufWriter) { b.WriteString("</trkseg></trk>\n</gpx>\n") }
