package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/projections"
	"tracker/views"
)

// The users and sharing page (/admin/users). Its forms post to routes of
// their own, each behind login, the admin check and the cross-origin
// protection every state-changing request has (Routes), and each makes
// the same user command as `tracker user …` through issueUser (users.go):
// one event per change, the same checks (last admin, unknown user), the
// same answer. A rendering carries an identity (views.AdminUsers.Issue);
// each command's identity is derived from it, the action and the user, so
// a form sent twice is applied once (projections/issued.go).

// adminUserRoutes: the page and its forms. Mounted in the admin group.
func (s *Server) adminUserRoutes(r chi.Router) {
	r.Get("/admin/users", s.adminUsersPage)
	r.Post("/admin/users/add", s.adminUserAdd)
	r.Post("/admin/users/passwd", s.adminUserPasswd)
	r.Post("/admin/users/role", s.adminUserRole)
	r.Post("/admin/users/remove", s.adminUserRemove)
	r.Post("/admin/users/share", s.adminUserShare)
}

// LoginEvery spaces the login events of one user: a login within this
// long of the last one recorded is not recorded again, so a script that
// logs in in a loop adds at most one event a minute.
const LoginEvery = time.Minute

// recordLogin appends a login event for u (projections.LoginTopic): the
// page's "last login" comes from the log. A failure (a full disk) is
// logged and does not stop the login.
func (s *Server) recordLogin(ctx context.Context, u projections.User) {
	now := s.now()
	if s.Appender == nil || recent(u.LastLogin, now) || !s.logins.claim(u.Name, now) {
		return
	}
	payload := []byte(fmt.Sprintf(`{"_type":"login","name":%q}`, u.Name))
	if _, err := s.Appender.Append(ctx, events.Event{
		Topic: projections.LoginTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: now,
	}); err != nil {
		s.Logger.Warn("could not record a login in the log; the user's last login stays as it was", "user", u.Name, "err", err)
	}
}

// recent reports whether a login at last is within LoginEvery before now.
func recent(last, now time.Time) bool {
	return !last.IsZero() && now.Sub(last) < LoginEvery && !now.Before(last)
}

// loginMarks remembers the logins this server recorded: the projections
// fold a login event a moment after it is appended, and a second login in
// that moment must not record another. One entry per user who logged in.
type loginMarks struct {
	mu sync.Mutex
	at map[string]time.Time
}

// claim reports whether a login of name at now should be recorded, and if
// so marks it: check and mark are one step, so concurrent logins record one.
func (m *loginMarks) claim(name string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if recent(m.at[name], now) {
		return false
	}
	m.at[name] = now
	return true
}

// adminUsersPage shows the page with no notice.
func (s *Server) adminUsersPage(w http.ResponseWriter, r *http.Request) {
	s.renderAdminUsers(w, r, http.StatusOK, nil, nil)
}

// renderAdminUsers renders the page with the outcome of an action. Pages
// that may carry a password are never stored by the browser.
func (s *Server) renderAdminUsers(w http.ResponseWriter, r *http.Request, code int, n *views.AdminNotice, fill func(*views.AdminUsers)) {
	m := views.BuildAdminUsers(s.pageFor(r, "Users and sharing", "users"), s.UserAdmin.Users(), s.proj(r).Friends())
	m.Issue = newIssue()
	m.Notice = n
	if fill != nil {
		fill(&m)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	s.render(w, r, views.AdminUsersPage(m))
}

func newIssue() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// formIssue derives a command's identity from the rendering's (the form
// field "issue") and what the command does to whom; "" when the form
// has none (then each post is a new issue).
func formIssue(r *http.Request, parts ...string) string {
	issue := r.PostFormValue("issue")
	if b, err := hex.DecodeString(issue); err != nil || len(b) != 16 {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(issue))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// adminForm parses a form post (small: names, a password, the matrix).
func (s *Server) adminForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	if err := r.ParseForm(); err != nil {
		s.renderAdminUsers(w, r, http.StatusBadRequest, &views.AdminNotice{Error: true, Text: "The form could not be read; reload the page and try again."}, nil)
		return false
	}
	return true
}

// adminOutcome renders the page after a command: its refusal, or what
// happened (ok says it in words).
func (s *Server) adminOutcome(w http.ResponseWriter, r *http.Request, res userResult, err error, ok string, fill func(*views.AdminUsers)) {
	var refused userRefusal
	switch {
	case errors.As(err, &refused):
		s.renderAdminUsers(w, r, refused.code, &views.AdminNotice{Error: true, Text: refused.msg}, fill)
	case err != nil:
		s.Logger.Error("a user change from the admin page failed", "err", err)
		s.renderAdminUsers(w, r, http.StatusServiceUnavailable, &views.AdminNotice{Error: true, Text: "Could not record the change; try again."}, fill)
	case res.Repeated:
		s.renderAdminUsers(w, r, http.StatusOK, &views.AdminNotice{Text: fmt.Sprintf("This form was sent before and applied then (event %d); nothing changed now.", res.Seq)}, nil)
	default:
		s.renderAdminUsers(w, r, http.StatusOK, &views.AdminNotice{Text: fmt.Sprintf("%s (event %d).", ok, res.Seq)}, nil)
	}
}

// repeated answers a form whose command was applied before, without
// hashing its password again (bcrypt costs tens of milliseconds);
// issueUser checks once more under its lock.
func (s *Server) repeated(w http.ResponseWriter, r *http.Request, id string) bool {
	seq, ok := s.UserAdmin.IssuedAt(id)
	if id == "" || !ok {
		return false
	}
	s.adminOutcome(w, r, userResult{Seq: seq, Repeated: true}, nil, "", nil)
	return true
}

// password is the form's typed password, or a generated one (shown once).
func password(r *http.Request) (pw string, generated bool) {
	if pw = r.PostFormValue("password"); pw != "" {
		return pw, false
	}
	return rand.Text(), true // 26 characters, 130 bits
}

func (s *Server) adminUserAdd(w http.ResponseWriter, r *http.Request) {
	if !s.adminForm(w, r) {
		return
	}
	name, admin := r.PostFormValue("name"), r.PostFormValue("role") == "admin"
	refill := func(m *views.AdminUsers) { m.AddName, m.AddAdmin = name, admin }
	id := formIssue(r, "add", name)
	if s.repeated(w, r, id) {
		return
	}
	pw, generated := password(r)
	hash, err := projections.HashPassword(pw)
	if err != nil {
		s.renderAdminUsers(w, r, http.StatusBadRequest, &views.AdminNotice{Error: true, Text: err.Error()}, refill)
		return
	}
	c := projections.UserCommand{Action: projections.UserAdd, Name: name, Hash: hash, Admin: admin}
	c.ID = id
	res, err := s.issueUser(r.Context(), ViewerFrom(r.Context()), c, true)
	n := &views.AdminNotice{Text: fmt.Sprintf("User %q added as %s (event %d).", name, role(admin), res.Seq)}
	if err == nil && !res.Repeated && generated {
		n.Password, n.User = pw, name
	}
	if err != nil || res.Repeated {
		s.adminOutcome(w, r, res, err, "", refill)
		return
	}
	s.renderAdminUsers(w, r, http.StatusOK, n, nil)
}

func (s *Server) adminUserPasswd(w http.ResponseWriter, r *http.Request) {
	if !s.adminForm(w, r) {
		return
	}
	name := r.PostFormValue("name")
	id := formIssue(r, "passwd", name)
	if s.repeated(w, r, id) {
		return
	}
	pw, generated := password(r)
	hash, err := projections.HashPassword(pw)
	if err != nil {
		s.renderAdminUsers(w, r, http.StatusBadRequest, &views.AdminNotice{Error: true, Text: err.Error()}, nil)
		return
	}
	c := projections.UserCommand{Action: projections.UserPasswd, Name: name, Hash: hash}
	c.ID = id
	res, err := s.issueUser(r.Context(), ViewerFrom(r.Context()), c, false)
	if err != nil || res.Repeated {
		s.adminOutcome(w, r, res, err, "", nil)
		return
	}
	n := &views.AdminNotice{Text: fmt.Sprintf("User %q has a new password (event %d); their sessions have ended.", name, res.Seq)}
	if generated {
		n.Password, n.User = pw, name
	}
	s.renderAdminUsers(w, r, http.StatusOK, n, nil)
}

func (s *Server) adminUserRole(w http.ResponseWriter, r *http.Request) {
	if !s.adminForm(w, r) {
		return
	}
	name, admin := r.PostFormValue("name"), r.PostFormValue("role") == "admin"
	if v := r.PostFormValue("role"); v != "admin" && v != "viewer" {
		s.renderAdminUsers(w, r, http.StatusBadRequest, &views.AdminNotice{Error: true, Text: fmt.Sprintf("role: %q is neither admin nor viewer", v)}, nil)
		return
	}
	c := projections.UserCommand{Action: projections.UserRole, Name: name, Admin: admin}
	c.ID = formIssue(r, "role", name, role(admin))
	res, err := s.issueUser(r.Context(), ViewerFrom(r.Context()), c, false)
	s.adminOutcome(w, r, res, err, fmt.Sprintf("User %q is now %s", name, role(admin)), nil)
}

func (s *Server) adminUserRemove(w http.ResponseWriter, r *http.Request) {
	if !s.adminForm(w, r) {
		return
	}
	name := r.PostFormValue("name")
	c := projections.UserCommand{Action: projections.UserRemove, Name: name}
	c.ID = formIssue(r, "remove", name)
	res, err := s.issueUser(r.Context(), ViewerFrom(r.Context()), c, false)
	s.adminOutcome(w, r, res, err, fmt.Sprintf("User %q removed; their sessions and phone connections have ended", name), nil)
}

// adminUserShare applies the sharing matrix: one share command for each
// row that differs from what the user sees now, in row order; rows that
// did not change make no event. The answer names the rows changed.
func (s *Server) adminUserShare(w http.ResponseWriter, r *http.Request) {
	if !s.adminForm(w, r) {
		return
	}
	users := map[string]projections.User{}
	for _, u := range s.UserAdmin.Users() {
		users[u.Name] = u
	}
	var changed, repeated []string
	var last uint64
	for _, viewer := range r.PostForm["row"] {
		u, ok := users[viewer]
		if !ok {
			s.renderAdminUsers(w, r, http.StatusNotFound, &views.AdminNotice{Error: true, Text: fmt.Sprintf("no user %q; reload the page", viewer)}, nil)
			return
		}
		if u.Admin {
			continue // admins see everybody
		}
		everyone := slices.Contains(r.PostForm["everyone"], viewer)
		var sees []string
		if !everyone {
			// Columns are accounts and the owners of phones seen so far
			// (a phone may publish before its account exists).
			for _, o := range r.PostForm[views.SharingField(viewer)] {
				if projections.ValidUserName(o) == nil && o != viewer && !slices.Contains(sees, o) {
					sees = append(sees, o)
				}
			}
			slices.Sort(sees)
		}
		c := projections.UserCommand{Action: projections.UserShare, Name: viewer, Everyone: everyone, Sees: sees}
		c.ID = formIssue(r, "share", viewer, fmt.Sprint(everyone), strings.Join(sees, "\x00"))
		if u.Restricted == !everyone && slices.Equal(u.Sees, sees) {
			if _, ok := s.UserAdmin.IssuedAt(c.ID); ok && c.ID != "" {
				repeated = append(repeated, viewer)
			}
			continue // this row is as it was: no event
		}
		res, err := s.issueUser(r.Context(), ViewerFrom(r.Context()), c, false)
		if err != nil {
			s.adminOutcome(w, r, res, err, "", nil)
			return
		}
		if res.Repeated {
			repeated = append(repeated, viewer)
			continue
		}
		changed, last = append(changed, viewer), res.Seq
	}
	switch {
	case len(changed) > 0:
		s.renderAdminUsers(w, r, http.StatusOK, &views.AdminNotice{Text: fmt.Sprintf("Sharing changed for %s (last event %d); open pages and phones follow at once.", strings.Join(quoted(changed), ", "), last)}, nil)
	case len(repeated) > 0:
		s.renderAdminUsers(w, r, http.StatusOK, &views.AdminNotice{Text: "This form was sent before and applied then; nothing changed now."}, nil)
	default:
		s.renderAdminUsers(w, r, http.StatusOK, &views.AdminNotice{Text: "Nothing to change: the matrix is as it was."}, nil)
	}
}

func role(admin bool) string {
	if admin {
		return "admin"
	}
	return "viewer"
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}
