package health

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
)

// TestTrackerFoldsOnlyOnceAskedFor: a server whose admin never looks at
// device health never reads its log for it; the first Report reads it
// all, and OnCaughtUp runs once.
func TestTrackerFoldsOnlyOnceAskedFor(t *testing.T) {
	log := eventstest.OpenLog(t)
	now := time.Now()
	for i := range 5 {
		e := events.Event{Topic: "owntracks/ann/phone", Source: events.SourceEmbedded, QoS: 1, Received: now,
			Payload: fmt.Appendf(nil, `{"_type":"location","lat":1,"lon":1,"tst":%d}`, now.Unix()-int64(60*(5-i)))}
		if _, err := log.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	tr := NewTracker()
	var caught int
	tr.OnCaughtUp = func() { caught++ }
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := tr.Run(ctx, log, owntracks.Decoder{}); err != nil {
			t.Error(err)
		}
	})
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(300 * time.Millisecond) // time enough to fold five events, if it did
	tr.mu.RLock()
	applied := tr.h.applied
	tr.mu.RUnlock()
	if applied != 0 {
		t.Fatalf("folded up to event %d before anyone asked", applied)
	}
	r := tr.Report(now)
	if len(r.Devices) != 1 || tr.Applied() != log.Head() {
		t.Fatalf("first report: %d devices, applied %d of %d; want 1 device, all applied", len(r.Devices), tr.Applied(), log.Head())
	}
	tr.Report(now)
	if caught != 1 {
		t.Errorf("OnCaughtUp ran %d times, want once", caught)
	}
}
