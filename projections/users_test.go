package projections_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/projections"
	"tracker/projections/store"
)

func userCmd(c projections.UserCommand) events.Event {
	c.Type = "user"
	if c.Action == projections.UserAdd || c.Action == projections.UserPasswd {
		c.Hash = "$2a$04$KJ/ID.I9ewnIKZNHMvHzb.QFYO5EG7jT9FMtL/FWjxIngKhguzEOu"
	}
	b, _ := json.Marshal(c)
	return events.Event{Topic: projections.UserTopic, Payload: b, Source: events.SourceAdmin, Received: time.Unix(t0, 0)}
}

func login(name string, at int64) events.Event {
	return events.Event{Topic: projections.LoginTopic, Payload: fmt.Appendf(nil, `{"_type":"login","name":%q}`, name),
		Source: events.SourceAdmin, Received: time.Unix(at, 0)}
}

func withID(c projections.UserCommand, id string) projections.UserCommand {
	c.ID = id
	return c
}

// TestUserCommandOncePerIssue: a command's identity applies once, however
// often its event is in the log (a form sent twice, an export imported
// back); commands without one, or with different ones, all apply.
func TestUserCommandOncePerIssue(t *testing.T) {
	const id = "00112233445566778899aabbccddeeff"
	r := fold(t,
		userCmd(projections.UserCommand{Action: projections.UserAdd, Name: "root", Admin: true}),
		userCmd(withID(projections.UserCommand{Action: projections.UserAdd, Name: "vic"}, "aa")),
		userCmd(withID(projections.UserCommand{Action: projections.UserRole, Name: "vic", Admin: true}, id)),
		userCmd(projections.UserCommand{Action: projections.UserRole, Name: "vic", Admin: false}),
		userCmd(withID(projections.UserCommand{Action: projections.UserRole, Name: "vic", Admin: true}, id)), // the repeat
		userCmd(withID(projections.UserCommand{Action: projections.UserRemove, Name: "vic"}, "bb")),
		userCmd(withID(projections.UserCommand{Action: projections.UserAdd, Name: "vic"}, "cc")),
		userCmd(withID(projections.UserCommand{Action: projections.UserRemove, Name: "vic"}, "bb")), // a removal replayed after a re-add
	)
	if u, ok := r.s.Users["vic"]; !ok || u.Admin {
		t.Errorf("vic = %+v (exists %v): the repeated role and removal must not apply", u, ok)
	}
	if seq, ok := r.s.IssuedAt(id); !ok || seq != 3 {
		t.Errorf("IssuedAt(%s) = %d, %v; want the first event, 3", id, seq, ok)
	}
	if !r.changes[4].Empty() {
		t.Errorf("the repeat changed %+v", r.changes[4])
	}
}

func TestIssuedBounded(t *testing.T) {
	evs := []events.Event{userCmd(projections.UserCommand{Action: projections.UserAdd, Name: "vic"})}
	for i := range projections.MaxIssued + 1 {
		evs = append(evs, userCmd(withID(projections.UserCommand{Action: projections.UserShare, Name: "vic", Everyone: true}, fmt.Sprintf("%032x", i))))
	}
	r := fold(t, evs...)
	if len(r.s.Issued) != projections.MaxIssued {
		t.Fatalf("%d identities remembered, want %d", len(r.s.Issued), projections.MaxIssued)
	}
	if _, ok := r.s.IssuedAt(fmt.Sprintf("%032x", 0)); ok {
		t.Errorf("the oldest identity is still remembered")
	}
	if ch := r.last(); !ch.Issued[fmt.Sprintf("%032x", 0)] {
		t.Errorf("forgetting the oldest is not a change (the store would keep it)")
	}
}

// TestLastLogin: a login event sets the user's last login (never
// backwards); a login of an unknown user is nothing; a role change keeps
// the password (sessions stay), re-adding keeps the last login.
func TestLastLoginAndRole(t *testing.T) {
	r := fold(t,
		userCmd(projections.UserCommand{Action: projections.UserAdd, Name: "vic"}),
		login("vic", t0+100),
		login("vic", t0+50), // an older one, arriving late
		login("ghost", t0+100),
		login("bad/name", t0+100),
		userCmd(projections.UserCommand{Action: projections.UserRole, Name: "vic", Admin: true}),
		userCmd(projections.UserCommand{Action: projections.UserAdd, Name: "vic"}),
	)
	u := r.s.Users["vic"]
	if !u.LastLogin.Equal(time.Unix(t0+100, 0)) {
		t.Errorf("last login %v, want %v", u.LastLogin, time.Unix(t0+100, 0))
	}
	if r.changes[5].Users["vic"] != true || r.s.Users["ghost"] != nil {
		t.Errorf("role change not a change, or a login made a user")
	}
	if r.inputs[4].Err == nil || !strings.Contains(r.inputs[4].Err.Error(), "login record") {
		t.Errorf("a login with a bad name: %v, want an error with the reason", r.inputs[4].Err)
	}
	role := fold(t,
		userCmd(projections.UserCommand{Action: projections.UserAdd, Name: "vic"}),
		userCmd(projections.UserCommand{Action: projections.UserRole, Name: "vic", Admin: true}),
	)
	if v := role.s.Users["vic"]; !v.Admin || v.PasswordSeq != 1 {
		t.Errorf("after role: %+v, want admin with the password of event 1", v)
	}
	if err := projections.CheckLastAdmin([]projections.User{{Name: "root", Admin: true}}, projections.UserCommand{Action: projections.UserRole, Name: "root"}); err == nil {
		t.Error("the last admin may be made a viewer")
	}
}

// TestStoreKeepsIssuedAndLastLogin: what the fold remembers survives a
// save and a load.
func TestStoreKeepsIssuedAndLastLogin(t *testing.T) {
	r := fold(t,
		userCmd(withID(projections.UserCommand{Action: projections.UserAdd, Name: "vic"}, "00112233445566778899aabbccddeeff")),
		login("vic", t0+100),
	)
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all := projections.NewChanges()
	for _, ch := range r.changes {
		for k := range ch.Users {
			all.Users[k] = true
		}
		for k := range ch.Issued {
			all.Issued[k] = true
		}
	}
	if err := st.Save(r.s, all, 2); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	if seq, ok := got.IssuedAt("00112233445566778899aabbccddeeff"); !ok || seq != 1 {
		t.Errorf("loaded identity: %d %v", seq, ok)
	}
	if !got.Users["vic"].LastLogin.Equal(time.Unix(t0+100, 0)) {
		t.Errorf("loaded last login %v", got.Users["vic"].LastLogin)
	}
}
