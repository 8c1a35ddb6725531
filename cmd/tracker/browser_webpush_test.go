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

// TestBrowserServiceWorker: in a real Chromium the page registers
// /sw.js with scope / (served as JavaScript under our CSP), and a push
// message delivered to that registration (through DevTools: headless
// Chromium has no push service to subscribe to, so PushManager.subscribe
// cannot be tested here) is shown as a notification with the pushed
// title and body; a url on another site is not kept.
func TestBrowserServiceWorker(t *testing.T) {
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

	b.do(t, 10*time.Second, chromedp.Navigate(f.base+"/me"))
	_ = eval[bool](t, b, `(window.__sw = null, navigator.serviceWorker.register('/sw.js', {scope: '/'}).then(
		() => navigator.serviceWorker.ready).then((r) => { window.__sw = r.scope; }, (e) => { window.__sw = 'error: ' + e.message; }), true)`)
	b.mustWaitJS(t, 10*time.Second, "service worker registered", `window.__sw !== null`)
	if scope := eval[string](t, b, `window.__sw`); scope != f.base+"/" {
		t.Fatalf("service worker scope %q, want %s/", scope, f.base)
	}
	t.Logf("PushManager in headless Chromium: %v", eval[bool](t, b, `'PushManager' in window`))

	var reg *serviceworker.Registration
	select {
	case reg = <-regs:
	case <-time.After(10 * time.Second):
		t.Fatal("DevTools reported no service worker registration")
	}
	if reg.ScopeURL != f.base+"/" {
		t.Fatalf("registration scope %q", reg.ScopeURL)
	}
	b.do(t, 10*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
			Origin: f.base, RegistrationID: reg.RegistrationID,
			Data: `{"title":"tracker: Ben","body":"Ben arrived at Home","url":"https://evil.example/","tag":"r1-42"}`})
		return err
	}))
	b.mustWaitJS(t, 10*time.Second, "the pushed notification is shown", `(window.__n = null, navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => {
		window.__n = ns.map((n) => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url}));
	}), true) && new Promise((ok) => setTimeout(ok, 50)).then(() => window.__n && window.__n.length > 0)`)
	type shown struct{ Title, Body, Tag, URL string }
	got := eval[[]shown](t, b, `window.__n`)
	if len(got) != 1 || got[0].Title != "tracker: Ben" || got[0].Body != "Ben arrived at Home" || got[0].Tag != "r1-42" || got[0].URL != f.base+"/" {
		t.Errorf("notifications shown: %+v; want Ben's, opening this site (not evil.example)", got)
	}
}
