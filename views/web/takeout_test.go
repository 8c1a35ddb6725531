package web_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"tracker/events"
	"tracker/events/google/googletest"
	"tracker/views/web"
)

// takeoutEntries is a Takeout archive's location history as Google lays
// it out: Records.json, Settings.json (not location history), one
// Semantic Location History month, and the archive's HTML index.
func takeoutEntries() []entry {
	return []entry{
		{name: "Takeout/archive_browser.html", body: []byte("<html></html>")},
		{name: "Takeout/Location History (Timeline)/Records.json", body: []byte(googletest.Records)},
		{name: "Takeout/Location History (Timeline)/Settings.json", body: []byte(`{"createdTime": "2013-09-01T09:25:36.522Z", "historyEnabled": true, "deviceSettings": [{"deviceTag": 1234567890, "devicePrettyName": "Pixel 7"}]}`)},
		{name: "Takeout/Location History (Timeline)/Semantic Location History/2024/2024_JANUARY.json", body: []byte(googletest.Semantic)},
	}
}

// TestUploadTakeout: a Google Takeout archive uploaded on /admin (.zip
// or .tgz, or a zip of the phone's Timeline.json) is told from a Recorder
// archive by its entries and every location history file in it is read
// for the device named, with the command line's summary; uploading it
// again stores nothing; without a device it is refused.
func TestUploadTakeout(t *testing.T) {
	o := newOpsStack(t, web.UploadLimits{}, nil)
	admin := o.as(t, "root")
	dev := []string{"user", "anna", "device", "phone"}
	for _, tc := range []struct {
		name, file      string
		body            []byte
		q               []string
		code            int
		stored, present uint64
		text            []string
	}{
		{name: "Takeout zip", file: "takeout-20240501T100000Z-001.zip", body: zipOf(t, takeoutEntries()...), q: dev, code: 200, stored: 3 + 12,
			text: []string{"stored 15 new events, 0 already present",
				"files read: 1 × Records.json (raw locations), 1 × Semantic Location History",
				"bad coordinates (Takeout/Location History (Timeline)/Records.json locations[4])",
				"1 files are not location history and were not read: Takeout/Location History (Timeline)/Settings.json"}},
		{name: "the same zip again", file: "takeout-20240501T100000Z-001.zip", body: zipOf(t, takeoutEntries()...), q: dev, code: 200, present: 15,
			text: []string{"stored 0 new events, 15 already present"}},
		{name: "the same as .tgz", file: "takeout-20240501T100000Z-001.tgz", body: tarGz(t, true, takeoutEntries()...), q: dev, code: 200, present: 15,
			text: []string{"stored 0 new events, 15 already present"}},
		{name: "a zip of the phone's Timeline.json", file: "timeline.zip", body: zipOf(t, entry{name: "Timeline.json", body: []byte(googletest.Android)}),
			q: []string{"user", "anna", "device", "pixel"}, code: 200, stored: 7,
			text: []string{"1 place visits kept as events on owntracks/anna/pixel/visit"}},
		{name: "a tgz of the iPhone's location-history.json", file: "iphone.tar.gz", body: tarGz(t, true, entry{name: "export/location-history.json", body: []byte(googletest.IOS)}),
			q: []string{"user", "anna", "device", "iphone"}, code: 200, stored: 6},
		{name: "no device", file: "takeout.zip", body: zipOf(t, takeoutEntries()...), q: []string{"user", "anna"}, code: 400},
		{name: "Takeout without location history", file: "takeout.zip", q: dev, code: 422,
			body: zipOf(t, entry{name: "Takeout/Location History (Timeline)/Records.json", body: []byte(`{"something": "else"}`)})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := o.log.Head()
			res, s := o.upload(t, admin, tc.file, tc.body, tc.q...)
			if res.StatusCode != tc.code || s.Stored != tc.stored || s.AlreadyPresent != tc.present || (tc.code == 200) != (s.Error == "") {
				t.Fatalf("%s, stored %d, present %d; want %d, %d, %d: %+v", res.Status, s.Stored, s.AlreadyPresent, tc.code, tc.stored, tc.present, s)
			}
			if s.Format != "takeout" {
				t.Errorf("format %q, want takeout", s.Format)
			}
			if got := o.log.Head() - head; got != tc.stored {
				t.Errorf("the log grew by %d events, want %d", got, tc.stored)
			}
			for _, l := range tc.text {
				if !strings.Contains(s.Text, l) {
					t.Errorf("summary lacks %q:\n%s", l, s.Text)
				}
			}
			assertNoLeftovers(t, o.uploads)
		})
	}
	// What was stored: import:google events of the devices named.
	got := map[string]int{}
	if err := o.log.Scan(t.Context(), 1, func(e events.Event) error {
		if e.Source == events.SourceGoogle {
			got[e.Topic]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"owntracks/anna/phone": 3 + 10, "owntracks/anna/phone/visit": 2, "owntracks/anna/pixel": 6,
		"owntracks/anna/pixel/visit": 1, "owntracks/anna/iphone": 5, "owntracks/anna/iphone/visit": 1}
	if !equalWant(got, want) {
		t.Errorf("stored per topic %v, want %v", got, want)
	}
}

// TestUploadTakeoutLimits: a Takeout archive is outside input like the
// others: entries with unsafe names, links and names seen before are
// reported and not read; a bomb stops at the unpack limit and too many
// entries are refused, with 413 (a zip before anything is read, a tar
// where the cap is reached).
func TestUploadTakeoutLimits(t *testing.T) {
	o := newOpsStack(t, web.UploadLimits{MaxBytes: 2 << 20, MaxUnpacked: 1 << 20, MaxFiles: 50}, nil)
	admin := o.as(t, "root")
	month := "Takeout/Location History (Timeline)/Semantic Location History/2024/2024_JANUARY.json"
	hostile := []entry{
		{name: "../Takeout/Location History (Timeline)/Records.json", body: []byte(googletest.Records)},
		{name: "/Takeout/Location History (Timeline)/Records.json", body: []byte(googletest.Records)},
		{name: `Takeout\..\..\Location History\Records.json`, body: []byte(googletest.Records)},
		{name: "Takeout/Location History (Timeline)/Timeline.json", link: "../../../../etc/passwd"},
		{name: month, body: []byte(googletest.Semantic)},
		{name: "Takeout/./Location History (Timeline)/Semantic Location History/2024/2024_JANUARY.json", body: []byte(googletest.Records)},
	}
	bomb := append([]byte(`{"locations": [`), bytes.Repeat([]byte(" "), 20<<20)...) // 20 MB: past the 1 MB limit
	bomb = append(bomb, "]}"...)
	var many []entry
	for i := range 60 {
		many = append(many, entry{name: fmt.Sprintf("Takeout/Location History/Semantic Location History/2020/2020_%d.json", i), body: []byte(googletest.Semantic)})
	}
	unsafe := []string{"archive entry with an unsafe name", "archive entry is a link or special file", "archive entry appears twice"}
	for _, tc := range []struct {
		name, file, device string
		body               []byte
		code               int
		stored             uint64
		problems           []string
	}{
		{name: "hostile names in a zip", file: "evil.zip", device: "zip", body: zipOf(t, hostile...), code: 200, stored: 12, problems: unsafe},
		{name: "hostile names in a tgz", file: "evil.tgz", device: "tgz", body: tarGz(t, true, hostile...), code: 200, stored: 12, problems: unsafe},
		{name: "zip bomb", file: "bomb.zip", device: "bomb", body: zipOf(t, entry{name: "Takeout/Location History/Records.json", body: bomb}), code: 413},
		{name: "tgz bomb", file: "bomb.tgz", device: "bomb", body: tarGz(t, true, entry{name: "Takeout/Location History/Records.json", body: bomb}), code: 413},
		{name: "too many entries (zip)", file: "many.zip", device: "many", body: zipOf(t, many...), code: 413},
		// A tar is read as it comes (a second pass over gigabytes to count
		// first would double the time): the entries before the cap are
		// imported, the rest refused.
		{name: "too many entries (tgz)", file: "many.tgz", device: "many", body: tarGz(t, true, many...), code: 413, stored: 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := o.log.Head()
			res, s := o.upload(t, admin, tc.file, tc.body, "user", "anna", "device", tc.device)
			if res.StatusCode != tc.code || s.Stored != tc.stored {
				t.Fatalf("%s, stored %d; want %d, %d: %+v", res.Status, s.Stored, tc.code, tc.stored, s)
			}
			if tc.code == 413 && !strings.Contains(s.Error, "more than") {
				t.Errorf("413 without the limit: %q", s.Error)
			}
			for _, p := range tc.problems {
				found := false
				for _, q := range s.Problems {
					found = found || strings.HasPrefix(q.Reason, p)
				}
				if !found {
					t.Errorf("problems %+v lack %q", s.Problems, p)
				}
			}
			if got := o.log.Head() - head; got != tc.stored {
				t.Errorf("stored %d events, want %d", got, tc.stored)
			}
			assertNoLeftovers(t, o.uploads)
		})
	}
}
