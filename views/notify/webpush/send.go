package webpush

import (
	"bytes"
	"context"
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
)

// Urgency values of RFC 8030 §5.3.
const (
	UrgencyVeryLow = "very-low"
	UrgencyLow     = "low"
	UrgencyNormal  = "normal"
	UrgencyHigh    = "high"
)

// Options are a push message's delivery headers.
type Options struct {
	// TTL is how long the push service keeps the message for an offline
	// browser (RFC 8030 §5.2); 0 means deliver now or never.
	TTL time.Duration
	// Urgency tells the browser's device whether to wake for it
	// (UrgencyNormal when empty).
	Urgency string
	// Topic, when set, replaces an undelivered message of the same
	// topic (at most 32 base64url characters, RFC 8030 §5.4).
	Topic string
}

// Sender sends push messages signed with Keys.
type Sender struct {
	Keys *Keys
	// Subject is the VAPID contact: a mailto: or https: URL the push
	// service's operator may use to reach ours.
	Subject string
	// Client sends the requests; NewClient's when nil.
	Client *http.Client
	Now    func() time.Time // time.Now when nil
}

// ErrGone is returned when the push service says the subscription no
// longer exists (404 or 410): the browser unsubscribed or the user
// revoked the permission. Forget it.
var ErrGone = errors.New("webpush: subscription is gone")

// StatusError is a push service's refusal other than ErrGone.
type StatusError struct {
	Code       int
	Body       string        // the start of the answer, for the log
	RetryAfter time.Duration // from Retry-After, 0 when absent
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("webpush: push service answered %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// Temporary reports whether the same message may succeed later (too many
// requests, or the service failing).
func (e *StatusError) Temporary() bool {
	return e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// Send encrypts payload for sub and posts it to the push service.
func (s *Sender) Send(ctx context.Context, sub Subscription, payload []byte, o Options) error {
	body, err := Encrypt(sub, payload)
	if err != nil {
		return err
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	auth, err := s.Keys.Authorization(sub.Endpoint, s.Subject, now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webpush: request: %w", err)
	}
	h := req.Header
	h.Set("Authorization", auth)
	h.Set("Content-Encoding", "aes128gcm")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("TTL", strconv.FormatInt(int64(o.TTL/time.Second), 10))
	urgency := o.Urgency
	if urgency == "" {
		urgency = UrgencyNormal
	}
	h.Set("Urgency", urgency)
	if o.Topic != "" {
		h.Set("Topic", o.Topic)
	}
	client := s.Client
	if client == nil {
		client = NewClient(Policy{})
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webpush: post to %s: %w", Origin(sub.Endpoint), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("%w (%s answered %d)", ErrGone, Origin(sub.Endpoint), resp.StatusCode)
	}
	return &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(snippet)), RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now())}
}

func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Origin is the endpoint's scheme and host: what logs name (the rest of
// the URL is the subscription's capability: with our key, anyone holding
// it can push to that browser).
func Origin(endpoint string) string {
	scheme, rest, _ := strings.Cut(endpoint, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// NewClient returns the HTTP client pushes go through: it connects only
// to public addresses (a subscription's host name may resolve to this
// machine or the local network; under AllowLoopback, loopback too),
// follows no redirects and gives up after 30 s.
func NewClient(p Policy) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webpush: refusing to connect to %s: %w", address, err)
		}
		a := ap.Addr().Unmap()
		if publicAddr(a) || (p.AllowLoopback && a.IsLoopback()) {
			return nil
		}
		return fmt.Errorf("webpush: refusing to connect to %s: not a public address", address)
	}}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:                 nil, // the address check above must see the push service's address
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
