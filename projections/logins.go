package projections

import (
	"encoding/json"
	"fmt"

	"tracker/events"
)

// LoginTopic is the topic of the admin events that record a web login
// (source events.SourceAdmin). A login is an event, not a line in a side
// file, so "last login" is derived from the log like every other fact
// about a user: it survives a restart, a rebuild, an export and import,
// and the event log page shows who logged in when. Only sign-ins through
// the login page count (HTTP Basic requests from scripts, the CLI and
// phones are checked per request and are not logins); the server records
// at most one per user a minute (views/web), so a script logging in in a
// loop cannot fill the log.
const LoginTopic = "tracker/admin/login"

// LoginRecord is the payload of a login event. It carries the user's name
// and nothing about the client (the log is exported and mirrored).
type LoginRecord struct {
	Type string `json:"_type"` // "login"
	Name string `json:"name"`
}

// ParseLoginRecord decodes and validates a login event's payload.
func ParseLoginRecord(b []byte) (LoginRecord, error) {
	var l LoginRecord
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("login record: not valid JSON: %w", err)
	}
	if l.Type != "login" {
		return l, fmt.Errorf("login record: _type is %q, want \"login\"", l.Type)
	}
	if err := ValidUserName(l.Name); err != nil {
		return l, fmt.Errorf("login record: %w", err)
	}
	return l, nil
}

// applyLogin sets the user's last login to the event's arrival. A login of
// a user removed since (or never added) changes nothing.
func applyLogin(s *State, e events.Event, l *LoginRecord, ch *Changes) {
	u := s.Users[l.Name]
	if u == nil || !e.Received.After(u.LastLogin) {
		return
	}
	u.LastLogin = e.Received
	ch.Users[l.Name] = true
}
