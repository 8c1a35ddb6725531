package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/eventstest"
)

// TestBrowserAdminUsers (issue 14, "What must be shown"): an admin adds a
// user on /admin/users and reads the generated password, shown once; the
// new user logs in (a second browser context, its own cookies) and keeps
// the dashboard open; the admin restricts the new user's sharing in the
// matrix; the open dashboard drops the hidden friend's row and marker
// without a reload, and keeps the one still shared. The new user, a
// viewer, sees no admin link and none of the page's controls (403).
func TestBrowserAdminUsers(t *testing.T) {
	b := newBrowser(t)
	data := filepath.Join(t.TempDir(), "data")
	const rootPW, seedPW = "root's password 1", "seed's password 1"
	var out, errOut bytes.Buffer
	if err := runUserWith(t.Context(), []string{"add", "root", "--admin", "--password-stdin", "--data", data}, strings.NewReader(rootPW+"\n"), &out, &errOut); err != nil {
		t.Fatalf("tracker user add root: %v\n%s", err, errOut.String())
	}
	s := startServer(t, data, "--tiles", "", "--mqtt-user", "seed:"+seedPW)
	base := "http://" + s.http
	seed := eventstest.Connect(t, s.mqtt, "admin-users-seed", func(o *paho.ClientOptions) { o.SetUsername("seed").SetPassword(seedPW) })
	now := time.Now().Unix()
	eventstest.Publish(t, seed, "owntracks/bob/phone/info", 1, false, []byte(`{"_type":"card","name":"Bobby Tables","tid":"BT"}`))
	publishLocation(t, seed, "bob/phone", location{Lat: parkLat, Lon: parkLon, Tst: now - 60, TID: "BT"})
	publishLocation(t, seed, "kim/phone", location{Lat: homeLat, Lon: homeLon, Tst: now - 30, TID: "KI"})

	// The admin adds nina with a generated password.
	loginInBrowser(t, b, base, "root", rootPW)
	b.do(t, 15*time.Second,
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-name"]`)),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="add-name"]`), "nina"),
		chromedp.Click(chromedp.CSS(`[data-testid="add-submit"]`)),
	)
	waitThroughNavigation(t, b, 10*time.Second, "the generated password is shown", `!!document.querySelector('[data-testid="new-password"]')`)
	password := eval[string](t, b, `document.querySelector('[data-testid="new-password"]').textContent`)
	if len(password) < 20 {
		t.Fatalf("generated password %q is too short", password)
	}
	if p := eval[string](t, b, `location.pathname`); p != "/admin/users" {
		t.Errorf("after the form the address is %s, want /admin/users (a reload must not send the form again)", p)
	}
	if row := eval[string](t, b, `document.querySelector('tr[data-user="nina"] [data-testid="role"]').textContent`); row != "viewer" {
		t.Errorf("nina's role on the page: %q, want viewer", row)
	}

	// Nina logs in in another browser context and keeps the dashboard open.
	nctx, closeNina := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	defer closeNina()
	if err := chromedp.Do(nctx); err != nil {
		t.Fatalf("second browser context: %v", err)
	}
	nina := &browser{ctx: nctx}
	loginInBrowser(t, nina, base, "nina", password)
	nina.mustWaitJS(t, 10*time.Second, "nina sees bob and kim", friendRowJS("bob/phone")+` && `+friendRowJS("kim/phone"))
	_ = eval[bool](t, nina, `(window.__stayed = true)`)

	// Nina, a viewer, has no admin link and gets 403 from the page.
	if n := eval[int](t, nina, `document.querySelectorAll('a[href^="/admin"], a[href="/log"]').length`); n != 0 {
		t.Errorf("nina's dashboard shows %d admin links", n)
	}

	// The admin restricts nina to kim in the matrix.
	b.do(t, 15*time.Second,
		chromedp.Navigate(base+"/admin/users"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-viewer="nina"] input.sees-everyone`)),
		chromedp.Click(chromedp.CSS(`tr[data-viewer="nina"] input.sees-everyone`)),
	)
	if dis := eval[bool](t, b, `document.querySelector('tr[data-viewer="nina"] input[data-owner="bob"]').disabled`); dis {
		t.Fatalf("bob's tick stays disabled after unticking Everybody")
	}
	changed := time.Now()
	b.do(t, 15*time.Second,
		chromedp.Click(chromedp.CSS(`tr[data-viewer="nina"] input[data-owner="bob"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="sharing-submit"]`)),
	)
	waitThroughNavigation(t, b, 10*time.Second, "the page says the sharing changed", `(document.querySelector('[data-testid="notice"]')||{}).textContent.includes("Sharing changed")`)
	if txt := eval[string](t, b, `document.querySelector('tr[data-user="nina"] [data-testid="sees-text"]').textContent`); txt != "own phones, kim, root" {
		t.Errorf("nina sees %q, want own phones, kim, root (every tick but bob)", txt)
	}

	// Nina's open dashboard drops bob, keeps kim, without a reload.
	took := nina.mustWaitJS(t, 5*time.Second, "bob leaves nina's open dashboard",
		`!`+friendRowJS("bob/phone")+` && !document.body.innerHTML.includes("Bobby") && !!`+friendRowJS("kim/phone"))
	t.Logf("bob left nina's open dashboard within %v of the admin's page answering (%v after the click on Save sharing)", took.Round(time.Millisecond), time.Since(changed).Round(time.Millisecond))
	shootAdminUsers(t, b)
	if !eval[bool](t, nina, `window.__stayed === true`) {
		t.Errorf("nina's dashboard reloaded")
	}
	// A position from bob now does not reach her either.
	publishLocation(t, seed, "bob/phone", location{Lat: parkLat + 0.001, Lon: parkLon, Tst: time.Now().Unix(), TID: "BT"})
	publishLocation(t, seed, "kim/phone", location{Lat: homeLat + 0.001, Lon: homeLon, Tst: time.Now().Unix(), TID: "KI"})
	nina.mustWaitJS(t, 5*time.Second, "kim's new position", markerJS("kim/phone")+` === `+jsString(latLon(homeLat+0.001, homeLon)))
	if eval[bool](t, nina, `!!`+friendRowJS("bob/phone")+` || document.body.innerHTML.includes("Bobby")`) {
		t.Errorf("bob's new position reached nina's dashboard")
	}

	// The users page for nina: 403, no forms.
	nina.do(t, 15*time.Second, chromedp.Navigate(base+"/admin/users"))
	nina.mustWaitJS(t, 5*time.Second, "403 page", `!!document.querySelector('[data-testid="error-page"][data-status="403"]')`)
	if n := eval[int](t, nina, `document.querySelectorAll('form[action^="/admin/"], [data-testid="sharing-matrix"]').length`); n != 0 {
		t.Errorf("nina's 403 page holds %d admin controls", n)
	}
	// Close the browser before the server stops (open sockets hold up
	// http.Server.Shutdown).
	closeNina()
	if err := chromedp.Cancel(b.ctx); err != nil {
		t.Logf("closing Chromium: %v", err)
	}
}

// shootAdminUsers saves the whole page as it is (a notice on top, a
// restricted row in the matrix) at phone and desktop width, light and
// dark, into testout/screenshots, for a person to look at.
func shootAdminUsers(t *testing.T, b *browser) {
	t.Helper()
	for _, w := range []int64{390, 1280} {
		var opts []chromedp.EmulateViewportOption
		if w <= 390 {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
		}
		b.do(t, 5*time.Second, chromedp.EmulateViewport(w, 800, opts...))
		for _, scheme := range []string{"light", "dark"} {
			b.do(t, 5*time.Second, setColorScheme(scheme))
			if msg := eval[string](t, b, widthJS(w)); msg != "" {
				t.Errorf("users page at %d px, %s: %s", w, scheme, msg)
			}
			png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			if err := os.WriteFile(filepath.Join(screenshotDir(t), fmt.Sprintf("admin-users-full-%d-%s.png", w, scheme)), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.do(t, 5*time.Second, setColorScheme(""), chromedp.EmulateViewport(1280, 800))
}
