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
