package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/views/web"
)

// TestShareCommands: tracker share create prints a link (with
// --public-url) and the link's state; list shows it with its views;
// revoke ends it, twice harmlessly; hostile --friend, --for and --until
// are refused before anything is recorded.
func TestShareCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	expect(t, data, `user "adm"`, "user", "add", "adm", "--admin")
	log, err := badgerlog.Open(dataDir(data).logDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	appendAll(t, log, events.Event{Topic: "owntracks/una/phone", Source: events.SourceEmbedded, Received: time.Unix(now, 0),
		Payload: fmt.Appendf(nil, `{"_type":"location","lat":48.8,"lon":2.3,"tst":%d}`, now)})
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"--friend", "una", "--for", "1h"},
		{"--friend", "una/phone/x", "--for", "1h"},
		{"--friend", "../../etc/passwd", "--for", "1h"},
		{"--friend", "una/#", "--for", "1h"},
		{"--friend", "una/phone", "--for", "8d"},
		{"--friend", "una/phone", "--for", "1h; rm -rf /"},
		{"--friend", "una/phone", "--for", "1h", "--until", "2030-01-01T00:00"},
		{"--friend", "una/phone", "--until", "yesterday"},
		{"--friend", "nobody/phone", "--for", "1h"},
		{"--friend", "una/phone", "--for", "1h", "--place", "Atlantis"},
	} {
		if out, err := tracker(t, data, append([]string{"share", "create"}, bad...)...); err == nil {
			t.Errorf("share create %v: accepted: %s", bad, out)
		}
	}
	out, err := tracker(t, data, "share", "create", "--friend", "una/phone", "--for", "2h", "--public-url", "https://tracker.example.org/")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "https://tracker.example.org/s/") || len(lines[0]) != len("https://tracker.example.org/s/")+26 ||
		!strings.Contains(lines[1], "for una/phone") || !strings.Contains(lines[1], ": live, until") {
		t.Fatalf("share create answered:\n%s", out)
	}
	token := strings.TrimPrefix(lines[0], "https://tracker.example.org/s/")
	out, err = tracker(t, data, "share", "list", "--json")
	var list []web.ShareInfo
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Status != "live" || list[0].Device != "una/phone" {
		t.Fatalf("share list: %v\n%s", err, out)
	}
	if strings.Contains(out, token) || strings.Contains(out, "sha256") {
		t.Error("share list shows the token or its hash")
	}
	id := list[0].ID
	expect(t, data, "ID", "share", "list")
	expect(t, data, "share link "+id+" for una/phone", "share", "revoke", id)
	expect(t, data, ": revoked", "share", "revoke", id)
	expect(t, data, "revoked", "share", "list")
	if _, err := tracker(t, data, "share", "revoke", "0123456789abcdef"); err == nil {
		t.Error("revoking an unknown link succeeded")
	}
	out, err = tracker(t, data, "log", "--json")
	if err == nil && strings.Contains(out, token) {
		t.Error("the log holds the token")
	}
}
