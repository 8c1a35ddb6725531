package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"tracker/events"
	"tracker/events/recorder"
	"tracker/projections"
	"tracker/views/htmltest"
)

// recorderFixture describes the Recorder directory writeRecorderDir makes.
type recorderFixture struct {
	records    int                    // events an import must store
	badLines   map[string]int         // reason -> count
	times      map[string][]time.Time // topic -> times of its records, in order
	janePoints []int64                // tst of jane/phone's locations
}

// writeRecorderDir writes, under root, a storage directory in the exact
// format the OwnTracks Recorder writes: two users, three devices, several
// months, a corrupt and a truncated line, an encrypted payload, cards in
// both layouts, a waypoints export and a shared waypoint file (which the
// Recorder also writes into the .rec file).
func writeRecorderDir(t *testing.T, root string) recorderFixture {
	t.Helper()
	fx := recorderFixture{badLines: map[string]int{}, times: map[string][]time.Time{}}
	files := map[string][]byte{}
	mtime := time.Date(2024, 7, 1, 9, 0, 0, 0, time.UTC)
	add := func(user, device, rel string, at time.Time, payload string) {
		file := fmt.Sprintf("rec/%s/%s/%s.rec", user, device, at.UTC().Format("2006-01"))
		files[file] = recorder.AppendLine(files[file], at, rel, []byte(payload))
		fx.records++
		topic := recorder.Topic(user, device, rel)
		fx.times[topic] = append(fx.times[topic], at)
	}
	corrupt := func(user, device string, month time.Time, line string, reason string) {
		file := fmt.Sprintf("rec/%s/%s/%s.rec", user, device, month.Format("2006-01"))
		files[file] = append(files[file], line...)
		fx.badLines[reason]++
	}
	loc := func(user, device, tid string, at time.Time, lat, lon float64) {
		add(user, device, "*", at, fmt.Sprintf(`{"_type":"location","tid":%q,"lat":%v,"lon":%v,"tst":%d,"acc":10,"batt":80}`, tid, lat, lon, at.Unix()))
		if user == "jane" && device == "phone" {
			fx.janePoints = append(fx.janePoints, at.Unix())
		}
	}

	may := time.Date(2024, 5, 31, 8, 0, 0, 0, time.UTC)
	june := time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)
	wp := `{"_type":"waypoint","desc":"Office","lat":50.8466,"lon":4.3528,"rad":100,"tst":1717142400,"rid":"0ff1ce"}`
	add("jane", "phone", "waypoint", time.Unix(1717142400, 0), wp)
	for i := range 4 {
		loc("jane", "phone", "jp", may.Add(time.Duration(i)*10*time.Minute), 50.84+float64(i)*0.001, 4.35)
	}
	add("jane", "phone", "event", may.Add(15*time.Minute), `{"_type":"transition","event":"enter","desc":"Office","rid":"0ff1ce","tst":1717143300,"lat":50.8466,"lon":4.3528,"t":"c","tid":"jp"}`)
	add("jane", "phone", "lwt", may.Add(2*time.Hour), `{"_type":"lwt","tst":1717142000}`)
	for i := range 3 {
		loc("jane", "phone", "jp", june.Add(time.Duration(i)*10*time.Minute), 50.85, 4.36+float64(i)*0.001)
	}
	corrupt("jane", "phone", june, "2024-06-01T27:00:00Z\t*                 \t{\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1}\n", recorder.ReasonTime)
	loc("jane", "phone", "jp", june.Add(time.Hour), 50.851, 4.37)
	corrupt("jane", "phone", june, "2024-06-01T09:10:00Z\t*                 \t{\"_type\":\"location\",\"lat\":50.8\n", recorder.ReasonJSON)
	add("jane", "phone", "cmd", june.Add(2*time.Hour), `{"_type":"cmd","action":"reportLocation"}`)
	loc("jane", "tablet", "jt", june.Add(3*time.Hour), 50.83, 4.33)
	loc("bob", "car", "bc", time.Date(2023, 12, 24, 18, 0, 0, 0, time.UTC), 51.05, 3.72)
	add("bob", "car", "*", time.Date(2024, 1, 2, 7, 0, 0, 0, time.UTC), `{"_type":"encrypted","data":"6Cjt6iNXn8Ux9n0+Wx6V3vMqlvJvYRH2wSMkSdCYMzc3gp1s2bcHMHq5Qf8="}`)
	loc("bob", "car", "bc", time.Date(2024, 1, 2, 7, 30, 0, 0, time.UTC), 51.06, 3.73)
	// The Recorder died while writing the last line of bob's January.
	corrupt("bob", "car", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "2024-01-02T08:00:00Z\t*                 \t{\"_type\":\"locat", recorder.ReasonTruncated)

	for name, b := range files {
		writeAt(t, root, name, b, mtime)
	}
	// Cards: the current layout for jane's phone, the old per-user one for bob.
	writeAt(t, root, "cards/jane/phone/jane-phone.json", []byte(`{"_type":"card","tid":"jp","name":"Jane Doe"}`+"\n"), mtime)
	writeAt(t, root, "cards/bob/bob.json", []byte(`{"_type":"card","name":"Bob Builder"}`+"\n"), mtime)
	fx.records += 2
	// The phone's export of its regions, pretty-printed as the Recorder stores it.
	writeAt(t, root, "waypoints/jane/phone/jane-phone.otrw", []byte("{\n\t\"_type\":\t\"waypoints\",\n\t\"waypoints\":\t[{\n\t\t\t\"_type\":\t\"waypoint\",\n\t\t\t\"desc\":\t\"Office\",\n\t\t\t\"lat\":\t50.8466,\n\t\t\t\"lon\":\t4.3528,\n\t\t\t\"rad\":\t100,\n\t\t\t\"tst\":\t1717142400,\n\t\t\t\"rid\":\t\"0ff1ce\"\n\t\t}]\n}"), mtime)
	fx.records++
	// The same region as the .rec line, as the Recorder writes it too: not imported twice.
	writeAt(t, root, "waypoints/jane/phone/2024-05-31T08:00:00Z.json", []byte(wp), mtime)
	// What the import leaves alone.
	writeAt(t, root, "last/jane/phone/jane-phone.json", []byte(`{"_type":"location","lat":1,"lon":2,"tst":1}`), mtime)
	writeAt(t, root, "config/jane/phone/jane-phone.otrc", []byte(`{"_type":"configuration","password":"s3cret"}`), mtime)
	return fx
}

func writeAt(t testing.TB, root, rel string, b []byte, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// summaryCount reads "stored N new events, M already present".
func summaryCount(t *testing.T, out string) (stored, present int) {
	t.Helper()
	m := regexp.MustCompile(`stored (\d+) new events, (\d+) already present`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no counts in the summary:\n%s", out)
	}
	stored, _ = strconv.Atoi(m[1])
	present, _ = strconv.Atoi(m[2])
	return stored, present
}

func TestImportRecorder(t *testing.T) {
	dir := t.TempDir()
	store, data := filepath.Join(dir, "recorder"), filepath.Join(dir, "data")
	fx := writeRecorderDir(t, store)

	out, _ := runOK(t, "import", "recorder", store, "--data", data)
	if stored, present := summaryCount(t, out); stored != fx.records || present != 0 {
		t.Errorf("first import stored %d, %d present; want %d, 0\n%s", stored, present, fx.records, out)
	}
	for _, want := range []string{
		fmt.Sprintf("read %d records", fx.records),
		"skipped 3 bad lines or files",
		"1  bad time (rec/jane/phone/2024-06.rec:4)",
		"1  payload is not JSON (rec/jane/phone/2024-06.rec:6)",
		"1  truncated line (rec/bob/car/2024-01.rec:3)",
		"1 waypoint files were not read",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	// Every record at its line's time, on its topic, as an import.
	evs := readLog(t, data)
	if len(evs) != fx.records {
		t.Fatalf("log holds %d events, want %d", len(evs), fx.records)
	}
	got := map[string][]time.Time{}
	for _, e := range evs {
		if e.Source != events.SourceRecorder {
			t.Errorf("event %d: source %q", e.Seq, e.Source)
		}
		got[e.Topic] = append(got[e.Topic], e.Received)
	}
	for topic, want := range fx.times {
		if len(got[topic]) != len(want) {
			t.Errorf("%s: %d events, want %d", topic, len(got[topic]), len(want))
			continue
		}
		for i := range want {
			if !got[topic][i].Equal(want[i]) {
				t.Errorf("%s event %d at %s, want the line's time %s", topic, i, got[topic][i], want[i])
			}
		}
	}
	encrypted := 0
	for _, e := range evs {
		if bytes.Contains(e.Payload, []byte(`"_type":"encrypted"`)) {
			encrypted++
		}
	}
	if encrypted != 1 {
		t.Errorf("%d encrypted payloads kept, want 1", encrypted)
	}

	// Again: nothing new, everything recognised.
	out, _ = runOK(t, "import", "recorder", "--data", data, store)
	if stored, present := summaryCount(t, out); stored != 0 || present != fx.records {
		t.Errorf("second import stored %d, %d present; want 0, %d\n%s", stored, present, fx.records, out)
	}
	if n := len(readLog(t, data)); n != fx.records {
		t.Errorf("log holds %d events after the second import, want %d", n, fx.records)
	}

	// The projections show the imported friends, names and history.
	checkImportedProjections(t, data, fx)
}

func checkImportedProjections(t *testing.T, data string, fx recorderFixture) {
	t.Helper()
	p, done := openProjections(t, data)
	defer done()
	friends := map[projections.DeviceID]projections.FriendView{}
	for _, f := range p.Friends() {
		friends[f.ID] = f
	}
	for _, c := range []struct {
		id   projections.DeviceID
		name string
		tst  int64
	}{
		{"jane/phone", "Jane Doe", fx.janePoints[len(fx.janePoints)-1]},
		{"jane/tablet", "", time.Date(2024, 6, 1, 11, 0, 0, 0, time.UTC).Unix()},
		{"bob/car", "Bob Builder", time.Date(2024, 1, 2, 7, 30, 0, 0, time.UTC).Unix()},
	} {
		f, ok := friends[c.id]
		if !ok {
			t.Errorf("no friend %s after the import (friends: %v)", c.id, friends)
			continue
		}
		if f.Name != c.name || f.Location == nil || f.Location.Tst != c.tst {
			t.Errorf("friend %s: name %q, location %+v; want %q at tst %d", c.id, f.Name, f.Location, c.name, c.tst)
		}
	}
	var tsts []int64
	err := p.History("jane/phone", fx.janePoints[0], fx.janePoints[len(fx.janePoints)-1]+1, func(pt projections.Point) error {
		tsts = append(tsts, pt.Tst)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(tsts) != fmt.Sprint(fx.janePoints) {
		t.Errorf("jane/phone history %v, want %v", tsts, fx.janePoints)
	}
}

// TestImportRecorderShowsOnPages: after an import, `tracker serve` shows
// the imported friends on the dashboard and their history page lists the
// imported points; a second import through the running server (its
// database is locked) logs in as an admin and stores nothing.
func TestImportRecorderShowsOnPages(t *testing.T) {
	dir := t.TempDir()
	store, data := filepath.Join(dir, "recorder"), filepath.Join(dir, "data")
	fx := writeRecorderDir(t, store)
	runOK(t, "import", "recorder", store, "--data", data)
	var out, errOut bytes.Buffer
	if err := runUserWith(t.Context(), []string{"add", "root", "--admin", "--password-stdin", "--data", data},
		strings.NewReader("root-pass-123\n"), &out, &errOut); err != nil {
		t.Fatalf("user add: %v\n%s", err, errOut.String())
	}
	s := startServer(t, data)
	base := "http://" + s.http
	get := func(path string) []byte {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("root", "root-pass-123")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", path, res.Status, b)
		}
		return b
	}

	doc := parseHTML(t, get("/"))
	rows := map[string]string{}
	for _, n := range htmltest.ByTestID(doc, "friend") {
		rows[htmltest.Attr(n, "data-friend")] = htmltest.Text(n)
	}
	for id, name := range map[string]string{"jane/phone": "Jane Doe", "bob/car": "Bob Builder", "jane/tablet": "tablet"} {
		if !strings.Contains(rows[id], name) {
			t.Errorf("dashboard row of %s = %q, want it to show %q", id, rows[id], name)
		}
	}

	q := url.Values{"from": {fmt.Sprint(fx.janePoints[0])}, "to": {fmt.Sprint(fx.janePoints[len(fx.janePoints)-1] + 1)}}
	hist := parseHTML(t, get("/friends/jane/phone?"+q.Encode()))
	var tsts []string
	for _, n := range htmltest.ByTestID(hist, "point-row") {
		tsts = append(tsts, htmltest.Attr(n, "data-tst"))
	}
	want := make([]string, len(fx.janePoints))
	for i, p := range fx.janePoints {
		want[i] = fmt.Sprint(p)
	}
	if strings.Join(tsts, " ") != strings.Join(want, " ") {
		t.Errorf("history page rows %v, want the imported points %v", tsts, want)
	}
	if names := htmltest.ByTestID(hist, "friend-name"); len(names) == 0 || !strings.Contains(htmltest.Text(names[0]), "Jane Doe") {
		t.Errorf("history page does not name Jane Doe")
	}

	// Through the running server: it holds the database, so the import
	// posts to its API with the admin's login; everything is known.
	t.Setenv("TRACKER_LOGIN", "root")
	t.Setenv("TRACKER_LOGIN_PASSWORD", "root-pass-123")
	out2, errOut2 := runOK(t, "import", "recorder", store, "--data", data)
	if !strings.Contains(errOut2, "importing through http://") {
		t.Errorf("import did not say it went through the server: %q", errOut2)
	}
	if stored, present := summaryCount(t, out2); stored != 0 || present != fx.records {
		t.Errorf("import through the server stored %d, %d present; want 0, %d\n%s", stored, present, fx.records, out2)
	}
}

// TestImportRecorderThroughServer: with the database held by a running
// server, the import goes through POST /api/v1/admin/import; the events
// are stored once, and the server's projections show them.
func TestImportRecorderThroughServer(t *testing.T) {
	dir := t.TempDir()
	store, data := filepath.Join(dir, "recorder"), filepath.Join(dir, "data")
	fx := writeRecorderDir(t, store)
	s := startServer(t, data)

	out, errOut := runOK(t, "import", "recorder", store, "--data", data)
	if !strings.Contains(errOut, "importing through http://"+s.http) {
		t.Errorf("stderr %q: want it to say it imports through the server", errOut)
	}
	if stored, present := summaryCount(t, out); stored != fx.records || present != 0 {
		t.Errorf("stored %d, %d present; want %d, 0\n%s", stored, present, fx.records, out)
	}
	if strings.Contains(out, "applies the new events when it starts") {
		t.Errorf("through a running server the summary should not ask to start one:\n%s", out)
	}
	out, _ = runOK(t, "import", "recorder", store, "--data", data)
	if stored, present := summaryCount(t, out); stored != 0 || present != fx.records {
		t.Errorf("second import stored %d, %d present; want 0, %d", stored, present, fx.records)
	}
	lines, _ := logLines(t, "--data", data)
	imported := 0
	for _, l := range lines {
		if l.Source == events.SourceRecorder {
			imported++
		}
	}
	if imported != fx.records {
		t.Errorf("the server's log holds %d imported events, want %d", imported, fx.records)
	}

	// The running server's projections catch up with the import.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var friends []projections.FriendView
		res, err := http.Get("http://" + s.http + "/api/v1/friends")
		if err == nil {
			err = json.NewDecoder(res.Body).Decode(&friends)
			res.Body.Close()
		}
		n := 0
		for _, f := range friends {
			if (f.ID == "jane/phone" && f.Name == "Jane Doe") || (f.ID == "bob/car" && f.Name == "Bob Builder") {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's friends do not show the import within 10 s: %+v (%v)", friends, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestImportRecorderErrors(t *testing.T) {
	dir := t.TempDir()
	runFails(t, "not an OwnTracks Recorder storage directory", "import", "recorder", dir, "--data", filepath.Join(dir, "data"))
	runFails(t, "name the Recorder's storage directory", "import", "recorder", "--data", filepath.Join(dir, "data"))
	runFails(t, "unknown import source", "import", "tracks", dir)
}

func parseHTML(t *testing.T, b []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The import reads only files inside the directory it is given: a link to
// the server's own session file, or to a directory elsewhere, is refused
// with the reason in the summary.
func TestImportRecorderRefusesLinksOutside(t *testing.T) {
	dir := t.TempDir()
	store, data := filepath.Join(dir, "recorder"), filepath.Join(dir, "data")
	fx := writeRecorderDir(t, store)
	secret := filepath.Join(dir, "server", "sessions.json")
	elsewhere := filepath.Join(dir, "elsewhere", "dev")
	for _, f := range []string{secret, filepath.Join(elsewhere, "2024-06.rec")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		line := recorder.AppendLine(nil, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), "*", []byte(`{"_type":"location","lat":1,"lon":2,"tst":1717200000,"token":"s3cret"}`))
		if err := os.WriteFile(f, line, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"rec/jane/phone/2020-01.rec": secret,
		"rec/jane/stolen":            elsewhere,
	} {
		if err := os.Symlink(target, filepath.Join(store, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}

	out, _ := runOK(t, "import", "recorder", store, "--data", data)
	if stored, _ := summaryCount(t, out); stored != fx.records {
		t.Errorf("stored %d, want the directory's %d\n%s", stored, fx.records, out)
	}
	if !strings.Contains(out, "2  link outside the directory (") || !strings.Contains(out, "rec/jane/phone/2020-01.rec") || !strings.Contains(out, "rec/jane/stolen") {
		t.Errorf("summary does not name both links as outside the directory:\n%s", out)
	}
	for _, e := range readLog(t, data) {
		if bytes.Contains(e.Payload, []byte("s3cret")) || strings.Contains(e.Topic, "stolen") {
			t.Errorf("event %d came from outside the directory: %s %s", e.Seq, e.Topic, e.Payload)
		}
	}
}
