package projector

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
)

// TestCatchUpManyDevicesInOneSave: a catch-up whose save holds the
// newest fix of as many devices as a save takes events (each friend
// keeps its payload) fits the serving store's transaction, and every
// change of the parts it is saved in is published.
func TestCatchUpManyDevicesInOneSave(t *testing.T) {
	log := eventstest.OpenLog(t)
	root := filepath.Join(t.TempDir(), "proj")
	published := map[projections.DeviceID]bool{}
	p, err := Open(t.Context(), root, log, owntracks.Decoder{}, nil, Options{OnChange: func(ch *projections.Changes) {
		if ch == nil { // a rebuild: everything changed
			return
		}
		for id := range ch.Friends {
			published[id] = true
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	if err := p.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	pad := fmt.Sprintf("%0400d", 0) // a payload of a real phone's size
	done := make(chan error, saveEvery)
	for i := range saveEvery {
		e := events.Event{Topic: fmt.Sprintf("owntracks/u%d/phone", i), Source: events.SourceEmbedded, QoS: 1, Received: now,
			Payload: fmt.Appendf(nil, `{"_type":"location","lat":1,"lon":1,"tst":%d,"desc":"%s"}`, now.Unix(), pad)}
		log.AppendAsync(e, func(_ uint64, err error) { done <- err })
	}
	for range saveEvery {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := p.CatchUp(t.Context()); err != nil {
		t.Fatalf("catch-up of %d devices: %v", saveEvery, err)
	}
	if got := p.Checkpoint(); got != log.Head() {
		t.Fatalf("checkpoint %d, head %d", got, log.Head())
	}
	if len(published) != saveEvery {
		t.Errorf("changes of %d friends published, want %d", len(published), saveEvery)
	}
}
