package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/html"

	"tracker/views"
	"tracker/views/htmltest"
)

// pointCells reads the history table: each row's cells by data-key.
func pointCells(t *testing.T, doc *html.Node) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, r := range htmltest.ByTestID(doc, "point-row") {
		row := map[string]string{"tst": htmltest.Attr(r, "data-tst")}
		for _, c := range htmltest.Find(r, func(n *html.Node) bool { return n.Data == "td" }) {
			row[htmltest.Attr(c, "data-key")] = htmltest.Text(c)
		}
		out = append(out, row)
	}
	return out
}

// TestHistoryUnknownValues: a value the phone did not send reads "–" on
// the page and is an empty CSV field, absent from GPX and GeoJSON; a 0 it
// sent (standing still, at sea level) is a 0. The page used to show an
// unknown speed as "0 km/h" and the CSV an unknown altitude as 0.
func TestHistoryUnknownValues(t *testing.T) {
	ps := newPageStack(t)
	topic := "owntracks/una/phone"
	ps.appendAll(t,
		ev(topic, day.Add(10*time.Hour), fmt.Sprintf(`{"_type":"location","lat":51.5,"lon":-0.12,"tst":%d}`, at(10, 0, 0))),
		ev(topic, day.Add(10*time.Hour+5*time.Minute), fmt.Sprintf(`{"_type":"location","lat":51.5,"lon":-0.12,"tst":%d,"vel":0,"alt":0,"acc":5,"batt":50,"cog":-1}`, at(10, 5, 0))),
	)
	path := historyPath("una", "phone")
	doc, _ := ps.page(t, path, http.StatusOK)
	rows := pointCells(t, doc)
	want := []map[string]string{
		{"tst": strconv.FormatInt(at(10, 0, 0), 10), "time": "10:00:00", "position": "51.50000, -0.12000",
			"speed": "–", "accuracy": "–", "altitude": "–", "battery": "–", "trigger": "automatic"},
		{"tst": strconv.FormatInt(at(10, 5, 0), 10), "time": "10:05:00", "position": "51.50000, -0.12000",
			"speed": "0 km/h", "accuracy": "5 m", "altitude": "0 m", "battery": "50%", "trigger": "automatic"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %v", len(rows), len(want), rows)
	}
	for i := range want {
		for k, v := range want[i] {
			if rows[i][k] != v {
				t.Errorf("row %d %s = %q, want %q", i+1, k, rows[i][k], v)
			}
		}
	}

	_, body := ps.get(t, path+"/export.csv")
	recs := parseCSV(t, body)
	// time,tst,lat,lon,acc,alt,vel,cog,batt,...
	if got := recs[1][4:9]; !slices.Equal(got, []string{"", "", "", "", ""}) {
		t.Errorf("CSV acc..batt of the bare fix = %q, want all empty", got)
	}
	if got := recs[2][4:9]; !slices.Equal(got, []string{"5", "0", "0", "", "50"}) {
		t.Errorf("CSV acc..batt of the fix with zeros = %q, want 5 0 0 (cog -1: empty) 50", got)
	}

	res, body := ps.get(t, path+"/export.gpx")
	pts := parseGPX(t, res, body).Trk.Seg[0].Pts
	if len(pts) != 2 || pts[0].Ele != nil || pts[0].Ext != nil {
		t.Fatalf("GPX: the bare fix has ele or extensions: %+v", pts)
	}
	if e := pts[1].Ext; pts[1].Ele == nil || *pts[1].Ele != 0 || e == nil || e.Vel == nil || *e.Vel != 0 || e.Acc == nil || e.Cog != nil || e.Batt == nil {
		t.Errorf("GPX: the fix with zeros: ele %v, extensions %+v", pts[1].Ele, e)
	}

	_, body = ps.get(t, path+"/export.geojson")
	fc := parseGeoJSON(t, body)
	if p := fc.Features[0].Properties; p.Alt != nil || p.Acc != nil || p.Vel != nil || p.Batt != nil {
		t.Errorf("GeoJSON: the bare fix has values it did not send: %+v", p)
	}
	if p := fc.Features[1].Properties; p.Alt == nil || *p.Alt != 0 || p.Vel == nil || *p.Vel != 0 {
		t.Errorf("GeoJSON: the fix with zeros: %+v", p)
	}
}

// TestHistoryViewerZone: the history page reads and shows times in the
// viewer's zone (the tz cookie): the default range is the viewer's today,
// the form's local times are the viewer's, every time is a <time>.
func TestHistoryViewerZone(t *testing.T) {
	ps := newPageStack(t)
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	get := func(t *testing.T, path string) *html.Node {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, ps.pages.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: views.TZCookie, Value: "America/Los_Angeles"})
		res, body := send(t, req)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", path, res.Status, body)
		}
		doc, err := html.Parse(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	inputValue := func(doc *html.Node, name string) string {
		in := htmltest.Find(doc, func(n *html.Node) bool { return n.Data == "input" && htmltest.Attr(n, "name") == name })
		if len(in) != 1 {
			return ""
		}
		return htmltest.Attr(in[0], "value")
	}
	laToday := time.Date(2026, 3, 10, 0, 0, 0, 0, la) // the clock reads 2026-03-10 18:00Z, 11:00 in Los Angeles

	for _, tc := range []struct {
		name, path       string
		from, to         string // the form's values
		firstTst, lastTs int64
		firstClock       string
	}{
		{"default: Los Angeles's today", historyPath("alice", "phone"), "2026-03-10T00:00", "2026-03-11T00:00",
			laToday.Unix(), at(17, 45, 0), "00:00:00"},
		{"form values are Los Angeles time", historyPath("alice", "phone", "from", "2026-03-10T09:00", "to", "2026-03-10T10:00"), "2026-03-10T09:00", "2026-03-10T10:00",
			at(16, 0, 0), at(16, 45, 0), "09:00:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := get(t, tc.path)
			if f, to := inputValue(doc, "from"), inputValue(doc, "to"); f != tc.from || to != tc.to {
				t.Errorf("form from %q to %q, want %q %q", f, to, tc.from, tc.to)
			}
			rows := pointCells(t, doc)
			if len(rows) == 0 {
				t.Fatal("no rows")
			}
			if rows[0]["tst"] != strconv.FormatInt(tc.firstTst, 10) || rows[len(rows)-1]["tst"] != strconv.FormatInt(tc.lastTs, 10) {
				t.Errorf("rows from tst %s to %s, want %d to %d", rows[0]["tst"], rows[len(rows)-1]["tst"], tc.firstTst, tc.lastTs)
			}
			if rows[0]["time"] != tc.firstClock {
				t.Errorf("first row's time %q, want %q (Los Angeles)", rows[0]["time"], tc.firstClock)
			}
			// Every time on the page is a <time datetime> from views.Time.
			for _, tm := range htmltest.Find(htmltest.ByTestID(doc, "history")[0], func(n *html.Node) bool { return n.Data == "time" }) {
				if htmltest.Attr(tm, "data-fmt") == "" || htmltest.Attr(tm, "datetime") == "" {
					t.Errorf("a <time> without data-fmt or datetime: %q", htmltest.Text(tm))
				}
			}
			if got := htmltest.Text(htmltest.One(t, doc, "range")); tc.name[:7] == "default" && got != "Tue 10 Mar 2026" {
				t.Errorf("range %q, want Tue 10 Mar 2026", got)
			}
		})
	}
}
