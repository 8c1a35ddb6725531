package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	// IssuedAt is the event that applied the command with that identity,
	// when the projections remember it (a command applies once per issue).
	IssuedAt(id string) (uint64, bool)
}

type userLine struct {
	Name       string    `json:"name"`
	Admin      bool      `json:"admin"`
	Restricted bool      `json:"restricted"`
	Sees       []string  `json:"sees,omitempty"`
	LastLogin  time.Time `json:"last_login,omitzero"`
}

func lineOf(u projections.User) userLine {
	return userLine{Name: u.Name, Admin: u.Admin, Restricted: u.Restricted, Sees: u.Sees, LastLogin: u.LastLogin}
}

// listUsers lists accounts without their hashes.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	out := []userLine{}
	for _, u := range s.UserAdmin.Users() {
		out = append(out, lineOf(u))
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
	// Repeated: a command of this identity was applied before (as event
	// Seq); nothing was recorded this time.
	Repeated bool `json:"repeated,omitempty"`
}

// issuer names who issues a command through the server.
func issuer(v Viewer) string {
	if v.Name == "" {
		return "open-mode"
	}
	return v.Name
}

// changeUser records a user command (add, passwd, remove, share, role)
// sent by `tracker user` through the running server, and answers with the
// resulting user. The password arrives already hashed. Removing the last
// admin (or making it a viewer) is refused with 409. A command carrying
// an identity ("id", 32 hex digits) that was applied before is not
// recorded again: the answer is the earlier event's, with repeated set.
func (s *Server) changeUser(w http.ResponseWriter, r *http.Request) {
	var c projections.UserCommand
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&c); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "user: body is not valid JSON: "+err.Error(), nil)
		return
	}
	res, err := s.issueUser(r.Context(), ViewerFrom(r.Context()), c, false)
	if err != nil {
		var refused userRefusal
		if errors.As(err, &refused) {
			s.httpError(w, r, refused.code, refused.msg, nil)
			return
		}
		s.httpError(w, r, http.StatusServiceUnavailable, "could not record the change; try again", err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// userRefusal is why a user command was not recorded, with the status
// code the API answers.
type userRefusal struct {
	code int
	msg  string
}

func (e userRefusal) Error() string { return e.msg }

// userWait bounds how long a user command waits for the projections.
const userWait = 10 * time.Second

// issueUser is every user change made through the server (the API that
// `tracker user` calls, and the admin page's forms): it checks c against
// the users as the log now defines them, records it as one user event and
// waits until the projections include it. create refuses to replace a
// user that exists (the page's "add"; the CLI's add replaces).
//
// One user command runs at a time, and each first waits until the
// projections include every event in the log, so two concurrent removals
// of the last two admins cannot both pass the last-admin check, and a
// repeat of an identity is seen even right after its first application.
func (s *Server) issueUser(ctx context.Context, v Viewer, c projections.UserCommand, create bool) (userResult, error) {
	c.Type = "user"
	if err := c.Validate(); err != nil {
		return userResult{}, userRefusal{http.StatusBadRequest, err.Error()}
	}
	if c.ID != "" {
		if b, err := hex.DecodeString(c.ID); err != nil || len(b) != 16 {
			return userResult{}, userRefusal{http.StatusBadRequest, fmt.Sprintf("user: id %q is not 32 hex digits", c.ID)}
		}
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, userWait)
	defer cancel()
	if err := s.projector.WaitFor(wctx, s.Log.Head()); err != nil {
		return userResult{}, userRefusal{http.StatusServiceUnavailable, "the projections are catching up with the log; try again in a moment"}
	}
	if c.ID != "" {
		if seq, ok := s.UserAdmin.IssuedAt(c.ID); ok {
			res := s.userNow(c.Name, seq, c.ID)
			res.Repeated = true
			return res, nil
		}
	}
	_, exists := s.Auth.Users.User(c.Name)
	switch {
	case !exists && c.Action != projections.UserAdd:
		return userResult{}, userRefusal{http.StatusNotFound, fmt.Sprintf("no user %q", c.Name)}
	case exists && create:
		return userResult{}, userRefusal{http.StatusConflict, fmt.Sprintf("user %q exists already; reset their password instead", c.Name)}
	}
	if err := projections.CheckLastAdmin(s.UserAdmin.Users(), c); err != nil {
		return userResult{}, userRefusal{http.StatusConflict, err.Error()}
	}
	id := c.ID
	c.Issue = projections.NewIssue(issuer(v), s.now())
	if id != "" {
		c.ID = id // the client's identity, so a repeat of it is recognised
	}
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(ctx, events.Event{
		Topic: projections.UserTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		return userResult{}, err
	}
	if err := s.projector.WaitFor(wctx, seq); err != nil {
		return userResult{}, userRefusal{http.StatusAccepted, fmt.Sprintf("recorded as event %d; projections are catching up", seq)}
	}
	s.Logger.Info("user changed", "user", c.Name, "action", c.Action, "by", issuer(v), "command_id", c.ID, "seq", seq)
	return s.userNow(c.Name, seq, c.ID), nil
}

// userNow is the result of a command recorded as seq: the user now.
func (s *Server) userNow(name string, seq uint64, id string) userResult {
	res := userResult{Seq: seq, CommandID: id, Name: name}
	if u, ok := s.Auth.Users.User(name); ok {
		l := lineOf(u)
		res.Exists, res.User = true, &l
	}
	return res
}
