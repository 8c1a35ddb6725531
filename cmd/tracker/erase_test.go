package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventjson"
	"tracker/events/eventstest"
)

const eraseMarker = "ERASE-MARKER-4b1d"

// filesWith lists the files under root holding s, byte for byte.
func filesWith(t *testing.T, root, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile (a projections generation replaced)
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(s)) {
			found = append(found, strings.TrimPrefix(p, root))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// adminCall sends a JSON request to a running server as user.
func adminCall(t *testing.T, s *server, user, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, "http://"+s.http+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(user, cmdPassword)
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// phoneClient connects as user, trying again when a busy machine makes
// the login (a bcrypt check) outlast the connect timeout.
func phoneClient(t *testing.T, s *server, user string) paho.Client {
	t.Helper()
	var err error
	for range 3 {
		var c paho.Client
		c, err = eventstest.TryConnect(s.mqtt, user+"-phone", func(o *paho.ClientOptions) {
			o.SetUsername(user).SetPassword(cmdPassword).SetConnectTimeout(20 * time.Second)
		})
		if err == nil {
			t.Cleanup(func() { c.Disconnect(50) })
			return c
		}
	}
	t.Fatalf("connect %s: %v", user, err)
	return nil
}

// logOf reads the whole log of data (no server running) and checks that
// its sequence numbers are dense.
func logOf(t *testing.T, data string) []eventjson.Line {
	t.Helper()
	lines, _ := logLines(t, "--data", data)
	for i, l := range lines {
		if l.Seq != uint64(i+1) {
			t.Fatalf("the log does not read end to end with dense seqs: line %d has seq %d", i, l.Seq)
		}
	}
	return lines
}

// TestEraseThroughServer: an admin erases alice through the API of a
// running server. Afterwards no file under the data directory holds the
// marker her phone published (log tables, value log, write-ahead files,
// projections), also after a restart; bob's events are untouched and the
// log reads end to end with dense seqs, alice's as placeholders, closed
// by a tombstone. A viewer gets 403 on the API and the page; an erasure
// that matches nothing records a tombstone saying 0.
func TestEraseThroughServer(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, u := range [][]string{{"adm", "--admin"}, {"v"}, {"alice"}, {"bob"}} {
		expect(t, data, `user "`+u[0]+`"`, append([]string{"user", "add"}, u...)...)
	}
	s := startServer(t, data)
	alice, bob := phoneClient(t, s, "alice"), phoneClient(t, s, "bob")
	for i := range 20 {
		note := eraseMarker
		if i == 7 { // a big one: Badger keeps it in the value log
			note = strings.Repeat(eraseMarker, 3000)
		}
		eventstest.Publish(t, alice, "owntracks/alice/phone", 1, i == 19, fmt.Appendf(nil,
			`{"_type":"location","lat":50.85,"lon":4.35,"tst":%d,"tid":"al","note":%q}`, 1_760_000_000+i, note))
		eventstest.Publish(t, bob, "owntracks/bob/phone", 1, false, fmt.Appendf(nil,
			`{"_type":"location","lat":51.2,"lon":4.4,"tst":%d,"tid":"bo","note":"bob-keeps-%d"}`, 1_760_000_000+i, i))
	}
	waitFor(t, 10*time.Second, "alice on the friends list", func() bool {
		code, body := adminCall(t, s, "adm", http.MethodGet, "/api/v1/friends", "")
		return code == 200 && strings.Contains(body, `"alice/phone"`) && strings.Contains(body, `"bob/phone"`)
	})
	if len(filesWith(t, data, eraseMarker)) == 0 {
		t.Fatal("the marker is nowhere on disk before the erasure: the test proves nothing")
	}

	admc := phoneClient(t, s, "adm") // sees everybody's messages
	if got := retainedFor(t, admc, "owntracks/alice/#"); !strings.Contains(got, eraseMarker) {
		t.Fatalf("no retained message of alice before the erasure (%q): the test proves nothing", got)
	}

	// Attacks: a viewer may not erase, not even through the page.
	if code, body := adminCall(t, s, "v", http.MethodPost, "/api/v1/admin/erase", `{"user":"alice"}`); code != http.StatusForbidden {
		t.Errorf("viewer erasing alice: %d %s, want 403", code, body)
	}
	if code, _ := adminCall(t, s, "v", http.MethodGet, "/admin/erase", ""); code != http.StatusForbidden {
		t.Errorf("viewer opening the erase page: %d, want 403", code)
	}
	if code, _ := adminCall(t, s, "alice", http.MethodPost, "/api/v1/admin/erase", `{"user":"bob"}`); code != http.StatusForbidden {
		t.Errorf("alice erasing bob: %d, want 403", code)
	}
	if code, body := adminCall(t, s, "adm", http.MethodPost, "/api/v1/admin/erase", `{"user":"nobody"}`); code != 200 || !strings.Contains(body, `"erased":0`) {
		t.Errorf("erasing nobody: %d %s, want 200 with erased 0", code, body)
	}

	code, body := adminCall(t, s, "adm", http.MethodPost, "/api/v1/admin/erase", `{"user":"alice"}`)
	if code != 200 || !strings.Contains(body, `"erased":20`) {
		t.Fatalf("erase alice: %d %s", code, body)
	}
	if f := filesWith(t, data, eraseMarker); len(f) > 0 {
		t.Errorf("after the erasure the marker is still in %v", f)
	}
	if got := retainedFor(t, admc, "owntracks/alice/#"); got != "" {
		t.Errorf("the broker still hands out alice's erased retained message: %q", got)
	}
	code, body = adminCall(t, s, "adm", http.MethodGet, "/api/v1/friends", "")
	if code != 200 || strings.Contains(body, `"alice/phone"`) || !strings.Contains(body, `"bob/phone"`) {
		t.Errorf("friends after the erasure: %d %s", code, body)
	}
	s.stop(t)
	s = startServer(t, data)
	eventstest.Publish(t, phoneClient(t, s, "bob"), "owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":51.2,"lon":4.4,"tst":1760000100,"note":"bob-after"}`))
	waitFor(t, 10*time.Second, "bob's new fix", func() bool {
		_, body := adminCall(t, s, "adm", http.MethodGet, "/api/v1/friends", "")
		return strings.Contains(body, "1760000100")
	})
	s.stop(t)
	if f := filesWith(t, data, eraseMarker); len(f) > 0 {
		t.Errorf("after a restart the marker is in %v", f)
	}

	lines := logOf(t, data)
	var placeholders, bobs, tombs int
	for _, l := range lines {
		switch {
		case l.Kind == "erased":
			placeholders++
			if l.Topic != "" || l.Payload != nil && *l.Payload != "" {
				t.Errorf("placeholder %d keeps %q %v", l.Seq, l.Topic, l.Payload)
			}
		case l.Topic == "owntracks/bob/phone":
			bobs++
		case l.Topic == "tracker/admin/erase":
			tombs++
			if strings.Contains(*l.Payload, `"user":"alice"`) && !strings.Contains(*l.Payload, `"erased":20`) {
				t.Errorf("tombstone %s", *l.Payload)
			}
		}
	}
	if placeholders != 20 || bobs != 21 || tombs != 2 {
		t.Errorf("log: %d placeholders (want 20), %d of bob's (want 21), %d tombstones (want 2)", placeholders, bobs, tombs)
	}
	for i := range 20 {
		want := fmt.Sprintf("bob-keeps-%d", i)
		found := false
		for _, l := range lines {
			found = found || l.Payload != nil && strings.Contains(*l.Payload, `"`+want+`"`)
		}
		if !found {
			t.Errorf("bob's %q is not in the log", want)
		}
	}
}

// retainedFor subscribes c to filter and returns what arrives within
// half a second (the retained messages), then unsubscribes.
func retainedFor(t *testing.T, c paho.Client, filter string) string {
	t.Helper()
	var mu sync.Mutex
	var got strings.Builder
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got.Write(m.Payload())
		mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	time.Sleep(500 * time.Millisecond)
	if tok := c.Unsubscribe(filter); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("unsubscribe: %v", tok.Error())
	}
	mu.Lock()
	defer mu.Unlock()
	return got.String()
}

func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEraseWhileIngesting: while an erasure of alice runs, other phones
// keep publishing; every message the broker acknowledged is in the log
// afterwards (the committer holds appends only for the swap).
func TestEraseWhileIngesting(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, data)
	alice := eventstest.Connect(t, s.mqtt, "alice-phone")
	for i := range 3000 {
		alice.Publish("owntracks/alice/phone", 1, false, fmt.Sprintf(`{"_type":"location","lat":50,"lon":4,"tst":%d,"note":%q}`, 1_760_000_000+i, eraseMarker))
	}
	eventstest.Publish(t, alice, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":50,"lon":4,"tst":1}`))
	ack := &acked{seen: map[string]bool{}}
	stop := make(chan struct{})
	wg := publishUntil(t, s.mqtt, 4, stop, ack)
	time.Sleep(100 * time.Millisecond)
	code, body := adminCall(t, s, "", http.MethodPost, "/api/v1/admin/erase", `{"user":"alice"}`)
	during := len(ack.list())
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if code != 200 || !strings.Contains(body, `"erased":3001`) {
		t.Fatalf("erase alice: %d %s", code, body)
	}
	s.stop(t)
	inLog := map[string]bool{}
	for _, l := range logOf(t, data) {
		if l.Payload != nil {
			inLog[l.Topic+" "+*l.Payload] = true
		}
	}
	lost := 0
	for _, a := range ack.list() {
		if !inLog[a] {
			lost++
		}
	}
	t.Logf("%d messages of other phones acknowledged by the end of the erasure, %d in all", during, len(ack.list()))
	if lost > 0 {
		t.Fatalf("%d acknowledged messages of other users are missing after the erasure", lost)
	}
	if f := filesWith(t, data, eraseMarker); len(f) > 0 {
		t.Errorf("the marker is still in %v", f)
	}
}

// writeLog appends events to the log of data (no server running).
func writeLog(t *testing.T, data string, evs []events.Event) {
	t.Helper()
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := badgerlog.Open(filepath.Join(data, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		l.AppendAsync(e, nil)
	}
	if _, err := l.Append(context.Background(), events.Event{Topic: "owntracks/bob/phone", Source: events.SourceHTTP,
		Payload: []byte(`{"_type":"location","lat":1,"lon":1,"tst":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func oldFix(user string, age time.Duration, note string) events.Event {
	at := time.Now().Add(-age)
	return events.Event{Topic: "owntracks/" + user + "/phone", Source: events.SourceHTTP, QoS: 1, Received: at,
		Payload: fmt.Appendf(nil, `{"_type":"location","lat":50,"lon":4,"tst":%d,"note":%q}`, at.Unix(), note)}
}

// TestRetentionErasesOnSchedule: with --retain-history 30d the server
// erases, on its own, the events received more than 30 days ago, except
// for a user whose policy keeps everything (tracker retention), and
// leaves recent ones.
func TestRetentionErasesOnSchedule(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var evs []events.Event
	for i := range 50 {
		evs = append(evs, oldFix("alice", 60*24*time.Hour+time.Duration(i)*time.Minute, eraseMarker),
			oldFix("carol", 90*24*time.Hour, "carol-old-kept"), oldFix("alice", time.Duration(i)*time.Minute, "alice-recent"))
	}
	writeLog(t, data, evs)
	expect(t, data, `retention of "carol" (event`, "retention", "--user", "carol", "forever")
	s := startServer(t, data, "--retain-history", "30d", "--retain-check", "200ms")
	waitFor(t, 30*time.Second, "retention erasing alice's old events", func() bool {
		code, body := adminCall(t, s, "", http.MethodGet, "/api/v1/events", "")
		return code == 200 && strings.Contains(body, `\"reason\":\"retention\"`)
	})
	waitFor(t, 30*time.Second, "the projections rebuilt", func() bool { return len(filesWith(t, data, eraseMarker)) == 0 })
	s.stop(t)
	var erased, recent, carol int
	for _, l := range logOf(t, data) {
		switch {
		case l.Kind == "erased":
			erased++
		case l.Payload != nil && strings.Contains(*l.Payload, "alice-recent"):
			recent++
		case l.Payload != nil && strings.Contains(*l.Payload, "carol-old-kept"):
			carol++
		}
	}
	if erased != 50 || recent != 50 || carol != 50 {
		t.Errorf("after retention: %d erased (want 50), %d of alice's recent (want 50), %d of carol's old (want 50, her policy keeps them)", erased, recent, carol)
	}
}

// TestEraseOfflineCommand: tracker erase on the data directory, with
// --device and --before; a nonsense --before is refused.
func TestEraseOfflineCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	var evs []events.Event
	for range 10 {
		e := oldFix("alice", 10*24*time.Hour, eraseMarker)
		evs = append(evs, e, oldFix("alice", time.Hour, "alice-recent"))
		e.Topic = "owntracks/alice/tablet"
		e.Payload = []byte(`{"_type":"location","lat":1,"lon":1,"tst":1,"note":"tablet-kept"}`)
		evs = append(evs, e)
	}
	writeLog(t, data, evs)
	if _, err := tracker(t, data, "erase", "--user", "alice", "--before", "yesterday-ish"); err == nil {
		t.Error("a nonsense --before was taken")
	}
	expect(t, data, "erased 10 events of user alice, device phone, received before", "erase", "--user", "alice", "--device", "phone", "--before", "5d")
	if f := filesWith(t, data, eraseMarker); len(f) > 0 {
		t.Errorf("the marker is still in %v", f)
	}
	lines := logOf(t, data)
	text := ""
	for _, l := range lines {
		if l.Payload != nil {
			text += *l.Payload
		}
	}
	if strings.Count(text, "alice-recent") != 10 || strings.Count(text, "tablet-kept") != 10 {
		t.Errorf("the erasure took more than alice's old phone events")
	}
	expect(t, data, "nothing to erase", "erase", "--user", "alice", "--device", "phone", "--before", "5d")
}

// TestEraseCrashLeavesOldOrNew: `tracker erase` run as a child process
// and killed with SIGKILL at points all along its way leaves, every time,
// a log that opens and reads end to end: the old one (everything there)
// or the new one (alice's events placeholders, the tombstone at the end,
// and the marker in no file once a command opened it).
func TestEraseCrashLeavesOldOrNew(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	seed := filepath.Join(t.TempDir(), "seed")
	var evs []events.Event
	for i := range 20000 {
		user := "bob"
		if i%2 == 0 {
			user = "alice"
		}
		evs = append(evs, oldFix(user, time.Duration(i)*time.Second, eraseMarker+strings.Repeat(user, 20)))
	}
	writeLog(t, seed, evs)
	const head = 20001
	var olds, news int
	for try := 0; try < 40 && (olds == 0 || news == 0 || try < 12); try++ {
		data := filepath.Join(t.TempDir(), fmt.Sprintf("data-%d", try))
		if out, err := exec.Command("cp", "-a", seed, data).CombinedOutput(); err != nil {
			t.Fatalf("copy: %v %s", err, out)
		}
		cmd := exec.Command(os.Args[0], "erase", "--data", data, "--user", "alice")
		cmd.Env = append(os.Environ(), "TRACKER_TEST_AS_MAIN=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done: // finished before the kill
		case <-time.After(time.Duration(try%12) * 60 * time.Millisecond):
			_ = cmd.Process.Kill()
			<-done
		}
		lines := logOf(t, data)
		switch len(lines) {
		case head:
			olds++
			for _, l := range lines {
				if l.Kind == "erased" {
					t.Fatalf("try %d: the old log has a placeholder at %d", try, l.Seq)
				}
			}
		case head + 1:
			news++
			if l := lines[head]; l.Topic != "tracker/admin/erase" || !strings.Contains(*l.Payload, `"erased":10000`) {
				t.Fatalf("try %d: the new log ends with %+v", try, l)
			}
			if f := filesWith(t, filepath.Join(data, "log"), eraseMarker+"alice"); len(f) > 0 {
				t.Fatalf("try %d: the erased marker is in %v", try, f)
			}
		default:
			t.Fatalf("try %d: the log has %d events, want %d (old) or %d (new)\n%s", try, len(lines), head, head+1, out.String())
		}
		if f := filesWith(t, data, "bob"); len(f) == 0 {
			t.Fatalf("try %d: bob's events are gone", try)
		}
		entries, _ := os.ReadDir(data)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".erase-") {
				t.Errorf("try %d: %s left after a command opened the log", try, e.Name())
			}
		}
	}
	t.Logf("killed erasures: %d left the old log, %d the new one", olds, news)
	if news == 0 {
		t.Error("no try got as far as the new log: the kill points miss the swap")
	}
}

// TestErasePage: the admin page erases with a confirmation, and sets a
// retention policy.
func TestErasePage(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	writeLog(t, data, []events.Event{oldFix("alice", time.Hour, eraseMarker)})
	s := startServer(t, data)
	post := func(path string, form url.Values) (int, string) {
		res, err := http.PostForm("http://"+s.http+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := post("/admin/erase", url.Values{"user": {"alice"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "cannot be undone") {
		t.Errorf("erase without confirmation: %d", code)
	}
	code, body = post("/admin/erase", url.Values{"user": {"alice"}, "confirm": {"yes"}})
	if code != 200 || !strings.Contains(body, "Erased 1 events") {
		t.Errorf("erase from the page: %d %s", code, body)
	}
	code, body = post("/admin/erase/retention", url.Values{"user": {"alice"}, "keep": {"90d"}})
	if code != 200 || !strings.Contains(body, "alice: 90d") {
		t.Errorf("retention from the page: %d", code)
	}
	code, _ = post("/admin/erase/retention", url.Values{"user": {"alice"}, "keep": {"soon"}})
	if code != http.StatusBadRequest {
		t.Errorf("a nonsense period: %d, want 400", code)
	}
}

// TestEraseOnFullDiskLeavesLog: on a real file system (a tmpfs) with too
// little room for the copy besides --min-free-disk's default, tracker
// erase refuses with the reason and the log stays exactly as it was; with
// the room back, the same erasure goes through.
func TestEraseOnFullDiskLeavesLog(t *testing.T) {
	volume := mountTmpfs(t, 192<<20)
	data := filepath.Join(volume, "data")
	var evs []events.Event
	for i := range 4000 {
		evs = append(evs, oldFix("alice", time.Duration(i)*time.Second, eraseMarker), oldFix("bob", time.Duration(i)*time.Second, "bob-keeps"))
	}
	writeLog(t, data, evs)
	before := logOf(t, data)
	filler := filepath.Join(volume, "filler")
	if err := os.WriteFile(filler, make([]byte, freeBytes(t, volume)-int64(badgerlog.DefaultMinFree)-(2<<20)), 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := tracker(t, data, "erase", "--user", "alice")
	if err == nil || !strings.Contains(err.Error(), "disk nearly full") {
		t.Fatalf("erase on a full volume: %v, want a refusal saying the disk is nearly full", err)
	}
	after := logOf(t, data)
	if len(after) != len(before) || len(filesWith(t, data, eraseMarker)) == 0 {
		t.Fatalf("the refused erasure changed the log: %d events, was %d", len(after), len(before))
	}
	for i := range after {
		if after[i].Kind != before[i].Kind || (after[i].Payload == nil) != (before[i].Payload == nil) ||
			after[i].Payload != nil && *after[i].Payload != *before[i].Payload {
			t.Fatalf("event %d changed: %+v, was %+v", after[i].Seq, after[i], before[i])
		}
	}
	entries, _ := os.ReadDir(data)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".erase-") {
			t.Errorf("%s left by the refused erasure", e.Name())
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	expect(t, data, "erased 4000 events of user alice", "erase", "--user", "alice")
	if f := filesWith(t, data, eraseMarker); len(f) > 0 {
		t.Errorf("the marker is still in %v", f)
	}
}
