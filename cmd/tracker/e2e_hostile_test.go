package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"tracker/events/eventstest"
)

// Names a phone (or an admin) might give, each trying to become markup:
// a meta refresh navigates the page away when parsed as HTML (the
// Content-Security-Policy does not stop it); the others would run script
// if the policy ever allowed inline code, and show as elements if not.
const (
	hostileArea   = `<meta http-equiv="refresh" content="0;url=/healthz?navigated">`
	hostileRegion = `<img src="/healthz?img" onerror="window.__pwned='region'">Bob's <b>home</b>`
	hostileCard   = `<script>window.__pwned='card'</script><img src=x onerror="window.__pwned='card'">`
	hostileTID    = `<i>`
)

// TestE2EHostileNamesAreText: names from phones and areas are shown as
// text everywhere, including the map tooltips the page script builds:
// hovering each area on the map shows its name literally, the page stays
// where it is and no script runs.
func TestE2EHostileNamesAreText(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	defineArea(t, base, hostileArea, officeLat, officeLon, 250)
	c := eventstest.Connect(t, s.mqtt, "e2e-hostile")
	pub := func(topic string, v any) {
		t.Helper()
		payload, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		eventstest.Publish(t, c, topic, 1, false, payload)
	}
	now := time.Now().Unix()
	pub("owntracks/bob/phone/info", map[string]any{"_type": "card", "name": hostileCard, "tid": hostileTID})
	pub("owntracks/bob/phone/waypoint", map[string]any{"_type": "waypoint", "desc": hostileRegion,
		"lat": officeLat + 0.006, "lon": officeLon + 0.006, "rad": 200, "tst": now - 60, "rid": "bh1"})
	pub("owntracks/bob/phone", map[string]any{"_type": "location", "lat": officeLat + 0.006, "lon": officeLon + 0.006,
		"tst": now, "tid": hostileTID, "inregions": []string{hostileRegion}})
	waitFriend(t, base, "bob/phone")

	// The areas page: both areas on the map, no friends, so it fits them.
	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(base+"/areas"))
	b.mustWaitJS(t, 10*time.Second, "both areas drawn", `document.querySelectorAll("path.leaflet-interactive").length >= 2`)
	_ = eval[bool](t, b, `(window.__sameDocument = true)`)
	b.do(t, 5*time.Second, chromedp.Sleep(300*time.Millisecond)) // fitBounds animation

	type box struct{ X, Y float64 }
	centers := eval[[]box](t, b, `Array.from(document.querySelectorAll("path.leaflet-interactive")).map(function(p){
		var r = p.getBoundingClientRect(); return {X: r.left + r.width/2, Y: r.top + r.height/2};})`)
	shown := map[string]bool{}
	for i, c := range centers {
		// Away first, until the last tooltip has faded out and gone.
		b.do(t, 5*time.Second, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 5, 5))
		b.mustWaitJS(t, 2*time.Second, "tooltip closed", `document.querySelector(".leaflet-tooltip") === null`)
		b.do(t, 5*time.Second, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, c.X, c.Y))
		_, ok := b.waitJS(time.Now().Add(2*time.Second), `document.querySelector(".leaflet-tooltip") !== null`)
		if !eval[bool](t, b, `window.__sameDocument === true`) {
			t.Fatalf("hovering area %d navigated the page to %s: its name was parsed as HTML", i, eval[string](t, b, `location.href`))
		}
		if !ok {
			t.Errorf("hovering area %d at (%.0f, %.0f) opened no tooltip", i, c.X, c.Y)
			continue
		}
		tip := eval[struct {
			Text     string
			Elements int
		}](t, b, `(function(){var t=document.querySelector(".leaflet-tooltip");
			return {Text: t.textContent, Elements: t.querySelectorAll("meta, img, script, b").length};})()`)
		if tip.Elements != 0 {
			t.Errorf("tooltip of area %d holds %d elements made from its name", i, tip.Elements)
		}
		shown[tip.Text] = true
		if tip.Text == hostileArea {
			png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(screenshotDir(t), "hostile-names-tooltip.png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range []string{hostileArea, hostileRegion} {
		if !shown[name] {
			t.Errorf("no tooltip showed %q literally; tooltips showed %q", name, keys(shown))
		}
	}

	// A meta refresh would navigate at once; give it time to.
	b.do(t, 5*time.Second, chromedp.Sleep(1500*time.Millisecond))
	checkStayed := func(page string) {
		t.Helper()
		if got := eval[string](t, b, `location.pathname + location.search`); got != page {
			t.Fatalf("the page navigated to %s (a name was parsed as HTML)", got)
		}
		if !eval[bool](t, b, `window.__sameDocument === true`) {
			t.Fatalf("the page %s reloaded (a name was parsed as HTML)", page)
		}
		if got := eval[string](t, b, `String(window.__pwned || "")`); got != "" {
			t.Fatalf("script from the %s name ran", got)
		}
	}
	checkStayed("/areas")
	if body := b.pageText(t); !strings.Contains(body, hostileArea) || !strings.Contains(body, hostileRegion) {
		t.Errorf("the areas page does not show the names literally:\n%s", body)
	}

	// The dashboard: the card's name and tid in the row and on the marker.
	b.open(t, base+"/")
	_ = eval[bool](t, b, `(window.__sameDocument = true)`)
	b.mustWaitJS(t, 5*time.Second, "bob's marker", `document.querySelector(".leaflet-marker-icon") !== null`)
	marker := eval[struct{ Text, Title string }](t, b, `(function(){var m=document.querySelector(".leaflet-marker-icon");
		return {Text: m.textContent, Title: m.title};})()`)
	if marker.Title != hostileCard {
		t.Errorf("marker title %q, want the card name literally", marker.Title)
	}
	if n := eval[int](t, b, `document.querySelectorAll("#friends script, #friends img, .leaflet-marker-icon img, .leaflet-marker-icon i").length`); n != 0 {
		t.Errorf("%d elements made from the card's name or tid on the dashboard", n)
	}
	if row := eval[string](t, b, friendRowJS("bob/phone")+`.textContent`); !strings.Contains(row, hostileCard) {
		t.Errorf("bob's row does not show the card name literally: %q", row)
	}
	for _, pt := range []struct{ X, Y float64 }{{640, 400}} {
		b.do(t, 5*time.Second, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, pt.X, pt.Y))
	}
	b.do(t, 5*time.Second, chromedp.Sleep(500*time.Millisecond))
	checkStayed("/")
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(t), "hostile-names-dashboard.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("tooltips shown: %s", fmt.Sprint(keys(shown)))
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
