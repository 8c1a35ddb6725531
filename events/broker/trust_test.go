package broker_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// persistent keeps the client's session (and what is queued in it) on the
// broker while it is offline, like the OwnTracks app.
func persistent(o *paho.ClientOptions) { o.SetCleanSession(false) }

// onMessage sends every message paho delivers outside a subscription
// callback (a session's queued messages after a reconnect) to ch.
func onMessage(ch chan<- eventstest.Received) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			select {
			case ch <- eventstest.Received{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), QoS: m.Qos(), Retained: m.Retained()}:
			default:
			}
		})
	}
}

// A client id in use by one user's session cannot be taken by another
// user, online or offline, and nothing queued in the session reaches the
// intruder; the owner's phone still reconnects to its session.
func TestClientIDTakeoverByAnotherUserRefused(t *testing.T) {
	acc := newTestAccounts()
	f := startBroker(t, broker.Config{Accounts: acc}, badgerlog.Options{})

	alice := eventstest.Connect(t, f.addr, "alice-phone", login("alice"), persistent)
	eventstest.Subscribe(t, alice, "owntracks/#", 1)
	alice.Disconnect(50) // offline; the session stays
	root := eventstest.Connect(t, f.addr, "root-console", login("root"))
	hidden := location(1, 1) // carol may not see root
	eventstest.Publish(t, root, "owntracks/root/phone", 1, false, hidden)

	// Offline session: carol presents alice's phone's client id.
	intruder := make(chan eventstest.Received, 16)
	if c, err := eventstest.TryConnect(f.addr, "alice-phone", login("carol"), persistent, onMessage(intruder)); err == nil {
		c.Disconnect(0)
		t.Fatal("carol took over alice's offline session")
	} else if !strings.Contains(err.Error(), "not Authorized") {
		t.Errorf("takeover refused with %q, want not authorized", err)
	}
	expectNothing(t, intruder, 300*time.Millisecond)
	_, code, err := dialRawAs(f.addr, "alice-phone", rawLogin{version: 5, user: "carol", password: "pc", persistent: true})
	if err != nil || code != 0x87 {
		t.Errorf("MQTT 5 takeover: CONNACK code %#x (%v), want 0x87 not authorized", code, err)
	}

	// The owner reconnects (a phone back on the network): session and
	// queued message are there.
	own := make(chan eventstest.Received, 16)
	alice = eventstest.Connect(t, f.addr, "alice-phone", login("alice"), persistent, onMessage(own))
	if m := next(t, own, 5*time.Second); m.Topic != "owntracks/root/phone" || !bytes.Equal(m.Payload, hidden) {
		t.Errorf("alice's queued message: got %s %q", m.Topic, m.Payload)
	}

	// Online session: refused too, and alice is not kicked off.
	if c, err := eventstest.TryConnect(f.addr, "alice-phone", login("carol"), persistent, onMessage(intruder)); err == nil {
		c.Disconnect(0)
		t.Fatal("carol took over alice's live session")
	}
	time.Sleep(200 * time.Millisecond)
	if !alice.IsConnectionOpen() {
		t.Error("alice's phone was disconnected by someone else's takeover attempt")
	}
	eventstest.Publish(t, root, "owntracks/root/phone", 1, false, location(1, 2))
	next(t, own, 5*time.Second)
	expectNothing(t, intruder, 300*time.Millisecond)
	// (paho tries MQTT 3.1.1, then 3.1: two refusals per paho attempt)
	if got := f.broker.Stats().TakeoversRefused; got < 3 {
		t.Errorf("takeovers refused = %d, want at least 3", got)
	}

	// The same user taking over her own live session (a phone that
	// reconnects before the broker noticed the old connection died) works.
	again := eventstest.Connect(t, f.addr, "alice-phone", login("alice"), persistent)
	eventstest.WaitFor(t, 2*time.Second, "the old connection to be replaced", func() bool { return !alice.IsConnectionOpen() })
	if !again.IsConnectionOpen() {
		t.Error("alice could not take over her own session")
	}
}

// Messages queued in an offline session are checked against the sharing
// rule when they are delivered, not when they were queued.
func TestQueuedMessagesFollowCurrentSharing(t *testing.T) {
	acc := newTestAccounts()
	f := startBroker(t, broker.Config{Accounts: acc}, badgerlog.Options{})
	carol := eventstest.Connect(t, f.addr, "carol-phone", login("carol"), persistent)
	eventstest.Subscribe(t, carol, "owntracks/+/+", 1)
	carol.Disconnect(50)

	bob := eventstest.Connect(t, f.addr, "bob-phone", login("bob"))
	eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, location(2, 1)) // queued for carol
	acc.shareWithCarol()                                                        // bob stops sharing with carol

	got := make(chan eventstest.Received, 16)
	carol = eventstest.Connect(t, f.addr, "carol-phone", login("carol"), persistent, onMessage(got))
	expectNothing(t, got, 500*time.Millisecond)

	acc.shareWithCarol("bob") // and shares again: from the next message on
	eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, location(2, 2))
	if m := next(t, got, 5*time.Second); !bytes.Equal(m.Payload, location(2, 2)) {
		t.Errorf("carol got %q, want bob's new location", m.Payload)
	}
	_ = carol
}

// Commands go to the phone they are addressed to: no other subscriber
// receives them, whatever it may otherwise see.
func TestCommandsReachOnlyTheirPhone(t *testing.T) {
	f := startBroker(t, broker.Config{Accounts: newTestAccounts()}, badgerlog.Options{})
	bob := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "bob-phone", login("bob")), "owntracks/bob/#", 1)
	carol := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "carol-phone", login("carol")), "owntracks/#", 1)
	alice := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "alice-phone", login("alice")), "owntracks/+/+/cmd", 1)
	root := eventstest.Connect(t, f.addr, "root-console", login("root"))

	eventstest.Publish(t, root, "owntracks/bob/phone/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	if m := next(t, bob, 5*time.Second); m.Topic != "owntracks/bob/phone/cmd" {
		t.Errorf("bob got %s, want his command", m.Topic)
	}
	expectNothing(t, carol, 300*time.Millisecond)
	expectNothing(t, alice, 100*time.Millisecond)
}

// MQTT logins go through the accounts' limiter with the client's address:
// after the limit, wrong passwords are refused without a password check.
// Service accounts are limited the same way.
func TestLoginsAreRateLimited(t *testing.T) {
	acc := newTestAccounts()
	f := startBroker(t, broker.Config{Accounts: acc, Users: map[string]string{"bridge": "s3cret"}}, badgerlog.Options{})
	const tries = 200
	refused := 0
	for n := range tries {
		user := "alice"
		if n%2 == 1 {
			user = "bridge"
		}
		c, code, err := dialRawAs(f.addr, "guesser", rawLogin{user: user, password: "guess"})
		if err != nil {
			t.Fatal(err)
		}
		if c != nil {
			_ = c.Close()
			t.Fatalf("guess %d accepted", n)
		}
		if code == 0x04 || code == 0x05 {
			refused++
		}
	}
	if refused != tries {
		t.Errorf("%d of %d guesses got a refusal CONNACK", refused, tries)
	}
	if got := acc.checks.Load(); got > maxTestFails {
		t.Errorf("%d passwords checked for %d guesses, want at most %d", got, tries, maxTestFails)
	}
	acc.mu.Lock()
	defer acc.mu.Unlock()
	for _, r := range acc.remotes {
		if host, _, err := net.SplitHostPort(r); err != nil || host != "127.0.0.1" {
			t.Fatalf("limiter given remote %q, want the client's 127.0.0.1:port", r)
		}
	}
	if f.broker.Stats().LoginsRefused != tries {
		t.Errorf("logins refused = %d, want %d", f.broker.Stats().LoginsRefused, tries)
	}
}

// A packet over the limit ends the connection: MQTT 3.1.1 clients see it
// close, MQTT 5 clients first get DISCONNECT 0x95 "packet too large". Each
// is one log line and counted; nothing is logged as an event.
func TestOversizePacketDisconnects(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version byte
	}{{"MQTT 3.1.1", 4}, {"MQTT 5", 5}} {
		t.Run(tc.name, func(t *testing.T) {
			f := startBroker(t, broker.Config{MaxPacketSize: 4096}, badgerlog.Options{})
			c, code, err := dialRawAs(f.addr, "big", rawLogin{version: tc.version})
			if err != nil || code != 0 {
				t.Fatalf("connect: %#x %v", code, err)
			}
			defer c.Close()
			body := appendString(nil, "owntracks/big/phone")
			body = append(body, 0, 1) // packet id
			if tc.version == 5 {
				body = append(body, 0) // no properties
			}
			body = append(body, bytes.Repeat([]byte{'x'}, 8192)...)
			// The broker may close before all of it is written.
			_ = c.writePacket(0x32, body)
			_ = c.w.Flush()
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			typ, reply, err := c.readPacket()
			if tc.version == 5 {
				if err != nil || typ>>4 != 14 || len(reply) < 1 || reply[0] != 0x95 {
					t.Fatalf("got packet type %d %x (%v), want DISCONNECT 0x95", typ>>4, reply, err)
				}
				_, _, err = c.readPacket()
			}
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("connection still open after an oversize packet (%v)", err)
			}
			eventstest.WaitFor(t, 2*time.Second, "the counter", func() bool { return f.broker.Stats().TooLarge == 1 })
			if n := strings.Count(f.logs.String(), "packet too large"); n != 1 {
				t.Errorf("%d log lines about the packet, want 1:\n%s", n, f.logs.String())
			}
			if f.log.Head() != 0 {
				t.Error("an oversize packet was logged as an event")
			}
		})
	}
}

// A connection that sends no CONNECT is closed after ConnectTimeout.
func TestConnectRequiredInTime(t *testing.T) {
	f := startBroker(t, broker.Config{ConnectTimeout: 300 * time.Millisecond}, badgerlog.Options{})
	conn, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("read on a silent connection: %v, want it closed by the broker", err)
	}
	eventstest.WaitFor(t, time.Second, "the counter", func() bool { return f.broker.Stats().ConnectTimeouts == 1 })
	// A client that does connect keeps its connection past the deadline.
	c, code, err := dialRawAs(f.addr, "prompt", rawLogin{})
	if err != nil || code != 0 {
		t.Fatalf("connect: %#x %v", code, err)
	}
	defer c.Close()
	time.Sleep(500 * time.Millisecond)
	if err := c.subscribe("owntracks/#"); err != nil {
		t.Errorf("connected client dropped at the CONNECT deadline: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// One address may hold MaxConnsPerAddr connections; the next is closed
// unanswered, and a slot frees when a connection ends.
func TestConnectionsPerAddressCapped(t *testing.T) {
	f := startBroker(t, broker.Config{MaxConnsPerAddr: 3}, badgerlog.Options{})
	var open []*rawClient
	for n := range 3 {
		c, code, err := dialRawAs(f.addr, "c"+string(rune('a'+n)), rawLogin{})
		if err != nil || code != 0 {
			t.Fatalf("connection %d: %#x %v", n, code, err)
		}
		open = append(open, c)
	}
	if c, _, err := dialRawAs(f.addr, "fourth", rawLogin{}); err == nil {
		_ = c.Close()
		t.Fatal("a fourth connection from one address was accepted")
	}
	if got := f.broker.Stats().AddrCapRefused; got != 1 {
		t.Errorf("refused = %d, want 1", got)
	}
	_ = open[0].Close()
	eventstest.WaitFor(t, 2*time.Second, "a slot to free", func() bool {
		c, code, err := dialRawAs(f.addr, "fourth", rawLogin{})
		if err != nil || code != 0 {
			return false
		}
		open = append(open, c)
		return true
	})
	for _, c := range open {
		_ = c.Close()
	}
}

// An offline session holds at most MaxQueued messages, and is dropped
// with them after SessionExpiry.
func TestOfflineQueueCappedAndSessionsExpire(t *testing.T) {
	acc := newTestAccounts()
	f := startBroker(t, broker.Config{Accounts: acc, MaxQueued: 5, SessionExpiry: time.Second}, badgerlog.Options{})
	sub := func(id string) {
		c := eventstest.Connect(t, f.addr, id, login("alice"), persistent)
		eventstest.Subscribe(t, c, "owntracks/bob/#", 1)
		c.Disconnect(50)
	}
	sub("alice-phone")
	bob := eventstest.Connect(t, f.addr, "bob-phone", login("bob"))
	for n := range 20 {
		eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, location(3, n))
	}
	got := make(chan eventstest.Received, 64)
	eventstest.Connect(t, f.addr, "alice-phone", login("alice"), persistent, onMessage(got))
	next(t, got, 5*time.Second)
	time.Sleep(time.Second) // the rest of the queue
	if n := 1 + len(got); n != 5 {
		t.Errorf("reconnected session got %d queued messages, want 5 (MaxQueued)", n)
	}

	// A phone that eventstest.Received but never acknowledged (a dead network) keeps
	// only the newest MaxQueued of those when its connection ends.
	stuck, code, err := dialRawAs(f.addr, "stuck-phone", rawLogin{user: "alice", password: "pa", persistent: true})
	if err != nil || code != 0 {
		t.Fatalf("connect: %#x %v", code, err)
	}
	if err := stuck.subscribeQoS("owntracks/bob/#", 1); err != nil {
		t.Fatal(err)
	}
	for n := range 20 {
		eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, location(5, n))
	}
	_ = stuck.Close()
	time.Sleep(200 * time.Millisecond)
	got = make(chan eventstest.Received, 64)
	eventstest.Connect(t, f.addr, "stuck-phone", login("alice"), persistent, onMessage(got))
	kept := []eventstest.Received{next(t, got, 5*time.Second)}
	time.Sleep(time.Second)
	for len(got) > 0 {
		kept = append(kept, <-got)
	}
	if len(kept) != 5 {
		t.Errorf("reconnected stuck session got %d messages, want 5 (MaxQueued)", len(kept))
	}
	for _, m := range kept {
		if !slices.ContainsFunc([]int{15, 16, 17, 18, 19}, func(n int) bool { return bytes.Equal(m.Payload, location(5, n)) }) {
			t.Errorf("kept %q, want only the newest 5", m.Payload)
		}
	}

	// Abandoned: after the expiry the session is gone.
	sub("abandoned-phone")
	eventstest.WaitFor(t, 5*time.Second, "the session to expire", func() bool { return f.broker.Stats().SessionsExpired >= 1 })
	eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, location(3, 99))
	got = make(chan eventstest.Received, 64)
	eventstest.Connect(t, f.addr, "abandoned-phone", login("alice"), persistent, onMessage(got))
	expectNothing(t, got, 500*time.Millisecond)
}

// A refused publish is one short log line, whatever its size.
func TestRefusedPublishLogsOneLineWithoutPayload(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  broker.Config
		want string
	}{
		{"not allowed", broker.Config{MaxPacketSize: 4 << 20}, "publish refused"},
		{"too large", broker.Config{}, "packet too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Accounts = newTestAccounts()
			f := startBroker(t, tc.cfg, badgerlog.Options{})
			c, code, err := dialRawAs(f.addr, "carol-phone", rawLogin{user: "carol", password: "pc"})
			if err != nil || code != 0 {
				t.Fatalf("connect: %#x %v", code, err)
			}
			defer c.Close()
			before := f.logs.Len()
			payload := bytes.Repeat([]byte(`{"_type":"location"}`), 2<<20/20)
			_ = c.publish1("owntracks/bob/phone", 1, payload) // the broker may close before all of it is written
			_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := c.readPacket(); err == nil {
				t.Fatal("refused publish answered")
			}
			eventstest.WaitFor(t, 2*time.Second, "the log line", func() bool { return strings.Contains(f.logs.String(), tc.want) })
			time.Sleep(100 * time.Millisecond)
			logged := f.logs.String()[before:]
			t.Logf("%d-byte publish refused; log: %d bytes", len(payload), len(logged))
			if len(logged) > 1024 || strings.Count(logged, "\n") != 1 {
				t.Errorf("refused publish logged %d bytes in %d lines, want one short line:\n%.2000s", len(logged), strings.Count(logged, "\n"), logged)
			}
		})
	}
}

// Removing a user or changing the password ends that user's MQTT
// connections (Revoke) within a second, and until then nothing more is
// accepted from or delivered to them.
func TestRevokeDisconnectsChangedUsers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*testAccounts)
		all    bool // RevokeAll (after a rebuild) instead of Revoke("alice")
	}{
		{"removed", func(a *testAccounts) { a.remove("alice") }, false},
		{"password changed", func(a *testAccounts) { a.setPassword("alice", "new") }, false},
		{"removed, after a rebuild", func(a *testAccounts) { a.remove("alice") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := newTestAccounts()
			f := startBroker(t, broker.Config{Accounts: acc}, badgerlog.Options{})
			lost := make(chan time.Time, 1)
			alice := eventstest.Connect(t, f.addr, "alice-phone", login("alice"), persistent, func(o *paho.ClientOptions) {
				o.SetConnectionLostHandler(func(paho.Client, error) { lost <- time.Now() })
			})
			got := eventstest.Subscribe(t, alice, "owntracks/bob/#", 1)
			bystander := eventstest.Subscribe(t, eventstest.Connect(t, f.addr, "bob-phone", login("bob")), "owntracks/#", 1)
			bob := eventstest.Connect(t, f.addr, "bob-console", login("bob"))

			tc.change(acc)
			// Before Revoke runs: deliveries stop and publishes are refused.
			eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, location(4, 1))
			next(t, bystander, 5*time.Second)
			expectNothing(t, got, 300*time.Millisecond)
			head := f.log.Head()
			tok := alice.Publish("owntracks/alice/phone", 1, false, location(4, 2))
			if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
				t.Error("publish acknowledged after the change")
			}
			if f.log.Head() != head {
				t.Error("publish after the change was logged")
			}
			select {
			case <-lost:
			case <-time.After(3 * time.Second):
				t.Fatal("refused publish did not end the connection")
			}

			// Revoke ends a connection still open.
			acc2 := newTestAccounts()
			f2 := startBroker(t, broker.Config{Accounts: acc2}, badgerlog.Options{})
			lost2 := make(chan time.Time, 1)
			eventstest.Connect(t, f2.addr, "alice-phone", login("alice"), persistent, func(o *paho.ClientOptions) {
				o.SetConnectionLostHandler(func(paho.Client, error) { lost2 <- time.Now() })
			})
			tc.change(acc2)
			eventstest.Connect(t, f2.addr, "bob-phone", login("bob"))
			start := time.Now()
			revoke := func() int { return f2.broker.Revoke("alice") }
			if tc.all {
				revoke = f2.broker.RevokeAll
			}
			if n := revoke(); n != 1 {
				t.Errorf("Revoke ended %d connections, want 1 (alice's, not bob's)", n)
			}
			select {
			case at := <-lost2:
				t.Logf("%s: disconnected %v after Revoke", tc.name, at.Sub(start))
				if at.Sub(start) > time.Second {
					t.Errorf("disconnected after %v, want within 1s", at.Sub(start))
				}
			case <-time.After(3 * time.Second):
				t.Fatal("connection still open 3s after Revoke")
			}
			if n := f2.broker.Revoke("bob"); n != 0 {
				t.Errorf("Revoke of an unchanged user ended %d connections", n)
			}
			if _, err := eventstest.TryConnect(f2.addr, "alice-phone", login("alice")); err == nil {
				t.Error("old password still logs in")
			}
		})
	}
}
