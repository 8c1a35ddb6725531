package main

// Browser test of the history page's day story: stays and journeys of a
// synthetic day, each shown on the map when clicked, and a place the
// friend stays often named in one click.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tracker/events/eventstest"
	"tracker/projections/visits/visitstest"
)

// storyJS reads the story: one entry per item, with its kind, text and
// times (Unix seconds).
const storyJS = `JSON.stringify(Array.from(document.querySelectorAll('[data-testid="story"] .story > li')).map(function (li) {
	var btn = li.querySelector("button") || li;
	return {cls: li.className, text: li.textContent.replace(/\s+/g, " ").trim(),
		start: Number(btn.dataset.start || 0), end: Number(btn.dataset.end || 0)};
}))`

type storyItem struct {
	Cls   string `json:"cls"`
	Text  string `json:"text"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
}

// TestBrowserVisitsTimeline: two synthetic days published over MQTT, the
// second shown on the history page. The story lists its stays and
// journeys in order, each within a minute of the truth, the office by its
// server area, home and the café by the offline geocoder's nearest town,
// the silence in the office stay as a gap; clicking a stay
// frames its place, clicking a journey frames its track; home, where the
// friend stayed three times, is offered to the admin, and naming it makes
// the story begin "Home until 08:10". Screenshots at 390 and 1280 px,
// light and dark.
func TestBrowserVisitsTimeline(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	defineArea(t, base, "Office", visitstest.Office.Lat, visitstest.Office.Lon, visitstest.OfficeRadius)
	const id = "vera/phone"
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day1, day2 := today.AddDate(0, 0, -3), today.AddDate(0, 0, -2)
	phone := eventstest.Connect(t, s.mqtt, "visits-vera")
	n := 0
	for i, d := range []time.Time{day1, day2} {
		for _, p := range visitstest.SyntheticDay(d, uint64(i)).Points {
			publishLocation(t, phone, id, location{Lat: p.Lat, Lon: p.Lon, Tst: p.Tst, Acc: p.Acc, T: "p"})
			n++
		}
	}
	waitPoints(t, base, id, day1, today, n)
	truth := visitstest.SyntheticDay(day2, 1).Truth

	b.do(t, 15*time.Second, setTimezone("UTC"), chromedp.EmulateViewport(1280, 800))
	page := historyURL(base, id, day2, day2.AddDate(0, 0, 1))
	b.do(t, 15*time.Second, chromedp.Navigate(page)) // a past day: no live connection
	b.mustWaitJS(t, 10*time.Second, "track drawn", `document.getElementById("track").dataset.points > 1000`)

	var items []storyItem
	if err := json.Unmarshal([]byte(eval[string](t, b, storyJS)), &items); err != nil {
		t.Fatal(err)
	}
	var segs []storyItem
	gaps := 0
	for _, it := range items {
		switch {
		case strings.Contains(it.Cls, "story-item"):
			segs = append(segs, it)
		case strings.Contains(it.Cls, "story-gap"):
			gaps++
			if !strings.HasPrefix(it.Text, "no fixes for 4") {
				t.Errorf("gap reads %q, want the 46 min the phone was silent", it.Text)
			}
		}
	}
	if len(segs) != len(truth) || gaps != 1 {
		t.Fatalf("story: %d stays and journeys (want %d), %d gaps (want 1):\n%+v", len(segs), len(truth), gaps, items)
	}
	for i, it := range segs {
		w := truth[i]
		if strings.Contains(it.Cls, "stay") != w.Stay {
			t.Errorf("item %d %q: want stay=%v", i, it.Text, w.Stay)
		}
		if d := time.Duration(it.Start-w.Start.Unix()) * time.Second; d.Abs() > time.Minute {
			t.Errorf("item %d %q starts %s off", i, it.Text, d)
		}
		if d := time.Duration(it.End-w.End.Unix()) * time.Second; d.Abs() > time.Minute {
			t.Errorf("item %d %q ends %s off", i, it.Text, d)
		}
		if w.Name == "office" && !strings.HasPrefix(it.Text, "Office ") {
			t.Errorf("item %d reads %q, want the office's area named", i, it.Text)
		}
	}
	t.Logf("story: %s", storyLine(items))
	// Home and the café are in no area: the offline geocoder names them.
	if !strings.HasPrefix(segs[0].Text, "Brussels until 08:") || !strings.Contains(segs[1].Text, "km, 2") || !strings.HasPrefix(segs[5].Text, "Diegem 12:") {
		t.Errorf("the story starts %q · %q", segs[0].Text, segs[1].Text)
	}
	if last := segs[len(segs)-1].Text; !strings.HasPrefix(last, "Brussels from 18:") {
		t.Errorf("the story ends %q", last)
	}

	// A stay clicked: its place framed and circled; clicked again, let go.
	officeIdx := 2
	click := func(i int) {
		t.Helper()
		_ = eval[bool](t, b, fmt.Sprintf(`(document.querySelectorAll('[data-testid="story"] .story-btn')[%d].click(), true)`, i))
		b.do(t, 5*time.Second, chromedp.Sleep(400*time.Millisecond))
	}
	click(officeIdx)
	if out := eval[string](t, b, inViewJS([][2]float64{{visitstest.Office.Lat, visitstest.Office.Lon}})); out != "" {
		t.Errorf("the office stay clicked, the office is off the map: %s", out)
	}
	if z := eval[float64](t, b, `document.getElementById("map").trackerMap.getZoom()`); z < 15 {
		t.Errorf("the office stay framed at zoom %g, want a street view (15+)", z)
	}
	if got := eval[string](t, b, `document.querySelectorAll('[data-testid="story"] .story-btn')[2].getAttribute("aria-pressed")`); got != "true" {
		t.Errorf("the clicked stay is aria-pressed=%s", got)
	}
	if eval[int](t, b, `document.querySelectorAll(".stay-highlight").length`) != 1 {
		t.Error("no circle round the clicked stay")
	}
	for _, scheme := range []string{"light", "dark"} {
		shoot(t, b, scheme, fmt.Sprintf("visits-stay-1280-%s.png", scheme))
	}
	// The drive home: from the office to home, both ends in view.
	click(len(segs) - 2)
	if out := eval[string](t, b, inViewJS([][2]float64{{visitstest.Office.Lat, visitstest.Office.Lon}, {visitstest.Home.Lat, visitstest.Home.Lon}})); out != "" {
		t.Errorf("the drive home clicked, its ends are off the map: %s", out)
	}
	if eval[int](t, b, `document.querySelectorAll(".journey-highlight").length`) != 1 || eval[int](t, b, `document.querySelectorAll(".stay-highlight").length`) != 0 {
		t.Error("the journey is not the only highlight")
	}
	for _, scheme := range []string{"light", "dark"} {
		shoot(t, b, scheme, fmt.Sprintf("visits-journey-1280-%s.png", scheme))
	}

	// Home (three stays over the two days) is offered; named, the story
	// tells it.
	b.mustWaitJS(t, 10*time.Second, "suggested places", `!document.getElementById("suggested").hidden`)
	if got := eval[int](t, b, `document.querySelectorAll('[data-testid="suggestion"]').length`); got != 1 {
		t.Fatalf("%d suggested places, want home alone (the café was visited twice, the office is an area)", got)
	}
	for _, scheme := range []string{"light", "dark"} {
		_ = eval[bool](t, b, `(document.getElementById("suggested").scrollIntoView({block: "center"}), true)`)
		shoot(t, b, scheme, fmt.Sprintf("visits-suggested-1280-%s.png", scheme))
	}
	_ = eval[bool](t, b, `(function(){
		var f = document.querySelector('[data-testid="suggestion"] form');
		f.querySelector("input").value = "Home";
		f.requestSubmit();
		return true;
	})()`)
	// The page reloads once the area is defined, and tells home by name.
	if !waitAcrossReload(b, 30*time.Second, `(function(){
		var first = document.querySelector('[data-testid="story"] .story-item');
		return !!first && /^Home until 08:/.test(first.textContent.replace(/\s+/g, " ").trim());
	})()`) {
		t.Fatalf("naming home: the story does not tell it; the form says %q", eval[string](t, b, `(document.querySelector('#suggested .error') || {}).textContent || ""`))
	}
	b.mustWaitJS(t, 10*time.Second, "track drawn again", `document.getElementById("track").dataset.points > 1000`)
	if err := json.Unmarshal([]byte(eval[string](t, b, storyJS)), &items); err != nil {
		t.Fatal(err)
	}
	t.Logf("story with home named: %s", storyLine(items))
	if !strings.HasPrefix(segsOf(items)[len(segs)-1].Text, "Home from 18:") {
		t.Errorf("the story ends %q", segsOf(items)[len(segs)-1].Text)
	}
	// The new area is a circle on the areas page like any other.
	if res := getStatus(t, base+"/api/v1/areas"); res != 200 {
		t.Fatalf("areas: %d", res)
	}
	areas, err := fetchJSON[[]struct {
		Name   string  `json:"name"`
		Radius float64 `json:"radius"`
	}](base + "/api/v1/areas")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range areas {
		found = found || (a.Name == "Home" && a.Radius >= 50 && a.Radius <= 100)
	}
	if !found {
		t.Errorf("no circle area Home: %+v", areas)
	}

	// Phones: the story is a list, one item a line; nothing scrolls
	// sideways.
	b.do(t, 15*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait), chromedp.Navigate(page))
	b.mustWaitJS(t, 10*time.Second, "track drawn", `document.getElementById("track").dataset.points > 1000`)
	if wide := eval[string](t, b, overflowJS); wide != "" {
		t.Errorf("scrolls sideways at 390 px: %s", wide)
	}
	click(officeIdx)
	if out := eval[string](t, b, inViewJS([][2]float64{{visitstest.Office.Lat, visitstest.Office.Lon}})); out != "" {
		t.Errorf("at 390 px, the office stay clicked, the office is off the map: %s", out)
	}
	for _, scheme := range []string{"light", "dark"} {
		_ = eval[bool](t, b, `(document.getElementById("story-h").scrollIntoView(), true)`)
		shoot(t, b, scheme, fmt.Sprintf("visits-stay-390-%s.png", scheme))
	}
}

func segsOf(items []storyItem) []storyItem {
	var out []storyItem
	for _, it := range items {
		if strings.Contains(it.Cls, "story-item") {
			out = append(out, it)
		}
	}
	return out
}

func storyLine(items []storyItem) string {
	var parts []string
	for _, it := range items {
		parts = append(parts, it.Text)
	}
	return strings.Join(parts, " · ")
}

// shoot saves the viewport in scheme under testout/screenshots, and in
// TRACKER_SCREENSHOTS when set (go tool task screenshots: docs/screenshots).
func shoot(t *testing.T, b *browser, scheme, name string) {
	t.Helper()
	b.do(t, 5*time.Second, setColorScheme(scheme), chromedp.Sleep(250*time.Millisecond))
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	for _, dir := range []string{screenshotDir(t), os.Getenv("TRACKER_SCREENSHOTS")} {
		if dir == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.do(t, 5*time.Second, setColorScheme(""))
}

// waitPoints waits until the history of id in [from, to) holds n points.
func waitPoints(t *testing.T, base, id string, from, to time.Time, n int) {
	t.Helper()
	user, device, _ := strings.Cut(id, "/")
	u := fmt.Sprintf("%s/api/v1/friends/%s/%s/locations?from=%d&to=%d", base, user, device, from.Unix(), to.Unix())
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := fetchJSON[struct {
			Count int `json:"count"`
		}](u)
		if err == nil && got.Count == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("history of %s holds %d points (%v), want %d", id, got.Count, err, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitAcrossReload is waitJS across a navigation: a poll the page's
// reload cuts short is started again until limit.
func waitAcrossReload(b *browser, limit time.Duration, predicate string) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, ok := b.waitJS(deadline, predicate); ok {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
