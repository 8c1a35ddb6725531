package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"tracker/events/eventstest"
)

// notificationHookJS wraps the Notification constructor before any page
// script runs, so the test sees every notification a page makes (a
// headless browser shows none on a screen).
const notificationHookJS = `(function () {
  var N = window.Notification;
  window.__notified = [];
  if (typeof N !== "function") return;
  function Hooked(title, opts) {
    window.__notified.push({ title: title, body: opts && opts.body, tag: opts && opts.tag, at: Date.now() });
    return new N(title, opts);
  }
  Hooked.prototype = N.prototype;
  Hooked.requestPermission = function (cb) { return N.requestPermission(cb); };
  Object.defineProperty(Hooked, "permission", { get: function () { return N.permission; } });
  window.Notification = Hooked;
})();`

// loginCookies logs name in over HTTP and returns the session cookies.
func loginCookies(t *testing.T, base, name, password string) []*http.Cookie {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.PostForm(base+"/login", url.Values{"user": {name}, "password": {password}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Fatalf("log in as %s: %s", name, resp.Status)
	}
	return resp.Cookies()
}

// TestBrowserNotifiesOnCrossing: anna has allowed notifications (granted
// in the test) and her dashboard is open; when ben's phone crosses into
// Home over MQTT, her rule's browser channel makes the page show one
// browser notification, "ben arrived at Home", and the rule's delivery
// log on /me/notifications says it was sent. Screenshots of the page at
// 390 and 1280 px, light and dark.
func TestBrowserNotifiesOnCrossing(t *testing.T) {
	b := newBrowser(t)
	hook := newHookReceiver(t)
	f := startNotifyFixture(t, hook, func(data string) {
		for _, args := range [][]string{
			{"notify", "add", "--for", "anna", "--arrives", "ben/phone", "--place", "Home", "--browser"},
			{"notify", "add", "--for", "anna", "--leaves", "*", "--place", "Home", "--browser", "--webhook", hook.URL("anna"), "--webhook-secret", notifyHookSecr},
			// A receiver that is down: its failure shows on the rule.
			{"notify", "add", "--for", "anna", "--battery", "ben/phone", "--below", "20", "--webhook", "http://127.0.0.1:9/down", "--quiet", "1s"},
			{"notify", "add", "--for", "anna", "--silent", "ben/phone", "--after", "3h", "--browser"},
		} {
			if out, err := tracker(t, data, args...); err != nil {
				t.Fatalf("tracker %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
	b.do(t, 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: notificationHookJS}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: f.base,
		}); err != nil {
			return fmt.Errorf("grant notifications: %w", err)
		}
		for _, c := range loginCookies(t, f.base, "anna", notifyPW) {
			if _, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: f.base + "/", HTTPOnly: &c.HttpOnly}); err != nil {
				return err
			}
		}
		return nil
	}))

	// The dashboard, live.
	b.open(t, f.base+"/")
	b.mustWaitJS(t, 10*time.Second, "the live stream", liveJS)
	if got := eval[string](t, b, `Notification.permission`); got != "granted" {
		t.Fatalf("Notification.permission is %q, want granted", got)
	}
	sent := f.cross(t, time.Now().Unix())
	b.mustWaitJS(t, 5*time.Second, "a browser notification", `window.__notified.length > 0`)
	shownAt := eval[float64](t, b, `window.__notified[0].at`)
	t.Logf("ben's arrival published over MQTT to the browser notification: %s", time.UnixMilli(int64(shownAt)).Sub(sent).Round(time.Millisecond))
	b.do(t, 5*time.Second, chromedp.Sleep(700*time.Millisecond)) // a second one would come now
	type note struct{ Title, Body, Tag string }
	got := eval[[]note](t, b, `window.__notified`)
	if len(got) != 1 || got[0].Body != "ben arrived at Home" || got[0].Title != "tracker: ben" || got[0].Tag == "" {
		t.Fatalf("notifications %+v, want one: tracker: ben / ben arrived at Home", got)
	}
	if how := eval[string](t, b, `window.trackerNotify.shown[0].how`); how != "browser" {
		t.Errorf("the page's log says it showed it as %q, want browser", how)
	}
	if n := eval[int](t, b, `document.querySelectorAll(".notify-note").length`); n != 0 {
		t.Errorf("%d notice elements left in the page", n)
	}

	// Ben leaves Home and his battery runs low: the webhook that is down
	// fails on its rule.
	publishLocation(t, f.ben, "ben/phone", location{Lat: notifyAwayLat, Lon: notifyHomeLon, Tst: time.Now().Unix() + 60, Acc: 10, Batt: 30})
	publishLocation(t, f.ben, "ben/phone", location{Lat: notifyAwayLat, Lon: notifyHomeLon, Tst: time.Now().Unix() + 90, Acc: 10, Batt: 12})
	b.mustWaitJS(t, 5*time.Second, "the leave notification", `window.__notified.length > 1`)

	cookies := loginCookies(t, f.base, "anna", notifyPW)
	eventstest.WaitFor(t, 10*time.Second, "the battery rule's failure", func() bool {
		var rules []struct {
			On        string
			LastError string `json:"last_error"`
		}
		req, _ := http.NewRequest(http.MethodGet, f.base+"/api/v1/notifications", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&rules) != nil {
			return false
		}
		for _, r := range rules {
			if r.On == "battery" && r.LastError != "" {
				return true
			}
		}
		return false
	})
	openAny(t, b, f.base+"/me/notifications")
	text := b.pageText(t)
	for _, want := range []string{"ben/phone arrives at Home", "anyone leaves Home", "ben/phone's battery drops below 20%",
		"ben/phone has not reported for 3h", "Notifications are allowed in this browser.", "Last failure"} {
		if !strings.Contains(text, want) {
			t.Errorf("/me/notifications lacks %q:\n%s", want, text)
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll('[data-testid="notify-delivery"][data-status="sent"]').length`); n < 2 {
		t.Errorf("%d sent deliveries in the logs, want the arrival and the leave", n)
	}

	dir := screenshotDir(t)
	for _, w := range []int64{390, 1280} {
		for _, scheme := range []string{"light", "dark"} {
			var opts []chromedp.EmulateViewportOption
			if w <= 390 {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
			}
			b.do(t, 15*time.Second, chromedp.EmulateViewport(w, 900, opts...), setColorScheme(scheme))
			_ = eval[bool](t, b, `(function () { document.querySelectorAll("details.notify-log").forEach(function (d) { d.open = true }); return true })()`)
			settle(t, b)
			if why := eval[string](t, b, widthJS(w)); why != "" {
				t.Errorf("/me/notifications at %d px %s: %s", w, scheme, why)
			}
			screenshot(t, b, filepath.Join(dir, fmt.Sprintf("notifications-%d-%s.png", w, scheme)))
			_ = eval[bool](t, b, `(function () { document.getElementById("notify-add-h").scrollIntoView(); return true })()`)
			settle(t, b)
			screenshot(t, b, filepath.Join(dir, fmt.Sprintf("notifications-form-%d-%s.png", w, scheme)))
			_ = eval[bool](t, b, `(function () { scrollTo(0, 0); return true })()`)
		}
	}
}
