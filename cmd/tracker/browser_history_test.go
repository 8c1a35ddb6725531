package main

// Browser tests of the history page: the map frames the track and stays
// where the viewer left it, the page's layout on phones and desktops.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tracker/events/eventstest"
)

// historyViewJS reads the history map's centre and zoom.
const historyViewJS = `(function(){
	var m = document.getElementById("map").trackerMap, c = m.getCenter();
	return JSON.stringify({lat: c.lat, lng: c.lng, zoom: m.getZoom()});
})()`

// inViewJS says which of the points (a JSON array of [lat, lon]) are
// outside the history map's bounds ("" when all are inside).
func inViewJS(pts [][2]float64) string {
	b, _ := json.Marshal(pts)
	return fmt.Sprintf(`(function(){
		var m = document.getElementById("map").trackerMap, b = m.getBounds(), out = [];
		%s.forEach(function(p){ if (!b.contains(L.latLng(p[0], p[1]))) out.push(p.join(",")); });
		return out.length ? out.length + " outside " + b.toBBoxString() + ": " + out.slice(0, 5).join(" ") : "";
	})()`, b)
}

// TestBrowserHistoryMapFramesTrack: after load every point of the track is
// on the map; a live update with "Follow" off leaves the view alone (it
// used to fit the map again, throwing away the viewer's pan and zoom);
// with "Follow" on, the map pans to the newest point.
func TestBrowserHistoryMapFramesTrack(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	const id, n = "hana/phone", 12
	phone := eventstest.Connect(t, s.mqtt, "history-hana")
	now := time.Now().Truncate(time.Second)
	var pts [][2]float64
	for i := range n {
		// A track running north-east over ~5 km: far more than one zoom-15 view.
		lat, lon := parkLat+float64(i)*0.004, parkLon+float64(i)*0.005
		pts = append(pts, [2]float64{lat, lon})
		publishLocation(t, phone, id, location{Lat: lat, Lon: lon, Tst: now.Add(time.Duration(i-n) * 5 * time.Minute).Unix(), Acc: 10, T: "p"})
	}
	waitFriend(t, base, id)

	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 800))
	b.open(t, historyURL(base, id, now.Add(-2*time.Hour), now.Add(time.Hour)))
	b.mustWaitJS(t, 5*time.Second, "track drawn", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n))
	// Let a fit animation (if any) settle.
	b.do(t, 5*time.Second, chromedp.Sleep(400*time.Millisecond))
	if out := eval[string](t, b, inViewJS(pts)); out != "" {
		t.Fatalf("after load, track points off the map: %s", out)
	}
	before := eval[string](t, b, historyViewJS)

	// Live update far outside the view, "Follow" off: the view stays.
	far := [2]float64{parkLat + 0.2, parkLon + 0.3}
	publishLocation(t, phone, id, location{Lat: far[0], Lon: far[1], Tst: now.Unix(), Acc: 10, T: "u"})
	b.mustWaitJS(t, 5*time.Second, "track redrawn with the new point", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n+1))
	b.do(t, 5*time.Second, chromedp.Sleep(400*time.Millisecond))
	if after := eval[string](t, b, historyViewJS); after != before {
		t.Errorf("a live update with Follow off moved the map: %s → %s", before, after)
	}

	// "Follow" on: the newest point comes into view.
	if !eval[bool](t, b, `(function(){var f=document.getElementById("follow"); if(!f) return false; f.click(); return f.checked;})()`) {
		t.Fatal("no Follow toggle on a live history page")
	}
	next := [2]float64{parkLat - 0.2, parkLon - 0.3}
	publishLocation(t, phone, id, location{Lat: next[0], Lon: next[1], Tst: now.Unix() + 1, Acc: 10, T: "u"})
	b.mustWaitJS(t, 5*time.Second, "track redrawn with the followed point", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n+2))
	b.mustWaitJS(t, 5*time.Second, "map follows the newest point", inViewJS([][2]float64{next})+` === ""`)

	// "Fit track" frames the whole track again.
	_ = eval[bool](t, b, `(document.getElementById("fit-track").click(), true)`)
	b.do(t, 5*time.Second, chromedp.Sleep(400*time.Millisecond))
	if out := eval[string](t, b, inViewJS(append(pts, far, next))); out != "" {
		t.Errorf("after Fit track, points off the map: %s", out)
	}
}

// TestBrowserHistoryLayout: a 100-point history page on phones (360 and
// 390 px) does not scroll sideways, shows each point's time, position and
// speed, and is far shorter than the 8,255 px it used to be at 390 px; on
// a desktop (1280×800) the map and the comings and goings are in the
// first screen.
func TestBrowserHistoryLayout(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	defineArea(t, base, "Jardin du Luxembourg", parkLat, parkLon, 300)
	const id, n = "chloe/phone", 100
	phone := eventstest.Connect(t, s.mqtt, "history-chloe")
	now := time.Now().Truncate(time.Second)
	for i := range n {
		// In and out of the park every 20 points, so the timeline has lines.
		lat := parkLat + float64(i%20)*0.0008
		publishLocation(t, phone, id, location{Lat: lat, Lon: parkLon, Tst: now.Add(time.Duration(i-n) * time.Minute).Unix(), Acc: 12, Batt: 80 - i/5, Vel: i % 30, T: "p"})
	}
	waitFriend(t, base, id)
	page := historyURL(base, id, now.Add(-3*time.Hour), now.Add(time.Hour))

	for _, sz := range []struct {
		width, height int64
		mobile        bool
	}{{360, 740, true}, {390, 844, true}, {1280, 800, false}} {
		t.Run(fmt.Sprint(sz.width), func(t *testing.T) {
			opts := []chromedp.EmulateViewportOption{}
			if sz.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
			}
			b.do(t, 15*time.Second, chromedp.EmulateViewport(sz.width, sz.height, opts...), chromedp.Navigate(page))
			b.mustWaitJS(t, 5*time.Second, "track drawn", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n))
			if got := eval[int](t, b, `document.querySelectorAll('[data-testid="point-row"]').length`); got != n {
				t.Fatalf("%d point rows, want %d", got, n)
			}
			if wide := eval[string](t, b, overflowJS); wide != "" {
				t.Errorf("scrolls sideways: %s", wide)
			}
			height := eval[int](t, b, `document.documentElement.scrollHeight`)
			t.Logf("history page with %d points at %d px: %d px tall", n, sz.width, height)
			// Each row shows its time, position and speed on screen.
			if miss := eval[string](t, b, keyCellsJS); miss != "" {
				t.Errorf("a point row hides a key value: %s", miss)
			}
			// For a person to look at: testout/screenshots/history-*.png.
			for _, scheme := range []string{"light", "dark"} {
				b.do(t, 5*time.Second, setColorScheme(scheme), chromedp.Sleep(200*time.Millisecond))
				full, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				screen, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				_ = eval[bool](t, b, `(document.getElementById("points-h").scrollIntoView(), true)`)
				table, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				_ = eval[bool](t, b, `(scrollTo(0, 0), true)`)
				for name, png := range map[string][]byte{"full": full, "screen": screen, "table": table} {
					if err := os.WriteFile(filepath.Join(screenshotDir(t), fmt.Sprintf("history-100-%s-%d-%s.png", scheme, sz.width, name)), png, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			b.do(t, 5*time.Second, setColorScheme(""))
			if sz.mobile {
				if height > 5000 {
					t.Errorf("the page is %d px tall at %d px, want at most 5000", height, sz.width)
				}
				// The folded columns come back with the switch; the table
				// scrolls inside its box, the page does not.
				hidden := `getComputedStyle(document.querySelector('[data-testid="point-row"] [data-key="battery"]')).display`
				if got := eval[string](t, b, hidden); got != "none" {
					t.Errorf("battery column shown (%s) on a phone before the switch", got)
				}
				_ = eval[bool](t, b, `(document.getElementById("all-columns").click(), true)`)
				if got := eval[string](t, b, hidden); got != "table-cell" {
					t.Errorf("battery column %s after the switch, want table-cell", got)
				}
				if wide := eval[string](t, b, overflowJS); wide != "" {
					t.Errorf("with every column, the page scrolls sideways: %s", wide)
				}
				return
			}
			for _, what := range []string{"#map", "#timeline-h"} {
				top := eval[float64](t, b, fmt.Sprintf(`document.querySelector(%q).getBoundingClientRect().top`, what))
				if top < 0 || top > float64(sz.height)-40 {
					t.Errorf("%s starts at %.0f px, outside the first %d px screen", what, top, sz.height)
				}
			}
		})
	}
}

// keyCellsJS checks the first point row: its time, position and speed are
// each visible (a box inside the viewport's width). "" when they are.
const keyCellsJS = `(function(){
	var row = document.querySelector('[data-testid="point-row"]'), w = document.documentElement.clientWidth, out = [];
	["time", "position", "speed"].forEach(function(k){
		var c = row.querySelector('[data-key="' + k + '"]');
		if (!c) { out.push(k + ": no cell"); return; }
		var r = c.getBoundingClientRect();
		if (r.width === 0 || r.height === 0 || r.left < 0 || r.right > w + 1) out.push(k + ": at " + Math.round(r.left) + "–" + Math.round(r.right) + " of " + w);
	});
	return out.join("; ");
})()`
