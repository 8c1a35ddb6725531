package webpush

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// A browser's real subscription shape (keys from RFC 8291 Appendix A).
const (
	goodKey  = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	goodAuth = "BTBZMqHH6r4Tts7J_aSIgg"
)

func subJSON(endpoint, p256dh, auth string) string {
	b, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil, "keys": map[string]string{"p256dh": p256dh, "auth": auth}})
	return string(b)
}

// subscriptionCases are the inputs the table test checks and the fuzz
// test starts from: real push services' URL shapes and hostile ones.
var subscriptionCases = []struct {
	name   string
	in     string
	policy Policy
	reason string // "" when accepted; else part of the refusal
}{
	{"chrome", subJSON("https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH-example", goodKey, goodAuth), Policy{}, ""},
	{"firefox", subJSON("https://updates.push.services.mozilla.com/wpush/v2/gAAAAABexample", goodKey, goodAuth), Policy{}, ""},
	{"safari", subJSON("https://web.push.apple.com/QOexample", goodKey, goodAuth), Policy{}, ""},
	{"padded keys", subJSON("https://push.example.org/a", goodKey, goodAuth+"=="), Policy{}, ""},
	{"loopback in tests", subJSON("http://127.0.0.1:4321/push/1", goodKey, goodAuth), Policy{AllowLoopback: true}, ""},
	{"http", subJSON("http://push.example.org/a", goodKey, goodAuth), Policy{}, "must be an https URL"},
	{"loopback", subJSON("https://127.0.0.1/a", goodKey, goodAuth), Policy{}, "is this machine"},
	{"localhost", subJSON("https://localhost:8080/a", goodKey, goodAuth), Policy{}, "is this machine"},
	{"private", subJSON("https://10.1.2.3/a", goodKey, goodAuth), Policy{}, "private or local address"},
	{"link-local metadata", subJSON("https://169.254.169.254/latest", goodKey, goodAuth), Policy{}, "private or local address"},
	{"ipv6 ula", subJSON("https://[fd00::1]/a", goodKey, goodAuth), Policy{}, "private or local address"},
	{"mapped loopback", subJSON("https://[::ffff:127.0.0.1]/a", goodKey, goodAuth), Policy{}, "this machine"},
	{"file", subJSON("file:///etc/passwd", goodKey, goodAuth), Policy{}, "no host"},
	{"javascript", subJSON("javascript:alert(1)", goodKey, goodAuth), Policy{}, "no host"},
	{"credentials", subJSON("https://user:pw@push.example.org/a", goodKey, goodAuth), Policy{}, "user name or password"},
	{"fragment", subJSON("https://push.example.org/a#x", goodKey, goodAuth), Policy{}, "fragment"},
	{"newline", subJSON("https://push.example.org/a\r\nX: y", goodKey, goodAuth), Policy{}, "control characters"},
	{"relative", subJSON("/api/v1/push", goodKey, goodAuth), Policy{}, "no host"},
	{"no endpoint", subJSON("", goodKey, goodAuth), Policy{}, "endpoint is missing"},
	{"long endpoint", subJSON("https://push.example.org/"+strings.Repeat("a", MaxEndpointLen), goodKey, goodAuth), Policy{}, "more than 2048"},
	{"no keys", `{"endpoint":"https://push.example.org/a"}`, Policy{}, "p256dh is missing"},
	{"short key", subJSON("https://push.example.org/a", goodKey[:40], goodAuth), Policy{}, "want 65"},
	{"key not on the curve", subJSON("https://push.example.org/a", "BA"+strings.Repeat("A", 85), goodAuth), Policy{}, "not a P-256 public key"},
	{"key not base64", subJSON("https://push.example.org/a", strings.Repeat("!", 87), goodAuth), Policy{}, "not base64url"},
	{"long auth", subJSON("https://push.example.org/a", goodKey, goodAuth+goodAuth), Policy{}, "want 16"},
	{"huge key", subJSON("https://push.example.org/a", strings.Repeat("A", 5000), goodAuth), Policy{}, "more than the 4096"},
	{"not json", `endpoint=https://push.example.org`, Policy{}, "not a subscription object"},
	{"array", `[1,2]`, Policy{}, "not a subscription object"},
	{"two values", subJSON("https://push.example.org/a", goodKey, goodAuth) + `{}`, Policy{}, "more than one JSON value"},
	{"not utf-8", "{\"endpoint\":\"https://push.example.org/\xff\"}", Policy{}, "not UTF-8"},
	{"port zero", subJSON("https://push.example.org:0/a", goodKey, goodAuth), Policy{}, "not a port"},
}

// TestParseSubscription: real subscriptions are read; hostile or
// oversized ones are refused with a reason that says what is wrong.
func TestParseSubscription(t *testing.T) {
	for _, tc := range subscriptionCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSubscription([]byte(tc.in), tc.policy)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(s.P256DH) != 65 || len(s.Auth) != 16 || s.Endpoint == "" {
					t.Fatalf("parsed %+v", s)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted %+v; want refused for %q", s, tc.reason)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("refused with %q; want ErrInvalid saying %q", err, tc.reason)
			}
		})
	}
}

// FuzzParseSubscription: whatever a browser (or anyone with a login)
// posts, the parser never panics, and what it accepts is a subscription
// we may post to: an https (or, in tests, loopback) URL within the size
// limit and keys of the right sizes, that reads back the same. The seed
// corpus is in testdata/fuzz/FuzzParseSubscription and the table above.
func FuzzParseSubscription(f *testing.F) {
	for _, tc := range subscriptionCases {
		f.Add([]byte(tc.in), tc.policy.AllowLoopback)
	}
	f.Fuzz(func(t *testing.T, in []byte, loopback bool) {
		p := Policy{AllowLoopback: loopback}
		s, err := ParseSubscription(in, p)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal %v is not ErrInvalid", err)
			}
			return
		}
		if len(s.Endpoint) > MaxEndpointLen || len(s.P256DH) != 65 || len(s.Auth) != 16 {
			t.Fatalf("accepted out-of-bounds %+v", s)
		}
		if !strings.HasPrefix(s.Endpoint, "https://") && !(loopback && strings.HasPrefix(s.Endpoint, "http://")) {
			t.Fatalf("accepted endpoint %q", s.Endpoint)
		}
		if !loopback && isLoopbackName(hostOf(s.Endpoint)) {
			t.Fatalf("accepted this machine: %q", s.Endpoint)
		}
		k, a := s.Keys()
		again, err := ParseSubscription([]byte(subJSON(s.Endpoint, k, a)), p)
		if err != nil || again.Endpoint != s.Endpoint || !bytes.Equal(again.P256DH, s.P256DH) || !bytes.Equal(again.Auth, s.Auth) {
			t.Fatalf("does not read back: %+v, %v", again, err)
		}
	})
}

func hostOf(endpoint string) string {
	_, rest, _ := strings.Cut(endpoint, "://")
	host, _, _ := strings.Cut(rest, "/")
	if h, _, ok := strings.Cut(host, "]"); ok {
		return strings.TrimPrefix(h, "[")
	}
	h, _, _ := strings.Cut(host, ":")
	return h
}
