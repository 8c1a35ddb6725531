package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestAccountPages drives /connect, /me and /api/v1/me/otrc as a viewer
// (alice): a configuration is made only by a POST and shows its secret
// once; the secret works for HTTP mode as its own device only; revoking
// refuses it; the password changes only with the current one; a time
// zone is stored and renders the pages; signing out everywhere ends every
// session of the user.
func TestAccountPages(t *testing.T) {
	a := newAuthStack(t)
	base := a.locked.URL
	c := client()
	if res := a.login(t, c, "alice", pw); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", res.Status)
	}
	other := client() // another browser of alice's
	a.login(t, other, "alice", pw)
	post := func(c *http.Client, path string, vals url.Values, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}

	if res, body := get(t, c, base+"/connect"); res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="connect-form"`) || strings.Contains(body, `value="mqtt"`) {
		t.Fatalf("GET /connect: %s (no MQTT without an embedded broker)\n%s", res.Status, body)
	}
	if res, body := post(c, "/connect", url.Values{"device": {"phone"}, "mode": {"mqtt"}}); res.StatusCode != http.StatusConflict || !strings.Contains(body, "HTTP mode") {
		t.Errorf("MQTT without an embedded broker: %s, want 409 saying to use HTTP mode", res.Status)
	}
	for _, bad := range []string{"", "a/b", "#", "x+y"} {
		if res, _ := post(c, "/connect", url.Values{"device": {bad}, "mode": {"http"}}); res.StatusCode != http.StatusBadRequest {
			t.Errorf("device %q: %s, want 400", bad, res.Status)
		}
	}
	res, body := post(c, "/connect", url.Values{"device": {"phone"}, "mode": {"http"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="qr"`) || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /connect: %s %q\n%s", res.Status, res.Header.Get("Cache-Control"), body)
	}

	// The API: POST mints (the secret, once), GET reads (never the secret).
	res, body = post(c, "/api/v1/me/otrc?device=phone&mode=http", nil)
	var cfg struct {
		Type, URL, Username, Password, DeviceID string
		Mode                                    int
	}
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || res.StatusCode != 200 || cfg.Password == "" || cfg.Mode != 3 || cfg.URL != base+"/pub" || cfg.Username != "alice" {
		t.Fatalf("POST /api/v1/me/otrc: %s %s", res.Status, body)
	}
	if res, body := get(t, c, base+"/api/v1/me/otrc?device=phone&mode=http"); res.StatusCode != 200 || strings.Contains(body, "password") || !strings.Contains(body, `"_type":"configuration"`) {
		t.Errorf("GET /api/v1/me/otrc: %s %s", res.Status, body)
	}
	pub := func(user, device string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/pub", strings.NewReader(`{"_type":"location","lat":50.85,"lon":4.35,"tst":1700000000}`))
		req.SetBasicAuth(user, cfg.Password)
		if device != "" {
			req.Header.Set("X-Limit-D", device)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := pub("alice", "phone"); code != http.StatusOK {
		t.Fatalf("HTTP mode with the device secret: %d", code)
	}
	if code := pub("alice", "tablet"); code != http.StatusForbidden {
		t.Errorf("the phone's secret as another device: %d, want 403", code)
	}
	if code := pub("carol", ""); code != http.StatusUnauthorized {
		t.Errorf("the phone's secret as another user: %d, want 401", code)
	}
	if res, _ := get(t, http.DefaultClient, base+"/api/v1/friends", "Authorization", basicWith("alice", cfg.Password)); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("device secret on the API: %s, want 401", res.Status)
	}

	// /me lists it; revoke refuses it, twice harmlessly.
	res, body = get(t, c, base+"/me")
	if res.StatusCode != 200 || !strings.Contains(body, `data-device="phone"`) || strings.Contains(body, cfg.Password) {
		t.Fatalf("GET /me: %s", res.Status)
	}
	_, after, _ := strings.Cut(body, `name="credential" value="`)
	cred, _, _ := strings.Cut(after, `"`)
	for range 2 {
		if res, _ := post(c, "/me/devices/revoke", url.Values{"device": {"phone"}, "credential": {cred}}); res.StatusCode != http.StatusSeeOther {
			t.Errorf("revoke: %s, want 303", res.Status)
		}
	}
	if code := pub("alice", "phone"); code != http.StatusUnauthorized {
		t.Errorf("revoked secret in HTTP mode: %d, want 401", code)
	}

	// Password: the current one is required.
	if res, body := post(c, "/me/password", url.Values{"old": {"wrong"}, "new": {"new password 1"}, "repeat": {"new password 1"}}); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "wrong") {
		t.Errorf("password change with a wrong current one: %s", res.Status)
	}
	if res, _ := post(c, "/me/password", url.Values{"old": {pw}, "new": {"new password 1"}, "repeat": {"new password 2"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("password change with differing new ones: %s", res.Status)
	}
	if res, _ := post(c, "/me/password", url.Values{"old": {pw}, "new": {"new password 1"}, "repeat": {"new password 1"}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/me?done=password" {
		t.Fatalf("password change: %s", res.Status)
	}
	if res, _ := get(t, c, base+"/api/v1/friends"); res.StatusCode != http.StatusOK {
		t.Errorf("this browser after its password change: %s, want still logged in", res.Status)
	}
	if res, _ := get(t, other, base+"/api/v1/friends"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("another browser after the password change: %s, want 401", res.Status)
	}

	// Time zone.
	if res, _ := post(c, "/me/zone", url.Values{"zone": {"Mars/Olympus"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown zone: %s, want 400", res.Status)
	}
	if res, _ := post(c, "/me/zone", url.Values{"zone": {"Asia/Tokyo"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("zone: %s", res.Status)
	}
	if _, body := get(t, c, base+"/me"); !strings.Contains(body, `data-tz="Asia/Tokyo"`) || !strings.Contains(body, `value="Asia/Tokyo"`) {
		t.Error("/me after choosing a zone: no data-tz, or the zone not shown")
	}

	// Sign out everywhere.
	a.login(t, other, "alice", "new password 1")
	res, _ = post(c, "/me/signout", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("sign out everywhere: %s", res.Status)
	}
	for name, cl := range map[string]*http.Client{"this browser": c, "another browser": other} {
		if res, _ := get(t, cl, base+"/api/v1/friends", "X-Requested-With", "t"); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s after signing out everywhere: %s, want 401", name, res.Status)
		}
	}
}
