package web

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/views/web/internal/httpx"
)

// Imports into a running server: `tracker import recorder|gpx|google` sends its
// events here when the server holds the database. The body is JSON lines
// in the log export's format (eventjson.Stored; gzip-compressed or not), each
// an event whose source starts with "import:"; seq and the decoded fields
// are ignored. The events are appended through the log, so the log's
// import keys apply: an event imported before is not stored again. A
// Google location history file posted as the body is read as such
// (import_google.go).

const (
	// maxImportBody bounds one request, compressed and decompressed
	// (README, "Limits"): the CLI sends batches of at most 4 MB and one
	// event, and a gzip bomb must not make the server hold gigabytes.
	maxImportBody = 64 << 20
	// maxImportLine bounds one line (one event), which is held whole
	// while it is parsed.
	maxImportLine = 16 << 20
	// importWindow bounds appends in flight for one request.
	importWindow = 4096
)

// errImportTooLarge stops a request whose body, decompressed, or one of
// whose lines, is over the limits above.
var errImportTooLarge = fmt.Errorf("import body over %d MB (decompressed) or a line over %d MB: send smaller batches", maxImportBody>>20, maxImportLine>>20)

// capReader reads at most max bytes from r, then fails with
// errImportTooLarge (io.LimitReader would end quietly, cutting the
// import short as if it were complete).
type capReader struct {
	r      io.Reader
	n, max int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if room := c.max - c.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, errImportTooLarge
	}
	return n, err
}

// readLine reads up to and including the next newline, refusing lines
// over max bytes before holding more than that.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errImportTooLarge
		}
		line = append(line, frag...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// ImportResult is the answer to POST /api/v1/admin/import.
type ImportResult struct {
	Events         int    `json:"events"`          // lines read
	Stored         int    `json:"stored"`          // appended as new events
	AlreadyPresent int    `json:"already_present"` // in the log already (same import key)
	FirstSeq       uint64 `json:"first_seq,omitempty"`
	LastSeq        uint64 `json:"last_seq,omitempty"`
	Error          string `json:"error,omitempty"` // why the request stopped early
}

// count records one append's outcome: stored (with its sequence
// number) or already present; any other failure is returned for the
// caller to keep.
func (r *ImportResult) count(seq uint64, err error) error {
	switch {
	case err == nil:
		r.Stored++
		if r.FirstSeq == 0 || seq < r.FirstSeq {
			r.FirstSeq = seq
		}
		r.LastSeq = max(r.LastSeq, seq)
	case events.IsAlreadyLogged(err):
		r.AlreadyPresent++
	default:
		return err
	}
	return nil
}

// importEvents appends the posted events (POST /api/v1/admin/import,
// admins only) and answers with counts once every one is durable. A bad
// line stops the request with 400; the events before it are kept, and the
// counts say how many.
func (s *Server) importEvents(w http.ResponseWriter, r *http.Request) {
	head := bufio.NewReaderSize(r.Body, 64<<10)
	if isGoogleUpload(head) { // import_google.go
		s.importGoogle(w, r, head)
		return
	}
	body := http.MaxBytesReader(w, io.NopCloser(head), maxImportBody)
	br := bufio.NewReaderSize(body, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			httpx.WriteJSON(w, http.StatusBadRequest, ImportResult{Error: "gzip: " + err.Error()})
			return
		}
		in = &capReader{r: gz, max: maxImportBody}
	}

	var (
		mu       sync.Mutex
		res      ImportResult
		failed   error
		wg       sync.WaitGroup
		inflight = make(chan struct{}, importWindow)
	)
	done := func(seq uint64, err error) {
		defer func() { <-inflight; wg.Done() }()
		mu.Lock()
		defer mu.Unlock()
		if err := res.count(seq, err); err != nil && failed == nil {
			failed = err
		}
	}
	code, badLine := http.StatusOK, ""
	lines := bufio.NewReaderSize(in, 256<<10)
	for lineNo := 1; ; lineNo++ {
		if r.Context().Err() != nil {
			break
		}
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			break
		}
		b, rerr := readLine(lines, maxImportLine)
		var tooBig *http.MaxBytesError
		if errors.Is(rerr, errImportTooLarge) || errors.As(rerr, &tooBig) {
			code, badLine = http.StatusRequestEntityTooLarge, fmt.Sprintf("line %d: %v", lineNo, errImportTooLarge)
			break
		}
		if rerr != nil && rerr != io.EOF {
			code, badLine = http.StatusBadRequest, fmt.Sprintf("line %d: %v", lineNo, rerr)
			break
		}
		if len(bytes.TrimSpace(b)) > 0 {
			e, err := importLine(b)
			if err != nil {
				code, badLine = http.StatusBadRequest, fmt.Sprintf("line %d: %v", lineNo, err)
				break
			}
			res.Events++
			wg.Add(1)
			inflight <- struct{}{}
			s.Appender.AppendAsync(e, done)
		}
		if rerr == io.EOF {
			break
		}
	}
	wg.Wait()
	res.Error = badLine
	if failed != nil {
		code, res.Error = http.StatusInternalServerError, "the event log cannot write"
		s.Logger.Error("import failed", "stored", res.Stored, "err", failed)
	}
	if r.Context().Err() != nil {
		return // the client went away; what was appended stays
	}
	if res.Stored > 0 {
		s.Logger.Info("events imported", "stored", res.Stored, "already_present", res.AlreadyPresent,
			"first_seq", res.FirstSeq, "last_seq", res.LastSeq)
	}
	httpx.WriteJSON(w, code, res)
}

// importLine turns one posted line into the event to append.
func importLine(b []byte) (events.Event, error) {
	var l eventjson.Line
	if err := json.Unmarshal(b, &l); err != nil {
		return events.Event{}, fmt.Errorf("not an event line: %w", err)
	}
	if !events.IsImport(l.Source) {
		return events.Event{}, fmt.Errorf("source %q: only imports (import:…) may be posted here", l.Source)
	}
	if l.ReceivedAt.IsZero() || l.Topic == "" {
		return events.Event{}, errors.New("no received_at or topic")
	}
	if l.QoS > 2 {
		return events.Event{}, fmt.Errorf("qos %d", l.QoS)
	}
	e := events.Event{
		Received: l.ReceivedAt, Topic: l.Topic, Source: l.Source,
		QoS: l.QoS, Retained: l.Retained, Dup: l.Dup,
	}
	var err error
	e.Payload, err = l.RawPayload()
	return e, err
}
