package recorder

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tracker/events"
)

// writeFile writes root/rel, creating directories, with modification time mtime.
func writeFile(t *testing.T, root, rel, content string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func recLines(lines ...[]byte) string {
	var b []byte
	for _, l := range lines {
		b = append(b, l...)
	}
	return string(b)
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestReadStorageDirectory(t *testing.T) {
	root := t.TempDir()
	mtime := at("2024-07-01T12:00:00Z")
	loc := func(tst string) []byte {
		return []byte(`{"_type":"location","tid":"jp","lat":52.52,"lon":13.4,"tst":` + tst + `}`)
	}
	waypoint := `{"_type":"waypoint","desc":"Gym","lat":51.5,"lon":-0.12,"rad":75,"tst":1717000000,"rid":"c0ffee"}`
	writeFile(t, root, "rec/jane/phone/2024-05.rec", recLines(
		AppendLine(nil, at("2024-05-29T16:26:40Z"), "waypoint", []byte(waypoint)),
		AppendLine(nil, at("2024-05-31T10:00:00Z"), "*", loc("1717149600")),
		AppendLine(nil, at("2024-05-31T10:05:00Z"), "event", []byte(`{"_type":"transition","event":"enter","desc":"Gym","tst":1717149900}`)),
		AppendLine(nil, at("2024-05-31T11:00:00Z"), "lwt", []byte(`{"_type":"lwt","tst":1717140000}`)),
	), mtime)
	writeFile(t, root, "rec/jane/phone/2024-06.rec", recLines(
		AppendLine(nil, at("2024-06-01T08:00:00Z"), "*", loc("1717228800")),
		[]byte("2024-06-01T25:00:00Z\t*                 \t{\"_type\":\"location\"}\n"), // line 2: bad time
		[]byte("\n"), // blank: ignored
		[]byte("2024-06-01T09:00:00Z\t*                 \t{\"_type\":\"location\",\"la\n"), // line 4: cut JSON
		AppendLine(nil, at("2024-06-01T10:00:00Z"), "*", []byte(`{"_type":"encrypted","data":"AAAA"}`)),
		[]byte("2024-06-01T11:00:00Z\t*                 \t{\"_type\":\"loc"), // line 6: the Recorder died mid-write
	), mtime)
	writeFile(t, root, "rec/jane/tablet/2024-06.rec", string(AppendLine(nil, at("2024-06-02T08:00:00Z"), "*", loc("1717315200"))), mtime)
	writeFile(t, root, "rec/bob/car/2023-12.rec", string(AppendLine(nil, at("2023-12-24T18:00:00Z"), "*", loc("1703440800"))), mtime)
	writeFile(t, root, "cards/jane/phone/jane-phone.json", `{"_type":"card","tid":"jp","name":"Jane"}`+"\n", at("2024-05-01T00:00:00Z"))
	writeFile(t, root, "cards/bob/bob.json", `{"_type":"card","name":"Bob"}`+"\n", at("2023-01-01T00:00:00Z"))
	writeFile(t, root, "cards/ghost/ghost.json", `{"_type":"card","name":"Nobody"}`+"\n", mtime)
	writeFile(t, root, "waypoints/jane/phone/jane-phone.otrw", "{\n\t\"_type\":\t\"waypoints\",\n\t\"waypoints\":\t[]\n}\n", at("2024-06-15T09:30:00.7Z"))
	writeFile(t, root, "waypoints/jane/phone/2024-05-29T16:26:40Z.json", waypoint, mtime) // also in the .rec
	writeFile(t, root, "waypoints/jane/phone/2024-04-01T00:00:00Z.json", `{"_type":"waypoint","desc":"Old","lat":1,"lon":2,"rad":9,"tst":1711929600}`, mtime)
	writeFile(t, root, "last/jane/phone/jane-phone.json", string(loc("1717228800")), mtime)
	writeFile(t, root, "config/jane/phone/jane-phone.otrc", `{"password":"secret"}`, mtime)

	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	var problems []string
	st, err := d.Read(t.Context(), func(r Record) error {
		if len(recs) > 0 && r.Done < recs[len(recs)-1].Done {
			t.Errorf("progress went back at %s:%d", r.File, r.Line)
		}
		recs = append(recs, r)
		return nil
	}, func(p Problem) { problems = append(problems, p.String()) })
	if err != nil {
		t.Fatal(err)
	}

	type want struct {
		file, topic, time, kind string
		line                    int
	}
	wants := []want{
		{"rec/bob/car/2023-12.rec", "owntracks/bob/car", "2023-12-24T18:00:00Z", "location", 1},
		{"cards/bob/bob.json", "owntracks/bob/car/info", "2023-01-01T00:00:00Z", "card", 0},
		{"rec/jane/phone/2024-05.rec", "owntracks/jane/phone/waypoint", "2024-05-29T16:26:40Z", "waypoint", 1},
		{"rec/jane/phone/2024-05.rec", "owntracks/jane/phone", "2024-05-31T10:00:00Z", "location", 2},
		{"rec/jane/phone/2024-05.rec", "owntracks/jane/phone/event", "2024-05-31T10:05:00Z", "transition", 3},
		{"rec/jane/phone/2024-05.rec", "owntracks/jane/phone", "2024-05-31T11:00:00Z", "lwt", 4},
		{"rec/jane/phone/2024-06.rec", "owntracks/jane/phone", "2024-06-01T08:00:00Z", "location", 1},
		{"rec/jane/phone/2024-06.rec", "owntracks/jane/phone", "2024-06-01T10:00:00Z", "encrypted", 5},
		{"waypoints/jane/phone/2024-04-01T00:00:00Z.json", "owntracks/jane/phone/waypoint", "2024-04-01T00:00:00Z", "waypoint", 0},
		{"waypoints/jane/phone/jane-phone.otrw", "owntracks/jane/phone/waypoints", "2024-06-15T09:30:00Z", "waypoints", 0},
		{"cards/jane/phone/jane-phone.json", "owntracks/jane/phone/info", "2024-05-01T00:00:00Z", "card", 0},
		{"rec/jane/tablet/2024-06.rec", "owntracks/jane/tablet", "2024-06-02T08:00:00Z", "location", 1},
	}
	if len(recs) != len(wants) {
		for _, r := range recs {
			t.Logf("%s:%d %s %s", r.File, r.Line, r.Event.Topic, r.Event.Payload)
		}
		t.Fatalf("%d records, want %d", len(recs), len(wants))
	}
	for i, w := range wants {
		r := recs[i]
		if r.File != w.file || r.Line != w.line || r.Event.Topic != w.topic || !r.Event.Received.Equal(at(w.time)) ||
			!strings.Contains(string(r.Event.Payload), `"_type":"`+w.kind+`"`) && !strings.Contains(string(r.Event.Payload), `"_type":	"`+w.kind+`"`) ||
			r.Event.Source != events.SourceRecorder {
			t.Errorf("record %d = %s:%d %s %s %s, want %+v", i, r.File, r.Line, r.Event.Topic, r.Event.Received.Format(time.RFC3339), r.Event.Payload, w)
		}
	}
	if string(recs[10].Event.Payload) != `{"_type":"card","tid":"jp","name":"Jane"}` {
		t.Errorf("card payload %q: want the file without the Recorder's newline", recs[10].Event.Payload)
	}
	if last := recs[len(recs)-1].Done; last != d.Size {
		t.Errorf("progress ends at %d of %d bytes", last, d.Size)
	}

	wantProblems := []string{
		"cards/ghost/ghost.json: card without device: user ghost has no device in rec/, cards/ or waypoints/",
		"rec/jane/phone/2024-06.rec:2: bad time",
		"rec/jane/phone/2024-06.rec:4: payload is not JSON",
		"rec/jane/phone/2024-06.rec:6: truncated line",
	}
	if len(problems) != len(wantProblems) {
		t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
	}
	for i, w := range wantProblems {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d = %q, want %q…", i, problems[i], w)
		}
	}
	if st.Lines != 11 || st.WaypointFilesInRec != 1 || st.Files != 9 {
		t.Errorf("stats = %+v, want 11 lines, 1 waypoint file already in .rec, 9 files", st)
	}
}

func TestReadLongLines(t *testing.T) {
	root := t.TempDir()
	big := `{"_type":"location","lat":1,"lon":2,"tst":1718000000,"image":"` + strings.Repeat("A", 200<<10) + `"}`
	huge := `{"_type":"location","image":"` + strings.Repeat("B", MaxLine) + `"}`
	writeFile(t, root, "rec/u/d/2024-06.rec", recLines(
		AppendLine(nil, at("2024-06-10T06:00:00Z"), "*", []byte(big)),
		AppendLine(nil, at("2024-06-10T06:01:00Z"), "*", []byte(huge)),
		AppendLine(nil, at("2024-06-10T06:02:00Z"), "*", []byte(`{"_type":"lwt","tst":1}`)),
	), time.Now())
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []Record
	var problems []Problem
	if _, err := d.Read(t.Context(), func(r Record) error { got = append(got, r); return nil },
		func(p Problem) { problems = append(problems, p) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got[0].Event.Payload) != big || got[1].Line != 3 {
		t.Fatalf("got %d records (lines %v)", len(got), func() []int {
			var l []int
			for _, r := range got {
				l = append(l, r.Line)
			}
			return l
		}())
	}
	if len(problems) != 1 || problems[0].Line != 2 || problems[0].Reason != ReasonTooLong {
		t.Fatalf("problems = %+v", problems)
	}
}

func TestOpenRefusesOtherDirectories(t *testing.T) {
	if _, err := Open(t.TempDir()); !errors.Is(err, ErrNotRecorder) {
		t.Errorf("empty directory: %v, want ErrNotRecorder", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory opened")
	}
}

func TestReadStopsWhenFnFails(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "rec/u/d/2024-06.rec", recLines(
		AppendLine(nil, at("2024-06-10T06:00:00Z"), "*", []byte(`{}`)),
		AppendLine(nil, at("2024-06-10T06:01:00Z"), "*", []byte(`{}`)),
	), time.Now())
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	_, err = d.Read(t.Context(), func(Record) error { n++; return stop }, func(Problem) {})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Read = %v after %d records, want stop after 1", err, n)
	}
}

// A link in the storage directory that leads outside it is not read (it
// could hand the import any file the importing user may read, such as the
// server's sessions); links that stay inside are followed.
func TestOpenRefusesLinksOutside(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, outside, "sessions.json", `{"_type":"location","lat":1,"lon":2,"tst":1718000000,"token":"secret"}`, time.Now())
	writeFile(t, outside, "dev/2024-06.rec", string(AppendLine(nil, at("2024-06-10T06:00:00Z"), "*", []byte(`{"_type":"location","token":"secret"}`))), time.Now())

	root := t.TempDir()
	writeFile(t, root, "rec/u/d/2024-06.rec", string(AppendLine(nil, at("2024-06-10T06:00:00Z"), "*", []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`))), time.Now())
	writeFile(t, root, "elsewhere/2024-07.rec", string(AppendLine(nil, at("2024-07-10T06:00:00Z"), "*", []byte(`{"_type":"location","lat":1,"lon":2,"tst":1720000000}`))), time.Now())
	link := func(target, rel string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(outside, "sessions.json"), "rec/u/d/2024-05.rec")          // a file outside
	link(filepath.Join(outside, "sessions.json"), "cards/u/d/u-d.json")           // a card outside
	link(filepath.Join(outside, "dev"), "rec/u/stolen")                           // a directory outside
	link("../../../elsewhere/2024-07.rec", "rec/u/d/2024-07.rec")                 // a file inside: read
	link(filepath.Join(outside, "dev"), "waypoints")                              // a top directory outside
	link(filepath.Join(root, "rec", "u", "d", "2024-06.rec"), "rec/u/d/copy.rec") // inside, by an absolute path

	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var problems []Problem
	if _, err := d.Read(t.Context(), func(r Record) error {
		if strings.Contains(string(r.Event.Payload), "secret") {
			t.Errorf("%s: read a file outside the directory: %s", r.File, r.Event.Payload)
		}
		got = append(got, r.File)
		return nil
	}, func(p Problem) { problems = append(problems, p) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"rec/u/d/2024-06.rec", "rec/u/d/2024-07.rec", "rec/u/d/copy.rec"}; !slices.Equal(got, want) {
		t.Errorf("read %v, want %v", got, want)
	}
	refused := map[string]bool{}
	for _, p := range problems {
		if p.Reason != ReasonOutside || !strings.Contains(p.Detail, outside) {
			t.Errorf("problem %s: want %q naming the target", p, ReasonOutside)
		}
		refused[p.File] = true
	}
	for _, rel := range []string{"rec/u/d/2024-05.rec", "cards/u/d/u-d.json", "rec/u/stolen", "waypoints"} {
		if !refused[rel] {
			t.Errorf("%s: not refused as a link outside; problems: %v", rel, problems)
		}
	}
}
