package broker_test

import (
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
)

// testAccounts are the server's users as the broker sees them: alice and
// bob see everybody, carol sees only bob, root is an admin.
type testAccounts struct{}

var accountPasswords = map[string]string{"alice": "pa", "bob": "pb", "carol": "pc", "root": "pr"}

func (testAccounts) HasUsers() bool { return true }
func (testAccounts) Check(name, pw string) bool {
	want, ok := accountPasswords[name]
	return ok && want == pw
}
func (testAccounts) IsAdmin(name string) bool { return name == "root" }
func (testAccounts) MaySee(viewer, owner string) bool {
	return viewer != "carol" || slices.Contains([]string{"carol", "bob"}, owner)
}

func login(user string) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(accountPasswords[user]) }
}

func TestAccountsLoginAndACL(t *testing.T) {
	f := startBroker(t, broker.Config{Listen: "127.0.0.1:0", Accounts: testAccounts{}}, badgerlog.Options{})

	// Logins.
	if _, err := tryConnect(f.addr, "anon"); err == nil {
		t.Error("anonymous client accepted while users exist")
	}
	if _, err := tryConnect(f.addr, "bad", func(o *paho.ClientOptions) { o.SetUsername("alice").SetPassword("wrong") }); err == nil {
		t.Error("wrong password accepted")
	}
	alice := connect(t, f.addr, "alice-phone", login("alice"))
	carol := connect(t, f.addr, "carol-phone", login("carol"))
	bob := connect(t, f.addr, "bob-phone", login("bob"))
	root := connect(t, f.addr, "root-console", login("root"))
	carolGets := subscribe(t, carol, "owntracks/+/+", 1)

	// Own topic: fine, and delivered to carol only when she may see it.
	publish(t, bob, "owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1}`))
	if m := next(t, carolGets, 5*time.Second); m.topic != "owntracks/bob/phone" {
		t.Errorf("carol got %s, want bob's location", m.topic)
	}
	publish(t, alice, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":2}`))
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
	publish(t, root, "owntracks/bob/phone/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	tok = bob.Publish("owntracks/carol/phone/cmd", 1, false, []byte(`{"_type":"cmd","action":"reportLocation"}`))
	if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
		t.Error("a viewer could send a command to another phone")
	}
}
