package main

import (
	"context"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"
)

// TestBrowserWebPush: in a real Chromium, /me/notifications' control
// registers /sw.js with scope / (served as JavaScript under our CSP) and
// offers to enable this browser; a push message delivered to that
// registration (through DevTools: headless Chromium has no push service,
// so PushManager.subscribe cannot succeed here) is shown as a
// notification with the pushed title, body and tag; a url on another
// site is not kept.
func TestBrowserWebPush(t *testing.T) {
	b := newBrowser(t)
	f := newConnectFixture(t)
	loginInBrowser(t, b, f.base, "vera", veraPW)

	regs := make(chan *serviceworker.Registration, 8)
	if err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range e.Registrations {
				if !r.IsDeleted {
					regs <- r
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	b.do(t, 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, serviceworker.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: f.base})
		return err
	}))

	// The page's own control (views/pushenable.templ, push.js) registers
	// the worker and says what this browser gets.
	b.do(t, 10*time.Second, chromedp.Navigate(f.base+"/me/notifications"))
	b.mustWaitJS(t, 30*time.Second, "the control says this browser is not subscribed",
		`(document.querySelector('[data-testid="push-status"]')||{}).textContent === "This browser does not get your notifications."`)
	if !eval[bool](t, b, `!document.querySelector('[data-testid="push-on"]').hidden`) {
		t.Fatal("the Enable button is hidden")
	}
	_ = eval[bool](t, b, `(window.__sw = null, navigator.serviceWorker.getRegistration('/').then((r) => { window.__sw = r ? r.scope : 'none'; }), true)`)
	b.mustWaitJS(t, 20*time.Second, "service worker registered", `window.__sw !== null`)
	if scope := eval[string](t, b, `window.__sw`); scope != f.base+"/" {
		t.Fatalf("service worker scope %q, want %s/", scope, f.base)
	}
	var reg *serviceworker.Registration
	select {
	case reg = <-regs:
	case <-time.After(10 * time.Second):
		t.Fatal("DevTools reported no service worker registration")
	}
	if reg.ScopeURL != f.base+"/" {
		t.Fatalf("registration scope %q", reg.ScopeURL)
	}
	// The worker takes a push once it is active: wait for that, then
	// deliver (again, should a loaded machine have dropped one: the tag
	// makes repeats one notification).
	b.mustWaitJS(t, 20*time.Second, "the worker is active",
		`navigator.serviceWorker.ready.then((r) => !!r.active && r.active.state === "activated")`)
	const shownJS = `(window.__n = null, navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => {
		window.__n = ns.map((n) => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url}));
	}), true) && new Promise((ok) => setTimeout(ok, 50)).then(() => window.__n && window.__n.length > 0)`
	shownOK := false
	for try := 0; try < 3 && !shownOK; try++ {
		b.do(t, 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
				Origin: f.base, RegistrationID: reg.RegistrationID,
				Data: `{"title":"tracker: Ben","body":"Ben arrived at Home","url":"https://evil.example/","tag":"r1-42"}`})
			return err
		}))
		_, shownOK = b.waitJS(time.Now().Add(10*time.Second), shownJS)
	}
	if !shownOK {
		t.Fatalf("the pushed notification was not shown after 3 deliveries\npage text:\n%s", b.pageText(t))
	}
	type shown struct{ Title, Body, Tag, URL string }
	got := eval[[]shown](t, b, `window.__n`)
	if len(got) != 1 || got[0].Title != "tracker: Ben" || got[0].Body != "Ben arrived at Home" || got[0].Tag != "r1-42" || got[0].URL != f.base+"/" {
		t.Errorf("notifications shown: %+v; want Ben's, opening this site (not evil.example)", got)
	}

	// Enable: headless Chromium has no push service, so subscribing fails
	// and the control says so (with a push service, the subscription
	// would be posted: TestPushSubscriptionsAPI covers that request).
	b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="push-on"]`)))
	b.mustWaitJS(t, 30*time.Second, "the control answers the click",
		`/^(Could not enable notifications|This browser gets your notifications)/.test(document.querySelector('[data-testid="push-status"]').textContent)`)
	t.Logf("Enable in headless Chromium (PushManager present: %v): %s", eval[bool](t, b, `'PushManager' in window`),
		eval[string](t, b, `document.querySelector('[data-testid="push-status"]').textContent`))
}
