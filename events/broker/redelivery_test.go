package broker_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"testing"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/broker"
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
