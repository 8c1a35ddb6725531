package main

import (
	"bytes"
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

	login := func() {
		t.Helper()
		b.do(t, 15*time.Second,
			chromedp.Navigate(base+"/login?next=%2F"),
			chromedp.SendKeys(chromedp.CSS(`#login-user`), "vera"),
			chromedp.SendKeys(chromedp.CSS(`#login-password`), vpw),
			chromedp.Submit(chromedp.CSS(`#login-password`)),
		)
		waitThroughNavigation(t, b, 10*time.Second, "dashboard live after logging in", `location.pathname === "/" && `+liveJS)
		b.mustWaitJS(t, 5*time.Second, "vera's row", friendRowJS("vera/phone")+` !== null`)
	}
	const onLogin = `location.pathname === "/login" && !!document.getElementById("login-password")`

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
	waitThroughNavigation(t, b, 3*time.Second, "the first tab goes to the login page after a logout in another", onLogin)
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
	waitThroughNavigation(t, b, 3*time.Second, "the dashboard goes to the login page after a password change", onLogin)
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
