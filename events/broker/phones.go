package broker

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// Phones checks phone logins knowing device credentials: each of a
// user's phones can have a secret of its own, so the user's password is
// never put in a phone, and a lost phone is revoked alone.
//
// A phone logs in with its user's name as MQTT user name and its device
// secret as password. Such a login may publish only under
// owntracks/<user>/<device>/…, the device its credential was made for,
// receives what its user may see except other devices' commands, and
// may take over only a session of the same device or of its user's
// password login: never another device's, never another user's.
type Phones interface {
	// CheckPhone verifies a login like Accounts.Check; device and
	// credential are set when password is one of name's device secrets.
	CheckPhone(name, password, remote string) (version uint64, device, credential string, ok bool)
	// CredentialActive reports whether name still has credential.
	CredentialActive(name, credential string) bool
	// Used records a credential's use (a publish); kept in memory.
	Used(credential string)
}

// login is what a connected account client logged in with.
type login struct {
	version    uint64 // the password's version (Accounts.Version), for a password login
	device     string // with a device credential: the one device it publishes as
	credential string
}

// principal names who a session belongs to: the user, or with a device
// credential the user's device ("user/device"; a user name has no "/").
func (l login) principal(name string) string {
	if l.device == "" {
		return name
	}
	return name + "/" + l.device
}

// mayTakeOver reports whether a login of principal may take over a
// session that belongs to owner.
func mayTakeOver(principal, owner string) bool {
	if principal == owner {
		return true
	}
	user, _, isDevice := strings.Cut(principal, "/")
	return isDevice && owner == user // a device credential may succeed its user's password login
}

// loginOf returns the login cl connected with; ok is false for service
// accounts, open mode and offline sessions.
func (h *hook) loginOf(cl *mqtt.Client) (login, bool) {
	v, ok := h.logins.Load(cl)
	if !ok {
		return login{}, false
	}
	return v.(login), true
}

// owner is the principal a session (by client id) belongs to.
func (h *hook) owner(cl *mqtt.Client) string {
	if p, ok := h.principals.Load(cl.ID); ok {
		return p.(string)
	}
	return string(cl.Properties.Username)
}

// deviceTopic reports whether topic is under device's own base topic
// owntracks/<name>/<device>.
func deviceTopic(topic, name, device string) bool {
	parts := strings.Split(topic, "/")
	return len(parts) >= 3 && parts[0] == "owntracks" && parts[1] == name && parts[2] == device
}
