package mqttingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
)

// counterPayload is a location message carrying the publisher's counter.
func counterPayload(pub, n int) []byte {
	return fmt.Appendf(nil, `{"_type":"location","tid":"%02d","lat":52.52,"lon":13.40,"tst":1718000000,"n":%d}`, pub%100, n)
}

func counterOf(t testing.TB, e events.Event) int {
	t.Helper()
	var p struct{ N *int }
	if err := json.Unmarshal(e.Payload, &p); err != nil || p.N == nil {
		t.Fatalf("event %d on %s: payload %q has no counter: %v", e.Seq, e.Topic, e.Payload, err)
	}
	return *p.N
}

// publisherTopic is the topic of publisher i.
func publisherTopic(i int) string { return fmt.Sprintf("owntracks/user%d/phone", i) }

// checkCounters verifies the log: per topic, first deliveries carry
// strictly increasing counters (nothing reordered), a repeated counter is
// flagged DuplicateOf, and it returns the set of counters seen per topic.
func checkCounters(t testing.TB, all []events.Event, source string) map[string]map[int]bool {
	t.Helper()
	seen := map[string]map[int]bool{}
	last := map[string]int{}
	for _, e := range all {
		if !strings.HasPrefix(e.Topic, "owntracks/user") {
			continue
		}
		if e.Source != source || e.QoS != 1 {
			t.Errorf("event %d: source %q qos %d, want %q qos 1", e.Seq, e.Source, e.QoS, source)
		}
		n := counterOf(t, e)
		if seen[e.Topic] == nil {
			seen[e.Topic] = map[int]bool{}
			last[e.Topic] = -1
		}
		if seen[e.Topic][n] {
			// A publisher that saw no PUBACK (the broker went away) sends
			// the message again as a new one: Mosquitto forwards it without
			// DUP, right after the first copy, and nothing in the transport
			// tells us; it is stored again. The broker's own redelivery to
			// our session carries DUP and must be recognised.
			publisherResend := !e.Dup && n == last[e.Topic]
			if e.DuplicateOf == 0 && !publisherResend {
				t.Errorf("event %d: %s counter %d logged again without DuplicateOf (dup=%v, last on topic %d)", e.Seq, e.Topic, n, e.Dup, last[e.Topic])
			}
			continue
		}
		if n <= last[e.Topic] {
			t.Errorf("event %d: %s counter %d after %d: out of order", e.Seq, e.Topic, n, last[e.Topic])
		}
		seen[e.Topic][n] = true
		last[e.Topic] = n
	}
	return seen
}

// TestManyPublishers: 10,000 QoS 1 messages from 20 concurrent publishers
// all reach the log, in each publisher's order.
func TestManyPublishers(t *testing.T) {
	const publishers = 20
	perPublisher := 500
	if testing.Short() {
		perPublisher = 50
	}
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	l := eventstest.OpenLog(t)
	in := startIngest(t, Config{Broker: broker.URL, ClientID: "tracker-many"}, l)
	probe(t, broker.URL, l, "many")

	start := time.Now()
	var wg sync.WaitGroup
	for p := range publishers {
		c := connectClient(t, broker.URL, fmt.Sprintf("pub-%d", p), nil)
		wg.Go(func() {
			toks := make([]mqtt.Token, 0, perPublisher)
			for n := range perPublisher {
				toks = append(toks, c.Publish(publisherTopic(p), 1, false, counterPayload(p, n)))
			}
			for _, tok := range toks {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					t.Errorf("publisher %d: %v", p, tok.Error())
					return
				}
			}
		})
	}
	wg.Wait()
	published := time.Since(start)

	total := publishers * perPublisher
	unique := func() int {
		n := 0
		for _, s := range checkCounters(t, allEvents(t, l), in.Source()) {
			n += len(s)
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for got := unique(); got != total; got = unique() {
		if time.Now().After(deadline) || t.Failed() {
			t.Fatalf("log holds %d of %d messages", got, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d messages: published in %s, all durable after %s", total, published.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	for p := range publishers {
		// checkCounters saw every counter once, in order; spot-check the
		// envelope too.
		e := waitLog(t, l, time.Second, "first message", func(e events.Event) bool { return e.Topic == publisherTopic(p) })
		if !bytes.Equal(e.Payload, counterPayload(p, 0)) || e.Retained || e.Received.IsZero() {
			t.Errorf("publisher %d first event = %+v", p, e)
		}
	}
}

// TestBrokerRestart: with publishers sending continuously, the broker is
// stopped and started again. The ingest reconnects by itself, every
// message a publisher got a PUBACK for ends up in the log, and the broker
// (which kept our session) does not replay retained messages.
func TestBrokerRestart(t *testing.T) {
	const publishers = 4
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	l := eventstest.OpenLog(t)
	rec := newRecorder(l)

	card := connectClient(t, broker.URL, "card", nil)
	eventstest.Publish(t, card, "owntracks/alice/phone/info", 1, true, []byte(`{"_type":"card","tid":"al","name":"Alice"}`))
	card.Disconnect(100)

	in := startIngest(t, Config{Broker: broker.URL, ClientID: "tracker-restart", MaxReconnectInterval: time.Second}, rec)
	probe(t, broker.URL, l, "restart")

	stopPub := make(chan struct{})
	acked := make([][]int, publishers)
	var wg sync.WaitGroup
	for p := range publishers {
		c := connectClient(t, broker.URL, fmt.Sprintf("restart-pub-%d", p), func(o *mqtt.ClientOptions) {
			o.SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond)
		})
		wg.Go(func() {
			for n := 0; ; n++ {
				for { // retry this message until the broker acknowledges it
					select {
					case <-stopPub:
						return
					default:
					}
					tok := c.Publish(publisherTopic(p), 1, false, counterPayload(p, n))
					if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
						acked[p] = append(acked[p], n)
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	count := func() int {
		n := 0
		for _, e := range allEvents(t, l) {
			if strings.HasPrefix(e.Topic, "owntracks/user") {
				n++
			}
		}
		return n
	}
	eventstest.WaitFor(t, 10*time.Second, "messages before the restart", func() bool { return count() >= 100 })

	broker.Stop(t)
	eventstest.WaitFor(t, 10*time.Second, "ingest to notice the broker is gone", func() bool { return !in.Connected() })
	time.Sleep(300 * time.Millisecond)
	broker.Start(t)
	eventstest.WaitFor(t, 15*time.Second, "ingest to reconnect", in.Connected)
	before := count()
	eventstest.WaitFor(t, 15*time.Second, "messages after the restart", func() bool { return count() >= before+100 })
	close(stopPub)
	wg.Wait()

	want := 0
	for p := range publishers {
		want += len(acked[p])
	}
	var seen map[string]map[int]bool
	deadline := time.Now().Add(20 * time.Second)
	for {
		seen = checkCounters(t, allEvents(t, l), in.Source())
		missing := 0
		for p := range publishers {
			for _, n := range acked[p] {
				if !seen[publisherTopic(p)][n] {
					missing++
				}
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) || t.Failed() {
			t.Fatalf("%d of %d acknowledged messages missing from the log", missing, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !in.logs.contains("reconnected to MQTT broker") || !in.logs.contains("lost connection") {
		t.Errorf("disconnect and reconnect not logged")
	}
	retained := rec.count(func(r appendResult) bool { return r.ev.Retained })
	if retained != 1 {
		t.Errorf("retained card handed to the log %d times, want 1 (no re-subscribe while the broker kept the session)", retained)
	}
	t.Logf("%d messages acknowledged to publishers across the restart, all in the log", want)
}

// TestBrokerLostSession: when the broker comes back without our session
// (restarted without persistence), the ingest subscribes again.
func TestBrokerLostSession(t *testing.T) {
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	l := eventstest.OpenLog(t)
	in := startIngest(t, Config{Broker: broker.URL, ClientID: "tracker-lost", MaxReconnectInterval: 200 * time.Millisecond}, l)
	probe(t, broker.URL, l, "before")
	broker.Stop(t)
	broker.ForgetState(t)
	broker.Start(t)
	probe(t, broker.URL, l, "after")
	if !in.logs.contains("kept no session for us") {
		t.Error("lost session not logged")
	}
}

// TestRetainedOnce: a retained card published before the server starts is
// logged once, with Retained set, even though a restarted ingest gets it
// again from the broker.
func TestRetainedOnce(t *testing.T) {
	const topic = "owntracks/alice/phone/info"
	cardPayload := []byte(`{"_type":"card","tid":"al","name":"Alice"}`)
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	c := connectClient(t, broker.URL, "card", nil)
	eventstest.Publish(t, c, topic, 1, true, cardPayload)

	l := eventstest.OpenLog(t)
	cfg := Config{Broker: broker.URL, ClientID: "tracker-retained"}
	isCard := func(e events.Event) bool { return e.Topic == topic }

	first := startIngest(t, cfg, l)
	e := waitLog(t, l, 10*time.Second, "the card", isCard)
	if !e.Retained || !bytes.Equal(e.Payload, cardPayload) || e.Source != first.Source() {
		t.Fatalf("card event = %+v", e)
	}
	first.stop(t)

	rec := newRecorder(l)
	second := startIngest(t, cfg, rec)
	// The second ingest subscribes again (first connection of an Ingest),
	// so the broker replays the card; the log must recognise it.
	replay := rec.wait(t, 10*time.Second, "the card replay", func(r appendResult) bool { return isCard(r.ev) })
	if !replay.ev.Retained || replay.err != nil || replay.seq != e.Seq {
		t.Errorf("replay: retained %v, acknowledged as seq %d (%v); want retained, seq %d", replay.ev.Retained, replay.seq, replay.err, e.Seq)
	}
	probe(t, broker.URL, l, "retained") // everything before it has completed
	second.stop(t)

	n := 0
	for _, e := range allEvents(t, l) {
		if isCard(e) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("card logged %d times, want 1", n)
	}
}

// TestNoAckBeforeDurable: a message whose append fails is not
// acknowledged, so the broker redelivers it to the next session.
func TestNoAckBeforeDurable(t *testing.T) {
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	cfg := Config{Broker: broker.URL, ClientID: "tracker-noack"}
	pub := connectClient(t, broker.URL, "noack-pub", nil)

	l1 := eventstest.OpenLog(t)
	rec := newRecorder(l1)
	first := startIngest(t, cfg, rec)
	probe(t, broker.URL, l1, "noack") // acknowledged: must not come back
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}
	const topic = "owntracks/bob/phone"
	payload := []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`)
	eventstest.Publish(t, pub, topic, 1, false, payload)
	failed := rec.wait(t, 10*time.Second, "the failed append", func(r appendResult) bool { return r.ev.Topic == topic })
	if !errors.Is(failed.err, events.ErrClosed) {
		t.Fatalf("append error = %v, want ErrClosed", failed.err)
	}
	eventstest.WaitFor(t, 5*time.Second, "the failure in the log", func() bool { return first.logs.contains("leaving it unacknowledged") })
	first.stop(t)

	l2 := eventstest.OpenLog(t)
	startIngest(t, cfg, l2)
	e := waitLog(t, l2, 10*time.Second, "the redelivered message", func(e events.Event) bool { return e.Topic == topic })
	if !bytes.Equal(e.Payload, payload) || !e.Dup || e.QoS != 1 {
		t.Errorf("redelivered event = %+v, want the payload with Dup set", e)
	}
	probe(t, broker.URL, l2, "noack2")
	for _, e := range allEvents(t, l2) {
		if e.Topic == "owntracks/probe/noack" {
			t.Errorf("acknowledged message redelivered: %+v", e)
		}
	}
}

// TestTransports connects over each supported scheme (TLS with a client
// certificate, websockets) and sends a message with Publish that comes
// back through the subscription.
func TestTransports(t *testing.T) {
	pki := eventstest.NewPKI(t)
	plain := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{WebSockets: true})
	secure := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{
		WebSockets: true, CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CAFile: pki.CAFile, RequireCertificate: true,
	})
	users := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{Users: map[string]string{"tracker": "s3cret"}})
	mtls := Config{CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // logged connect failure; empty: must work
	}{
		{name: "tcp", cfg: Config{Broker: plain.URL}},
		{name: "ws", cfg: Config{Broker: plain.WSURL}},
		{name: "ssl mutual TLS", cfg: withBroker(mtls, secure.URL)},
		{name: "wss mutual TLS", cfg: withBroker(mtls, secure.WSURL)},
		{name: "password", cfg: Config{Broker: users.URL, Username: "tracker", Password: "s3cret"}},
		{name: "password in URL", cfg: Config{Broker: strings.Replace(users.URL, "tcp://", "tcp://tracker:s3cret@", 1)}},
		{name: "wrong password", cfg: Config{Broker: users.URL, Username: "tracker", Password: "nope"}, wantErr: "not Authorized"},
		{name: "untrusted broker", cfg: Config{Broker: secure.URL, CAFile: pki.OtherCAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, wantErr: "certificate signed by unknown authority"},
		{name: "no client certificate", cfg: Config{Broker: secure.URL, CAFile: pki.CAFile}, wantErr: "cannot connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := eventstest.OpenLog(t)
			cfg := tt.cfg
			cfg.ClientID = "tracker-" + strings.ReplaceAll(tt.name, " ", "-")
			cfg.MaxReconnectInterval = 200 * time.Millisecond
			in := startIngest(t, cfg, l)
			if strings.Contains(in.Source(), "s3cret") {
				t.Errorf("Source() = %q leaks the password", in.Source())
			}
			if tt.wantErr != "" {
				eventstest.WaitFor(t, 10*time.Second, "connect failure "+tt.wantErr, func() bool {
					return in.logs.contains("cannot connect to MQTT broker") && in.logs.contains(tt.wantErr)
				})
				if in.Connected() {
					t.Error("Connected() = true")
				}
				return
			}
			eventstest.WaitFor(t, 10*time.Second, "connection", in.Connected)
			// Publish works once connected; retry until the subscription
			// is in place (the first message may precede the SUBACK).
			topic := "owntracks/" + cfg.ClientID + "/cmd"
			payload := []byte(`{"_type":"cmd","action":"reportLocation"}`)
			eventstest.WaitFor(t, 10*time.Second, "own message back through the broker", func() bool {
				if err := in.Publish(t.Context(), topic, payload, 1, false); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				for _, e := range allEvents(t, l) {
					if e.Topic == topic && bytes.Equal(e.Payload, payload) {
						return true
					}
				}
				time.Sleep(100 * time.Millisecond)
				return false
			})
		})
	}
}

func withBroker(c Config, url string) Config {
	c.Broker = url
	return c
}

// TestConnectLater: Run keeps retrying while the broker is down at start.
func TestConnectLater(t *testing.T) {
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	broker.Stop(t)
	l := eventstest.OpenLog(t)
	in := startIngest(t, Config{Broker: broker.URL, ClientID: "tracker-later", MaxReconnectInterval: 200 * time.Millisecond}, l)
	eventstest.WaitFor(t, 5*time.Second, "a failed attempt", func() bool { return in.logs.contains("cannot connect to MQTT broker") })
	if err := in.Publish(t.Context(), "owntracks/x/y/cmd", []byte("{}"), 1, false); err == nil {
		t.Error("Publish while never connected succeeded")
	}
	broker.Start(t)
	probe(t, broker.URL, l, "later")
}

// TestRunStopsWhileUnreachable: cancelling Run while the broker cannot be
// reached returns promptly.
func TestRunStopsWhileUnreachable(t *testing.T) {
	eventstest.RequireMosquitto(t)
	l := eventstest.OpenLog(t)
	in := startIngest(t, Config{Broker: "tcp://127.0.0.1:1", ClientID: "tracker-unreachable"}, l)
	eventstest.WaitFor(t, 5*time.Second, "a failed attempt", func() bool { return in.logs.contains("cannot connect to MQTT broker") })
	start := time.Now()
	in.stop(t)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s to return after cancel", d)
	}
}

var _ events.Appender = (*badgerlog.Log)(nil)

// diskFull refuses appends with events.ErrDiskFull while full is set, as
// the Badger log does while the volume is nearly full.
type diskFull struct {
	events.Appender
	full atomic.Bool
}

func (d *diskFull) AppendAsync(e events.Event, done func(uint64, error)) {
	if d.full.Load() {
		done(0, events.ErrDiskFull)
		return
	}
	d.Appender.AppendAsync(e, done)
}

// TestDiskFullThenResume: messages the log refuses (disk full) are not
// acknowledged, and arrive once space returns, although the broker only
// resends on a new connection and stops sending once its window of
// unacknowledged messages is full.
func TestDiskFullThenResume(t *testing.T) {
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	l := eventstest.OpenLog(t)
	full := &diskFull{Appender: l}
	in := startIngest(t, Config{Broker: broker.URL, ClientID: "tracker-full"}, full)
	probe(t, broker.URL, l, "full")

	full.full.Store(true)
	head := l.Head()
	c := connectClient(t, broker.URL, "pub-full", nil)
	const n = 50 // more than Mosquitto's default window of 20
	for i := range n {
		eventstest.Publish(t, c, publisherTopic(0), 1, false, counterPayload(0, i)) // the broker acknowledges the publisher
	}
	time.Sleep(2 * refusedRetry)
	if l.Head() != head {
		t.Fatalf("log moved from %d to %d while full", head, l.Head())
	}
	full.full.Store(false)
	start := time.Now()
	eventstest.WaitFor(t, 30*time.Second, "every refused message in the log", func() bool {
		return len(checkCounters(t, allEvents(t, l), in.Source())[publisherTopic(0)]) == n
	})
	t.Logf("all %d refused messages logged %v after space returned", n, time.Since(start).Round(time.Millisecond))
	if in.logs.contains("lost connection to MQTT broker") {
		t.Error("the reconnects made to have refused messages resent were logged as lost connections")
	}
}
