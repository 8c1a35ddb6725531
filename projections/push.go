package projections

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"tracker/events"
)

// PushTopic is the topic of the admin events (source events.SourceAdmin)
// that keep a user's Web Push subscriptions: the browsers that asked to
// be told with the page closed. Like credentials they are event-sourced
// per user; the server's VAPID key is not (it stays in the data
// directory). A subscription's endpoint and keys let the holder of our
// VAPID key push to that browser, nothing more.
const PushTopic = "tracker/admin/push"

// Push command actions.
const (
	// PushSubscribe adds (or renews: same endpoint) a browser's subscription.
	PushSubscribe = "subscribe"
	// PushUnsubscribe removes the subscription SubID: the browser asked, the
	// user removed it, or the push service said it is gone (Reason says).
	PushUnsubscribe = "unsubscribe"
)

// MaxPushSubscriptions bounds the browsers one user has subscribed.
const MaxPushSubscriptions = 10

// PushCommand is the payload of a push event.
type PushCommand struct {
	Type   string `json:"_type"` // "push"
	Action string `json:"action"`
	Name   string `json:"name"` // the user
	// Endpoint, P256DH and Auth are the browser's subscription (the keys
	// in base64url, as browsers give them), checked by the web side
	// before it is recorded (views/notify/webpush).
	Endpoint string `json:"endpoint,omitempty"`
	P256DH   string `json:"p256dh,omitempty"`
	Auth     string `json:"auth,omitempty"`
	Label    string `json:"label,omitempty"` // the browser, shown to the user ("Firefox on Android")
	SubID    string `json:"sub_id,omitempty"`
	Reason   string `json:"reason,omitempty"` // why an unsubscribe was made
	Issue
}

// PushSubscription is one browser of the user's that gets notifications.
type PushSubscription struct {
	ID       string `json:"id"` // PushSubscriptionID of the endpoint
	Endpoint string `json:"endpoint"`
	P256DH   string `json:"p256dh"`
	Auth     string `json:"auth"`
	Label    string `json:"label,omitempty"`
	Created  int64  `json:"created"` // Unix seconds
	Seq      uint64 `json:"seq"`     // the event that made it
}

// PushSubscriptionID names a subscription by its endpoint without
// showing it (the endpoint is a capability).
func PushSubscriptionID(endpoint string) string {
	sum := sha256.Sum256([]byte(endpoint))
	return hex.EncodeToString(sum[:8])
}

// ParsePushCommand decodes and validates a push event's payload.
func ParsePushCommand(b []byte) (PushCommand, error) {
	var c PushCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("push command: not valid JSON: %w", err)
	}
	return c, c.Validate()
}

// Validate checks a push command's shape; the endpoint and keys were
// checked in full when the browser handed them in.
func (c *PushCommand) Validate() error {
	if c.Type != "push" {
		return fmt.Errorf("push command: _type is %q, want \"push\"", c.Type)
	}
	if err := ValidUserName(c.Name); err != nil {
		return err
	}
	switch c.Action {
	case PushSubscribe:
		switch {
		case !strings.HasPrefix(c.Endpoint, "https://") && !strings.HasPrefix(c.Endpoint, "http://"):
			return fmt.Errorf("push %q: endpoint is not an http(s) URL", c.Name)
		case len(c.Endpoint) > 2048, len(c.P256DH) != 87, len(c.Auth) != 22:
			return fmt.Errorf("push %q: endpoint or keys of the wrong size", c.Name)
		case !utf8.ValidString(c.Label) || len(c.Label) > 64:
			return fmt.Errorf("push %q: label too long", c.Name)
		}
	case PushUnsubscribe:
		if c.SubID == "" || len(c.SubID) > 64 || len(c.Reason) > 200 {
			return fmt.Errorf("push %q: unsubscribe needs a subscription id (and a short reason)", c.Name)
		}
	default:
		return fmt.Errorf("push %q: action is %q, want subscribe or unsubscribe", c.Name, c.Action)
	}
	return nil
}

// PushSubscriptionFor returns the user's subscription with id.
func (u *User) PushSubscriptionFor(id string) (PushSubscription, bool) {
	if u != nil {
		for _, p := range u.Push {
			if p.ID == id {
				return p, true
			}
		}
	}
	return PushSubscription{}, false
}

// applyPush folds a push event. Push is replaced, never changed in
// place: readers hold copies of the user that share it.
func applyPush(s *State, e events.Event, c *PushCommand, ch *Changes) {
	u := s.Users[c.Name]
	if u == nil {
		return
	}
	switch c.Action {
	case PushSubscribe:
		id := PushSubscriptionID(c.Endpoint)
		subs := slices.DeleteFunc(slices.Clone(u.Push), func(p PushSubscription) bool { return p.ID == id })
		if len(subs) >= MaxPushSubscriptions {
			return // the server refuses more; a hand-made event gets no further
		}
		created := c.Issued.Unix()
		if c.Issued.IsZero() {
			created = e.Received.Unix()
		}
		u.Push = append(subs, PushSubscription{ID: id, Endpoint: c.Endpoint, P256DH: c.P256DH, Auth: c.Auth,
			Label: c.Label, Created: created, Seq: e.Seq})
	case PushUnsubscribe:
		if _, ok := u.PushSubscriptionFor(c.SubID); !ok {
			return
		}
		u.Push = slices.DeleteFunc(slices.Clone(u.Push), func(p PushSubscription) bool { return p.ID == c.SubID })
		if len(u.Push) == 0 {
			u.Push = nil
		}
	}
	ch.Users[c.Name] = true
}
