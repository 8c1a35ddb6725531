package broker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
)

// counterOf extracts the per-publisher counter "n" from a location payload.
func counterOf(tb testing.TB, payload []byte) int {
	tb.Helper()
	var v struct {
		N *int `json:"n"`
	}
	if err := json.Unmarshal(payload, &v); err != nil || v.N == nil {
		tb.Fatalf("payload %q has no counter: %v", payload, err)
	}
	return *v.N
}

// publishWindow publishes count QoS 1 locations for publisher p with at most
// window unacknowledged, and reports every failed acknowledgement.
func publishWindow(tb testing.TB, c paho.Client, topic string, p, count, window int) {
	toks := make([]paho.Token, 0, count)
	wait := func(tok paho.Token) {
		if !tok.WaitTimeout(30 * time.Second) {
			tb.Errorf("%s: no PUBACK within 30s", topic)
		} else if err := tok.Error(); err != nil {
			tb.Errorf("%s: publish failed: %v", topic, err)
		}
	}
	for n := range count {
		if n >= window {
			wait(toks[n-window])
		}
		toks = append(toks, c.Publish(topic, 1, false, location(p, n)))
	}
	for _, tok := range toks[max(0, count-window):] {
		wait(tok)
	}
}

// 20 publishers, 10,000 QoS 1 messages: every PUBACKed message is in the
// log, in per-publisher order, and a QoS 1 subscriber gets all of them.
func TestConcurrentQoS1IngestAndDelivery(t *testing.T) {
	const publishers, perPublisher, window = 20, 500, 10
	const total = publishers * perPublisher
	f := startBroker(t, broker.Config{}, badgerlog.Options{})
	sub := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "subscriber"), "owntracks/#", 1)

	clients := make([]paho.Client, publishers)
	for p := range clients {
		clients[p] = eventstest.Connect(t, f.addr, fmt.Sprintf("publisher-%d", p))
	}
	start := time.Now()
	var wg sync.WaitGroup
	for p, c := range clients {
		wg.Go(func() { publishWindow(t, c, fmt.Sprintf("owntracks/user%d/phone", p), p, perPublisher, window) })
	}
	wg.Wait()
	t.Logf("%d messages PUBACKed in %v", total, time.Since(start))
	if t.Failed() {
		t.FailNow()
	}

	// Every PUBACK means durable: the whole run must be in the log now.
	if h := f.log.Head(); h != total {
		t.Fatalf("log head after all PUBACKs = %d, want %d", h, total)
	}
	nextN := map[string]int{}
	for _, e := range readLog(t, f.log) {
		if e.QoS != 1 || e.Source != events.SourceEmbedded || e.Retained || e.DuplicateOf != 0 {
			t.Errorf("event %d: QoS %d source %q retained %v duplicateOf %d; want QoS 1 from %q, new",
				e.Seq, e.QoS, e.Source, e.Retained, e.DuplicateOf, events.SourceEmbedded)
		}
		if n := counterOf(t, e.Payload); n != nextN[e.Topic] {
			t.Fatalf("event %d on %s has counter %d, want %d (order broken or message lost)", e.Seq, e.Topic, n, nextN[e.Topic])
		}
		nextN[e.Topic]++
	}
	if len(nextN) != publishers {
		t.Errorf("log has %d topics, want %d", len(nextN), publishers)
	}
	for topic, n := range nextN {
		if n != perPublisher {
			t.Errorf("%s: %d events in the log, want %d", topic, n, perPublisher)
		}
	}

	seen := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(seen) < total {
		select {
		case m := <-sub:
			key := fmt.Sprintf("%s#%d", m.Topic, counterOf(t, m.Payload))
			if seen[key] {
				t.Errorf("subscriber got %s twice", key)
			}
			seen[key] = true
			if m.QoS != 1 {
				t.Errorf("subscriber got %s with QoS %d, want 1", key, m.QoS)
			}
		case <-deadline:
			t.Fatalf("subscriber eventstest.Received %d of %d messages", len(seen), total)
		}
	}
}

// The PUBACK for a message arrives only after its event is durable: at the
// instant each PUBACK's bytes reach the client the log's head already
// covers it.
func TestPubackOnlyWhenDurable(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		publishers, perPub   int
		window               int
		checkPayloadAtPuback bool // one sequential publisher: the k-th PUBACK is seq k
	}{
		{name: "sequential", publishers: 1, perPub: 200, window: 1, checkPayloadAtPuback: true},
		{name: "windowed", publishers: 4, perPub: 250, window: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startBroker(t, broker.Config{}, badgerlog.Options{})
			var acked, early atomic.Int64
			var firstErr atomic.Pointer[string]
			onPuback := func(uint16) {
				k := acked.Add(1)
				if h := f.log.Head(); uint64(k) > h {
					early.Add(1)
					msg := fmt.Sprintf("PUBACK #%d arrived with log head %d", k, h)
					firstErr.CompareAndSwap(nil, &msg)
					return
				}
				if tc.checkPayloadAtPuback {
					e, err := f.log.Get(uint64(k))
					if err != nil || !bytes.Equal(e.Payload, location(0, int(k-1))) {
						msg := fmt.Sprintf("PUBACK #%d: event %d not readable with its payload: %v", k, k, err)
						firstErr.CompareAndSwap(nil, &msg)
						early.Add(1)
					}
				}
			}
			clients := make([]paho.Client, tc.publishers)
			for p := range clients {
				clients[p] = eventstest.Connect(t, f.addr, fmt.Sprintf("publisher-%d", p), withAckSpy(onPuback))
			}
			var wg sync.WaitGroup
			for p, c := range clients {
				wg.Go(func() { publishWindow(t, c, fmt.Sprintf("owntracks/user%d/phone", p), p, tc.perPub, tc.window) })
			}
			wg.Wait()
			if n := early.Load(); n > 0 {
				t.Errorf("%d PUBACKs before their event was durable; first: %s", n, *firstErr.Load())
			}
			if got, want := acked.Load(), int64(tc.publishers*tc.perPub); got != want {
				t.Errorf("saw %d PUBACKs on the wire, want %d", got, want)
			}
		})
	}
}

// When the log cannot store a message the publisher gets no
// acknowledgement and subscribers never see the message.
func TestNoAckWhenLogFails(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			f := startBroker(t, broker.Config{}, badgerlog.Options{})
			sub := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "subscriber"), "owntracks/#", 2)
			pub := eventstest.Connect(t, f.addr, "publisher")
			eventstest.Publish(t, pub, "owntracks/alice/phone", qos, false, location(0, 0))
			next(t, sub, 5*time.Second)

			if err := f.log.Close(); err != nil { // appends now fail with events.ErrClosed
				t.Fatal(err)
			}
			tok := pub.Publish("owntracks/alice/phone", qos, false, location(0, 1))
			if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
				t.Fatal("publish was acknowledged although the log is closed")
			}
			expectNothing(t, sub, 300*time.Millisecond)
			if h := f.log.Head(); h != 1 {
				t.Errorf("log head = %d, want 1", h)
			}
		})
	}
}

// A retained QoS 1 message is logged as retained and handed to later
// subscribers; an empty retained payload clears it and is logged too.
func TestRetained(t *testing.T) {
	const topic = "owntracks/alice/phone"
	f := startBroker(t, broker.Config{}, badgerlog.Options{})
	pub := eventstest.Connect(t, f.addr, "publisher")
	payload := location(0, 0)
	eventstest.Publish(t, pub, topic, 1, true, payload)

	got := readLog(t, f.log)
	if len(got) != 1 || got[0].Topic != topic || !got[0].Retained || got[0].QoS != 1 || !bytes.Equal(got[0].Payload, payload) {
		t.Fatalf("log = %+v, want one retained QoS 1 event on %s", got, topic)
	}
	m := next(t, eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "late-subscriber"), "owntracks/#", 1), 5*time.Second)
	if m.Topic != topic || !m.Retained || !bytes.Equal(m.Payload, payload) {
		t.Errorf("new subscriber got %s %q retained=%v, want the retained location", m.Topic, m.Payload, m.Retained)
	}

	eventstest.Publish(t, pub, topic, 1, true, []byte{})
	got = readLog(t, f.log)
	if len(got) != 2 || got[1].Topic != topic || !got[1].Retained || len(got[1].Payload) != 0 {
		t.Fatalf("log = %+v, want a second, empty retained event", got)
	}
	expectNothing(t, eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "later-subscriber"), "owntracks/#", 1), 300*time.Millisecond)
}

// A client's last will is logged when its connection drops without
// DISCONNECT, and not after a clean disconnect.
func TestLastWillLogged(t *testing.T) {
	const topic = "owntracks/u/d"
	will := []byte(`{"_type":"lwt","tst":1718000000}`)
	for _, tc := range []struct {
		name     string
		drop     bool // close the TCP connection instead of DISCONNECT
		wantWill bool
	}{
		{name: "connection dropped", drop: true, wantWill: true},
		{name: "clean disconnect", drop: false, wantWill: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startBroker(t, broker.Config{}, badgerlog.Options{})
			sub := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "subscriber"), "owntracks/#", 1)
			var g connGrabber
			c := eventstest.Connect(t, f.addr, "phone", g.option, func(o *paho.ClientOptions) {
				o.SetBinaryWill(topic, will, 1, false)
			})
			if tc.drop {
				if err := g.drop(); err != nil {
					t.Fatal(err)
				}
			} else {
				c.Disconnect(250)
			}
			if !tc.wantWill {
				expectNothing(t, sub, 500*time.Millisecond)
				if h := f.log.Head(); h != 0 {
					t.Errorf("log head = %d after a clean disconnect, want 0", h)
				}
				return
			}
			eventstest.WaitFor(t, 5*time.Second, "the will in the log", func() bool { return f.log.Head() >= 1 })
			got := readLog(t, f.log)
			if len(got) != 1 || got[0].Topic != topic || !bytes.Equal(got[0].Payload, will) || got[0].Source != events.SourceEmbedded {
				t.Fatalf("log = %+v, want the will on %s", got, topic)
			}
			if m := next(t, sub, 5*time.Second); m.Topic != topic || !bytes.Equal(m.Payload, will) {
				t.Errorf("subscriber got %s %q, want the will", m.Topic, m.Payload)
			}
		})
	}
}

// QoS 0 and QoS 2 publishes are logged and delivered like QoS 1.
func TestQoS0AndQoS2Logged(t *testing.T) {
	for _, qos := range []byte{0, 2} {
		t.Run(fmt.Sprintf("QoS%d", qos), func(t *testing.T) {
			f := startBroker(t, broker.Config{}, badgerlog.Options{})
			sub := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "subscriber"), "owntracks/#", 2)
			pub := eventstest.Connect(t, f.addr, "publisher")
			payload := location(1, int(qos))
			eventstest.Publish(t, pub, "owntracks/bob/phone", qos, false, payload)
			if qos == 2 && f.log.Head() != 1 {
				// QoS 2 blocks the publisher's reader until durable, before PUBREC.
				t.Errorf("log head at PUBCOMP = %d, want 1", f.log.Head())
			}
			eventstest.WaitFor(t, 5*time.Second, "the event in the log", func() bool { return f.log.Head() >= 1 })
			got := readLog(t, f.log)
			if len(got) != 1 || got[0].QoS != qos || !bytes.Equal(got[0].Payload, payload) {
				t.Fatalf("log = %+v, want one QoS %d event", got, qos)
			}
			if m := next(t, sub, 5*time.Second); !bytes.Equal(m.Payload, payload) || m.QoS != qos {
				t.Errorf("subscriber got %q QoS %d, want the QoS %d message", m.Payload, m.QoS, qos)
			}
		})
	}
}

// New refuses anonymous access on listeners other than loopback.
func TestAnonymousOnlyOnLoopback(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  broker.Config
	}{
		{name: "all IPv4 interfaces", cfg: broker.Config{Listen: "0.0.0.0:0"}},
		{name: "all interfaces, empty host", cfg: broker.Config{Listen: ":0"}},
		{name: "all IPv6 interfaces", cfg: broker.Config{Listen: "[::]:0"}},
		{name: "websocket on all interfaces", cfg: broker.Config{Listen: "127.0.0.1:0", WSListen: "0.0.0.0:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := broker.New(tc.cfg, nil, testLogger(t))
			if err == nil {
				t.Fatal("New accepted anonymous access on a non-loopback listener")
			}
			if !strings.Contains(err.Error(), "anonymous access is only allowed on loopback") {
				t.Errorf("error %q does not say why", err)
			}
		})
	}
}

// With users configured the broker may listen on every interface, and
// only the right credentials get in.
func TestLogin(t *testing.T) {
	f := startBroker(t, broker.Config{Listen: "0.0.0.0:0", Users: map[string]string{"alice": "s3cret"}}, badgerlog.Options{})
	addr := strings.Replace(f.addr, "0.0.0.0", "127.0.0.1", 1)
	for _, tc := range []struct {
		name, user, password string
		wantOK               bool
	}{
		{name: "wrong password", user: "alice", password: "secret"},
		{name: "unknown user", user: "mallory", password: "s3cret"},
		{name: "no credentials"},
		{name: "right password", user: "alice", password: "s3cret", wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := eventstest.TryConnect(addr, "phone-"+tc.user, func(o *paho.ClientOptions) {
				o.SetUsername(tc.user).SetPassword(tc.password)
			})
			if !tc.wantOK {
				if err == nil {
					c.Disconnect(0)
					t.Fatal("login accepted")
				}
				return
			}
			if err != nil {
				t.Fatalf("login refused: %v", err)
			}
			defer c.Disconnect(50)
			eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, location(0, 0))
			if h := f.log.Head(); h != 1 {
				t.Errorf("log head = %d, want 1", h)
			}
		})
	}
}

// Nothing a client sends stops the broker from acknowledging and logging
// what follows: every message is PUBACKed and stored byte for byte, in
// order.
func TestBadInputNeverBlocksIngest(t *testing.T) {
	f := startBroker(t, broker.Config{}, badgerlog.Options{})
	pub := eventstest.Connect(t, f.addr, "publisher")
	msgs := []struct {
		name    string
		topic   string
		payload []byte
		retain  bool
	}{
		{name: "malformed JSON", topic: "owntracks/alice/phone", payload: []byte(`{"_type":"location","lat":52.5,`)},
		{name: "not UTF-8", topic: "owntracks/alice/phone", payload: []byte{0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80}},
		// Over the decoder's cap but within the packet limit: logged, and
		// the decoder says why it is not used. (Bigger packets are refused
		// by the broker; see TestOversizePacketDisconnects.)
		{name: "over the payload cap", topic: "owntracks/alice/phone", payload: bytes.Repeat([]byte{'x'}, owntracks.DefaultMaxPayload+1)},
		{name: "empty retained", topic: "owntracks/alice/phone", payload: []byte{}, retain: true},
		{name: "outside owntracks/", topic: "foo/bar", payload: []byte(`{"_type":"location"}`)},
		{name: "two-level topic", topic: "owntracks/alice", payload: []byte(`{"_type":"location"}`)},
		{name: "normal location", topic: "owntracks/alice/phone", payload: location(0, 0)},
	}
	for _, m := range msgs {
		tok := pub.Publish(m.topic, 1, m.retain, m.payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("%s: not PUBACKed: %v", m.name, tok.Error())
		}
	}
	got := readLog(t, f.log)
	if len(got) != len(msgs) {
		t.Fatalf("log has %d events, want %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		e := got[i]
		if e.Seq != uint64(i+1) || e.Topic != m.topic || !bytes.Equal(e.Payload, m.payload) || e.Retained != m.retain {
			t.Errorf("%s: event %d = %s (%d bytes, retained %v), want %s (%d bytes, retained %v) verbatim",
				m.name, e.Seq, e.Topic, len(e.Payload), e.Retained, m.topic, len(m.payload), m.retain)
		}
	}
}

// RestoreRetained gives the broker back the retained messages from the log
// without logging them again; empty payloads (cleared topics) are skipped.
func TestRestoreRetained(t *testing.T) {
	f := startBroker(t, broker.Config{}, badgerlog.Options{})
	restored := []events.Event{
		{Seq: 3, Topic: "owntracks/alice/phone", Payload: location(0, 3), QoS: 1, Retained: true},
		{Seq: 4, Topic: "owntracks/bob/phone", Payload: location(1, 4), QoS: 0, Retained: true},
		{Seq: 5, Topic: "owntracks/carol/phone/info", Payload: []byte(`{"_type":"card","name":"Carol"}`), QoS: 2, Retained: true},
		{Seq: 6, Topic: "owntracks/dave/phone", Payload: nil, QoS: 1, Retained: true},
	}
	f.broker.RestoreRetained(restored)

	sub := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "subscriber"), "owntracks/#", 1)
	want := map[string][]byte{}
	for _, e := range restored[:3] {
		want[e.Topic] = e.Payload
	}
	for range len(want) {
		m := next(t, sub, 5*time.Second)
		if w, ok := want[m.Topic]; !ok || !bytes.Equal(m.Payload, w) || !m.Retained {
			t.Errorf("got %s %q retained=%v, want a restored retained message", m.Topic, m.Payload, m.Retained)
		}
		delete(want, m.Topic)
	}
	expectNothing(t, sub, 300*time.Millisecond)
	if h := f.log.Head(); h != 0 {
		t.Errorf("log head = %d after RestoreRetained, want 0 (nothing logged again)", h)
	}
}

// Publish logs a server-originated message with SourceServer, then
// delivers it.
func TestServerPublish(t *testing.T) {
	for _, tc := range []struct {
		qos    byte
		retain bool
	}{
		{qos: 0}, {qos: 1}, {qos: 2}, {qos: 1, retain: true},
	} {
		t.Run(fmt.Sprintf("QoS%d retain=%v", tc.qos, tc.retain), func(t *testing.T) {
			const topic = "owntracks/alice/phone/cmd"
			payload := []byte(`{"_type":"cmd","action":"reportLocation"}`)
			f := startBroker(t, broker.Config{}, badgerlog.Options{})
			sub := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "phone"), "owntracks/alice/phone/cmd", 2)
			if err := f.broker.Publish(t.Context(), topic, payload, tc.qos, tc.retain); err != nil {
				t.Fatal(err)
			}
			got := readLog(t, f.log)
			if len(got) != 1 || got[0].Source != events.SourceServer || got[0].Topic != topic ||
				!bytes.Equal(got[0].Payload, payload) || got[0].QoS != tc.qos || got[0].Retained != tc.retain {
				t.Fatalf("log = %+v, want the command from %q", got, events.SourceServer)
			}
			if m := next(t, sub, 5*time.Second); m.Topic != topic || !bytes.Equal(m.Payload, payload) || m.QoS != tc.qos {
				t.Errorf("subscriber got %s %q QoS %d, want the command at QoS %d", m.Topic, m.Payload, m.QoS, tc.qos)
			}
			if tc.retain {
				m := next(t, eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "late"), topic, 1), 5*time.Second)
				if !m.Retained || !bytes.Equal(m.Payload, payload) {
					t.Errorf("late subscriber got %q retained=%v, want the retained command", m.Payload, m.Retained)
				}
			}
		})
	}
}

// A client that stops reading (a phone on a dead network that also
// subscribes to its friends) must hold up only itself: other publishers
// keep getting PUBACKs, and shutdown does not wait for it.
func TestStalledClientDoesNotStallIngest(t *testing.T) {
	f := startBroker(t, broker.Config{}, badgerlog.Options{})

	// Keepalive 0: the broker sets no deadline on this connection.
	stalled, err := dialRaw(f.addr, "stalled-phone")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stalled.Close() })
	if err := stalled.subscribe("owntracks/#"); err != nil {
		t.Fatal(err)
	}
	// From here on the stalled client never reads. Fill its socket buffers
	// with deliveries until the broker's writes to it block.
	pub := eventstest.Connect(t, f.addr, "publisher")
	big := bytes.Repeat([]byte("x"), 256<<10)
	for range 96 {
		eventstest.Publish(t, pub, "owntracks/flood/phone", 1, false, big)
	}
	time.Sleep(200 * time.Millisecond) // let the broker's writer block on the full socket
	// The stalled client publishes; its PUBACK cannot be written.
	if err := stalled.publish1("owntracks/stalled/phone", 1, location(9, 0)); err != nil {
		t.Fatal(err)
	}
	eventstest.WaitFor(t, 5*time.Second, "the stalled client's message in the log", func() bool { return f.log.Head() >= 97 })

	for n := range 3 {
		tok := pub.Publish("owntracks/alice/phone", 1, false, location(0, n))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d after a client stalled: no PUBACK within 5s (%v)", n, tok.Error())
		}
	}

	stopped := make(chan error, 1)
	go func() { stopped <- f.stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not shut down within 10s with a stalled client connected")
	}
}

// When the server stops, mochi publishes every connected client's will;
// the phones did not vanish, so those wills must not reach the log (they
// would mark everybody offline at each restart).
func TestShutdownDoesNotLogWills(t *testing.T) {
	f := startBroker(t, broker.Config{}, badgerlog.Options{})
	eventstest.Connect(t, f.addr, "phone-with-will", func(o *paho.ClientOptions) {
		o.SetBinaryWill("owntracks/anna/phone", []byte(`{"_type":"lwt","tst":1718000000}`), 1, false)
	})
	if err := f.stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a late append would land by now
	if h := f.log.Head(); h != 0 {
		t.Fatalf("log has %d events after shutdown, want none (a will was logged)", h)
	}
}
