package live

import (
	"context"
	"io"

	"tracker/views"
)

// maxPendingNotices bounds a client's queued notices; beyond it the
// oldest are dropped (the delivery log still has them).
const maxPendingNotices = 20

// Tell queues a notification for every open stream of user and returns
// how many there are. It never blocks: each stream sends it with its
// next message (notification rules, the browser channel).
func (h *Hub) Tell(user string, n views.Notice) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := 0
	for c := range h.clients {
		if user == "" || c.access.User != user {
			continue
		}
		c.mu.Lock()
		c.notices = append(c.notices, n)
		if len(c.notices) > maxPendingNotices {
			c.notices = c.notices[len(c.notices)-maxPendingNotices:]
		}
		c.mu.Unlock()
		c.signal()
		k++
	}
	return k
}

// renderNotices appends the notices to a message.
func renderNotices(ctx context.Context, w io.Writer, ns []views.Notice) error {
	if len(ns) == 0 {
		return nil
	}
	return views.LiveNotices(ns).Render(ctx, w)
}
