package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tracker/projections"
)

// Webhook headers. The signature is HMAC-SHA256, keyed by the rule's
// secret, over the request body; the body carries the attempt's
// timestamp, so a receiver that checks the signature and refuses
// timestamps older than a few minutes cannot be fed a recorded request
// again.
const (
	HeaderSignature = "X-Tracker-Signature" // "sha256=<hex>"; absent when the rule has no secret
	HeaderTimestamp = "X-Tracker-Timestamp" // Unix seconds of this attempt, as in the body
	HeaderDelivery  = "X-Tracker-Delivery"  // Notification.ID: the same for every attempt
	HeaderEvent     = "X-Tracker-Event"     // arrive, leave, silent, battery
)

// MaxWebhookResponse is how much of a receiver's answer is read (the rest
// is dropped with the connection): a receiver cannot make us buffer more.
const MaxWebhookResponse = 64 << 10

// WebhookBody is the JSON the webhook channel posts.
type WebhookBody struct {
	ID        string               `json:"id"` // the same for every attempt: drop repeats
	Timestamp int64                `json:"timestamp"`
	Event     string               `json:"event"`
	Text      string               `json:"text"`
	Device    projections.DeviceID `json:"device"`
	Friend    string               `json:"friend"`
	Place     string               `json:"place,omitempty"`
	At        time.Time            `json:"at"`
	Battery   int                  `json:"battery,omitempty"`
	SilentS   int64                `json:"silent_s,omitempty"`
	Rule      WebhookRule          `json:"rule"`
	Sent      time.Time            `json:"sent"`
}

// WebhookRule is the rule as the webhook tells it (never its secret).
type WebhookRule struct {
	ID     string               `json:"id"`
	Owner  string               `json:"owner"`
	On     string               `json:"on"`
	Device projections.DeviceID `json:"device,omitempty"`
	Place  string               `json:"place,omitempty"`
	Text   string               `json:"text"`
}

// Sign returns the signature header value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Webhook posts notifications to each rule's URL.
//
// Where a webhook may point: an admin's rules anywhere (they run the
// server and may reach its network anyway); everybody else's only to
// public addresses, checked on the address actually dialled (so a name
// that resolves to 127.0.0.1 or the LAN is refused, also after a DNS
// change), unless AllowPrivate is set (README, "Notifications").
// Redirects are not followed.
type Webhook struct {
	// AllowPrivate lets every user's webhooks reach loopback, private
	// and link-local addresses (--webhook-allow-private).
	AllowPrivate bool
	// Admin reports whether a rule's owner is an admin now; nil: nobody is.
	Admin func(owner string) bool
	// Now is the clock of the timestamp; nil: time.Now.
	Now func() time.Time

	client *http.Client
}

// NewWebhook returns the webhook channel.
func NewWebhook(w Webhook) *Webhook {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil, // never through a proxy from the environment: the address check is on what we dial
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := *dialer
			if restricted, _ := ctx.Value(restrictKey{}).(bool); restricted {
				d.Control = refusePrivate
			}
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}
	w.client = &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if w.Now == nil {
		w.Now = time.Now
	}
	return &w
}

type restrictKey struct{}

// errPrivate is why a restricted webhook is not dialled.
var errPrivate = errors.New("the address is loopback, private or link-local; only an admin's rules may post there (or start the server with --webhook-allow-private)")

func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("webhook: dial %s: %w", address, err)
	}
	a := ap.Addr().Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsUnspecified() ||
		a.IsMulticast() || a.IsInterfaceLocalMulticast() || cgnat.Contains(a) {
		return Permanent(fmt.Errorf("webhook: %s: %w", a, errPrivate))
	}
	return nil
}

// cgnat is the shared address space (RFC 6598), private in practice.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Name is "webhook".
func (w *Webhook) Name() string { return projections.ChannelWebhook }

// Deliver posts n to n.Rule.Webhook: 2xx is delivered; 408, 425, 429 and
// 5xx are retried; any other answer is refused for good.
func (w *Webhook) Deliver(ctx context.Context, n Notification) error {
	r := n.Rule
	if r.Webhook == "" {
		return Permanent(errors.New("the rule has no webhook URL"))
	}
	now := w.Now()
	body, err := json.Marshal(WebhookBody{ID: n.ID, Timestamp: now.Unix(), Event: n.Event, Text: n.Text, Device: n.Device,
		Friend: n.Friend, Place: n.Place, At: n.At.UTC(), Battery: n.Battery, SilentS: int64(n.Silent / time.Second),
		Rule: WebhookRule{ID: r.ID, Owner: r.Owner, On: r.On, Device: r.Device, Place: r.Place, Text: r.Describe()}, Sent: now.UTC()})
	if err != nil {
		return Permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	restricted := !w.AllowPrivate && (w.Admin == nil || !w.Admin(r.Owner))
	req, err := http.NewRequestWithContext(context.WithValue(ctx, restrictKey{}, restricted), http.MethodPost, r.Webhook, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tracker-webhook/1")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderDelivery, n.ID)
	req.Header.Set(HeaderEvent, n.Event)
	if r.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(r.Secret, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		if IsPermanent(err) {
			return Permanent(fmt.Errorf("webhook: %w", errPrivate))
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, MaxWebhookResponse))
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooEarly || c == http.StatusTooManyRequests || c >= 500:
		return fmt.Errorf("webhook: the receiver answered %s%s", resp.Status, excerpt(answer))
	case c >= 300 && c < 400:
		return Permanent(fmt.Errorf("webhook: the receiver answered %s (to %s); redirects are not followed", resp.Status, resp.Header.Get("Location")))
	default:
		return Permanent(fmt.Errorf("webhook: the receiver refused it: %s%s", resp.Status, excerpt(answer)))
	}
}

// excerpt is the start of a receiver's answer, for the delivery log.
func excerpt(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if s == "" {
		return ""
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return ": " + strconv.Quote(s)
}
