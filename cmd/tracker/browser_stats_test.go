package main

// Browser test of the stats page (views/stats.templ: server-drawn SVG
// bars and calendar) and of the heatmap layer (static/js/heatmap.js with
// the vendored leaflet.heat) on the stats page and the history page.
// Real server, real broker, real Chromium. With TRACKER_SCREENSHOTS=DIR
// it saves the stats page at 390 and 1280 px, light and dark, there
// (else into testout/screenshots).

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/eventstest"
)

// Places of the stats fixture: Brussels, Gent, Antwerp, Paris.
var (
	statsHome   = [2]float64{50.8320, 4.3500}
	statsOffice = [2]float64{50.8466, 4.3528} // the Grand-Place, 1.6 km north
	statsGent   = [2]float64{51.0543, 3.7174}
	statsAntw   = [2]float64{51.2194, 4.4025}
	statsParis  = [2]float64{48.8566, 2.3522}
)

// publishStatsDays sends days of fixes ending yesterday: weekdays at home
// and at the office (a fix every 10 minutes at each, every 5 on the way),
// Saturdays in Gent or Antwerp, Sundays at home, and four days in Paris.
// It returns the number of days with fixes.
func publishStatsDays(t *testing.T, c paho.Client, id string, days int) (int, int64) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(7, 7))
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var last int64
	fix := func(p [2]float64, at time.Time, jitter float64) {
		dn, de := jitter*rnd.NormFloat64(), jitter*rnd.NormFloat64()
		l := location{Lat: p[0] + dn/111_320, Lon: p[1] + de/(111_320*math.Cos(p[0]*math.Pi/180)), Tst: at.Unix(), Acc: 10 + rnd.IntN(20), T: "p", TID: "an"}
		publishLocation(t, c, id, l)
		last = at.Unix()
	}
	stay := func(p [2]float64, from, to time.Time) {
		for at := from; at.Before(to); at = at.Add(10 * time.Minute) {
			fix(p, at, 12)
		}
	}
	move := func(a, b [2]float64, from, to time.Time) {
		n := int(to.Sub(from) / (5 * time.Minute))
		for i := 1; i < n; i++ {
			k := float64(i) / float64(n)
			fix([2]float64{a[0] + (b[0]-a[0])*k, a[1] + (b[1]-a[1])*k}, from.Add(time.Duration(i)*5*time.Minute), 5)
		}
	}
	for i := range days {
		d := today.AddDate(0, 0, i-days)
		h := func(hh, mm int) time.Time { return d.Add(time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute) }
		switch {
		case i >= days-12 && i < days-8: // a few days in Paris
			stay(statsParis, h(8, 0), h(20, 0))
		case d.Weekday() == time.Saturday:
			trip := statsGent
			if i%14 < 7 {
				trip = statsAntw
			}
			stay(statsHome, h(7, 0), h(9, 0))
			move(statsHome, trip, h(9, 0), h(10, 0))
			stay(trip, h(10, 0), h(16, 0))
			move(trip, statsHome, h(16, 0), h(17, 0))
			stay(statsHome, h(17, 0), h(22, 0))
		case d.Weekday() == time.Sunday:
			stay(statsHome, h(8, 0), h(21, 0))
		default:
			stay(statsHome, h(6, 30), h(8, 0))
			move(statsHome, statsOffice, h(8, 0), h(8, 30))
			stay(statsOffice, h(8, 30), h(17, 0))
			move(statsOffice, statsHome, h(17, 0), h(17, 30))
			stay(statsHome, h(17, 30), h(22, 0))
		}
	}
	return days, last
}

// heatCanvasJS says how many pixels of the map's heatmap canvas are
// painted (-1: no heatmap canvas).
const heatCanvasJS = `(function(){var c=document.querySelector("#map canvas.leaflet-heatmap-layer"); if(!c||!c.width||!c.height) return -1;
	var d=c.getContext("2d").getImageData(0,0,c.width,c.height).data, n=0; for(var i=3;i<d.length;i+=4){ if(d[i]>0) n++; } return n;})()`

func TestBrowserStats(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	const id = "anna/phone"
	phone := eventstest.Connect(t, s.mqtt, "stats-anna")
	days, last := publishStatsDays(t, phone, id, 70)
	waitFix(t, base, id, last)
	// Drawn after the fact: it still names the weekdays' stays.
	defineArea(t, base, "Office", statsOffice[0], statsOffice[1], 150)
	b.do(t, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspRecorderJS})
		return err
	}))

	// The picker leads to anna's stats.
	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/stats"))
	b.mustWaitJS(t, 5*time.Second, "the picker", `document.querySelectorAll('[data-testid="stats-friend"]').length === 1`)
	b.do(t, 10*time.Second, chromedp.Click(`[data-testid="stats-friend"]`), chromedp.WaitVisible(`[data-testid="stats"]`))

	// All time: a bar per week, a calendar square per day, the days with
	// fixes marked.
	b.do(t, 15*time.Second, chromedp.Navigate(base+"/stats/anna/phone?period=all"))
	b.mustWaitJS(t, 5*time.Second, "the stats page", `!!document.querySelector('[data-testid="stats-bars"]')`)
	weeks := eval[int](t, b, `document.querySelectorAll('[data-testid="stats-bar"]').length`)
	if weeks < days/7 || weeks > days/7+2 {
		t.Errorf("%d bars for %d days, want one a week", weeks, days)
	}
	if tall := eval[int](t, b, `Array.from(document.querySelectorAll('[data-testid="stats-bar"]')).filter(function(r){return r.getBBox().height > 2}).length`); tall < weeks-2 {
		t.Errorf("%d of %d bars drawn with a height", tall, weeks)
	}
	if n := eval[int](t, b, `document.querySelectorAll('[data-testid="cal-day"]:not([data-level="0"])').length`); n != days {
		t.Errorf("calendar marks %d days, want %d", n, days)
	}
	if got := eval[string](t, b, `document.querySelector('[data-testid="stat-days"]').textContent`); got != fmt.Sprint(days) {
		t.Errorf("days with data %q, want %d", got, days)
	}
	if got := eval[string](t, b, `document.querySelector('[data-testid="stats-places"] .rank-name').textContent`); got != "Office" && got != "Brussels" {
		t.Errorf("the first place is %q, want home (Brussels) or the Office", got)
	}
	if got := eval[string](t, b, `Array.from(document.querySelectorAll('[data-testid="stats-countries"] .rank-name')).map(function(e){return e.textContent}).join(",")`); got != "Belgium,France" {
		t.Errorf("countries %q, want Belgium,France", got)
	}
	// The heatmap layer draws on its canvas.
	b.mustWaitJS(t, 10*time.Second, "the stats heatmap", `document.getElementById("map").dataset.heat === "drawn"`)
	settle(t, b)
	if n := eval[int](t, b, heatCanvasJS); n <= 0 {
		t.Errorf("the stats heatmap's canvas has %d painted pixels", n)
	}

	// The history page: the heatmap switch draws over the track and takes
	// it away again.
	now := time.Now()
	b.do(t, 15*time.Second, chromedp.Navigate(historyURL(base, id, now.AddDate(0, 0, -7), now)))
	b.mustWaitJS(t, 10*time.Second, "the track", `document.getElementById("track").dataset.points > 0`)
	if n := eval[int](t, b, heatCanvasJS); n != -1 {
		t.Errorf("a heatmap before the switch: %d", n)
	}
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="heatmap-toggle"]`))
	b.mustWaitJS(t, 10*time.Second, "the history heatmap", `document.getElementById("map").dataset.heat === "drawn"`)
	settle(t, b)
	if n := eval[int](t, b, heatCanvasJS); n <= 0 {
		t.Errorf("the history heatmap's canvas has %d painted pixels", n)
	}
	b.do(t, 5*time.Second, chromedp.Click(`[data-testid="heatmap-toggle"]`))
	b.mustWaitJS(t, 5*time.Second, "the heatmap off", `document.getElementById("map").dataset.heat === "off"`)
	if n := eval[int](t, b, heatCanvasJS); n != -1 {
		t.Errorf("the heatmap stayed after the switch went off: %d", n)
	}
	if got := eval[string](t, b, `document.querySelector('[data-testid="history-stats"]').getAttribute("href")`); got != "/stats/anna/phone" {
		t.Errorf("history's stats link %q", got)
	}

	// Screenshots of the stats page (the whole page), to look at.
	dir := os.Getenv("TRACKER_SCREENSHOTS")
	if dir == "" {
		dir = screenshotDir(t)
	}
	for _, w := range []struct{ width, height int64 }{{390, 844}, {1280, 800}} {
		var opts []chromedp.EmulateViewportOption
		if w.width <= 390 {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		b.do(t, 15*time.Second, chromedp.EmulateViewport(w.width, w.height, opts...), chromedp.Navigate(base+"/stats/anna/phone?period=all"))
		b.mustWaitJS(t, 10*time.Second, "the stats heatmap", `document.getElementById("map").dataset.heat === "drawn"`)
		if msg := eval[string](t, b, widthJS(w.width)); msg != "" {
			t.Errorf("stats page at %d px: %s", w.width, msg)
		}
		for _, scheme := range []string{"light", "dark"} {
			b.do(t, 5*time.Second, setColorScheme(scheme))
			settle(t, b)
			h := eval[int64](t, b, `document.documentElement.scrollHeight`)
			b.do(t, 5*time.Second, chromedp.EmulateViewport(w.width, h, opts...))
			settle(t, b)
			screenshot(t, b, filepath.Join(dir, fmt.Sprintf("stats-%d-%s.png", w.width, scheme)))
			b.do(t, 5*time.Second, chromedp.EmulateViewport(w.width, w.height, opts...))
		}
	}
	if v := eval[string](t, b, `sessionStorage.getItem("csp-violations") || ""`); v != "" && v != "[]" {
		t.Errorf("Content-Security-Policy violations: %s", v)
	}
}
