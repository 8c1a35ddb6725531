package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"tracker/events/eventstest"
)

// addUsers creates users (name -> password; "root" is an admin) before
// the server starts.
func addUsers(t *testing.T, data string, users map[string]string) {
	t.Helper()
	for name, pw := range users {
		args := []string{"add", name, "--password-stdin", "--data", data}
		if name == "root" {
			args = append(args, "--admin")
		}
		var out bytes.Buffer
		if err := runUserWith(t.Context(), args, strings.NewReader(pw+"\n"), &out, &out); err != nil {
			t.Fatalf("user add %s: %v\n%s", name, err, out.String())
		}
	}
}

// mqttGuess tries one MQTT 3.1.1 login (paho would retry as 3.1).
func mqttGuess(addr, id, user, password string) error {
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetProtocolVersion(4).SetUsername(user).SetPassword(password)
	c := paho.NewClient(opts)
	tok := c.Connect()
	tok.WaitTimeout(10 * time.Second)
	if tok.Error() == nil {
		c.Disconnect(0)
	}
	return tok.Error()
}

// MQTT logins count against the web side's login limits: 200 wrong
// passwords at about 30 a second get a password check only until the
// limit, after which the right password is refused over HTTP too from
// that address; service accounts (--mqtt-user) are limited the same way.
// The log stays short: the refusals past the limit take one line a minute.
func TestMQTTLoginsShareTheWebLimiter(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addUsers(t, data, map[string]string{"root": "root-pass-1", "alice": "alice-pass-1"})
	s := startServer(t, data, "--mqtt-user", "bridge:bridge-pass-1")

	const tries = 200
	start := time.Now()
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for n := range tries {
		<-tick.C
		user := "alice"
		if n%4 == 3 {
			user = "bridge"
		}
		if err := mqttGuess(s.mqtt, "guesser", user, "wrong"); err == nil {
			t.Fatalf("guess %d logged in", n)
		}
	}
	took := time.Since(start)
	logs := s.stderr.String()
	checked := strings.Count(logs, "msg=\"login failed\"")
	limited := strings.Count(logs, "login refused: too many failed logins")
	t.Logf("%d MQTT guesses in %v: %d password checks, %d refused by the limiter", tries, took.Round(time.Millisecond), checked, limited)
	// Every guess is counted (/metrics, below), but a guesser kept out by
	// the limiter is logged once a minute, not once a guess.
	if limited < 1 || limited > 2 {
		t.Errorf("%d log lines for the guesses the limiter refused, want 1 or 2 (one a minute)", limited)
	}
	if checked > 10 { // 5 per user and address
		t.Errorf("%d of %d guesses had their password checked", checked, tries)
	}

	// The same budget over HTTP: alice's right password from this address waits.
	req, _ := http.NewRequest("GET", "http://"+s.http+"/api/v1/friends", nil)
	req.SetBasicAuth("alice", "alice-pass-1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("HTTP login after MQTT guesses: %s, want 429", res.Status)
	}
	if err := mqttGuess(s.mqtt, "bridge-client", "bridge", "bridge-pass-1"); err == nil {
		t.Error("service account logged in from an address over the limit")
	}

	// A packet over --mqtt-max-packet-size (here a CONNECT announcing
	// 1 MB) closes the connection and is counted on /metrics, like the
	// refused logins.
	conn, err := net.Dial("tcp", s.mqtt)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte{0x10, 0x80, 0x80, 0x40}); err != nil { // remaining length 1 MiB
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connection open after an oversize CONNECT: %v", err)
	}
	res, err = http.Get("http://" + s.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`tracker_mqtt_refused_total{reason="login"} 201`, `tracker_mqtt_refused_total{reason="packet_too_large"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A password change or removal through the running server ends the user's
// MQTT connections within a second; a removed user's publish is refused.
func TestMQTTConnectionsEndOnPasswordChangeAndRemoval(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	addUsers(t, data, map[string]string{"root": "root-pass-1", "alice": "alice-pass-1"})
	s := startServer(t, data)
	t.Setenv("TRACKER_LOGIN", "root")
	t.Setenv("TRACKER_LOGIN_PASSWORD", "root-pass-1")

	phone := func(password string) (paho.Client, <-chan time.Time) {
		lost := make(chan time.Time, 1)
		opts := paho.NewClientOptions().AddBroker("tcp://" + s.mqtt).SetClientID("alice-phone").
			SetCleanSession(false).SetAutoReconnect(false).SetProtocolVersion(4).
			SetUsername("alice").SetPassword(password).
			SetConnectionLostHandler(func(paho.Client, error) { lost <- time.Now() })
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("alice's phone: %v", tok.Error())
		}
		t.Cleanup(func() { c.Disconnect(0) })
		return c, lost
	}
	// user runs the command through the running server and returns when
	// it answered: the change is then recorded and applied. The clock
	// starts there, not before the command, whose own password hashing
	// and login (bcrypt, slow under -race on a busy machine) say nothing
	// about how fast the broker acts.
	user := func(stdin string, args ...string) time.Time {
		var out bytes.Buffer
		if err := runUserWith(t.Context(), append(args, "--data", data), strings.NewReader(stdin), &out, &out); err != nil {
			t.Fatalf("user %v: %v\n%s", args, err, out.String())
		}
		return time.Now()
	}
	waitLost := func(what string, lost <-chan time.Time, since time.Time) {
		t.Helper()
		select {
		case at := <-lost:
			t.Logf("%s: MQTT connection closed %v after the server answered the command (negative: before)", what, at.Sub(since))
			if at.Sub(since) > time.Second {
				t.Errorf("%s: closed %v after the change was applied, want within 1s", what, at.Sub(since))
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: MQTT connection still open 3s later", what)
		}
	}

	c, lost := phone("alice-pass-1")
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`))
	waitLost("password changed", lost, user("alice-pass-2\n", "passwd", "alice", "--password-stdin"))
	if err := mqttGuess(s.mqtt, "alice-phone", "alice", "alice-pass-1"); err == nil {
		t.Error("the old password still logs in over MQTT")
	}

	c, lost = phone("alice-pass-2")
	removed := user("", "remove", "alice")
	tok := c.Publish("owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":3,"lon":4,"tst":1718000100}`))
	if tok.WaitTimeout(3*time.Second) && tok.Error() == nil {
		t.Error("a removed user's publish was acknowledged")
	}
	waitLost("user removed", lost, removed)
	lines, _ := logLines(t, "--data", data)
	for _, l := range lines {
		if strings.Contains(l.Topic, "owntracks/alice") && strings.Contains(string(payloadOf(t, l)), "1718000100") {
			t.Error("a removed user's publish was logged")
		}
	}
}
