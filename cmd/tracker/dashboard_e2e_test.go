package main

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
)

// TestE2EDashboardPlacesAndCrossings, in Chromium: five phones each
// defining Home (in any case) give one place card naming all five; a
// crossing the phone reports and the position shows is one feed line;
// "Locate now" reaches "answered" when the phone replies.
func TestE2EDashboardPlacesAndCrossings(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	phone := eventstest.Connect(t, s.mqtt, "e2e-home")
	pub := func(topic string, v map[string]any) {
		t.Helper()
		payload, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		eventstest.Publish(t, phone, topic, 1, false, payload)
	}
	now := time.Now().Unix()
	for i, name := range []string{"Home", "home", " HOME", "Home ", "hOme"} {
		topic := fmt.Sprintf("owntracks/p%d/phone", i)
		pub(topic+"/waypoint", map[string]any{"_type": "waypoint", "desc": name, "lat": officeLat, "lon": officeLon, "rad": 200, "tst": now - 600, "rid": fmt.Sprintf("h%d", i)})
		// A few metres apart: five markers on one point leave the map
		// without tiles nothing to fit.
		pub(topic, map[string]any{"_type": "location", "lat": deskLat + float64(i)*0.0002, "lon": deskLon, "tst": now - 60, "tid": fmt.Sprintf("p%d", i), "batt": 60})
	}
	// p0's phone reports the arrival too, 20 s after its fix showed it.
	pub("owntracks/p0/phone/event", map[string]any{"_type": "transition", "event": "enter", "desc": "Home", "rid": "h0",
		"tst": now - 40, "wtst": now - 600, "lat": deskLat, "lon": deskLon, "acc": 10, "t": "c"})
	waitFriend(t, base, "p4/phone")

	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 900))
	b.open(t, base+"/")
	b.mustWaitJS(t, 5*time.Second, "p0's arrival in the feed",
		`Array.from(document.querySelectorAll('[data-testid="feed-item"]')).some(function(l){return l.textContent.indexOf("p0 arrived at Home")>=0;})`)
	cards := eval[[]string](t, b, `Array.from(document.querySelectorAll('[data-testid="place"]')).map(function(p){return p.dataset.place;})`)
	if len(cards) != 1 || cards[0] != "Home" {
		t.Errorf("place cards %q, want one: Home", cards)
	}
	members := eval[[]string](t, b, `Array.from(document.querySelectorAll('[data-testid="place"] .member')).map(function(m){return m.textContent;})`)
	if strings.Join(members, ",") != "p0,p1,p2,p3,p4" {
		t.Errorf("Home names %q, want p0 … p4 once each", members)
	}
	lines := eval[[]string](t, b, `Array.from(document.querySelectorAll('[data-testid="feed-item"]')).map(function(l){return l.textContent.replace(/\s+/g," ").trim();})`)
	p0 := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "p0 ") {
			p0++
		}
	}
	if p0 != 1 {
		t.Errorf("feed %q: %d lines for p0's one arrival, want 1", lines, p0)
	}
	if n := eval[int](t, b, `document.querySelectorAll('[data-testid="feed-item"] [data-testid="disagree"]').length`); n != 0 {
		t.Errorf("%d disagreement marks where phone and position agree", n)
	}

	// Locate p1: the phone answers with t "r".
	cmds := eventstest.Subscribe(t, phone, "owntracks/p1/phone/cmd", 1)
	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="friend"][data-friend="p1/phone"] [data-testid="locate"]`)))
	select {
	case <-cmds:
	case <-time.After(3 * time.Second):
		t.Fatalf("no reportLocation command within 3 s of the click\n%s", s.stderr)
	}
	status := friendRowJS("p1/phone") + `.querySelector('[data-testid="locate-status"]')`
	b.mustWaitJS(t, 2*time.Second, "request time on the status", status+`.dataset.requested > 0`)
	pub("owntracks/p1/phone", map[string]any{"_type": "location", "lat": deskLat, "lon": deskLon, "tst": time.Now().Unix(), "tid": "p1", "t": "r"})
	b.mustWaitJS(t, 3*time.Second, `status "answered …"`, status+`.textContent.trim().indexOf("answered") === 0`)
	t.Logf("locate status: %q", eval[string](t, b, status+`.textContent.trim()`))

	// For a look (testout/screenshots, not committed).
	for _, page := range []string{"dashboard", "areas"} {
		for _, w := range []int64{390, 1280} {
			path := map[string]string{"dashboard": "/", "areas": "/areas"}[page]
			b.do(t, 15*time.Second, chromedp.EmulateViewport(w, 900), chromedp.Navigate(base+path))
			b.do(t, 5*time.Second, chromedp.Sleep(300*time.Millisecond))
			png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(screenshotDir(t), fmt.Sprintf("places-%s-%d.png", page, w)), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
