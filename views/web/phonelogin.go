package web

import (
	"sync"
	"time"

	"tracker/projections"
)

// PhoneLogin is who a phone logged in as: a user, and with a device
// credential the one device it may publish as.
type PhoneLogin struct {
	User projections.User
	// Device and Credential are set when the phone logged in with a
	// device credential (its own secret); empty for the user's password.
	Device     string
	Credential string
}

// CheckPhone verifies a phone's login (embedded broker, HTTP mode): the
// password is one of the user's device secrets, or, as before device
// credentials, the user's own password. Within the login limits like
// Check: one budget for both. A device credential's use is remembered
// (LastUse).
func (a *Auth) CheckPhone(name, secret, ip string) (PhoneLogin, error) {
	var l PhoneLogin
	err := a.Guard(name, ip, func() bool {
		u, exists := a.Users.User(name)
		if !exists {
			u = dummyHash
		}
		if c, ok := u.DeviceCredential(secret); ok && exists {
			l = PhoneLogin{User: u, Device: c.Device, Credential: c.ID}
			return true
		}
		l = PhoneLogin{User: u}
		return u.CheckPassword(secret) && exists
	})
	if err != nil {
		return PhoneLogin{}, err
	}
	if l.Credential != "" {
		a.Used(l.Credential)
	}
	return l, nil
}

// Used records that credential id was used now. Last use is kept in
// memory only, never in the log (a phone posting every few seconds would
// otherwise write an event per message): a restart forgets it.
func (a *Auth) Used(id string) {
	if id != "" {
		a.lastUse.Store(id, time.Now())
	}
}

// LastUse is when credential id was last used since the server started;
// zero when not.
func (a *Auth) LastUse(id string) time.Time {
	if v, ok := a.lastUse.Load(id); ok {
		return v.(time.Time)
	}
	return time.Time{}
}

// lastUses holds credential id -> time.Time.
type lastUses = sync.Map

// EndUser ends every session of user (sign out everywhere) and returns
// how many there were.
func (s *Sessions) EndUser(user string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for t, ses := range s.m {
		if ses.User == user {
			delete(s.m, t)
			n++
		}
	}
	return n, s.save()
}
