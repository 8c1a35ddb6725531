// Package web serves the HTTP side: health and metrics, the pages, the
// read and admin APIs, OwnTracks HTTP mode and (in views/web/recorder) the
// Recorder-compatible API. Handlers are methods on Server, which holds
// only what they need; they read the projections only as the request's
// viewer may see them (visible.go).
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tracker/events"
	"tracker/events/audit"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/stats"
	"tracker/projections/visits"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
	"tracker/views/visible"
	"tracker/views/web/internal/httpx"
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

// Deps are the handlers' dependencies, built by serve in dependency
// order and handed to New.
type Deps struct {
	Log      events.Reader
	Events   EventGetter
	Appender events.Appender // admin events (areas)
	Decoder  *owntracks.Decoder
	Ingest   Ingest
	Stats    Stats
	// Projections are handed to a visible.Gate by New: handlers read
	// them only as their viewer may see them (s.proj), never from here.
	Projections Projections
	Logger      *slog.Logger
	Now         func() time.Time // clock for default ranges; time.Now when nil
	Assets      *static.Assets
	Tiles       views.Tiles
	// StaleAfter: a friend not heard from for longer looks stale on the
	// dashboard (0: views.DefaultStaleAfter).
	StaleAfter time.Duration
	Hub        *live.Hub
	Auth       *Auth
	UserAdmin  UserAdmin
	// MaxStreams caps live connections (websocket and SSE) per user;
	// default 20.
	MaxStreams int
	// Metrics are served on /metrics (made by New when nil); New adds a
	// collector reading Stats, Ingest, Log, Checkpoint, Hub and Disk at
	// scrape time. MetricsAllow are the networks besides loopback that
	// may read /metrics and /readyz without an admin login.
	Metrics      *Metrics
	MetricsAllow []netip.Prefix
	// AllowedHosts are the names (or name:port) this server answers to
	// besides loopback names and IP addresses; other Host headers get 421
	// (hostcheck.go).
	AllowedHosts []string
	// Disk is the free-space guard of the data volume, shown by /readyz
	// and /metrics (not watched when nil).
	Disk Disk
	// Checkpoint reads the projections' checkpoint, for /readyz and
	// /metrics (not reported when nil).
	Checkpoint func() uint64
	// Commands wait for phones in HTTP mode (httpmode.go); made when nil.
	Commands *Commands
	// Operations (adminops.go, upload.go, devicehealth.go): the device
	// health fold (the page, API and /metrics leave it out when nil), the
	// data directory's sizes (not shown when nil), the limits of an
	// upload and where it is kept meanwhile (the system's temporary
	// directory when empty).
	Health    DeviceHealth
	Storage   Storage
	Uploads   UploadLimits
	UploadDir string
	// Eraser erases events for good and sets retention (erase.go); the
	// erase page and API answer 404 when nil.
	Eraser Eraser
	// Phones are where phones reach this server (account.go).
	Phones PhoneEndpoints
	// Summarizer makes the stats' day summaries (stats.go); its zero
	// value sums up distance and fixes only.
	Summarizer stats.Summarizer
	// Share links (share.go): the links (their pages answer 404 when
	// nil), their view counts (in memory only when nil), and the base URL
	// their links start with (else from Phones.PublicHost or the request).
	Shares     ShareLinks
	ShareViews *ShareViews
	PublicURL  string
	// Visits is what makes a stay (zero: the defaults); PlaceAddress names
	// a stay no area covers in words (left unnamed when nil) (visits.go).
	Visits       visits.Config
	PlaceAddress visits.Address
	// Notify is the notification dispatcher, for the rules' delivery
	// logs (notifications.go); nil: none shown.
	Notify NotifyStatus
	// Addresses names street addresses for the Recorder API's addr
	// (--geocoder-url, views/nominatim); nil: none.
	Addresses AddressBook
	// WebPush is the server's Web Push key and endpoint policy (push.go);
	// the push API answers 404 when nil.
	WebPush *WebPush
	// PhoneNotices are the notifications waiting for a phone in HTTP
	// mode, added to the answer to its next post (push.go); none when nil.
	PhoneNotices PhoneNotices
}

// Server holds the handlers' dependencies and what they share.
type Server struct {
	Deps
	reads     *visible.Gate // the projections' reads, scoped per viewer (visible.go)
	projector projector     // the projections' controls: waiting and rebuilding
	streams   *streamCount  // live connections per user (capStreams)
	usersMu   *sync.Mutex   // one user command at a time (users.go)
	ops       *opsJobs      // the running rebuild and import (adminops.go)
	logins    *loginMarks   // the logins recorded, before the projections fold them (adminusers.go)
	share     *shareHub     // share links' streams, arrivals and guesses (share.go)
}

// New returns the server for d. Without an Auth nobody can log in, so
// nothing is locked (the open mode serve only allows on loopback).
func New(d Deps) *Server {
	if d.Auth == nil {
		d.Auth = &Auth{Users: noUsers{}, Logger: d.Logger, Open: true}
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics()
	}
	if d.Commands == nil {
		d.Commands = NewCommands(d.Logger)
	}
	if d.ShareViews == nil {
		d.ShareViews, _ = OpenShareViews("") // in memory: never fails
	}
	d.Metrics.reg.MustRegister(newStateCollector(d))
	s := &Server{Deps: d, reads: visible.New(d.Projections), projector: d.Projections,
		streams: &streamCount{n: map[string]int{}}, usersMu: &sync.Mutex{}, ops: newOpsJobs(),
		logins: &loginMarks{at: map[string]time.Time{}}}
	s.share = newShareHub(s.now)
	if d.Health != nil {
		d.Metrics.reg.MustRegister(healthCollector{h: d.Health, now: s.now})
	}
	return s
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Routes is the HTTP handler: every route, behind cross-origin protection
// on every state-changing request (a browser tab on another site cannot
// post here with the user's cookie) and a Host check (no DNS rebinding).
func (s *Server) Routes() http.Handler {
	return s.checkHost(http.NewCrossOriginProtection().Handler(s.Router()))
}

// Router lists every route, grouped by what they serve and who may.
func (s *Server) Router() chi.Router {
	r := chi.NewRouter()
	r.Use(s.Metrics.instrument) // request durations by route (metrics.go)
	r.Use(s.recoverer)          // a 500 page (errorpages.go)
	r.Use(s.logRequests)
	r.Use(s.securityHeaders)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	// Public: health, assets, the login page.
	r.Get("/healthz", s.healthz)
	r.With(s.metricsAccess).Get("/readyz", s.readyz)                                                                       // loopback, --metrics-allow or admin
	r.With(s.metricsAccess).Method(http.MethodGet, "/metrics", promhttp.HandlerFor(s.Metrics.reg, promhttp.HandlerOpts{})) // same
	r.Handle(static.Prefix+"*", s.Assets.Handler())
	r.Get("/login", s.loginPage)
	r.Post("/login", s.login)
	r.Post("/logout", s.logout)
	r.Post("/pub", s.pub) // OwnTracks HTTP mode: checks HTTP Basic credentials itself
	s.shareRoutes(r)      // /s/{token}: a share link, no login (share.go)
	s.serviceWorkerRoute(r)

	// Everything else needs a login once a user exists.
	r.Group(func(r chi.Router) {
		r.Use(s.Auth.Require)
		r.Get("/", s.dashboard)
		r.Get(views.MarkersURL, s.markers)
		r.Get("/live", s.capStreams(func(w http.ResponseWriter, r *http.Request) { s.Hub.ServeWSFor(w, r, s.access(r)) }))
		r.Get("/live/sse", s.capStreams(func(w http.ResponseWriter, r *http.Request) { s.Hub.ServeSSEFor(w, r, s.access(r)) }))
		r.Get("/faces/{seq}", s.face)
		s.historyRoutes(r)
		s.correctionPageRoutes(r)
		s.areaPageRoutes(r)
		s.asOfRoutes(r)
		s.accountRoutes(r)
		s.statsRoutes(r)       // stats.go
		s.shareManageRoutes(r) // /share (sharemanage.go)
		s.notifyPageRoutes(r)
		s.recorderAPI().Routes(r, s.capStreams) // OwnTracks Recorder-compatible /api/0 and /ws/last
		r.Route("/api/v1", func(r chi.Router) {
			r.Get("/friends", s.listFriends)
			r.Get("/friends/{user}/{device}/locations", s.friendLocations)
			r.Get("/friends/{user}/{device}/areas", s.friendAreaEvents)
			r.Get("/areas", s.listAreas)
			s.visitAPIRoutes(r) // visits, suggested places (visits.go)
			s.correctionAPIRoutes(r)
			s.meAPIRoutes(r)    // /api/v1/me/otrc
			s.statsAPIRoutes(r) // stats and heatmap (stats.go)
			s.shareAPIRoutes(r)
			s.notifyAPIRoutes(r)
			s.pushAPIRoutes(r)
			r.Group(func(r chi.Router) {
				r.Use(s.requireAdmin)
				r.Get("/events", s.listEvents)
				r.Get("/stats", s.stats)
				r.Post("/areas", s.defineArea)
				r.Delete("/areas/{name}", s.removeArea)
				s.areaEditRoutes(r) // rename, preview (areasedit.go)
				r.Post("/admin/rebuild", s.rebuild)
				r.Post("/admin/import", s.importEvents)
				r.Get("/export", s.exportLog)
				r.Get("/users", s.listUsers)
				r.Post("/users", s.changeUser)
				s.adminOpsAPI(r)
				s.eraseAPIRoutes(r)
			})
		})
		r.Group(func(r chi.Router) {
			r.Use(s.requireAdmin)
			s.logPageRoutes(r)
			s.adminOpsRoutes(r)
			s.adminUserRoutes(r)
			s.erasePageRoutes(r)
		})
	})
	return r
}

type noUsers struct{}

func (noUsers) User(string) (projections.User, bool) { return projections.User{}, false }
func (noUsers) HasUsers() bool                       { return false }

// securityHeaders sets the headers every answer carries: a
// Content-Security-Policy allowing only our own scripts and styles (and
// the tile server's images), no framing, no MIME sniffing, no referrer
// leaking friends' names in URLs.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	csp := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:" + tileSource(s.Tiles.URL) +
		"; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if s.secure(r) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// tileSource turns the tile URL template into a CSP source: its scheme and
// host, with a {s} subdomain placeholder as a wildcard.
func tileSource(tmpl string) string {
	scheme, rest, ok := strings.Cut(tmpl, "://")
	if !ok || tmpl == "" {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	if strings.Contains(host, "{") {
		if _, base, ok := strings.Cut(host, "."); ok {
			host = "*." + base
		}
	}
	return " " + scheme + "://" + host
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
	httpx.WriteJSON(w, code, h)
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	httpx.WriteJSON(w, http.StatusOK, s.Stats.Counts())
}

// httpError writes a plain-text error and logs server-side failures once.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, code int, msg string, err error) {
	httpx.Error(s.Logger, w, r, code, msg, err)
}

// access is who the request's viewer is, for a live stream that decides
// what it may send from the viewer's rights at each message (so a sharing
// change, logout, password change or removal reaches open streams).
// ?friend=user/device narrows the stream to that friend's row (history).
func (s *Server) access(r *http.Request) live.Access {
	v := ViewerFrom(r.Context())
	return live.Access{
		User:   v.Name,
		Rights: func() (live.Rights, error) { return s.rights(v) },
		Friend: projections.DeviceID(r.URL.Query().Get("friend")),
	}
}

// rights are v's live rights now; live.ErrRevoked once they have ended.
func (s *Server) rights(v Viewer) (live.Rights, error) {
	cur, err := s.Auth.current(v)
	if err != nil {
		return live.Rights{}, live.ErrRevoked
	}
	return live.Rights{May: cur.rule(), Admin: cur.Open || cur.Admin}, nil
}

// streamCount counts open live connections per user.
type streamCount struct {
	mu sync.Mutex
	n  map[string]int
	// open counts the live handlers running: http.Server.Shutdown does not
	// wait for hijacked (websocket) connections, so serve waits here.
	open sync.WaitGroup
}

// capStreams refuses a user's live connection beyond MaxStreams, so one
// account cannot tie up the server with sockets.
func (s *Server) capStreams(next http.HandlerFunc) http.HandlerFunc {
	limit := s.MaxStreams
	if limit <= 0 {
		limit = 20
	}
	return func(w http.ResponseWriter, r *http.Request) {
		who := ViewerFrom(r.Context()).Name
		s.streams.mu.Lock()
		if s.streams.n[who] >= limit {
			s.streams.mu.Unlock()
			http.Error(w, fmt.Sprintf("too many live connections for this user (limit %d); close some tabs", limit), http.StatusTooManyRequests)
			return
		}
		s.streams.n[who]++
		s.streams.open.Add(1)
		s.streams.mu.Unlock()
		defer s.streams.open.Done()
		defer func() {
			s.streams.mu.Lock()
			s.streams.n[who]--
			s.streams.mu.Unlock()
		}()
		next(w, r)
	}
}

// WaitStreams waits until every live connection's handler (websocket,
// SSE, /ws/last) has returned, or ctx ends. Their handlers end with the
// server's base context; call it after http.Server.Shutdown.
func (s *Server) WaitStreams(ctx context.Context) error {
	if s.streams == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { s.streams.open.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("live connections still open at shutdown: %w", ctx.Err())
	}
}

// secure reports whether the client reached us over HTTPS: directly, or
// through a trusted reverse proxy that says so in X-Forwarded-Proto.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || (s.Auth != nil && s.Auth.fromTrustedProxy(r) && r.Header.Get("X-Forwarded-Proto") == "https")
}
