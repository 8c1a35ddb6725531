package broker_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// publishQoS1 sends one QoS 1 PUBLISH with the given packet id and flags
// and waits for its PUBACK.
func (c *rawClient) publishQoS1(topic string, id uint16, dup, retain bool, payload []byte) error {
	header := byte(0x32) // PUBLISH, QoS 1
	if dup {
		header |= 0x08
	}
	if retain {
		header |= 0x01
	}
	body := appendString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, id)
	body = append(body, payload...)
	if err := c.writePacket(header, body); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	var ack [4]byte
	if _, err := io.ReadFull(c.r, ack[:]); err != nil {
		return fmt.Errorf("read PUBACK: %w", err)
	}
	if ack[0] != 0x40 || binary.BigEndian.Uint16(ack[2:]) != id {
		return fmt.Errorf("PUBACK %x for packet %d", ack, id)
	}
	return nil
}

// TestRedeliveryLoggedOnceSentAgainApplied: a phone that resends a
// publish with DUP on the same packet id (its PUBACK was lost) gets it
// logged as a redelivery of the first; the same card sent again on
// purpose after a retained clear is a new event.
func TestRedeliveryLoggedOnceSentAgainApplied(t *testing.T) {
	f := startBroker(t, broker.Config{}, badgerlog.Options{})
	c, err := dialRaw(f.addr, "phone-a")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	const topic = "owntracks/a/phone/info"
	card := []byte(`{"_type":"card","name":"A"}`)
	steps := []struct {
		id      uint16
		dup     bool
		payload []byte
		dupOf   uint64
	}{
		{7, false, card, 0},
		{7, true, card, 1},  // PUBACK lost: resent with DUP
		{8, false, nil, 0},  // retained clear
		{9, false, card, 0}, // the same card again, on purpose
		{9, true, card, 4},
		{9, true, card, 4},  // a second resend still names the original
		{10, true, card, 0}, // DUP on a packet id never logged: new
	}
	for i, s := range steps {
		if err := c.publishQoS1(topic, s.id, s.dup, true, s.payload); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	var got []events.Event
	if err := f.log.Scan(t.Context(), 1, func(e events.Event) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(steps) {
		t.Fatalf("%d events logged, want %d", len(got), len(steps))
	}
	for i, s := range steps {
		e := got[i]
		if e.DuplicateOf != s.dupOf || e.Client != "phone-a" || e.PacketID != s.id || e.Dup != s.dup {
			t.Errorf("event %d: duplicate_of %d client %q packet %d dup %v; want duplicate_of %d client phone-a packet %d dup %v",
				e.Seq, e.DuplicateOf, e.Client, e.PacketID, e.Dup, s.dupOf, s.id, s.dup)
		}
	}
}

// changingAccounts are accounts whose single user can be removed while
// the broker runs.
type changingAccounts struct{ exists atomic.Bool }

func (a *changingAccounts) HasUsers() bool { return a.exists.Load() }
func (a *changingAccounts) Check(name, pw, _ string) (uint64, bool) {
	return 1, a.exists.Load() && name == "solo" && pw == "pw"
}
func (a *changingAccounts) Version(name string) (uint64, bool) {
	return 1, a.exists.Load() && name == "solo"
}
func (a *changingAccounts) Guard(_, _ string, verify func() bool) bool { return verify() }
func (a *changingAccounts) IsAdmin(name string) bool                   { return name == "solo" }
func (a *changingAccounts) MaySee(string, string) bool                 { return true }

// TestOpenModeDecidedAtStart: a broker that started with a user refuses
// anonymous clients after the last user is removed; one that started
// open locks for good at its first user.
func TestOpenModeDecidedAtStart(t *testing.T) {
	acc := &changingAccounts{}
	acc.exists.Store(true)
	f := startBroker(t, broker.Config{Accounts: acc}, badgerlog.Options{})
	acc.exists.Store(false) // the last user removed
	if c, err := eventstest.TryConnect(f.addr, "anon-after-removal"); err == nil {
		c.Disconnect(50)
		t.Error("anonymous client accepted after the last user was removed from a locked broker")
	}

	open := &changingAccounts{}
	g := startBroker(t, broker.Config{Accounts: open}, badgerlog.Options{})
	c, err := eventstest.TryConnect(g.addr, "anon-open")
	if err != nil {
		t.Fatalf("broker started without users on loopback refused an anonymous client: %v", err)
	}
	c.Disconnect(50)
	open.exists.Store(true)
	if c, err := eventstest.TryConnect(g.addr, "anon-after-first-user"); err == nil {
		c.Disconnect(50)
		t.Error("anonymous client accepted after the first user appeared")
	}
	open.exists.Store(false)
	if c, err := eventstest.TryConnect(g.addr, "anon-after-last-user"); err == nil {
		c.Disconnect(50)
		t.Error("anonymous client accepted after the only user was removed: open mode came back")
	}

	// A user added and removed while no client asked: the change itself
	// (Revoke, called by serve for every changed user) ends open mode.
	quiet := &changingAccounts{}
	q := startBroker(t, broker.Config{Accounts: quiet}, badgerlog.Options{})
	quiet.exists.Store(true)
	q.broker.Revoke("solo")
	quiet.exists.Store(false)
	q.broker.Revoke("solo")
	if c, err := eventstest.TryConnect(q.addr, "anon-after-quiet-add-remove"); err == nil {
		c.Disconnect(50)
		t.Error("anonymous client accepted after a user was added and removed with no client in between")
	}
}
