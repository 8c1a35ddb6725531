package main

// Browser tests of time travel on the dashboard (static/js/asof.js) and of
// the replay (static/js/replay.js): the slider, a shared /?at= URL that
// live updates leave alone, "Back to now", and a replay that moves a
// marker and changes a place card. Real server, real broker, real
// Chromium.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tracker/events/eventstest"
)

// placeHasJS is true when the place card named place lists name.
func placeHasJS(place, name string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="place"]')).some(function(p){
		return p.dataset.place === %s && Array.from(p.querySelectorAll(".member")).some(function(m){ return m.textContent.trim() === %s; });
	})`, jsString(place), jsString(name))
}

// rowTstJS is a friend row's data-tst, "" without the row.
func rowTstJS(id string) string {
	return fmt.Sprintf(`(function(){var r=%s; return r ? (r.dataset.tst || "") : "";})()`, friendRowJS(id))
}

// anyMarkerJS is the position in the data-marker of whatever carries a
// friend's marker (a row, or the replay's own element for a friend with
// no row at its start): "lat,lon", or "".
func anyMarkerJS(id string) string {
	return fmt.Sprintf(`(function(){var r=Array.from(document.querySelectorAll("[data-friend]")).find(function(e){return e.dataset.friend===%s;});
		if(!r||!r.dataset.marker) return ""; var m=JSON.parse(r.dataset.marker); return m.lat+","+m.lon;})()`, jsString(id))
}

// iconAtJS is where the map draws the marker titled name (its icon's
// transform), "" when it draws none.
func iconAtJS(name string) string {
	return fmt.Sprintf(`(function(){var i=document.querySelector('.leaflet-marker-icon[title=' + JSON.stringify(%s) + ']'); return i ? i.style.transform : "";})()`, jsString(name))
}

func TestBrowserTimeTravel(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	phone := eventstest.Connect(t, s.mqtt, "asof-phone")
	// Tina was in the park 2 h ago and has been at her desk for an hour;
	// the Office area is defined only now, and applies to the past.
	now := time.Now().Truncate(time.Minute)
	park, desk := now.Add(-2*time.Hour), now.Add(-time.Hour)
	publishLocation(t, phone, "tina/phone", location{Lat: parkLat, Lon: parkLon, Tst: park.Unix(), Batt: 80, T: "p", TID: "ti"})
	publishLocation(t, phone, "tina/phone", location{Lat: deskLat, Lon: deskLon, Tst: desk.Unix(), Batt: 70, T: "p", TID: "ti"})
	waitFriend(t, base, "tina/phone")
	defineArea(t, base, "Office", officeLat, officeLon, 200)
	const tina = "ti"

	// A shared URL of a moment 90 minutes ago: Tina in the park, not in
	// the Office, no live stream.
	shared := park.Add(30 * time.Minute)
	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(fmt.Sprintf("%s/?at=%d", base, shared.Unix())))
	b.mustWaitJS(t, 5*time.Second, "tina's row at her park fix", rowTstJS("tina/phone")+` === `+jsString(fmt.Sprint(park.Unix())))
	if eval[bool](t, b, placeHasJS("Office", tina)) {
		t.Error("as of 90 minutes ago Tina is in the Office card")
	}
	if eval[bool](t, b, `!!document.querySelector("[ws-connect]")`) {
		t.Error("the past dashboard has a live stream")
	}
	if got := eval[string](t, b, markerJS("tina/phone")); got != latLon(parkLat, parkLon) {
		t.Errorf("tina's marker at %q, want the park", got)
	}
	// A live update arrives: the past view stays as it was.
	publishLocation(t, phone, "tina/phone", location{Lat: parkLat + 0.01, Lon: parkLon, Tst: now.Unix(), Batt: 60, T: "p", TID: "ti"})
	waitFix(t, base, "tina/phone", now.Unix())
	time.Sleep(time.Second)
	if got := eval[string](t, b, rowTstJS("tina/phone")); got != fmt.Sprint(park.Unix()) {
		t.Errorf("after a live update the past row shows fix %s, want %d", got, park.Unix())
	}
	if got := eval[string](t, b, markerJS("tina/phone")); got != latLon(parkLat, parkLon) {
		t.Errorf("after a live update the past marker is at %q", got)
	}

	// The slider: 30 minutes ago, Tina at her desk, in the Office (an
	// area defined after she got there), and the URL says so.
	deskMoment := now.Add(-30 * time.Minute).Unix()
	b.mustWaitJS(t, 3*time.Second, "the slider shown", `!document.getElementById("at-slider").hidden`)
	_ = eval[bool](t, b, fmt.Sprintf(`(function(){var s=document.getElementById("at-slider"); s.value=%q; s.dispatchEvent(new Event("input")); s.dispatchEvent(new Event("change")); return true;})()`, fmt.Sprint(deskMoment)))
	b.waitNavigated(t, fmt.Sprintf(`location.search === "?at=%d"`, deskMoment))
	b.mustWaitJS(t, 5*time.Second, "tina at her desk fix", rowTstJS("tina/phone")+` === `+jsString(fmt.Sprint(desk.Unix())))
	b.mustWaitJS(t, 3*time.Second, "tina in the Office card", placeHasJS("Office", tina))
	if s := eval[string](t, b, `document.querySelector('[data-testid="asof-state"]').textContent`); !strings.Contains(s, "paused") {
		t.Errorf("time bar says %q", s)
	}

	// Back to now: live again, the newest fix.
	b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="asof-now"]`)))
	b.waitNavigated(t, `location.search === "" && `+liveJS)
	if got := eval[string](t, b, rowTstJS("tina/phone")); got != fmt.Sprint(now.Unix()) {
		t.Errorf("back to now: row at fix %s, want %d", got, now.Unix())
	}

	// A replay of the two hours at 3600×: the marker moves from the park
	// to the desk and the Office card gains Tina on the way.
	from, to := park.Add(-time.Minute), desk.Add(10*time.Minute)
	b.do(t, 15*time.Second, chromedp.Navigate(fmt.Sprintf("%s/?at=%d&replay=%d-%d&speed=3600", base, from.Unix(), from.Unix(), to.Unix())))
	b.mustWaitJS(t, 5*time.Second, "the replay loaded", `document.querySelector('[data-testid="replay-note"]').textContent.indexOf("1 friend") === 0`)
	b.mustWaitJS(t, 3*time.Second, "Tina's marker on the map", iconAtJS(tina)+` !== ""`)
	start := eval[string](t, b, iconAtJS(tina))
	if eval[bool](t, b, placeHasJS("Office", tina)) {
		t.Error("at the replay's start Tina is in the Office card")
	}
	b.mustWaitJS(t, 10*time.Second, "the Office card gains Tina during the replay", placeHasJS("Office", tina))
	b.mustWaitJS(t, 5*time.Second, "the marker at the desk", anyMarkerJS("tina/phone")+` === `+jsString(latLon(deskLat, deskLon)))
	if end := eval[string](t, b, iconAtJS(tina)); end == start {
		t.Errorf("Tina's marker did not move on the map: %q", end)
	}
	// Seek back to the start (which pauses): the card empties again, the
	// marker returns.
	_ = eval[bool](t, b, `(function(){var s=document.querySelector('[data-testid="replay-seek"]'); s.value="0"; s.dispatchEvent(new Event("input")); return true;})()`)
	b.mustWaitJS(t, 3*time.Second, "seeking back empties the card", `!`+placeHasJS("Office", tina))
	b.mustWaitJS(t, 3*time.Second, "seeking back moves the marker back", anyMarkerJS("tina/phone")+` === `+jsString(latLon(parkLat, parkLon)))
	// Step: the next fix, paused.
	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="replay-step"]`)))
	b.mustWaitJS(t, 3*time.Second, "step: paused at the next fix", `document.querySelector('[data-testid="replay-play"]').textContent === "Play"`)

	// For a person to look at: testout/screenshots/asof-*.png.
	if os.Getenv("ASOF_SCREENSHOTS") != "" {
		shots(t, b, base, from, to)
	}
}

// shots takes the time bar and the replay at 390 and 1280 px, light and
// dark.
func shots(t *testing.T, b *browser, base string, from, to time.Time) {
	for _, w := range []int64{390, 1280} {
		for _, scheme := range []string{"light", "dark"} {
			for name, u := range map[string]string{
				"asof":   fmt.Sprintf("%s/?at=%d", base, to.Unix()),
				"replay": fmt.Sprintf("%s/?at=%d&replay=%d-%d&speed=600", base, from.Unix(), from.Unix(), to.Unix()),
			} {
				b.do(t, 15*time.Second, chromedp.EmulateViewport(w, 850), setColorScheme(scheme), chromedp.Navigate(u), chromedp.Sleep(1500*time.Millisecond))
				png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(screenshotDir(t), fmt.Sprintf("%s-%d-%s.png", name, w, scheme)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// waitFix waits until the server's current location of id is the fix at tst.
func waitFix(t *testing.T, base, id string, tst int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := fetchJSON[[]struct {
			ID       string `json:"id"`
			Location struct {
				Tst int64 `json:"tst"`
			} `json:"location"`
		}](base + "/api/v1/friends")
		for _, f := range resp {
			if f.ID == id && f.Location.Tst == tst {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not show %s's fix at %d within 5 s (%v)", id, tst, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNavigated waits for predicate on a page that is navigating: a poll
// on the page being left ends with it, so it polls again on the next.
func (b *browser) waitNavigated(t *testing.T, predicate string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := b.waitJS(time.Now().Add(time.Second), predicate); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 10 s: %s\n%s", predicate, b.pageText(t))
		}
	}
}
