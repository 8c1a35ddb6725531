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
