package webpush

import (
	"context"
	"errors"
	"fmt"

	"tracker/views/notify"
)

// ChannelName is how a notification rule asks for Web Push.
const ChannelName = "webpush"

// Channel is Web Push as a channel of the rules' dispatcher: the rule's
// owner's subscribed browsers are told, the page closed or not.
type Channel struct{ Browsers *Browsers }

// Name is "webpush".
func (Channel) Name() string { return ChannelName }

// Deliver tells n to every browser the rule's owner subscribed. The
// notification's tag is its id, so a retry that reaches a browser again
// replaces what it shows; the rule's id is the push Topic, so a browser
// offline gets only the newest of one rule's undelivered messages.
func (c Channel) Deliver(ctx context.Context, n notify.Notification) error {
	err := c.Browsers.Tell(ctx, n.Rule.Owner, Message{Title: n.Title(), Body: n.Text, URL: "/", Tag: n.ID}, "rule-"+n.Rule.ID)
	switch {
	case errors.Is(err, ErrNoBrowser):
		return fmt.Errorf("%w: %v", notify.ErrNobody, err)
	case errors.Is(err, ErrRefused):
		return notify.Permanent(err)
	}
	return err
}
