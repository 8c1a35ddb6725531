// Package phones tells a user through the OwnTracks app on their own
// phones, where the app can show it:
//
//   - MQTT: a cmd {"action":"action","notification":TEXT} on each of the
//     user's own devices' command topic (owntracks/<user>/<device>/cmd),
//     the one topic the broker delivers to that phone only, at QoS 0 so
//     only a phone connected at that moment gets it. The iOS app shows the
//     text as a notification when its remote commands (cmd) are on; the
//     Android app ignores that action.
//   - HTTP mode: the answer to each of the user's phones' next post
//     carries, for an arrival or departure, the friend's transition
//     (enter/leave, the place, the friend's tid), which the Android and
//     iOS apps show as a friend's event notification; for other news the
//     same cmd action as above (iOS only).
//
// A transition is never published on MQTT: the only topic the apps take
// it from is the friend's own owntracks/<friend>/<device>/event, which
// every reader of the friend sees and which would enter the log as the
// friend's own event. Who may be told is decided before (the rules'
// dispatcher); this package checks again that the friend is visible to
// the user when it hands a queued answer over, which may be hours later.
package phones

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"tracker/projections"
	"tracker/views/visible"
)

// Users reads users (the projections').
type Users interface {
	User(name string) (projections.User, bool)
}

// Publisher sends a message from the server through the MQTT broker in
// use, logged first (the embedded broker, or the client of an external one).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error
}

// Phones delivers notices to a user's own phones; Take hands the ones
// waiting for a phone in HTTP mode to its next post. Safe for
// concurrent use.
type Phones struct {
	Users Users
	// Gate is how the user's own devices and the friend are read: as the
	// user may see them now.
	Gate *visible.Gate
	// MQTT publishes the commands; nil when phones have no MQTT path.
	MQTT Publisher
	// Root is the topic root ("owntracks" when empty).
	Root string
	// TTL is how long a notice waits for an HTTP-mode phone to post;
	// 0: DefaultTTL. Older news is dropped, not shown late.
	TTL    time.Duration
	Logger *slog.Logger
	Now    func() time.Time // time.Now when nil

	mu      sync.Mutex
	pending map[projections.DeviceID][]pending
}

// DefaultTTL bounds how late an HTTP-mode phone is told.
const DefaultTTL = time.Hour

// maxPending bounds the notices waiting per phone (the oldest go).
const maxPending = 16

// Events a Notice may be about that the apps can show as a friend's
// region event (projections.NotifyArrive and NotifyLeave).
const (
	EventArrive = "arrive"
	EventLeave  = "leave"
)

// Notice is what to tell the user.
type Notice struct {
	ID     string               // the same for every attempt of one firing
	Event  string               // EventArrive, EventLeave, or another kind (silent, battery)
	Friend projections.DeviceID // whom it is about
	Place  string               // arrive, leave: the place's name
	Text   string               // one line for a person: "Ben arrived at Home"
	At     time.Time
}

type pending struct {
	id      string
	owner   string
	friend  projections.DeviceID
	payload json.RawMessage
	expires time.Time
}

// ErrNoPhone: the user has no phone that ever reported; nothing was sent.
var ErrNoPhone = errors.New("phones: no phone of the user has reported")

// ErrHidden: the friend is not visible to the user (any more).
var ErrHidden = errors.New("phones: the friend is not shared with the user")

func (p *Phones) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Phones) root() string {
	if p.Root == "" {
		return "owntracks"
	}
	return p.Root
}

// Tell sends n to each of owner's own phones: published at once over
// MQTT, and queued for the next post of a phone in HTTP mode (a phone
// gets one of the two: only the mode it uses reaches it). It fails,
// to be retried, only when every MQTT publish failed.
func (p *Phones) Tell(ctx context.Context, owner string, n Notice) error {
	u, ok := p.Users.User(owner)
	if !ok {
		return fmt.Errorf("%w: %s is not a user", ErrNoPhone, owner)
	}
	view := p.Gate.For(visible.Rule(u.MaySee))
	friend, ok := view.Friend(n.Friend)
	if !ok {
		return fmt.Errorf("%w (%s)", ErrHidden, owner)
	}
	var own []projections.DeviceID
	for _, f := range view.Friends() {
		if f.User == owner {
			own = append(own, f.ID)
		}
	}
	if len(own) == 0 {
		return fmt.Errorf("%w (%s)", ErrNoPhone, owner)
	}
	text := n.Text + clock(n.At, u.Zone)
	cmd, _ := json.Marshal(actionCmd{Type: "cmd", Action: "action", Notification: text})
	answer := json.RawMessage(cmd)
	if n.Event == EventArrive || n.Event == EventLeave {
		answer = transitionFor(n, friend)
	}

	var published int
	var failed []error
	for _, dev := range own {
		p.queue(dev, pending{id: n.ID, owner: owner, friend: n.Friend, payload: answer, expires: p.now().Add(p.ttl())})
		if p.MQTT == nil {
			continue
		}
		user, device := dev.Split()
		topic := p.root() + "/" + user + "/" + device + "/cmd"
		// QoS 0: only a phone connected now gets it. A QoS 1 message
		// would wait in an offline phone's session and be shown later,
		// after sharing may have changed, which nothing could withhold.
		if err := p.MQTT.Publish(ctx, topic, cmd, 0, false); err != nil {
			failed = append(failed, fmt.Errorf("publish to %s: %w", topic, err))
			continue
		}
		published++
	}
	if p.MQTT != nil && published == 0 {
		return fmt.Errorf("phones: %w", errors.Join(failed...))
	}
	if len(failed) > 0 {
		p.logger().Warn("notice not published to every phone", "user", owner, "notice", n.ID, "err", errors.Join(failed...))
	}
	return nil
}

func (p *Phones) ttl() time.Duration {
	if p.TTL <= 0 {
		return DefaultTTL
	}
	return p.TTL
}

// actionCmd is the OwnTracks cmd whose notification the iOS app shows.
// Without content or url it also clears the app's Featured Content tab.
type actionCmd struct {
	Type         string `json:"_type"`  // "cmd"
	Action       string `json:"action"` // "action"
	Notification string `json:"notification"`
}

// transition is a friend's region event as the apps show it.
type transition struct {
	Type  string `json:"_type"` // "transition"
	Event string `json:"event"` // "enter" or "leave"
	Desc  string `json:"desc"`
	TID   string `json:"tid"` // files it under the friend the same answer lists
	Tst   int64  `json:"tst"`
	Wtst  int64  `json:"wtst"`
	Acc   int    `json:"acc"`
	T     string `json:"t"` // "c": a circular region (iOS ignores beacon events, "b")
}

func transitionFor(n Notice, f projections.FriendView) json.RawMessage {
	event := "enter"
	if n.Event == EventLeave {
		event = "leave"
	}
	tid := f.TID
	if tid == "" {
		tid = firstRunes(f.Device, 2) // as the HTTP answer files the friend
	}
	b, _ := json.Marshal(transition{Type: "transition", Event: event, Desc: n.Place, TID: tid,
		Tst: n.At.Unix(), Wtst: n.At.Unix(), T: "c"})
	return b
}

func firstRunes(s string, n int) string {
	r := []rune(s)
	return string(r[:min(n, len(r))])
}

// clock is " at 15:04" in the user's zone (UTC when they chose none),
// since a phone may show the notice late.
func clock(at time.Time, zone string) string {
	if at.IsZero() {
		return ""
	}
	if loc, err := time.LoadLocation(zone); err == nil && zone != "" {
		return " at " + at.In(loc).Format("15:04")
	}
	return " at " + at.UTC().Format("15:04") + " UTC"
}

// queue keeps a notice for dev's next post (once per notice id), and
// drops what expired anywhere.
func (p *Phones) queue(dev projections.DeviceID, e pending) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending == nil {
		p.pending = map[projections.DeviceID][]pending{}
	}
	now := p.now()
	for d, list := range p.pending {
		if list = live(list, now); len(list) == 0 {
			delete(p.pending, d)
		} else {
			p.pending[d] = list
		}
	}
	list := p.pending[dev]
	for _, q := range list {
		if q.id == e.id {
			return // a retry of a notice already waiting
		}
	}
	list = append(list, e)
	if len(list) > maxPending {
		list = list[len(list)-maxPending:]
	}
	p.pending[dev] = list
}

func live(list []pending, now time.Time) []pending {
	out := list[:0]
	for _, e := range list {
		if now.Before(e.expires) {
			out = append(out, e)
		}
	}
	return out
}

// Take removes and returns what waits for dev, for the answer to its
// post in HTTP mode: only what has not expired and is about a friend its
// user may still see.
func (p *Phones) Take(dev projections.DeviceID) []json.RawMessage {
	p.mu.Lock()
	list := live(p.pending[dev], p.now())
	delete(p.pending, dev)
	p.mu.Unlock()
	var out []json.RawMessage
	for _, e := range list {
		u, ok := p.Users.User(e.owner)
		if !ok || !u.MaySee(e.friend) {
			p.logger().Info("notice withheld: the friend is no longer shared", "user", e.owner, "notice", e.id)
			continue
		}
		out = append(out, e.payload)
	}
	return out
}

func (p *Phones) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}

// Pending counts the notices waiting for HTTP-mode phones.
func (p *Phones) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.pending {
		n += len(l)
	}
	return n
}
