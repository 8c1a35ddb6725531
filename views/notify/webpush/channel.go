package webpush

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tracker/events"
	"tracker/projections"
)

// Users reads a user's browsers (the projections' users).
type Users interface {
	User(name string) (projections.User, bool)
}

// Browsers delivers a message to every browser a user subscribed, and
// forgets (by an event in the log) the subscriptions the push service
// says are gone. Who may be told what is decided before: it delivers.
type Browsers struct {
	Sender   *Sender
	Users    Users
	Appender events.Appender // records the removal of a gone subscription
	// Policy is the endpoint rule subscriptions were accepted under; a
	// recorded subscription that no longer meets it is skipped.
	Policy Policy
	// TTL is how long a push service keeps a message for a browser that
	// is offline (RFC 8030 TTL); 0: DefaultTTL. Past it the news is stale.
	TTL    time.Duration
	Logger *slog.Logger
	Now    func() time.Time // time.Now when nil
}

// DefaultTTL: a phone asleep for longer than this is not told of an
// arrival it no longer needs.
const DefaultTTL = time.Hour

// Message is the payload the service worker (static/js/sw.js) shows.
type Message struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"`           // a path on this site, opened on a click
	Tag   string `json:"tag,omitempty"` // the same tag replaces the notification shown, not adds one
}

// Limits on the text shown, well within one push message (MaxPlaintext).
const (
	maxTitle = 120
	maxBody  = 600
)

// ErrNoBrowser: the user has no browser subscribed; nothing was sent.
var ErrNoBrowser = errors.New("webpush: no browser subscribed")

// ErrRefused wraps answers that trying again cannot mend: every push
// service refused the message for good (bad request, our key refused,
// too large) or every subscription was gone.
var ErrRefused = errors.New("webpush: refused")

// Tell sends m to each of owner's browsers at once. It returns nil when
// at least one push service took it (the others are logged), ErrNoBrowser
// when owner has none, an error wrapping ErrRefused when every one
// refused for good, and otherwise an error worth retrying; a retry may
// reach a browser again, whose tag then replaces the notification.
// topic (RFC 8030 Topic) lets a newer message replace an undelivered one.
func (b *Browsers) Tell(ctx context.Context, owner string, m Message, topic string) error {
	u, ok := b.Users.User(owner)
	if !ok || len(u.Push) == 0 {
		return fmt.Errorf("%w for %s", ErrNoBrowser, owner)
	}
	payload := m.encode()
	ttl := b.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	opts := Options{TTL: ttl, Urgency: UrgencyNormal, Topic: pushTopic(topic)}

	errs := make([]error, len(u.Push))
	var wg sync.WaitGroup
	for i, p := range u.Push {
		sub, err := NewSubscription(p.Endpoint, p.P256DH, p.Auth, b.Policy)
		if err != nil {
			errs[i] = fmt.Errorf("%w: subscription %s: %v", ErrRefused, p.ID, err)
			continue
		}
		wg.Go(func() { errs[i] = b.Sender.Send(ctx, sub, payload, opts) })
	}
	wg.Wait()

	var sent, permanent int
	var temporary error
	for i, err := range errs {
		p := u.Push[i]
		switch {
		case err == nil:
			sent++
		case errors.Is(err, ErrGone):
			permanent++
			b.forget(ctx, owner, p, err)
		case isPermanent(err):
			permanent++
			b.logger().Warn("web push refused", "user", owner, "subscription", p.ID, "service", Origin(p.Endpoint), "err", err)
		default:
			temporary = err
			b.logger().Info("web push failed; will retry", "user", owner, "subscription", p.ID, "service", Origin(p.Endpoint), "err", err)
		}
	}
	switch {
	case sent > 0:
		return nil
	case temporary != nil:
		return temporary
	}
	return fmt.Errorf("%w: all %d subscriptions of %s refused or gone (%v)", ErrRefused, permanent, owner, errors.Join(errs...))
}

func isPermanent(err error) bool {
	if errors.Is(err, ErrRefused) {
		return true
	}
	var se *StatusError
	return errors.As(err, &se) && !se.Temporary()
}

// forget records that the push service no longer knows subscription p:
// an unsubscribe event by the server, so every replica and rebuild
// forgets it too.
func (b *Browsers) forget(ctx context.Context, owner string, p projections.PushSubscription, why error) {
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	c := projections.PushCommand{Type: "push", Action: projections.PushUnsubscribe, Name: owner, SubID: p.ID,
		Reason: clipText(why.Error(), 200), Issue: projections.NewIssue("server", now())}
	payload, _ := json.Marshal(c)
	seq, err := b.Appender.Append(ctx, events.Event{Topic: projections.PushTopic, Payload: payload, QoS: 1,
		Source: events.SourceAdmin, Received: time.Now()})
	if err != nil {
		b.logger().Error("a gone push subscription could not be forgotten; it is tried again next time", "user", owner, "subscription", p.ID, "err", err)
		return
	}
	b.logger().Info("push subscription gone; forgotten", "user", owner, "subscription", p.ID, "service", Origin(p.Endpoint), "why", why, "seq", seq)
}

func (b *Browsers) logger() *slog.Logger {
	if b.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Logger
}

// encode is m as the push payload, its texts cut to fit.
func (m Message) encode() []byte {
	m.Title, m.Body = clipText(m.Title, maxTitle), clipText(m.Body, maxBody)
	if !strings.HasPrefix(m.URL, "/") || strings.HasPrefix(m.URL, "//") || len(m.URL) > 512 {
		m.URL = "/"
	}
	m.Tag = clipText(m.Tag, 64)
	b, _ := json.Marshal(m)
	return b
}

// clipText cuts s to at most n runes, marking the cut.
func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// pushTopic makes a Topic header value (RFC 8030 §5.4: at most 32
// characters of the base64url alphabet) from any key.
func pushTopic(key string) string {
	var b strings.Builder
	for _, r := range key {
		if b.Len() == 32 {
			break
		}
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			b.WriteRune(r)
		}
	}
	return b.String()
}
