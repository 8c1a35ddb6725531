package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"tracker/events"
	"tracker/events/google"
	"tracker/views/web/internal/httpx"
)

// Google location history posted to POST /api/v1/admin/import as the
// body itself (a Records.json, a Semantic Location History month, a
// Timeline export; gzip-compressed or not), with the device it belongs to
// in the query: ?user=U&device=D[&tid=XX]. The endpoint tells it from the
// JSON-lines batches of `tracker import` by its first bytes. The file is
// read as it arrives, each position appended as an import:google event
// (the log's import keys make a second upload add nothing), and the
// answer, once every event is durable, is the summary the command line
// prints: GoogleImportResult.

const (
	// maxGoogleBody bounds one upload, compressed and decompressed: the
	// largest Records.json files seen are a few GB. Memory does not grow
	// with it (the file is streamed); only the time it takes.
	maxGoogleBody = 16 << 30
	// googleIdle is how long an upload may send nothing before the server
	// gives up on it (the server's 30 s limit on a whole request does not
	// fit a file of gigabytes).
	googleIdle = time.Minute
	// googleExamples is how many places are named per reason.
	googleExamples = 3
)

// GoogleImportResult answers an upload of Google location history.
type GoogleImportResult struct {
	ImportResult                 // events appended (positions and visits), stored, already present
	Format       string          `json:"format,omitempty"`   // what the file was, e.g. "Records.json (raw locations)"
	Records      int             `json:"records"`            // list elements read
	Skipped      int             `json:"skipped"`            // records or points skipped, all reasons
	Problems     []ImportProblem `json:"problems,omitempty"` // (upload.go) examples: the first few places in the file ("locations[17]")
	Notes        []string        `json:"notes,omitempty"`    // what was kept and what was left out, as sentences
}

// isGoogleUpload tells from the body's first bytes (decompressing them
// when gzip) whether it is Google location history; it reads nothing
// away from br.
func isGoogleUpload(br *bufio.Reader) bool {
	head, _ := br.Peek(4096)
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		raw, _ := br.Peek(br.Size())
		gz, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return false
		}
		head, _ = io.ReadAll(io.LimitReader(gz, 4096))
	}
	return google.Detect(head)
}

// importGoogle imports the Google file in br (the request's body).
func (s *Server) importGoogle(w http.ResponseWriter, r *http.Request, br *bufio.Reader) {
	q := r.URL.Query()
	dev := google.Device{User: q.Get("user"), Device: q.Get("device"), TID: q.Get("tid")}
	for _, l := range []struct{ name, v string }{{"user", dev.User}, {"device", dev.Device}} {
		msg := ""
		switch {
		case l.v == "":
			msg = fmt.Sprintf("a Google location history file needs ?%s= (its points go to owntracks/<user>/<device>)", l.name)
		case strings.ContainsAny(l.v, "/+#") || len(l.v) > 256:
			msg = fmt.Sprintf("%s %q: a topic level cannot hold / + or # (or be over 256 bytes)", l.name, l.v)
		}
		if msg != "" {
			httpx.WriteJSON(w, http.StatusBadRequest, GoogleImportResult{ImportResult: ImportResult{Error: msg}})
			return
		}
	}

	body := &idleReader{r: &googleCap{r: br, left: maxGoogleBody}, rc: http.NewResponseController(w)}
	body.extend()
	in := bufio.NewReaderSize(body, 64<<10)
	var src io.Reader = in
	if magic, _ := in.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(in)
		if err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, GoogleImportResult{ImportResult: ImportResult{Error: "gzip: " + err.Error()}})
			return
		}
		src = &googleCap{r: gz, left: maxGoogleBody}
	}

	var (
		mu       sync.Mutex
		res      GoogleImportResult
		failed   error
		wg       sync.WaitGroup
		inflight = make(chan struct{}, importWindow)
		problems = map[string]*ImportProblem{}
	)
	done := func(seq uint64, err error) {
		defer func() { <-inflight; wg.Done() }()
		mu.Lock()
		defer mu.Unlock()
		if err := res.count(seq, err); err != nil && failed == nil {
			failed = err
		}
	}
	st, readErr := google.Read(r.Context(), src, dev,
		func(rec google.Record) error {
			mu.Lock()
			err := failed
			mu.Unlock()
			if err != nil {
				return err
			}
			res.Events++
			wg.Add(1)
			inflight <- struct{}{}
			s.Appender.AppendAsync(rec.Event, done)
			return nil
		},
		func(p google.Problem) {
			res.Skipped++
			pr := problems[p.Reason]
			if pr == nil {
				pr = &ImportProblem{Reason: p.Reason}
				problems[p.Reason] = pr
			}
			pr.Count++
			if len(pr.Examples) < googleExamples {
				pr.Examples = append(pr.Examples, p.Where)
			}
		})
	wg.Wait()
	if r.Context().Err() != nil {
		return // the client went away; what was appended stays
	}

	res.Format, res.Records, res.Notes = string(st.Format), st.Records, st.Notes(dev)
	for _, p := range problems {
		res.Problems = append(res.Problems, *p)
	}
	slices.SortFunc(res.Problems, func(a, b ImportProblem) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	code := http.StatusOK
	switch {
	case failed != nil && errors.Is(failed, events.ErrDiskFull):
		code, res.Error = http.StatusServiceUnavailable, "disk nearly full: not accepting new events; upload again once space is freed (what was stored is recognised)"
	case failed != nil:
		code, res.Error = http.StatusInternalServerError, "the event log cannot write"
		s.Logger.Error("google import failed", "stored", res.Stored, "err", failed)
	case errors.Is(readErr, errGoogleTooLarge):
		code, res.Error = http.StatusRequestEntityTooLarge, readErr.Error()
	case readErr != nil:
		code, res.Error = http.StatusBadRequest, readErr.Error()
	}
	if res.Stored > 0 {
		s.Logger.Info("google location history imported", "user", dev.User, "device", dev.Device, "format", res.Format,
			"stored", res.Stored, "already_present", res.AlreadyPresent, "skipped", res.Skipped)
	}
	httpx.WriteJSON(w, code, res)
}

var errGoogleTooLarge = fmt.Errorf("upload over %d GB (decompressed): split the file", maxGoogleBody>>30)

// googleCap fails once more than left bytes were read.
type googleCap struct {
	r    io.Reader
	left int64
}

func (c *googleCap) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errGoogleTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// idleReader moves the connection's read deadline ahead while the upload
// keeps sending, so a large file may take as long as it needs and a
// stalled one is dropped after googleIdle.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	last time.Time
}

func (d *idleReader) extend() {
	d.last = time.Now()
	_ = d.rc.SetReadDeadline(d.last.Add(googleIdle)) // unsupported writers keep the server's limit
}

func (d *idleReader) Read(p []byte) (int, error) {
	if time.Since(d.last) > time.Second {
		d.extend()
	}
	return d.r.Read(p)
}
