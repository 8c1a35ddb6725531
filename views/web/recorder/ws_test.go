package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/projections"
)

// seesAll is a viewer who may see every device (the follower only asks
// MaySee).
type seesAll struct{ Reader }

func (seesAll) MaySee(projections.DeviceID) bool { return true }

// A /ws/last client whose queue is full is dropped at once: following the
// log never waits for it.
func TestRecorderWSDropsSlowClient(t *testing.T) {
	log := eventstest.OpenLog(t)
	caughtUp := func(context.Context, uint64) error { return nil } // the projections hold every event
	s := &API{Log: log, WaitFor: caughtUp, Logger: slog.New(slog.DiscardHandler)}
	for i := range 3 {
		payload := fmt.Sprintf(`{"_type":"location","lat":51.5,"lon":-0.1,"tst":%d}`, 1_700_000_000+i)
		if _, err := log.Append(t.Context(), events.Event{Topic: "owntracks/ann/phone", Payload: []byte(payload), Received: time.Unix(1_700_000_100, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	out := make(chan []byte, 2) // nobody reads it
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		done <- s.wsLastFollow(ctx, 1, out, func() (Reader, bool) { return seesAll{}, true }, "", "")
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errSlowClient) {
			t.Errorf("follower ended with %v, want errSlowClient", err)
		}
	case <-time.After(5 * time.Second):
		cancel()
		<-done
		t.Fatal("the follower waited for a client that does not read")
	}
	if len(out) != 2 {
		t.Errorf("%d messages queued, want 2 (the queue's size)", len(out))
	}
}

func TestGeohash(t *testing.T) {
	for _, c := range []struct {
		lat, lon float64
		want     string
	}{
		{51.06263391678321, 13.60279820860699, "u31dmx9"}, // the Recorder's README
		{48.856826, 2.292713, "u09tunj"},                  // the OwnTracks booklet
		{57.64911, 10.40744, "u4pruyd"},                   // Wikipedia's geohash example (u4pruydqqvj)
		{0, 0, "s000000"},
	} {
		if got := geohash(c.lat, c.lon, 7); got != c.want {
			t.Errorf("geohash(%v, %v) = %s, want %s", c.lat, c.lon, got, c.want)
		}
	}
}
