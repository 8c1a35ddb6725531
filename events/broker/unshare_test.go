package broker_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// TestPhoneForgetsUnsharedFriend: when sharing changes so that carol may
// no longer see bob, carol's phone is sent an empty message on bob's
// location topic (the apps then remove the contact), at once when it is
// connected and when it next connects when it was away; a friend carol
// was never shown is never named to her phone.
func TestPhoneForgetsUnsharedFriend(t *testing.T) {
	acc := newTestAccounts()
	f := startBroker(t, broker.Config{Accounts: acc}, badgerlog.Options{})
	bob := eventstest.Connect(t, f.addr, "bob-phone", login("bob"))
	alice := eventstest.Connect(t, f.addr, "alice-phone", login("alice"))

	got := make(chan eventstest.Received, 64)
	carolOpts := func(o *paho.ClientOptions) {
		login("carol")(o)
		o.SetCleanSession(false).SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			got <- eventstest.Received{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained()}
		})
	}
	carol := eventstest.Connect(t, f.addr, "carol-phone", carolOpts)
	if tok := carol.Subscribe("owntracks/+/+", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	loc := []byte(`{"_type":"location","lat":1,"lon":2,"tst":1}`)
	eventstest.Publish(t, bob, "owntracks/bob/phone", 1, true, loc)
	eventstest.Publish(t, alice, "owntracks/alice/phone", 1, true, loc)
	if m := next(t, got, 5*time.Second); m.Topic != "owntracks/bob/phone" || len(m.Payload) == 0 {
		t.Fatalf("carol got %s %q, want bob's location", m.Topic, m.Payload)
	}
	expectNothing(t, got, 300*time.Millisecond) // alice is not carol's friend

	// Connected: told at once.
	acc.shareWithCarol()
	f.broker.Revoke("carol")
	if m := next(t, got, 5*time.Second); m.Topic != "owntracks/bob/phone" || len(m.Payload) != 0 {
		t.Fatalf("carol got %s %q, want an empty message on bob's topic", m.Topic, m.Payload)
	}
	expectNothing(t, got, 500*time.Millisecond) // nothing on alice's topic: she was never shown
	if n := f.broker.Stats().Unshared; n != 1 {
		t.Errorf("Unshared = %d, want 1", n)
	}

	// Away: told when it connects again.
	acc.shareWithCarol("bob")
	eventstest.Publish(t, bob, "owntracks/bob/phone", 1, true, loc)
	if m := next(t, got, 5*time.Second); m.Topic != "owntracks/bob/phone" || len(m.Payload) == 0 {
		t.Fatalf("carol got %s %q, want bob's location again", m.Topic, m.Payload)
	}
	carol.Disconnect(100)
	eventstest.WaitFor(t, 5*time.Second, "carol offline", func() bool { return f.broker.OpenConnections("carol") == 0 })
	acc.shareWithCarol()
	f.broker.Revoke("carol")
	expectNothing(t, got, 300*time.Millisecond)
	eventstest.Connect(t, f.addr, "carol-phone", carolOpts)
	if m := next(t, got, 5*time.Second); m.Topic != "owntracks/bob/phone" || len(m.Payload) != 0 {
		t.Fatalf("carol got %s %q on reconnecting, want an empty message on bob's topic", m.Topic, m.Payload)
	}
	expectNothing(t, got, 500*time.Millisecond)

	// Bob still has his retained location for those who may see him.
	check := eventstest.Connect(t, f.addr, "alice-2", login("alice"))
	ch := eventstest.Subscribe(t, check, "owntracks/bob/phone", 1)
	if m := next(t, ch, 5*time.Second); len(m.Payload) == 0 || !m.Retained {
		t.Errorf("bob's retained location is gone for alice: %q retained %v", m.Payload, m.Retained)
	}
}
