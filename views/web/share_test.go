package web_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/projections"
	"tracker/static"
	"tracker/views/web"
)

// shareStack is the auth stack with share links served and a clock the
// test moves.
type shareStack struct {
	*authStack
	mu    sync.Mutex
	now   time.Time
	views string // the view counts' file
}

func (s *shareStack) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

func (s *shareStack) advance(d time.Duration) {
	s.mu.Lock()
	s.now = s.now.Add(d)
	s.mu.Unlock()
}

func newShareStack(t *testing.T) *shareStack {
	t.Helper()
	a := newAuthStack(t)
	ss := &shareStack{authStack: a, now: clockNow, views: filepath.Join(t.TempDir(), "share-views.json")}
	views, err := web.OpenShareViews(ss.views)
	if err != nil {
		t.Fatal(err)
	}
	d := a.site.Deps
	d.Auth = &web.Auth{Users: a.proj, Sessions: a.sessions, Logger: slog.New(slog.DiscardHandler), Now: ss.clock}
	d.Shares, d.ShareViews, d.Now, d.Assets = a.proj, views, ss.clock, static.New()
	d.Metrics = nil
	a.site = web.New(d)
	a.locked = httptest.NewServer(a.site.Routes())
	t.Cleanup(a.locked.Close)
	return ss
}

// call sends a JSON request as c (a logged-in client).
func shareCall(t *testing.T, c *http.Client, method, u, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// TestShareLinks: a viewer shares only their own devices (a friend they
// may not see is as unknown as one that does not exist); hostile inputs
// are refused; the link's page shows that friend and nobody else, with
// no-referrer, no-store and the CSP; its trail holds nothing from before
// the link; views are counted and saved outside the log; revocation and
// expiry answer 410 on the page, the trail and the stream; the token is
// in no event and no export.
func TestShareLinks(t *testing.T) {
	ss := newShareStack(t)
	base := ss.locked.URL
	alice, carol, root := client(), client(), client()
	for name, c := range map[string]*http.Client{"alice": alice, "carol": carol, "root": root} {
		if res := ss.login(t, c, name, pw); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %s: %s", name, res.Status)
		}
	}

	// Who may share whom.
	for _, tc := range []struct {
		name string
		c    *http.Client
		body string
		want int
	}{
		{"a viewer, another's device she sees", alice, `{"friend":"bob/tablet","for":"1h"}`, http.StatusForbidden},
		{"a viewer, a device hidden from her", carol, `{"friend":"alice/phone","for":"1h"}`, http.StatusNotFound},
		{"a viewer, a device that does not exist", carol, `{"friend":"nobody/phone","for":"1h"}`, http.StatusNotFound},
		{"a viewer, a device she sees but does not own", carol, `{"friend":"bob/tablet","for":"1h"}`, http.StatusForbidden},
		{"no friend", alice, `{"for":"1h"}`, http.StatusBadRequest},
		{"not user/device", alice, `{"friend":"alice","for":"1h"}`, http.StatusBadRequest},
		{"a third level", alice, `{"friend":"alice/phone/x","for":"1h"}`, http.StatusBadRequest},
		{"a wildcard", alice, `{"friend":"alice/#","for":"1h"}`, http.StatusBadRequest},
		{"a NUL", alice, `{"friend":"alice/phone\u0000","for":"1h"}`, http.StatusBadRequest},
		{"a long name", alice, `{"friend":"alice/` + strings.Repeat("p", 300) + `","for":"1h"}`, http.StatusBadRequest},
		{"too short", alice, `{"friend":"alice/phone","for":"10s"}`, http.StatusBadRequest},
		{"too long", alice, `{"friend":"alice/phone","for":"8d"}`, http.StatusBadRequest},
		{"negative", alice, `{"friend":"alice/phone","for":"-1h"}`, http.StatusBadRequest},
		{"garbage duration", alice, `{"friend":"alice/phone","for":"1h; rm -rf /"}`, http.StatusBadRequest},
		{"both", alice, `{"friend":"alice/phone","for":"1h","until":"2026-03-15T20:00:00Z"}`, http.StatusBadRequest},
		{"until in the past", alice, `{"friend":"alice/phone","until":"2020-01-01T00:00:00Z"}`, http.StatusBadRequest},
		{"until garbage", alice, `{"friend":"alice/phone","until":"tomorrow"}`, http.StatusBadRequest},
		{"unknown place", alice, `{"friend":"alice/phone","for":"1h","place":"Atlantis"}`, http.StatusBadRequest},
		{"another phone's region", alice, `{"friend":"alice/phone","for":"1h","place":"Office"}`, http.StatusBadRequest},
		{"not JSON", alice, `friend=alice/phone`, http.StatusBadRequest},
	} {
		if res, body := shareCall(t, tc.c, http.MethodPost, base+"/api/v1/shares", tc.body); res.StatusCode != tc.want {
			t.Errorf("%s: %s %s, want %d", tc.name, res.Status, body, tc.want)
		}
	}
	if res, body := shareCall(t, alice, http.MethodGet, base+"/api/v1/shares", ""); res.StatusCode != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("after refusals, alice's links: %s %s", res.Status, body)
	}

	// alice shares her phone until she gets home.
	res, body := shareCall(t, alice, http.MethodPost, base+"/api/v1/shares", `{"friend":"alice/phone","for":"1h","place":"Home"}`)
	var made web.ShareMade
	if err := json.Unmarshal([]byte(body), &made); err != nil || res.StatusCode != http.StatusCreated || made.Token == "" ||
		made.URL != base+"/s/"+made.Token || made.Link.Owner != "alice" || made.Link.Place != "Home" || !made.Link.Live || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("alice shares her phone: %s %s", res.Status, body)
	}
	link := base + "/s/" + made.Token

	// The page, as anybody: alice and nobody else, no area names.
	for range 2 {
		res, body = get(t, http.DefaultClient, link, "Accept", "text/html")
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET the link: %s", res.Status)
	}
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Frame-Options": "DENY"} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if !strings.Contains(body, "Alice Liddell") || !strings.Contains(body, `data-testid="share-map"`) || !strings.Contains(body, "2 views") {
		t.Errorf("the page does not show alice with 2 views:\n%s", body)
	}
	for _, leak := range []string{"bob", "tablet", "Office", "HQ", "Home", "carol", "root", "/live", "Log out", made.Link.ID} {
		if strings.Contains(body, leak) {
			t.Errorf("the share page holds %q", leak)
		}
	}
	// The trail holds nothing from before the link (alice's whole day is
	// before it); a fix after it is there, and no other friend's.
	_, tr := get(t, http.DefaultClient, link+"/track.json")
	if !strings.Contains(tr, `"points":[]`) {
		t.Errorf("trail before any fix since the link: %s", tr)
	}
	after := clockNow.Add(time.Minute)
	ss.appendAll(t,
		ev("owntracks/alice/phone", after, string(locationPayload("al", park, after.Unix()))),
		ev("owntracks/bob/tablet", after, string(locationPayload("bt", desk, after.Unix()))),
	)
	ss.advance(2 * time.Minute)
	_, tr = get(t, http.DefaultClient, link+"/track.json")
	var trail struct {
		Points []struct {
			Lat, Lon float64
			Tst      int64
		}
	}
	if err := json.Unmarshal([]byte(tr), &trail); err != nil || len(trail.Points) != 1 || trail.Points[0].Tst != after.Unix() || trail.Points[0].Lat != park.Lat {
		t.Errorf("trail after one fix: %s", tr)
	}

	// The stream: alice's position, then "end" when the link is revoked.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, link+"/stream", nil)
	sres, err := http.DefaultClient.Do(req)
	if err != nil || sres.StatusCode != 200 || sres.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("stream: %v %v", err, sres)
	}
	defer sres.Body.Close()
	sse := bufio.NewScanner(sres.Body)
	next := func() (string, string) {
		t.Helper()
		var event, data string
		for sse.Scan() {
			line := sse.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				data = line[len("data: "):]
			case line == "" && event != "":
				return event, data
			}
		}
		return "", ""
	}
	if e, _ := next(); e != "hello" {
		t.Fatalf("first message %q", e)
	}
	if e, d := next(); e != "fix" || !strings.Contains(d, `"tst":`+strconv.FormatInt(after.Unix(), 10)) || strings.Contains(d, "bob") {
		t.Fatalf("second message %q %s", e, d)
	}

	// Views are counted, listed, and saved outside the log.
	res, body = shareCall(t, alice, http.MethodGet, base+"/api/v1/shares", "")
	var list []web.ShareInfo
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 || list[0].Views != 2 || strings.Contains(body, "sha256") {
		t.Fatalf("alice's links: %s %s", res.Status, body)
	}
	if res, body := shareCall(t, carol, http.MethodGet, base+"/api/v1/shares", ""); strings.TrimSpace(body) != "[]" {
		t.Errorf("carol sees alice's links: %s %s", res.Status, body)
	}
	if res, _ := shareCall(t, carol, http.MethodDelete, base+"/api/v1/shares/"+made.Link.ID, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("carol revokes alice's link: %s, want 404", res.Status)
	}

	// Revoked: the open stream ends, and every address of the link is 410.
	if res, body := shareCall(t, alice, http.MethodDelete, base+"/api/v1/shares/"+made.Link.ID, ""); res.StatusCode != 200 || !strings.Contains(body, `"status":"revoked"`) {
		t.Fatalf("revoke: %s %s", res.Status, body)
	}
	ss.site.ShareChanges(&projections.Changes{Shares: map[string]bool{made.Link.ID: true}}) // what the projections' feed says in serve
	if e, d := next(); e != "end" || !strings.Contains(d, "revoked") {
		t.Errorf("after the revoke the stream said %q %s", e, d)
	}
	for _, p := range []string{"", "/track.json", "/stream"} {
		if res, _ := get(t, http.DefaultClient, link+p, "Accept", "text/html"); res.StatusCode != http.StatusGone {
			t.Errorf("revoked link%s: %s, want 410", p, res.Status)
		}
	}

	// Expired: 410 once its time has passed.
	_, body = shareCall(t, root, http.MethodPost, base+"/api/v1/shares", `{"friend":"bob/tablet","for":"15m"}`)
	var bob web.ShareMade
	if err := json.Unmarshal([]byte(body), &bob); err != nil || bob.Link.Owner != "root" {
		t.Fatalf("an admin shares bob: %s", body)
	}
	if res, body := get(t, http.DefaultClient, base+"/s/"+bob.Token); res.StatusCode != 200 || strings.Contains(body, "Alice") {
		t.Errorf("bob's link: %s", res.Status)
	}
	ss.advance(16 * time.Minute)
	for _, p := range []string{"", "/track.json", "/stream"} {
		if res, _ := get(t, http.DefaultClient, base+"/s/"+bob.Token+p); res.StatusCode != http.StatusGone {
			t.Errorf("expired link%s: %s, want 410", p, res.Status)
		}
	}

	// The token is in no event, no export, no saved count.
	if err := ss.site.RunShares(canceled()); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(ss.views)
	if err != nil || !strings.Contains(string(saved), made.Link.ID) {
		t.Errorf("saved counts: %v %s", err, saved)
	}
	res, gz := get(t, root, base+"/api/v1/export")
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	export := string(unzipped)
	if err != nil || res.StatusCode != 200 || !strings.Contains(export, projections.ShareTopic) {
		t.Fatalf("export: %s %v", res.Status, err)
	}
	if err := ss.log.Scan(t.Context(), 1, func(e events.Event) error {
		if strings.Contains(string(e.Payload), made.Token) || strings.Contains(string(e.Payload), bob.Token) {
			t.Errorf("event %d holds a token", e.Seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{made.Token, bob.Token} {
		if strings.Contains(export, tok) || strings.Contains(string(saved), tok) {
			t.Error("a token is in the export or the saved counts")
		}
	}
}

// TestShareTokenGuessesLimited: unknown and malformed tokens count per
// address; past the limit every token from that address is refused, a
// valid one too, while another address still gets through.
func TestShareTokenGuessesLimited(t *testing.T) {
	ss := newShareStack(t)
	base := ss.locked.URL
	alice := client()
	ss.login(t, alice, "alice", pw)
	_, body := shareCall(t, alice, http.MethodPost, base+"/api/v1/shares", `{"friend":"alice/phone","for":"1h"}`)
	var made web.ShareMade
	if err := json.Unmarshal([]byte(body), &made); err != nil || made.Token == "" {
		t.Fatalf("make a link: %s", body)
	}
	guess, _, _ := projections.NewShareToken()
	guess2, _, _ := projections.NewShareToken()
	for i, tok := range []string{guess, guess2, "short", strings.ToLower(made.Token), made.Token[:25] + "%2F", "../../etc/passwd"} {
		if res, _ := get(t, http.DefaultClient, base+"/s/"+tok); res.StatusCode != http.StatusNotFound {
			t.Errorf("guess %d (%q): %s, want 404", i, tok, res.Status)
		}
	}
	impatient := &http.Client{Timeout: 5 * time.Second} // a stream that opens would never end
	for _, p := range []string{"", "/stream", "/track.json"} {
		res, _ := get(t, impatient, base+"/s/"+made.Token+p)
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Errorf("the right token%s after 5 wrong ones: %s, want 429 with Retry-After", p, res.Status)
		}
	}
	ss.advance(6 * time.Minute) // the failures age out
	if res, _ := get(t, http.DefaultClient, base+"/s/"+made.Token); res.StatusCode != http.StatusOK {
		t.Errorf("after the window: %s, want 200", res.Status)
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestSharePage: /share offers a viewer her own devices only and an
// admin everyone; the form makes a link shown once (no-store), lists it
// with its views, and revokes it; a viewer cannot make one for another's
// device by posting the form by hand.
func TestSharePage(t *testing.T) {
	ss := newShareStack(t)
	base := ss.locked.URL
	alice, root := client(), client()
	ss.login(t, alice, "alice", pw)
	ss.login(t, root, "root", pw)
	res, body := get(t, alice, base+"/share?friend=alice/phone")
	if res.StatusCode != 200 || !strings.Contains(body, `value="alice/phone" selected`) || strings.Contains(body, `value="bob/tablet"`) {
		t.Fatalf("alice's /share: %s\n%s", res.Status, body)
	}
	if _, body := get(t, root, base+"/share"); !strings.Contains(body, `value="bob/tablet"`) || !strings.Contains(body, `value="alice/phone"`) {
		t.Error("root's /share does not offer every friend")
	}
	post := func(c *http.Client, path string, vals url.Values) (*http.Response, string) {
		t.Helper()
		res, err := c.PostForm(base+path, vals)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if res, body := post(alice, "/share", url.Values{"friend": {"bob/tablet"}, "for": {"1h"}}); res.StatusCode != http.StatusForbidden || !strings.Contains(body, `data-testid="share-error"`) {
		t.Errorf("alice shares bob by hand: %s", res.Status)
	}
	res, body = post(alice, "/share", url.Values{"friend": {"alice/phone"}, "for": {"1h"}, "until": {""}, "place": {""}})
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(body, `data-testid="share-url"`) {
		t.Fatalf("make a link from the page: %s\n%s", res.Status, body)
	}
	_, after, _ := strings.Cut(body, `data-testid="share-url" value="`)
	if !strings.HasPrefix(after, base+"/s/") {
		_, after, _ = strings.Cut(body, `value="`+base+"/s/")
		after = base + "/s/" + after
	}
	u, _, _ := strings.Cut(after, `"`)
	if res, _ := get(t, http.DefaultClient, u); res.StatusCode != 200 {
		t.Fatalf("the page's link %q: %s", u, res.Status)
	}
	_, body = get(t, alice, base+"/share")
	if strings.Contains(body, strings.TrimPrefix(u, base+"/s/")) {
		t.Error("the list shows the token again")
	}
	if !strings.Contains(body, `data-status="live"`) || !strings.Contains(body, "1 view") {
		t.Errorf("the list does not show the live link with its view:\n%s", body)
	}
	_, rest, _ := strings.Cut(body, `name="link" value="`)
	id, _, _ := strings.Cut(rest, `"`)
	if res, body := post(alice, "/share/revoke", url.Values{"link": {id}}); res.StatusCode != 200 || !strings.Contains(body, `data-status="revoked"`) {
		t.Errorf("revoke from the page: %s", res.Status)
	}
	if res, _ := get(t, http.DefaultClient, u); res.StatusCode != http.StatusGone {
		t.Errorf("after the page's revoke: %s, want 410", res.Status)
	}
}

// TestShareLinkRightsAndViews: a link stops (410) as soon as its maker
// may no longer share its friend (an admin made a viewer), and comes
// back if the right does; a thousand anonymous views are counted
// without one event in the log.
func TestShareLinkRightsAndViews(t *testing.T) {
	ss := newShareStack(t)
	base := ss.locked.URL
	root := client()
	ss.login(t, root, "root", pw)
	_, body := shareCall(t, root, http.MethodPost, base+"/api/v1/shares", `{"friend":"bob/tablet","for":"1h"}`)
	var made web.ShareMade
	if err := json.Unmarshal([]byte(body), &made); err != nil || made.Token == "" {
		t.Fatalf("root shares bob: %s", body)
	}
	link := base + "/s/" + made.Token

	head := ss.log.Head()
	const views = 1000
	start := time.Now()
	for range views {
		if res, _ := get(t, http.DefaultClient, link); res.StatusCode != http.StatusOK {
			t.Fatalf("view: %s", res.Status)
		}
	}
	if got := ss.log.Head(); got != head {
		t.Errorf("%d views appended %d events", views, got-head)
	}
	_, body = shareCall(t, root, http.MethodGet, base+"/api/v1/shares", "")
	if !strings.Contains(body, `"views":1000`) {
		t.Errorf("after %d views: %s", views, body)
	}
	t.Logf("%d anonymous views in %v (%.0f/s, one client): log head %d before and after", views, time.Since(start).Round(time.Millisecond),
		views/time.Since(start).Seconds(), head)

	ss.appendAll(t,
		userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "root2", Admin: true}),
		userEvent(t, projections.UserCommand{Action: projections.UserRole, Name: "root", Admin: false}),
	)
	if res, _ := get(t, http.DefaultClient, link); res.StatusCode != http.StatusGone {
		t.Errorf("the link of an admin made a viewer: %s, want 410", res.Status)
	}
	ss.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserRole, Name: "root", Admin: true}))
	if res, _ := get(t, http.DefaultClient, link); res.StatusCode != http.StatusOK {
		t.Errorf("the link of an admin again: %s, want 200", res.Status)
	}
	ss.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserRemove, Name: "root"}))
	if res, _ := get(t, http.DefaultClient, link); res.StatusCode != http.StatusGone {
		t.Errorf("the link of a removed user: %s, want 410", res.Status)
	}
}
