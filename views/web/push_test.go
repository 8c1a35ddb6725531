package web_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"tracker/events"
	"tracker/projections"
	"tracker/views/notify/webpush"
	"tracker/views/web"
)

// browserSubscription is what a browser's PushSubscription.toJSON()
// gives for endpoint, with fresh keys made as a browser makes them.
func browserSubscription(t *testing.T, endpoint string) string {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	enc := base64.RawURLEncoding
	b, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": enc.EncodeToString(k.PublicKey().Bytes()), "auth": enc.EncodeToString(auth)}})
	return string(b)
}

// pushStack is the auth stack with Web Push on (loopback endpoints
// allowed, as in every test).
func pushStack(t *testing.T) (*authStack, *webpush.Keys, string) {
	t.Helper()
	a := newAuthStack(t)
	keys, err := webpush.NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	site := *a.site
	site.WebPush = &web.WebPush{Keys: keys, Policy: webpush.Policy{AllowLoopback: true}}
	srv := httptest.NewServer(site.Routes())
	t.Cleanup(srv.Close)
	return a, keys, srv.URL
}

func pushCall(t *testing.T, c *http.Client, method, u, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
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

// TestPushSubscriptionsAPI: the key is served; a browser's subscription
// is recorded as an event of its user (201, then 200 when renewed) and
// listed without its keys or path; another user neither sees nor removes
// it; hostile, oversized and cross-site input is refused with a reason;
// a user's browsers are bounded; DELETE by endpoint or id removes one.
func TestPushSubscriptionsAPI(t *testing.T) {
	a, keys, base := pushStack(t)
	alice, carol := client(), client()
	for name, c := range map[string]*http.Client{"alice": alice, "carol": carol} {
		if res := loginAt(t, c, base, name); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %s: %s", name, res.Status)
		}
	}

	res, body := pushCall(t, alice, http.MethodGet, base+"/api/v1/push/key", "")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"public_key":"`+keys.PublicKey()+`"`) {
		t.Fatalf("GET key: %s %s", res.Status, body)
	}

	endpoint := "http://127.0.0.1:1/push/alice-firefox-secret-path"
	sub := browserSubscription(t, endpoint)
	ua := "Mozilla/5.0 (Android 14; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0"
	if res, body := pushCall(t, alice, http.MethodPost, base+"/api/v1/push/subscriptions", sub, "User-Agent", ua); res.StatusCode != http.StatusCreated ||
		!strings.Contains(body, `"label":"Firefox on Android"`) {
		t.Fatalf("subscribe: %s %s", res.Status, body)
	}
	if res, body := pushCall(t, alice, http.MethodPost, base+"/api/v1/push/subscriptions", browserSubscription(t, endpoint)); res.StatusCode != http.StatusOK {
		t.Fatalf("renew: %s %s, want 200", res.Status, body)
	}
	res, body = pushCall(t, alice, http.MethodGet, base+"/api/v1/push/subscriptions", "")
	var lines []struct{ ID, Service, Label string }
	if err := json.Unmarshal([]byte(body), &lines); err != nil || len(lines) != 1 || lines[0].Service != "http://127.0.0.1:1" {
		t.Fatalf("list: %s %s", res.Status, body)
	}
	if strings.Contains(body, "secret-path") || strings.Contains(body, "p256dh") {
		t.Errorf("the list shows the endpoint's path or keys: %s", body)
	}
	// In the log: two push events of alice's, with the keys.
	var logged []projections.PushCommand
	_ = a.log.Scan(t.Context(), 1, func(e events.Event) error {
		if e.Topic == projections.PushTopic {
			c, err := projections.ParsePushCommand(e.Payload)
			if err != nil || e.Source != events.SourceAdmin {
				t.Errorf("push event %d: %v (source %s)", e.Seq, err, e.Source)
			}
			logged = append(logged, c)
		}
		return nil
	})
	if len(logged) != 2 || logged[0].Name != "alice" || logged[0].By != "alice" || logged[0].Endpoint != endpoint {
		t.Fatalf("logged %+v, want alice's two subscribe events", logged)
	}

	// carol sees none of it and cannot remove it.
	if _, body := pushCall(t, carol, http.MethodGet, base+"/api/v1/push/subscriptions", ""); body != "[]\n" && body != "[]" {
		t.Errorf("carol's list: %s", body)
	}
	if res, _ := pushCall(t, carol, http.MethodDelete, base+"/api/v1/push/subscriptions?id="+lines[0].ID, ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("carol removing alice's subscription: %s, want 404", res.Status)
	}

	for _, tc := range []struct {
		name, body string
		header     []string
		code       int
		reason     string
	}{
		{"http to a public host", browserSubscription(t, "http://push.example.org/x"), nil, 400, "must be an https URL"},
		{"private address", browserSubscription(t, "https://192.168.1.1/x"), nil, 400, "private or local address"},
		{"no keys", `{"endpoint":"https://push.example.org/x"}`, nil, 400, "p256dh is missing"},
		{"not json", `endpoint=x`, nil, 400, "not a subscription object"},
		{"oversized", `{"endpoint":"https://push.example.org/` + strings.Repeat("a", 8000) + `"}`, nil, 413, "at most 4096 bytes"},
		{"cross-site", browserSubscription(t, "https://push.example.org/y"), []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, 403, ""},
	} {
		res, body := pushCall(t, alice, http.MethodPost, base+"/api/v1/push/subscriptions", tc.body, tc.header...)
		if res.StatusCode != tc.code || !strings.Contains(body, tc.reason) {
			t.Errorf("%s: %s %q, want %d saying %q", tc.name, res.Status, body, tc.code, tc.reason)
		}
	}

	// At most MaxPushSubscriptions browsers per user.
	for i := 1; i < projections.MaxPushSubscriptions; i++ {
		if res, body := pushCall(t, alice, http.MethodPost, base+"/api/v1/push/subscriptions", browserSubscription(t, fmt.Sprintf("https://push.example.org/%d", i))); res.StatusCode != http.StatusCreated {
			t.Fatalf("subscription %d: %s %s", i+1, res.Status, body)
		}
	}
	if res, body := pushCall(t, alice, http.MethodPost, base+"/api/v1/push/subscriptions", browserSubscription(t, "https://push.example.org/one-more")); res.StatusCode != http.StatusConflict ||
		!strings.Contains(body, "remove one first") {
		t.Errorf("subscription beyond the bound: %s %s, want 409", res.Status, body)
	}

	if res, body := pushCall(t, alice, http.MethodDelete, base+"/api/v1/push/subscriptions", `{"endpoint":"`+endpoint+`"}`); res.StatusCode != http.StatusNoContent {
		t.Fatalf("unsubscribe by endpoint: %s %s", res.Status, body)
	}
	if res, _ := pushCall(t, alice, http.MethodDelete, base+"/api/v1/push/subscriptions", `{"endpoint":"`+endpoint+`"}`); res.StatusCode != http.StatusNotFound {
		t.Errorf("unsubscribe again: %s, want 404", res.Status)
	}
	if u, _ := a.proj.User("alice"); len(u.Push) != projections.MaxPushSubscriptions-1 {
		t.Errorf("alice has %d subscriptions, want %d", len(u.Push), projections.MaxPushSubscriptions-1)
	}
}

// TestServiceWorkerServed: /sw.js is served at the root (scope /) with a
// JavaScript type and our CSP, without a login.
func TestServiceWorkerServed(t *testing.T) {
	_, _, base := pushStack(t)
	res, body := pushCall(t, client(), http.MethodGet, base+"/sw.js", "")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(body, "addEventListener('push'") || !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /sw.js: %s %q %q", res.Status, res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
	}
}

// TestPushOff: without keys the push API says it is not set up.
func TestPushOff(t *testing.T) {
	a := newAuthStack(t)
	c := client()
	a.login(t, c, "alice", pw)
	if res, body := pushCall(t, c, http.MethodGet, a.locked.URL+"/api/v1/push/key", ""); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "not set up") {
		t.Errorf("GET key without Web Push: %s %s", res.Status, body)
	}
}

func loginAt(t *testing.T, c *http.Client, base, user string) *http.Response {
	t.Helper()
	res, err := c.PostForm(base+"/login", map[string][]string{"user": {user}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// The push routes are covered by the tests above (TestRoutesCovered).
func init() {
	for route, test := range map[string]string{
		"GET /sw.js":                        "TestServiceWorkerServed",
		"GET /api/v1/push/key":              "TestPushSubscriptionsAPI",
		"GET /api/v1/push/subscriptions":    "TestPushSubscriptionsAPI",
		"POST /api/v1/push/subscriptions":   "TestPushSubscriptionsAPI",
		"DELETE /api/v1/push/subscriptions": "TestPushSubscriptionsAPI",
	} {
		routesTestedElsewhere[route] = test
	}
}
