package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"tracker/events/badgerlog"
	"tracker/events/owntracks"
	"tracker/projections/projector"
)

func runRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	var secrets secretFlags
	fs := newFlagSet("rebuild [--data DIR]",
		"Replays the whole event log into fresh projections and switches to them at the end.\nInterrupting it leaves the previous projections as they were. When a server is\nrunning on the data directory, use its rebuild instead (this command says how).", stderr)
	t.flags(fs, "data `directory`", "")
	secrets.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	keys, err := secrets.secrets()
	if err != nil {
		return err
	}
	tuneGC()
	limitBatchMemory()
	log, err := t.openLog(false, badgerlog.Options{})
	if errors.Is(err, badgerlog.ErrLocked) {
		if info, ierr := t.data.readServerInfo(); ierr == nil {
			return fmt.Errorf("%s is in use by a running server (pid %d); rebuild through it instead:\n  curl -X POST %s/api/v1/admin/rebuild", t.data, info.PID, info.HTTP)
		}
		return fmt.Errorf("%w; stop the server that uses %s, or rebuild through its API (POST /api/v1/admin/rebuild)", err, t.data)
	}
	if err != nil {
		return err
	}
	defer log.Close()

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p := projector.New(t.data.projections(), log, owntracks.Decoder{Keys: keys}, logger)
	defer p.Close()
	bar := newProgress(stderr, "replaying the log")
	stats, err := p.Rebuild(ctx, bar.update)
	bar.done()
	if errors.Is(err, context.Canceled) {
		return errors.New("rebuild interrupted; the previous projections are unchanged")
	}
	if err != nil {
		return err
	}
	rate := float64(stats.Events) / max(stats.Took.Seconds(), 1e-9)
	fmt.Fprintf(stdout, "rebuilt projections from %d events in %s (%.0f events/s)\n", stats.Events, stats.Took.Round(time.Millisecond), rate)
	fmt.Fprintf(stdout, "invalid events skipped: %d\n", stats.Invalid)
	for _, r := range stats.SortedReasons() {
		fmt.Fprintf(stdout, "  %8d  %s\n", stats.ByReason[r], r)
	}
	return nil
}

// progress shows how far a long job got: a redrawn bar on a terminal,
// a log line every few seconds otherwise.
type progress struct {
	w     io.Writer
	what  string
	tty   bool
	start time.Time
	mu    sync.Mutex
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, what string) *progress {
	p := &progress{w: w, what: what, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(done, total uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	every := 2 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(p.last) < every && done < total {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	eta := "?"
	if rate > 0 && total >= done {
		eta = (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second).String()
	}
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d/%d events, %.0f events/s, ETA %s\n", p.what, done, total, rate, eta)
		return
	}
	const width = 30
	filled := width
	if total > 0 {
		filled = int(float64(width) * float64(done) / float64(total))
	}
	bar := strings.Repeat("=", min(filled, width)) + strings.Repeat(" ", width-min(filled, width))
	fmt.Fprintf(p.w, "\r[%s] %d/%d events  %.0f/s  ETA %s ", bar, done, total, rate, eta)
	p.drawn = true
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
