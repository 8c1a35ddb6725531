package projections

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"tracker/events"
)

// NotifyTopic is the topic of the admin events (source events.SourceAdmin)
// by which a user adds and removes notification rules: "tell me when Ben
// arrives at Home". Rules are event-sourced like users, so a rebuild
// reproduces them; they belong to the user who made them (User.Notify)
// and go when that user goes. The log holds a webhook's secret as given:
// the server needs it to sign, so it cannot keep only a hash.
const NotifyTopic = "tracker/admin/notify"

// Notify command actions.
const (
	NotifyAdd    = "add"    // add Rule to its owner's rules
	NotifyRemove = "remove" // remove the owner's rule ID
)

// What a rule watches (NotifyRule.On).
const (
	NotifyArrive  = "arrive"  // Device (or anyone) arrives at Place
	NotifyLeave   = "leave"   // Device (or anyone) leaves Place
	NotifySilent  = "silent"  // Device has sent nothing for After
	NotifyBattery = "battery" // Device's battery drops below Below %
)

// Limits of rules.
const (
	// MaxNotifyRules bounds the rules one user holds.
	MaxNotifyRules = 100
	// DefaultNotifyQuiet is the quiet period of a rule that names none.
	DefaultNotifyQuiet = 5 * time.Minute
	// MinNotifySilence is the shortest "has not reported for": phones in
	// significant-changes mode report rarely, and a timer finer than
	// this would mostly tell of a phone saving battery.
	MinNotifySilence = time.Minute
)

// Channel names a rule may ask for (NotifyRule.Channels). Channels are
// plugged into the dispatcher by name; a rule naming a channel the server
// does not run is kept and shown, its deliveries there fail.
const (
	ChannelBrowser = "browser" // the rule owner's open pages (Notification API)
	ChannelWebhook = "webhook" // a JSON POST to NotifyRule.Webhook
)

// NotifyRule is one "tell me when" of one user.
type NotifyRule struct {
	ID    string `json:"id"`    // random (hex), made when added
	Owner string `json:"owner"` // the user it is for: it sees only what they may see
	On    string `json:"on"`    // NotifyArrive, NotifyLeave, NotifySilent or NotifyBattery
	// Device is the friend watched; "" with arrive or leave: anyone the
	// owner may see.
	Device DeviceID `json:"device,omitempty"`
	Place  string   `json:"place,omitempty"` // arrive, leave: a place name (PlaceKey matches)
	// AfterS is, for silent, how long (seconds) without a message.
	AfterS int64 `json:"after_s,omitempty"`
	// Below is, for battery, the percentage the level drops below.
	Below int `json:"below,omitempty"`
	// QuietS is how long (seconds) after a notification the rule stays
	// quiet for the same friend, against a phone flapping at an area's
	// edge; 0: DefaultNotifyQuiet.
	QuietS   int64    `json:"quiet_s,omitempty"`
	Channels []string `json:"channels"`
	// Webhook is the URL the webhook channel posts to; Secret, when set,
	// keys its HMAC-SHA256 signature.
	Webhook string `json:"webhook,omitempty"`
	Secret  string `json:"secret,omitempty"`

	Created time.Time `json:"created,omitzero"`
	By      string    `json:"by,omitempty"` // who added it (Issue.By)
	Seq     uint64    `json:"seq"`          // the event that added it
}

// NotifyCommand is the payload of a notify event.
type NotifyCommand struct {
	Type   string      `json:"_type"` // "notify"
	Action string      `json:"action"`
	Owner  string      `json:"owner"`
	Rule   *NotifyRule `json:"rule,omitempty"`    // add
	RuleID string      `json:"rule_id,omitempty"` // remove
	Issue
}

// Quiet is the rule's quiet period.
func (r NotifyRule) Quiet() time.Duration {
	if r.QuietS <= 0 {
		return DefaultNotifyQuiet
	}
	return time.Duration(r.QuietS) * time.Second
}

// After is, for a silent rule, how long a friend may stay silent.
func (r NotifyRule) After() time.Duration { return time.Duration(r.AfterS) * time.Second }

// Anyone reports whether the rule watches every friend its owner may see.
func (r NotifyRule) Anyone() bool { return r.Device == "" }

// Watches reports whether the rule is about dev.
func (r NotifyRule) Watches(dev DeviceID) bool { return r.Device == "" || r.Device == dev }

// Uses reports whether the rule asks for channel.
func (r NotifyRule) Uses(channel string) bool { return slices.Contains(r.Channels, channel) }

// Describe says what the rule watches, for a person: "ben/phone arrives at
// Home", "anyone leaves Work", "ben/phone has not reported for 2h0m0s".
func (r NotifyRule) Describe() string {
	who := string(r.Device)
	if r.Anyone() {
		who = "anyone"
	}
	switch r.On {
	case NotifyArrive:
		return fmt.Sprintf("%s arrives at %s", who, r.Place)
	case NotifyLeave:
		return fmt.Sprintf("%s leaves %s", who, r.Place)
	case NotifySilent:
		return fmt.Sprintf("%s has not reported for %s", who, ShortDuration(r.After()))
	case NotifyBattery:
		return fmt.Sprintf("%s's battery drops below %d%%", who, r.Below)
	}
	return r.On
}

// ShortDuration writes d as people do: "3h", "1h30m", "5m", "45s".
func ShortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Validate checks a rule as its owner gave it.
func (r *NotifyRule) Validate() error {
	if err := ValidUserName(r.Owner); err != nil {
		return fmt.Errorf("rule owner: %w", err)
	}
	if r.ID == "" || len(r.ID) > 64 {
		return fmt.Errorf("rule id is empty or too long")
	}
	if r.Device != "" {
		user, device := r.Device.Split()
		if err := ValidUserName(user); err != nil {
			return fmt.Errorf("rule friend %q: %w", r.Device, err)
		}
		if err := ValidDeviceName(device); err != nil {
			return fmt.Errorf("rule friend %q: want USER/DEVICE: %w", r.Device, err)
		}
	}
	switch r.On {
	case NotifyArrive, NotifyLeave:
		if strings.TrimSpace(r.Place) == "" || utf8.RuneCountInString(r.Place) > 100 {
			return fmt.Errorf("rule %s: name a place (at most 100 characters)", r.On)
		}
	case NotifySilent:
		if r.Device == "" {
			return fmt.Errorf("rule silent: name the friend (USER/DEVICE)")
		}
		if r.After() < MinNotifySilence {
			return fmt.Errorf("rule silent: the duration must be at least %s", MinNotifySilence)
		}
	case NotifyBattery:
		if r.Device == "" {
			return fmt.Errorf("rule battery: name the friend (USER/DEVICE)")
		}
		if r.Below < 1 || r.Below > 100 {
			return fmt.Errorf("rule battery: the level must be 1 to 100 %%")
		}
	default:
		return fmt.Errorf("rule: on is %q, want arrive, leave, silent or battery", r.On)
	}
	if r.QuietS < 0 || r.QuietS > 7*24*3600 {
		return fmt.Errorf("rule: the quiet period must be 0 to 7 days")
	}
	if len(r.Channels) == 0 {
		return fmt.Errorf("rule: name at least one channel (browser, webhook, ...)")
	}
	for _, c := range r.Channels {
		if c == "" || len(c) > 32 || strings.ContainsAny(c, " ,") {
			return fmt.Errorf("rule: channel name %q is not a name", c)
		}
	}
	if r.Uses(ChannelWebhook) || r.Webhook != "" {
		if err := ValidWebhookURL(r.Webhook); err != nil {
			return err
		}
	}
	if len(r.Secret) > 256 {
		return fmt.Errorf("rule: the webhook secret is longer than 256 bytes")
	}
	return nil
}

// ValidWebhookURL checks a webhook target: an absolute http or https URL.
// Where it points (loopback, the LAN) is not limited: see README,
// "Notifications".
func ValidWebhookURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("rule: the webhook channel needs a URL")
	case err != nil:
		return fmt.Errorf("rule: webhook URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("rule: webhook URL %q: want http:// or https://", s)
	case u.Host == "":
		return fmt.Errorf("rule: webhook URL %q has no host", s)
	case len(s) > 2048:
		return fmt.Errorf("rule: webhook URL longer than 2048 characters")
	}
	return nil
}

// ParseNotifyCommand decodes and validates a notify event's payload.
func ParseNotifyCommand(b []byte) (NotifyCommand, error) {
	var c NotifyCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("notify command: not valid JSON: %w", err)
	}
	return c, c.Validate()
}

// Validate checks a notify command.
func (c *NotifyCommand) Validate() error {
	if c.Type != "notify" {
		return fmt.Errorf("notify command: _type is %q, want \"notify\"", c.Type)
	}
	if err := ValidUserName(c.Owner); err != nil {
		return err
	}
	switch c.Action {
	case NotifyAdd:
		if c.Rule == nil {
			return fmt.Errorf("notify add: no rule")
		}
		if c.Rule.Owner != c.Owner {
			return fmt.Errorf("notify add: the rule's owner %q is not the command's %q", c.Rule.Owner, c.Owner)
		}
		return c.Rule.Validate()
	case NotifyRemove:
		if c.RuleID == "" {
			return fmt.Errorf("notify remove: no rule id")
		}
	default:
		return fmt.Errorf("notify command: action is %q, want add or remove", c.Action)
	}
	return nil
}

// applyNotify folds a notify event. Notify is replaced, never changed in
// place: readers hold copies of the user that share it.
func applyNotify(s *State, e events.Event, c *NotifyCommand, ch *Changes) {
	u := s.Users[c.Owner]
	if u == nil {
		return // a rule for nobody: the owner is gone
	}
	switch c.Action {
	case NotifyAdd:
		rules := slices.DeleteFunc(slices.Clone(u.Notify), func(r NotifyRule) bool { return r.ID == c.Rule.ID })
		if len(rules) >= MaxNotifyRules {
			return // the server refuses more; a hand-made event gets no further
		}
		r := *c.Rule
		r.Channels = slices.Clone(r.Channels)
		r.Seq, r.Created, r.By = e.Seq, c.Issued, c.By
		if r.Created.IsZero() {
			r.Created = e.Received
		}
		u.Notify = append(rules, r)
	case NotifyRemove:
		if !slices.ContainsFunc(u.Notify, func(r NotifyRule) bool { return r.ID == c.RuleID }) {
			return
		}
		u.Notify = slices.DeleteFunc(slices.Clone(u.Notify), func(r NotifyRule) bool { return r.ID == c.RuleID })
		if len(u.Notify) == 0 {
			u.Notify = nil
		}
	}
	ch.Users[c.Owner] = true
}

// NotifyRule returns the user's rule with id.
func (u *User) NotifyRule(id string) (NotifyRule, bool) {
	if u != nil {
		for _, r := range u.Notify {
			if r.ID == id {
				return r, true
			}
		}
	}
	return NotifyRule{}, false
}
