package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserConnectAndMe: a viewer with an empty dashboard follows its
// link to /connect, makes a configuration for a phone, and the QR code
// the browser shows configures a phone that the embedded broker accepts;
// on /me (from the user menu) the phone is listed with its last use and
// revoking it closes its session; the password changes only with the
// current one; a chosen time zone renders the pages; signing out
// everywhere ends the other sessions too. Screenshots of both pages at
// 390 and 1280 px, light and dark, go to testout/screenshots.
func TestBrowserConnectAndMe(t *testing.T) {
	b := newBrowser(t)
	f := newConnectFixture(t)
	loginInBrowser(t, b, f.base, "vera", veraPW)

	// The empty dashboard leads to /connect.
	b.mustWaitJS(t, 5*time.Second, "empty dashboard links to /connect", `!!document.querySelector('#no-friends a[href="/connect"]')`)
	b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`#no-friends a[href="/connect"]`)))
	waitThroughNavigation(t, b, 10*time.Second, "on /connect", `location.pathname === "/connect" && !!document.getElementById("connect-device")`)

	b.do(t, 15*time.Second,
		chromedp.SendKeys(chromedp.CSS(`#connect-device`), "phone"),
		chromedp.SetValue(chromedp.CSS(`#connect-mode`), "mqtt"),
		chromedp.Submit(chromedp.CSS(`#connect-device`)),
	)
	waitThroughNavigation(t, b, 10*time.Second, "configuration made", `!!document.querySelector('[data-testid="qr"]')`)
	b.mustWaitJS(t, 5*time.Second, "the QR code image is shown (CSP allows it)", `(function(){var i=document.querySelector('[data-testid="qr"]');return i.complete && i.naturalWidth > 100;})()`)
	cfg := madeConfig(t, eval[string](t, b, `document.documentElement.outerHTML`))
	if cfg.Username != "vera" || cfg.DeviceID != "phone" || cfg.Password == "" {
		t.Fatalf("configuration from the page = %+v", cfg)
	}
	connectShots(t, b, "connect")

	// The phone scans it and connects.
	lost := make(chan error, 1)
	phone, err := configuredPhone(cfg, "vera-phone", lost)
	if err != nil {
		t.Fatalf("phone configured from the browser's QR code refused: %v", err)
	}
	t.Cleanup(func() { phone.Disconnect(10) })
	if tok := phone.Publish("owntracks/vera/phone", 1, false, locationJSON(parkLat, parkLon)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("phone publish: %v", tok.Error())
	}

	// /me from the user menu: the phone with its last use.
	b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`a.who-name[href="/me"]`)))
	waitThroughNavigation(t, b, 10*time.Second, "on /me", `location.pathname === "/me" && !!document.querySelector('[data-testid="device"][data-device="phone"]')`)
	if got := eval[string](t, b, `document.querySelector('[data-device="phone"] [data-testid="last-use"]').textContent.trim()`); got != "just now" {
		t.Errorf("phone's last use reads %q, want just now", got)
	}
	if strings.Contains(b.pageText(t), cfg.Password) {
		t.Error("/me shows the device secret")
	}
	connectShots(t, b, "me")

	// Revoke it: the phone's session closes.
	b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`[data-device="phone"] [data-testid="revoke"]`)))
	waitThroughNavigation(t, b, 10*time.Second, "revoked", `!!document.querySelector('[data-testid="me-done"]') && !document.querySelector('[data-device="phone"]')`)
	select {
	case <-lost:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked phone stayed connected")
	}

	// Password: refused without the current one, changed with it; this
	// browser stays logged in.
	changePW := func(old, pw string) {
		t.Helper()
		b.do(t, 10*time.Second,
			chromedp.SetValue(chromedp.CSS(`#me-old`), old),
			chromedp.SetValue(chromedp.CSS(`#me-new`), pw),
			chromedp.SetValue(chromedp.CSS(`#me-repeat`), pw),
			chromedp.Submit(chromedp.CSS(`#me-old`)),
		)
	}
	changePW("not my password", "a new password 2")
	waitThroughNavigation(t, b, 10*time.Second, "wrong current password refused", `!!document.querySelector('[data-testid="me-error"]')`)
	if code, _ := f.do(t, http.MethodGet, "/api/v1/friends", "vera", veraPW, nil, nil); code != http.StatusOK {
		t.Fatalf("the password changed without the current one (%d)", code)
	}
	b.do(t, 10*time.Second, chromedp.Navigate(f.base+"/me"))
	b.mustWaitJS(t, 5*time.Second, "on /me", `!!document.getElementById("me-old")`)
	changePW(veraPW, "a new password 2")
	waitThroughNavigation(t, b, 10*time.Second, "password changed", `location.pathname === "/me" && !!document.querySelector('[data-testid="me-done"]')`)
	if code, _ := f.do(t, http.MethodGet, "/api/v1/friends", "vera", "a new password 2", nil, nil); code != http.StatusOK {
		t.Fatalf("new password refused (%d)", code)
	}

	// Time zone: pages render in it.
	b.do(t, 10*time.Second, chromedp.SetValue(chromedp.CSS(`#me-zone`), "Asia/Tokyo"), chromedp.Submit(chromedp.CSS(`#me-zone`)))
	waitThroughNavigation(t, b, 10*time.Second, "zone saved", `document.documentElement.dataset.tz === "Asia/Tokyo" && document.getElementById("me-zone").value === "Asia/Tokyo"`)

	// Sign out everywhere: another session of vera's ends too.
	jar, _ := cookiejar.New(nil)
	other := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := other.PostForm(f.base+"/login", url.Values{"user": {"vera"}, "password": {"a new password 2"}, "next": {"/"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second login: %v %v", err, resp)
	}
	resp.Body.Close()
	friendsStatus := func() int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+"/api/v1/friends", nil)
		req.Header.Set("X-Requested-With", "test")
		resp, err := other.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := friendsStatus(); code != http.StatusOK {
		t.Fatalf("second session: %d", code)
	}
	b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="signout-all"]`)))
	waitThroughNavigation(t, b, 10*time.Second, "signed out", onLoginJS)
	if code := friendsStatus(); code != http.StatusUnauthorized {
		t.Errorf("the other session after signing out everywhere: %d, want 401", code)
	}
}

// connectShots saves the page at 390 and 1280 px, light and dark, and checks
// that nothing scrolls sideways.
func connectShots(t *testing.T, b *browser, name string) {
	t.Helper()
	dir := screenshotDir(t)
	for _, w := range []int64{390, 1280} {
		var opts []chromedp.EmulateViewportOption
		if w <= 390 {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		h := map[int64]int64{390: 844, 1280: 800}[w]
		for _, scheme := range []string{"light", "dark"} {
			b.do(t, 10*time.Second, chromedp.EmulateViewport(w, h, opts...), setColorScheme(scheme), chromedp.Sleep(150*time.Millisecond))
			if over := eval[float64](t, b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); over > 0 {
				t.Errorf("%s at %d px %s scrolls sideways by %v px", name, w, scheme, over)
			}
			ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			cancel()
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			file := filepath.Join(dir, fmt.Sprintf("%s-%d-%s.png", name, w, scheme))
			if err := os.WriteFile(file, png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.do(t, 10*time.Second, chromedp.EmulateViewport(1280, 800), setColorScheme("light"))
}
