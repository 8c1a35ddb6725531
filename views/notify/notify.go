// Package notify tells users when what their rules watch happens: a
// friend arrives at or leaves a place, stays silent, runs low on battery
// (projections.NotifyRule). The Dispatcher follows the projections'
// changes (projections.Feed), decides which rules fire, and hands each
// notification to the channels its rule names (a webhook, the open
// browser, Web Push, the OwnTracks app), each through a bounded queue
// served by its own workers: delivery never slows ingest, and a full
// queue drops and counts.
//
// A rule sees only what its owner may see now: whether the owner may see
// the friend is decided when the rule fires and again before every
// delivery attempt, so a sharing change stops queued and retried
// deliveries too.
package notify

import (
	"context"
	"errors"
	"time"

	"tracker/projections"
)

// Channel delivers notifications by one means. Channels are plugged into
// the Dispatcher (Options.Channels) and chosen by name in each rule
// (projections.NotifyRule.Channels).
type Channel interface {
	// Name is how rules ask for the channel: "webhook", "browser",
	// "webpush", "owntracks".
	Name() string
	// Deliver makes one attempt to deliver n to n.Rule.Owner (or the
	// rule's target, such as its webhook URL). It returns nil once
	// delivered; an error wrapped with Permanent when trying again
	// cannot help (the receiver refused it, the owner has no browser
	// subscribed); any other error is retried with backoff. It must
	// return by ctx's deadline (Options.Timeout). Several workers call
	// it at once.
	Deliver(ctx context.Context, n Notification) error
}

// Notification is one rule firing once, as every channel delivers it.
type Notification struct {
	// ID is the same for every channel and every attempt of one firing
	// ("<rule id>-<seq>"), so a receiver can drop repeats.
	ID   string
	Rule projections.NotifyRule // the rule as it fired: owner, channels, webhook
	// Event is what happened: projections.NotifyArrive, NotifyLeave,
	// NotifySilent or NotifyBattery (Rule.On).
	Event  string
	Device projections.DeviceID
	Friend string    // the friend's display name
	Place  string    // arrive, leave: the place as the crossing named it
	At     time.Time // when it happened (the crossing, the fix, the deadline)
	// Battery is the level (%) for battery; Silent how long the friend
	// has been silent for silent.
	Battery int
	Silent  time.Duration
	Text    string // one line for a person: "Ben arrived at Home"
	// Seq is the event that made it happen (0 for a silence).
	Seq uint64
}

// Title is a short heading for the notification: "tracker: Ben".
func (n Notification) Title() string { return "tracker: " + n.Friend }

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that trying again cannot mend: the delivery
// fails at once, without retries.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// ErrNobody is what a channel returns when it has nobody to tell (the
// owner has no page open, no browser subscribed): not a failure, not
// retried; the delivery log says so.
var ErrNobody = errors.New("nobody to tell")

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
