package projector

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
)

// TestCatchUpManyDevicesInOneSave: a catch-up whose save holds the
// newest fix of as many devices as a save takes events (each friend
// keeps its payload) fits the serving store's transaction.
func TestCatchUpManyDevicesInOneSave(t *testing.T) {
	log := eventstest.OpenLog(t)
	root := filepath.Join(t.TempDir(), "proj")
	p := openProjector(t, t.Context(), root, log)
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
}
