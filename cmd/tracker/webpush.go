package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"tracker/events/broker"
	"tracker/projections/projector"
	"tracker/views/notify"
	"tracker/views/notify/phones"
	"tracker/views/notify/webpush"
	"tracker/views/visible"
	"tracker/views/web"
)

// pushFlags configure Web Push and the OwnTracks app path of
// notifications.
type pushFlags struct {
	PushSubject string // the VAPID contact (RFC 8292 sub)
}

func (f *pushFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&f.PushSubject, "push-subject", "", "Web Push contact for the push services' operators, a mailto: or https: `URL` (VAPID sub); default https://NAME with NAME from --public-host or the first --acme-domain, else mailto:admin@localhost")
}

// subject is the VAPID contact: --push-subject, else the server's
// public name.
func (c *serveConfig) pushSubject() (string, error) {
	s := strings.TrimSpace(c.PushSubject)
	if s != "" {
		if !strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https://") {
			return "", fmt.Errorf("--push-subject %q: want a mailto: or https: URL", s)
		}
		return s, nil
	}
	for _, host := range append([]string{c.PublicHost}, c.ACMEDomains...) {
		if host = strings.TrimSpace(strings.Split(host, ",")[0]); host != "" {
			return "https://" + host, nil
		}
	}
	return "mailto:admin@localhost", nil
}

// vapidKey is the Web Push key's file in the data directory (0600, never
// in the log or an export).
func (d dataDir) vapidKey() string { return d.path(webpush.KeyFile) }

// pushParts are Web Push and the OwnTracks app path, built once.
type pushParts struct {
	web      *web.WebPush      // the key and the subscription rule, for the web side
	browsers *webpush.Browsers // delivers to a user's subscribed browsers
	phones   *phones.Phones    // delivers to a user's own phones (MQTT cmd, HTTP answers)
}

// setupPush loads the VAPID key from the data directory, making it on
// first start, and builds the delivery parts. pub is the broker in use
// (nil: no MQTT path to phones).
func setupPush(cfg serveConfig, st stores, pub phones.Publisher, logger *slog.Logger) (pushParts, error) {
	subject, err := cfg.pushSubject()
	if err != nil {
		return pushParts{}, err
	}
	keys, created, err := webpush.LoadOrCreateKeys(cfg.Data.vapidKey())
	if err != nil {
		return pushParts{}, err
	}
	if created {
		logger.Info("web push key made; browsers subscribe with its public half", "file", cfg.Data.vapidKey(), "public_key", keys.PublicKey())
	}
	// Advice, not a warning: a server nobody subscribes to push on needs no
	// contact, and a fresh start on the defaults must be quiet.
	if subject == "mailto:admin@localhost" {
		logger.Info("web push: no contact given; push services may refuse or throttle messages without one: set --push-subject mailto:you@example.org (or --public-host)")
	}
	policy := webpush.Policy{} // https to public hosts only
	return pushParts{
		web: &web.WebPush{Keys: keys, Policy: policy},
		browsers: &webpush.Browsers{Sender: &webpush.Sender{Keys: keys, Subject: subject, Client: webpush.NewClient(policy)},
			Users: st.proj, Appender: st.log, Policy: policy, Logger: logger},
		phones: &phones.Phones{Users: st.proj, Gate: visible.New(st.proj), MQTT: pub, Logger: logger},
	}, nil
}

// channels are the rules' dispatcher's channels "webpush" and "owntracks".
func (p pushParts) channels() []notify.Channel {
	return []notify.Channel{webpush.Channel{Browsers: p.browsers}, phones.Channel{Phones: p.phones}}
}

var (
	_ phones.Publisher = (*broker.Broker)(nil)
	_ webpush.Users    = (*projector.Projector)(nil)
)
