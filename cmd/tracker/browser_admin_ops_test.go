package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The operations page in Chromium: an admin clicks Rebuild and sees the
// progress bar reach the end with the rebuild's summary, uploads a GPX
// file and sees the command line's summary, and the points are in the
// log; the device health page shows the seeded phones; a viewer gets 403
// and no controls.
func TestBrowserAdminOps(t *testing.T) {
	b := newBrowser(t)
	f := startPagesFixture(t, false)
	f.loginBrowser(t, b, pagesAdmin)
	f.visit(t, b, pageCase{name: "admin", as: pagesAdmin, path: "/admin", status: 200}, 1280, 800)

	// Storage: the log's events and sizes on disk.
	if msg := eval[string](t, b, `(function(){
		var q = function(id){ var e = document.querySelector('[data-testid="' + id + '"]'); return e ? e.textContent.trim() : ""; };
		if (!(Number(q("storage-events")) > 0)) return "events: " + q("storage-events");
		if (!/^[0-9.]+ (KB|MB|GB)$/.test(q("storage-log"))) return "log: " + q("storage-log");
		if (!/^[0-9.]+ (KB|MB|GB)$/.test(q("storage-projections"))) return "projections: " + q("storage-projections");
		if (!/GB|MB/.test(q("storage-free"))) return "free: " + q("storage-free");
		return "";
	})()`); msg != "" {
		t.Errorf("storage figures: %s", msg)
	}

	// Rebuild.
	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`#rebuild-start`)))
	b.mustWaitJS(t, 30*time.Second, "the rebuild done", `document.getElementById("rebuild").dataset.state === "done"`)
	if msg := eval[string](t, b, `(function(){
		var bar = document.getElementById("rebuild-bar"), st = document.getElementById("rebuild-status").textContent;
		if (bar.value !== bar.max) return "bar at " + bar.value + " of " + bar.max;
		if (!/Rebuilt \d+ events/.test(st)) return "status: " + st;
		if (document.getElementById("rebuild-start").disabled) return "the button stays disabled";
		return "";
	})()`); msg != "" {
		t.Errorf("after the rebuild: %s", msg)
	}

	// Upload a GPX file for ada/bike.
	dir := t.TempDir()
	file := filepath.Join(dir, "ride.gpx")
	var gpx strings.Builder
	gpx.WriteString(`<?xml version="1.0"?><gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>`)
	for i := range 12 {
		fmt.Fprintf(&gpx, `<trkpt lat="48.85%02d" lon="2.35"><time>2026-05-01T08:%02d:00Z</time></trkpt>`, i, i)
	}
	gpx.WriteString(`<trkpt lat="91" lon="2.35"><time>2026-05-01T09:00:00Z</time></trkpt></trkseg></trk></gpx>`)
	if err := os.WriteFile(file, []byte(gpx.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do(t, 10*time.Second,
		chromedp.SetUploadFiles(chromedp.CSS(`#upload-file`), []string{file}),
		chromedp.SendKeys(chromedp.CSS(`#upload-user`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`#upload-device`), "bike"),
		chromedp.Click(chromedp.CSS(`#upload-start`)),
	)
	b.mustWaitJS(t, 30*time.Second, "the upload's summary", `document.getElementById("import").dataset.state === "done"`)
	summary := eval[string](t, b, `document.getElementById("upload-summary").textContent`)
	for _, want := range []string{"read 12 records from ride.gpx", "stored 12 new events, 0 already present", "skipped 1 bad lines or files:", "bad coordinates (ride.gpx:"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	if v := eval[bool](t, b, `(function(){ var b = document.getElementById("upload-bar"); return b.value === b.max; })()`); !v {
		t.Errorf("the upload bar did not reach the end")
	}
	resp, err := f.get(t, pagesAdmin, "/api/v1/friends/ada/bike/locations?from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), `"count":12`) {
		t.Errorf("ada/bike's imported points: %s %.300s", resp.Status, body.String())
	}

	// Device health: one card per phone.
	f.visit(t, b, pageCase{name: "admin-devices", as: pagesAdmin, path: "/admin/devices", status: 200}, 1280, 800)
	if n := eval[int](t, b, `document.querySelectorAll('[data-testid="device-health"]').length`); n < 5 {
		t.Errorf("%d device cards, want the seeded phones", n)
	}
	if !eval[bool](t, b, `!!document.querySelector('[data-device="max/phone"] [data-testid="delay"]')`) {
		t.Errorf("no delay figures for max/phone")
	}

	// A viewer: 403 and no controls.
	f.loginBrowser(t, b, pagesViewer)
	for _, path := range []string{"/admin", "/admin/devices"} {
		if code := f.status(t, pageCase{as: pagesViewer, path: path}); code != 403 {
			t.Errorf("viewer GET %s: %d, want 403", path, code)
		}
		f.visit(t, b, pageCase{name: "403", as: pagesViewer, path: path, status: 403}, 390, 844)
		if eval[bool](t, b, `!!document.querySelector("#rebuild-start, #upload-form, [data-testid=device-health]")`) {
			t.Errorf("viewer sees admin controls on %s", path)
		}
		if eval[bool](t, b, `!!document.querySelector('nav a[href="/admin"]')`) {
			t.Errorf("viewer's nav links to /admin")
		}
	}
}
