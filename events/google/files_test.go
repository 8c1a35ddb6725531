package google_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"tracker/events/google"
	"tracker/events/google/googletest"
)

// TestIsTakeoutEntry: the names Google gives location history in a
// Takeout archive and the phone exports, and not others.
func TestIsTakeoutEntry(t *testing.T) {
	for name, want := range map[string]bool{
		"Takeout/Location History (Timeline)/Records.json":                                    true,
		"Takeout/Location History/Location History.json":                                      true,
		"Takeout/Location History/Semantic Location History/2019/2019_MARCH.json":             true,
		"Takeout/Standortverlauf (Timeline)/Semantic Location History/2024/2024_JANUARY.json": true,
		"Timeline.json":                                      true,
		"export/location-history.json":                       true,
		"Records.json.gz":                                    true,
		"Takeout/Location History/Settings.json":             false,
		"Takeout/Location History/Timeline Edits.json":       false,
		"rec/alice/phone/2024-01.rec":                        false,
		"Takeout/Semantic Location History/2019/notes.txt":   false,
		"Takeout/Fit/Daily activity metrics/2024-01-01.json": false,
	} {
		if got := google.IsTakeoutEntry(name); got != want {
			t.Errorf("IsTakeoutEntry(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestReadGoogleFiles: the files of a Takeout folder or archive are read
// in name order; progress counts the files before; problems name the
// file; a file that is not location history is listed and skipped among
// several, and an error alone.
func TestReadGoogleFiles(t *testing.T) {
	file := func(name, body string) google.File {
		return google.File{Name: name, Size: int64(len(body)), Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }}
	}
	files := []google.File{
		file("Semantic Location History/2022/2022_MARCH.json", googletest.Semantic),
		file("Settings.json", `{"createdTime": "2013-09-01T09:25:36.522Z"}`),
		file("Records.json", googletest.Records),
	}
	fs := &google.Files{Device: google.Device{User: "anna", Device: "phone"}, Several: true}
	var (
		n, lastDone int64
		where       []string
		first       string
	)
	err := fs.ReadAll(t.Context(), files, func(r google.Record) error {
		if n == 0 {
			first = r.Where
		}
		n++
		if r.Done < lastDone {
			t.Errorf("progress went back: %d after %d", r.Done, lastDone)
		}
		lastDone = r.Done
		return nil
	}, func(p google.Problem) { where = append(where, p.Where) })
	if err != nil {
		t.Fatal(err)
	}
	if n != 3+12 || fs.History() != 2 {
		t.Errorf("%d events from %d files, want 15 from 2", n, fs.History())
	}
	if lastDone <= int64(len(googletest.Records)) {
		t.Errorf("progress %d does not count Records.json (%d bytes) read before", lastDone, len(googletest.Records))
	}
	if first != "locations[0]" {
		t.Errorf("first event from %q: Records.json is read first", first)
	}
	if len(where) == 0 || !strings.HasPrefix(where[0], "Records.json locations[") {
		t.Errorf("problems %q do not name the file", where)
	}
	notes := strings.Join(fs.Notes(), "\n")
	for _, want := range []string{"files read: 1 × Records.json (raw locations), 1 × Semantic Location History",
		"1 files are not location history and were not read: Settings.json"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	one := &google.Files{Device: fs.Device}
	if err := one.ReadAll(t.Context(), files[1:2], func(google.Record) error { return nil }, func(google.Problem) {}); !errors.Is(err, google.ErrNotGoogle) {
		t.Errorf("one file that is not location history: %v", err)
	}
}
