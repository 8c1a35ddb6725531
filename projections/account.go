package projections

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"tracker/events"
)

// AccountTopic is the topic of the admin events (source
// events.SourceAdmin) by which a user manages their own account: the
// credentials of their phones and their time zone. Like users, they are
// event-sourced, so a rebuild reproduces them. The log holds a device
// secret's SHA-256, never the secret.
const AccountTopic = "tracker/admin/account"

// Account command actions.
const (
	// AccountCredential gives Device a credential (ID, Hash), replacing
	// the one it had.
	AccountCredential = "credential"
	// AccountRevoke removes Device's credential ID; a credential that is
	// already gone (revoked twice, or replaced) changes nothing.
	AccountRevoke = "revoke"
	// AccountZone sets the user's time zone (Zone, an IANA name; empty:
	// the browser's).
	AccountZone = "zone"
)

// MaxDeviceCredentials bounds the credentials one user holds.
const MaxDeviceCredentials = 32

// AccountCommand is the payload of an account event.
type AccountCommand struct {
	Type   string `json:"_type"` // "account"
	Action string `json:"action"`
	Name   string `json:"name"` // the user
	Device string `json:"device,omitempty"`
	// Credential is the credential's id (random, not secret).
	Credential string `json:"credential,omitempty"`
	// Hash is "sha256:<hex>" of the device secret. The secret is 128
	// random bits, so a fast hash is enough (unlike a chosen password,
	// it cannot be guessed from a dictionary), and a phone in HTTP mode,
	// which logs in on every post, costs no bcrypt per message.
	Hash string `json:"hash,omitempty"`
	Mode string `json:"mode,omitempty"` // "mqtt" or "http": what it was made for, shown only
	Zone string `json:"zone,omitempty"`
	Issue
}

// DeviceCredential lets one phone log in as one device of its user, on
// the embedded broker and in HTTP mode, without the user's password.
type DeviceCredential struct {
	Device  string `json:"device"`
	ID      string `json:"id"`
	Hash    string `json:"hash"`
	Mode    string `json:"mode,omitempty"`
	Created int64  `json:"created"` // Unix seconds: when it was issued
	Seq     uint64 `json:"seq"`     // the event that made it
}

// NewDeviceSecret returns a fresh device secret (128 random bits in
// base32), its hash as stored in the log, and a credential id.
func NewDeviceSecret() (secret, hash, id string) {
	secret = rand.Text()
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return secret, HashDeviceSecret(secret), hex.EncodeToString(b[:])
}

// HashDeviceSecret is the stored form of a device secret.
func HashDeviceSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// DeviceCredential returns the user's credential whose secret is secret.
func (u *User) DeviceCredential(secret string) (DeviceCredential, bool) {
	if u == nil || secret == "" {
		return DeviceCredential{}, false
	}
	h := []byte(HashDeviceSecret(secret))
	for _, c := range u.Devices {
		if subtle.ConstantTimeCompare(h, []byte(c.Hash)) == 1 {
			return c, true
		}
	}
	return DeviceCredential{}, false
}

// HasCredential reports whether the credential id is still the user's.
func (u *User) HasCredential(id string) bool {
	return u != nil && slices.ContainsFunc(u.Devices, func(c DeviceCredential) bool { return c.ID == id })
}

// Credential returns the credential of device, if it has one.
func (u *User) Credential(device string) (DeviceCredential, bool) {
	if u != nil {
		for _, c := range u.Devices {
			if c.Device == device {
				return c, true
			}
		}
	}
	return DeviceCredential{}, false
}

// ValidDeviceName checks a device name: it is an MQTT topic level.
func ValidDeviceName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("device name is empty")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64:
		return fmt.Errorf("device name must be valid text of at most 64 characters")
	case strings.ContainsAny(name, "/+#\x00") || strings.TrimSpace(name) != name:
		return fmt.Errorf("device name %q may not contain / + # or start or end with spaces (it is an MQTT topic level)", name)
	}
	return nil
}

// ParseAccountCommand decodes and validates an account event's payload.
func ParseAccountCommand(b []byte) (AccountCommand, error) {
	var c AccountCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("account command: not valid JSON: %w", err)
	}
	return c, c.Validate()
}

// Validate checks an account command. Time zones are checked where they
// are chosen, not here: the fold must decide alike on every machine,
// whatever time zone database it has.
func (c *AccountCommand) Validate() error {
	if c.Type != "account" {
		return fmt.Errorf("account command: _type is %q, want \"account\"", c.Type)
	}
	if err := ValidUserName(c.Name); err != nil {
		return err
	}
	switch c.Action {
	case AccountCredential, AccountRevoke:
		if err := ValidDeviceName(c.Device); err != nil {
			return fmt.Errorf("account %q: %w", c.Name, err)
		}
		if c.Credential == "" {
			return fmt.Errorf("account %q: credential id is empty", c.Name)
		}
		if c.Action == AccountCredential && (!strings.HasPrefix(c.Hash, "sha256:") || len(c.Hash) != len("sha256:")+64) {
			return fmt.Errorf("account %q: hash is not a sha256 hash", c.Name)
		}
	case AccountZone:
		if len(c.Zone) > 64 {
			return fmt.Errorf("account %q: time zone name too long", c.Name)
		}
	default:
		return fmt.Errorf("account %q: action is %q, want credential, revoke or zone", c.Name, c.Action)
	}
	return nil
}

// IsAccountsTopic reports whether topic holds the admin events that make
// the users and their credentials: what logins need before anything else.
func IsAccountsTopic(topic string) bool { return topic == UserTopic || topic == AccountTopic }

// applyAccount folds an account event. Devices is replaced, never
// changed in place: readers hold copies of the user that share it.
func applyAccount(s *State, e events.Event, c *AccountCommand, ch *Changes) {
	u := s.Users[c.Name]
	if u == nil {
		return
	}
	switch c.Action {
	case AccountCredential:
		devs := slices.DeleteFunc(slices.Clone(u.Devices), func(d DeviceCredential) bool { return d.Device == c.Device })
		if len(devs) >= MaxDeviceCredentials {
			return // the server refuses more; a hand-made event gets no further
		}
		u.Devices = append(devs, DeviceCredential{Device: c.Device, ID: c.Credential, Hash: c.Hash, Mode: c.Mode,
			Created: c.Issued.Unix(), Seq: e.Seq})
		if c.Issued.IsZero() {
			u.Devices[len(u.Devices)-1].Created = e.Received.Unix()
		}
	case AccountRevoke:
		if !u.HasCredential(c.Credential) {
			return
		}
		u.Devices = slices.DeleteFunc(slices.Clone(u.Devices), func(d DeviceCredential) bool { return d.ID == c.Credential })
		if len(u.Devices) == 0 {
			u.Devices = nil
		}
	case AccountZone:
		u.Zone = c.Zone
	}
	ch.Users[c.Name] = true
}
