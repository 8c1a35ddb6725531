package web_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"tracker/views/htmltest"
)

// A browser asking for something that cannot be served gets the site's
// own page (layout, navigation, the status in words, a link home); the
// API, streams and scripts keep their short plain-text answers.
func TestErrorPages(t *testing.T) {
	a := newAuthStack(t)
	tests := []struct {
		name, method, path, user, accept string
		code                             int
		page                             bool
		says                             string
	}{
		{"unknown page", "GET", "/no/such/page", "alice", "text/html", 404, true, "Nothing here"},
		{"unknown page, anonymous", "GET", "/nope", "", "text/html", 404, true, "Nothing here"},
		{"unknown friend", "GET", "/friends/nobody/phone", "root", "text/html", 404, true, "Nothing here"},
		{"log page, not an admin", "GET", "/log", "alice", "text/html", 403, true, "Not for this account"},
		{"log-out address opened in the browser", "GET", "/logout", "root", "text/html", 405, true, "Not something this address does"},
		{"API with the wrong method", "PUT", "/api/v1/areas", "root", "application/json", 405, false, "does not take PUT"},
		{"unknown API", "GET", "/api/v1/nope", "alice", "application/json", 404, false, "no page at /api/v1/nope"},
		{"unknown API, browser", "GET", "/api/v1/nope", "alice", "text/html", 404, false, "no page at /api/v1/nope"},
		{"admin API, not an admin", "GET", "/api/v1/events", "alice", "application/json", 403, false, "Only admins"},
		{"script asking for the log", "GET", "/log", "alice", "*/*", 403, false, "Only admins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, a.locked.URL+tt.path, nil)
			req.Header.Set("Accept", tt.accept)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, pw)
			}
			res, err := client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.code {
				t.Fatalf("%s: %s, want %d\n%s", tt.path, res.Status, tt.code, body)
			}
			isHTML := strings.HasPrefix(res.Header.Get("Content-Type"), "text/html")
			if isHTML != tt.page {
				t.Fatalf("Content-Type %q; want a page: %v\n%s", res.Header.Get("Content-Type"), tt.page, body)
			}
			if !tt.page {
				if !strings.Contains(string(body), tt.says) || strings.Contains(string(body), "<") {
					t.Errorf("plain answer %q, want one line with %q", body, tt.says)
				}
				return
			}
			doc, err := html.Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			checkNoInjectedMarkup(t, tt.path, doc, body)
			p := htmltest.One(t, doc, "error-page")
			if got := htmltest.Attr(p, "data-status"); got != res.Status[:3] {
				t.Errorf("data-status %q, want %s", got, res.Status[:3])
			}
			if h := htmltest.Text(htmltest.ByID(doc, "error-h")); tt.says != "" && h != tt.says {
				t.Errorf("heading %q, want %q", h, tt.says)
			}
			if nav := htmltest.Find(doc, func(n *html.Node) bool { return n.Data == "nav" }); len(nav) == 0 {
				t.Error("no site navigation on the error page")
			}
			home := htmltest.Find(p, func(n *html.Node) bool { return n.Data == "a" && htmltest.Attr(n, "href") == "/" })
			if len(home) == 0 {
				t.Error("no link home on the error page")
			}
		})
	}
}
