package phones

import (
	"context"
	"errors"
	"fmt"

	"tracker/projections"
	"tracker/views/notify"
)

// ChannelName is how a notification rule asks for the OwnTracks app.
const ChannelName = "owntracks"

// Channel is the OwnTracks app path as a channel of the rules' dispatcher.
type Channel struct{ Phones *Phones }

// Name is "owntracks".
func (Channel) Name() string { return ChannelName }

// Deliver tells n to the rule's owner's own phones.
func (c Channel) Deliver(ctx context.Context, n notify.Notification) error {
	event := n.Event
	switch event {
	case projections.NotifyArrive:
		event = EventArrive
	case projections.NotifyLeave:
		event = EventLeave
	}
	err := c.Phones.Tell(ctx, n.Rule.Owner, Notice{ID: n.ID, Event: event, Friend: n.Device, Place: n.Place, Text: n.Text, At: n.At})
	switch {
	case errors.Is(err, ErrNoPhone):
		return fmt.Errorf("%w: %v", notify.ErrNobody, err)
	case errors.Is(err, ErrHidden):
		return notify.Permanent(err)
	}
	return err
}
