package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestE2ESessionEndSendsDashboardToLogin: an open dashboard leaves for the
// login page when its login ends elsewhere, with no click and no reload:
// a logout in another tab of the same browser, then (logged in again) a
// password change through the running server.
func TestE2ESessionEndSendsDashboardToLogin(t *testing.T) {
	b := newBrowser(t)
	data := filepath.Join(t.TempDir(), "data")
	const vpw, rootpw = "vera's password 1", "root's password 1"
	user := func(password string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runUserWith(t.Context(), append(args, "--password-stdin", "--data", data), strings.NewReader(password+"\n"), &out, &errOut); err != nil {
			t.Fatalf("tracker user %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	}
	user(rootpw, "add", "root", "--admin")
	user(vpw, "add", "vera")
	s := startServer(t, data, "--tiles", "")
	base := "http://" + s.http
	phone, err := tryConnectMQTT(s.mqtt, "vera-phone", "vera", vpw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Disconnect(100) })
	publishLocation(t, phone, "vera/phone", location{Lat: parkLat, Lon: parkLon, Tst: time.Now().Unix(), T: "u"})

	login := func() { t.Helper(); loginInBrowser(t, b, base, "vera", vpw) }

	// 1. Logout in another tab of the same browser (same cookie, same session).
	login()
	_ = eval[bool](t, b, `(window.__dashboard = true)`)
	tab, closeTab := chromedp.NewContext(b.ctx)
	defer closeTab()
	if _, err := chromedp.Run(tab, chromedp.Navigate(base+"/")); err != nil {
		t.Fatalf("second tab: %v", err)
	}
	ended := time.Now()
	if _, err := chromedp.Run(tab, chromedp.Click(chromedp.CSS(`form[action="/logout"] button`))); err != nil {
		t.Fatalf("log out in the second tab: %v", err)
	}
	waitThroughNavigation(t, b, 3*time.Second, "the first tab goes to the login page after a logout in another", onLoginJS)
	t.Logf("logout in another tab: the dashboard was on the login page %v after the click (polled every 10 ms)", time.Since(ended).Round(time.Millisecond))
	if next := eval[string](t, b, `document.querySelector('input[name="next"]').value`); next != "/" {
		t.Errorf("login page's next = %q, want / (back to the dashboard after logging in)", next)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(screenshotDir(t), "session-ended-login.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", shot)
	closeTab()

	// 2. A password change through the running server (the CLI logs in
	// as root) ends every session of the user.
	login()
	t.Setenv("TRACKER_LOGIN", "root")
	t.Setenv("TRACKER_LOGIN_PASSWORD", rootpw)
	ended = time.Now()
	user("vera's new password 2", "passwd", "vera")
	waitThroughNavigation(t, b, 3*time.Second, "the dashboard goes to the login page after a password change", onLoginJS)
	t.Logf("password change: the dashboard was on the login page %v after the command returned", time.Since(ended).Round(time.Millisecond))
}

// waitThroughNavigation is mustWaitJS for a predicate that becomes true
// on another page: a poll that fails because the page navigated away is
// started again on the new page.
func waitThroughNavigation(t *testing.T, b *browser, limit time.Duration, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, ok := b.waitJS(time.Now().Add(100*time.Millisecond), predicate); ok {
			return
		}
	}
	t.Fatalf("%s: not within %v (predicate %s)\npage text:\n%s", what, limit, predicate, b.pageText(t))
}

// onLoginJS is true on the login page.
const onLoginJS = `location.pathname === "/login" && !!document.getElementById("login-password")`

// loginInBrowser logs in on the login page and waits for the live dashboard.
func loginInBrowser(t *testing.T, b *browser, base, name, password string) {
	t.Helper()
	b.do(t, 15*time.Second,
		chromedp.Navigate(base+"/login?next=%2F"),
		chromedp.SendKeys(chromedp.CSS(`#login-user`), name),
		chromedp.SendKeys(chromedp.CSS(`#login-password`), password),
		chromedp.Submit(chromedp.CSS(`#login-password`)),
	)
	waitThroughNavigation(t, b, 10*time.Second, "dashboard live after logging in", `location.pathname === "/" && `+liveJS)
}

// TestE2ERefusedReconnectGoesToLogin: a dashboard whose socket was closed
// by a server restart reconnects; when its login ended meanwhile (the
// password was changed while the server was down), the reconnect is
// refused with 401, which a browser does not show a page: the page asks
// the server, gets 401 and goes to the login page instead of retrying
// forever.
func TestE2ERefusedReconnectGoesToLogin(t *testing.T) {
	b := newBrowser(t)
	data := filepath.Join(t.TempDir(), "data")
	const vpw = "vera's password 1"
	user := func(password string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runUserWith(t.Context(), append(args, "--password-stdin", "--data", data), strings.NewReader(password+"\n"), &out, &errOut); err != nil {
			t.Fatalf("tracker user %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	}
	user("root's password 1", "add", "root", "--admin")
	user(vpw, "add", "vera")
	s := startServer(t, data, "--tiles", "")
	base := "http://" + s.http
	loginInBrowser(t, b, base, "vera", vpw)
	_ = eval[bool](t, b, `(window.__dashboard = true)`)
	s.stop(t)
	b.mustWaitJS(t, 5*time.Second, "the page notices the server is gone", `document.getElementById("live-status").textContent.trim() !== "live"`)
	user("vera's new password 2", "passwd", "vera") // offline: the server is down
	again := &server{data: data, http: s.http, mqtt: freeAddr(t), stderr: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	again.cancel = cancel
	go func() {
		again.done <- run(ctx, []string{"serve", "--data", data, "--http", again.http, "--mqtt-listen", again.mqtt, "--tiles", ""}, &bytes.Buffer{}, again.stderr)
	}()
	t.Cleanup(func() { again.stop(t) })
	waitHealthy(t, base, again.done)
	up := time.Now()
	// The htmx ws extension retries with full-jitter backoff (random(0,
	// 2^n s)); the first refused retry sends the page to the login page.
	waitThroughNavigation(t, b, 20*time.Second, "the page goes to the login page once its reconnect is refused", onLoginJS)
	t.Logf("on the login page %v after the server was back", time.Since(up).Round(time.Millisecond))
	// Close the browser before the server stops: a socket Chromium opened
	// ahead of a request it may never send holds up http.Server.Shutdown.
	if err := chromedp.Cancel(b.ctx); err != nil {
		t.Logf("closing Chromium: %v", err)
	}
}
