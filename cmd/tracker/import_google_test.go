package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/events/google"
	"tracker/events/google/googletest"
	"tracker/events/owntracks"
	"tracker/views/web"
)

// writeTakeout writes a Takeout archive's location history folder as
// Google lays it out (Records.json, Settings.json, a Semantic Location
// History month) under dir, and the same as a .zip; it returns both.
func writeTakeout(t *testing.T, dir string) (folder, zipFile string) {
	t.Helper()
	files := map[string]string{
		"Takeout/Location History (Timeline)/Records.json":                                   googletest.Records,
		"Takeout/Location History (Timeline)/Settings.json":                                  `{"createdTime": "2013-09-01T09:25:36.522Z", "modifiedTime": "2024-05-01T10:00:00Z", "historyEnabled": true, "deviceSettings": [{"deviceTag": 1234567890, "devicePrettyName": "Pixel 7"}]}`,
		"Takeout/Location History (Timeline)/Semantic Location History/2022/2022_MARCH.json": googletest.Semantic,
		"Takeout/archive_browser.html":                                                       "<html></html>",
	}
	folder = filepath.Join(dir, "Takeout")
	zipFile = filepath.Join(dir, "takeout-20240501T100000Z-001.zip")
	zf, err := os.Create(zipFile)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}
	return folder, zipFile
}

// TestImportGoogle: tracker import google reads a Records.json, a
// Takeout folder and its .zip, a gzip file and both phone exports; every
// position becomes an import:google location of the named device at its
// own time, visits become visit events the server accepts, the summary
// counts what was skipped by reason with where it was, and importing the
// same data again adds nothing.
func TestImportGoogle(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	folder, zipFile := writeTakeout(t, dir)
	records := filepath.Join(folder, "Location History (Timeline)", "Records.json")
	android, ios, gz := filepath.Join(dir, "Timeline.json"), filepath.Join(dir, "location-history.json"), filepath.Join(dir, "Records.json.gz")
	for _, f := range []struct{ path, body string }{{android, googletest.Android}, {ios, googletest.IOS}} {
		if err := os.WriteFile(f.path, []byte(f.body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(googletest.Records))
	_ = zw.Close()
	if err := os.WriteFile(gz, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	dev := []string{"--user", "anna", "--device", "phone", "--data", data}
	tests := []struct {
		name          string
		args          []string
		stored, known int
		summary       []string
	}{
		{"Records.json", append([]string{"import", "google", records}, dev...), 3, 0, []string{
			"read 3 records from " + records,
			"skipped 3 bad lines or files:",
			"1  bad coordinates (Records.json locations[4])",
			"1  duplicate point (Records.json locations[2])",
			"1  no time (Records.json locations[5])",
			"Records.json (raw locations): 6 records, 6 positions",
			"the locations come from 2 Google devices (deviceTag); all are imported as anna/phone",
		}},
		{"Records.json again, flags first", append(append([]string{"import", "google"}, dev...), records), 0, 3, nil},
		{"the Takeout folder", append([]string{"import", "google", folder}, dev...), 12, 3, []string{
			"read 15 records from 3 files in " + folder,
			"2  no coordinates (Location History (Timeline)/Semantic Location History/2022/2022_MARCH.json timelineObjects[3].activitySegment.startLocation, ",
			"files read: 1 × Records.json (raw locations), 1 × Semantic Location History",
			"2 place visits kept as events on owntracks/anna/phone/visit",
			"1 files are not location history and were not read: Location History (Timeline)/Settings.json",
		}},
		{"the Takeout .zip", append([]string{"import", "google", zipFile}, dev...), 0, 15, []string{"read 15 records from 3 files in " + zipFile}},
		{"gzip", append([]string{"import", "google", gz}, dev...), 0, 3, nil},
		{"the Android export", []string{"import", "google", android, "--user", "anna", "--device", "pixel", "--data", data}, 7, 0, []string{
			"Timeline export (Android): 7 records, 9 positions",
			"2 raw signals without a position (activity records, Wi-Fi scans) not imported",
		}},
		{"the iOS export", []string{"import", "google", ios, "--user", "anna", "--device", "iphone", "--tid", "AI", "--data", data}, 6, 0, []string{
			"Timeline export (iOS): 4 records, 7 positions",
			"1 trip summaries (timelineMemory) not imported",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := runOK(t, tc.args...)
			if stored, present := summaryCount(t, out); stored != tc.stored || present != tc.known {
				t.Errorf("stored %d, %d present; want %d, %d\n%s", stored, present, tc.stored, tc.known, out)
			}
			for _, want := range tc.summary {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
		})
	}

	// In the log: import:google events at their own times; visits are
	// visits to the server, not invalid messages.
	perTopic := map[string]int{}
	for _, e := range readLog(t, data) {
		l := eventjson.Make(e, &owntracks.Decoder{})
		if e.Source != events.SourceGoogle || l.Invalid != "" || e.Received.Year() < 2013 || e.Received.Year() > 2024 {
			t.Errorf("event %d: %s %s %v kind %s invalid %q", e.Seq, e.Source, e.Topic, e.Received, l.Kind, l.Invalid)
		}
		if strings.HasSuffix(e.Topic, "/visit") != (l.Kind == string(owntracks.KindVisit)) {
			t.Errorf("event %d on %s is a %s", e.Seq, e.Topic, l.Kind)
		}
		if strings.Contains(e.Topic, "iphone") && !strings.Contains(string(e.Payload), `"tid":"AI"`) {
			t.Errorf("event %d: %s", e.Seq, e.Payload)
		}
		perTopic[e.Topic]++
	}
	want := map[string]int{"owntracks/anna/phone": 13, "owntracks/anna/phone/visit": 2, "owntracks/anna/pixel": 6,
		"owntracks/anna/pixel/visit": 1, "owntracks/anna/iphone": 5, "owntracks/anna/iphone/visit": 1}
	if fmt.Sprint(perTopic) != fmt.Sprint(want) {
		t.Errorf("events per topic %v, want %v", perTopic, want)
	}
}

func TestImportGoogleErrors(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	file := filepath.Join(dir, "Records.json")
	if err := os.WriteFile(file, []byte(googletest.Records), 0o644); err != nil {
		t.Fatal(err)
	}
	settings := filepath.Join(dir, "Settings.json")
	if err := os.WriteFile(settings, []byte(`{"createdTime": "2013-09-01T09:25:36.522Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.json")
	if err := os.WriteFile(cut, []byte(googletest.Records[:1200]), 0o644); err != nil {
		t.Fatal(err)
	}
	runFails(t, "give --user", "import", "google", file, "--device", "d", "--data", data)
	runFails(t, "give --device", "import", "google", file, "--user", "u", "--data", data)
	runFails(t, "cannot hold", "import", "google", file, "--user", "u", "--device", "a+b", "--data", data)
	runFails(t, "name one file", "import", "google", "--user", "u", "--device", "d", "--data", data)
	runFails(t, "no such file", "import", "google", filepath.Join(dir, "missing.json"), "--user", "u", "--device", "d", "--data", data)
	runFails(t, `not a Google location history file`, "import", "google", settings, "--user", "u", "--device", "d", "--data", data)
	runFails(t, "no .json files", "import", "google", t.TempDir(), "--user", "u", "--device", "d", "--data", data)

	// A file cut off: what came before is imported and the summary says
	// where it broke; the command fails.
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"import", "google", cut, "--user", "u", "--device", "d", "--data", data}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "cut.json: google: malformed JSON at byte") {
		t.Errorf("error %v", err)
	}
	for _, want := range []string{"stored 2 new events, 0 already present", "1  malformed JSON (cut.json byte "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}

// TestImportGoogleMedium imports a generated Records.json of 30,000
// locations (10 MB) from disk twice: everything the first time, nothing
// the second. GOOGLE_BIG=1 makes it 3,000,000 (1 GB; run it with
// -timeout 60m), with the peak live heap logged.
func TestImportGoogleMedium(t *testing.T) {
	n := 30_000
	if os.Getenv("GOOGLE_BIG") == "1" {
		n = 3_000_000
	}
	dir := t.TempDir()
	file, data := filepath.Join(dir, "Records.json"), filepath.Join(dir, "data")
	size := writeRecordsFile(t, file, n)
	for _, run := range []struct{ stored, known int }{{n, 0}, {0, n}} {
		var out string
		peak := peakHeap(func() {
			out, _ = runOK(t, "import", "google", file, "--user", "anna", "--device", "phone", "--data", data)
		})
		if stored, present := summaryCount(t, out); stored != run.stored || present != run.known {
			t.Errorf("stored %d, %d present; want %d, %d\n%s", stored, present, run.stored, run.known, out)
		}
		t.Logf("%d records, %.0f MB: peak live heap %.1f MB above the start\n%s", n, float64(size)/(1<<20), peak/(1<<20), out)
	}
}

// cpuTime is the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeRecordsFile(tb testing.TB, path string, n int) int64 {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	size, err := googletest.WriteRecords(f, n, time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return size
}

// BenchmarkImportGoogle imports a generated Records.json of 1,000,000
// locations (330 MB, Takeout's shape) into a fresh data directory, as
// `tracker import google Records.json --data DIR` does with no server
// running, and reports records/s, the same again (everything already
// present) and the peak live heap while importing (above what was live
// before; Badger's tables and caches included).
func BenchmarkImportGoogle(b *testing.B) {
	const n = 1_000_000
	file := filepath.Join(b.TempDir(), "Records.json")
	size := writeRecordsFile(b, file, n)
	b.SetBytes(size)
	b.ResetTimer()
	var took, again, cpu time.Duration
	var peak float64
	importOnce := func(data, want string) time.Duration {
		var out, errOut bytes.Buffer
		start, cpu0 := time.Now(), cpuTime()
		p := peakHeap(func() {
			if err := run(b.Context(), []string{"import", "google", file, "--user", "anna", "--device", "phone", "--data", data}, &out, &errOut); err != nil {
				b.Fatalf("import: %v\n%s", err, errOut.String())
			}
		})
		d := time.Since(start)
		if want == fmt.Sprintf("stored %d new events, 0 already present", n) {
			cpu += cpuTime() - cpu0
		}
		peak = max(peak, p)
		if !strings.Contains(out.String(), want) {
			b.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
		return d
	}
	for i := 0; i < b.N; i++ {
		data := filepath.Join(b.TempDir(), fmt.Sprintf("data%d", i))
		took += importOnce(data, fmt.Sprintf("stored %d new events, 0 already present", n))
		b.StopTimer()
		again += importOnce(data, fmt.Sprintf("stored 0 new events, %d already present", n))
		b.StartTimer()
	}
	b.ReportMetric(float64(n)*float64(b.N)/took.Seconds(), "records/s")
	b.ReportMetric(float64(n)*float64(b.N)/again.Seconds(), "again-records/s")
	b.ReportMetric(peak/(1<<20), "peak-live-heap-MB")
	// CPU time of the process per record (reader, log and Badger): what a
	// record costs when other work shares the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/record")
}

// TestImportGoogleThroughServer: with a server running, `tracker import
// google` goes through its API, and an upload of the phone's export to
// POST /api/v1/admin/import (what the admin page sends) is imported as
// such; the server's history shows the points at their own times.
func TestImportGoogleThroughServer(t *testing.T) {
	dir := t.TempDir()
	data, records := filepath.Join(dir, "data"), filepath.Join(dir, "Records.json")
	if err := os.WriteFile(records, []byte(googletest.Records), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, data)
	base := "http://" + s.http

	out, errOut := runOK(t, "import", "google", records, "--user", "anna", "--device", "phone", "--data", data)
	if !strings.Contains(errOut, "importing through "+base) {
		t.Errorf("stderr %q: want it to say it imports through the server", errOut)
	}
	if stored, present := summaryCount(t, out); stored != 3 || present != 0 || !strings.Contains(out, "1  bad coordinates (Records.json locations[4])") {
		t.Errorf("stored %d, %d present; want 3, 0\n%s", stored, present, out)
	}

	res, err := http.Post(base+"/api/v1/admin/import?user=anna&device=pixel", "application/json", strings.NewReader(googletest.Android))
	if err != nil {
		t.Fatal(err)
	}
	var r web.GoogleImportResult
	err = json.NewDecoder(res.Body).Decode(&r)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || r.Stored != 7 || r.Records != 7 || r.Skipped != 3 || r.Format != string(google.FormatAndroid) {
		t.Errorf("upload: %s %+v %v", res.Status, r, err)
	}

	// The history of anna/pixel holds the six locations (the visit is
	// not a point) once the projections have caught up.
	q := url.Values{"from": {"2024-04-03T00:00:00Z"}, "to": {"2024-04-04T00:00:00Z"}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var hist struct {
			Count  int `json:"count"`
			Points []struct {
				Tst int64 `json:"tst"`
			} `json:"points"`
		}
		res, err := http.Get(base + "/api/v1/friends/anna/pixel/locations?" + q.Encode())
		if err == nil {
			err = json.NewDecoder(res.Body).Decode(&hist)
			res.Body.Close()
		}
		if err == nil && hist.Count == 6 && hist.Points[0].Tst == 1712124840 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's history does not show the upload within 10 s: %+v (%v)", hist, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
