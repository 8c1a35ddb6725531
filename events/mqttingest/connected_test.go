package mqttingest

import (
	"log/slog"
	"net"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"tracker/events/eventstest"
)

// holdSubscribe is a broker hook that keeps every SUBSCRIBE unanswered
// until release is closed, and says when one arrived.
type holdSubscribe struct {
	mochi.HookBase
	arrived chan struct{}
	release chan struct{}
}

func (h *holdSubscribe) ID() string { return "hold-subscribe" }

func (h *holdSubscribe) Provides(b byte) bool { return b == mochi.OnSubscribe }

func (h *holdSubscribe) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	<-h.release
	return pk
}

// TestConnectedWaitsForSubscription: Connected (what /healthz reports)
// stays false while the connection is up but the broker has not yet
// acknowledged the subscription, since a message published then reaches
// nobody; it turns true with the SUBACK.
func TestConnectedWaitsForSubscription(t *testing.T) {
	hold := &holdSubscribe{arrived: make(chan struct{}, 1), release: make(chan struct{})}
	srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddHook(hold, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(hold.release)
		}
	}
	t.Cleanup(func() { release(); _ = srv.Close() })

	r := startIngest(t, Config{Broker: "tcp://" + addr, ClientID: "tracker-connected-test"}, eventstest.OpenLog(t))
	select {
	case <-hold.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the ingest never subscribed")
	}
	if !r.client.IsConnectionOpen() {
		t.Fatal("the connection is not open although the broker got a SUBSCRIBE on it")
	}
	if r.Connected() {
		t.Error("Connected before the broker acknowledged the subscription")
	}
	release()
	deadline := time.Now().Add(10 * time.Second)
	for !r.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("not Connected 10 s after the SUBACK was let through")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
