package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"tracker/static"
)

// A handler that panics gives a browser the 500 page in the site's
// layout, a script a plain line, and the log one line with the panic;
// http.ErrAbortHandler (an answer cut on purpose, httpx.FailMid) still
// reaches net/http.
func TestRecoverer(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{Deps: Deps{Assets: static.New(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}}
	h := s.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))
	for _, accept := range []string{"text/html", "application/json"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Accept", accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500", accept, rec.Code)
		}
		page := strings.Contains(body, `data-testid="error-page"`) && strings.Contains(body, "Something went wrong on the server")
		if page != (accept == "text/html") {
			t.Errorf("%s: page %v:\n%s", accept, page, body)
		}
		if strings.Contains(body, "boom") {
			t.Errorf("%s: the panic reached the client:\n%s", accept, body)
		}
	}
	if n := strings.Count(logs.String(), "panic: boom"); n != 2 {
		t.Errorf("the panics were logged %d times, want 2:\n%s", n, logs.String())
	}

	abort := s.recoverer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler passed on", v)
		}
	}()
	abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}
