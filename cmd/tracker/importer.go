package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventjson"
	"tracker/views/web"
)

// What `tracker import recorder` and `tracker import gpx` share: where the
// events go (the log directly, or a running server's import endpoint when
// it holds the database), the progress display and the summary. The log
// gives every imported event an import key, so running an import again
// stores nothing new and an interrupted import simply runs again.

// importFlags declare where imported events go.
func importFlags(t *target, fs *flag.FlagSet) {
	t.flags(fs, "data `directory` to import into (created when missing)",
		"base `URL` of a running server to import through (default: the one using --data, when it holds the log)")
}

// importJob is one import: a reader that produces events and problems.
type importJob struct {
	what  string // "Recorder directory /x", for messages
	bytes int64  // total input bytes, for the ETA
	// read calls add for every event (done: input bytes consumed so far)
	// and problem for every skipped line; it stops when add fails.
	read func(ctx context.Context, add func(e events.Event, done int64) error, problem func(reason, where string)) error
	// notes are extra summary lines, computed after read.
	notes func() []string
}

// importSink appends events somewhere and counts the outcome.
type importSink interface {
	add(ctx context.Context, e events.Event) error
	// close waits for everything added and returns the first failure.
	close(ctx context.Context) error
}

// importCounts is the summary's numbers.
type importCounts struct {
	read, stored, present atomic.Uint64

	mu       sync.Mutex
	problems map[string]int      // reason -> count
	examples map[string][]string // reason -> first few file:line
}

const problemExamples = 3

func (c *importCounts) problem(reason, where string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.problems == nil {
		c.problems, c.examples = map[string]int{}, map[string][]string{}
	}
	c.problems[reason]++
	if len(c.examples[reason]) < problemExamples {
		c.examples[reason] = append(c.examples[reason], where)
	}
}

// runImportJob runs job into target, showing progress on stderr and the
// summary on stdout.
func runImportJob(ctx context.Context, to target, job importJob, stdout, stderr io.Writer) error {
	counts := &importCounts{}
	log, api, err := to.reach(true, importLogOptions, "importing", nil, stderr)
	if err != nil {
		return err
	}
	var sink importSink = newServerSink(api, counts)
	closeLog := func() {}
	if log != nil {
		sink = newLogSink(log, counts)
		closeLog = func() { _ = log.Close() }
	}

	start := time.Now()
	bar := newImportProgress(stderr, job.bytes)
	readErr := job.read(ctx,
		func(e events.Event, done int64) error {
			n := counts.read.Add(1)
			bar.update(n, done)
			return sink.add(ctx, e)
		},
		counts.problem)
	closeErr := sink.close(context.WithoutCancel(ctx)) // what was sent is waited for, even when interrupted
	closeLog()
	bar.done()
	took := time.Since(start)

	printImportSummary(stdout, job, counts, took)
	if errors.Is(readErr, context.Canceled) {
		return errors.New("import interrupted; run the same command again to continue (what was imported is recognised and skipped)")
	}
	if err := cmp.Or(readErr, closeErr); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if log != nil {
		fmt.Fprintf(stdout, "the server applies the new events when it starts (or run tracker rebuild --data %s)\n", to.data)
	}
	return nil
}

func printImportSummary(w io.Writer, job importJob, c *importCounts, took time.Duration) {
	read := c.read.Load()
	fmt.Fprintf(w, "read %d records from %s in %s (%.0f records/s)\n", read, job.what, took.Round(time.Millisecond),
		float64(read)/max(took.Seconds(), 1e-9))
	fmt.Fprintf(w, "stored %d new events, %d already present\n", c.stored.Load(), c.present.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, n := range c.problems {
		total += n
	}
	if total > 0 {
		fmt.Fprintf(w, "skipped %d bad lines or files:\n", total)
		reasons := make([]string, 0, len(c.problems))
		for r := range c.problems {
			reasons = append(reasons, r)
		}
		slices.SortFunc(reasons, func(a, b string) int {
			if c.problems[a] != c.problems[b] {
				return c.problems[b] - c.problems[a]
			}
			return strings.Compare(a, b)
		})
		for _, r := range reasons {
			more := ""
			if c.problems[r] > len(c.examples[r]) {
				more = ", …"
			}
			fmt.Fprintf(w, "  %8d  %s (%s%s)\n", c.problems[r], r, strings.Join(c.examples[r], ", "), more)
		}
	}
	if job.notes != nil {
		for _, n := range job.notes() {
			fmt.Fprintln(w, n)
		}
	}
}

// importWindow bounds the events handed to the log and not yet durable.
const importWindow = 16384

// importLogOptions: an import writes as fast as the disk syncs, so it
// gives the log larger group commits than a server's (the log caps them at
// what one Badger transaction holds); each sync then covers more events.
var importLogOptions = badgerlog.Options{QueueLen: importWindow, MaxBatch: 8192, MaxBatchBytes: 4 << 20}

// logSink appends to the log directly, many events in flight, so the log
// writes them in large group commits.
type logSink struct{ *events.AppendWindow }

func newLogSink(log *badgerlog.Log, counts *importCounts) *logSink {
	return &logSink{events.NewAppendWindow(log, importWindow, &counts.stored, &counts.present)}
}

func (s *logSink) add(ctx context.Context, e events.Event) error { return s.Add(ctx, e) }

func (s *logSink) close(context.Context) error { return s.Wait() }

// Batches sent to a running server: bounded in events and bytes so each
// request is quick (the server's read timeout is 30 s) and a failure
// loses little.
const (
	serverBatchEvents = 5000
	serverBatchBytes  = 4 << 20
)

// serverSink posts batches to a running server's /api/v1/admin/import;
// the server appends them through its log, so the import keys apply there.
// One batch is in flight while the next fills.
type serverSink struct {
	api    *adminClient
	counts *importCounts
	buf    bytes.Buffer
	gz     *gzip.Writer
	enc    *json.Encoder
	raw    int // uncompressed bytes in buf
	n      int // events in buf
	sent   chan error
	busy   bool
}

func newServerSink(api *adminClient, counts *importCounts) *serverSink {
	s := &serverSink{api: api, counts: counts, sent: make(chan error, 1)}
	s.reset()
	return s
}

func (s *serverSink) reset() {
	s.buf = bytes.Buffer{}
	s.gz = gzip.NewWriter(&s.buf)
	s.enc = json.NewEncoder(s.gz)
	s.enc.SetEscapeHTML(false)
	s.raw, s.n = 0, 0
}

func (s *serverSink) add(ctx context.Context, e events.Event) error {
	l := eventjson.Stored(e)
	l.Seq = 0
	if err := s.enc.Encode(l); err != nil {
		return err
	}
	s.n++
	s.raw += len(e.Payload) + len(e.Topic) + 128
	if s.n >= serverBatchEvents || s.raw >= serverBatchBytes {
		return s.flush(ctx)
	}
	return nil
}

// flush waits for the batch in flight and sends the one filled.
func (s *serverSink) flush(ctx context.Context) error {
	if s.busy {
		s.busy = false
		if err := <-s.sent; err != nil {
			return err
		}
	}
	if s.n == 0 {
		return nil
	}
	if err := s.gz.Close(); err != nil {
		return err
	}
	body, n := s.buf.Bytes(), s.n
	s.reset()
	s.busy = true
	go func() { s.sent <- s.post(ctx, body, n) }()
	return nil
}

func (s *serverSink) close(ctx context.Context) error {
	if err := s.flush(ctx); err != nil {
		return err
	}
	if s.busy {
		s.busy = false
		return <-s.sent
	}
	return nil
}

func (s *serverSink) post(ctx context.Context, body []byte, n int) error {
	var b []byte
	resp, err := s.api.do(ctx, http.MethodPost, "/api/v1/admin/import", "application/x-ndjson", bytes.NewReader(body))
	if ae, ok := errors.AsType[*apiError](err); ok {
		b = ae.body // counts of what was stored before the failure
	} else if err == nil {
		b, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	var r web.ImportResult
	jerr := json.Unmarshal(b, &r)
	if jerr == nil {
		s.counts.stored.Add(uint64(r.Stored))
		s.counts.present.Add(uint64(r.AlreadyPresent))
	}
	if err != nil {
		if ae, ok := errors.AsType[*apiError](err); ok && jerr == nil && r.Error != "" {
			ae.body = []byte(r.Error)
		}
		return fmt.Errorf("import through the server: %w", err)
	}
	if jerr != nil {
		return fmt.Errorf("import through the server: answer %q: %w", b, jerr)
	}
	if r.Events != n {
		return fmt.Errorf("import through the server: it read %d of %d events", r.Events, n)
	}
	return nil
}

// importProgress shows records, records/s and an ETA from the input bytes
// read: a redrawn line on a terminal, a log line every few seconds
// otherwise (the same display rules as the rebuild's bar).
type importProgress struct {
	*progress
	total int64
}

func newImportProgress(w io.Writer, total int64) *importProgress {
	p := &importProgress{progress: newProgress(w, "importing"), total: total}
	p.last = p.start // the first line after a while: short imports show only the summary
	return p
}

func (p *importProgress) update(records uint64, done int64) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	every := 2 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(p.last) < every {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start)
	rate := float64(records) / max(elapsed.Seconds(), 1e-9)
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(done)/float64(p.total), 1)
	}
	eta := "?"
	if frac > 0 {
		eta = (time.Duration(float64(elapsed)*(1-frac)/frac) / time.Second * time.Second).String()
	}
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d records, %.0f%%, %.0f records/s, ETA %s\n", p.what, records, 100*frac, rate, eta)
		return
	}
	const width = 30
	filled := int(width * frac)
	fmt.Fprintf(p.w, "\r[%s%s] %d records %3.0f%%  %.0f/s  ETA %s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		records, 100*frac, rate, eta)
	p.drawn = true
}

// splitArgs separates positional arguments from flags, so the file may
// come before or after them; a flag that takes a value takes the next
// argument unless written --flag=value.
func splitArgs(fs *flag.FlagSet, args []string) (positional, flags []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if hasValue {
			continue
		}
		f := fs.Lookup(name)
		if name == "config" || (f != nil && !isBoolFlag(f)) {
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return positional, flags
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// fileSize is the size of path, 0 when unknown.
func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}
