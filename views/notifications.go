package views

import (
	"slices"
	"time"

	"github.com/a-h/templ"
)

// Notice is one notification for the viewer's open pages: the live
// stream carries it (LiveNotices) and static/js/notify.js shows it with
// the browser's Notification API.
type Notice struct {
	ID    string // the notification's id: the browser shows one id once
	Rule  string // the rule that fired
	Title string
	Body  string
	At    time.Time
}

// NotificationsPage is /me/notifications: the viewer's rules, what each
// delivered lately, and the form to add one.
type NotificationsPage struct {
	Page
	NoAccount bool // open mode: rules need a user
	Rules     []NotifyRuleRow
	Friends   []NotifyFriend // the friends the viewer may see, for the form
	Places    []string       // the places the viewer may see, for the form
	Channels  []string       // the channels this server runs
	Form      NotifyForm
	Done      string
	Message   string
	// Push is the Web Push channel's "enable push on this browser"
	// control (its own templ file); nil: none.
	Push templ.Component
}

// HasChannel reports whether the server runs channel.
func (m NotificationsPage) HasChannel(channel string) bool {
	return slices.Contains(m.Channels, channel)
}

// Extra are the channels the server runs besides the browser and webhooks
// (Web Push, the OwnTracks app), offered as checkboxes.
func (m NotificationsPage) Extra() []string {
	var out []string
	for _, c := range m.Channels {
		if c != "browser" && c != "webhook" {
			out = append(out, c)
		}
	}
	return out
}

// NotifyFriend is one friend to choose in the form.
type NotifyFriend struct{ ID, Name string }

// NotifyForm is the add form as last sent (to fill it again after a
// mistake).
type NotifyForm struct {
	On, Device, Place, After, Below, Quiet, Webhook string
	Browser                                         bool
}

// NotifyRuleRow is one rule on the page.
type NotifyRuleRow struct {
	ID        string
	Text      string // "ben/phone arrives at Home"
	Friend    string // the friend's name, when the viewer may see them
	Channels  []string
	Webhook   string // without password or query
	HasSecret bool
	Quiet     time.Duration
	Created   time.Time
	// Since the server started:
	Sent, Failed int
	LastError    string
	LastErrorAt  time.Time
	LastSent     time.Time
	Deliveries   []NotifyDeliveryRow // newest first
}

// Failing reports whether the rule's newest word is a failure.
func (r NotifyRuleRow) Failing() bool { return r.LastError != "" }

// NotifyDeliveryRow is one delivery in a rule's log.
type NotifyDeliveryRow struct {
	At, Updated time.Time
	Channel     string
	Status      string
	Text        string
	Err         string
	Attempts    int
	Failed      bool
}
