package web

import (
	"encoding/json"
	"fmt"
	"net/http"

	"time"

	"tracker/events"
	"tracker/projections"
	"tracker/views/web/internal/httpx"
)

// UserAdmin is what user management needs beyond Users.
type UserAdmin interface {
	Users() []projections.User
}

type userLine struct {
	Name       string   `json:"name"`
	Admin      bool     `json:"admin"`
	Restricted bool     `json:"restricted"`
	Sees       []string `json:"sees,omitempty"`
}

// listUsers lists accounts without their hashes.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	out := []userLine{}
	for _, u := range s.UserAdmin.Users() {
		out = append(out, userLine{Name: u.Name, Admin: u.Admin, Restricted: u.Restricted, Sees: u.Sees})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// userResult answers a user command with its outcome: the user as the
// projections now hold it, or Exists false after a removal.
type userResult struct {
	Seq       uint64 `json:"seq"`
	CommandID string `json:"command_id"`
	Name      string `json:"name"`
	Exists    bool   `json:"exists"`
	// User is the account now (without its hash); absent when removed.
	User *userLine `json:"user,omitempty"`
}

// issuer names who issues a command through the server.
func issuer(v Viewer) string {
	if v.Name == "" {
		return "open-mode"
	}
	return v.Name
}

// changeUser records a user command (add, passwd, remove, share) sent by
// `tracker user` through the running server, and answers with the
// resulting user. The password arrives already hashed. Removing the last
// admin (or re-adding it without admin) is refused with 409.
func (s *Server) changeUser(w http.ResponseWriter, r *http.Request) {
	var c projections.UserCommand
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&c); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "user: body is not valid JSON: "+err.Error(), nil)
		return
	}
	c.Type = "user"
	if err := c.Validate(); err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	// One user command at a time, so two removals cannot both pass the
	// last-admin check.
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	if _, ok := s.Auth.Users.User(c.Name); !ok && c.Action != projections.UserAdd {
		s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("no user %q", c.Name), nil)
		return
	}
	if err := projections.CheckLastAdmin(s.UserAdmin.Users(), c); err != nil {
		s.httpError(w, r, http.StatusConflict, err.Error(), nil)
		return
	}
	v := ViewerFrom(r.Context())
	c.Issue = projections.NewIssue(issuer(v), s.now())
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(r.Context(), events.Event{
		Topic: projections.UserTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		s.httpError(w, r, http.StatusServiceUnavailable, "could not record the change; try again", err)
		return
	}
	if err := s.projector.WaitFor(r.Context(), seq); err != nil {
		s.httpError(w, r, http.StatusAccepted, "recorded; projections are catching up", nil)
		return
	}
	s.Logger.Info("user changed", "user", c.Name, "action", c.Action, "by", issuer(v), "command_id", c.ID, "seq", seq)
	res := userResult{Seq: seq, CommandID: c.ID, Name: c.Name}
	if u, ok := s.Auth.Users.User(c.Name); ok {
		res.Exists = true
		res.User = &userLine{Name: u.Name, Admin: u.Admin, Restricted: u.Restricted, Sees: u.Sees}
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}
