package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/broker"
	"tracker/events/demo"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
)

// fakeBroker records what the phones do through a Dial function.
type fakeBroker struct {
	mu       sync.Mutex
	sessions map[string][]*fakeConn // by client id, in dial order
	failNext int                    // dials to refuse
}

type fakeConn struct {
	b       *fakeBroker
	s       demo.Session
	msgs    []demo.Message
	dropped bool
	closed  bool
}

func (b *fakeBroker) dial(ctx context.Context, s demo.Session) (demo.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failNext > 0 {
		b.failNext--
		return nil, errors.New("connection refused")
	}
	c := &fakeConn{b: b, s: s}
	b.sessions[s.ClientID] = append(b.sessions[s.ClientID], c)
	return c, nil
}

func (c *fakeConn) Publish(ctx context.Context, m demo.Message) error {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	if c.dropped || c.closed {
		return errors.New("publish on a connection that is gone")
	}
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *fakeConn) Drop() {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.dropped = true
}

func (c *fakeConn) Close() {
	c.b.mu.Lock()
	defer c.b.mu.Unlock()
	c.closed = true
}

// snapshot returns the sessions under the lock.
func (b *fakeBroker) snapshot() map[string][]fakeConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]fakeConn{}
	for id, cs := range b.sessions {
		for _, c := range cs {
			cp := *c
			cp.msgs = slices.Clone(c.msgs)
			out[id] = append(out[id], cp)
		}
	}
	return out
}

func TestDemoRunReconnectsAfterOutagesAndStops(t *testing.T) {
	fb := &fakeBroker{sessions: map[string][]*fakeConn{}, failNext: 3}
	sim := &demo.Simulator{Dial: fb.dial, Seed: 3, Interval: 2 * time.Millisecond, Speed: 20}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()

	// Every phone loses its network at least once and comes back.
	eventstest.WaitFor(t, 20*time.Second, "every phone to reconnect after an outage", func() bool {
		s := fb.snapshot()
		if len(s) != demo.Friends {
			return false
		}
		for _, conns := range s {
			if len(conns) < 2 || !conns[0].dropped || len(conns[1].msgs) == 0 {
				return false
			}
		}
		return true
	})
	// A command on …/cmd is answered.
	s := fb.snapshot()
	for _, conns := range s {
		last := conns[len(conns)-1]
		if !last.dropped {
			last.s.OnCommand([]byte(`{"_type":"cmd","action":"reportLocation"}`))
			break
		}
	}
	eventstest.WaitFor(t, 10*time.Second, "an answer to reportLocation", func() bool {
		for _, conns := range fb.snapshot() {
			for _, c := range conns {
				for _, m := range c.msgs {
					if msg, err := owntracks.Decode(m.Topic, m.Payload, nil); err == nil &&
						msg.Kind == owntracks.KindLocation && msg.Location.Trigger == "r" {
						return true
					}
				}
			}
		}
		return false
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	for id, conns := range fb.snapshot() {
		for i, c := range conns {
			// Each connection registers an lwt dated when it connected.
			will, err := owntracks.Decode(c.s.Will.Topic, c.s.Will.Payload, nil)
			if err != nil || will.Kind != owntracks.KindLWT || c.s.Will.Retain {
				t.Errorf("%s #%d: will %s: %v", id, i, c.s.Will.Payload, err)
			}
			if c.s.CmdTopic != c.s.Will.Topic+"/cmd" {
				t.Errorf("%s: cmd topic %q", id, c.s.CmdTopic)
			}
			// All but the last were dropped; the last was closed (or
			// dropped, when the phone was offline at the end).
			if last := i == len(conns)-1; (last && !c.closed && !c.dropped) || (!last && (c.closed || !c.dropped)) {
				t.Errorf("%s #%d: dropped %v closed %v", id, i, c.dropped, c.closed)
			}
			for _, m := range c.msgs {
				if _, err := owntracks.Decode(m.Topic, m.Payload, nil); err != nil {
					t.Errorf("%s: %s %s: %v", id, m.Topic, m.Payload, err)
				}
			}
		}
		// Card and regions on the first connection only, first of all.
		first := conns[0].msgs
		if len(first) < 2 || first[0].Topic != conns[0].s.Will.Topic+"/info" || first[1].Topic != conns[0].s.Will.Topic+"/waypoints" {
			t.Errorf("%s: first connection began with %v", id, topics(first))
		}
		// What happened while offline is sent after reconnecting, marked conn "o".
		var offline bool
		for _, m := range conns[1].msgs {
			var l struct {
				Conn string `json:"conn"`
			}
			if json.Unmarshal(m.Payload, &l) == nil && l.Conn == "o" {
				offline = true
			}
		}
		if !offline {
			t.Errorf("%s: no queued offline fix sent after reconnecting", id)
		}
	}
}

func topics(ms []demo.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Topic)
	}
	return out
}

func TestDemoRunNeedsABroker(t *testing.T) {
	for _, b := range []demo.Broker{{}, {URL: "ftp://example.org"}, {URL: "ssl://127.0.0.1:1", CAFile: "/nonexistent"}} {
		if err := (&demo.Simulator{Broker: b}).Run(t.Context()); err == nil {
			t.Errorf("Run with %+v succeeded", b)
		}
	}
}

// The phones through the real embedded broker: everything is logged as
// the broker's (a phone's) message, decodes, and a dropped phone's will
// arrives as an lwt before it comes back.
func TestDemoRunThroughEmbeddedBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a broker for several seconds")
	}
	log := eventstest.OpenLog(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0"}, log, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- b.Run(ctx) })
	sim := &demo.Simulator{Broker: demo.Broker{URL: "tcp://" + b.Addr()}, Seed: 1, Interval: 20 * time.Millisecond, Speed: 10, Logger: logger}
	wg.Go(func() { errs <- sim.Run(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}()

	all := func() []events.Event {
		var out []events.Event
		_ = log.Scan(t.Context(), 1, func(e events.Event) error { out = append(out, e); return nil })
		return out
	}
	// A phone vanishes (lwt) and comes back (a location after it).
	eventstest.WaitFor(t, 30*time.Second, "an lwt followed by the phone's return", func() bool {
		lwt := map[string]bool{}
		for _, e := range all() {
			m, err := owntracks.Decode(e.Topic, e.Payload, nil)
			if err != nil {
				continue
			}
			dev := m.Topic.User + "/" + m.Topic.Device
			switch m.Kind {
			case owntracks.KindLWT:
				lwt[dev] = true
			case owntracks.KindLocation:
				if lwt[dev] {
					return true
				}
			}
		}
		return false
	})
	// Locate now: the server's command reaches the phone, which answers
	// (asked again each second: an offline phone misses it).
	var asked time.Time
	eventstest.WaitFor(t, 30*time.Second, "the answer to reportLocation", func() bool {
		if time.Since(asked) > time.Second {
			asked = time.Now()
			if err := b.Publish(ctx, "owntracks/dev/iphone/cmd", []byte(`{"_type":"cmd","action":"reportLocation"}`), 1, false); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range all() {
			m, err := owntracks.Decode(e.Topic, e.Payload, nil)
			if err == nil && m.Kind == owntracks.KindLocation && m.Location.Trigger == "r" && m.Topic.User == "dev" {
				return true
			}
		}
		return false
	})

	kinds := map[owntracks.Kind]int{}
	devices := map[string]bool{}
	for _, e := range all() {
		m, err := owntracks.Decode(e.Topic, e.Payload, nil)
		if err != nil {
			t.Errorf("seq %d %s %s: %v", e.Seq, e.Topic, e.Payload, err)
			continue
		}
		kinds[m.Kind]++
		if m.Kind == owntracks.KindCmd {
			if e.Source != events.SourceServer {
				t.Errorf("cmd from %s", e.Source)
			}
			continue
		}
		devices[m.Topic.User+"/"+m.Topic.Device] = true
		if e.Source != events.SourceEmbedded {
			t.Errorf("seq %d (%s) has source %q, want %q: the fold would ignore it", e.Seq, m.Kind, e.Source, events.SourceEmbedded)
		}
		if wantRetained := m.Kind == owntracks.KindLocation || m.Kind == owntracks.KindCard; e.Retained != wantRetained || e.QoS != 1 {
			t.Errorf("seq %d (%s): retained %v qos %d", e.Seq, m.Kind, e.Retained, e.QoS)
		}
	}
	if len(devices) != demo.Friends {
		t.Errorf("%d devices published: %v", len(devices), devices)
	}
	for _, k := range []owntracks.Kind{owntracks.KindLocation, owntracks.KindTransition, owntracks.KindLWT,
		owntracks.KindCard, owntracks.KindWaypoints} {
		if kinds[k] == 0 {
			t.Errorf("no %s logged: %v", k, kinds)
		}
	}
}
