package notify

import (
	"context"
	"fmt"

	"tracker/projections"
	"tracker/views"
)

// Browser shows notifications on the rule owner's open pages, as a
// message of the dashboard's live stream that static/js/notify.js turns
// into a browser notification (the Notification API). Tell is
// live.Hub.Tell: it queues the notice for each open stream of the owner
// and returns how many there are; it must not block.
type Browser struct {
	Tell func(owner string, n views.Notice) int
}

// Name is "browser".
func (b Browser) Name() string { return projections.ChannelBrowser }

// Deliver hands n to the owner's open pages; ErrNobody when none is open.
func (b Browser) Deliver(_ context.Context, n Notification) error {
	if b.Tell(n.Rule.Owner, views.Notice{ID: n.ID, Title: n.Title(), Body: n.Text, At: n.At, Rule: n.Rule.ID}) == 0 {
		return fmt.Errorf("browser: no page of %s open: %w", n.Rule.Owner, ErrNobody)
	}
	return nil
}
