// Package webpush sends notifications to browsers with the page closed:
// the Web Push protocol (RFC 8030), its message encryption (RFC 8291,
// the aes128gcm content coding of RFC 8188) and VAPID (RFC 8292), from
// the standard library only. It knows nothing of rules or friends: the
// caller decides who is told what, this package delivers it.
package webpush

import (
	"bytes"
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Limits on what a browser may hand us as its subscription.
const (
	MaxSubscriptionBytes = 4096 // the JSON body of a subscription
	MaxEndpointLen       = 2048 // push services' URLs are a few hundred bytes
)

// Subscription is where and how to reach one browser: the push
// service's URL for it and its keys (PushSubscription.toJSON() in the
// browser).
type Subscription struct {
	Endpoint string
	P256DH   []byte // the browser's public key, uncompressed P-256 (65 bytes)
	Auth     []byte // the browser's auth secret (16 bytes)
}

// Policy says which endpoints are acceptable. The zero value is the
// production rule: https to a public name or address only.
type Policy struct {
	// AllowLoopback also accepts http:// and https:// to loopback
	// addresses (127.0.0.0/8, ::1, localhost): for tests, whose push
	// service runs on this machine.
	AllowLoopback bool
}

// ErrInvalid wraps every reason a subscription is refused.
var ErrInvalid = errors.New("webpush: invalid subscription")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// subscriptionJSON is the browser's PushSubscription.toJSON().
type subscriptionJSON struct {
	Endpoint       string          `json:"endpoint"`
	ExpirationTime json.RawMessage `json:"expirationTime"` // null or a number; not used
	Keys           struct {
		P256DH string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// ParseSubscription reads a browser's subscription and checks every
// part of it, saying why when it refuses one.
func ParseSubscription(b []byte, p Policy) (Subscription, error) {
	if len(b) > MaxSubscriptionBytes {
		return Subscription{}, invalid("%d bytes, more than the %d a subscription takes", len(b), MaxSubscriptionBytes)
	}
	if !utf8.Valid(b) {
		return Subscription{}, invalid("not UTF-8 text")
	}
	var j subscriptionJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		return Subscription{}, invalid("not a subscription object: %v", err)
	}
	if dec.More() {
		return Subscription{}, invalid("more than one JSON value")
	}
	return NewSubscription(j.Endpoint, j.Keys.P256DH, j.Keys.Auth, p)
}

// NewSubscription checks a subscription's parts (the keys in base64url,
// as browsers give them) and returns it.
func NewSubscription(endpoint, p256dh, auth string, p Policy) (Subscription, error) {
	if err := CheckEndpoint(endpoint, p); err != nil {
		return Subscription{}, err
	}
	key, err := decodeKey("p256dh", p256dh, 65)
	if err != nil {
		return Subscription{}, err
	}
	if _, err := ecdh.P256().NewPublicKey(key); err != nil {
		return Subscription{}, invalid("keys.p256dh is not a P-256 public key")
	}
	secret, err := decodeKey("auth", auth, 16)
	if err != nil {
		return Subscription{}, err
	}
	return Subscription{Endpoint: endpoint, P256DH: key, Auth: secret}, nil
}

// Keys returns the subscription's keys in base64url, as browsers give
// them (and as they are kept in the log).
func (s Subscription) Keys() (p256dh, auth string) {
	return base64.RawURLEncoding.EncodeToString(s.P256DH), base64.RawURLEncoding.EncodeToString(s.Auth)
}

func decodeKey(name, s string, size int) ([]byte, error) {
	if s == "" {
		return nil, invalid("keys.%s is missing", name)
	}
	if len(s) > 2*base64.RawURLEncoding.EncodedLen(size) {
		return nil, invalid("keys.%s is too long", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, invalid("keys.%s is not base64url", name)
	}
	if len(b) != size {
		return nil, invalid("keys.%s is %d bytes, want %d", name, len(b), size)
	}
	return b, nil
}

// CheckEndpoint checks a push service URL: absolute https (http only to
// loopback under AllowLoopback), a host name or a public address, no
// credentials or fragment, at most MaxEndpointLen bytes. Where a name
// leads is checked again when we connect (see dialer): a name may
// resolve to a private address.
func CheckEndpoint(endpoint string, p Policy) error {
	if endpoint == "" {
		return invalid("endpoint is missing")
	}
	if len(endpoint) > MaxEndpointLen {
		return invalid("endpoint is %d bytes, more than %d", len(endpoint), MaxEndpointLen)
	}
	if strings.ContainsFunc(endpoint, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return invalid("endpoint contains spaces or control characters")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return invalid("endpoint is not a URL")
	}
	host := u.Hostname()
	switch {
	case u.User != nil:
		return invalid("endpoint may not carry a user name or password")
	case u.Fragment != "" || strings.Contains(endpoint, "#"):
		return invalid("endpoint may not have a fragment")
	case u.Opaque != "" || host == "":
		return invalid("endpoint has no host")
	}
	if port := u.Port(); port != "" && (len(port) > 5 || port == "0") {
		return invalid("endpoint port %q is not a port", port)
	}
	loop := isLoopbackName(host)
	switch {
	case loop && !p.AllowLoopback:
		return invalid("endpoint %s is this machine, not a push service", host)
	case u.Scheme == "https":
	case u.Scheme == "http" && loop:
	default:
		return invalid("endpoint must be an https URL (got scheme %q)", u.Scheme)
	}
	if a, err := netip.ParseAddr(host); err == nil && !loop && !publicAddr(a) {
		return invalid("endpoint %s is a private or local address, not a push service", host)
	}
	return nil
}

func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// publicAddr reports whether a is an address a push service may have:
// not loopback, private, link-local, multicast or unspecified.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT: never a push service
