// Package web serves the HTTP side: health, the event log API and (later)
// the pages. Handlers are methods on Server, which holds only what they
// need.
package web

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"tracker/events"
	"tracker/events/audit"
	"tracker/events/owntracks"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
)

// Ingest is what the health check asks of the message intake.
type Ingest interface {
	Connected() bool
	Source() string
}

// Stats reports what the auditor counted.
type Stats interface {
	Counts() audit.Counts
}

// Server holds the handlers' dependencies.
type Server struct {
	Log         events.Reader
	Events      EventGetter
	Appender    events.Appender // admin events (areas)
	Decoder     *owntracks.Decoder
	Ingest      Ingest
	Stats       Stats
	Projections Projections
	Logger      *slog.Logger
	Now         func() time.Time // clock for default ranges; time.Now when nil
	Assets      *static.Assets
	Tiles       views.Tiles
	Hub         *live.Hub
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Routes lists every route, grouped by what they serve.
func (s *Server) Routes() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(s.logRequests)

	r.Get("/healthz", s.healthz)

	r.Get("/", s.dashboard)
	r.Get("/live", s.Hub.ServeWS)
	r.Get("/live/sse", s.Hub.ServeSSE)
	r.Get("/faces/{seq}", s.face)
	s.historyRoutes(r)
	s.areaPageRoutes(r)
	s.logPageRoutes(r)
	r.Handle(static.Prefix+"*", s.Assets.Handler())

	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/events", s.listEvents)
		r.Get("/stats", s.stats)
		r.Get("/friends", s.listFriends)
		r.Get("/friends/{user}/{device}/locations", s.friendLocations)
		r.Get("/friends/{user}/{device}/areas", s.friendAreaEvents)
		r.Get("/areas", s.listAreas)
		r.Post("/areas", s.defineArea)
		r.Delete("/areas/{name}", s.removeArea)
		r.Post("/admin/rebuild", s.rebuild)
	})
	return r
}

// NewHTTPServer wraps h with the timeouts every listener needs.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// No WriteTimeout: the event stream (?follow=1) is long-lived.
	}
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		s.Logger.Debug("http request", "method", r.Method, "uri", r.URL.RequestURI(),
			"status", ww.Status(), "bytes", ww.BytesWritten(), "took", time.Since(start), "remote", r.RemoteAddr)
	})
}

// healthz answers 200 when the log is open and ingest is connected.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	type health struct {
		Status    string `json:"status"`
		Ingest    string `json:"ingest"`
		Connected bool   `json:"connected"`
		Head      uint64 `json:"log_head"`
	}
	h := health{Status: "ok", Ingest: s.Ingest.Source(), Connected: s.Ingest.Connected(), Head: s.Log.Head()}
	code := http.StatusOK
	if !h.Connected {
		h.Status, code = "ingest disconnected", http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats.Counts())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// httpError writes a plain-text error and logs server-side failures once.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	if code >= 500 {
		s.Logger.Error("request failed", "method", r.Method, "uri", r.URL.RequestURI(), "status", code, "err", err)
	}
	http.Error(w, msg, code)
}
