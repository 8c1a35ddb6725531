package main

import (
	"context"
	"flag"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"tracker/projections"
	"tracker/projections/projector"
	"tracker/views/live"
	"tracker/views/notify"
	"tracker/views/visible"
	"tracker/views/web"
)

// notifyFlags configure the notification rules' delivery (serve).
type notifyFlags struct {
	// WebhookAllowPrivate lets every user's webhooks reach loopback and
	// private addresses; otherwise only admins' may.
	WebhookAllowPrivate bool
}

func (c *notifyFlags) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", false,
		"let every user's notification webhooks post to loopback, private and link-local addresses (by default only admins' rules may: the server's network is theirs anyway)")
}

// newNotifier builds the notification dispatcher with its channels. It
// reads the projections through a gate of its own (every read as one
// rule's owner may see), the log for events' origins, and tells open
// pages through the live hub. More channels (Web Push, the OwnTracks
// app) are added to the list here.
func newNotifier(cfg notifyFlags, proj *projector.Projector, events notify.EventReader, hub *live.Hub, metrics *web.Metrics, logger *slog.Logger, more ...notify.Channel) *notify.Dispatcher {
	admin := func(owner string) bool {
		u, ok := proj.User(owner)
		return ok && u.Admin
	}
	channels := []notify.Channel{
		notify.NewWebhook(notify.Webhook{AllowPrivate: cfg.WebhookAllowPrivate, Admin: admin}),
		notify.Browser{Tell: hub.Tell},
	}
	channels = append(channels, more...) // Web Push, the OwnTracks app (webpush.go)
	d := notify.New(notify.Options{Source: proj, Gate: visible.New(proj), Events: events, Channels: channels,
		Logger: logger.With("component", "notify")})
	metrics.Registry().MustRegister(d.Collector())
	return d
}

// runNotifier runs the dispatcher in g and makes it a follower of the
// projections' changes.
func runNotifier(ctx context.Context, g *errgroup.Group, d *notify.Dispatcher, changes *projections.Feed) {
	if d == nil {
		return
	}
	g.Go(func() error { return d.Run(ctx) })
	g.Go(func() error { changes.Run(ctx, d.Follow); return nil })
}
