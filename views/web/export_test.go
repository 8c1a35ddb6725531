package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections/geo"
	"tracker/projections/projector"
	"tracker/static"
	"tracker/views/htmltest"
	"tracker/views/web"
)

// The downloads' shapes, as a reader of each format sees them.
type (
	gpxDoc struct {
		XMLName xml.Name `xml:"http://www.topografix.com/GPX/1/1 gpx"`
		Version string   `xml:"version,attr"`
		Trk     struct {
			Name string `xml:"name"`
			Seg  []struct {
				Pts []struct {
					Lat  float64   `xml:"lat,attr"`
					Lon  float64   `xml:"lon,attr"`
					Ele  *int      `xml:"ele"`
					Time time.Time `xml:"time"`
					Ext  *gpxExt   `xml:"extensions"`
				} `xml:"trkpt"`
			} `xml:"trkseg"`
		} `xml:"trk"`
	}
	// gpxExt are the OwnTracks values of a trkpt, in our namespace; a
	// value the phone did not send is absent (nil).
	gpxExt struct {
		Acc  *int    `xml:"urn:x-tracker:owntracks:1 acc"`
		Vel  *int    `xml:"urn:x-tracker:owntracks:1 vel"`
		Cog  *int    `xml:"urn:x-tracker:owntracks:1 cog"`
		Batt *int    `xml:"urn:x-tracker:owntracks:1 batt"`
		BS   *int    `xml:"urn:x-tracker:owntracks:1 bs"`
		Conn *string `xml:"urn:x-tracker:owntracks:1 conn"`
		T    *string `xml:"urn:x-tracker:owntracks:1 t"`
	}
	// featureCollection is the GeoJSON export: the track's line (nil when
	// it has fewer than two points) and its points.
	featureCollection struct {
		Type     string
		Line     [][2]float64
		LineName string
		Features []pointFeature
	}
	pointFeature struct {
		Type     string `json:"type"`
		Geometry struct {
			Type        string    `json:"type"`
			Coordinates []float64 `json:"coordinates"`
		} `json:"geometry"`
		Properties struct {
			Tst  int64     `json:"tst"`
			Time time.Time `json:"time"`
			Alt  *int      `json:"alt"`
			Acc  *int      `json:"acc"`
			Vel  *int      `json:"vel"`
			Batt *int      `json:"batt"`
			T    string    `json:"t"`
		} `json:"properties"`
	}
)

func mimeParams(v string) (string, map[string]string, error) { return mime.ParseMediaType(v) }

func parseGPX(t *testing.T, res *http.Response, body []byte) gpxDoc {
	t.Helper()
	var g gpxDoc
	if err := xml.Unmarshal(body, &g); err != nil {
		t.Fatalf("GPX does not parse: %v\n%s", err, body[:min(len(body), 600)])
	}
	if g.Version != "1.1" || len(g.Trk.Seg) != 1 {
		t.Fatalf("GPX version %q with %d segments", g.Version, len(g.Trk.Seg))
	}
	return g
}

// parseGeoJSON reads the GeoJSON export: a LineString feature through the
// points when there are two or more, then one Point feature per point.
func parseGeoJSON(t *testing.T, body []byte) featureCollection {
	t.Helper()
	var raw struct {
		Type     string            `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("GeoJSON does not decode: %v\n%s", err, body[:min(len(body), 600)])
	}
	fc := featureCollection{Type: raw.Type, Features: []pointFeature{}}
	if fc.Type != "FeatureCollection" {
		t.Fatalf("GeoJSON type %q", fc.Type)
	}
	for i, rf := range raw.Features {
		var line struct {
			Type     string `json:"type"`
			Geometry struct {
				Type        string       `json:"type"`
				Coordinates [][2]float64 `json:"coordinates"`
			} `json:"geometry"`
			Properties struct {
				Name string `json:"name"`
			} `json:"properties"`
		}
		if i == 0 && json.Unmarshal(rf, &line) == nil && line.Geometry.Type == "LineString" {
			if line.Type != "Feature" || len(line.Geometry.Coordinates) < 2 {
				t.Fatalf("line feature: %s", rf)
			}
			fc.Line, fc.LineName = line.Geometry.Coordinates, line.Properties.Name
			continue
		}
		var f pointFeature
		if err := json.Unmarshal(rf, &f); err != nil || f.Type != "Feature" || f.Geometry.Type != "Point" || len(f.Geometry.Coordinates) != 2 {
			t.Fatalf("feature %d (%v): %s", i, err, rf)
		}
		var props struct {
			Properties json.RawMessage `json:"properties"`
		}
		_ = json.Unmarshal(rf, &props)
		requireKeys(t, "properties", props.Properties, "tst", "time", "t")
		fc.Features = append(fc.Features, f)
	}
	// The line runs through the points, in their order.
	if len(fc.Features) >= 2 || fc.Line != nil {
		if len(fc.Line) != len(fc.Features) {
			t.Fatalf("the line has %d positions, the track %d points", len(fc.Line), len(fc.Features))
		}
		for i, f := range fc.Features {
			if c := f.Geometry.Coordinates; fc.Line[i] != [2]float64{c[0], c[1]} {
				t.Fatalf("line position %d is %v, point %v", i, fc.Line[i], c)
			}
		}
	}
	return fc
}

func (fc featureCollection) tsts() []int64 {
	out := []int64{}
	for _, f := range fc.Features {
		out = append(out, f.Properties.Tst)
	}
	return out
}

func parseCSV(t *testing.T, body []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], []string{"time", "tst", "lat", "lon", "acc", "alt", "vel", "cog", "batt", "conn", "trigger", "seq"}) {
		t.Fatalf("CSV header %q", recs[:min(1, len(recs))])
	}
	return recs
}

func TestExports(t *testing.T) {
	ps := newPageStack(t)
	tsts := aliceTsts()
	alice := historyPath("alice", "phone")
	for _, tc := range []struct {
		format, contentType string
		check               func(t *testing.T, res *http.Response, body []byte)
	}{
		{"gpx", "application/gpx+xml", func(t *testing.T, res *http.Response, body []byte) {
			g := parseGPX(t, res, body)
			pts := g.Trk.Seg[0].Pts
			if len(pts) != len(tsts) {
				t.Fatalf("%d trkpt, want %d", len(pts), len(tsts))
			}
			for i, p := range pts {
				want := alicePlace(tsts[i])
				if p.Time.Unix() != tsts[i] || math.Abs(p.Lat-want.Lat) > 1e-9 || math.Abs(p.Lon-want.Lon) > 1e-9 || p.Ele == nil || *p.Ele != 41 {
					t.Fatalf("trkpt %d: %+v, want tst %d at %v, ele 41", i, p, tsts[i], want)
				}
				// The fixture sends acc 12, vel 0, cog -1 ("invalid"), batt 81, bs 1, conn w, t p.
				e := p.Ext
				if e == nil || e.Acc == nil || *e.Acc != 12 || e.Vel == nil || *e.Vel != 0 || e.Cog != nil || e.Batt == nil || *e.Batt != 81 ||
					e.BS == nil || *e.BS != 1 || e.Conn == nil || *e.Conn != "w" || e.T == nil || *e.T != "p" {
					t.Fatalf("trkpt %d extensions: %+v", i, e)
				}
			}
			if g.Trk.Name != "Alice Liddell (alice/phone)" {
				t.Errorf("track name %q", g.Trk.Name)
			}
		}},
		{"geojson", "application/geo+json", func(t *testing.T, res *http.Response, body []byte) {
			fc := parseGeoJSON(t, body)
			if got := fc.tsts(); !slices.Equal(got, tsts) {
				t.Fatalf("features in order %v, want %v", got, tsts)
			}
			f := fc.Features[0]
			if c := f.Geometry.Coordinates; c[0] != home.Lon || c[1] != home.Lat {
				t.Errorf("coordinates %v, want [lon lat] of home", c)
			}
			p := f.Properties
			if p.Acc == nil || *p.Acc != 12 || p.Batt == nil || *p.Batt != 81 || p.Vel == nil || *p.Vel != 0 || p.Alt == nil || *p.Alt != 41 || p.T != "p" || p.Time.Unix() != tsts[0] {
				t.Errorf("properties %+v", p)
			}
			if fc.LineName != "Alice Liddell" {
				t.Errorf("line name %q", fc.LineName)
			}
		}},
		{"csv", "text/csv; charset=utf-8", func(t *testing.T, res *http.Response, body []byte) {
			if n := bytes.Count(body, []byte("\n")); n != len(tsts)+1 {
				t.Errorf("%d lines, want %d", n, len(tsts)+1)
			}
			recs := parseCSV(t, body)
			for i, r := range recs[1:] {
				if r[1] != strconv.FormatInt(tsts[i], 10) || r[0] != time.Unix(tsts[i], 0).UTC().Format(time.RFC3339) {
					t.Fatalf("row %d: %q", i+1, r)
				}
			}
		}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			res, body := ps.get(t, alice+"/export."+tc.format)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s", res.Status, body)
			}
			if ct := res.Header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			disp, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
			if want := "alice-phone-2026-03-10." + tc.format; err != nil || disp != "attachment" || params["filename"] != want {
				t.Errorf("Content-Disposition %q, want attachment; filename=%s", res.Header.Get("Content-Disposition"), want)
			}
			tc.check(t, res, body)
		})
	}

	// The name keeps its letters, whatever the script (RFC 5987's
	// filename*), with an ASCII filename for old clients.
	t.Run("filenames", func(t *testing.T) {
		for path, want := range map[string]struct{ name, header string }{
			withQuery(alice+"/export.csv", "from", "2026-03-09", "to", "2026-03-10"): {"alice-phone-2026-03-09_2026-03-10.csv",
				`attachment; filename="alice-phone-2026-03-09_2026-03-10.csv"`},
			withQuery(alice+"/export.csv", "from", "2026-03-10T08:00", "to", "2026-03-10T09:00"): {"alice-phone-2026-03-10.csv",
				`attachment; filename="alice-phone-2026-03-10.csv"`},
			historyPath(oddUser, oddDevice) + "/export.gpx": {"Zoë_img_src_x_onerror_alert_1-my_phone-2026-03-10.gpx",
				`attachment; filename="Zo_img_src_x_onerror_alert_1-my_phone-2026-03-10.gpx"; filename*=UTF-8''Zo%C3%AB_img_src_x_onerror_alert_1-my_phone-2026-03-10.gpx`},
		} {
			res, _ := ps.get(t, path)
			h := res.Header.Get("Content-Disposition")
			if h != want.header {
				t.Errorf("%s: Content-Disposition\n%s\nwant\n%s", path, h, want.header)
			}
			// What a reader of RFC 6266 makes of it: filename* wins.
			if _, params, err := mime.ParseMediaType(h); err != nil || params["filename"] != want.name {
				t.Errorf("%s: filename %q (%v), want %q", path, params["filename"], err, want.name)
			}
		}
	})

	t.Run("errors are plain text", func(t *testing.T) {
		for path, want := range map[string]struct {
			code int
			msg  string
		}{
			historyPath("alice", "tablet") + "/export.gpx":                               {404, `no friend "alice" with device "tablet"`},
			withQuery(alice+"/export.geojson", "from", "2026-03-11", "to", "2026-03-10"): {400, "from (2026-03-11T00:00:00Z) must be before to (2026-03-11T00:00:00Z)"},
			withQuery(alice+"/export.csv", "from", "soon"):                               {400, `from: want RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds, got "soon"`},
		} {
			res, body := ps.get(t, path)
			if res.StatusCode != want.code {
				t.Errorf("%s: %s", path, res.Status)
			}
			if res.Header.Get("Content-Disposition") != "" {
				t.Errorf("%s: an error is offered as a download", path)
			}
			checkErrorBody(t, res, body, want.msg, "")
		}
	})

	t.Run("empty range", func(t *testing.T) {
		q := []string{"from", "2026-01-01", "to", "2026-01-02"}
		_, body := ps.get(t, withQuery(alice+"/export.geojson", q...))
		if fc := parseGeoJSON(t, body); len(fc.Features) != 0 {
			t.Errorf("%d features", len(fc.Features))
		}
		res, body := ps.get(t, withQuery(alice+"/export.gpx", q...))
		if g := parseGPX(t, res, body); len(g.Trk.Seg[0].Pts) != 0 {
			t.Errorf("%d trkpt", len(g.Trk.Seg[0].Pts))
		}
		_, body = ps.get(t, withQuery(alice+"/export.csv", q...))
		if recs := parseCSV(t, body); len(recs) != 1 {
			t.Errorf("%d CSV records", len(recs))
		}
	})
}

// TestExportChunks: the export reads the history in chunks and releases
// the projections between them; fixes sharing a tst across a chunk
// boundary are each written once.
func TestExportChunks(t *testing.T) {
	ps := newPageStack(t)
	const n = 2500 // 5 tsts, 500 fixes each: chunk boundaries fall inside a tst
	var evs []events.Event
	for i := range n {
		tst := day.Add(time.Hour + time.Duration(i/500)*time.Minute).Unix()
		p := geo.Point{Lat: 40 + float64(i)*1e-5, Lon: 3}
		evs = append(evs, ev("owntracks/many/phone", time.Unix(tst, 0), string(locationPayload("mn", p, tst))))
	}
	ps.appendAll(t, evs...)
	_, body := ps.get(t, historyPath("many", "phone")+"/export.geojson")
	fc := parseGeoJSON(t, body)
	if len(fc.Features) != n {
		t.Fatalf("%d features, want %d", len(fc.Features), n)
	}
	seen := map[float64]bool{}
	for i, f := range fc.Features {
		lat := f.Geometry.Coordinates[1]
		if seen[lat] {
			t.Fatalf("feature %d: lat %v written twice", i, lat)
		}
		seen[lat] = true
		if i > 0 && f.Properties.Tst < fc.Features[i-1].Properties.Tst {
			t.Fatalf("feature %d out of tst order", i)
		}
	}
	doc, _ := ps.page(t, historyPath("many", "phone"), http.StatusOK)
	if got := htmltest.Text(htmltest.One(t, doc, "stat-points")); got != strconv.Itoa(n) {
		t.Errorf("history page counts %s points, want %d", got, n)
	}
}

// benchStack is a server over a log holding n fixes of one device, one a
// second from the fixture day's midnight.
func benchStack(b *testing.B, n int) http.Handler {
	b.Helper()
	log := eventstest.OpenLog(b)
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.DiscardHandler)
	p, err := projector.Open(ctx, b.TempDir(), log, owntracks.Decoder{}, logger, projector.Options{})
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			b.Errorf("projector: %v", err)
		}
	})
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := p.Close(); err != nil {
			b.Errorf("close projections: %v", err)
		}
	})
	start := time.Now()
	var appended sync.WaitGroup
	for i := range n {
		tst := day.Unix() + int64(i)
		pt := geo.Point{Lat: 51.5 + float64(i%1000)*1e-4, Lon: -0.12 + float64(i/1000)*1e-4}
		appended.Add(1)
		log.AppendAsync(ev("owntracks/bench/phone", time.Unix(tst, 0), string(locationPayload("be", pt, tst))), func(_ uint64, err error) {
			if err != nil {
				b.Errorf("append: %v", err)
			}
			appended.Done()
		})
	}
	appended.Wait()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	if err := p.WaitFor(wctx, log.Head()); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d fixes logged and projected in %s", n, time.Since(start).Round(time.Millisecond))
	site := web.New(web.Deps{
		Log: log, Appender: log, Decoder: &owntracks.Decoder{}, Projections: p, Checkpoint: p.Checkpoint, Logger: logger,
		Now: func() time.Time { return day.Add(30 * time.Hour) }, Assets: static.New(),
	})
	return site.Routes()
}

// discard is a ResponseWriter that counts and drops the body, so the
// benchmark measures the server, not a client's buffer.
type discard struct {
	h    http.Header
	code int
	n    int64
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }

// peakLive reports the largest live heap (as marked by the collector)
// seen while fn runs, above what was live before, in MB: flat when a
// request does not hold on to the points it reads. Garbage is not
// counted; B/op and allocs/op show what was allocated in passing.
func peakLive(b *testing.B, fn func()) {
	const name = "/gc/heap/live:bytes"
	runtime.GC()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	base, peak := s[0].Value.Uint64(), uint64(0)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: name}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	b.ReportMetric(float64(peak-min(peak, base))/1e6, "peak-live-MB")
}

func benchGet(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	// One request first, so Badger's caches are warm and count as live
	// before the measurement starts.
	h.ServeHTTP(&discard{h: http.Header{}}, httptest.NewRequest(http.MethodGet, "http://localhost"+path, nil))
	var size int64
	peakLive(b, func() {
		for b.Loop() {
			w := &discard{h: http.Header{}, code: 200}
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://localhost"+path, nil))
			if w.code != http.StatusOK {
				b.Fatalf("status %d", w.code)
			}
			size = w.n
		}
	})
	b.ReportMetric(float64(size), "resp-B")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}

var benchSizes = []int{10_000, 100_000}

// BenchmarkHistoryPage renders page 1 of a range holding every point: the
// statistics read them all, the table shows 100.
func BenchmarkHistoryPage(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			h := benchStack(b, n)
			benchGet(b, h, historyPath("bench", "phone", "from", "2026-03-10", "to", "2026-03-12"))
		})
	}
}

// BenchmarkExportGeoJSON streams the whole range.
func BenchmarkExportGeoJSON(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			h := benchStack(b, n)
			benchGet(b, h, withQuery(historyPath("bench", "phone")+"/export.geojson", "from", "2026-03-10", "to", "2026-03-12"))
		})
	}
}
