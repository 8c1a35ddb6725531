package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracker/events"
)

// A GPX track in two segments with one point out of range.
const gpxTwoSegments = `<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>Walk</name>
    <trkseg>
      <trkpt lat="50.8503" lon="4.3517"><ele>56</ele><time>2024-06-10T06:00:00Z</time></trkpt>
      <trkpt lat="50.8510" lon="4.3525"><ele>57</ele><time>2024-06-10T06:01:00Z</time></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="95.0" lon="4.3530"><time>2024-06-10T06:30:00Z</time></trkpt>
      <trkpt lat="50.8530" lon="4.3540"><time>2024-06-10T06:31:00Z</time></trkpt>
    </trkseg>
  </trk>
</gpx>
`

func TestImportGPX(t *testing.T) {
	dir := t.TempDir()
	file, data := filepath.Join(dir, "walk.gpx"), filepath.Join(dir, "data")
	if err := os.WriteFile(file, []byte(gpxTwoSegments), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		args          []string
		stored, known int
	}{
		{"first", []string{"import", "gpx", file, "--user", "anna", "--device", "watch", "--data", data}, 3, 0},
		{"again, flags first", []string{"import", "gpx", "--user", "anna", "--device=watch", "--data", data, file}, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := runOK(t, tc.args...)
			if stored, present := summaryCount(t, out); stored != tc.stored || present != tc.known {
				t.Errorf("stored %d, %d present; want %d, %d\n%s", stored, present, tc.stored, tc.known, out)
			}
			for _, want := range []string{"read 3 records", "1  bad coordinates (" + file + ":9)", "1 tracks in 2 segments"} {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
		})
	}
	evs := readLog(t, data)
	wantTimes := []string{"2024-06-10T06:00:00Z", "2024-06-10T06:01:00Z", "2024-06-10T06:31:00Z"}
	if len(evs) != len(wantTimes) {
		t.Fatalf("%d events, want %d", len(evs), len(wantTimes))
	}
	for i, e := range evs {
		if e.Source != events.SourceGPX || e.Topic != "owntracks/anna/watch" || e.Received.Format(time.RFC3339) != wantTimes[i] ||
			!strings.HasPrefix(string(e.Payload), `{"_type":"location",`) || !strings.Contains(string(e.Payload), `"tid":"ch"`) {
			t.Errorf("event %d: %s %s %s %s", i, e.Source, e.Topic, e.Received.Format(time.RFC3339), e.Payload)
		}
	}
}

func TestImportGPXErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.gpx")
	if err := os.WriteFile(file, []byte(gpxTwoSegments), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	runFails(t, "give --user", "import", "gpx", file, "--device", "d", "--data", data)
	runFails(t, "give --device", "import", "gpx", file, "--user", "u", "--data", data)
	runFails(t, "cannot hold", "import", "gpx", file, "--user", "a/b", "--device", "d", "--data", data)
	runFails(t, "name one GPX file", "import", "gpx", "--user", "u", "--device", "d", "--data", data)
	runFails(t, "no such file", "import", "gpx", filepath.Join(dir, "missing.gpx"), "--user", "u", "--device", "d", "--data", data)
}
