package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"tracker/events"
	"tracker/events/google"
	"tracker/events/google/googletest"
	"tracker/views/web"
)

// TestImportGoogleUpload: a Google location history file posted to
// /api/v1/admin/import as it is (plain or gzip) is recognised and
// imported for the device named in the query, answering with the same
// summary as the command line; a second upload stores nothing; a file
// without a device, or broken, is 400 with the reason and the counts of
// what was kept.
func TestImportGoogleUpload(t *testing.T) {
	st := newStack(t)
	head := st.log.Head()
	post := func(t *testing.T, query, body string) (int, web.GoogleImportResult) {
		t.Helper()
		res, b := st.do(t, http.MethodPost, "/api/v1/admin/import"+query, body)
		var r web.GoogleImportResult
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("answer %s: %q", res.Status, b)
		}
		return res.StatusCode, r
	}
	type want struct {
		code                    int
		events, stored, present int
		format, err             string
		records, skipped        int
		problems                map[string]int
	}
	tests := []struct {
		name, query, body string
		want              want
	}{
		{"Records.json", "?user=anna&device=phone", googletest.Records,
			want{200, 3, 3, 0, string(google.FormatRecords), "", 6, 3, map[string]int{google.ReasonDuplicate: 1, google.ReasonCoords: 1, google.ReasonNoTime: 1}}},
		{"the same again", "?user=anna&device=phone", googletest.Records,
			want{200, 3, 0, 3, string(google.FormatRecords), "", 6, 3, map[string]int{google.ReasonDuplicate: 1, google.ReasonCoords: 1, google.ReasonNoTime: 1}}},
		{"a Semantic Location History month, gzip", "?user=anna&device=phone&tid=an", importBody(t, true, googletest.Semantic),
			want{200, 12, 12, 0, string(google.FormatSemantic), "", 4, 4, map[string]int{google.ReasonDuplicate: 2, google.ReasonNoCoords: 2}}},
		{"the iOS export", "?user=anna&device=iphone", googletest.IOS,
			want{200, 6, 6, 0, string(google.FormatIOS), "", 4, 2, map[string]int{google.ReasonDuplicate: 2}}},
		{"no device", "?user=anna", googletest.Android,
			want{400, 0, 0, 0, "", "a Google location history file needs ?device= (its points go to owntracks/<user>/<device>)", 0, 0, nil}},
		{"a device that is no topic level", "?user=anna&device=a/b", googletest.Android,
			want{400, 0, 0, 0, "", `device "a/b": a topic level cannot hold / + or # (or be over 256 bytes)`, 0, 0, nil}},
		{"cut off", "?user=bob&device=phone", googletest.Android[:1400],
			want{400, 5, 5, 0, string(google.FormatAndroid), "google: malformed JSON at byte 974: unexpected EOF (what came before it was read)", 3, 1, map[string]int{google.ReasonJSON: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, r := post(t, tc.query, tc.body)
			problems := map[string]int{}
			for _, p := range r.Problems {
				problems[p.Reason] = p.Count
				if len(p.Examples) == 0 || len(p.Examples) > 3 {
					t.Errorf("%s: examples %q", p.Reason, p.Examples)
				}
			}
			if len(problems) == 0 {
				problems = nil
			}
			got := want{code, r.Events, r.Stored, r.AlreadyPresent, r.Format, r.Error, r.Records, r.Skipped, problems}
			if !equalWant(got.problems, tc.want.problems) || got.code != tc.want.code || got.events != tc.want.events ||
				got.stored != tc.want.stored || got.present != tc.want.present || got.format != tc.want.format ||
				got.err != tc.want.err || got.records != tc.want.records || got.skipped != tc.want.skipped {
				t.Errorf("answer %+v\nwant   %+v", got, tc.want)
			}
		})
	}
	// What was stored: import:google events of the named devices, the
	// visits on .../visit, at their original times.
	perTopic := map[string]int{"owntracks/anna/phone": 3 + 10, "owntracks/anna/phone/visit": 2, "owntracks/anna/iphone": 5,
		"owntracks/anna/iphone/visit": 1, "owntracks/bob/phone": 4, "owntracks/bob/phone/visit": 1}
	got := map[string]int{}
	if err := st.log.Scan(t.Context(), head+1, func(e events.Event) error {
		if e.Source != events.SourceGoogle {
			t.Errorf("event %d from %s", e.Seq, e.Source)
		}
		got[e.Topic]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !equalWant(got, perTopic) {
		t.Errorf("stored per topic %v, want %v", got, perTopic)
	}
	// The tid asked for is in the payloads.
	e, err := st.log.Get(head + 4)
	if err != nil || !strings.Contains(string(e.Payload), `"tid":"an"`) {
		t.Errorf("event %d: %s %v", head+4, e.Payload, err)
	}
}

func equalWant(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestUploadGoogle: the admin page's upload (POST /api/v1/admin/upload,
// which hands JSON it does not know to the import endpoint) imports a
// Takeout Records.json and the phone's export with the command line's
// summary, and a second upload stores nothing.
func TestUploadGoogle(t *testing.T) {
	o := newOpsStack(t, web.UploadLimits{}, nil)
	admin := o.as(t, "root")
	for _, tc := range []struct {
		name, file, body string
		q                []string
		code             int
		stored           uint64
		text             []string
	}{
		{"Records.json", "Records.json", googletest.Records, []string{"user", "anna", "device", "phone"}, 200, 3,
			[]string{"stored 3 new events, 0 already present", "1  bad coordinates (locations[4])", "Records.json (raw locations): 6 records, 6 positions"}},
		{"Records.json again", "Records.json", googletest.Records, []string{"user", "anna", "device", "phone"}, 200, 0,
			[]string{"stored 0 new events, 3 already present"}},
		{"the Android export", "Timeline.json", googletest.Android, []string{"user", "anna", "device", "pixel"}, 200, 7,
			[]string{"1 place visits kept as events on owntracks/anna/pixel/visit"}},
		{"no device", "location-history.json", googletest.IOS, []string{"user", "anna"}, 400, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, s := o.upload(t, admin, tc.file, []byte(tc.body), tc.q...)
			if res.StatusCode != tc.code || s.Stored != tc.stored || (tc.code == 200) != (s.Error == "") {
				t.Fatalf("%s, stored %d; want %d, %d: %+v", res.Status, s.Stored, tc.code, tc.stored, s)
			}
			for _, l := range tc.text {
				if !strings.Contains(s.Text, l) {
					t.Errorf("summary lacks %q:\n%s", l, s.Text)
				}
			}
		})
	}
}
