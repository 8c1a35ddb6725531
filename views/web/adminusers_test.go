package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tracker/events"
	"tracker/projections"
)

// adminRoutes are the users page and its forms.
var adminRoutes = []struct{ method, path string }{
	{"GET", "/admin/users"},
	{"POST", "/admin/users/add"}, {"POST", "/admin/users/passwd"}, {"POST", "/admin/users/role"},
	{"POST", "/admin/users/remove"}, {"POST", "/admin/users/share"},
}

// The users page's routes are covered here (TestRoutesCovered).
func init() {
	routesTestedElsewhere["GET /admin/users"] = "TestAdminUsersRoles"
	routesTestedElsewhere["POST /admin/users/add"] = "TestAdminUsersActions"
	routesTestedElsewhere["POST /admin/users/passwd"] = "TestAdminUsersActions"
	routesTestedElsewhere["POST /admin/users/role"] = "TestAdminUsersActions"
	routesTestedElsewhere["POST /admin/users/remove"] = "TestAdminUsersActions"
	routesTestedElsewhere["POST /admin/users/share"] = "TestSharingMatrixLive"
}

// postForm posts a form as a page of this site would (same origin).
func postForm(t *testing.T, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	return doReq(t, c, req)
}

func doReq(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return res, b.String()
}

// userEvents counts the user events in the log.
func (a *authStack) userEvents(t *testing.T, topic string) int {
	t.Helper()
	n := 0
	err := a.log.Scan(t.Context(), 1, func(e events.Event) error {
		if e.Topic == topic {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var issueRe = regexp.MustCompile(`name="issue" value="([0-9a-f]{32})"`)

// pageIssue loads the users page as c and returns its forms' identity.
func (a *authStack) pageIssue(t *testing.T, c *http.Client) string {
	t.Helper()
	res, body := get(t, c, a.locked.URL+"/admin/users", "Accept", "text/html")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("users page: %s", res.Status)
	}
	m := issueRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("users page has no form identity")
	}
	return m[1]
}

// TestAdminUsersRoles: only admins reach the page and its forms; a
// viewer gets 403 from each (logged in, and with HTTP Basic), nothing is
// recorded, and the viewer's pages show no admin links or controls.
func TestAdminUsersRoles(t *testing.T) {
	a := newAuthStack(t)
	viewer := client()
	a.login(t, viewer, "alice", pw)
	admin := client()
	a.login(t, admin, "root", pw)
	head := a.log.Head()
	form := url.Values{"name": {"carol"}, "role": {"admin"}, "password": {"a new password"}, "row": {"carol"}, "everyone": {"carol"}}
	for _, r := range adminRoutes {
		for _, how := range []string{"session", "basic"} {
			req, _ := http.NewRequest(r.method, a.locked.URL+r.path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Accept", "text/html")
			c := viewer
			if how == "basic" {
				c = client()
				req.Header.Set("Authorization", basic("alice"))
			}
			res, body := doReq(t, c, req)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("viewer (%s) %s %s: %s, want 403", how, r.method, r.path, res.Status)
			}
			if strings.Contains(body, "/admin/users/") {
				t.Errorf("viewer (%s) %s %s: the answer shows admin forms", how, r.method, r.path)
			}
		}
	}
	if got := a.log.Head(); got != head {
		t.Errorf("viewers' posts recorded %d events", got-head)
	}
	for _, path := range []string{"/", "/areas", "/friends/bob/tablet"} {
		_, body := get(t, viewer, a.locked.URL+path, "Accept", "text/html")
		if strings.Contains(body, `href="/admin`) || strings.Contains(body, `href="/log"`) {
			t.Errorf("viewer's %s links to admin pages", path)
		}
		_, body = get(t, admin, a.locked.URL+path, "Accept", "text/html")
		if !strings.Contains(body, `href="/admin"`) {
			t.Errorf("admin's %s has no link to the admin pages", path)
		}
	}
	// The admin pages' tabs lead to the users page.
	if _, body := get(t, admin, a.locked.URL+"/admin", "Accept", "text/html"); !strings.Contains(body, `href="/admin/users"`) {
		t.Error("the admin page has no link to the users page")
	}
	res, body := get(t, admin, a.locked.URL+"/admin/users", "Accept", "text/html")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="sharing-matrix"`) || !strings.Contains(body, `action="/admin/users/add"`) {
		t.Fatalf("admin's users page: %s", res.Status)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("users page Cache-Control %q, want no-store (it may carry a password)", res.Header.Get("Cache-Control"))
	}
}

// TestAdminUsersCrossOrigin: a page on another site cannot post the
// forms with the admin's cookie.
func TestAdminUsersCrossOrigin(t *testing.T) {
	a := newAuthStack(t)
	admin := client()
	a.login(t, admin, "root", pw)
	issue := a.pageIssue(t, admin)
	head := a.log.Head()
	for _, r := range adminRoutes[1:] {
		for _, h := range [][2]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}} {
			form := url.Values{"issue": {issue}, "name": {"mallory"}, "role": {"admin"}, "password": {"mallory's password"}}
			req, _ := http.NewRequest(http.MethodPost, a.locked.URL+r.path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(h[0], h[1])
			if res, _ := doReq(t, admin, req); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s with %s: %s, want 403", r.path, h[0], res.Status)
			}
		}
	}
	if got := a.log.Head(); got != head {
		t.Errorf("cross-origin posts recorded %d events", got-head)
	}
}

// TestAdminUsersActions: add with a generated password (shown once, and
// it works), add with a typed one, reset, change role, remove; each is
// one user event, as `tracker user` makes.
func TestAdminUsersActions(t *testing.T) {
	a := newAuthStack(t)
	admin := client()
	a.login(t, admin, "root", pw)
	before := a.userEvents(t, projections.UserTopic)

	res, body := postForm(t, admin, a.locked.URL+"/admin/users/add", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"dave"}, "role": {"viewer"}})
	m := regexp.MustCompile(`data-testid="new-password">([^<]+)<`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("add dave: %s, generated password shown: %v", res.Status, m != nil)
	}
	generated := html.UnescapeString(m[1])
	if c := client(); a.login(t, c, "dave", generated).StatusCode != http.StatusSeeOther {
		t.Errorf("dave cannot log in with the generated password")
	}
	if _, body := get(t, admin, a.locked.URL+"/admin/users", "Accept", "text/html"); strings.Contains(body, generated) {
		t.Errorf("the generated password is shown again")
	}
	// Typed password, admin role.
	res, _ = postForm(t, admin, a.locked.URL+"/admin/users/add", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"erin"}, "role": {"admin"}, "password": {"erin's password"}})
	if u, ok := a.proj.User("erin"); res.StatusCode != http.StatusOK || !ok || !u.Admin || !u.CheckPassword("erin's password") {
		t.Fatalf("add erin: %s, user %+v", res.Status, u)
	}
	// Adding a name that exists does not replace the user.
	res, body = postForm(t, admin, a.locked.URL+"/admin/users/add", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"erin"}, "password": {"another password"}})
	if u, _ := a.proj.User("erin"); res.StatusCode != http.StatusConflict || !u.CheckPassword("erin's password") || !strings.Contains(body, "exists already") {
		t.Errorf("add an existing user: %s", res.Status)
	}
	// A too-short password is refused with the reason; the form keeps the name.
	res, body = postForm(t, admin, a.locked.URL+"/admin/users/add", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"frank"}, "password": {"short"}})
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "too short") || !strings.Contains(body, `value="frank"`) {
		t.Errorf("short password: %s", res.Status)
	}
	// Reset (generated): old sessions end, the new password works.
	dave := client()
	a.login(t, dave, "dave", generated)
	res, body = postForm(t, admin, a.locked.URL+"/admin/users/passwd", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"dave"}})
	m = regexp.MustCompile(`data-testid="new-password">([^<]+)<`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("reset dave: %s", res.Status)
	}
	if res, _ := get(t, dave, a.locked.URL+"/api/v1/friends"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("dave's session after the reset: %s, want 401", res.Status)
	}
	if a.login(t, client(), "dave", html.UnescapeString(m[1])).StatusCode != http.StatusSeeOther {
		t.Errorf("dave cannot log in with the reset password")
	}
	// Role: dave becomes admin without losing his session.
	dave = client()
	a.login(t, dave, "dave", html.UnescapeString(m[1]))
	res, _ = postForm(t, admin, a.locked.URL+"/admin/users/role", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"dave"}, "role": {"admin"}})
	if u, _ := a.proj.User("dave"); res.StatusCode != http.StatusOK || !u.Admin {
		t.Fatalf("make dave admin: %s", res.Status)
	}
	if res, _ := get(t, dave, a.locked.URL+"/admin/users", "Accept", "text/html"); res.StatusCode != http.StatusOK {
		t.Errorf("dave (now admin, same session) on the users page: %s", res.Status)
	}
	if res, _ := postForm(t, admin, a.locked.URL+"/admin/users/role", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"dave"}, "role": {"viewer"}}); res.StatusCode != http.StatusOK {
		t.Fatalf("make dave a viewer: %s", res.Status)
	}
	if res, _ := get(t, dave, a.locked.URL+"/admin/users", "Accept", "text/html"); res.StatusCode != http.StatusForbidden {
		t.Errorf("dave (viewer again) on the users page: %s, want 403", res.Status)
	}
	// Remove.
	res, _ = postForm(t, admin, a.locked.URL+"/admin/users/remove", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"dave"}})
	if _, ok := a.proj.User("dave"); res.StatusCode != http.StatusOK || ok {
		t.Errorf("remove dave: %s, still there: %v", res.Status, ok)
	}
	if res, _ := get(t, dave, a.locked.URL+"/api/v1/friends"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("removed dave's session: %s, want 401", res.Status)
	}
	// Unknown user.
	if res, _ := postForm(t, admin, a.locked.URL+"/admin/users/remove", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"nobody"}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("remove nobody: %s, want 404", res.Status)
	}
	// add dave, add erin, reset dave, dave admin, dave viewer, remove dave.
	if got := a.userEvents(t, projections.UserTopic) - before; got != 6 {
		t.Errorf("%d user events, want 6 (one per change)", got)
	}
}

// TestAdminUsersLastAdmin: the last admin can be neither removed nor made
// a viewer, from the page or the API; and of two concurrent removals of
// the last two admins, exactly one passes.
func TestAdminUsersLastAdmin(t *testing.T) {
	a := newAuthStack(t)
	admin := client()
	a.login(t, admin, "root", pw)
	for _, f := range []struct{ path, role string }{{"/admin/users/remove", ""}, {"/admin/users/role", "viewer"}} {
		res, body := postForm(t, admin, a.locked.URL+f.path, url.Values{"issue": {a.pageIssue(t, admin)}, "name": {"root"}, "role": {f.role}})
		if res.StatusCode != http.StatusConflict || !strings.Contains(body, "last admin") {
			t.Errorf("%s root: %s, want 409 saying why", f.path, res.Status)
		}
	}
	if u, ok := a.proj.User("root"); !ok || !u.Admin {
		t.Fatalf("root is no longer an admin")
	}
	for round := range 5 {
		// Two admins, removed at once, through the page and the API.
		name := fmt.Sprintf("boss%d", round)
		a.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: name, Admin: true}))
		var wg sync.WaitGroup
		codes := make([]int, 2)
		wg.Go(func() {
			res, _ := postForm(t, admin, a.locked.URL+"/admin/users/remove", url.Values{"name": {"root"}})
			codes[0] = res.StatusCode
		})
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, a.locked.URL+"/api/v1/users", strings.NewReader(fmt.Sprintf(`{"action":"remove","name":%q}`, name)))
			req.Header.Set("Authorization", basic("root"))
			res, _ := doReq(t, client(), req)
			codes[1] = res.StatusCode
		})
		wg.Wait()
		admins := 0
		for _, u := range a.proj.Users() {
			if u.Admin {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("round %d: %d admins left after two concurrent removals (answers %v), want 1", round, admins, codes)
		}
		if _, ok := a.proj.User("root"); !ok {
			return // root went: nobody is left to log in as admin through the page
		}
		a.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserRemove, Name: name}))
	}
}

// TestAdminUsersRepeatOnce: the same form sent again (a double click, a
// retry) is applied once; the same command from a fresh rendering is a
// new issue and applies again. The API honours a client's identity too.
func TestAdminUsersRepeatOnce(t *testing.T) {
	a := newAuthStack(t)
	admin := client()
	a.login(t, admin, "root", pw)
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/admin/users/role", url.Values{"name": {"alice"}, "role": {"admin"}}},
		{"/admin/users/passwd", url.Values{"name": {"alice"}, "password": {"alice's new one"}}},
		{"/admin/users/share", url.Values{"row": {"carol"}, "sees.carol": {"alice"}}},
		{"/admin/users/add", url.Values{"name": {"gina"}, "password": {"gina's password"}}},
		{"/admin/users/remove", url.Values{"name": {"gina"}}},
	} {
		f.form.Set("issue", a.pageIssue(t, admin))
		before := a.userEvents(t, projections.UserTopic)
		var bodies []string
		for range 3 {
			res, body := postForm(t, admin, a.locked.URL+f.path, f.form)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s: %s", f.path, res.Status)
			}
			bodies = append(bodies, body)
		}
		if got := a.userEvents(t, projections.UserTopic) - before; got != 1 {
			t.Errorf("%s sent 3 times with one identity: %d events, want 1", f.path, got)
		}
		if !strings.Contains(bodies[2], "sent before") {
			t.Errorf("%s repeated: the page does not say it was applied before", f.path)
		}
	}
	// The API: the same id twice is one event, answered as repeated.
	body := `{"action":"role","name":"carol","admin":true,"id":"00112233445566778899aabbccddeeff"}`
	before := a.userEvents(t, projections.UserTopic)
	var answers []string
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, a.locked.URL+"/api/v1/users", strings.NewReader(body))
		req.Header.Set("Authorization", basic("root"))
		res, b := doReq(t, client(), req)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("API role: %s %s", res.Status, b)
		}
		answers = append(answers, b)
	}
	if got := a.userEvents(t, projections.UserTopic) - before; got != 1 || !strings.Contains(answers[1], `"repeated":true`) || strings.Contains(answers[0], "repeated") {
		t.Errorf("API: same id twice made %d events; answers %s / %s", got, answers[0], answers[1])
	}
	// Without an id, a command typed again is a new issue and applies.
	before = a.userEvents(t, projections.UserTopic)
	for range 2 {
		req, _ := http.NewRequest(http.MethodPost, a.locked.URL+"/api/v1/users", strings.NewReader(`{"action":"role","name":"carol","admin":false}`))
		req.Header.Set("Authorization", basic("root"))
		doReq(t, client(), req)
	}
	if got := a.userEvents(t, projections.UserTopic) - before; got != 2 {
		t.Errorf("two commands without an id: %d events, want 2", got)
	}
}

// TestAdminUsersHostileNames: names are shown as text everywhere on the
// page (table, matrix headers, form values, notices).
func TestAdminUsersHostileNames(t *testing.T) {
	a := newAuthStack(t)
	admin := client()
	a.login(t, admin, "root", pw)
	for _, name := range []string{`<script>alert(1)<\script>`, `"><img src=x onerror=alert(2)>`, `Zoë' onmouseover='alert(3)`} {
		res, body := postForm(t, admin, a.locked.URL+"/admin/users/add", url.Values{"issue": {a.pageIssue(t, admin)}, "name": {name}, "password": {"a long password"}})
		if res.StatusCode != http.StatusOK {
			t.Fatalf("add %q: %s", name, res.Status)
		}
		_, page := get(t, admin, a.locked.URL+"/admin/users", "Accept", "text/html")
		for _, b := range []string{body, page} {
			if strings.Contains(b, "<script>alert") || strings.Contains(b, "<img src=x") || strings.Contains(b, "' onmouseover='") {
				t.Errorf("name %q is not escaped", name)
			}
			if !strings.Contains(b, html.EscapeString(name)) && !strings.Contains(b, strings.ReplaceAll(html.EscapeString(name), "&#34;", "&quot;")) {
				t.Errorf("name %q not shown", name)
			}
		}
	}
}

// TestLastLogin: a login on the login page is an event; the page shows it
// from the projections; repeats within LoginEvery add no event; a rebuild
// keeps it (it comes from the log).
func TestLastLogin(t *testing.T) {
	a := newAuthStack(t)
	if u, _ := a.proj.User("alice"); !u.LastLogin.IsZero() {
		t.Fatalf("alice has a last login before logging in")
	}
	a.login(t, client(), "alice", pw)
	a.login(t, client(), "alice", pw) // same clock: within LoginEvery
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := a.proj.WaitFor(ctx, a.log.Head()); err != nil {
		t.Fatal(err)
	}
	if n := a.userEvents(t, projections.LoginTopic); n != 1 {
		t.Errorf("%d login events for two logins within a minute, want 1", n)
	}
	u, _ := a.proj.User("alice")
	if !u.LastLogin.Equal(clockNow) {
		t.Errorf("alice's last login %v, want %v", u.LastLogin, clockNow)
	}
	if _, err := a.proj.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.proj.User("alice"); !u.LastLogin.Equal(clockNow) {
		t.Errorf("after a rebuild alice's last login is %v", u.LastLogin)
	}
	admin := client()
	a.login(t, admin, "root", pw)
	_, body := get(t, admin, a.locked.URL+"/admin/users", "Accept", "text/html")
	row := body[strings.Index(body, `data-user="alice"`):]
	row = row[:strings.Index(row, "</tr>")]
	if !strings.Contains(row, `datetime="`+clockNow.Format(time.RFC3339)+`"`) {
		t.Errorf("alice's row does not show her last login: %s", row)
	}
	_, body = get(t, admin, a.locked.URL+"/api/v1/users")
	if !strings.Contains(body, `"last_login":"`+clockNow.Format(time.RFC3339)) {
		t.Errorf("API user list lacks last_login: %s", body)
	}
}

// TestSharingMatrixLive: the matrix form restricts alice to carol; her
// open live stream gets a full state without bob at once, and the API
// and HTTP-mode answers leave him out from then on.
func TestSharingMatrixLive(t *testing.T) {
	a := newAuthStack(t)
	admin := client()
	a.login(t, admin, "root", pw)
	u := "ws" + strings.TrimPrefix(a.locked.URL, "http") + "/live"
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {basic("alice")}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || !strings.Contains(string(msg), "bob") {
		t.Fatalf("alice's first state: %v, shows bob: %v", err, strings.Contains(string(msg), "bob"))
	}
	res, body := postForm(t, admin, a.locked.URL+"/admin/users/share", url.Values{
		"issue": {a.pageIssue(t, admin)}, "row": {"alice", "carol"}, "sees.alice": {"carol"}, "sees.carol": {"bob"},
	})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Sharing changed for &#34;alice&#34;") {
		t.Fatalf("share: %s", res.Status)
	}
	if n := strings.Count(body, "Sharing changed"); n != 1 || strings.Contains(body, "&#34;carol&#34;") {
		t.Log(body[strings.Index(body, "Sharing changed")-50:][:300])
		t.Errorf("carol's row did not change and must make no event")
	}
	if u, _ := a.proj.User("alice"); !u.Restricted || len(u.Sees) != 1 || u.Sees[0] != "carol" {
		t.Fatalf("alice now %+v", u)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("no live message after the sharing change: %v", err)
	}
	if strings.Contains(string(msg), "bob") || !strings.Contains(string(msg), "Alice") {
		t.Errorf("alice's live state after the change still shows bob (or lost herself)")
	}
	if _, body := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends", "Authorization", basic("alice")); strings.Contains(body, "bob") {
		t.Errorf("API friends for alice still list bob")
	}
	req, _ := http.NewRequest(http.MethodPost, a.locked.URL+"/pub", strings.NewReader(string(locationPayload("al", home, clockNow.Unix()))))
	req.Header.Set("Authorization", basic("alice"))
	req.Header.Set("X-Limit-D", "phone")
	if res, body := doReq(t, client(), req); res.StatusCode != http.StatusOK || strings.Contains(body, "bob") {
		t.Errorf("HTTP mode answer for alice: %s, lists bob: %v", res.Status, strings.Contains(body, "bob"))
	}
	// Back to everybody.
	postForm(t, admin, a.locked.URL+"/admin/users/share", url.Values{"issue": {a.pageIssue(t, admin)}, "row": {"alice"}, "everyone": {"alice"}})
	if u, _ := a.proj.User("alice"); u.Restricted {
		t.Errorf("alice still restricted after ticking everybody")
	}
}
