package main

// End-to-end tests: `tracker serve` with its embedded broker, phones
// publishing over MQTT with paho, and the pages in headless Chromium
// (chromedp). They skip without Chromium unless CI is set, and under -short.

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"tracker/events/eventstest"
)

// The fixture's places: the server area "Office" (r = 200 m), a desk
// inside it, and a park far outside.
const (
	officeLat, officeLon = 48.8566, 2.3522
	deskLat, deskLon     = 48.8570, 2.3525
	parkLat, parkLon     = 48.8462, 2.3372
)

// markerJS reads a friend's position from the row's data-marker, as the
// map script does: "lat,lon", or "" when the row or marker is missing.
func markerJS(id string) string {
	return fmt.Sprintf(`(function(){var r=%s; if(!r||!r.dataset.marker) return ""; var m=JSON.parse(r.dataset.marker); return m.lat+","+m.lon;})()`, friendRowJS(id))
}

func latLon(lat, lon float64) string { return fmt.Sprintf("%v,%v", lat, lon) }

// TestE2EDashboardShowsNewFriendLive: a phone nobody has seen publishes a
// position inside a server area; the open dashboard shows the friend's row
// and lists the friend in the area card within 2 s, without a reload.
func TestE2EDashboardShowsNewFriendLive(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	defineArea(t, base, "Office", officeLat, officeLon, 200)
	phone := eventstest.Connect(t, s.mqtt, "e2e-erin")

	b.open(t, base+"/")
	_ = eval[bool](t, b, `(window.__sameDocument = true)`)

	const id = "erin/phone"
	published := time.Now()
	publishLocation(t, phone, id, location{Lat: deskLat, Lon: deskLon, Tst: time.Now().Unix(), Batt: 77, T: "u"})
	deadline := published.Add(2 * time.Second)

	_, rowOK := b.waitJS(deadline, friendRowJS(id)+` !== null`)
	rowLatency := time.Since(published)
	cardJS := `(function(){
		var m = document.querySelector('[data-testid="place"][data-place="Office"] [data-testid="members"]');
		return !!m && m.textContent.indexOf("erin") >= 0;
	})()`
	_, cardOK := b.waitJS(deadline, cardJS)
	cardLatency := time.Since(published)
	if !rowOK {
		t.Fatalf("the new friend's row (li[data-testid=friend][data-friend=%q]) did not appear within 2 s of the publish (%v)\n#friends is now:\n%s",
			id, b.lastPollErr, eval[string](t, b, `document.getElementById("friends").outerHTML`))
	}
	if !cardOK {
		t.Fatalf("the Office card did not list the new friend within 2 s of the publish\npage text:\n%s", b.pageText(t))
	}
	t.Logf("publish → row visible: %v; publish → area card lists the friend: %v (limit 2 s)",
		rowLatency.Round(time.Millisecond), cardLatency.Round(time.Millisecond))

	if !eval[bool](t, b, `window.__sameDocument === true`) {
		t.Error("the page reloaded; live updates must swap fragments in place")
	}
	chips := eval[string](t, b, friendRowJS(id)+`.querySelector('[data-testid="in-areas"]').textContent`)
	if !strings.Contains(chips, "Office") {
		t.Errorf("the friend's row lists areas %q, want Office", strings.TrimSpace(chips))
	}
	if got := eval[string](t, b, markerJS(id)); got != latLon(deskLat, deskLon) {
		t.Errorf("row's data-marker says %q, want %s", got, latLon(deskLat, deskLon))
	}
	if _, ok := b.waitJS(time.Now().Add(time.Second), `document.querySelectorAll('.leaflet-marker-icon').length === 1`); !ok {
		t.Errorf("the map shows %d markers, want 1", eval[int](t, b, `document.querySelectorAll('.leaflet-marker-icon').length`))
	}
	if eval[bool](t, b, `(function(){var e=document.getElementById("no-friends"); return !!e && e.offsetParent !== null;})()`) {
		t.Error(`the page still says "Nobody has reported a position yet" next to a friend's row`)
	}
}

// TestE2ELocateNow: "Locate now" sends the phone the OwnTracks
// reportLocation command, the page says so, and the phone's answer (a
// location with t: "r") updates the row.
func TestE2ELocateNow(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	const id = "gil/phone"
	phone := eventstest.Connect(t, s.mqtt, "e2e-gil")
	cmds := eventstest.Subscribe(t, phone, "owntracks/+/+/cmd", 1)
	publishLocation(t, phone, id, location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Add(-10 * time.Minute).Unix(), Batt: 50, T: "p"})
	waitFriend(t, base, id)

	b.open(t, base+"/")
	if got := eval[string](t, b, markerJS(id)); got != latLon(parkLat, parkLon) {
		t.Fatalf("before: row's marker says %q, want %s", got, latLon(parkLat, parkLon))
	}

	clicked := time.Now()
	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="friend"][data-friend="gil/phone"] [data-testid="locate"]`)))
	select {
	case m := <-cmds:
		var cmd struct {
			Type   string `json:"_type"`
			Action string `json:"action"`
		}
		if err := json.Unmarshal(m.Payload, &cmd); err != nil || cmd.Type != "cmd" || cmd.Action != "reportLocation" {
			t.Errorf("command payload = %s (%v), want {\"_type\":\"cmd\",\"action\":\"reportLocation\"}", m.Payload, err)
		}
		if m.Topic != "owntracks/gil/phone/cmd" {
			t.Errorf("command went to %q, want owntracks/gil/phone/cmd", m.Topic)
		}
		t.Logf("click → command on the broker: %v", time.Since(clicked).Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatalf("no reportLocation command on owntracks/+/+/cmd within 3 s of the click\n%s", s.stderr)
	}
	b.mustWaitJS(t, 2*time.Second, `"request sent" next to the button`,
		friendRowJS(id)+`.querySelector('.locate-status').textContent.trim().indexOf("request sent") === 0`) // app.js adds the time

	// The phone answers.
	answered := time.Now()
	publishLocation(t, phone, id, location{Lat: deskLat, Lon: deskLon, Tst: time.Now().Unix(), Batt: 49, T: "r"})
	b.mustWaitJS(t, 2*time.Second, "row shows the answered position", markerJS(id)+` === `+jsString(latLon(deskLat, deskLon)))
	t.Logf("answer published → row updated: %v", time.Since(answered).Round(time.Millisecond))
	if got := eval[string](t, b, friendRowJS(id)+`.querySelector('[data-testid="seen"]').textContent`); got != "just now" {
		t.Errorf("seen = %q after the answer, want \"just now\"", got)
	}
	if got := eval[string](t, b, friendRowJS(id)+`.querySelector('.batt').textContent`); !strings.Contains(got, "49%") {
		t.Errorf("battery = %q after the answer, want 49%%", got)
	}
	if n := eval[int](t, b, `document.querySelectorAll('[data-testid="friend"]').length`); n != 1 {
		t.Errorf("%d friend rows after the update, want 1 (the row must be replaced, not added)", n)
	}
}

// waitFriend waits until the API knows the friend (the projections caught up).
func waitFriend(t *testing.T, base, id string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := fetchJSON[[]struct {
			ID string `json:"id"`
		}](base + "/api/v1/friends")
		if err == nil {
			for _, f := range resp {
				if f.ID == id {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not list friend %s within 5 s (%v)", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EHistoryPage: the history page lists the friend's points in a
// table and draws them as a track on the map.
func TestE2EHistoryPage(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	const id, n = "hana/phone", 12
	phone := eventstest.Connect(t, s.mqtt, "e2e-hana")
	now := time.Now().Truncate(time.Second)
	for i := range n {
		tst := now.Add(time.Duration(i-n) * 5 * time.Minute).Unix()
		publishLocation(t, phone, id, location{Lat: parkLat + float64(i)*0.001, Lon: parkLon + float64(i)*0.0015, Tst: tst, Acc: 10, T: "p"})
	}
	waitFriend(t, base, id)
	page := historyURL(base, id, now.Add(-2*time.Hour), now.Add(time.Hour))
	if code := getStatus(t, page); code == 404 {
		t.Skipf("the history page is not served yet (GET %s: 404); this test runs once it lands", page)
	}

	b.do(t, 15*time.Second, chromedp.Navigate(page))
	rows := fmt.Sprintf(`document.querySelectorAll('[data-testid="point-row"]').length === %d`, n)
	if _, ok := b.waitJS(time.Now().Add(5*time.Second), rows); !ok {
		t.Fatalf("history page shows %d point rows, want %d\npage text:\n%s",
			eval[int](t, b, `document.querySelectorAll('[data-testid="point-row"]').length`), n, b.pageText(t))
	}
	track := fmt.Sprintf(`(function(){
		var el = document.getElementById("track");
		if (el && el.dataset.points === "%d") return true;
		return document.querySelectorAll('.leaflet-pane path.track-line').length > 0;
	})()`, n)
	if _, ok := b.waitJS(time.Now().Add(5*time.Second), track); !ok {
		t.Fatalf("no track on the map: #track data-points = %q, .track-line paths = %d",
			eval[string](t, b, `(document.getElementById("track")||{dataset:{}}).dataset.points || ""`),
			eval[int](t, b, `document.querySelectorAll('path.track-line').length`))
	}

	// The range includes now, so the page listens live: a new point
	// redraws the track without a reload.
	if !eval[bool](t, b, `!!document.querySelector('[data-testid="history"][data-live="1"]')`) {
		t.Fatal("the range includes now but the history page is not live (data-live)")
	}
	b.mustWaitJS(t, 10*time.Second, "history page live", liveJS)
	published := time.Now()
	publishLocation(t, phone, id, location{Lat: parkLat + 0.02, Lon: parkLon + 0.03, Tst: now.Unix(), Acc: 10, T: "u"})
	b.mustWaitJS(t, 2*time.Second, "track redrawn with the new point",
		fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n+1))
	t.Logf("publish → track redrawn on the history page: %v", time.Since(published).Round(time.Millisecond))
}

func historyURL(base, id string, from, to time.Time) string {
	user, device, _ := strings.Cut(id, "/")
	q := url.Values{"from": {fmt.Sprint(from.Unix())}, "to": {fmt.Sprint(to.Unix())}}
	return base + "/friends/" + url.PathEscape(user) + "/" + url.PathEscape(device) + "?" + q.Encode()
}

// TestE2EReconnectsAfterServerRestart: the server dies (SIGKILL) with the
// dashboard open, comes back on the same data and ports, a phone reports
// meanwhile; the page reconnects on its own and shows the new position
// without a reload. Then the same after a graceful stop (SIGTERM).
func TestE2EReconnectsAfterServerRestart(t *testing.T) {
	b := newBrowser(t)
	data := filepath.Join(t.TempDir(), "data")
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	args := []string{"--mqtt-listen", mqttAddr, "--tiles", ""}
	srv := startChild(t, data, httpAddr, args...)
	base := "http://" + httpAddr
	const id = "ivo/phone"
	publishLocation(t, eventstest.Connect(t, mqttAddr, "e2e-ivo-1"), id, location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Unix() - 60, T: "p"})
	waitFriend(t, base, id)

	b.open(t, base+"/")
	_ = eval[bool](t, b, `(window.__sameDocument = true)`)
	if got := eval[string](t, b, markerJS(id)); got != latLon(parkLat, parkLon) {
		t.Fatalf("before: marker %q, want %s", got, latLon(parkLat, parkLon))
	}

	steps := []struct {
		name     string
		stop     func(t *testing.T)
		lat, lon float64
	}{
		{"SIGKILL", func(t *testing.T) { srv.kill(t) }, deskLat, deskLon},
		{"SIGTERM", func(t *testing.T) { srv.terminate(t) }, officeLat, officeLon},
	}
	for i, st := range steps {
		st.stop(t)
		b.mustWaitJS(t, 5*time.Second, "page notices the server is gone ("+st.name+")", `document.getElementById("live-status").textContent.trim() !== "live"`)
		restart := time.Now()
		srv = startChild(t, data, httpAddr, args...)
		t.Logf("%s: server back after %v", st.name, time.Since(restart).Round(time.Millisecond))
		publishLocation(t, eventstest.Connect(t, mqttAddr, fmt.Sprintf("e2e-ivo-%d", i+2)), id,
			location{Lat: st.lat, Lon: st.lon, Tst: time.Now().Unix(), T: "u"})
		up := time.Now()
		// The htmx ws extension retries with full-jitter backoff:
		// random(0, 2^n s), so a few seconds is normal.
		if _, ok := b.waitJS(up.Add(20*time.Second), liveJS); !ok {
			t.Fatalf("%s: the page did not reconnect within 20 s of the server being back (status %q)", st.name,
				eval[string](t, b, `document.getElementById("live-status").textContent`))
		}
		t.Logf("%s: page live again %v after the server was back", st.name, time.Since(up).Round(time.Millisecond))
		b.mustWaitJS(t, 2*time.Second, st.name+": page shows the position sent while it was away",
			markerJS(id)+` === `+jsString(latLon(st.lat, st.lon)))
	}
	if !eval[bool](t, b, `window.__sameDocument === true`) {
		t.Error("the page reloaded; reconnecting must not need a reload")
	}
	if n := eval[int](t, b, `document.querySelectorAll('[data-testid="friend"]').length`); n != 1 {
		t.Errorf("%d friend rows after reconnecting, want 1", n)
	}
	srv.terminate(t)
}

// TestE2EScreenshots renders the dashboard and the history page light and
// dark, at phone (360×740) and desktop (1280×800) widths, into
// testout/screenshots/ for a person to look at; it fails when a page
// scrolls sideways on a phone.
func TestE2EScreenshots(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	defineArea(t, base, "Office", officeLat, officeLon, 200)
	defineArea(t, base, "Jardin du Luxembourg", parkLat, parkLon, 300)
	seedScreenshotFixture(t, s.mqtt)
	waitFriend(t, base, "zoe/phone")

	dir := screenshotDir(t)
	now := time.Now()
	pages := []struct{ name, url string }{
		{"dashboard", base + "/"},
		{"history", historyURL(base, "alice/phone", now.Add(-3*time.Hour), now.Add(time.Hour))},
	}
	if code := getStatus(t, pages[1].url); code == 404 {
		t.Logf("the history page is not served yet (404): no history screenshots")
		pages = pages[:1]
	}
	sizes := []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"phone", 360, 740, true},
		{"desktop", 1280, 800, false},
	}
	for _, p := range pages {
		for _, scheme := range []string{"light", "dark"} {
			for _, sz := range sizes {
				opts := []chromedp.EmulateViewportOption{}
				if sz.mobile {
					opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
				}
				b.do(t, 15*time.Second,
					chromedp.EmulateViewport(sz.width, sz.height, opts...),
					setColorScheme(scheme),
					chromedp.Navigate(p.url),
				)
				if p.name == "dashboard" {
					b.mustWaitJS(t, 10*time.Second, "dashboard live", liveJS)
				}
				// Let Leaflet lay out and fit the markers.
				b.do(t, 5*time.Second, chromedp.Sleep(300*time.Millisecond))
				if got := eval[bool](t, b, `matchMedia("(prefers-color-scheme: dark)").matches`); got != (scheme == "dark") {
					t.Fatalf("color scheme emulation failed: dark = %v, want %v", got, scheme == "dark")
				}
				png := func() []byte {
					buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
					if err != nil {
						t.Fatalf("screenshot: %v", err)
					}
					return buf
				}()
				path := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.png", p.name, scheme, sz.name))
				if err := os.WriteFile(path, png, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot %s", path)
				if box := eval[string](t, b, mapBoxJS); box != "" {
					t.Errorf("%s (%s, %d px wide): %s", p.name, scheme, sz.width, box)
				}
				if sz.mobile {
					wide := eval[string](t, b, overflowJS)
					if wide != "" {
						t.Errorf("%s (%s, %d px wide) scrolls sideways; too wide: %s", p.name, scheme, sz.width, wide)
					}
				}
			}
		}
	}
	b.do(t, 5*time.Second, chromedp.EmulateViewport(1280, 800), setColorScheme(""))
}

// mapBoxJS says what is wrong with the map's box ("" when it is at least
// 200×200 px and inside the viewport's width).
const mapBoxJS = `(function(){
	var m = document.getElementById("map");
	if (!m) return "no #map";
	var r = m.getBoundingClientRect(), w = document.documentElement.clientWidth;
	if (r.width < 200 || r.height < 200 || r.left < 0 || r.right > w + 1)
		return "the map is " + Math.round(r.width) + "×" + Math.round(r.height) + " px at x " + Math.round(r.left) + "–" + Math.round(r.right) + " (viewport " + w + " px wide)";
	return "";
})()`

// overflowJS lists the elements wider than the viewport ("" when none).
const overflowJS = `(function(){
	var w = document.documentElement.clientWidth;
	if (document.documentElement.scrollWidth <= w) return "";
	var out = [];
	document.querySelectorAll("body *").forEach(function(el){
		var r = el.getBoundingClientRect();
		if (r.right > w + 1 && out.length < 8) {
			out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && el.className.baseVal === undefined ? "." + String(el.className).split(" ").join(".") : "") + " right=" + Math.round(r.right));
		}
	});
	return "page " + document.documentElement.scrollWidth + " px > viewport " + w + " px: " + out.join(", ");
})()`

// seedScreenshotFixture publishes what a small group of phones would
// send: cards, positions in and out of areas, a phone region, an offline
// phone, and a friend with a long name.
func seedScreenshotFixture(t *testing.T, mqttAddr string) {
	t.Helper()
	c := eventstest.Connect(t, mqttAddr, "e2e-fixture")
	now := time.Now()
	pub := func(topic string, v any) {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		eventstest.Publish(t, c, topic, 1, false, b)
	}
	card := func(id, name, tid string) {
		pub("owntracks/"+id+"/info", map[string]any{"_type": "card", "name": name, "tid": tid})
	}
	card("alice/phone", "Alice Liddell", "AL")
	card("bob/tablet", "Bob", "BO")
	card("zoe/phone", "Zoë Bartholomew-Featherstonehaugh-Wolfeschlegelsteinhausen", "ZB")
	card("carl/phone", "Carl", "CA")
	// Alice walks from the park to the office over the last two hours.
	for i := range 10 {
		f := float64(i) / 9
		pub("owntracks/alice/phone", location{Type: "location", Lat: parkLat + f*(deskLat-parkLat), Lon: parkLon + f*(deskLon-parkLon),
			Tst: now.Add(time.Duration(i-10) * 12 * time.Minute).Unix(), Acc: 15, Batt: 90 - i, Vel: 5, T: "p"})
	}
	pub("owntracks/bob/tablet/waypoint", map[string]any{"_type": "waypoint", "desc": "Bob's home", "lat": parkLat + 0.004, "lon": parkLon - 0.006, "rad": 120, "tst": now.Add(-24 * time.Hour).Unix(), "rid": "bh1"})
	pub("owntracks/bob/tablet", location{Type: "location", Lat: parkLat + 0.004, Lon: parkLon - 0.006, Tst: now.Add(-3 * time.Hour).Unix(), Acc: 30, Batt: 12, T: "p"})
	pub("owntracks/bob/tablet/event", map[string]any{"_type": "transition", "event": "enter", "desc": "Bob's home", "rid": "bh1", "wtst": now.Add(-24 * time.Hour).Unix(),
		"tst": now.Add(-3 * time.Hour).Unix(), "lat": parkLat + 0.004, "lon": parkLon - 0.006, "acc": 30, "t": "c"})
	pub("owntracks/zoe/phone", location{Type: "location", Lat: parkLat + 0.0005, Lon: parkLon, Tst: now.Add(-20 * time.Minute).Unix(), Acc: 8, Batt: 64, Vel: 17, T: "p"})
	pub("owntracks/carl/phone", location{Type: "location", Lat: deskLat - 0.0003, Lon: deskLon + 0.0002, Tst: now.Add(-26 * time.Hour).Unix(), Acc: 20, Batt: 5, T: "p"})
	pub("owntracks/carl/phone", map[string]any{"_type": "lwt", "tst": now.Add(-25 * time.Hour).Unix()})
}

// fetchJSON decodes the JSON answer of GET url.
func fetchJSON[T any](url string) (T, error) {
	var v T
	resp, err := httpClient.Get(url)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return v, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&v)
	return v, err
}
