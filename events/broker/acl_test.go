package broker_test

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// testAccounts are the server's users as the broker sees them: alice and
// bob see everybody, carol sees only bob (and herself), root is an admin.
// Like the server's, logins are limited: after maxTestFails failures from
// one address, logins from it are refused without a password check.
type testAccounts struct {
	mu        sync.Mutex
	passwords map[string]string
	versions  map[string]uint64
	carolSees []string
	fails     map[string]int // by host
	remotes   []string       // every remote Check and Guard were given
	checks    atomic.Int64   // password comparisons made
}

const maxTestFails = 5

var accountPasswords = map[string]string{"alice": "pa", "bob": "pb", "carol": "pc", "root": "pr"}

func newTestAccounts() *testAccounts {
	a := &testAccounts{passwords: map[string]string{}, versions: map[string]uint64{}, carolSees: []string{"bob"}, fails: map[string]int{}}
	for name, pw := range accountPasswords {
		a.passwords[name], a.versions[name] = pw, 1
	}
	return a
}

func (a *testAccounts) HasUsers() bool { return true }

func (a *testAccounts) Check(name, pw, remote string) (uint64, bool) {
	ok := a.Guard(name, remote, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		want, exists := a.passwords[name]
		return exists && want == pw
	})
	v, _ := a.Version(name)
	return v, ok
}

func (a *testAccounts) Guard(_, remote string, verify func() bool) bool {
	host, _, _ := net.SplitHostPort(remote)
	a.mu.Lock()
	a.remotes = append(a.remotes, remote)
	limited := a.fails[host] >= maxTestFails
	a.mu.Unlock()
	if limited {
		return false
	}
	a.checks.Add(1)
	ok := verify()
	if !ok {
		a.mu.Lock()
		a.fails[host]++
		a.mu.Unlock()
	}
	return ok
}

func (a *testAccounts) Version(name string) (uint64, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.versions[name]
	return v, ok
}

func (a *testAccounts) IsAdmin(name string) bool { return name == "root" }

func (a *testAccounts) MaySee(viewer, owner string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.versions[viewer]; !ok {
		return false
	}
	return viewer != "carol" || owner == "carol" || slices.Contains(a.carolSees, owner)
}

// setPassword changes name's password (a new credential version).
func (a *testAccounts) setPassword(name, pw string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.passwords[name] = pw
	a.versions[name]++
}

func (a *testAccounts) remove(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.passwords, name)
	delete(a.versions, name)
}

func (a *testAccounts) shareWithCarol(owners ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.carolSees = owners
}

func login(user string) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(accountPasswords[user]) }
}

func TestAccountsLoginAndACL(t *testing.T) {
	f := startBroker(t, broker.Config{Listen: "127.0.0.1:0", Accounts: newTestAccounts()}, badgerlog.Options{})

	// Logins.
	if _, err := eventstest.TryConnect(f.addr, "anon"); err == nil {
		t.Error("anonymous client accepted while users exist")
	}
	if _, err := eventstest.TryConnect(f.addr, "bad", func(o *paho.ClientOptions) { o.SetUsername("alice").SetPassword("wrong") }); err == nil {
		t.Error("wrong password accepted")
	}
	alice := eventstest.Connect(t, f.addr, "alice-phone", login("alice"))
	carol := eventstest.Connect(t, f.addr, "carol-phone", login("carol"))
	bob := eventstest.Connect(t, f.addr, "bob-phone", login("bob"))
	root := eventstest.Connect(t, f.addr, "root-console", login("root"))
	carolGets := eventstest.Subscribe(t, carol, "owntracks/+/+", 1)

	// Own topic: fine, and delivered to carol only when she may see it.
	eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1}`))
	if m := next(t, carolGets, 5*time.Second); m.Topic != "owntracks/bob/phone" {
		t.Errorf("carol got %s, want bob's location", m.Topic)
	}
	eventstest.Publish(t, alice, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":2}`))
	expectNothing(t, carolGets, 500*time.Millisecond)

	// Someone else's topic: refused (MQTT 3.1.1 has no negative PUBACK,
	// so the broker drops the connection) and not logged.
	head := f.log.Head()
	tok := alice.Publish("owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":9,"lon":9,"tst":3}`))
	if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
		t.Error("alice could publish as bob")
	}
	time.Sleep(200 * time.Millisecond)
	if f.log.Head() != head {
		t.Errorf("a refused publish was logged")
	}

	// Commands: admins may send them to any phone, others may not.
	eventstest.Publish(t, root, "owntracks/bob/phone/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	tok = bob.Publish("owntracks/carol/phone/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
		t.Error("a viewer could send a command to another phone")
	}
}
