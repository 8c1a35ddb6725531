package projections

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"tracker/events"
)

// UserTopic is the topic of the admin events that manage users
// (source events.SourceAdmin). Users are event-sourced like everything
// else: a rebuild reproduces them. The log holds bcrypt hashes, never
// passwords.
const UserTopic = "tracker/admin/user"

// User command actions.
const (
	UserAdd    = "add"    // create, or replace, with Hash and Admin
	UserRemove = "remove" // delete
	UserPasswd = "passwd" // new Hash; existing sessions end
	UserShare  = "share"  // set whom the user sees: Sees, or everybody when Everyone
	UserRole   = "role"   // make the user an admin (Admin) or a viewer; sessions and password stay
)

// UserCommand is the payload of a user event.
type UserCommand struct {
	Type     string   `json:"_type"` // "user"
	Action   string   `json:"action"`
	Name     string   `json:"name"`
	Hash     string   `json:"hash,omitempty"` // bcrypt
	Admin    bool     `json:"admin,omitempty"`
	Sees     []string `json:"sees,omitempty"` // user names whose devices this user sees
	Everyone bool     `json:"everyone,omitempty"`
	Issue             // id, issued, by: this command's own identity
}

// User is one account: a person who logs in to the web pages and whose
// phone logs in to the broker or HTTP endpoint with the same name and
// password.
type User struct {
	Name  string `json:"name"`
	Hash  string `json:"hash"`
	Admin bool   `json:"admin"`
	// Sees lists the users whose devices this user may see; nil with
	// Restricted false means everybody (the default).
	Sees       []string `json:"sees,omitempty"`
	Restricted bool     `json:"restricted,omitempty"`
	// PasswordSeq is the event that set the current password; sessions
	// made before it are no longer valid.
	PasswordSeq uint64 `json:"password_seq"`
	// LastLogin is when the user last logged in on the login page (a
	// login event, logins.go); zero when never.
	LastLogin time.Time `json:"last_login,omitzero"`
	// Devices are the user's phone credentials; Zone the time zone the
	// user reads times in ("" for the browser's). Both from account
	// events (account.go).
	Devices []DeviceCredential `json:"devices,omitempty"`
	Zone    string             `json:"zone,omitempty"`
	// Notify are the user's notification rules (notify.go).
	Notify []NotifyRule `json:"notify,omitempty"`
	// Push are the browsers told by Web Push (push.go).
	Push []PushSubscription `json:"push,omitempty"`
}

// CheckPassword reports whether pw is the user's password.
func (u *User) CheckPassword(pw string) bool {
	return u != nil && bcrypt.CompareHashAndPassword([]byte(u.Hash), []byte(pw)) == nil
}

// MaySee reports whether the user may see dev's whereabouts. Everybody
// sees their own devices; admins see everyone.
func (u *User) MaySee(dev DeviceID) bool {
	if u.Admin || !u.Restricted {
		return true
	}
	user, _ := dev.Split()
	return user == u.Name || slices.Contains(u.Sees, user)
}

// HashPassword makes the bcrypt hash stored in a user event.
func HashPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", fmt.Errorf("password too short: use at least 8 characters")
	}
	if len(pw) > 72 {
		return "", fmt.Errorf("password too long: bcrypt uses at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// ValidUserName checks a name: it is also an MQTT topic level.
func ValidUserName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("user name is empty")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64:
		return fmt.Errorf("user name must be valid text of at most 64 characters")
	case strings.ContainsAny(name, "/+#\x00") || strings.TrimSpace(name) != name:
		return fmt.Errorf("user name %q may not contain / + # or start or end with spaces (it is an MQTT topic level)", name)
	}
	return nil
}

// ParseUserCommand decodes and validates a user event's payload.
func ParseUserCommand(b []byte) (UserCommand, error) {
	var c UserCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("user command: not valid JSON: %w", err)
	}
	return c, c.Validate()
}

// Validate checks a user command.
func (c *UserCommand) Validate() error {
	if c.Type != "user" {
		return fmt.Errorf("user command: _type is %q, want \"user\"", c.Type)
	}
	if err := ValidUserName(c.Name); err != nil {
		return err
	}
	switch c.Action {
	case UserAdd, UserPasswd:
		if _, err := bcrypt.Cost([]byte(c.Hash)); err != nil {
			return fmt.Errorf("user %q: hash is not a bcrypt hash", c.Name)
		}
	case UserRemove, UserShare, UserRole:
	default:
		return fmt.Errorf("user %q: action is %q, want add, remove, passwd, share or role", c.Name, c.Action)
	}
	return nil
}

func applyUser(s *State, e events.Event, c *UserCommand, ch *Changes) {
	u := s.Users[c.Name]
	switch c.Action {
	case UserAdd:
		prev := u
		u = &User{Name: c.Name, Hash: c.Hash, Admin: c.Admin, PasswordSeq: e.Seq}
		if prev != nil { // replaced, not a new person: last login and phones stay
			u.LastLogin, u.Devices, u.Zone, u.Notify = prev.LastLogin, prev.Devices, prev.Zone, prev.Notify
		}
		s.Users[c.Name] = u
	case UserRemove:
		if u == nil {
			return
		}
		delete(s.Users, c.Name)
	case UserPasswd:
		if u == nil {
			return
		}
		u.Hash, u.PasswordSeq = c.Hash, e.Seq
	case UserRole:
		if u == nil {
			return
		}
		u.Admin = c.Admin
	case UserShare:
		if u == nil {
			return
		}
		u.Restricted = !c.Everyone
		u.Sees = nil
		if u.Restricted {
			u.Sees = slices.Clone(c.Sees)
			slices.Sort(u.Sees)
		}
	}
	ch.Users[c.Name] = true
}

// ErrLastAdmin is why a user command is refused when it would leave users
// but no admin: nobody could manage the server any more, and removing
// the last user must not open it either (open mode is decided at start).
var ErrLastAdmin = errors.New("the last admin cannot be removed or made a viewer")

// CheckLastAdmin refuses c (with an error wrapping ErrLastAdmin) when it
// removes the only admin among users, or re-adds it without admin.
func CheckLastAdmin(users []User, c UserCommand) error {
	var target *User
	admins := 0
	for i := range users {
		if users[i].Admin {
			admins++
		}
		if users[i].Name == c.Name {
			target = &users[i]
		}
	}
	if target == nil || !target.Admin || admins > 1 {
		return nil
	}
	switch {
	case c.Action == UserRemove:
		return fmt.Errorf("user %q: %w: add another admin first (tracker user add NAME --admin)", c.Name, ErrLastAdmin)
	case c.Action == UserAdd && !c.Admin:
		return fmt.Errorf("user %q: %w: add another admin first, or keep --admin", c.Name, ErrLastAdmin)
	case c.Action == UserRole && !c.Admin:
		return fmt.Errorf("user %q: %w: make another user an admin first", c.Name, ErrLastAdmin)
	}
	return nil
}
