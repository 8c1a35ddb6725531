package web_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/events/recorder"
	"tracker/projections"
	"tracker/projections/health"
	"tracker/views/web"
)

// opsStack is the auth stack served by a site with the operations' parts:
// the device health fold following the log, upload limits and an upload
// directory of its own.
type opsStack struct {
	*authStack
	srv     *httptest.Server
	site    *web.Server
	health  *health.Tracker
	uploads string
}

// gatedProjections holds a rebuild at its first progress report until
// gate is closed, so a test sees one running.
type gatedProjections struct {
	web.Projections
	started chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (g *gatedProjections) Rebuild(ctx context.Context, progress projections.Progress) (projections.RebuildStats, error) {
	return g.Projections.Rebuild(ctx, func(done, total uint64) {
		g.once.Do(func() { close(g.started); <-g.gate })
		if progress != nil {
			progress(done, total)
		}
	})
}

func newOpsStack(t *testing.T, limits web.UploadLimits, wrap func(web.Projections) web.Projections) *opsStack {
	t.Helper()
	a := newAuthStack(t)
	tr := health.NewTracker()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := tr.Run(ctx, a.log, owntracks.Decoder{}); err != nil {
			t.Errorf("health: %v", err)
		}
	})
	d := a.site.Deps
	d.Metrics, d.Health, d.Uploads = nil, tr, limits
	d.UploadDir = filepath.Join(t.TempDir(), "uploads")
	if err := os.Mkdir(d.UploadDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		d.Projections = wrap(d.Projections)
	}
	site := web.New(d)
	o := &opsStack{authStack: a, srv: httptest.NewServer(site.Routes()), site: site, health: tr, uploads: d.UploadDir}
	t.Cleanup(func() {
		o.srv.Close()
		cancel()
		wg.Wait()
	})
	return o
}

// as returns a client logged in as user on the ops site.
func (o *opsStack) as(t *testing.T, user string) *http.Client {
	t.Helper()
	c := client()
	res, err := c.PostForm(o.srv.URL+"/login", url.Values{"user": {user}, "password": {pw}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %s", user, res.Status)
	}
	return c
}

func call(t *testing.T, c *http.Client, method, u string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, u, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// upload posts a file to the upload endpoint as the page does.
func (o *opsStack) upload(t *testing.T, c *http.Client, name string, body []byte, q ...string) (*http.Response, web.ImportSummary) {
	t.Helper()
	v := url.Values{"name": {name}}
	for i := 0; i+1 < len(q); i += 2 {
		v.Set(q[i], q[i+1])
	}
	res, b := call(t, c, http.MethodPost, o.srv.URL+"/api/v1/admin/upload?"+v.Encode(), bytes.NewReader(body))
	var s web.ImportSummary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("upload %s: %s: %q", name, res.Status, b)
	}
	return res, s
}

// TestAdminOpsByRole: every route of the operations and device health
// pages answers an admin and refuses a viewer with 403; a viewer's pages
// do not link to them; a POST from another site is refused.
func TestAdminOpsByRole(t *testing.T) {
	o := newOpsStack(t, web.UploadLimits{}, nil)
	admin, viewer := o.as(t, "root"), o.as(t, "alice")
	for _, r := range []struct {
		method, path string
		admin        int
	}{
		{"GET", "/admin", http.StatusOK},
		{"GET", "/admin/devices", http.StatusOK},
		{"GET", "/api/v1/admin/progress", http.StatusOK},
		{"GET", "/api/v1/admin/storage", http.StatusOK},
		{"GET", "/api/v1/devices/health", http.StatusOK},
		{"POST", "/api/v1/admin/upload?name=x.bin", http.StatusUnsupportedMediaType},
		{"POST", "/api/v1/admin/rebuild", http.StatusOK},
	} {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			for _, who := range []struct {
				name string
				c    *http.Client
				want int
			}{{"viewer", viewer, http.StatusForbidden}, {"admin", admin, r.admin}} {
				for _, accept := range []string{"text/html", "application/json"} {
					res, b := call(t, who.c, r.method, o.srv.URL+r.path, strings.NewReader("not a file"), "Accept", accept)
					if res.StatusCode != who.want {
						t.Errorf("%s (%s): %s, want %d: %.200s", who.name, accept, res.Status, who.want, b)
					}
				}
			}
		})
	}
	// The viewer's pages show no way there; the admin's do.
	for _, who := range []struct {
		c    *http.Client
		want bool
	}{{viewer, false}, {admin, true}} {
		_, b := call(t, who.c, "GET", o.srv.URL+"/", nil, "Accept", "text/html")
		if got := strings.Contains(string(b), `href="/admin"`); got != who.want {
			t.Errorf("dashboard links to /admin: %v, want %v", got, who.want)
		}
	}
	_, b := call(t, viewer, "GET", o.srv.URL+"/admin", nil, "Accept", "text/html")
	if strings.Contains(string(b), "rebuild-start") || strings.Contains(string(b), "upload-form") {
		t.Errorf("the viewer's 403 page holds the controls")
	}
	// Cross-site POSTs are refused before anything runs.
	for _, p := range []string{"/api/v1/admin/rebuild", "/api/v1/admin/upload?name=a.gpx"} {
		res, _ := call(t, admin, "POST", o.srv.URL+p, strings.NewReader(gpxFile(3)),
			"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %s, want 403", p, res.Status)
		}
	}
}

// TestRebuildOneAtATime: while a rebuild runs, its progress is on the
// progress endpoint and a second one is refused with 409 (never run
// twice); when it ends, the progress holds its result.
func TestRebuildOneAtATime(t *testing.T) {
	g := &gatedProjections{started: make(chan struct{}), gate: make(chan struct{})}
	o := newOpsStack(t, web.UploadLimits{}, func(p web.Projections) web.Projections { g.Projections = p; return g })
	admin := o.as(t, "root")
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, o.srv.URL+"/api/v1/admin/rebuild", nil)
		res, err := admin.Do(req)
		if err != nil {
			first <- 0
			return
		}
		res.Body.Close()
		first <- res.StatusCode
	}()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the rebuild never reported progress")
	}
	var p web.Progress
	res, b := call(t, admin, "GET", o.srv.URL+"/api/v1/admin/progress", nil)
	if err := json.Unmarshal(b, &p); err != nil || !p.Rebuild.Running || p.Rebuild.Total == 0 {
		t.Fatalf("progress while running: %s %s", res.Status, b)
	}
	res, b = call(t, admin, "POST", o.srv.URL+"/api/v1/admin/rebuild", nil)
	if res.StatusCode != http.StatusConflict || !strings.Contains(string(b), "already running") {
		t.Errorf("second rebuild: %s %s, want 409", res.Status, b)
	}
	close(g.gate)
	if code := <-first; code != http.StatusOK {
		t.Fatalf("first rebuild: %d", code)
	}
	_, b = call(t, admin, "GET", o.srv.URL+"/api/v1/admin/progress", nil)
	p = web.Progress{}
	if err := json.Unmarshal(b, &p); err != nil || p.Rebuild.Running || p.Rebuild.Result == nil || p.Rebuild.Done != p.Rebuild.Total || p.Rebuild.Finished.IsZero() {
		t.Errorf("progress after: %s", b)
	}
	_, page := call(t, admin, "GET", o.srv.URL+"/admin", nil)
	if !strings.Contains(string(page), `data-state="done"`) || !strings.Contains(string(page), "Rebuilt ") {
		t.Errorf("the page does not show the finished rebuild")
	}
}

func gpxFile(n int) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>` + "\n")
	for i := range n {
		fmt.Fprintf(&b, `<trkpt lat="50.%04d" lon="4.35"><time>2026-11-01T08:%02d:00Z</time></trkpt>`+"\n", i, i%60)
	}
	b.WriteString(`<trkpt lat="95" lon="4.35"><time>2026-11-01T09:00:00Z</time></trkpt>` + "\n") // bad coordinates
	b.WriteString("</trkseg></trk></gpx>\n")
	return b.String()
}

// recorderFiles is a small Recorder store: alice/phone's month and card.
func recorderFiles(prefix string) map[string][]byte {
	var rec []byte
	for i := range 5 {
		tst := time.Date(2026, 10, 1, 8, i, 0, 0, time.UTC)
		rec = recorder.AppendLine(rec, tst, "*", fmt.Appendf(nil, `{"_type":"location","lat":50.8%d,"lon":4.35,"tst":%d,"tid":"ph"}`, i, tst.Unix()))
	}
	rec = append(rec, "garbage line\n"...)
	return map[string][]byte{
		prefix + "rec/alice/phone/2026-10.rec":         rec,
		prefix + "cards/alice/phone/alice-phone.json":  []byte(`{"_type":"card","name":"Alice","tid":"ph"}`),
		prefix + "config/alice/phone/alice-phone.otrc": []byte(`{"password":"secret"}`),
	}
}

type entry struct {
	name string
	body []byte
	link string // a symlink to this target (tar) instead of a file
	dir  bool
}

func entriesOf(files map[string][]byte) []entry {
	var out []entry
	for n, b := range files {
		out = append(out, entry{name: n, body: b})
	}
	return out
}

func tarGz(t *testing.T, gz bool, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.Writer = &buf
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1e9, 0)}
		switch {
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		case e.dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(e.body)
		}
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func zipOf(t *testing.T, es ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.link != "" {
			h.SetMode(os.ModeSymlink | 0o777)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if e.link != "" {
			w.Write([]byte(e.link))
		} else {
			w.Write(e.body)
		}
	}
	zw.Close()
	return buf.Bytes()
}

// TestUploadImports: each format the upload takes is detected and
// imported, with the command line's summary; uploading again stores
// nothing new; a file that needs a device without one, or of no known
// format, is refused with the reason.
func TestUploadImports(t *testing.T) {
	o := newOpsStack(t, web.UploadLimits{}, nil)
	admin := o.as(t, "root")
	eventsFile := func() []byte {
		var b bytes.Buffer
		gz := gzip.NewWriter(&b)
		enc := json.NewEncoder(gz)
		for i := range 5 {
			at := time.Date(2026, 9, 1, 8, i, 0, 0, time.UTC)
			src := events.SourceRecorder
			if i == 4 {
				src = events.SourceEmbedded // not an import: refused, as by POST /api/v1/admin/import
			}
			enc.Encode(eventjson.Stored(events.Event{Seq: uint64(i + 1), Received: at, Topic: "owntracks/bob/old", Source: src,
				Payload: fmt.Appendf(nil, `{"_type":"location","lat":1,"lon":2,"tst":%d}`, at.Unix())}))
		}
		gz.Close()
		return b.Bytes()
	}()
	for _, tc := range []struct {
		name, file string
		body       []byte
		q          []string
		code       int
		format     string
		stored     uint64
		text       []string // lines the summary holds
	}{
		{name: "gpx", file: "ride.gpx", body: []byte(gpxFile(7)), q: []string{"user", "alice", "device", "bike"},
			code: 200, format: "gpx", stored: 7, text: []string{"read 7 records from ride.gpx in ", "stored 7 new events, 0 already present",
				"skipped 1 bad lines or files:", "bad coordinates (ride.gpx:", "1 tracks in 1 segments, 0 routes, 8 points"}},
		{name: "gpx again", file: "ride.gpx", body: []byte(gpxFile(7)), q: []string{"user", "alice", "device", "bike"},
			code: 200, format: "gpx", stored: 0, text: []string{"stored 0 new events, 7 already present"}},
		{name: "gpx without a device", file: "ride.gpx", body: []byte(gpxFile(2)), q: []string{"user", "alice"}, code: 400, format: "gpx"},
		{name: "recorder tar.gz", file: "store.tar.gz", body: tarGz(t, true, entriesOf(recorderFiles("recorder-store/"))...),
			code: 200, format: "recorder", stored: 6, text: []string{"stored 6 new events", "rec/alice/phone/2026-10.rec:6"}},
		{name: "recorder zip", file: "store.zip", body: zipOf(t, entriesOf(recorderFiles("store/"))...),
			code: 200, format: "recorder", stored: 0, text: []string{"stored 0 new events, 6 already present"}},
		{name: "recorder plain tar", file: "store.tar", body: tarGz(t, false, entriesOf(recorderFiles(""))...),
			code: 200, format: "recorder", stored: 0, text: []string{"6 already present"}},
		{name: "an archive with no Recorder store", file: "x.zip", body: zipOf(t, entry{name: "photos/a.jpg", body: []byte("x")}),
			code: 422, format: "recorder"},
		{name: "event lines", file: "export.jsonl.gz", body: eventsFile, code: 200, format: "events", stored: 4,
			text: []string{"stored 4 new events", "only imports (import:…) may be posted here (export.jsonl.gz:5)"}},
		{name: "unknown", file: "notes.txt", body: []byte("hello"), code: 415},
		// Other JSON is what POST /api/v1/admin/import decides on (Google
		// location history once that reader is in): its answer is the summary.
		{name: "other JSON goes to the import endpoint", file: "other.json", body: []byte(`{"hello": [1, 2]}`), code: 400, format: "import",
			text: []string{"stopped: line 1: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := o.log.Head()
			res, s := o.upload(t, admin, tc.file, tc.body, tc.q...)
			if res.StatusCode != tc.code || s.Format != tc.format || s.Stored != tc.stored {
				t.Fatalf("%s, format %q, stored %d; want %d, %q, %d: %+v", res.Status, s.Format, s.Stored, tc.code, tc.format, tc.stored, s)
			}
			if got := o.log.Head() - head; got != tc.stored {
				t.Errorf("the log grew by %d events, want %d", got, tc.stored)
			}
			for _, l := range tc.text {
				if !strings.Contains(s.Text, l) {
					t.Errorf("summary lacks %q:\n%s", l, s.Text)
				}
			}
			if tc.code != 200 && s.Error == "" {
				t.Errorf("no reason given: %+v", s)
			}
			assertNoLeftovers(t, o.uploads)
		})
	}
	// The Recorder's config/ (passwords) was never written; the card was.
	var card bool
	if err := o.log.Scan(t.Context(), 1, func(e events.Event) error {
		card = card || (strings.HasPrefix(e.Topic, "owntracks/alice/phone") && strings.Contains(string(e.Payload), `"card"`))
		if strings.Contains(string(e.Payload), "secret") {
			t.Errorf("event %d holds the config file", e.Seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !card {
		t.Error("the card was not imported")
	}
}

// assertNoLeftovers: nothing of an upload stays in the upload directory.
func assertNoLeftovers(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		t.Errorf("left in the upload directory: %s", e.Name())
	}
}

// TestUploadLimits: archives are outside input. A zip or gzip bomb stops
// at the unpack limit; names leading out of the directory (.., absolute,
// links) are reported and never written; too many entries and an
// oversized upload are refused with 413; nothing is left behind.
func TestUploadLimits(t *testing.T) {
	limits := web.UploadLimits{MaxBytes: 2 << 20, MaxUnpacked: 1 << 20, MaxFiles: 50}
	o := newOpsStack(t, limits, nil)
	admin := o.as(t, "root")
	outside := filepath.Dir(o.uploads) // where an escaping name would land
	good := recorderFiles("")["rec/alice/phone/2026-10.rec"]
	zeros := bytes.Repeat([]byte("0"), 20<<20) // 20 MB: unpacks past the 1 MB limit, compresses to ~20 KB
	var many []entry
	for i := range 60 {
		many = append(many, entry{name: fmt.Sprintf("rec/u/d/%d.rec", i), body: good})
	}
	for _, tc := range []struct {
		name     string
		file     string
		body     []byte
		code     int
		problems []string // reasons the summary reports
		stored   uint64
	}{
		{name: "zip bomb", file: "bomb.zip", body: zipOf(t, entry{name: "rec/a/b/2026-01.rec", body: zeros}), code: 413},
		{name: "zip bomb with a lying size", file: "bomb2.zip", body: lyingZip(t, "rec/a/b/2026-01.rec", zeros), code: 200,
			problems: []string{"archive entry is damaged"}},
		{name: "tar.gz bomb", file: "bomb.tar.gz", body: tarGz(t, true, entry{name: "rec/a/b/2026-01.rec", body: zeros}), code: 413},
		{name: "too many entries (tar)", file: "many.tar.gz", body: tarGz(t, true, many...), code: 413},
		{name: "too many entries (zip)", file: "many.zip", body: zipOf(t, many...), code: 413},
		{name: "path traversal in tar", file: "evil.tar.gz", code: 200, stored: 5,
			body: tarGz(t, true,
				entry{name: "../../rec/evil/x/2026-01.rec", body: good},
				entry{name: "/tmp/rec/evil/x/2026-01.rec", body: good},
				entry{name: "rec/../../../evil.rec", body: good},
				entry{name: `rec\..\..\evil\x\2026-01.rec`, body: good},
				entry{name: "rec/alice/link/2026-01.rec", link: "/etc/passwd"},
				entry{name: "rec/alice/phone/2026-10.rec", body: good},
			),
			problems: []string{"archive entry with an unsafe name", "archive entry is a link or special file"}},
		{name: "path traversal in zip", file: "evil.zip", code: 200, stored: 0,
			body: zipOf(t,
				entry{name: "../rec/evil/x/2026-01.rec", body: good},
				entry{name: "/rec/evil/x/2026-01.rec", body: good},
				entry{name: "rec/alice/link/2026-01.rec", link: "../../../../etc/passwd"},
				entry{name: "rec/alice/phone/2026-10.rec", body: good},
				entry{name: "rec/alice/phone/2026-10.rec", body: good},
			),
			problems: []string{"archive entry with an unsafe name", "archive entry is a link or special file", "archive entry appears twice"}},
		{name: "oversized upload", file: "big.gpx", body: bytes.Repeat([]byte(" "), 3<<20), code: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head := o.log.Head()
			res, s := o.upload(t, admin, tc.file, tc.body)
			if res.StatusCode != tc.code {
				t.Fatalf("%s, want %d: %+v", res.Status, tc.code, s)
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
			es, _ := os.ReadDir(outside)
			for _, e := range es {
				if e.Name() != filepath.Base(o.uploads) {
					t.Errorf("written outside the upload directory: %s", e.Name())
				}
			}
			if _, err := os.Stat(filepath.Join(outside, "..", "rec")); err == nil {
				t.Errorf("an entry escaped to %s", filepath.Join(outside, "..", "rec"))
			}
		})
	}
	// Without a Content-Length (chunked), the cap holds while reading.
	req, _ := http.NewRequest(http.MethodPost, o.srv.URL+"/api/v1/admin/upload?name=big.gpx", io.MultiReader(bytes.NewReader(bytes.Repeat([]byte(" "), 3<<20))))
	req.ContentLength = -1
	res, err := admin.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversized upload: %s %s", res.Status, b)
	}
	assertNoLeftovers(t, o.uploads)
}

// lyingZip is a zip whose one entry declares a small uncompressed size
// but holds body: the reader stops at the declared size, and the entry
// is reported damaged rather than believed or unpacked whole.
func lyingZip(t *testing.T, name string, body []byte) []byte {
	t.Helper()
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(body)
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(body),
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: 10})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()
	return buf.Bytes()
}

// TestDeviceHealthAPI: the API and the page show the figures the fold
// keeps; /metrics exports at most MetricsMaxDevices devices' figures and
// says how many there are.
func TestDeviceHealthAPI(t *testing.T) {
	o := newOpsStack(t, web.UploadLimits{}, nil)
	admin := o.as(t, "root")
	base := clockNow.Add(-2 * time.Hour)
	var evs []events.Event
	for i := range 20 {
		at := base.Add(time.Duration(i) * time.Minute)
		evs = append(evs, events.Event{Topic: "owntracks/dora/watch", Source: events.SourceHTTP, Received: at,
			Payload: fmt.Appendf(nil, `{"_type":"location","lat":50,"lon":4,"tst":%d,"batt":%d}`, at.Add(-3*time.Second).Unix(), 80-i)})
	}
	evs = append(evs, events.Event{Topic: "owntracks/dora/watch", Source: events.SourceHTTP, Received: base.Add(20 * time.Minute), Payload: []byte(`{"_type":"location","lat":99}`)})
	for i := range web.MetricsMaxDevices + 5 {
		evs = append(evs, events.Event{Topic: fmt.Sprintf("owntracks/many/d%02d", i), Source: events.SourceEmbedded, Received: base,
			Payload: fmt.Appendf(nil, `{"_type":"location","lat":50,"lon":4,"tst":%d}`, base.Unix())})
	}
	o.appendAll(t, evs...)
	eventstest.WaitFor(t, 5*time.Second, "health folded", func() bool { return o.health.Applied() == o.log.Head() })

	res, b := call(t, admin, "GET", o.srv.URL+"/api/v1/devices/health", nil)
	var rep web.HealthReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s %s", res.Status, b)
	}
	var dora *health.Device
	for i := range rep.Devices {
		if rep.Devices[i].ID == "dora/watch" {
			dora = &rep.Devices[i]
		}
	}
	if dora == nil || dora.Delay.Median != 3 || dora.Invalid.Count != 1 || dora.Invalid.LastReason == "" || !dora.Quiet ||
		dora.Battery == nil || dora.Battery.Level != 61 || dora.Transports["http"].IsZero() {
		t.Fatalf("dora/watch: %+v", dora)
	}
	if rep.LogHead != o.log.Head() || rep.Applied != rep.LogHead {
		t.Errorf("applied %d of %d", rep.Applied, rep.LogHead)
	}
	_, page := call(t, admin, "GET", o.srv.URL+"/admin/devices", nil)
	for _, want := range []string{`data-device="dora/watch"`, "quiet for", "3 s / 3 s", "61 %"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	_, m := call(t, admin, "GET", o.srv.URL+"/metrics", nil)
	metrics := string(m)
	exported := strings.Count(metrics, "tracker_device_quiet{")
	if exported != web.MetricsMaxDevices {
		t.Errorf("%d devices exported, want the cap %d", exported, web.MetricsMaxDevices)
	}
	for _, want := range []string{
		fmt.Sprintf("tracker_device_health_devices %d", len(rep.Devices)),
		fmt.Sprintf("tracker_device_health_exported %d", web.MetricsMaxDevices),
		`tracker_device_delay_seconds{device="dora/watch",quantile="0.5"} 3`,
		`tracker_device_invalid_total{device="dora/watch"} 1`,
		`tracker_device_quiet{device="dora/watch"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
