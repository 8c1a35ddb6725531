package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"tracker/events"
	"tracker/projections"
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
	writeJSON(w, http.StatusOK, out)
}

// changeUser records a user command (add, passwd, remove, share) sent by
// `tracker user` through the running server. The password arrives
// already hashed.
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
	if _, ok := s.Auth.Users.User(c.Name); !ok && c.Action != projections.UserAdd {
		s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("no user %q", c.Name), nil)
		return
	}
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(r.Context(), events.Event{
		Topic: projections.UserTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		s.httpError(w, r, http.StatusServiceUnavailable, "could not record the change; try again", err)
		return
	}
	if err := s.Projections.WaitFor(r.Context(), seq); err != nil {
		s.httpError(w, r, http.StatusAccepted, "recorded; projections are catching up", nil)
		return
	}
	s.Logger.Info("user changed", "user", c.Name, "action", c.Action, "by", ViewerFrom(r.Context()).Name)
	writeJSON(w, http.StatusOK, struct {
		Seq uint64 `json:"seq"`
	}{seq})
}
