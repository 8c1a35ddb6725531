package mqttingest

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
)

// ackLost stores every event but reports failure for those on topic, as a
// server that crashed after its write and before its PUBACK would.
type ackLost struct {
	events.Appender
	topic string
	lost  atomic.Int32
}

func (a *ackLost) AppendAsync(e events.Event, done func(uint64, error)) {
	a.Appender.AppendAsync(e, func(seq uint64, err error) {
		if err == nil && e.Topic == a.topic && a.lost.Add(1) == 1 {
			err = errors.New("crashed before the PUBACK")
		}
		done(seq, err)
	})
}

// TestRedeliveryAfterLostPubackLoggedOnce: the broker resends a message
// whose PUBACK we never sent (DUP, same packet id on our session); it is
// logged as a redelivery of the stored event. The same payload published
// again afterwards is a new message and is not.
func TestRedeliveryAfterLostPubackLoggedOnce(t *testing.T) {
	broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	cfg := Config{Broker: broker.URL, ClientID: "tracker-redeliver"}
	pub := connectClient(t, broker.URL, "redeliver-pub", nil)
	l := eventstest.OpenLog(t)

	const topic = "owntracks/bob/phone/info"
	card := []byte(`{"_type":"card","name":"Bob"}`)
	lossy := &ackLost{Appender: l, topic: topic}
	first := startIngest(t, cfg, lossy)
	probe(t, broker.URL, l, "before")
	eventstest.Publish(t, pub, topic, 1, false, card)
	orig := waitLog(t, l, 10*time.Second, "the first delivery", func(e events.Event) bool { return e.Topic == topic })
	eventstest.WaitFor(t, 5*time.Second, "the lost PUBACK", func() bool { return first.logs.contains("leaving it unacknowledged") })
	first.stop(t)

	startIngest(t, cfg, l)
	again := waitLog(t, l, 10*time.Second, "the redelivery", func(e events.Event) bool { return e.Topic == topic && e.Seq > orig.Seq })
	if !again.Dup || again.DuplicateOf != orig.Seq || again.PacketID != orig.PacketID || again.Client != cfg.ClientID {
		t.Errorf("redelivery = seq %d dup %v duplicate_of %d packet %d client %q; want dup of %d, packet %d, client %s",
			again.Seq, again.Dup, again.DuplicateOf, again.PacketID, again.Client, orig.Seq, orig.PacketID, cfg.ClientID)
	}
	eventstest.Publish(t, pub, topic, 1, false, card) // sent again on purpose
	third := waitLog(t, l, 10*time.Second, "the card sent again", func(e events.Event) bool { return e.Topic == topic && e.Seq > again.Seq })
	if third.DuplicateOf != 0 || !bytes.Equal(third.Payload, card) {
		t.Errorf("card sent again = %+v, want a new event", third)
	}
}
