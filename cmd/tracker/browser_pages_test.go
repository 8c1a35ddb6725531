package main

// Cross-page browser checks (issue 13, "What must be shown"): every page
// the web side serves as HTML, visited by a logged-in admin, a viewer and
// nobody, in one Chromium tab against one server with realistic data:
// axe-core finds no serious or critical violation, no page scrolls
// sideways at 360–1920 px in light or dark, everything is reachable with
// the keyboard and the dashboard's skip link leads to the friends list.
// With TRACKER_SCREENSHOTS=DIR it also saves each page at 390 and 1280 px,
// light and dark, into DIR (`go tool task screenshots`).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	paho "github.com/eclipse/paho.mqtt.golang"
	"tracker/events/eventstest"
)

// axeFile is axe-core, vendored for the tests only by
// testdata/axe/vendor.sh (`go tool task vendor-axe`).
const axeFile = "testdata/axe/axe.min.js"

// The fixture's people: an admin and a viewer who log in, and the
// service account the phones' messages come through.
const (
	pagesAdmin, pagesAdminPW   = "ada", "ada's password 1"
	pagesViewer, pagesViewerPW = "vic", "vic's password 1"
	pagesSeed, pagesSeedPW     = "seed", "seed's password 1"
	pagesZone                  = "Europe/Paris"
	homeLat, homeLon           = 48.8620, 2.3420
	// A name with no place to break, as long as a phone lets one be.
	unbrokenName = "Maximilianwolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaft"
	longArea     = "Wolfeschlegelsteinhausenbergerdorff-Gemeinschaftsgarten-Nordost-Eingang"
)

// pageWidths are the widths every page must fit, with the height of a
// typical screen of that width; up to 390 px they are emulated as phones.
var pageWidths = []struct{ width, height int64 }{
	{360, 740}, {390, 844}, {768, 1024}, {1280, 800}, {1920, 1080},
}

// pageCase is one page as one kind of visitor sees it.
type pageCase struct {
	name   string // also the screenshot's file name
	as     string // "", pagesViewer or pagesAdmin
	path   string
	status int
	// skip is the dashboard's: the first Tab focuses a skip link that
	// leads to the friends list.
	skip bool
	// failLogin: the page is what a failed login answers (a user name
	// nobody has, a different one each time, to stay under the limits).
	failLogin bool
	shot      bool // in README's screenshots
}

// knownExceptions are pages whose serious or critical axe violations are
// reported but do not fail the test yet, each with the reason. The goal
// is none.
var knownExceptions = map[string]string{}

// TestPages visits every page and checks accessibility (axe-core), width,
// and keyboard reach. One browser, one tab, one server for all of it.
func TestPages(t *testing.T) {
	axe, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatalf("read %s (run `go tool task vendor-axe`): %v", axeFile, err)
	}
	b := newBrowser(t)
	shots := os.Getenv("TRACKER_SCREENSHOTS")
	// The pictures in README show plain names; the checks run with
	// names that try to be markup too.
	f := startPagesFixture(t, shots == "")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b.do(t, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: pagesZone})
		return err
	}))

	now := f.now
	pages := []pageCase{
		{name: "login", path: "/login", status: 200, shot: true},
		{name: "login-failed", path: "/login", status: 200, failLogin: true},
		{name: "dashboard-viewer", as: pagesViewer, path: "/", status: 200, skip: true},
		{name: "403-log", as: pagesViewer, path: "/log", status: 403, shot: true},
		{name: "403-admin", as: pagesViewer, path: "/admin", status: 403},
		{name: "403-admin-users", as: pagesViewer, path: "/admin/users", status: 403},
		{name: "dashboard", as: pagesAdmin, path: "/", status: 200, skip: true, shot: true},
		{name: "areas", as: pagesAdmin, path: "/areas", status: 200, shot: true},
		{name: "history", as: pagesAdmin, path: historyURL("", "alice/phone", now.Add(-3*time.Hour), now.Add(time.Hour)), status: 200, shot: true},
		{name: "stats-picker", as: pagesViewer, path: "/stats", status: 200},
		{name: "stats-friend", as: pagesAdmin, path: "/stats/alice/phone?period=week", status: 200}, // browser_stats_test.go shoots it
		{name: "log", as: pagesAdmin, path: "/log", status: 200, shot: true},
		{name: "admin", as: pagesAdmin, path: "/admin", status: 200, shot: true},
		{name: "admin-devices", as: pagesAdmin, path: "/admin/devices", status: 200, shot: true},
		{name: "admin-users", as: pagesAdmin, path: "/admin/users", status: 200, shot: true},
		{name: "connect", as: pagesViewer, path: "/connect", status: 200},
		{name: "me", as: pagesViewer, path: "/me", status: 200},
		{name: "notifications", as: pagesViewer, path: "/me/notifications", status: 200},
		{name: "404", as: pagesAdmin, path: "/no/such/page", status: 404, shot: true},
		{name: "404-page", as: pagesAdmin, path: "/friends/nobody/phone", status: 404},
		{name: "405", as: pagesAdmin, path: "/logout", status: 405},
	}

	start := time.Now()
	var axeRuns, navigations int
	as := "-"
	failed := map[string][]string{} // page → what failed, for the summary
	for _, p := range pages {
		if p.as != as {
			f.loginBrowser(t, b, p.as)
			as = p.as
		}
		if code := f.status(t, p); code != p.status {
			t.Errorf("%s: GET %s as %q answered %d, want %d", p.name, p.path, p.as, code, p.status)
		}
		for _, sz := range pageWidths {
			f.visit(t, b, p, sz.width, sz.height)
			navigations++
			for _, scheme := range []string{"light", "dark"} {
				b.do(t, 5*time.Second, setColorScheme(scheme))
				settle(t, b)
				if msg := eval[string](t, b, widthJS(sz.width)); msg != "" {
					problem(t, p)("%s at %d px, %s: %s", p.name, sz.width, scheme, msg)
					failed[p.name] = append(failed[p.name], fmt.Sprintf("width %d %s", sz.width, scheme))
				}
				// axe at desktop width in light and at phone width in dark:
				// both layouts and both colour sets, at half the cost.
				if (sz.width == 1280 && scheme == "light") || (sz.width == 390 && scheme == "dark") {
					if n := checkAxe(t, b, axe, p, fmt.Sprintf("%d px, %s", sz.width, scheme)); n > 0 {
						failed[p.name] = append(failed[p.name], fmt.Sprintf("axe %d %s: %d", sz.width, scheme, n))
					}
					axeRuns++
				}
				if shots != "" && p.shot && (sz.width == 390 || sz.width == 1280) {
					screenshot(t, b, filepath.Join(shots, fmt.Sprintf("%s-%d-%s.png", p.name, sz.width, scheme)))
				}
			}
			if sz.width == 1280 { // last: tabbing moves the focus and scrolls
				b.do(t, 5*time.Second, setColorScheme("light"))
				checkKeyboard(t, b, p)
			}
		}
	}
	b.do(t, 5*time.Second, setColorScheme(""), chromedp.EmulateViewport(1280, 800))
	t.Logf("%d pages, %d navigations, %d axe runs in %v", len(pages), navigations, axeRuns, time.Since(start).Round(time.Millisecond))
	for name, why := range knownExceptions {
		if len(failed[name]) == 0 {
			t.Logf("known exception %q has no violations any more: take it out of knownExceptions", name)
		} else {
			t.Logf("known exception %q (%s): %s", name, why, strings.Join(failed[name], "; "))
		}
	}
}

// pagesFixture is a server with users, areas from the server and from
// phones, friends with cards, crossings, and long names; with hostile
// set, some names are markup.
type pagesFixture struct {
	s       *server
	base    string
	now     time.Time // the fixture's times are relative to this
	cookies map[string][]*http.Cookie
	// The names that are markup when hostile is set.
	area, region, card, tid string
}

func startPagesFixture(t *testing.T, hostile bool) *pagesFixture {
	t.Helper()
	f := &pagesFixture{now: time.Now().Truncate(time.Minute), cookies: map[string][]*http.Cookie{},
		area: "Musée d'Orsay", region: "Bob's home", card: "Bob", tid: "BO"}
	if hostile {
		f.area, f.region, f.card, f.tid = hostileArea, hostileRegion, hostileCard, hostileTID
	}
	data := filepath.Join(t.TempDir(), "data")
	user := func(password string, args ...string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runUserWith(t.Context(), append(args, "--password-stdin", "--data", data), strings.NewReader(password+"\n"), &out, &errOut); err != nil {
			t.Fatalf("tracker user %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
	}
	user(pagesAdminPW, "add", pagesAdmin, "--admin")
	user(pagesViewerPW, "add", pagesViewer)
	for _, a := range [][]string{
		{"Office", "--circle", fmt.Sprintf("%v,%v,200", officeLat, officeLon)},
		{"Jardin du Luxembourg", "--circle", fmt.Sprintf("%v,%v,300", parkLat, parkLon)},
		{"Home", "--circle", fmt.Sprintf("%v,%v,120", homeLat, homeLon)},
		{longArea, "--polygon", fmt.Sprintf("%v,%v %v,%v %v,%v", parkLat-0.004, parkLon-0.004, parkLat-0.004, parkLon+0.002, parkLat-0.001, parkLon)},
		{f.area, "--circle", fmt.Sprintf("%v,%v,150", officeLat+0.003, officeLon-0.004)},
	} {
		var out, errOut bytes.Buffer
		if err := run(t.Context(), []string{"area", "add", a[0], a[1], a[2], "--data", data}, &out, &errOut); err != nil {
			t.Fatalf("tracker area add %s: %v\n%s", a[0], err, errOut.String())
		}
	}
	s := startServer(t, data, "--tiles", "", "--mqtt-user", pagesSeed+":"+pagesSeedPW)
	f.s, f.base = s, "http://"+s.http
	c := eventstest.Connect(t, s.mqtt, "pages-seed", func(o *paho.ClientOptions) {
		o.SetUsername(pagesSeed).SetPassword(pagesSeedPW)
	})
	f.seed(t, c)
	for _, u := range []struct{ name, pw string }{{pagesAdmin, pagesAdminPW}, {pagesViewer, pagesViewerPW}} {
		f.cookies[u.name] = f.login(t, u.name, u.pw)
	}
	f.waitSeeded(t)
	return f
}

// seed publishes what a group of phones would send. The last message is
// max's position, so once max is a friend the rest is in the projections.
func (f *pagesFixture) seed(t *testing.T, c paho.Client) {
	t.Helper()
	now := f.now
	ago := func(d time.Duration) int64 { return now.Add(-d).Unix() }
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
	loc := func(id string, l location) { l.Type = "location"; pub("owntracks/"+id, l) }
	waypoint := func(id, desc, rid string, lat, lon float64, rad int) {
		pub("owntracks/"+id+"/waypoint", map[string]any{"_type": "waypoint", "desc": desc, "lat": lat, "lon": lon, "rad": rad, "tst": ago(48 * time.Hour), "rid": rid})
	}
	transition := func(id, event, desc, rid string, lat, lon float64, at time.Duration) {
		pub("owntracks/"+id+"/event", map[string]any{"_type": "transition", "event": event, "desc": desc, "rid": rid,
			"wtst": ago(48 * time.Hour), "tst": ago(at), "lat": lat, "lon": lon, "acc": 15, "t": "c"})
	}

	card("ada/phone", "Ada Lovelace", "AL")
	card("vic/phone", "Victor", "VH")
	card("alice/phone", "Alice Liddell", "al")
	card("bob/tablet", f.card, f.tid)
	card("zoe/phone", "Zoë Bartholomew-Featherstonehaugh-Wolfeschlegelsteinhausen", "ZB")
	card("dan/phone", "Boss", "BS")
	card("eve/phone", "Boss", "BS")
	card("max/phone", unbrokenName, "MW")

	// Home is defined by the server and by three phones, spelt three ways.
	waypoint("alice/phone", "Home", "ah1", homeLat, homeLon, 100)
	waypoint("zoe/phone", "home ", "zh1", homeLat, homeLon, 150)
	waypoint("max/phone", "HOME", "mh1", homeLat+0.0002, homeLon, 80)
	waypoint("bob/tablet", f.region, "bh1", parkLat+0.004, parkLon-0.006, 120)
	waypoint("bob/tablet", "Salle d'escalade de la Porte d'Italie (bloc et voies)", "bc1", parkLat-0.01, parkLon+0.01, 90)

	// Ada walks into the office over the last hour.
	for i := range 7 {
		fr := float64(i) / 6
		loc("ada/phone", location{Lat: parkLat + fr*(deskLat-parkLat), Lon: parkLon + fr*(deskLon-parkLon),
			Tst: ago(time.Duration(60-10*i) * time.Minute), Acc: 12, Batt: 81 - i, Vel: 4, T: "p"})
	}
	// Alice walks home from the park; her phone says so too.
	for i := range 10 {
		fr := float64(i) / 9
		loc("alice/phone", location{Lat: parkLat + fr*(homeLat-parkLat), Lon: parkLon + fr*(homeLon-parkLon),
			Tst: ago(time.Duration(120-12*i) * time.Minute), Acc: 15, Batt: 90 - i, Vel: 5, T: "p"})
	}
	transition("alice/phone", "enter", "Home", "ah1", homeLat, homeLon, 12*time.Minute)
	// Zoë is home, Max at home's edge; Victor in the park, low battery.
	loc("zoe/phone", location{Lat: homeLat + 0.0003, Lon: homeLon, Tst: ago(20 * time.Minute), Acc: 8, Batt: 64, T: "p"})
	transition("zoe/phone", "enter", "home ", "zh1", homeLat+0.0003, homeLon, 21*time.Minute)
	loc("vic/phone", location{Lat: parkLat + 0.0005, Lon: parkLon, Tst: ago(3 * time.Minute), Acc: 20, Batt: 8, Vel: 17, T: "p"})
	// Bob's tablet says it left a region its positions never left, then went offline.
	loc("bob/tablet", location{Lat: parkLat + 0.004, Lon: parkLon - 0.006, Tst: ago(3 * time.Hour), Acc: 30, Batt: 12, T: "p"})
	transition("bob/tablet", "leave", f.region, "bh1", parkLat+0.004, parkLon-0.006, 2*time.Hour)
	pub("owntracks/bob/tablet", map[string]any{"_type": "lwt", "tst": ago(2 * time.Hour)})
	// The two Bosses stand side by side at the office; Carl has no card and
	// has not been heard of for a day.
	loc("dan/phone", location{Lat: officeLat + 0.0001, Lon: officeLon, Tst: ago(5 * time.Minute), Acc: 10, Batt: 55, T: "p"})
	loc("eve/phone", location{Lat: officeLat, Lon: officeLon + 0.0001, Tst: ago(6 * time.Minute), Acc: 10, Batt: 97, T: "p"})
	loc("carl/phone", location{Lat: deskLat - 0.0003, Lon: deskLon + 0.0002, Tst: ago(26 * time.Hour), Acc: 20, Batt: 5, T: "p"})
	loc("max/phone", location{Lat: homeLat + 0.0009, Lon: homeLon + 0.0004, Tst: ago(40 * time.Minute), Acc: 25, Batt: 33, T: "p"})
}

// login logs in over HTTP and returns the session cookies.
func (f *pagesFixture) login(t *testing.T, name, password string) []*http.Cookie {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.PostForm(f.base+"/login", url.Values{"user": {name}, "password": {password}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) == 0 {
		t.Fatalf("log in as %s: %s, cookies %v", name, resp.Status, resp.Cookies())
	}
	return resp.Cookies()
}

// get requests path with as's cookies.
func (f *pagesFixture) get(t *testing.T, as, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.cookies[as] {
		req.AddCookie(c)
	}
	cl := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return cl.Do(req)
}

func (f *pagesFixture) status(t *testing.T, p pageCase) int {
	t.Helper()
	resp, err := f.get(t, p.as, p.path)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitSeeded waits until the projections hold max's position, the last
// message seeded.
func (f *pagesFixture) waitSeeded(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := f.get(t, pagesAdmin, "/api/v1/friends")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && bytes.Contains(body, []byte(`"max/phone"`)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server does not list max/phone within 10 s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loginBrowser gives the browser as's session cookie (none for ""), and
// the time zone cookie the page script would set.
func (f *pagesFixture) loginBrowser(t *testing.T, b *browser, as string) {
	t.Helper()
	b.do(t, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			return err
		}
		cookies := append([]*http.Cookie{{Name: "tz", Value: pagesZone}}, f.cookies[as]...)
		for _, c := range cookies {
			if _, err := cdp.Call(ctx, tg, network.SetCookie, network.SetCookieParams{
				Name: c.Name, Value: c.Value, URL: f.base + "/", HTTPOnly: &c.HttpOnly, SameSite: network.CookieSameSiteLax,
			}); err != nil {
				return fmt.Errorf("set cookie %s: %w", c.Name, err)
			}
		}
		return nil
	}))
}

// visit opens p at the given viewport and waits until it has settled:
// loaded, live when the page has a live connection, the map laid out.
func (f *pagesFixture) visit(t *testing.T, b *browser, p pageCase, width, height int64) {
	t.Helper()
	var opts []chromedp.EmulateViewportOption
	if width <= 390 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	b.do(t, 15*time.Second, chromedp.EmulateViewport(width, height, opts...), setColorScheme("light"), chromedp.Navigate(f.base+p.path))
	if p.failLogin {
		b.do(t, 15*time.Second,
			chromedp.SendKeys(chromedp.CSS(`#login-user`), fmt.Sprintf("nobody%d", width)),
			chromedp.SendKeys(chromedp.CSS(`#login-password`), "not the password"),
			chromedp.Submit(chromedp.CSS(`#login-password`)),
		)
		waitThroughNavigation(t, b, 10*time.Second, "the login page says why", `!!document.querySelector('[data-testid="login-error"]')`)
	}
	if got := eval[string](t, b, `location.pathname`); !strings.HasPrefix(p.path, got) {
		t.Fatalf("%s: the browser is on %s, want %s", p.name, got, p.path)
	}
	b.mustWaitJS(t, 10*time.Second, p.name+" settled", `document.readyState === "complete" &&
		(!document.querySelector("[ws-connect]") || `+liveJS+`)`)
	// Leaflet fits its view with an animation.
	if eval[bool](t, b, `!!document.querySelector(".leaflet-container")`) {
		b.do(t, 5*time.Second, chromedp.Sleep(300*time.Millisecond))
	}
}

// settle waits two frames: style and layout after an emulation change.
func settle(t *testing.T, b *browser) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(function(ok){requestAnimationFrame(function(){requestAnimationFrame(function(){ok(true)})})})`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("wait for a frame: %v", err)
	}
}

// widthJS says why the page is wider than the viewport ("" when it fits):
// scrollWidth ≤ innerWidth, and ≤ clientWidth (no sideways scrollbar).
func widthJS(want int64) string {
	return fmt.Sprintf(`(function(){
	var d = document.documentElement, w = Math.min(innerWidth, d.clientWidth);
	if (innerWidth !== %d) return "innerWidth is " + innerWidth + ", not the emulated %d (the page was zoomed out to fit)";
	if (d.scrollWidth <= w) return "";
	var out = [];
	document.querySelectorAll("body *").forEach(function(el){
		var r = el.getBoundingClientRect();
		if (r.right > w + 1 && r.width > 0 && out.length < 8) {
			var c = typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\s+/).join(".") : "";
			out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + c + " (right " + Math.round(r.right) + ")");
		}
	});
	return "scrollWidth " + d.scrollWidth + " > innerWidth " + innerWidth + " / clientWidth " + d.clientWidth + "; too wide: " + out.join(", ");
})()`, want, want)
}

// axeViolation is what axe reports of one rule.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// checkAxe injects axe-core into the page, runs every rule, and reports
// each serious or critical violation (an error, or a log line for a known
// exception). It returns how many there were.
func checkAxe(t *testing.T, b *browser, axe []byte, p pageCase, where string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	// Runtime.evaluate is not bound by the page's Content-Security-Policy.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === "object" || (function(){`+string(axe)+"\n;return true})()", chromedp.EvalIgnoreExceptions)); err != nil {
		t.Fatalf("inject axe: %v", err)
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ["violations"]}).then(function(r){return r.violations})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", p.name, err)
	}
	n := 0
	report := problem(t, p)
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			t.Logf("%s (%s): axe %s (%s): %s, %d elements", p.name, where, v.ID, v.Impact, v.Help, len(v.Nodes))
			continue
		}
		n++
		var sb strings.Builder
		for i, node := range v.Nodes {
			if i == 5 {
				fmt.Fprintf(&sb, "\n    … and %d more", len(v.Nodes)-5)
				break
			}
			fmt.Fprintf(&sb, "\n    %v: %s\n      %s", node.Target, truncate(node.HTML, 200), strings.ReplaceAll(node.Summary, "\n", "\n      "))
		}
		report("%s (%s, %s): axe %s [%s] %s\n  %s%s", p.name, p.path, where, v.ID, v.Impact, v.Help, v.HelpURL, sb.String())
	}
	return n
}

// problem is how a failure on p is reported: an error, or a log line
// when p is a known exception.
func problem(t *testing.T, p pageCase) func(format string, args ...any) {
	if why, ok := knownExceptions[p.name]; ok {
		return func(format string, args ...any) { t.Logf("known exception ("+why+"): "+format, args...) }
	}
	return t.Errorf
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// checkKeyboard tabs through the page from its top: every visible control
// (links, buttons, inputs, map markers, anything with a tabindex) gets the
// focus on the way, and shows it. On the dashboard the first Tab focuses a skip link
// whose Enter moves the focus to the friends list.
func checkKeyboard(t *testing.T, b *browser, p pageCase) {
	t.Helper()
	// The controls a keyboard user must reach; the active element now.
	const mark = `(function(){
		var sel = 'a[href], button:not([disabled]), input:not([type="hidden"]):not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"]), .leaflet-marker-icon.leaflet-interactive';
		window.__kb = Array.from(document.querySelectorAll(sel)).filter(function(el){
			return el.checkVisibility({checkVisibilityCSS: true}) && !el.closest("[inert]");
		});
		if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
		return window.__kb.length;
	})()`
	// The active element's index, and whether it shows that it has the
	// focus: an outline or a shadow on it or on what it is drawn with (a
	// map marker rings its disc).
	const active = `(function(){var a = document.activeElement; if (!a) return {I: -2};
		var ring = [a].concat(Array.from(a.querySelectorAll("*")).slice(0, 4)).some(function(el){
			var cs = getComputedStyle(el);
			return (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) || cs.boxShadow !== "none";
		});
		return {I: window.__kb.indexOf(a), Ring: ring}})()`
	type focus struct {
		I    int
		Ring bool
	}
	const describe = `(function(i){var el = window.__kb[i]; return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
		(el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "") +
		" “" + (el.textContent || el.value || el.getAttribute("aria-label") || el.title || "").trim().slice(0, 40) + "”"})`
	n := eval[int](t, b, mark)
	tab := func() focus {
		t.Helper()
		b.do(t, 5*time.Second, chromedp.KeyEvent(kb.Tab))
		return eval[focus](t, b, active)
	}

	if p.skip {
		tab()
		skip := eval[struct {
			Ok     bool
			Href   string
			Text   string
			Active string
		}](t, b, `(function(){var a = document.activeElement;
			return {Ok: a && a.tagName === "A" && (a.getAttribute("href") || "").charAt(0) === "#", Href: a && a.getAttribute("href") || "",
			        Text: a ? a.textContent.trim() : "", Active: a ? a.outerHTML.slice(0, 120) : ""}})()`)
		if !skip.Ok {
			t.Errorf("%s: the first Tab focuses %s, want a skip link", p.name, skip.Active)
		} else {
			if !eval[bool](t, b, `(function(){var a = document.activeElement, r = a.getBoundingClientRect();
				return r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight})()`) {
				t.Errorf("%s: the focused skip link %q is not on screen", p.name, skip.Text)
			}
			b.do(t, 5*time.Second, chromedp.KeyEvent(kb.Enter))
			settle(t, b)
			got := eval[struct {
				Target  bool
				Friends int
				Active  string
			}](t, b, `(function(){var a = document.activeElement, target = document.getElementById(`+jsString(strings.TrimPrefix(skip.Href, "#"))+`);
				return {Target: !!target && a === target, Friends: a ? a.querySelectorAll('[data-testid="friend"]').length : 0,
				        Active: a ? a.outerHTML.slice(0, 120) : "none"}})()`)
			if !got.Target || got.Friends == 0 {
				t.Errorf("%s: after Enter on the skip link %q (%s) the focus is on %s (%d friend rows inside), want the friends list",
					p.name, skip.Text, skip.Href, got.Active, got.Friends)
			}
		}
		n = eval[int](t, b, mark) // and from the top again
	}

	reached := make([]bool, n)
	var noRing []string
	firstIdx, count := -3, 0
	for presses := 0; presses < 2*n+10; presses++ {
		f := tab()
		i := f.I
		if i >= 0 {
			if !f.Ring && !reached[i] {
				noRing = append(noRing, eval[string](t, b, fmt.Sprintf("%s(%d)", describe, i)))
			}
			if i == firstIdx {
				break // round the page once
			}
			if firstIdx == -3 {
				firstIdx = i
			}
			if !reached[i] {
				count++
			}
			reached[i] = true
		}
		if count == n {
			break
		}
	}
	var missed []string
	for i, ok := range reached {
		if !ok {
			missed = append(missed, eval[string](t, b, fmt.Sprintf("%s(%d)", describe, i)))
		}
	}
	if len(missed) > 0 {
		t.Errorf("%s: %d of %d controls are not reached with Tab: %s", p.name, len(missed), n, strings.Join(missed[:min(len(missed), 10)], ", "))
	} else {
		t.Logf("%s: Tab reaches all %d controls", p.name, n)
	}
	if len(noRing) > 0 {
		t.Errorf("%s: %d controls show no outline or shadow when Tab focuses them: %s", p.name, len(noRing), strings.Join(noRing[:min(len(noRing), 10)], ", "))
	}
}

// screenshot saves the viewport as PNG at device scale 1.
func screenshot(t *testing.T, b *browser, path string) {
	t.Helper()
	// No caret or focus ring in the pictures: they would differ per run.
	_ = eval[bool](t, b, `(function(){if (document.activeElement) document.activeElement.blur(); return true})()`)
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
