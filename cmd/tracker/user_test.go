package main

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"tracker/events/eventstest"
)

// TestUsersLockTheServer: once a user exists, pages and API need a login,
// MQTT refuses anonymous phones, and commands through the server log in
// with TRACKER_LOGIN.
func TestUsersLockTheServer(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	add := func(args ...string) error {
		return runUserWith(t.Context(), args, strings.NewReader("s3cret-pass\n"), &out, &errOut)
	}
	if err := add("add", "root", "--admin", "--password-stdin", "--data", data); err != nil {
		t.Fatalf("user add before any server ran: %v", err)
	}
	if err := add("add", "root", "--password-stdin", "--data", "x", "--data", data, "extra"); err == nil {
		t.Error("stray argument accepted")
	}
	s := startServer(t, data)
	if err := add("add", "alice", "--password-stdin", "--data", data); err == nil {
		t.Error("adding a user through a locked server without logging in worked")
	}
	t.Setenv("TRACKER_LOGIN", "root")
	t.Setenv("TRACKER_LOGIN_PASSWORD", "s3cret-pass")
	if err := add("add", "alice", "--password-stdin", "--data", data); err != nil {
		t.Fatalf("user add through the server as root: %v\n%s", err, errOut.String())
	}
	out.Reset()
	if err := runUserWith(t.Context(), []string{"list", "--data", data}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "root") || !strings.Contains(out.String(), "admin") || !strings.Contains(out.String(), "alice") {
		t.Errorf("user list:\n%s", out.String())
	}

	// Anonymous: refused everywhere.
	res, err := http.Get("http://" + s.http + "/api/v1/friends")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous API: %s, want 401", res.Status)
	}
	if _, err := tryConnectMQTT(s.mqtt, "anon", "", ""); err == nil {
		t.Error("anonymous MQTT accepted while users exist")
	}
	// Alice's phone logs in with her web password.
	c, err := tryConnectMQTT(s.mqtt, "alice-phone", "alice", "s3cret-pass")
	if err != nil {
		t.Fatalf("alice's phone: %v", err)
	}
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`))
	c.Disconnect(50)
	// The CLI reads the log through the server with the login.
	lines, _ := logLines(t, "--data", data)
	if len(lines) < 3 {
		t.Errorf("log through the server: %d lines", len(lines))
	}
}
