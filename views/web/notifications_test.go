package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"tracker/views/web"
)

// TestNotificationRulesAPI drives /api/v1/notifications and
// /me/notifications as a viewer (alice), a restricted viewer (carol, who
// sees only bob) and an admin (root): each lists and adds their own
// rules; only an admin acts for another user; a rule may name only a
// friend its user may see; a secret is never answered; removing another
// user's rule is 404 to a viewer; a cross-site POST is refused; the page
// adds and removes through forms.
func TestNotificationRulesAPI(t *testing.T) {
	a := newAuthStack(t)
	base := a.locked.URL
	clients := map[string]*http.Client{}
	for _, u := range []string{"alice", "carol", "root"} {
		clients[u] = client()
		if res := a.login(t, clients[u], u, pw); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %s: %s", u, res.Status)
		}
	}
	call := func(who, method, path, body string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := clients[who].Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const rule = `{"on":"arrive","device":"bob/phone","place":"HQ","webhook":"https://example.org/hook?token=t0k3n","webhook_secret":"sup3r-s3cret"}`
	for _, tc := range []struct {
		name, who, body string
		want            int
	}{
		{"alice, her own rule", "alice", rule, http.StatusCreated},
		{"alice, anyone arrives, browser", "alice", `{"on":"arrive","device":"*","place":"HQ"}`, http.StatusCreated},
		{"carol, a friend she may not see", "carol", `{"on":"leave","device":"alice/phone","place":"HQ"}`, http.StatusForbidden},
		{"carol, for alice", "carol", `{"for":"alice","on":"arrive","place":"HQ"}`, http.StatusForbidden},
		{"carol, bob's battery", "carol", `{"on":"battery","device":"bob/phone","below":15}`, http.StatusCreated},
		{"root, for alice", "root", `{"for":"alice","on":"silent","device":"bob/phone","after":"2h"}`, http.StatusCreated},
		{"root, for nobody", "root", `{"for":"zed","on":"arrive","place":"HQ"}`, http.StatusNotFound},
		{"no place", "alice", `{"on":"arrive","device":"bob/phone"}`, http.StatusBadRequest},
		{"silent too short", "alice", `{"on":"silent","device":"bob/phone","after":"5s"}`, http.StatusBadRequest},
		{"a webhook that is no URL", "alice", `{"on":"arrive","place":"HQ","webhook":"file:///etc/passwd"}`, http.StatusBadRequest},
		{"not JSON", "alice", `on=arrive`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := call(tc.who, http.MethodPost, "/api/v1/notifications", tc.body)
			if code != tc.want {
				t.Fatalf("%d %s, want %d", code, body, tc.want)
			}
			if strings.Contains(body, "sup3r-s3cret") {
				t.Errorf("the answer holds the secret: %s", body)
			}
		})
	}
	list := func(who, query string) (int, []web.NotifyRuleView) {
		t.Helper()
		code, body := call(who, http.MethodGet, "/api/v1/notifications"+query, "")
		var out []web.NotifyRuleView
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatalf("GET %s: %v: %s", query, err, body)
			}
			if strings.Contains(body, "sup3r-s3cret") {
				t.Errorf("GET %s holds the secret", query)
			}
		}
		return code, out
	}
	_, mine := list("alice", "")
	if len(mine) != 3 || mine[0].Owner != "alice" || !mine[0].HasSecret || mine[0].Text != "bob/phone arrives at HQ" || mine[1].Device != "" {
		t.Fatalf("alice's rules %+v, want 3 (hers, anyone, and root's for her), the first signed", mine)
	}
	if _, carols := list("carol", ""); len(carols) != 1 {
		t.Errorf("carol's rules %+v, want her battery rule only", carols)
	}
	if code, _ := list("alice", "?for=*"); code != http.StatusForbidden {
		t.Errorf("alice listing everybody's: %d, want 403", code)
	}
	if _, all := list("root", "?for=*"); len(all) != 4 {
		t.Errorf("root's list of all: %d rules, want 4", len(all))
	}
	if code, _ := call("carol", http.MethodDelete, "/api/v1/notifications/"+mine[0].ID, ""); code != http.StatusNotFound {
		t.Errorf("carol removing alice's rule: %d, want 404", code)
	}
	if code, body := call("alice", http.MethodPost, "/api/v1/notifications", rule, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"); code != http.StatusForbidden {
		t.Errorf("a cross-site POST: %d %s, want 403", code, body)
	}
	if code, body := call("alice", http.MethodDelete, "/api/v1/notifications/"+mine[1].ID, ""); code != http.StatusOK || !strings.Contains(body, mine[1].ID) {
		t.Errorf("alice removing her rule: %d %s", code, body)
	}
	if _, mine = list("alice", ""); len(mine) != 2 {
		t.Errorf("after removing one, alice has %d rules, want 2", len(mine))
	}

	// The page: the rules, no secret, no token; a form adds, a form removes.
	c := clients["alice"]
	res, body := get(t, c, base+"/me/notifications")
	if res.StatusCode != http.StatusOK || strings.Count(body, `data-testid="notify-rule"`) != 2 || strings.Contains(body, "sup3r-s3cret") ||
		strings.Contains(body, "t0k3n") || !strings.Contains(body, `data-testid="notify-form"`) {
		t.Fatalf("GET /me/notifications: %s\n%s", res.Status, body)
	}
	form := func(path string, vals url.Values) *http.Response {
		t.Helper()
		res, err := c.PostForm(base+path, vals)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := form("/me/notifications", url.Values{"on": {"leave"}, "device": {"bob/phone"}, "place": {"HQ"}, "browser": {"1"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("adding through the form: %s", res.Status)
	}
	if res := form("/me/notifications", url.Values{"on": {"leave"}, "device": {"bob/phone"}, "place": {"HQ"}}); res.StatusCode != http.StatusBadRequest {
		t.Errorf("a rule with no channel through the form: %s, want 400", res.Status)
	}
	if res := form("/me/notifications/remove", url.Values{"id": {mine[0].ID}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("removing through the form: %s", res.Status)
	}
	_, mine = list("alice", "")
	if len(mine) != 2 || mine[1].On != "leave" || mine[1].Channels[0] != "browser" {
		t.Errorf("after the forms, alice's rules %+v", mine)
	}
}
