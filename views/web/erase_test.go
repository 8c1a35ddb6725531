package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/erasure"
	"tracker/projections/projector"
)

// siteEraser is what serve hands the web side, on the test stack's real
// log and projector.
type siteEraser struct {
	x   *erasure.Eraser
	log events.Appender
}

func (s siteEraser) Erase(ctx context.Context, req erasure.Request) (erasure.Result, error) {
	return s.x.Erase(ctx, req)
}

func (s siteEraser) SetRetention(ctx context.Context, user, keep, by string) (erasure.Policy, uint64, error) {
	e, p, err := erasure.NewPolicy(user, keep, by, time.Now())
	if err != nil {
		return p, 0, err
	}
	seq, err := s.log.Append(ctx, e)
	return p, seq, err
}

func (siteEraser) DefaultRetention() time.Duration { return 365 * 24 * time.Hour }

// rebuilder purges the projections by rebuilding them.
type rebuilder struct{ p *projector.Projector }

func (rebuilder) Begin() error { return nil }
func (r rebuilder) Purge(ctx context.Context, rewritten bool) error {
	if rewritten {
		_, err := r.p.Rebuild(ctx, nil)
		return err
	}
	return nil
}

// TestEraseRoutes: the erase API and page are the admins': a viewer gets
// 403 on each, also for her own data; an admin erases bob, after which
// bob is no friend any more and alice is as she was; the page asks for a
// confirmation; retention policies are recorded as events.
func TestEraseRoutes(t *testing.T) {
	a := newAuthStack(t)
	site := *a.site
	site.Eraser = siteEraser{x: &erasure.Eraser{Log: a.log, Purger: rebuilder{a.proj}}, log: a.log}
	srv := httptest.NewServer(site.Routes())
	t.Cleanup(srv.Close)
	do := func(user, method, path, contentType, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", basic(user))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	const form = "application/x-www-form-urlencoded"
	for _, r := range []struct{ method, path, ct, body string }{
		{http.MethodPost, "/api/v1/admin/erase", "application/json", `{"user":"alice"}`},
		{http.MethodPost, "/api/v1/admin/erase", "application/json", `{"user":"bob"}`},
		{http.MethodPost, "/api/v1/admin/retention", "application/json", `{"user":"alice","keep":"1d"}`},
		{http.MethodGet, "/admin/erase", "", ""},
		{http.MethodPost, "/admin/erase", form, url.Values{"user": {"alice"}, "confirm": {"yes"}}.Encode()},
		{http.MethodPost, "/admin/erase/retention", form, url.Values{"user": {"alice"}, "keep": {"1d"}}.Encode()},
	} {
		if code, _ := do("alice", r.method, r.path, r.ct, r.body); code != http.StatusForbidden {
			t.Errorf("viewer alice: %s %s %s = %d, want 403", r.method, r.path, r.body, code)
		}
	}
	head := a.log.Head()
	if code, body := do("root", http.MethodGet, "/admin/erase", "", ""); code != 200 || !strings.Contains(body, "Erase and retention") || !strings.Contains(body, "kept for 365d") {
		t.Errorf("erase page: %d", code)
	}
	if code, body := do("root", http.MethodPost, "/admin/erase", form, url.Values{"user": {"bob"}}.Encode()); code != http.StatusBadRequest || !strings.Contains(body, "cannot be undone") {
		t.Errorf("erase without confirmation: %d", code)
	}
	if a.log.Head() != head {
		t.Fatalf("refused requests changed the log: head %d, was %d", a.log.Head(), head)
	}
	code, body := do("root", http.MethodPost, "/api/v1/admin/erase", "application/json", `{"user":"bob"}`)
	if code != 200 || strings.Contains(body, `"erased":0`) || !strings.Contains(body, `"by":"root"`) {
		t.Fatalf("erase bob: %d %s", code, body)
	}
	if _, body := do("root", http.MethodGet, "/api/v1/friends", "", ""); strings.Contains(body, bobID) || !strings.Contains(body, aliceID) {
		t.Errorf("friends after erasing bob: %s", body)
	}
	if code, body := do("root", http.MethodPost, "/api/v1/admin/erase", "application/json", `{"user":"a/b"}`); code != http.StatusBadRequest {
		t.Errorf("a user with a slash: %d %s", code, body)
	}
	if code, body := do("root", http.MethodPost, "/admin/erase", form, url.Values{"user": {"nobody"}, "confirm": {"yes"}}.Encode()); code != 200 || !strings.Contains(body, "Nothing matched") {
		t.Errorf("page erasing nobody: %d", code)
	}
	if code, body := do("root", http.MethodPost, "/api/v1/admin/retention", "application/json", `{"user":"alice","keep":"90d"}`); code != 200 || !strings.Contains(body, `"keep":"90d"`) {
		t.Errorf("retention API: %d %s", code, body)
	}
	if code, body := do("root", http.MethodPost, "/admin/erase/retention", form, url.Values{"user": {"alice"}, "keep": {"later"}}.Encode()); code != http.StatusBadRequest || !strings.Contains(body, "retention") {
		t.Errorf("retention page, nonsense period: %d", code)
	}
}
