package gpx

import (
	"errors"
	"strings"
	"testing"
	"time"

	"tracker/events"
)

// twoSegments is a GPX 1.1 track in two segments with one bad point in
// each kind: no time, latitude out of range, unreadable time.
const twoSegments = `<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <metadata><time>2024-06-10T05:00:00Z</time></metadata>
  <wpt lat="50.85" lon="4.35"><name>Start</name><time>2024-06-10T05:59:00Z</time></wpt>
  <trk>
    <name>Morning ride</name>
    <trkseg>
      <trkpt lat="50.8503" lon="4.3517"><ele>56.4</ele><time>2024-06-10T06:00:00Z</time></trkpt>
      <trkpt lat="50.8510" lon="4.3525"><ele>57</ele><time>2024-06-10T06:00:10.5Z</time></trkpt>
      <trkpt lat="50.8520" lon="4.3530"><ele>58</ele></trkpt>
    </trkseg>
    <trkseg>
      <trkpt lat="91.5" lon="4.3540"><time>2024-06-10T06:10:00Z</time></trkpt>
      <trkpt lat="50.8540" lon="4.3550"><time>2024-06-10T06:10:10Z</time><extensions><speed>4.2</speed></extensions></trkpt>
      <trkpt lat="50.8550" lon="4.3560"><time>yesterday</time></trkpt>
    </trkseg>
  </trk>
</gpx>
`

func TestReadTwoSegments(t *testing.T) {
	var recs []Record
	var problems []Problem
	st, err := Read(t.Context(), strings.NewReader(twoSegments), Device{User: "anna", Device: "bike"},
		func(r Record) error { recs = append(recs, r); return nil },
		func(p Problem) { problems = append(problems, p) })
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		payload string
		time    time.Time
		line    int
	}{
		{`{"_type":"location","lat":50.8503,"lon":4.3517,"tst":1717999200,"alt":56,"tid":"ke"}`, time.Unix(1717999200, 0), 8},
		{`{"_type":"location","lat":50.851,"lon":4.3525,"tst":1717999210,"alt":57,"tid":"ke"}`, time.Unix(1717999210, 5e8), 9},
		{`{"_type":"location","lat":50.854,"lon":4.355,"tst":1717999810,"tid":"ke"}`, time.Unix(1717999810, 0), 14},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		e := recs[i].Event
		if string(e.Payload) != w.payload || !e.Received.Equal(w.time) || e.Topic != "owntracks/anna/bike" ||
			e.Source != events.SourceGPX || recs[i].Line != w.line {
			t.Errorf("record %d = line %d %s %s %s, want %+v", i, recs[i].Line, e.Topic, e.Received, e.Payload, w)
		}
	}
	wantProblems := []string{"line 10: no time", "line 13: bad coordinates", "line 15: bad time"}
	if len(problems) != len(wantProblems) {
		t.Fatalf("problems = %v", problems)
	}
	for i, w := range wantProblems {
		if !strings.HasPrefix(problems[i].String(), w) {
			t.Errorf("problem %d = %q, want %q…", i, problems[i], w)
		}
	}
	if st != (Stats{Tracks: 1, Segments: 2, Points: 6, Waypoints: 1}) {
		t.Errorf("stats = %+v", st)
	}
	if recs[len(recs)-1].Done <= recs[0].Done {
		t.Error("progress does not advance")
	}
}

func TestReadVariants(t *testing.T) {
	tests := []struct {
		name    string
		gpx     string
		dev     Device
		want    []string // payloads
		wantErr string
	}{
		{
			name: "GPX 1.0 route point without zone, tid given",
			gpx:  `<gpx version="1.0"><rte><rtept lat="-33.9" lon="151.2"><time>2020-01-01T00:00:00</time></rtept></rte></gpx>`,
			dev:  Device{User: "u", Device: "d", TID: "Ab"},
			want: []string{`{"_type":"location","lat":-33.9,"lon":151.2,"tst":1577836800,"tid":"Ab"}`},
		},
		{
			name: "latin-1 file",
			gpx:  "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><gpx><trk><name>Caf\xe9</name><trkseg><trkpt lat=\"1\" lon=\"2\"><time>2020-01-01T00:00:00Z</time></trkpt></trkseg></trk></gpx>",
			dev:  Device{User: "u", Device: "é"},
			want: []string{`{"_type":"location","lat":1,"lon":2,"tst":1577836800,"tid":"é"}`},
		},
		{
			name:    "broken XML stops with the line",
			gpx:     "<gpx>\n<trk><trkseg><trkpt lat=\"1\" lon=\"2\"><time>2020-01-01T00:00:00Z</time></trkpt>\n<trkpt lat=\"1\" lon=\"2\"></gpx>",
			dev:     Device{User: "u", Device: "d"},
			want:    []string{`{"_type":"location","lat":1,"lon":2,"tst":1577836800,"tid":"d"}`},
			wantErr: "gpx: line 3",
		},
		{
			name:    "unknown encoding",
			gpx:     `<?xml version="1.0" encoding="EBCDIC"?><gpx></gpx>`,
			dev:     Device{User: "u", Device: "d"},
			wantErr: "EBCDIC",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			_, err := Read(t.Context(), strings.NewReader(tc.gpx), tc.dev,
				func(r Record) error { got = append(got, string(r.Event.Payload)); return nil }, func(Problem) {})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("payloads:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestReadStopsWhenFnFails(t *testing.T) {
	stop := errors.New("stop")
	_, err := Read(t.Context(), strings.NewReader(twoSegments), Device{User: "u", Device: "d"},
		func(Record) error { return stop }, func(Problem) {})
	if !errors.Is(err, stop) {
		t.Errorf("err = %v, want stop", err)
	}
}
