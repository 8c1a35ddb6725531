package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tracker/events/lograte"
	"tracker/projections"
	"tracker/views"
)

// Users is what authentication needs to know about accounts.
type Users interface {
	User(name string) (projections.User, bool)
	HasUsers() bool
}

// Viewer is who is asking. In open mode (no user exists yet, every
// listener on loopback) the viewer is an anonymous admin.
type Viewer struct {
	Name  string
	Admin bool
	Open  bool
	user  projections.User
	// session is the token the viewer logged in with; empty for HTTP
	// Basic credentials and open mode.
	session string
}

type viewerKey struct{}

// ViewerFrom returns the request's viewer (set by the auth middleware).
func ViewerFrom(ctx context.Context) Viewer {
	v, _ := ctx.Value(viewerKey{}).(Viewer)
	return v
}

const (
	sessionCookie = "tracker_session"
	sessionTTL    = 30 * 24 * time.Hour
)

// Sessions are random tokens kept in memory and in a file in the data
// directory (so a restart does not log everybody out). A session ends on
// logout, on expiry, and when the user's password changes.
type Sessions struct {
	file string
	// Now is the clock sessions expire by (tests move it).
	Now func() time.Time

	mu sync.Mutex
	m  map[string]session
}

type session struct {
	User        string    `json:"user"`
	Expires     time.Time `json:"expires"`
	PasswordSeq uint64    `json:"password_seq"`
}

// OpenSessions loads the sessions file (missing is fine).
func OpenSessions(file string) (*Sessions, error) {
	s := &Sessions{file: file, Now: time.Now, m: map[string]session{}}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) || file == "" {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	if err := json.Unmarshal(b, &s.m); err != nil {
		return nil, fmt.Errorf("sessions: %s: %w", file, err)
	}
	if s.prune() {
		if err := s.save(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// prune drops expired sessions; the caller holds mu. It reports whether
// any went.
func (s *Sessions) prune() bool {
	now, dropped := s.Now(), false
	for t, ses := range s.m {
		if now.After(ses.Expires) {
			delete(s.m, t)
			dropped = true
		}
	}
	return dropped
}

func (s *Sessions) save() error {
	if s.file == "" {
		return nil
	}
	s.prune()
	b, _ := json.Marshal(s.m)
	tmp := s.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	return os.Rename(tmp, s.file)
}

// MaxSessionsPerUser bounds one user's sessions: logging in once more
// ends the oldest, so a script logging in in a loop cannot grow the
// sessions file without end.
const MaxSessionsPerUser = 20

// New starts a session for u and returns its token.
func (s *Sessions) New(u projections.User) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	var mine []string
	for t, ses := range s.m {
		if ses.User == u.Name {
			mine = append(mine, t)
		}
	}
	if len(mine) >= MaxSessionsPerUser {
		// Every session lives sessionTTL, so the soonest to expire is the oldest.
		slices.SortFunc(mine, func(x, y string) int { return s.m[x].Expires.Compare(s.m[y].Expires) })
		for _, t := range mine[:len(mine)-MaxSessionsPerUser+1] {
			delete(s.m, t)
		}
	}
	s.m[tok] = session{User: u.Name, Expires: s.Now().Add(sessionTTL), PasswordSeq: u.PasswordSeq}
	return tok, s.save()
}

// End forgets a session.
func (s *Sessions) End(tok string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, tok)
	return s.save()
}

// Len is the number of sessions held (expired ones are pruned first).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune()
	return len(s.m)
}

// Lookup returns the session's user when the token is valid. A session
// found expired, or whose user is gone or changed password, is dropped
// (from memory and the file) there and then.
func (s *Sessions) Lookup(tok string, users Users) (projections.User, bool) {
	s.mu.Lock()
	ses, ok := s.m[tok]
	s.mu.Unlock()
	if !ok {
		return projections.User{}, false
	}
	u, exists := users.User(ses.User)
	if s.Now().After(ses.Expires) || !exists || u.PasswordSeq != ses.PasswordSeq {
		_ = s.End(tok) // if the file cannot be written, the next save drops it
		return projections.User{}, false
	}
	return u, true
}

// Auth decides who a request is from.
type Auth struct {
	Users    Users
	Sessions *Sessions
	Logger   *slog.Logger
	// Open is open mode (every request an anonymous admin), decided once
	// at start by the caller: only when no user exists and every listener
	// is on loopback. It ends for good when a user appears; removing users
	// later never reopens a running server.
	Open   bool
	closed atomic.Bool // open mode has ended
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (--trusted-proxy); empty: forwarded
	// headers are ignored.
	TrustedProxies []netip.Prefix
	// Now is the clock the login limiter counts by; time.Now when nil.
	Now      func() time.Time
	limits   *limiter
	lockLogs *lograte.Limiter // "too many failed logins": once a minute per address
	initOnce sync.Once
	lastUse  lastUses // device credentials' last use (phonelogin.go)
}

func (a *Auth) init() {
	a.initOnce.Do(func() {
		now := a.Now
		if now == nil {
			now = time.Now
		}
		a.limits = newLimiter(now)
		a.lockLogs = lograte.New(time.Minute, 4096)
	})
}

// errTooMany says how long to wait after too many failed logins.
type errTooMany struct{ wait time.Duration }

func (e errTooMany) Error() string {
	return fmt.Sprintf("too many failed logins; try again in %s", e.wait.Round(time.Second))
}

var errBadLogin = errors.New("wrong name or password")

// dummyHash is a bcrypt hash (at the cost HashPassword uses) of a
// password nobody has: a login for an unknown name is checked against it,
// so it costs as long as a wrong password for a real user and the answer
// time does not tell who exists.
var dummyHash = projections.User{Hash: "$2a$10$KJ/ID.I9ewnIKZNHMvHzb.QFYO5EG7jT9FMtL/FWjxIngKhguzEOu"}

// Check verifies a name and password from the client address ip (with or
// without a port), within the login limits (limiter.go). HTTP and MQTT
// logins both come here, so they share one budget.
func (a *Auth) Check(name, password, ip string) (projections.User, error) {
	var u projections.User
	err := a.Guard(name, ip, func() bool {
		var exists bool
		u, exists = a.Users.User(name)
		if !exists {
			u = dummyHash
		}
		return u.CheckPassword(password) && exists
	})
	if err != nil {
		return projections.User{}, err
	}
	return u, nil
}

// Guard runs a login whose password is checked by verify (Check's, or
// the embedded broker's for its service accounts, --mqtt-user) within the
// login limits: verify runs only when the limits allow a try, and a false
// answer counts as a failure.
func (a *Auth) Guard(name, ip string, verify func() bool) error {
	a.init()
	ip = hostOnly(ip)
	if wait := a.limits.wait(name, ip); wait > 0 {
		// A locked-out client that keeps trying (a phone with an old
		// password retries every few seconds) is logged once a minute.
		if ok, n := a.lockLogs.Allow(addrKey(ip)); ok {
			a.Logger.Warn("login refused: too many failed logins (repeats from this address are logged once a minute)",
				"user", name, "client", ip, "retry_in", wait.Round(time.Second), "refused_since_last_line", n)
		}
		return errTooMany{wait}
	}
	if !verify() {
		a.limits.fail(name, ip)
		a.Logger.Warn("login failed", "user", name, "client", ip)
		return errBadLogin
	}
	a.limits.ok(name, ip)
	return nil
}

// IsOpen reports whether the server is in open mode now: started open
// and no user has existed since.
func (a *Auth) IsOpen() bool {
	if !a.Open || a.closed.Load() {
		return false
	}
	if a.Users.HasUsers() {
		a.closed.Store(true)
		return false
	}
	return true
}

// viewer works out who is asking: open mode, a session cookie, or HTTP
// Basic credentials (scripts, the CLI, phones in HTTP mode).
func (a *Auth) viewer(r *http.Request) (Viewer, error) {
	if a.IsOpen() {
		return Viewer{Name: "", Admin: true, Open: true}, nil
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if u, ok := a.Sessions.Lookup(c.Value, a.Users); ok {
			return Viewer{Name: u.Name, Admin: u.Admin, user: u, session: c.Value}, nil
		}
	}
	if name, pw, ok := r.BasicAuth(); ok {
		u, err := a.Check(name, pw, a.ClientIP(r))
		if err != nil {
			return Viewer{}, err
		}
		return Viewer{Name: u.Name, Admin: u.Admin, user: u}, nil
	}
	return Viewer{}, errNoLogin
}

var (
	errNoLogin = errors.New("login required")
	errRevoked = errors.New("the login has ended: logged out, password changed or user removed")
)

// current is v as of now, for streams that outlive the request that
// checked v: the same session, or the same user with the same password,
// under the current sharing rule. errRevoked once the session has ended,
// the password changed or the user was removed (or open mode has ended).
func (a *Auth) current(v Viewer) (Viewer, error) {
	switch {
	case v.Open:
		if !a.IsOpen() {
			return Viewer{}, errRevoked
		}
		return v, nil
	case v.session != "":
		u, ok := a.Sessions.Lookup(v.session, a.Users)
		if !ok {
			return Viewer{}, errRevoked
		}
		return Viewer{Name: u.Name, Admin: u.Admin, user: u, session: v.session}, nil
	default: // HTTP Basic: checked once at connect, valid while the password is
		u, ok := a.Users.User(v.Name)
		if !ok || u.PasswordSeq != v.user.PasswordSeq {
			return Viewer{}, errRevoked
		}
		return Viewer{Name: u.Name, Admin: u.Admin, user: u}, nil
	}
}

// Require lets only logged-in viewers through: pages redirect to the login
// page, everything else (API, streams) gets 401.
func (a *Auth) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.viewer(r)
		if err != nil {
			var tooMany errTooMany
			switch {
			case errors.As(err, &tooMany):
				w.Header().Set("Retry-After", fmt.Sprint(int(tooMany.wait.Seconds())+1))
				http.Error(w, err.Error(), http.StatusTooManyRequests)
			case wantsHTML(r):
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			default:
				// No challenge for a page's own script (X-Requested-With, as the
				// page's login check sends): a browser would answer it with a
				// password dialog instead of letting the script go to /login.
				if r.Header.Get("X-Requested-With") == "" {
					w.Header().Set("WWW-Authenticate", `Basic realm="tracker", charset="UTF-8"`)
				}
				http.Error(w, "login required", http.StatusUnauthorized)
			}
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, v)))
	})
}

// RequireAdmin refuses viewers who are not admins.
func RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !ViewerFrom(r.Context()).Admin {
			http.Error(w, "only admins may do this", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// wantsHTML tells a browser page request from an API or stream request.
func wantsHTML(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/live") || r.Header.Get("Upgrade") != "" {
		return false
	}
	return r.Method == http.MethodGet && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// safeNext keeps a post-login redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	m := views.Login{Page: s.page("Log in", ""), Next: safeNext(r.URL.Query().Get("next"))}
	s.render(w, r, views.LoginPage(m))
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	name, next := r.PostFormValue("user"), safeNext(r.PostFormValue("next"))
	u, err := s.Auth.Check(name, r.PostFormValue("password"), s.Auth.ClientIP(r))
	if err != nil {
		code := http.StatusUnauthorized
		var tooMany errTooMany
		if errors.As(err, &tooMany) {
			code = http.StatusTooManyRequests
		}
		w.WriteHeader(code)
		s.render(w, r, views.LoginPage(views.Login{Page: s.page("Log in", ""), Next: next, User: name, Message: err.Error()}))
		return
	}
	tok, err := s.Auth.Sessions.New(u)
	if err != nil {
		s.httpError(w, r, http.StatusInternalServerError, "could not start a session", err)
		return
	}
	if s.Hub != nil {
		s.Hub.Recheck(u.Name) // a session pushed out by the per-user cap closes its streams
	}
	s.recordLogin(r.Context(), u)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secure(r), MaxAge: int(sessionTTL.Seconds()),
	})
	s.Logger.Info("logged in", "user", u.Name, "client", s.Auth.ClientIP(r))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && s.Auth.Sessions != nil {
		u, live := s.Auth.Sessions.Lookup(c.Value, s.Auth.Users)
		if err := s.Auth.Sessions.End(c.Value); err != nil {
			s.Logger.Error("ending a session", "err", err)
		}
		if live && s.Hub != nil {
			s.Hub.Recheck(u.Name) // the streams this session opened close now
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
