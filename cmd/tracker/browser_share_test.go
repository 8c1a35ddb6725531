package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"tracker/views/web"
)

// shareStream reads a share link's event stream in the background, as a
// second viewer would, keeping every message.
type shareStream struct {
	mu     sync.Mutex
	events []string // "event data"
	done   chan struct{}
}

func readShareStream(t *testing.T, url string) *shareStream {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("open the link's stream: %v %v", err, res)
	}
	s := &shareStream{done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				s.mu.Lock()
				s.events = append(s.events, event+" "+line[len("data: "):])
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *shareStream) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.events, "\n")
}

// TestBrowserShareLink: vera makes a share link of her phone on /share;
// opened without a login, the link's page shows her phone moving as it
// publishes over MQTT, and never bob, who moves too (neither in the
// page's DOM nor in the link's stream); when vera revokes it, the open
// page's stream is closed at once and the link answers 410; a second
// link closes its open page when it expires and answers 410; a third,
// "until I arrive at Home", ends when her phone arrives there (Home
// renamed meanwhile).
// Screenshots of the share page and of /share with a link just made, at
// 390 and 1280 px, light and dark, go to testout/screenshots.
func TestBrowserShareLink(t *testing.T) {
	b := newBrowser(t)
	f := newConnectFixture(t)
	vera, err := tryConnectMQTT(f.s.mqtt, "vera-phone", "vera", veraPW)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vera.Disconnect(10) })
	bob, err := tryConnectMQTT(f.s.mqtt, "bob-phone", "bob", bobPW)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bob.Disconnect(10) })
	const bobLat, bobLon = 50.8467, 4.3525 // Grand-Place: a place that must never appear
	tst := time.Now().Unix()
	publishLocation(t, vera, "vera/phone", location{Lat: 50.8400, Lon: 4.3600, Tst: tst, TID: "ve", Acc: 20})
	publishLocation(t, bob, "bob/phone", location{Lat: bobLat, Lon: bobLon, Tst: tst, TID: "bo", Acc: 5})
	f.waitFriendAs(t, "vera/phone")
	defineArea(t, "http://root:"+strings.ReplaceAll(rootPW, " ", "%20")+"@"+f.s.http, "Home", 50.8300, 4.3700, 100)

	// The link is made on /share, and shown once.
	loginInBrowser(t, b, f.base, "vera", veraPW)
	b.do(t, 10*time.Second, chromedp.Navigate(f.base+"/share"))
	b.mustWaitJS(t, 5*time.Second, "the share form", `!!document.querySelector('[data-testid="share-form"]')`)
	if got := eval[string](t, b, `Array.from(document.querySelectorAll('#share-friend option')).map(o => o.value).join(",")`); got != "vera/phone" {
		t.Errorf("vera may share %q, want only vera/phone", got)
	}
	b.do(t, 15*time.Second, chromedp.SetValue(chromedp.CSS(`#share-for`), "1h"), chromedp.Submit(chromedp.CSS(`#share-friend`)))
	waitThroughNavigation(t, b, 10*time.Second, "link made", `!!document.querySelector('[data-testid="share-url"]')`)
	link := eval[string](t, b, `document.querySelector('[data-testid="share-url"]').value`)
	if !strings.HasPrefix(link, f.base+"/s/") {
		t.Fatalf("the page made the link %q", link)
	}
	connectShots(t, b, "share-dialog")

	// Two more links, through the API: one for a minute, one until Home.
	mk := func(body string) web.ShareMade {
		t.Helper()
		code, out := f.do(t, http.MethodPost, "/api/v1/shares", "vera", veraPW, strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
		var m web.ShareMade
		if code != http.StatusCreated || json.Unmarshal([]byte(out), &m) != nil {
			t.Fatalf("make a link %s: %d %s", body, code, out)
		}
		return m
	}
	brief := mk(`{"friend":"vera/phone","for":"1m"}`)
	briefMade := time.Now()
	home := mk(`{"friend":"vera/phone","for":"1h","place":"Home"}`)

	// Without a login: the link's page and its stream.
	b.do(t, 10*time.Second, chromedp.Navigate(f.base+"/"), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	waitThroughNavigation(t, b, 10*time.Second, "logged out", onLoginJS)
	other := readShareStream(t, link+"/stream")
	b.do(t, 15*time.Second, chromedp.Navigate(link))
	b.mustWaitJS(t, 10*time.Second, "the share page with vera's position", `(function(){var m=document.getElementById("share-map");return !!m && !!m.trackerMap && m.dataset.lat === "50.84";})()`)
	if name := eval[string](t, b, `document.querySelector('[data-testid="share-name"]').textContent.trim()`); name != "ve" {
		t.Errorf("the share page names %q, want ve (her tracker id: she sent no card)", name)
	}
	route := [][2]float64{{50.8410, 4.3610}, {50.8420, 4.3620}, {50.8430, 4.3630}}
	for i, p := range route {
		publishLocation(t, vera, "vera/phone", location{Lat: p[0], Lon: p[1], Tst: tst + int64(i) + 1, TID: "ve", Acc: 15})
		publishLocation(t, bob, "bob/phone", location{Lat: bobLat + float64(i)/1000, Lon: bobLon, Tst: tst + int64(i) + 1, TID: "bo"})
		b.mustWaitJS(t, 5*time.Second, fmt.Sprintf("vera's fix %d on the share page", i+1),
			fmt.Sprintf(`document.getElementById("share-map").dataset.lat === %q`, fmt.Sprint(p[0])))
	}
	if n := eval[int](t, b, `document.getElementById("share-map").trackerMap ? document.querySelectorAll(".share-marker").length : -1`); n != 1 {
		t.Errorf("%d markers on the share page, want 1", n)
	}
	if pts := eval[int](t, b, `(function(){var n=0;document.getElementById("share-map").trackerMap.eachLayer(function(l){if(l.getLatLngs)n=Math.max(n,l.getLatLngs().length)});return n;})()`); pts < len(route) {
		t.Errorf("the trail has %d points, want at least %d", pts, len(route))
	}
	for _, leak := range []string{"bob", "50.846", "50.847", "50.848", "Home", "root", "/live", "Log out"} {
		if eval[bool](t, b, `document.documentElement.outerHTML.includes(`+jsString(leak)+`)`) {
			t.Errorf("the share page's DOM holds %q", leak)
		}
	}
	shareShots(t, b, "share")

	// Revoked: the open page's stream is closed, the link is 410.
	code, _ := f.do(t, http.MethodDelete, "/api/v1/shares/"+linkID(t, f, link), "vera", veraPW, nil, nil)
	if code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	revoked := time.Now()
	b.mustWaitJS(t, 5*time.Second, "the open page's stream closed by the revoke",
		`document.getElementById("share-map").shareStream.readyState === 2 && document.getElementById("share-state").textContent.includes("revoked")`)
	t.Logf("revoke to closed page: %v", time.Since(revoked).Round(time.Millisecond))
	select {
	case <-other.done:
	case <-time.After(5 * time.Second):
		t.Error("the other viewer's stream stayed open after the revoke")
	}
	seen := other.all()
	if !strings.Contains(seen, "fix ") || !strings.Contains(seen, `end {"reason":"revoked"}`) {
		t.Errorf("the stream said:\n%s", seen)
	}
	for _, leak := range []string{"50.846", "50.847", "50.848", "bob"} {
		if strings.Contains(seen, leak) {
			t.Errorf("the link's stream carried %q:\n%s", leak, seen)
		}
	}
	for _, p := range []string{"", "/stream", "/track.json"} {
		if code := getStatus(t, link+p); code != http.StatusGone {
			t.Errorf("revoked link%s: %d, want 410", p, code)
		}
	}

	// Until Home: arriving ends it, also after Home was renamed.
	if code, out := f.do(t, http.MethodPost, "/api/v1/areas/Home/rename", "root", rootPW, strings.NewReader(`{"to":"Sweet home"}`),
		map[string]string{"Content-Type": "application/json"}); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("rename Home: %d %s", code, out)
	}
	publishLocation(t, vera, "vera/phone", location{Lat: 50.8300, Lon: 4.3700, Tst: tst + 10, TID: "ve", Acc: 10})
	deadline := time.Now().Add(10 * time.Second)
	for getStatus(t, home.URL) != http.StatusGone {
		if time.Now().After(deadline) {
			t.Fatal("the link until Home still works after vera arrived there")
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, list := f.do(t, http.MethodGet, "/api/v1/shares", "vera", veraPW, nil, nil)
	if !strings.Contains(list, `"status":"arrived"`) || !strings.Contains(list, `"place":"Sweet home"`) {
		t.Errorf("after arriving, vera's links: %s", list)
	}

	// Expired: the open page closes at the expiry, and the link is 410.
	b.do(t, 15*time.Second, chromedp.Navigate(brief.URL))
	b.mustWaitJS(t, 10*time.Second, "the brief link's page live", `(function(){var m=document.getElementById("share-map");return !!m && !!m.shareStream && m.shareStream.readyState === 1;})()`)
	wait := time.Until(briefMade.Add(time.Minute)) + 10*time.Second
	b.mustWaitJS(t, wait, "the brief link's page closed at its expiry",
		`document.getElementById("share-map").shareStream.readyState === 2 && document.getElementById("share-state").textContent.includes("ended")`)
	for _, p := range []string{"", "/stream", "/track.json"} {
		if code := getStatus(t, brief.URL+p); code != http.StatusGone {
			t.Errorf("expired link%s: %d, want 410", p, code)
		}
	}
	b.do(t, 10*time.Second, chromedp.Navigate(brief.URL))
	b.mustWaitJS(t, 5*time.Second, "the expired link's page", `!!document.querySelector('[data-testid="share-gone"][data-code="410"]')`)
}

// linkID finds the id of the link whose URL is link in vera's list (the
// list never shows tokens: the link made first is the oldest).
func linkID(t *testing.T, f connectFixture, link string) string {
	t.Helper()
	_, out := f.do(t, http.MethodGet, "/api/v1/shares", "vera", veraPW, nil, nil)
	var list []web.ShareInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) == 0 {
		t.Fatalf("vera's links: %s", out)
	}
	return list[len(list)-1].ID // newest first
}

// shareShots takes the share page's screenshots: the map needs a moment
// after each viewport change to draw.
func shareShots(t *testing.T, b *browser, name string) {
	t.Helper()
	connectShots(t, b, name)
}
