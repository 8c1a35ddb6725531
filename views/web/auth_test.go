package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"tracker/events"
	"tracker/projections"
	"tracker/static"
	"tracker/views"
	"tracker/views/web"
)

// authStack is the test stack with logins: the same data, served by a
// site with Auth, three users (an admin, a viewer, a viewer who sees only
// bob) and the live hub.
type authStack struct {
	*stack
	locked   *httptest.Server
	site     *web.Server
	sessions *web.Sessions
}

const pw = "correct horse battery"

func userEvent(t *testing.T, c projections.UserCommand) events.Event {
	t.Helper()
	if c.Action == projections.UserAdd || c.Action == projections.UserPasswd {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		c.Hash = string(h)
	}
	c.Type = "user"
	b, _ := json.Marshal(c)
	return events.Event{Topic: projections.UserTopic, Payload: b, Source: events.SourceAdmin, Received: clockNow}
}

func newAuthStack(t *testing.T) *authStack {
	t.Helper()
	st := newStack(t)
	st.appendAll(t,
		userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "root", Admin: true}),
		userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "alice"}),
		userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "carol"}),
		userEvent(t, projections.UserCommand{Action: projections.UserShare, Name: "carol", Sees: []string{"bob"}}),
	)
	sessions, err := web.OpenSessions(filepath.Join(t.TempDir(), "sessions.json"))
	if err != nil {
		t.Fatal(err)
	}
	site := *st.site
	logger := slog.New(slog.DiscardHandler)
	site.Auth = &web.Auth{Users: st.proj, Sessions: sessions, Logger: logger}
	site.UserAdmin = st.proj
	site.Assets = static.New()
	a := &authStack{stack: st, site: &site, sessions: sessions}
	a.locked = httptest.NewServer(site.Routes())
	t.Cleanup(a.locked.Close)
	return a
}

// client returns an HTTP client with a cookie jar that does not follow
// redirects (so they can be checked).
func client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (a *authStack) login(t *testing.T, c *http.Client, user, password string) *http.Response {
	t.Helper()
	res, err := c.PostForm(a.locked.URL+"/login", url.Values{"user": {user}, "password": {password}, "next": {"/areas"}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func get(t *testing.T, c *http.Client, u string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// publicRoutes need no login.
var publicRoutes = map[string]bool{
	"GET /healthz": true, "GET /sw.js": true, "GET /login": true, "POST /login": true, "POST /logout": true, "* /static/*": true,
	"GET /metrics": true, "GET /readyz": true, // from loopback (the test server); TestMetricsAndReadyAccess checks the rest
	"GET /s/{token}": true, "GET /s/{token}/stream": true, "GET /s/{token}/track.json": true, // share links: the token is the key (TestShareLinks)
}

// TestAnonymousRefusedEverywhere walks the router, so a route added
// without being put behind the login fails here.
func TestAnonymousRefusedEverywhere(t *testing.T) {
	a := newAuthStack(t)
	fill := strings.NewReplacer("{user}", "alice", "{device}", "phone", "{seq}", "1", "{name}", "HQ")
	err := chi.Walk(a.site.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		key := method + " " + route
		if publicRoutes[key] || publicRoutes["* "+route] {
			return nil
		}
		t.Run(key, func(t *testing.T) {
			path := fill.Replace(route)
			for _, accept := range []string{"text/html", "application/json"} {
				req, _ := http.NewRequest(method, a.locked.URL+path, strings.NewReader("{}"))
				req.Header.Set("Accept", accept)
				res, err := client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				isPage := method == http.MethodGet && accept == "text/html" && !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/live")
				switch {
				case isPage && (res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login")):
					t.Errorf("%s %s (page): %s, want a redirect to the login page", method, path, res.Status)
				case !isPage && res.StatusCode != http.StatusUnauthorized:
					t.Errorf("%s %s (%s): %s, want 401", method, path, accept, res.Status)
				}
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoginAndSessions(t *testing.T) {
	a := newAuthStack(t)
	c := client()
	if res, body := get(t, c, a.locked.URL+"/login"); res.StatusCode != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Fatalf("login page: %s", res.Status)
	}
	// Wrong password: 401 with the reason, no cookie.
	if res := a.login(t, c, "alice", "nope"); res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("wrong password: %s, cookies %v", res.Status, res.Cookies())
	}
	// Right password: a session cookie, HttpOnly, SameSite=Lax, and the next page.
	res := a.login(t, c, "root", pw)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/areas" {
		t.Fatalf("login: %s to %q", res.Status, res.Header.Get("Location"))
	}
	ck := res.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v, want HttpOnly and SameSite=Lax", ck)
	}
	if res, _ := get(t, c, a.locked.URL+"/", "Accept", "text/html"); res.StatusCode != http.StatusOK {
		t.Fatalf("dashboard with a session: %s", res.Status)
	}
	// Logout ends the session on the server, not just in the browser.
	token := ck[0].Value
	lo, _ := c.Post(a.locked.URL+"/logout", "", nil)
	lo.Body.Close()
	stale := client()
	u, _ := url.Parse(a.locked.URL)
	stale.Jar.SetCookies(u, []*http.Cookie{{Name: "tracker_session", Value: token}})
	if res, _ := get(t, stale, a.locked.URL+"/api/v1/friends"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout: %s, want 401", res.Status)
	}
	// A password change ends existing sessions.
	c2 := client()
	a.login(t, c2, "alice", pw)
	a.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserPasswd, Name: "alice"}))
	if res, _ := get(t, c2, a.locked.URL+"/api/v1/friends"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after password change: %s, want 401", res.Status)
	}
	// Sessions expire.
	c3 := client()
	a.login(t, c3, "root", pw)
	a.sessions.Now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	if res, _ := get(t, c3, a.locked.URL+"/api/v1/friends"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired session: %s, want 401", res.Status)
	}
	a.sessions.Now = time.Now
	// Failed logins are rate limited per user, with a clear message.
	var last *http.Response
	for range 6 {
		last = a.login(t, c, "carol", "wrong")
	}
	if last.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after 6 failures: %s, want 429", last.Status)
	}
	if res := a.login(t, c, "carol", pw); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right password while limited: %s, want 429", res.Status)
	}
}

func TestViewerBlockedFromAdminActions(t *testing.T) {
	a := newAuthStack(t)
	c := client()
	a.login(t, c, "alice", pw)
	for _, r := range []struct{ method, path string }{
		{"GET", "/log"}, {"GET", "/api/v1/events"}, {"GET", "/api/v1/stats"}, {"POST", "/api/v1/areas"},
		{"DELETE", "/api/v1/areas/HQ"}, {"POST", "/api/v1/admin/rebuild"}, {"GET", "/api/v1/users"}, {"POST", "/api/v1/users"},
	} {
		req, _ := http.NewRequest(r.method, a.locked.URL+r.path, strings.NewReader(`{"name":"x"}`))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer %s %s: %s, want 403", r.method, r.path, res.Status)
		}
	}
}

func TestCrossOriginRefused(t *testing.T) {
	a := newAuthStack(t)
	c := client()
	a.login(t, c, "root", pw)
	req, _ := http.NewRequest(http.MethodPost, a.locked.URL+"/api/v1/areas", strings.NewReader(`{"name":"Evil","center":{"lat":1,"lon":1},"radius":10}`))
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %s, want 403", res.Status)
	}
	// A websocket from a foreign page is refused too.
	u := "ws" + strings.TrimPrefix(a.locked.URL, "http") + "/live"
	h := http.Header{"Origin": {"https://evil.example"}, "Authorization": {basic("root")}}
	if conn, resp, err := websocket.DefaultDialer.Dial(u, h); err == nil {
		conn.Close()
		t.Errorf("websocket from a foreign origin was accepted")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("websocket from a foreign origin: %v, want 403", err)
	}
}

func basic(user string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pw)
	return req.Header.Get("Authorization")
}

// TestSharingHidesFriends: carol may see only bob. Nothing about alice
// reaches her: not the list, the pages, the API, exports or the live stream.
func TestSharingHidesFriends(t *testing.T) {
	a := newAuthStack(t)
	auth := []string{"Authorization", basic("carol")}
	for _, path := range []string{"/api/v1/friends", "/api/v1/areas", "/", "/areas", views.MarkersURL, "/stats"} {
		res, body := get(t, http.DefaultClient, a.locked.URL+path, auth...)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", path, res.Status)
		}
		if strings.Contains(body, "alice") || strings.Contains(body, "Alice") {
			t.Errorf("%s shows alice to carol", path)
		}
		if !strings.Contains(body, "bob") {
			t.Errorf("%s does not show bob to carol", path)
		}
	}
	for _, path := range []string{
		"/api/v1/friends/alice/phone/locations", "/api/v1/friends/alice/phone/areas", "/friends/alice/phone",
		"/friends/alice/phone/export.gpx", "/friends/alice/phone/export.geojson", "/friends/alice/phone/export.csv",
		"/api/v1/friends/alice/phone/stats", "/api/v1/friends/alice/phone/heatmap", "/stats/alice/phone", // stats.go
	} {
		if res, _ := get(t, http.DefaultClient, a.locked.URL+path, auth...); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s for carol: %s, want 404", path, res.Status)
		}
	}
	if res, _ := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends/bob/tablet/locations", auth...); res.StatusCode != http.StatusOK {
		t.Errorf("bob's locations for carol: %s", res.Status)
	}
	// The live stream's full state and updates.
	u := "ws" + strings.TrimPrefix(a.locked.URL, "http") + "/live"
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {basic("carol")}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(msg), "alice") || !strings.Contains(string(msg), "bob") {
		t.Errorf("live full state for carol mentions alice or misses bob")
	}
	a.appendAll(t, ev("owntracks/alice/phone", clockNow, string(locationPayload("al", home, clockNow.Unix()+60))))
	_ = conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			break // no more messages: fine
		}
		if strings.Contains(string(msg), "alice") {
			t.Errorf("live update about alice reached carol")
		}
	}
}

func TestUserManagementAPI(t *testing.T) {
	a := newAuthStack(t)
	ev := userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "dave"})
	req, _ := http.NewRequest(http.MethodPost, a.locked.URL+"/api/v1/users", strings.NewReader(string(ev.Payload)))
	req.Header.Set("Authorization", basic("root"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("add dave: %s", res.Status)
	}
	res, body := get(t, http.DefaultClient, a.locked.URL+"/api/v1/users", "Authorization", basic("root"))
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"dave"`) || strings.Contains(body, "$2") {
		t.Errorf("user list: %s %s (must list dave, never a hash)", res.Status, body)
	}
	if res, _ := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends", "Authorization", basic("dave")); res.StatusCode != http.StatusOK {
		t.Errorf("dave cannot log in: %s", res.Status)
	}
}

func TestLiveConnectionsCappedPerUser(t *testing.T) {
	a := newAuthStack(t)
	site := *a.site
	site.MaxStreams = 2
	srv := httptest.NewServer(site.Routes())
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/live"
	h := http.Header{"Authorization": {basic("alice")}}
	for i := range 2 {
		conn, _, err := websocket.DefaultDialer.Dial(u, h)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		defer conn.Close()
	}
	if conn, resp, err := websocket.DefaultDialer.Dial(u, h); err == nil {
		conn.Close()
		t.Error("a third live connection for the same user was accepted")
	} else if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third connection: %v, want 429", err)
	}
	// Another user is not affected.
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {basic("root")}})
	if err != nil {
		t.Fatalf("another user: %v", err)
	}
	conn.Close()
}

// TestWaitStreamsWaitsForLiveHandlers: serve waits here at shutdown for
// the websocket handlers that http.Server.Shutdown does not wait for.
func TestWaitStreamsWaitsForLiveHandlers(t *testing.T) {
	a := newAuthStack(t)
	site := *a.site
	base, stop := context.WithCancel(context.Background())
	defer stop()
	srv := httptest.NewUnstartedServer(site.Routes())
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/live"
	conn, _, err := websocket.DefaultDialer.Dial(u, http.Header{"Authorization": {basic("alice")}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := site.WaitStreams(short); err == nil {
		t.Fatal("WaitStreams returned while a live connection's handler was running")
	}
	stop() // what serve's shutdown does: the handlers' base context ends
	long, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := site.WaitStreams(long); err != nil {
		t.Fatalf("after the base context ended: %v", err)
	}
}
