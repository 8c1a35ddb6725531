package broker_test

import (
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// testPhones adds device credentials to testAccounts: secret -> the
// user's device it logs in as.
type testPhones struct {
	*testAccounts
	mu     sync.Mutex
	creds  map[string]testCred // by secret
	active map[string]bool     // by credential id
}

type testCred struct{ user, device, id string }

func (p *testPhones) CheckPhone(name, pw, remote string) (uint64, string, string, bool) {
	p.mu.Lock()
	c, isCred := p.creds[pw]
	isCred = isCred && c.user == name && p.active[c.id]
	p.mu.Unlock()
	if isCred {
		ok := p.Guard(name, remote, func() bool { return true })
		return 0, c.device, c.id, ok
	}
	v, ok := p.Check(name, pw, remote)
	return v, "", "", ok
}

func (p *testPhones) CredentialActive(_, id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active[id]
}

func (p *testPhones) Used(string) {}

func (p *testPhones) revoke(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.active, id)
}

func device(user, secret string) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(secret) }
}

// TestDeviceCredentials: a phone logged in with a device credential
// publishes only as its own device, receives only its own device's
// commands, cannot take another device's session, and is disconnected
// when the credential is revoked.
func TestDeviceCredentials(t *testing.T) {
	acc := newTestAccounts()
	ph := &testPhones{testAccounts: acc, creds: map[string]testCred{
		"alice-phone-secret":  {"alice", "phone", "c1"},
		"alice-tablet-secret": {"alice", "tablet", "c2"},
		"root-phone-secret":   {"root", "phone", "c3"},
	}, active: map[string]bool{"c1": true, "c2": true, "c3": true}}
	f := startBroker(t, broker.Config{Accounts: acc, Phones: ph}, badgerlog.Options{})

	if _, err := eventstest.TryConnect(f.addr, "x", device("bob", "alice-phone-secret")); err == nil {
		t.Error("alice's device secret logged in as bob")
	}
	lost := make(chan error, 1)
	phone := eventstest.Connect(t, f.addr, "alice-phone", device("alice", "alice-phone-secret"),
		func(o *paho.ClientOptions) {
			o.SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		})
	cmds := eventstest.Subscribe(t, phone, "owntracks/alice/+/cmd", 1)
	eventstest.Publish(t, phone, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1}`))

	root := eventstest.Connect(t, f.addr, "root-console", login("root"))
	eventstest.Publish(t, root, "owntracks/alice/tablet/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	expectNothing(t, cmds, 300*time.Millisecond)
	eventstest.Publish(t, root, "owntracks/alice/phone/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	if m := next(t, cmds, 5*time.Second); m.Topic != "owntracks/alice/phone/cmd" {
		t.Errorf("phone got %s, want its own command", m.Topic)
	}

	refused := func(name, user, secret, id, topic string) {
		t.Helper()
		c := eventstest.Connect(t, f.addr, id, device(user, secret))
		head := f.log.Head()
		if tok := c.Publish(topic, 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`)); tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
			t.Errorf("%s: published to %s", name, topic)
		}
		if f.log.Head() != head {
			t.Errorf("%s: the refused publish was logged", name)
		}
	}
	refused("another device of the same user", "alice", "alice-phone-secret", "p2", "owntracks/alice/tablet")
	refused("another user", "alice", "alice-phone-secret", "p3", "owntracks/bob/phone")
	refused("an admin's phone sending a command", "root", "root-phone-secret", "p4", "owntracks/bob/phone/cmd")

	// The tablet cannot take the phone's session; the phone itself can
	// take over its user's password session.
	if _, err := eventstest.TryConnect(f.addr, "alice-phone", device("alice", "alice-tablet-secret")); err == nil {
		t.Error("alice's tablet took over her phone's session")
	}
	eventstest.Connect(t, f.addr, "alice-pw", login("alice"))
	eventstest.Connect(t, f.addr, "alice-pw", device("alice", "alice-phone-secret"))

	// Revoked: the open session closes, a new login is refused.
	ph.revoke("c1")
	if n := f.broker.Revoke("alice"); n < 1 {
		t.Errorf("Revoke closed %d connections, want the phone's", n)
	}
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked phone stayed connected")
	}
	if _, err := eventstest.TryConnect(f.addr, "alice-phone", device("alice", "alice-phone-secret")); err == nil {
		t.Error("revoked credential logged in")
	}
}
