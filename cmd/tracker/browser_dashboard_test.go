package main

// Browser tests of what static/js/app.js adds to the server's pages: times
// in the browser's zone kept current, the map (colours, clusters, popups,
// controls, filter), the live connection's state, the "Locate now" status,
// and the layout at phone and desktop widths. Real server, real broker,
// real Chromium.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"tracker/events/eventstest"
	"tracker/views"
)

// setTimezone emulates the browser's time zone (an IANA name).
func setTimezone(zone string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone})
		return err
	})
}

// advanceClock lets the page's clock and timers run ms ahead of real time
// (virtual time), then pauses them: call it last on a page.
func advanceClock(ms float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{
			Policy: emulation.VirtualTimePolicyAdvance, Budget: &ms,
		})
		return err
	})
}

// evalAsync evaluates a JavaScript expression whose value is a promise.
func evalAsync[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// timesJS lists the page's time[data-fmt] elements as {iso, fmt, text}.
const timesJS = `Array.from(document.querySelectorAll("time[data-fmt]")).map(function(t){
	return {iso: t.getAttribute("datetime"), fmt: t.dataset.fmt, text: t.textContent.trim(), title: t.title};
})`

type shownTime struct {
	ISO   string `json:"iso"`
	Fmt   string `json:"fmt"`
	Text  string `json:"text"`
	Title string `json:"title"`
}

// TestBrowserTimesInBrowserZone: with the browser in Los Angeles and the
// server in UTC, every time on the dashboard reads in Los Angeles's zone,
// by the rules of views.FormatTime; the page leaves the zone in the tz
// cookie, so the next page comes from the server already in that zone.
func TestBrowserTimesInBrowserZone(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	defineArea(t, base, "Office", officeLat, officeLon, 200)
	phone := eventstest.Connect(t, s.mqtt, "tz-phone")
	// Tina arrived at the office 5 h ago (a feed line with its time): in
	// UTC and in Los Angeles the hour differs by 7 or 8, and for much of
	// the day the date too, so a wrong zone shows.
	fix := time.Now().Add(-5 * time.Hour).Truncate(time.Second)
	publishLocation(t, phone, "tina/phone", location{Lat: parkLat, Lon: parkLon, Tst: fix.Add(-time.Minute).Unix(), Batt: 80, T: "p"})
	publishLocation(t, phone, "tina/phone", location{Lat: deskLat, Lon: deskLon, Tst: fix.Unix(), Batt: 80, T: "p"})
	waitFriend(t, base, "tina/phone")

	b.do(t, 5*time.Second, setTimezone("America/Los_Angeles"))
	b.open(t, base+"/")
	if zone := eval[string](t, b, `Intl.DateTimeFormat().resolvedOptions().timeZone`); zone != "America/Los_Angeles" {
		t.Fatalf("time zone emulation failed: the browser says %q", zone)
	}
	check := func(what string) {
		t.Helper()
		shown := eval[[]shownTime](t, b, timesJS)
		if len(shown) == 0 {
			t.Fatalf("%s: no time[data-fmt] on the dashboard", what)
		}
		now := time.Now().In(la)
		for _, st := range shown {
			tm, err := time.Parse(time.RFC3339, st.ISO)
			if err != nil {
				t.Errorf("%s: <time datetime=%q>: %v", what, st.ISO, err)
				continue
			}
			want := views.FormatTime(tm, now, st.Fmt)
			if st.Fmt == views.FmtAgo {
				// A tick may fall between the page's clock and ours.
				if st.Text != want && st.Text != views.FormatTime(tm, now.Add(-time.Minute), st.Fmt) {
					t.Errorf("%s: %s shown as %q, want %q", what, st.ISO, st.Text, want)
				}
			} else if st.Text != want {
				t.Errorf("%s: %s (%s) shown as %q, want Los Angeles's %q (UTC would be %q)", what, st.ISO, st.Fmt, st.Text, want,
					views.FormatTime(tm, now.UTC(), st.Fmt))
			}
			if full := views.FormatTime(tm, now, views.FmtFull); st.Title != full {
				t.Errorf("%s: %s has title %q, want %q", what, st.ISO, st.Title, full)
			}
		}
		t.Logf("%s: %d times, e.g. %q", what, len(shown), shown[0].Text+" / "+shown[0].Title)
	}
	check("first page (server rendered in UTC, page re-rendered)")

	if c := eval[string](t, b, `document.cookie`); !strings.Contains(c, "tz=America/Los_Angeles") {
		t.Fatalf("cookies %q: want tz=America/Los_Angeles", c)
	}
	// The server renders the next page in Los Angeles's zone itself: the
	// page's HTML as it comes, before any script runs.
	served := evalAsync[[]shownTime](t, b, `fetch("/", {credentials: "same-origin"}).then(function(r){ return r.text(); }).then(function(html){
		var doc = new DOMParser().parseFromString(html, "text/html");
		return Array.from(doc.querySelectorAll("time[data-fmt]")).map(function(t){
			return {iso: t.getAttribute("datetime"), fmt: t.dataset.fmt, text: t.textContent.trim(), title: t.title};
		});
	})`)
	if len(served) == 0 {
		t.Fatal("the served dashboard has no time[data-fmt]")
	}
	for _, st := range served {
		tm, err := time.Parse(time.RFC3339, st.ISO)
		if err != nil {
			t.Fatal(err)
		}
		if want := views.FormatTime(tm, time.Now().In(la), views.FmtFull); st.Title != want {
			t.Errorf("served page: %s has title %q, want Los Angeles's %q: the tz cookie did not reach the server", st.ISO, st.Title, want)
		}
	}
	b.open(t, base+"/")
	check("second page (server rendered in the cookie's zone)")
}

// TestBrowserRelativeTimesTick: a friend heard from just now says "just
// now"; with the page's clock running on (virtual time, 75 s) the same
// element says "1 min ago", without a reload or a message from the server.
func TestBrowserRelativeTimesTick(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	phone := eventstest.Connect(t, s.mqtt, "tick-phone")
	publishLocation(t, phone, "tom/phone", location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Unix(), T: "p"})
	waitFriend(t, base, "tom/phone")
	b.open(t, base+"/")
	seenJS := friendRowJS("tom/phone") + `.querySelector('[data-testid="seen"] time[data-fmt="ago"]')`
	if !eval[bool](t, b, `!!`+seenJS) {
		t.Fatalf("the row has no <time data-fmt=ago> under [data-testid=seen]:\n%s", eval[string](t, b, friendRowJS("tom/phone")+`.outerHTML`))
	}
	_ = eval[bool](t, b, `(window.__sameDocument = true)`)
	if got := eval[string](t, b, seenJS+`.textContent.trim()`); got != "just now" {
		t.Fatalf("before: seen %q, want \"just now\"", got)
	}
	b.do(t, 5*time.Second, advanceClock(75000))
	// Virtual time is paused once the budget is spent, so poll from here.
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The row may have been swapped meanwhile (the stream's full
		// state): read whichever element shows the time now.
		got := eval[string](t, b, seenJS+`.textContent.trim()`)
		if got == "1 min ago" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 75 s of page time: seen %q, want \"1 min ago\" (page clock %s)", got, eval[string](t, b, `new Date().toISOString()`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !eval[bool](t, b, `window.__sameDocument === true`) {
		t.Error("the page reloaded")
	}
}

// TestBrowserGoesStaleOnOpenPage: a friend rendered fresh who then stays
// quiet past --stale-after turns stale on the open page ("last seen …",
// class stale, a grey marker), without a reload or a message.
func TestBrowserGoesStaleOnOpenPage(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "", "--stale-after", "1m")
	base := "http://" + s.http
	phone := eventstest.Connect(t, s.mqtt, "stale-phone")
	publishLocation(t, phone, "sam/phone", location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Unix(), T: "p"})
	waitFriend(t, base, "sam/phone")
	b.open(t, base+"/")
	row := friendRowJS("sam/phone")
	if eval[bool](t, b, row+`.classList.contains("stale")`) {
		t.Fatal("a friend heard from just now is stale")
	}
	b.do(t, 5*time.Second, advanceClock(75000))
	deadline := time.Now().Add(10 * time.Second)
	for {
		stale := eval[bool](t, b, row+`.classList.contains("stale")`)
		seen := eval[string](t, b, row+`.querySelector('[data-testid="seen"]').textContent.replace(/\s+/g, " ").trim()`)
		marker := eval[bool](t, b, `JSON.parse(`+row+`.dataset.marker).stale === true`)
		if stale && marker && strings.HasPrefix(seen, "last seen ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 75 s of page time with --stale-after 1m: stale class %v, marker stale %v, seen %q", stale, marker, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// twelveFriends publishes twelve friends spread over Paris.
func twelveFriends(t *testing.T, base, mqttAddr string) []string {
	t.Helper()
	c := eventstest.Connect(t, mqttAddr, "twelve")
	var ids []string
	now := time.Now()
	for i := range 12 {
		id := fmt.Sprintf("f%02d/phone", i)
		eventstest.Publish(t, c, "owntracks/"+id+"/info", 1, false, []byte(fmt.Sprintf(`{"_type":"card","name":"Friend %02d"}`, i)))
		publishLocation(t, c, id, location{Lat: 48.80 + float64(i%4)*0.03, Lon: 2.25 + float64(i/4)*0.05, Tst: now.Add(-time.Duration(i) * time.Minute).Unix(), Acc: 20, Batt: 50 + i, T: "p"})
		ids = append(ids, id)
	}
	for _, id := range ids {
		waitFriend(t, base, id)
	}
	return ids
}

// TestBrowserMapColours: twelve friends shown together get twelve
// different colours, each friend's marker the colour of its avatar.
func TestBrowserMapColours(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	ids := twelveFriends(t, base, s.mqtt)
	b.open(t, base+"/")
	b.mustWaitJS(t, 5*time.Second, "12 markers", `document.querySelectorAll('[data-testid="marker"]').length === 12`)
	got := eval[map[string][2]string](t, b, `(function(){
		var out = {};
		document.querySelectorAll('[data-testid="friend"]').forEach(function(r){
			var mk = document.querySelector('[data-testid="marker"][data-for="' + r.dataset.friend + '"]');
			out[r.dataset.friend] = [getComputedStyle(r.querySelector(".avatar")).backgroundColor, mk ? getComputedStyle(mk).backgroundColor : ""];
		});
		return out;
	})()`)
	seen := map[string]string{}
	for _, id := range ids {
		c, ok := got[id]
		if !ok {
			t.Errorf("no row for %s", id)
			continue
		}
		if c[0] != c[1] {
			t.Errorf("%s: avatar %s, marker %s; want the same colour", id, c[0], c[1])
		}
		if other, dup := seen[c[0]]; dup {
			t.Errorf("%s and %s share the colour %s", other, id, c[0])
		}
		seen[c[0]] = id
	}
	t.Logf("%d friends, %d colours", len(ids), len(seen))
}

// mapStill waits until the map and its clusters have stopped animating,
// so that a click lands on the marker it aims at.
func mapStill(t *testing.T, b *browser) {
	t.Helper()
	b.mustWaitJS(t, 5*time.Second, "the map still", `(function(){
		if (document.querySelector(".leaflet-cluster-anim, .leaflet-zoom-anim")) { window.__still = ""; return false; }
		var now = Array.from(document.querySelectorAll(".leaflet-marker-icon")).map(function(m){ var r = m.getBoundingClientRect(); return Math.round(r.left) + "," + Math.round(r.top); }).join(";");
		var same = window.__still === now;
		window.__still = now;
		return same;
	})()`)
}

// TestBrowserMarkerPopup: clicking a marker, or Enter on it, opens a popup
// with the friend's name, battery, accuracy and a link to the history;
// "Fit all" and "Follow" are there; the filter box hides the friends that
// do not match, in the list and on the map.
func TestBrowserMarkerPopup(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	twelveFriends(t, base, s.mqtt)
	b.open(t, base+"/")
	b.mustWaitJS(t, 5*time.Second, "12 markers", `document.querySelectorAll('[data-testid="marker"]').length === 12`)
	mapStill(t, b)

	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="marker"][data-for="f05/phone"]`)))
	b.mustWaitJS(t, 3*time.Second, "popup after a click", `!!document.querySelector('.leaflet-popup [data-testid="popup"]')`)
	popup := eval[string](t, b, `document.querySelector('.leaflet-popup [data-testid="popup"]').innerText`)
	for _, want := range []string{"Friend 05", "battery 55%", "± 20 m", "History"} {
		if !strings.Contains(popup, want) {
			t.Errorf("popup %q lacks %q", popup, want)
		}
	}
	if href := eval[string](t, b, `document.querySelector('.leaflet-popup [data-testid="popup-history"]').getAttribute("href")`); href != "/friends/f05/phone" {
		t.Errorf("popup's history link %q, want /friends/f05/phone", href)
	}
	b.do(t, 5*time.Second, chromedp.Evaluate[chromedp.Void](`document.querySelector(".leaflet-popup-close-button").click()`))
	b.mustWaitJS(t, 3*time.Second, "popup closed", `!document.querySelector('.leaflet-popup')`)

	// Keyboard: focus the marker and press Enter.
	b.do(t, 5*time.Second,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="marker"][data-for="f07/phone"]').closest(".leaflet-marker-icon").focus()`),
		chromedp.KeyEvent("\r"),
	)
	b.mustWaitJS(t, 3*time.Second, "popup after Enter on the focused marker",
		`(function(){var p=document.querySelector('.leaflet-popup [data-testid="popup"]'); return !!p && p.innerText.indexOf("Friend 07") >= 0;})()`)
	if name := eval[string](t, b, `document.querySelector('[data-testid="marker"][data-for="f07/phone"]').closest(".leaflet-marker-icon").textContent`); !strings.Contains(name, "Friend 07") {
		t.Errorf("the marker reads %q, want the friend's name", name)
	}

	for _, sel := range []string{`[data-testid="fit-all"]`, `[data-testid="follow"]`} {
		if !eval[bool](t, b, `!!document.querySelector('`+sel+`')`) {
			t.Errorf("no %s control on the map", sel)
		}
	}
	// Follow a friend: the map centres on them, and keeps them centred
	// when their next fix comes in live.
	centredJS := `(function(){
		var m = document.querySelector('[data-testid="marker"][data-for="f11/phone"]');
		if (!m) return false;
		var r = m.getBoundingClientRect(), b = document.getElementById("map").getBoundingClientRect();
		return Math.abs((r.left + r.right) / 2 - (b.left + b.right) / 2) < 30 && Math.abs((r.top + r.bottom) / 2 - (b.top + b.bottom) / 2) < 30;
	})()`
	b.do(t, 5*time.Second, chromedp.SetValue(chromedp.CSS(`[data-testid="follow"]`), "f11/phone"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="follow"]').dispatchEvent(new Event("change"))`))
	b.mustWaitJS(t, 3*time.Second, "following centres the map on the friend", centredJS)
	publishLocation(t, eventstest.Connect(t, s.mqtt, "popup-mover"), "f11/phone", location{Lat: 48.95, Lon: 2.45, Tst: time.Now().Unix(), Acc: 20, Batt: 61, T: "p"})
	b.mustWaitJS(t, 5*time.Second, "the moved friend's row", markerJS("f11/phone")+` === "48.95,2.45"`)
	b.mustWaitJS(t, 3*time.Second, "the followed friend stays centred after a live update", centredJS)

	// Filter: "FRIEND 1" matches 10 and 11.
	b.do(t, 5*time.Second, chromedp.SendKeys(chromedp.CSS(`[data-testid="friend-filter"] input`), "FRIEND 1"))
	b.mustWaitJS(t, 3*time.Second, "the filter hides the friends that do not match", `(function(){
		var shown = Array.from(document.querySelectorAll('[data-testid="friend"]')).filter(function(r){ return r.offsetParent !== null; }).map(function(r){ return r.dataset.friend; }).sort().join(",");
		return shown === "f10/phone,f11/phone";
	})()`)
	// "Fit all" frames the friends shown: exactly the two markers.
	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="fit-all"]`)))
	b.mustWaitJS(t, 3*time.Second, "the filter hides their markers", `(function(){
		var ids = Array.from(document.querySelectorAll('[data-testid="marker"]')).map(function(m){ return m.dataset.for; }).sort().join(",");
		return ids === "f10/phone,f11/phone";
	})()`)
}

// TestBrowserLiveBanner: the server stops with the dashboard open: a
// banner (role=alert) says so and the page dims what may be stale; a new
// server on the same port and data comes up: the banner goes once the
// fresh state is in.
func TestBrowserLiveBanner(t *testing.T) {
	b := newBrowser(t)
	data := filepath.Join(t.TempDir(), "data")
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	args := []string{"--mqtt-listen", mqttAddr, "--tiles", ""}
	srv := startChild(t, data, httpAddr, args...)
	base := "http://" + httpAddr
	publishLocation(t, eventstest.Connect(t, mqttAddr, "banner-1"), "uma/phone", location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Unix(), T: "p"})
	waitFriend(t, base, "uma/phone")
	b.open(t, base+"/")
	_ = eval[bool](t, b, `(window.__oldRow = `+friendRowJS("uma/phone")+`, true)`)
	const bannerJS = `(function(){var b=document.querySelector('[role="alert"][data-testid="live-banner"]'); return !!b && b.offsetParent !== null;})()`
	if eval[bool](t, b, bannerJS) {
		t.Fatal("a connection-lost banner on a connected page")
	}

	srv.terminate(t)
	took := b.mustWaitJS(t, 5*time.Second, "banner after the server stopped", bannerJS)
	t.Logf("server stopped → banner: %v; banner says %q", took.Round(time.Millisecond), eval[string](t, b, `document.querySelector('[data-testid="live-banner"]').innerText`))
	if !eval[bool](t, b, `document.body.classList.contains("disconnected")`) {
		t.Error("the page does not dim what may be stale (body.disconnected)")
	}
	b.mustWaitJS(t, 2*time.Second, "the friends list dimmed while disconnected", `getComputedStyle(document.getElementById("friends")).opacity < 0.6`)

	srv = startChild(t, data, httpAddr, args...)
	publishLocation(t, eventstest.Connect(t, mqttAddr, "banner-2"), "uma/phone", location{Lat: deskLat, Lon: deskLon, Tst: time.Now().Unix(), T: "u"})
	up := time.Now()
	// The ws extension retries with full-jitter backoff: a few seconds.
	if _, ok := b.waitJS(up.Add(20*time.Second), `!document.querySelector('[data-testid="live-banner"]') && !document.body.classList.contains("disconnected")`); !ok {
		t.Fatalf("the banner did not go within 20 s of the server being back (status %q)", eval[string](t, b, `document.getElementById("live-status").textContent`))
	}
	t.Logf("server back → banner gone: %v", time.Since(up).Round(time.Millisecond))
	// Gone with the fresh state: the row was swapped in anew.
	if eval[bool](t, b, friendRowJS("uma/phone")+` === window.__oldRow`) {
		t.Error("the banner went but the friend's row is the one from before the server stopped")
	}
	b.mustWaitJS(t, 3*time.Second, "the fix sent while away", markerJS("uma/phone")+` === `+jsString(latLon(deskLat, deskLon)))
	srv.terminate(t)
}

// TestBrowserLocateStatus: after "Locate now" the status says the request
// went out, then "answered hh:mm:ss (n s)" once the phone's answer (t: r)
// is in the row, and stays so through later updates of the row; a phone
// that does not answer gets "no answer yet; the phone may be asleep"
// (timeout shortened through data-locate-timeout).
func TestBrowserLocateStatus(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	phone := eventstest.Connect(t, s.mqtt, "locate-status")
	cmds := eventstest.Subscribe(t, phone, "owntracks/+/+/cmd", 1)
	publishLocation(t, phone, "vic/phone", location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Add(-10 * time.Minute).Unix(), T: "p"})
	publishLocation(t, phone, "wes/phone", location{Lat: deskLat, Lon: deskLon, Tst: time.Now().Add(-10 * time.Minute).Unix(), T: "p"})
	waitFriend(t, base, "vic/phone")
	waitFriend(t, base, "wes/phone")
	b.open(t, base+"/")
	statusJS := func(id string) string {
		return `(function(){var r=` + friendRowJS(id) + `; var s=r && r.querySelector('[data-testid="locate-status"]'); return s ? s.textContent.trim() : "(no status)";})()`
	}

	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="friend"][data-friend="vic/phone"] [data-testid="locate"]`)))
	select {
	case <-cmds:
	case <-time.After(5 * time.Second):
		t.Fatal("no reportLocation command within 5 s of the click")
	}
	b.mustWaitJS(t, 5*time.Second, `"request sent"`, statusJS("vic/phone")+`.indexOf("request sent") === 0`)
	time.Sleep(time.Second) // a wait the status can show
	publishLocation(t, phone, "vic/phone", location{Lat: deskLat, Lon: deskLon, Tst: time.Now().Unix(), T: "r"})
	b.mustWaitJS(t, 5*time.Second, `"answered"`, `/^answered \d\d:\d\d:\d\d \(\d+ s\)$/.test(`+statusJS("vic/phone")+`)`)
	got := eval[string](t, b, statusJS("vic/phone"))
	t.Logf("status: %q", got)
	if strings.HasSuffix(got, "(0 s)") {
		t.Errorf("status %q: the phone answered a second or more after the request", got)
	}
	// A later fix swaps the row again: the answer stays.
	publishLocation(t, phone, "vic/phone", location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Unix() + 1, T: "p"})
	b.mustWaitJS(t, 5*time.Second, "row updated", markerJS("vic/phone")+` === `+jsString(latLon(parkLat, parkLon)))
	if again := eval[string](t, b, statusJS("vic/phone")); again != got {
		t.Errorf("after the next update the status says %q, want %q still", again, got)
	}

	// Wes's phone sleeps.
	_ = eval[bool](t, b, `(document.body.dataset.locateTimeout = "1500", true)`)
	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="friend"][data-friend="wes/phone"] [data-testid="locate"]`)))
	b.mustWaitJS(t, 5*time.Second, `"request sent" (wes)`, statusJS("wes/phone")+`.indexOf("request sent") === 0`)
	b.mustWaitJS(t, 4*time.Second, "no answer after the timeout", statusJS("wes/phone")+` === "no answer yet; the phone may be asleep"`)
}

// openAny opens a page with or without a live connection and lets the map
// settle.
func openAny(t *testing.T, b *browser, url string) {
	t.Helper()
	b.do(t, 15*time.Second, chromedp.Navigate(url))
	if eval[bool](t, b, `!!document.querySelector("[ws-connect]")`) {
		b.mustWaitJS(t, 10*time.Second, "live connection open", liveJS)
	}
	b.do(t, 5*time.Second, chromedp.Sleep(250*time.Millisecond))
}

// TestBrowserLayout: at 360 and 390 px the dashboard and the areas page do
// not scroll sideways, even with a long unbroken name, and every
// navigation entry stays on one line; at 1280 and 1920 px the map and the
// friends list fill the viewport under the header, and the places and the
// feed are on screen. The current page is marked in the navigation, and
// the favicon is served. Screenshots (light and dark) go to
// testout/screenshots for a person to look at.
func TestBrowserLayout(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	defineArea(t, base, "Office", officeLat, officeLon, 200)
	defineArea(t, base, "Jardin du Luxembourg", parkLat, parkLon, 300)
	seedScreenshotFixture(t, s.mqtt)
	hostile := strings.Repeat("W", 90)
	c := eventstest.Connect(t, s.mqtt, "layout-hostile")
	eventstest.Publish(t, c, "owntracks/"+strings.ToLower(hostile[:40])+"/phone/info", 1, false, []byte(`{"_type":"card","name":"`+hostile+`"}`))
	publishLocation(t, c, strings.ToLower(hostile[:40])+"/phone", location{Lat: parkLat + 0.001, Lon: parkLon + 0.001, Tst: time.Now().Unix(), T: "p"})
	waitFriend(t, base, "zoe/phone")
	waitFriend(t, base, strings.ToLower(hostile[:40])+"/phone")

	dir := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pages := []struct{ name, path, current string }{
		{"dashboard", "/", "Dashboard"},
		{"areas", "/areas", "Areas"},
	}
	for _, width := range []int64{360, 390} {
		for _, p := range pages {
			b.do(t, 15*time.Second, chromedp.EmulateViewport(width, 780, chromedp.EmulateMobile, chromedp.EmulateTouch), setColorScheme("light"))
			openAny(t, b, base+p.path)
			if wide := eval[string](t, b, overflowJS); wide != "" {
				t.Errorf("%s at %d px scrolls sideways: %s", p.name, width, wide)
			}
			if wrapped := eval[string](t, b, `Array.from(document.querySelectorAll(".top nav a")).filter(function(a){ return a.getClientRects().length > 1 || a.getBoundingClientRect().height > 40; }).map(function(a){ return a.textContent; }).join(", ")`); wrapped != "" {
				t.Errorf("%s at %d px: navigation entries wrap: %s", p.name, width, wrapped)
			}
			if cur := eval[string](t, b, `Array.from(document.querySelectorAll('.top nav a[aria-current="page"]')).map(function(a){ return a.textContent.trim(); }).join(",")`); cur != p.current {
				t.Errorf("%s: navigation marks %q as current, want %q", p.name, cur, p.current)
			}
			if width == 390 {
				for _, scheme := range []string{"light", "dark"} {
					b.do(t, 5*time.Second, setColorScheme(scheme), chromedp.Sleep(150*time.Millisecond))
					shot(fmt.Sprintf("browser-%s-%s-390", p.name, scheme))
				}
			}
		}
	}
	for _, size := range [][2]int64{{1280, 800}, {1920, 1080}} {
		b.do(t, 15*time.Second, chromedp.EmulateViewport(size[0], size[1]), setColorScheme("light"))
		b.open(t, base+"/")
		b.do(t, 5*time.Second, chromedp.Sleep(200*time.Millisecond))
		box := eval[map[string]float64](t, b, `(function(){
			function r(sel){ var e=document.querySelector(sel); return e ? e.getBoundingClientRect() : {top:-1,bottom:-1,height:0}; }
			var map=r("#map"), fr=r(".dashboard .friends"), pl=r(".dashboard .places, .dashboard .areas"), fe=r(".dashboard .feed");
			return {vh: innerHeight, mapTop: map.top, mapBottom: map.bottom, mapH: map.height, friendsBottom: fr.bottom, friendsTop: fr.top,
				placesTop: pl.top, feedTop: fe.top, placesBottom: pl.bottom, feedBottom: fe.bottom, scrollH: document.documentElement.scrollHeight};
		})()`)
		t.Logf("%d×%d: %v", size[0], size[1], box)
		if box["friendsBottom"] < box["vh"]-40 || box["friendsBottom"] > box["vh"] {
			t.Errorf("%d×%d: the friends list ends at %v px in a %v px viewport; want it to fill the height", size[0], size[1], box["friendsBottom"], box["vh"])
		}
		if box["mapH"] < box["vh"]/2 {
			t.Errorf("%d×%d: the map is %v px tall in a %v px viewport", size[0], size[1], box["mapH"], box["vh"])
		}
		for _, k := range []string{"placesTop", "feedTop"} {
			if box[k] < 0 || box[k] > box["vh"]-100 {
				t.Errorf("%d×%d: %s at %v px: not on screen (viewport %v px)", size[0], size[1], k, box[k], box["vh"])
			}
		}
		if box["scrollH"] > box["vh"]+1 {
			t.Errorf("%d×%d: the dashboard is %v px tall in a %v px viewport; want no page scrolling", size[0], size[1], box["scrollH"], box["vh"])
		}
		if size[0] == 1280 {
			for _, scheme := range []string{"light", "dark"} {
				b.do(t, 5*time.Second, setColorScheme(scheme), chromedp.Sleep(150*time.Millisecond))
				shot("browser-dashboard-" + scheme + "-1280")
			}
			b.do(t, 5*time.Second, setColorScheme("light"))
			openAny(t, b, base+"/areas")
			shot("browser-areas-light-1280")
		} else {
			shot("browser-dashboard-light-1920")
		}
	}
	b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 800), setColorScheme(""))

	icon := eval[string](t, b, `(document.querySelector('link[rel="icon"]') || {}).href || ""`)
	if icon == "" {
		t.Fatal("no <link rel=icon>")
	}
	ct := evalAsync[string](t, b, `fetch(`+jsString(icon)+`).then(function(r){ return r.status + " " + r.headers.get("Content-Type"); })`)
	if !strings.HasPrefix(ct, "200 image/svg+xml") {
		t.Errorf("favicon %s: %s, want 200 image/svg+xml", icon, ct)
	}
}

// TestBrowserMapShowsEveryoneWhenPaged: past views.ListAll friends the
// list pages, and the map still shows everyone (the list's rows and the
// rest from data-markers-src), clustered: the markers and the clusters'
// numbers add up to every friend.
func TestBrowserMapShowsEveryoneWhenPaged(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	n := views.ListAll + 20
	c := eventstest.Connect(t, s.mqtt, "paged")
	now := time.Now().Unix()
	for i := range n {
		publishLocation(t, c, fmt.Sprintf("p%03d/phone", i), location{Lat: 48.80 + float64(i%20)*0.01, Lon: 2.25 + float64(i/20)*0.01, Tst: now, T: "p"})
	}
	waitFriend(t, base, fmt.Sprintf("p%03d/phone", n-1))
	b.open(t, base+"/")
	if rows := eval[int](t, b, `document.querySelectorAll('[data-testid="friend"]').length`); rows >= n {
		t.Fatalf("%d rows for %d friends: the list does not page", rows, n)
	}
	countJS := `(function(){
		var sum = document.querySelectorAll('[data-testid="marker"]').length;
		document.querySelectorAll(".cluster > span[aria-hidden]").forEach(function(s){ sum += parseInt(s.textContent, 10); });
		return sum;
	})()`
	if _, ok := b.waitJS(time.Now().Add(5*time.Second), countJS+` === `+fmt.Sprint(n)); !ok {
		t.Fatalf("the map shows %d friends (markers plus clusters' numbers), want all %d", eval[int](t, b, countJS), n)
	}
	t.Logf("%d friends: %d rows listed, %d markers and %d clusters on the map", n,
		eval[int](t, b, `document.querySelectorAll('[data-testid="friend"]').length`),
		eval[int](t, b, `document.querySelectorAll('[data-testid="marker"]').length`),
		eval[int](t, b, `document.querySelectorAll(".cluster").length`))
}
