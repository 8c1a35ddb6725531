package broker_test

import (
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// The internal login (--demo's phones) works while users exist, only
// with its password, and only on its own phones' topics: it is no way
// in for anybody else, and it does not end anonymous access.
func TestInternalLogin(t *testing.T) {
	internal := &broker.Internal{Name: "#demo", Password: "per-run-secret", Users: []string{"anna", "ben"}}
	as := func(pw string) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) { o.SetUsername(internal.Name).SetPassword(pw) }
	}
	f := startBroker(t, broker.Config{Listen: "127.0.0.1:0", Accounts: newTestAccounts(), Internal: internal}, badgerlog.Options{})

	if _, err := eventstest.TryConnect(f.addr, "guess", as("guess")); err == nil {
		t.Fatal("the internal login took a wrong password")
	}
	demo := eventstest.Connect(t, f.addr, "tracker-demo-anna-iphone", as(internal.Password))
	cmds := eventstest.Subscribe(t, demo, "owntracks/anna/iphone/cmd", 1)
	eventstest.Publish(t, demo, "owntracks/anna/iphone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1}`))
	root := eventstest.Connect(t, f.addr, "root-console", login("root"))
	eventstest.Publish(t, root, "owntracks/anna/iphone/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	if m := next(t, cmds, 5*time.Second); m.Topic != "owntracks/anna/iphone/cmd" {
		t.Errorf("the demo phone got %s, want its command", m.Topic)
	}

	// Another user's topic, or everything: refused.
	head := f.log.Head()
	tok := demo.Publish("owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":9,"lon":9,"tst":3}`))
	if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
		t.Error("the internal login published as alice")
	}
	time.Sleep(200 * time.Millisecond)
	if f.log.Head() != head {
		t.Error("a refused publish was logged")
	}
	spy := eventstest.Connect(t, f.addr, "tracker-demo-spy", as(internal.Password))
	all := eventstest.Subscribe(t, spy, "owntracks/#", 1)
	bob := eventstest.Connect(t, f.addr, "bob-phone", login("bob"))
	eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":4}`))
	expectNothing(t, all, 500*time.Millisecond)

	// Without users the broker stays open to anonymous loopback clients.
	open := startBroker(t, broker.Config{Listen: "127.0.0.1:0", Internal: internal}, badgerlog.Options{})
	eventstest.Connect(t, open.addr, "anon")
}

// A client retrying a refused login over and over (a misconfigured
// phone) leaves one log line, not one per try.
func TestLoginRefusalsLoggedOnceAMinute(t *testing.T) {
	f := startBroker(t, broker.Config{Listen: "127.0.0.1:0", Accounts: newTestAccounts()}, badgerlog.Options{})
	before := strings.Count(f.logs.String(), "\n")
	const tries = 50
	for i := range tries {
		c, code, err := dialRawAs(f.addr, "phone", rawLogin{user: "nobody", password: "x"})
		if err != nil || code == 0 {
			t.Fatalf("try %d: code %d, err %v; want a refusal", i, code, err)
		}
		if c != nil {
			_ = c.Close()
		}
	}
	if got := f.broker.Stats().LoginsRefused; got != tries {
		t.Errorf("%d logins refused, want %d (counted, if not logged)", got, tries)
	}
	logs := f.logs.String()
	lines := strings.Count(logs, "\n") - before
	if n := strings.Count(logs, "MQTT login refused"); n != 1 || lines > 3 {
		t.Errorf("%d refused logins left %d log lines (%d saying so); want 1:\n%s", tries, lines, n, logs)
	}
}
