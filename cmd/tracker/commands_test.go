package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tracker/events/eventstest"
	"tracker/projections"
)

// commandCycles is how often each command sequence is repeated;
// TRACKER_CYCLES raises it for the figures in the report.
func commandCycles(t *testing.T) int {
	if n, err := strconv.Atoi(os.Getenv("TRACKER_CYCLES")); err == nil && n > 0 {
		return n
	}
	return 2
}

const cmdPassword = "s3cret-pass"

// tracker runs the CLI on data and returns what it printed, or the error.
func tracker(t *testing.T, data string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--data", data)
	var err error
	if args[0] == "user" {
		if args[1] == "add" {
			args = append(args, "--password-stdin")
		}
		err = runUserWith(t.Context(), args[1:], strings.NewReader(cmdPassword+"\n"), &out, &errOut)
	} else {
		err = run(t.Context(), args, &out, &errOut)
	}
	return strings.TrimSpace(out.String()), err
}

// expect runs a command and checks that its answer contains want.
func expect(t *testing.T, data, want string, args ...string) {
	t.Helper()
	out, err := tracker(t, data, args...)
	if err != nil {
		t.Fatalf("tracker %s: %v", strings.Join(args, " "), err)
	}
	if !strings.Contains(out, want) {
		t.Fatalf("tracker %s answered %q, want it to say %q", strings.Join(args, " "), out, want)
	}
}

// loginWorks reports whether user can log in over HTTP and over MQTT.
func loginWorks(t *testing.T, s *server, user string) (httpOK, mqttOK bool) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.http+"/api/v1/friends", nil)
	req.SetBasicAuth(user, cmdPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	c, err := tryConnectMQTT(s.mqtt, user+"-login-check", user, cmdPassword)
	if err == nil {
		c.Disconnect(50)
	}
	return res.StatusCode == http.StatusOK, err == nil
}

// TestRepeatedCommandsTakeEffect: the sequences of issue 11 through the
// CLI offline and through a running server, each repeated: share v with
// adm, all, adm; remove, add, remove v; define, remove, define Gym. Every
// command applies and answers with the resulting state; at the end v can
// log in neither over HTTP nor over MQTT, Gym exists, and a rebuild gives
// the same state.
func TestRepeatedCommandsTakeEffect(t *testing.T) {
	for _, mode := range []string{"offline", "through a running server"} {
		t.Run(mode, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			expect(t, data, `user "adm"`, "user", "add", "adm", "--admin")
			var s *server
			if mode != "offline" {
				s = startServer(t, data)
				t.Setenv("TRACKER_LOGIN", "adm")
				t.Setenv("TRACKER_LOGIN_PASSWORD", cmdPassword)
			}
			n := commandCycles(t)
			start := time.Now()
			for range n {
				expect(t, data, `user "v" added (event`, "user", "add", "v")
				expect(t, data, "sharing changed (event", "user", "share", "v", "--sees", "adm")
				expect(t, data, "viewer, sees everybody", "user", "share", "v", "--sees", "all")
				expect(t, data, "viewer, sees own phones, adm", "user", "share", "v", "--sees", "adm")
				expect(t, data, `user "v" removed (event`, "user", "remove", "v")
				expect(t, data, "viewer, sees everybody", "user", "add", "v")
				expect(t, data, `user "v" removed (event`, "user", "remove", "v")
				if s != nil {
					if h, m := loginWorks(t, s, "v"); h || m {
						t.Fatalf("removed v still logs in: HTTP %v, MQTT %v", h, m)
					}
				}
				expect(t, data, `area "Gym" added (event`, "area", "add", "Gym", "--circle", "51.5,-0.12,75")
				expect(t, data, `area "Gym" removed (event`, "area", "remove", "Gym")
				expect(t, data, "circle 51.50000,-0.12000 r=75m", "area", "add", "Gym", "--circle", "51.5,-0.12,75")
				expect(t, data, `area "Gym" removed (event`, "area", "remove", "Gym")
			}
			expect(t, data, "circle 51.50000,-0.12000 r=75m", "area", "add", "Gym", "--circle", "51.5,-0.12,75")
			expect(t, data, `area "Pool" added (event`, "area", "add", "Pool", "--circle", "51.5,-0.12,20")
			expect(t, data, `area "pool" renamed to "Baths" (event`, "area", "rename", "pool", "Baths")
			expect(t, data, `area "Baths" removed (event`, "area", "remove", "Baths")
			t.Logf("%s: %d cycles, %d commands, all applied, in %s", mode, n, 11*n+1, time.Since(start).Round(time.Millisecond))

			if s == nil {
				s = startServer(t, data)
			}
			if h, m := loginWorks(t, s, "v"); h || m {
				t.Errorf("removed v logs in: HTTP %v, MQTT %v", h, m)
			}
			if h, m := loginWorks(t, s, "adm"); !h || !m {
				t.Errorf("adm cannot log in: HTTP %v, MQTT %v", h, m)
			}
			s.stop(t)
			t.Setenv("TRACKER_LOGIN", "")

			before := commandState(t, data)
			if _, err := tracker(t, data, "rebuild"); err != nil {
				t.Fatal(err)
			}
			after := commandState(t, data)
			if after != before {
				t.Errorf("rebuild changed the state:\nbefore %s\nafter  %s", before, after)
			}
			if strings.Contains(after, `"name":"v"`) || !strings.Contains(after, `"name":"Gym"`) {
				t.Errorf("state after rebuild: %s; want no v and Gym defined", after)
			}
		})
	}
}

// commandState is the users and areas the projections hold.
func commandState(t *testing.T, data string) string {
	t.Helper()
	p, done := openProjections(t, data)
	defer done()
	if err := p.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	var users []userLine
	for _, u := range p.Users() {
		users = append(users, lineOf(u))
	}
	b, err := json.Marshal(map[string]any{"users": users, "areas": p.Areas(), "friends": p.Friends()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPhoneMessagesSentAgainApply: a card, an empty retained clear and the
// same card again; a region defined, deleted and defined again; each
// repeated. Every message applies, also after a rebuild. A resend with
// DUP on the same packet id (a lost PUBACK) is logged as a redelivery and
// applied once.
func TestPhoneMessagesSentAgainApply(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	expect(t, data, `user "adm"`, "user", "add", "adm", "--admin")
	expect(t, data, `user "bob"`, "user", "add", "bob")
	s := startServer(t, data)
	phone, err := tryConnectMQTT(s.mqtt, "bob-phone", "bob", cmdPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Disconnect(50)
	friend := func() map[string]any {
		var friends []map[string]any
		getAs(t, s, "/api/v1/friends", &friends)
		for _, f := range friends {
			if f["id"] == "bob/phone" {
				return f
			}
		}
		return nil
	}
	region := func() bool {
		var areas []map[string]any
		getAs(t, s, "/api/v1/areas", &areas)
		for _, a := range areas {
			if a["name"] == "Home" && a["origin"] == projections.OriginPhone {
				return true
			}
		}
		return false
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10s: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	const (
		info     = "owntracks/bob/phone/info"
		wpTopic  = "owntracks/bob/phone/waypoints"
		card     = `{"_type":"card","name":"Bob","tid":"bo"}`
		defined  = `{"_type":"waypoints","waypoints":[{"_type":"waypoint","desc":"Home","lat":52.5,"lon":13.4,"rad":100,"tst":1718000000,"rid":"r1"}]}`
		noRegion = `{"_type":"waypoints","waypoints":[]}`
	)
	eventstest.Publish(t, phone, "owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000,"tid":"bo"}`))
	n := commandCycles(t)
	for i := range n {
		eventstest.Publish(t, phone, info, 1, true, []byte(card))
		eventually(fmt.Sprintf("cycle %d: the card", i), func() bool { f := friend(); return f != nil && f["name"] == "Bob" })
		eventstest.Publish(t, phone, info, 1, true, nil)
		eventually(fmt.Sprintf("cycle %d: the card cleared", i), func() bool { f := friend(); return f != nil && f["name"] == nil })
		eventstest.Publish(t, phone, info, 1, true, []byte(card))
		eventually(fmt.Sprintf("cycle %d: the same card again", i), func() bool { f := friend(); return f != nil && f["name"] == "Bob" })

		eventstest.Publish(t, phone, wpTopic, 1, false, []byte(defined))
		eventually(fmt.Sprintf("cycle %d: the region", i), region)
		eventstest.Publish(t, phone, wpTopic, 1, false, []byte(noRegion))
		eventually(fmt.Sprintf("cycle %d: the region deleted", i), func() bool { return !region() })
		eventstest.Publish(t, phone, wpTopic, 1, false, []byte(defined))
		eventually(fmt.Sprintf("cycle %d: the same region again", i), region)
	}
	t.Logf("%d cycles of card/clear/card and region defined/deleted/defined: %d messages, all applied", n, 6*n)

	// A lost PUBACK: the phone resends with DUP on the same packet id.
	loc := []byte(`{"_type":"location","lat":52.6,"lon":13.5,"tst":1718000100,"tid":"bo"}`)
	if err := tryRawPublish(s.mqtt, "bob-phone-raw", "bob", cmdPassword, "owntracks/bob/phone", 4242, false, false, loc); err != nil {
		t.Fatal(err)
	}
	if err := tryRawPublish(s.mqtt, "bob-phone-raw", "bob", cmdPassword, "owntracks/bob/phone", 4242, true, false, loc); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRACKER_LOGIN", "adm")
	t.Setenv("TRACKER_LOGIN_PASSWORD", cmdPassword)
	lines, _ := logLines(t, "--data", data)
	last, prev := lines[len(lines)-1], lines[len(lines)-2]
	if !last.Dup || last.DuplicateOf != prev.Seq || prev.DuplicateOf != 0 || last.PacketID != 4242 || last.Client != "bob-phone-raw" {
		t.Errorf("resend logged as %+v after %+v; want a redelivery of %d", last, prev, prev.Seq)
	}
	var text bytes.Buffer
	if err := run(t.Context(), []string{"log", "--data", data, "--from", strconv.FormatUint(last.Seq, 10)}, &text, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`dup client="bob-phone-raw" packet=4242 duplicate-of=%d`, prev.Seq); !strings.Contains(text.String(), want) {
		t.Errorf("tracker log printed %q, want it to show %q", text.String(), want)
	}
	dups := 0
	for _, l := range lines {
		if l.DuplicateOf != 0 {
			dups++
		}
	}
	if dups != 1 {
		t.Errorf("%d events marked as redeliveries, want 1 (only the DUP resend)", dups)
	}
	s.stop(t)
	t.Setenv("TRACKER_LOGIN", "")

	before := commandState(t, data)
	if _, err := tracker(t, data, "rebuild"); err != nil {
		t.Fatal(err)
	}
	if after := commandState(t, data); after != before {
		t.Errorf("rebuild changed the state:\nbefore %s\nafter  %s", before, after)
	}
	if !strings.Contains(before, `"name":"Home"`) || !strings.Contains(before, `"name":"Bob"`) {
		t.Errorf("state: %s; want bob's card and region", before)
	}
}

// getAs reads a JSON API as adm.
func getAs(t *testing.T, s *server, path string, v any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.http+path, nil)
	req.SetBasicAuth("adm", cmdPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestLastAdminStays: removing the only admin, or re-adding it without
// --admin, is refused offline and through the server (409), and the
// server stays locked.
func TestLastAdminStays(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	expect(t, data, `user "adm"`, "user", "add", "adm", "--admin")
	expect(t, data, `user "v"`, "user", "add", "v")
	for _, args := range [][]string{{"user", "remove", "adm"}, {"user", "add", "adm"}} {
		if _, err := tracker(t, data, args...); err == nil || !strings.Contains(err.Error(), "last admin") {
			t.Errorf("offline %s: %v, want a refusal naming the last admin", strings.Join(args, " "), err)
		}
	}
	s := startServer(t, data)
	t.Setenv("TRACKER_LOGIN", "adm")
	t.Setenv("TRACKER_LOGIN_PASSWORD", cmdPassword)
	for _, args := range [][]string{{"user", "remove", "adm"}, {"user", "add", "adm"}} {
		_, err := tracker(t, data, args...)
		if err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "last admin") {
			t.Errorf("through the server %s: %v, want 409 naming the last admin", strings.Join(args, " "), err)
		}
	}
	expect(t, data, `user "v" removed (event`, "user", "remove", "v")
	if h, m := loginWorks(t, s, "adm"); !h || !m {
		t.Errorf("adm after refused commands: HTTP %v, MQTT %v", h, m)
	}
	if code := getStatus(t, "http://"+s.http+"/api/v1/friends"); code != http.StatusUnauthorized {
		t.Errorf("anonymous API: %d, want 401", code)
	}
	if c, err := tryConnectMQTT(s.mqtt, "anon", "", ""); err == nil {
		c.Disconnect(50)
		t.Error("anonymous MQTT accepted")
	}
}

// TestImportOldExportMarks: an export from before redeliveries were
// decided by the transport marks content repeats without DUP; importing it
// keeps every event, drops those marks (they were sent on purpose) and
// says so, and keeps a DUP redelivery's mark.
func TestImportOldExportMarks(t *testing.T) {
	loc := `{"_type":"location","lat":52.52,"lon":13.4,"tst":1718000000}`
	lines := []string{
		`{"seq":1,"received_at":"2024-06-10T06:13:20Z","topic":"owntracks/a/p","source":"embedded","qos":1,"retained":false,"dup":false,"payload":` + strconv.Quote(loc) + `}`,
		`{"seq":2,"received_at":"2024-06-10T06:13:21Z","topic":"owntracks/a/p","source":"embedded","qos":1,"retained":false,"dup":true,"duplicate_of":1,"payload":` + strconv.Quote(loc) + `}`,
		`{"seq":3,"received_at":"2024-06-10T06:13:22Z","topic":"tracker/admin/area","source":"admin","qos":1,"retained":false,"dup":false,"payload":"{\"_type\":\"area\",\"action\":\"remove\",\"name\":\"Gym\"}"}`,
		`{"seq":4,"received_at":"2024-06-10T06:13:23Z","topic":"tracker/admin/area","source":"admin","qos":1,"retained":false,"dup":false,"duplicate_of":3,"payload":"{\"_type\":\"area\",\"action\":\"remove\",\"name\":\"Gym\"}"}`,
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	zw.Close()
	file := filepath.Join(t.TempDir(), "old.jsonl.gz")
	if err := os.WriteFile(file, gz.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")
	_, stderr := runOK(t, "import", "log", file, "--data", data)
	if !strings.Contains(stderr, "1 events the export marks as duplicates were sent again on purpose") {
		t.Errorf("import said %q", stderr)
	}
	got := readLog(t, data)
	if len(got) != 4 || got[1].DuplicateOf != 1 || got[3].DuplicateOf != 0 {
		t.Errorf("imported %+v", briefs(got))
	}
}

// TestWebOpenModeOnlyOnLoopbackWithoutUsers: the web side runs open only
// when no user exists and every HTTP listener is on loopback.
func TestWebOpenModeOnlyOnLoopbackWithoutUsers(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name      string
		hasUsers  bool
		listeners []string
		want      bool
	}{
		{"no user, loopback", false, []string{"127.0.0.1:8080", "[::1]:8443"}, true},
		{"a user, loopback", true, []string{"127.0.0.1:8080"}, false},
		{"no user, all interfaces", false, []string{"127.0.0.1:8080", ":443"}, false},
		{"no user, a public address", false, []string{"192.0.2.1:8080"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := webOpenMode(tc.hasUsers, tc.listeners, logger); got != tc.want {
				t.Errorf("webOpenMode(%v, %v) = %v, want %v", tc.hasUsers, tc.listeners, got, tc.want)
			}
		})
	}
}
