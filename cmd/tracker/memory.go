package main

import (
	"context"
	"os"
	"runtime/debug"
	"time"
)

// tuneGC trades a little CPU for a smaller process, unless GOGC says
// otherwise: the heap may grow to 1.5 times what is live, not twice.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}

// batchMemoryLimit is the soft limit on Go's memory for batch commands
// (tracker rebuild): a rebuild's live heap is ~60 MB, and without a limit
// the garbage between collections doubled its footprint. Near the limit
// the collector simply runs more often; it is soft, so a bigger live heap
// slows the command down rather than failing it.
const batchMemoryLimit = 100 << 20

// limitBatchMemory sets batchMemoryLimit unless GOMEMLIMIT says otherwise.
func limitBatchMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(batchMemoryLimit)
	}
}

// trimWhenIdle gives memory back to the system once ingest goes quiet:
// after a burst the garbage it left would otherwise stay mapped until the
// runtime's next forced collection and the scavenger's slow return.
func trimWhenIdle(ctx context.Context, head func() uint64, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, busy := head(), false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := head()
		switch {
		case now != last:
			busy = true
		case busy:
			debug.FreeOSMemory()
			busy = false
		}
		last = now
	}
}

// catchingUp is what limitMemoryWhileCatchingUp needs of the projector.
type catchingUp interface {
	Checkpoint() uint64
	WaitFor(ctx context.Context, seq uint64) error
}

// limitMemoryWhileCatchingUp applies the batch commands' soft memory
// limit while the projections are behind head, the log's end at start:
// on a first start or after an upgrade serve rebuilds them from the whole
// log, and without the limit the rebuild's garbage nearly doubled the
// server's peak. It sets the limit at once; the returned function (for
// serve's errgroup) waits for the catch-up, lifts the limit, so a running
// server's bursts are only paced by GOGC, and returns the garbage of the
// start (and of the rebuild) to the system: otherwise it stays mapped
// for minutes, until the scavenger gets to it.
func limitMemoryWhileCatchingUp(ctx context.Context, p catchingUp, head uint64) func() error {
	if os.Getenv("GOMEMLIMIT") != "" || p.Checkpoint() >= head {
		return func() error { debug.FreeOSMemory(); return nil }
	}
	prev := debug.SetMemoryLimit(batchMemoryLimit)
	return func() error {
		err := p.WaitFor(ctx, head)
		debug.SetMemoryLimit(prev)
		if err == nil {
			debug.FreeOSMemory()
		}
		return nil
	}
}
