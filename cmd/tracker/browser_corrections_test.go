package main

// Browser test of corrections on the history page: hide a point from the
// table, see it as hidden (folded away, left off the map and the
// figures), reveal it, restore it.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tracker/events/eventstest"
)

// TestBrowserCorrections: the owner (here the open mode's admin) hides an
// outlier with the row's Hide button, with a reason typed in the form;
// the row folds away, the map and the figures drop the point and the
// friend's position goes back to the fix before; "Show hidden points"
// shows the row struck through with its reason and draws the point,
// hollow, on the map; Restore brings it all back. Screenshots at 390 and
// 1280 px, light and dark, of the revealed state.
func TestBrowserCorrections(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	const id, n = "ines/phone", 8
	phone := eventstest.Connect(t, s.mqtt, "corrections-ines")
	now := time.Now().Truncate(time.Second)
	for i := range n {
		lat, lon := parkLat+float64(i)*0.0005, parkLon
		if i == n-1 {
			lat, lon = parkLat+0.3, parkLon+0.4 // the outlier, newest
		}
		publishLocation(t, phone, id, location{Lat: lat, Lon: lon, Tst: now.Add(time.Duration(i-n) * 4 * time.Minute).Unix(), Acc: 15, T: "p"})
	}
	waitFriend(t, base, id)
	type pointsAnswer struct {
		Points []struct {
			Seq uint64  `json:"seq"`
			Tst int64   `json:"tst"`
			Lat float64 `json:"lat"`
		} `json:"points"`
	}
	locs := func() pointsAnswer {
		t.Helper()
		var out pointsAnswer
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, err := fetchJSON[pointsAnswer](base + "/api/v1/friends/ines/phone/locations?from=" + strconv.FormatInt(now.Add(-2*time.Hour).Unix(), 10))
			if err == nil && (len(v.Points) == n || time.Now().After(deadline)) {
				return v
			}
			if err == nil && len(v.Points) != n && len(v.Points) != n-1 {
				out = v
			}
			if time.Now().After(deadline) {
				t.Fatalf("locations: %v %+v", err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	pts := locs().Points
	if len(pts) != n {
		t.Fatalf("%d points, want %d", len(pts), n)
	}
	outlier := pts[n-1]
	row := fmt.Sprintf(`document.querySelector('tr[data-seq="%d"]')`, outlier.Seq)
	page := historyURL(base, id, now.Add(-2*time.Hour), now.Add(time.Hour))

	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(page))
	b.mustWaitJS(t, 5*time.Second, "track drawn", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n))

	// Hide the outlier from its row, with a reason.
	_ = eval[bool](t, b, `(document.querySelector('[data-testid="reason"]').value = "GPS jump <b>to the lake</b>", true)`)
	_ = eval[bool](t, b, `(window.beforeCorrection = true, `+row+`.querySelector('[data-testid="hide-point"]').click(), true)`)
	waitReload(t, b, "the row marked hidden", row+` && `+row+`.classList.contains("point-hidden")`)
	b.mustWaitJS(t, 5*time.Second, "track drawn without it", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n-1))
	if got := eval[string](t, b, `getComputedStyle(`+row+`).display`); got != "none" {
		t.Errorf("the hidden row shows (%s) before Show hidden points", got)
	}
	if got := eval[string](t, b, `document.querySelector('[data-testid="stat-points"]').textContent`); got != strconv.Itoa(n-1) {
		t.Errorf("figures count %s points, want %d", got, n-1)
	}
	friend := func() (int64, error) {
		fs, err := fetchJSON[[]struct {
			ID       string `json:"id"`
			Location struct {
				Tst int64 `json:"tst"`
			} `json:"location"`
		}](base + "/api/v1/friends")
		for _, f := range fs {
			if f.ID == id {
				return f.Location.Tst, err
			}
		}
		return 0, err
	}
	if tst, err := friend(); err != nil || tst != pts[n-2].Tst {
		t.Errorf("ines is shown at %d (%v), want %d, the fix before the hidden one", tst, err, pts[n-2].Tst)
	}

	// Reveal: the row is struck through with its reason (as text), the
	// point is drawn on the map.
	_ = eval[bool](t, b, `(document.getElementById("show-hidden").click(), true)`)
	b.mustWaitJS(t, 5*time.Second, "the hidden row shown", `getComputedStyle(`+row+`).display === "table-row"`)
	if got := eval[string](t, b, `getComputedStyle(`+row+`.querySelector('[data-key="position"]')).textDecorationLine`); got != "line-through" {
		t.Errorf("a revealed hidden row's position is not struck through: %q", got)
	}
	if got := eval[string](t, b, row+`.querySelector(".hidden-why").textContent`); got != "hidden by open-mode: GPS jump <b>to the lake</b>" {
		t.Errorf("the row says %q", got)
	}
	b.mustWaitJS(t, 5*time.Second, "the hidden point drawn on the map", `document.getElementById("map").dataset.hiddenShown === "1"`)
	if wide := eval[string](t, b, overflowJS); wide != "" {
		t.Errorf("scrolls sideways at 1280 px: %s", wide)
	}
	for _, sz := range []struct {
		width, height int64
		mobile        bool
	}{{390, 844, true}, {1280, 900, false}} {
		opts := []chromedp.EmulateViewportOption{}
		if sz.mobile {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		// The reveal is kept across the reload (corrections.js).
		b.do(t, 15*time.Second, chromedp.EmulateViewport(sz.width, sz.height, opts...), chromedp.Navigate(page))
		b.mustWaitJS(t, 5*time.Second, "revealed after a reload", `getComputedStyle(`+row+`).display === "table-row"`)
		if wide := eval[string](t, b, overflowJS); wide != "" {
			t.Errorf("scrolls sideways at %d px: %s", sz.width, wide)
		}
		for _, scheme := range []string{"light", "dark"} {
			b.do(t, 5*time.Second, setColorScheme(scheme), chromedp.Sleep(200*time.Millisecond))
			_ = eval[bool](t, b, `(document.getElementById("corrections").scrollIntoView(), true)`)
			panel, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			_ = eval[bool](t, b, `(`+row+`.scrollIntoView({block: "center"}), true)`)
			table, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			for name, png := range map[string][]byte{"panel": panel, "table": table} {
				if err := os.WriteFile(filepath.Join(screenshotDir(t), fmt.Sprintf("corrections-%s-%d-%s.png", scheme, sz.width, name)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		b.do(t, 5*time.Second, setColorScheme(""))
	}

	// Restore from the row: everything is back.
	_ = eval[bool](t, b, `(window.beforeCorrection = true, `+row+`.querySelector('[data-testid="restore-point"]').click(), true)`)
	waitReload(t, b, "the row in use again", row+` && !`+row+`.classList.contains("point-hidden")`)
	b.mustWaitJS(t, 5*time.Second, "track drawn with it", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n))
	if got := eval[int](t, b, `document.querySelectorAll("tr.point-hidden").length`); got != 0 {
		t.Errorf("%d hidden rows after Restore", got)
	}
	if tst, err := friend(); err != nil || tst != outlier.Tst {
		t.Errorf("after Restore ines is shown at %d (%v), want %d", tst, err, outlier.Tst)
	}
	if got := len(locs().Points); got != n {
		t.Errorf("after Restore the API lists %d points, want %d", got, n)
	}
}

// waitReload waits for the page a form post reloads (window.beforeCorrection,
// set before posting, is gone) to make predicate true; polls end with the
// page they run in, so it polls again until the limit.
func waitReload(t *testing.T, b *browser, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok := b.waitJS(time.Now().Add(time.Second), `!window.beforeCorrection && document.readyState === "complete" && (`+predicate+`)`); ok {
			return
		}
	}
	t.Fatalf("%s: not within 15s after the post (predicate %s)\npage text:\n%s", what, predicate, b.pageText(t))
}
