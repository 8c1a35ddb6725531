package projector

import (
	"os/exec"
	"sync"
	"testing"
	"time"

	"tracker/events/eventstest"
)

// TestRebuildWhileProcessesStart: a rebuild reopens the database it
// wrote; processes started meanwhile by the same program (a test's broker
// or browser) must not make the reopen find it locked. Before the fork
// lock was held across the reopen, one of the first 1-17 rebuilds failed
// here with "projection database is in use by another process": a child
// forked between Badger's close and the open held the directory lock
// until it exec'd.
func TestRebuildWhileProcessesStart(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Fatalf("no `true` to start: %v", err)
	}
	ctx := t.Context()
	log := eventstest.OpenLog(t)
	fillLog(t, log, 3, 50)
	p := openProjector(t, ctx, t.TempDir(), log)
	p.reopenEvery = 20 // and once in the middle of each rebuild

	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := exec.Command(bin).Run(); err != nil {
					t.Errorf("start %s: %v", bin, err)
					return
				}
			}
		})
	}
	rebuilds := 60
	if testing.Short() {
		rebuilds = 15
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < rebuilds && time.Now().Before(deadline); i++ {
		if _, err := p.Rebuild(ctx, nil); err != nil {
			t.Fatalf("rebuild %d while processes start: %v", i+1, err)
		}
	}
	if p.Checkpoint() != log.Head() {
		t.Errorf("checkpoint %d after the rebuilds, want %d", p.Checkpoint(), log.Head())
	}
}

// TestRebuildReopeningAgrees: a rebuild that reopens its database on the
// way stores exactly what one written in a single go stores.
func TestRebuildReopeningAgrees(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	log := eventstest.OpenLog(t)
	fillLog(t, log, 11, 3*saveEvery+saveEvery/2)
	p := openProjector(t, ctx, t.TempDir(), log) // built without reopening
	want, wantViews := dump(t, p), views(t, p)
	for _, every := range []uint64{2 * saveEvery, 1} {
		p.reopenEvery = every
		if _, err := p.Rebuild(ctx, nil); err != nil {
			t.Fatalf("rebuild reopening every %d events: %v", every, err)
		}
		if got := dump(t, p); got != want {
			t.Errorf("reopening every %d events, stored projections differ:\n%s", every, diffLines(want, got))
		}
		if got := views(t, p); got != wantViews {
			t.Errorf("reopening every %d events, views differ:\n%s", every, diffLines(wantViews, got))
		}
	}
}
