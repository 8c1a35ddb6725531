package web

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/go-chi/chi/v5/middleware"
)

// Answers for requests that cannot be served. A browser asking for a page
// gets the site's own page in its layout with a link home (views.ErrorView,
// through pageError);
// API, stream and script requests keep their short plain-text answers,
// which clients (and the CLI) read.

// errorPage answers with code and msg, as a page for a browser and as
// plain text otherwise; server-side failures are logged once (httpError).
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	if !wantsHTML(r) {
		s.httpError(w, r, code, msg, err)
		return
	}
	s.pageError(w, r, "", code, msg, err)
}

// notFound is every unknown address.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, fmt.Sprintf("There is no page at %s. It may have moved, or the link is mistyped.", r.URL.Path), nil)
}

// methodNotAllowed is a known address asked with the wrong method (a
// form posted to a page that only shows, say).
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("%s does not take %s requests.", r.URL.Path, r.Method), nil)
}

// requireAdmin is RequireAdmin with a page for a browser.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ViewerFrom(r.Context()).Admin {
			s.errorPage(w, r, http.StatusForbidden, "Only admins may see this page. Ask an admin, or log in as one.", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a handler's panic into a 500 (a page for a browser),
// logged with the request; http.ErrAbortHandler (a deliberately cut
// answer, httpx.FailMid) passes through to net/http.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err := fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			if ww.Status() != 0 || r.Header.Get("Upgrade") != "" {
				s.Logger.Error("request failed", "method", r.Method, "uri", r.URL.RequestURI(), "err", err)
				return // the answer has begun (or the connection is hijacked): nothing more to send
			}
			s.errorPage(ww, r, http.StatusInternalServerError, "The server failed to answer this request; it has been logged. Try again, or go back to the dashboard.", err)
		}()
		next.ServeHTTP(ww, r)
	})
}
