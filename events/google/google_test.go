package google_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"runtime"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/google"
	"tracker/events/google/googletest"
)

var anna = google.Device{User: "anna", Device: "phone"}

type got struct {
	events   []google.Record
	problems []google.Problem
	stats    google.Stats
	err      error
}

func read(t testing.TB, in io.Reader) got {
	t.Helper()
	var g got
	g.stats, g.err = google.Read(t.Context(), in, anna,
		func(r google.Record) error { g.events = append(g.events, r); return nil },
		func(p google.Problem) { g.problems = append(g.problems, p) })
	return g
}

func (g got) reasons() map[string]int {
	m := map[string]int{}
	for _, p := range g.problems {
		m[p.Reason]++
	}
	return m
}

type want struct{ where, at, payload string }

// TestReadFormats: each format Google has shipped, in the shapes Google
// writes, becomes these events exactly: locations on the device's topic
// at the point's time (tst in the payload), visits on .../visit, the
// skipped records counted by reason, and the summary notes.
func TestReadFormats(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		format   google.Format
		events   []want
		problems map[string]int
		notes    []string
	}{
		{
			name: "Records.json", in: googletest.Records, format: google.FormatRecords,
			events: []want{
				{"locations[0]", "2022-01-12T17:18:24Z", `{"_type":"location","lat":50.8503,"lon":4.3517,"tst":1642007904,"acc":14,"alt":56,"vac":3,"vel":18,"cog":270,"motionactivities":["walking"],"tid":"ne"}`},
				{"locations[1]", "2022-01-12T17:19:30Z", `{"_type":"location","lat":50.851,"lon":4.3525,"tst":1642007970,"acc":20,"tid":"ne"}`},
				{"locations[3]", "2014-08-24T19:55:52Z", `{"_type":"location","lat":51.5072,"lon":-0.1276,"tst":1408910152,"acc":26,"motionactivities":["stationary"],"tid":"ne"}`},
			},
			problems: map[string]int{google.ReasonDuplicate: 1, google.ReasonCoords: 1, google.ReasonNoTime: 1},
			notes: []string{
				"Records.json (raw locations): 6 records, 6 positions",
				"1 coordinates written past 32 bits (an old export's overflow) read as the negative numbers they are",
				"the locations come from 2 Google devices (deviceTag); all are imported as anna/phone",
			},
		},
		{
			name: "Semantic Location History", in: googletest.Semantic, format: google.FormatSemantic,
			events: []want{
				{"timelineObjects[0].activitySegment.startLocation", "2022-03-03T12:22:24Z", `{"_type":"location","lat":50.8503,"lon":4.3517,"tst":1646310144,"motionactivities":["automotive"],"tid":"ne"}`},
				{"timelineObjects[0].activitySegment.waypointPath.waypoints[1]", "2022-03-03T12:35:29Z", `{"_type":"location","lat":50.848,"lon":4.352,"tst":1646310929,"motionactivities":["automotive"],"tid":"ne"}`},
				{"timelineObjects[0].activitySegment.waypointPath.waypoints[2]", "2022-03-03T12:43:34Z", `{"_type":"location","lat":50.8466,"lon":4.3524,"tst":1646311414,"motionactivities":["automotive"],"tid":"ne"}`},
				{"timelineObjects[0].activitySegment.simplifiedRawPath[0]", "2022-03-03T12:30:00Z", `{"_type":"location","lat":50.849,"lon":4.3519,"tst":1646310600,"acc":10,"motionactivities":["automotive"],"tid":"ne"}`},
				{"timelineObjects[1].placeVisit", "2022-03-03T12:43:34Z", `{"_type":"visit","lat":50.8466,"lon":4.3524,"tst":1646311414,"end":1646316310,"place_id":"ChIJ9WkUnjXEw0cRqiOQ3bGPy-A","name":"Grand-Place","address":"Grand-Place, 1000 Bruxelles, Belgium","probability":0.88,"tid":"ne"}`},
				{"timelineObjects[1].placeVisit", "2022-03-03T12:43:34Z", `{"_type":"location","lat":50.84665,"lon":4.35245,"tst":1646311414,"tid":"ne"}`},
				{"timelineObjects[1].placeVisit", "2022-03-03T14:05:10Z", `{"_type":"location","lat":50.84665,"lon":4.35245,"tst":1646316310,"tid":"ne"}`},
				{"timelineObjects[2].placeVisit", "2016-03-26T13:46:40Z", `{"_type":"visit","lat":51.5072,"lon":-0.1276,"tst":1459000000,"end":1459003600,"place_id":"ChIJ\u003cscript\u003e","name":"\u003cscript\u003ealert(1)\u003c/script\u003e Café","address":"1 \"Quote\" Street\nLondon","tid":"ne"}`},
				{"timelineObjects[2].placeVisit", "2016-03-26T13:46:40Z", `{"_type":"location","lat":51.5072,"lon":-0.1276,"tst":1459000000,"tid":"ne"}`},
				{"timelineObjects[2].placeVisit", "2016-03-26T14:46:40Z", `{"_type":"location","lat":51.5072,"lon":-0.1276,"tst":1459003600,"tid":"ne"}`},
				{"timelineObjects[3].activitySegment.waypointPath.waypoints[0]", "2013-12-01T07:05:14Z", `{"_type":"location","lat":53.340744,"lon":83.7026901,"tst":1385881514,"motionactivities":["walking"],"tid":"ne"}`},
				{"timelineObjects[3].activitySegment.waypointPath.waypoints[1]", "2013-12-01T07:11:13Z", `{"_type":"location","lat":53.3410301,"lon":83.705101,"tst":1385881873,"motionactivities":["walking"],"tid":"ne"}`},
			},
			problems: map[string]int{google.ReasonDuplicate: 2, google.ReasonNoCoords: 2},
			notes: []string{
				"Semantic Location History: 4 records, 14 positions",
				"2 place visits kept as events on owntracks/anna/phone/visit (place id, name, address, start and end) for the places feature, and as locations at their start and end",
				"5 waypoints of activity segments have no time of their own: placed between the segment's start and end by distance",
			},
		},
		{
			name: "Timeline export, Android", in: googletest.Android, format: google.FormatAndroid,
			events: []want{
				{"semanticSegments[0].timelinePath[0]", "2024-04-03T06:14:00Z", `{"_type":"location","lat":50.8503,"lon":4.3517,"tst":1712124840,"tid":"ne"}`},
				{"semanticSegments[0].timelinePath[1]", "2024-04-03T06:46:00Z", `{"_type":"location","lat":50.8466,"lon":4.3524,"tst":1712126760,"tid":"ne"}`},
				{"semanticSegments[1].visit", "2024-04-03T06:50:00Z", `{"_type":"visit","lat":50.8466,"lon":4.3524,"tst":1712127000,"end":1712139018,"place_id":"ChIJ9WkUnjXEw0cRqiOQ3bGPy-A","semantic_type":"WORK","probability":0.4497,"tid":"ne"}`},
				{"semanticSegments[1].visit", "2024-04-03T06:50:00Z", `{"_type":"location","lat":50.8466,"lon":4.3524,"tst":1712127000,"tid":"ne"}`},
				{"semanticSegments[1].visit", "2024-04-03T10:10:18Z", `{"_type":"location","lat":50.8466,"lon":4.3524,"tst":1712139018,"tid":"ne"}`},
				{"semanticSegments[2].activity.end", "2024-04-03T10:40:00Z", `{"_type":"location","lat":50.8503,"lon":4.3517,"tst":1712140800,"motionactivities":["walking"],"tid":"ne"}`},
				{"rawSignals[0].position", "2024-04-03T06:14:05Z", `{"_type":"location","lat":50.8504,"lon":4.3518,"tst":1712124845,"acc":13,"alt":78,"vel":5,"tid":"ne"}`},
			},
			problems: map[string]int{google.ReasonDuplicate: 1, google.ReasonCoords: 1, google.ReasonNoTime: 1},
			notes: []string{
				"Timeline export (Android): 7 records, 9 positions",
				"1 place visits kept as events on owntracks/anna/phone/visit (place id, name, address, start and end) for the places feature, and as locations at their start and end",
				"2 raw signals without a position (activity records, Wi-Fi scans) not imported",
				"1 frequent places (home, work: no time) not imported",
			},
		},
		{
			name: "Timeline export, iOS", in: googletest.IOS, format: google.FormatIOS,
			events: []want{
				{"[0].visit", "2023-08-27T20:48:56Z", `{"_type":"visit","lat":27.720022,"lon":-97.347951,"tst":1693169336,"end":1693173866,"place_id":"ChIJxxP_Qwb2aIYRTwDNDLkUmD0","semantic_type":"Unknown","probability":0.7852,"tid":"ne"}`},
				{"[0].visit", "2023-08-27T20:48:56Z", `{"_type":"location","lat":27.720022,"lon":-97.347951,"tst":1693169336,"tid":"ne"}`},
				{"[0].visit", "2023-08-27T22:04:26Z", `{"_type":"location","lat":27.720022,"lon":-97.347951,"tst":1693173866,"tid":"ne"}`},
				{"[1].activity.end", "2023-08-28T00:00:00Z", `{"_type":"location","lat":27.687173,"lon":-97.363743,"tst":1693180800,"motionactivities":["automotive"],"tid":"ne"}`},
				{"[2].timelinePath[0]", "2023-08-27T20:49:00Z", `{"_type":"location","lat":27.720007,"lon":-97.348044,"tst":1693169340,"tid":"ne"}`},
				{"[2].timelinePath[2]", "2023-08-27T21:04:00Z", `{"_type":"location","lat":27.701123,"lon":-97.362988,"tst":1693170240,"tid":"ne"}`},
			},
			problems: map[string]int{google.ReasonDuplicate: 2},
			notes: []string{
				"Timeline export (iOS): 4 records, 7 positions",
				"1 place visits kept as events on owntracks/anna/phone/visit (place id, name, address, start and end) for the places feature, and as locations at their start and end",
				"1 trip summaries (timelineMemory) not imported",
			},
		},
		{
			name: "Records.json with a byte-order mark", in: "\ufeff" + googletest.Records, format: google.FormatRecords,
			events: []want{
				{"locations[0]", "2022-01-12T17:18:24Z", `{"_type":"location","lat":50.8503,"lon":4.3517,"tst":1642007904,"acc":14,"alt":56,"vac":3,"vel":18,"cog":270,"motionactivities":["walking"],"tid":"ne"}`},
				{"locations[1]", "2022-01-12T17:19:30Z", `{"_type":"location","lat":50.851,"lon":4.3525,"tst":1642007970,"acc":20,"tid":"ne"}`},
				{"locations[3]", "2014-08-24T19:55:52Z", `{"_type":"location","lat":51.5072,"lon":-0.1276,"tst":1408910152,"acc":26,"motionactivities":["stationary"],"tid":"ne"}`},
			},
			problems: map[string]int{google.ReasonDuplicate: 1, google.ReasonCoords: 1, google.ReasonNoTime: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !google.Detect([]byte(tc.in)) {
				t.Error("Detect does not recognise it")
			}
			g := read(t, strings.NewReader(tc.in))
			if g.err != nil {
				t.Fatal(g.err)
			}
			if g.stats.Format != tc.format {
				t.Errorf("format %q, want %q", g.stats.Format, tc.format)
			}
			for i, e := range g.events {
				var w want
				if i < len(tc.events) {
					w = tc.events[i]
				}
				topic := "owntracks/anna/phone"
				if strings.HasPrefix(w.payload, `{"_type":"visit"`) {
					topic += "/visit"
				}
				if e.Where != w.where || e.Event.Received.Format(time.RFC3339) != w.at || string(e.Event.Payload) != w.payload ||
					e.Event.Topic != topic || e.Event.Source != events.SourceGoogle || e.Event.Received.Location() != time.UTC {
					t.Errorf("event %d: %s %s %s %s %s\nwant      %s %s %s %s", i, e.Where, e.Event.Received.Format(time.RFC3339), e.Event.Topic,
						e.Event.Source, e.Event.Payload, w.where, w.at, topic, w.payload)
				}
			}
			if len(g.events) != len(tc.events) {
				t.Errorf("%d events, want %d", len(g.events), len(tc.events))
			}
			if r := g.reasons(); !maps.Equal(r, tc.problems) {
				t.Errorf("problems %v, want %v: %v", r, tc.problems, g.problems)
			}
			if tc.notes != nil {
				if notes := g.stats.Notes(anna); strings.Join(notes, "\n") != strings.Join(tc.notes, "\n") {
					t.Errorf("notes\n%s\nwant\n%s", strings.Join(notes, "\n"), strings.Join(tc.notes, "\n"))
				}
			}
			// Done grows and ends within the file.
			var last int64
			for _, e := range g.events {
				if e.Done < last || e.Done > int64(len(tc.in)) {
					t.Errorf("%s: done %d after %d (file %d bytes)", e.Where, e.Done, last, len(tc.in))
				}
				last = e.Done
			}
		})
	}
}

// TestReadBadInput: malformed JSON, wrong shapes, out-of-range E7 values
// and hostile strings end in a reason (or an error naming the byte),
// never a crash, and what came before them is kept.
func TestReadBadInput(t *testing.T) {
	loc := func(fields string) string {
		return `{"locations":[{"latitudeE7":508503000,"longitudeE7":43517000,"timestamp":"2022-01-12T17:18:24Z"` + fields + `}]}`
	}
	long := strings.Repeat("é", 2000)
	tests := []struct {
		name     string
		in       string
		events   int
		problems map[string]int
		err      string // substring of the error; "" for none
	}{
		{"empty file", "", 0, nil, "the file is empty"},
		{"another JSON file of the archive", `{"timelineEdits":[]}`, 0, nil, `its first key is "timelineEdits"`},
		{"a string", `"locations"`, 0, nil, "not a Google location history file"},
		{"trailing comma", `{"locations":[{"latitudeE7":1,}]}`, 0, map[string]int{google.ReasonJSON: 1}, "malformed JSON at byte"},
		{"cut off in the fourth record", googletest.Records[:1200], 2, map[string]int{google.ReasonDuplicate: 1, google.ReasonJSON: 1}, "malformed JSON at byte"},
		{"more after the end", loc("") + `{}`, 1, map[string]int{google.ReasonJSON: 1}, "more JSON after the end"},
		{"locations is an object", `{"locations":{"latitudeE7":1}}`, 0, map[string]int{google.ReasonShape: 1}, ""},
		{"locations is a number", `{"locations":5,"rawSignals":"x"}`, 0, map[string]int{google.ReasonShape: 2}, ""},
		{"elements of the wrong type", `{"locations":[1,"x",[],true,null]}`, 0, map[string]int{google.ReasonShape: 4, google.ReasonNoCoords: 1}, ""},
		{"field of the wrong type", loc(`,"activity":"walking"`), 0, map[string]int{google.ReasonField: 1}, ""},
		{"E7 as words", `{"locations":[{"latitudeE7":"north","longitudeE7":4,"timestamp":"2022-01-12T17:18:24Z"}]}`, 0, map[string]int{google.ReasonCoords: 1}, ""},
		{"E7 out of range", `{"locations":[{"latitudeE7":-900000001,"longitudeE7":4,"timestamp":"2022-01-12T17:18:24Z"},{"latitudeE7":1,"longitudeE7":1e300,"timestamp":"2022-01-12T17:18:25Z"},{"latitudeE7":1,"longitudeE7":99999999999,"timestamp":"2022-01-12T17:18:26Z"}]}`, 0, map[string]int{google.ReasonCoords: 3}, ""},
		{"E7 NaN and Infinity as strings", `{"locations":[{"latitudeE7":"NaN","longitudeE7":"Infinity","timestamp":"2022-01-12T17:18:24Z"},{"latitudeE7":"0x10","longitudeE7":"1","timestamp":"2022-01-12T17:18:24Z"}]}`, 0, map[string]int{google.ReasonCoords: 2}, ""},
		{"null island", `{"locations":[{"latitudeE7":0,"longitudeE7":0,"timestamp":"2022-01-12T17:18:24Z"}]}`, 0, map[string]int{google.ReasonCoords: 1}, ""},
		{"one coordinate", `{"locations":[{"latitudeE7":508503000,"timestamp":"2022-01-12T17:18:24Z"}]}`, 0, map[string]int{google.ReasonCoords: 1}, ""},
		{"bad times", `{"locations":[{"latitudeE7":1,"longitudeE7":1,"timestamp":"yesterday"},{"latitudeE7":1,"longitudeE7":2,"timestamp":"1970-01-01T00:00:00Z"},{"latitudeE7":1,"longitudeE7":3,"timestampMs":"99999999999999999999"},{"latitudeE7":1,"longitudeE7":4,"timestampMs":""},{"latitudeE7":1,"longitudeE7":5,"timestamp":{}}]}`, 0, map[string]int{google.ReasonTime: 5}, ""},
		{"text positions", `{"semanticSegments":[{"startTime":"2024-04-03T08:00:00Z","timelinePath":[{"point":"geo:","time":"2024-04-03T08:00:00Z"},{"point":"1,2,3","time":"2024-04-03T08:00:00Z"},{"point":"inf°, 2°","time":"2024-04-03T08:00:00Z"},{"point":12,"time":"2024-04-03T08:00:00Z"},{"point":"geo:50.85,4.35;u=35","time":"2024-04-03T08:00:00Z"}]}]}`, 1, map[string]int{google.ReasonCoords: 4}, ""},
		{"segment of nothing known", `[{"startTime":"2024-04-03T08:00:00Z","somethingNew":{}}]`, 0, map[string]int{google.ReasonUnknown: 1}, ""},
		{"timeline object of nothing known", `{"timelineObjects":[{}]}`, 0, map[string]int{google.ReasonUnknown: 1}, ""},
		{"hostile place name", `{"timelineObjects":[{"placeVisit":{"location":{"latitudeE7":508503000,"longitudeE7":43517000,"name":"` + long + `\u0000\ud800</script>","address":"\"},{\"_type\":\"card"},"duration":{"startTimestamp":"2022-03-03T12:43:34Z"}}}]}`, 2, nil, ""},
		{"invalid UTF-8 in a name", "{\"timelineObjects\":[{\"placeVisit\":{\"location\":{\"latitudeE7\":508503000,\"longitudeE7\":43517000,\"name\":\"\xff\xfe\"},\"duration\":{\"startTimestamp\":\"2022-03-03T12:43:34Z\"}}}]}", 2, nil, ""},
		{"deep nesting", `{"locations":[` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `]}`, 0, map[string]int{google.ReasonJSON: 1}, "malformed JSON"},
		{"deep nesting in a skipped value", `{"locations":[],"other":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, 0, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := read(t, strings.NewReader(tc.in))
			switch {
			case tc.err == "" && g.err != nil:
				t.Errorf("error %v", g.err)
			case tc.err != "" && (g.err == nil || !strings.Contains(g.err.Error(), tc.err)):
				t.Errorf("error %v, want it to say %q", g.err, tc.err)
			}
			if len(g.events) != tc.events {
				t.Errorf("%d events, want %d", len(g.events), tc.events)
			}
			if r := g.reasons(); !maps.Equal(r, tc.problems) && len(r)+len(tc.problems) > 0 {
				t.Errorf("problems %v, want %v: %v", r, tc.problems, g.problems)
			}
			for _, e := range g.events {
				checkEvent(t, e)
			}
		})
	}
}

// checkEvent: every event is one JSON object, valid UTF-8, of a kind the
// server decodes, at the time its tst says, with coordinates in range.
func checkEvent(t testing.TB, r google.Record) {
	t.Helper()
	var p struct {
		Type string   `json:"_type"`
		Lat  *float64 `json:"lat"`
		Lon  *float64 `json:"lon"`
		Tst  int64    `json:"tst"`
		Name string   `json:"name"`
	}
	dec := json.NewDecoder(bytes.NewReader(r.Event.Payload))
	if err := dec.Decode(&p); err != nil || dec.More() {
		t.Fatalf("%s: payload %q is not one JSON object: %v", r.Where, r.Event.Payload, err)
	}
	if p.Lat == nil || p.Lon == nil || *p.Lat < -90 || *p.Lat > 90 || *p.Lon < -180 || *p.Lon > 180 || (*p.Lat == 0 && *p.Lon == 0) {
		t.Fatalf("%s: position %s", r.Where, r.Event.Payload)
	}
	if p.Tst != r.Event.Received.Unix() || r.Event.Received.Nanosecond() != 0 || r.Event.Source != events.SourceGoogle {
		t.Fatalf("%s: tst %d, event at %v from %s", r.Where, p.Tst, r.Event.Received, r.Event.Source)
	}
	switch {
	case p.Type == "location" && r.Event.Topic == "owntracks/anna/phone":
	case p.Type == "visit" && r.Event.Topic == "owntracks/anna/phone/visit":
		if len(p.Name) > 1100 {
			t.Fatalf("%s: name of %d bytes", r.Where, len(p.Name))
		}
	default:
		t.Fatalf("%s: %s on %s", r.Where, p.Type, r.Event.Topic)
	}
}

// TestReadRecordTooLarge: one record (or string) over MaxRecord stops the
// reading with a reason, after holding no more than about that much.
func TestReadRecordTooLarge(t *testing.T) {
	in := io.MultiReader(strings.NewReader(`{"locations":[{"latitudeE7":508503000,"longitudeE7":43517000,"timestamp":"2022-01-12T17:18:24Z"},{"name":"`),
		&repeatReader{b: 'a', n: 4 * google.MaxRecord})
	g := read(t, in)
	if g.err == nil || !strings.Contains(g.err.Error(), "record too large") || len(g.events) != 1 {
		t.Errorf("%d events, error %v", len(g.events), g.err)
	}
}

type repeatReader struct {
	b byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = r.b
	}
	r.n -= n
	return n, nil
}

// TestReadStopsOnError: the caller's error and a cancelled context stop
// the reading and come back as they are.
func TestReadStopsOnError(t *testing.T) {
	stop := errors.New("log full")
	n := 0
	_, err := google.Read(t.Context(), strings.NewReader(googletest.Semantic), anna, func(google.Record) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	}, func(google.Problem) {})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("after %d events: %v", n, err)
	}
}

// TestReadLargeFileFlatMemory streams a Records.json of many records
// (generated as it is read: nothing on disk) and checks that memory stays
// flat in the file size: the live heap (after a collection, sampled
// while reading) for a file ten times larger is within 2 MB of the small
// one's. The medium size always runs; GOOGLE_BIG=1 (with -timeout 30m)
// adds 5,000,000 records (1.6 GB), the multi-gigabyte shape.
func TestReadLargeFileFlatMemory(t *testing.T) {
	sizes := []int{10_000, 100_000}
	if raceEnabled {
		sizes = []int{2_000, 20_000}
	}
	if envBig() {
		sizes = append(sizes, 5_000_000)
	}
	var lives []uint64
	for _, n := range sizes {
		pr, pw := io.Pipe()
		var size int64
		go func() {
			var err error
			size, err = googletest.WriteRecords(pw, n, time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC))
			pw.CloseWithError(err)
		}()
		runtime.GC()
		var live, inuse uint64
		var ms runtime.MemStats
		count := 0
		st, err := google.Read(t.Context(), pr, anna, func(r google.Record) error {
			if count++; count%(sizes[0]/2) == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				live, inuse = max(live, ms.HeapAlloc), max(inuse, ms.HeapInuse)
			}
			return nil
		}, func(p google.Problem) { t.Errorf("problem %s", p) })
		if err != nil || count != n || st.Records != n {
			t.Fatalf("%d records: %d events, %+v, %v", n, count, st, err)
		}
		t.Logf("%d records (%.0f MB): live heap at most %.2f MB, heap in use %.2f MB", n, float64(size)/(1<<20), float64(live)/(1<<20), float64(inuse)/(1<<20))
		lives = append(lives, live)
	}
	for _, l := range lives[1:] {
		if l > lives[0]+2<<20 {
			t.Errorf("live heap grows with the file: %.1f MB for the smallest, %.1f MB for a larger one", float64(lives[0])/(1<<20), float64(l)/(1<<20))
		}
	}
}

// BenchmarkRead: the reader alone on a Records.json of 100,000 locations
// held in memory (records/s and MB/s without the log).
func BenchmarkRead(b *testing.B) {
	var buf bytes.Buffer
	const n = 100_000
	if _, err := googletest.WriteRecords(&buf, n, time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for b.Loop() {
		if _, err := google.Read(b.Context(), bytes.NewReader(buf.Bytes()), anna, func(google.Record) error { return nil }, func(google.Problem) {}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
