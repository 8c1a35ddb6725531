package webpush

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// TestEncryptRFC8291 holds the encryption to the example of RFC 8291
// Appendix A: its keys and salt give its message byte for byte.
func TestEncryptRFC8291(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(b64(t, "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := encrypt([]byte("When I grow up, I want to be a watermelon"),
		b64(t, "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"),
		b64(t, "BTBZMqHH6r4Tts7J_aSIgg"), as, b64(t, "DGv6ra1nlYgDCS1FRnbzlw"))
	if err != nil {
		t.Fatal(err)
	}
	want := b64(t, "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
	if !bytes.Equal(got, want) {
		t.Errorf("encrypt of the RFC's example:\n got %x\nwant %x", got, want)
	}
	// And the browser's side opens it with the RFC's ua_private.
	ua, err := ecdh.P256().NewPrivateKey(b64(t, "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := browserDecrypt(got, ua, b64(t, "BTBZMqHH6r4Tts7J_aSIgg"))
	if err != nil || string(plain) != "When I grow up, I want to be a watermelon" {
		t.Errorf("decrypt: %q, %v", plain, err)
	}
}

// browser is a push subscriber made the way a browser makes one: a
// fresh P-256 key pair and a 16-byte auth secret.
type browser struct {
	priv *ecdh.PrivateKey
	auth []byte
}

func newBrowser(t *testing.T) browser {
	t.Helper()
	priv, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return browser{priv: priv, auth: auth}
}

// subscriptionJSON is what the browser's PushSubscription.toJSON() gives.
func (b browser) subscriptionJSON(endpoint string) []byte {
	enc := base64.RawURLEncoding
	j, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": enc.EncodeToString(b.priv.PublicKey().Bytes()), "auth": enc.EncodeToString(b.auth)}})
	return j
}

// browserDecrypt is the user agent's side of RFC 8291 (written from the
// RFC, apart from the package's encrypt): read the aes128gcm header,
// agree the secret with the sender's key in it, derive key and nonce,
// open each record and strip the padding.
func browserDecrypt(body []byte, ua *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid of %d bytes, want the sender's 65-byte public key", idlen)
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, err
	}
	shared, err := ua.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), ua.PublicKey().Bytes()...), asPub.Bytes()...)
	prkKey, _ := hkdf.Extract(sha256.New, shared, auth)
	ikm, _ := hkdf.Expand(sha256.New, prkKey, string(info), 32)
	prk, _ := hkdf.Extract(sha256.New, ikm, salt)
	cek, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	blk, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(blk)
	var out []byte
	rest := body[21+idlen:]
	for seq := uint64(0); len(rest) > 0; seq++ {
		n := min(int(rs), len(rest))
		iv := bytes.Clone(nonce)
		for i := range 8 {
			iv[11-i] ^= byte(seq >> (8 * i))
		}
		rec, err := gcm.Open(nil, iv, rest[:n], nil)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", seq, err)
		}
		rest = rest[n:]
		i := bytes.LastIndexFunc(rec, func(r rune) bool { return r != 0 })
		if i < 0 || (rec[i] != 0x02 && rec[i] != 0x01) || (rec[i] == 0x02) != (len(rest) == 0) {
			return nil, fmt.Errorf("record %d: bad padding delimiter", seq)
		}
		out = append(out, rec[:i]...)
	}
	return out, nil
}

// pushed is one request the test's push service received.
type pushed struct {
	header http.Header
	body   []byte
	claims map[string]any
	err    error // what was wrong with its VAPID token
}

// pushService is a push endpoint started by the test: it checks each
// request's VAPID token the way a push service does (RFC 8292 §4: the
// ES256 signature with the key in k=, aud the endpoint's origin, exp in
// the next 24 hours, a sub) and answers status.
func pushService(t *testing.T, status int) (*httptest.Server, chan pushed) {
	t.Helper()
	got := make(chan pushed, 10)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p := pushed{header: r.Header.Clone(), body: body}
		p.claims, p.err = verifyVAPID(r.Header.Get("Authorization"), srv.URL, time.Now())
		got <- p
		if p.err != nil {
			http.Error(w, p.err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func verifyVAPID(h, wantAud string, now time.Time) (map[string]any, error) {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return nil, fmt.Errorf("Authorization %q is not vapid", h)
	}
	params := map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), mustB64(params["k"]))
	if err != nil {
		return nil, fmt.Errorf("k: %w", err)
	}
	parts := strings.Split(params["t"], ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("t is not a JWT")
	}
	var header map[string]any
	if err := json.Unmarshal(mustB64(parts[0]), &header); err != nil || header["alg"] != "ES256" || header["typ"] != "JWT" {
		return nil, fmt.Errorf("JWT header %s: want typ JWT, alg ES256", mustB64(parts[0]))
	}
	sig := mustB64(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, fmt.Errorf("JWT signature does not verify with k")
	}
	var claims map[string]any
	if err := json.Unmarshal(mustB64(parts[1]), &claims); err != nil {
		return nil, fmt.Errorf("JWT claims: %w", err)
	}
	if claims["aud"] != wantAud {
		return claims, fmt.Errorf("aud %v, want %s", claims["aud"], wantAud)
	}
	exp, _ := claims["exp"].(float64)
	if e := time.Unix(int64(exp), 0); !e.After(now) || e.After(now.Add(24*time.Hour)) {
		return claims, fmt.Errorf("exp %v is not within the next 24 hours", e)
	}
	if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return claims, fmt.Errorf("sub %q is not a mailto: or https: URL", sub)
	}
	return claims, nil
}

func mustB64(s string) []byte {
	b, _ := base64.RawURLEncoding.DecodeString(s)
	return b
}

func testSender(t *testing.T) *Sender {
	t.Helper()
	k, err := NewKeys()
	if err != nil {
		t.Fatal(err)
	}
	return &Sender{Keys: k, Subject: "mailto:admin@example.org", Client: NewClient(Policy{AllowLoopback: true})}
}

// TestSendDecryptedByTheSubscriber: a push to an endpoint started by the
// test carries a valid VAPID token from our key and a body that the
// subscription's private key and auth secret decrypt to the payload,
// with the TTL, Urgency and content coding headers.
func TestSendDecryptedByTheSubscriber(t *testing.T) {
	srv, got := pushService(t, http.StatusCreated)
	b := newBrowser(t)
	sub, err := ParseSubscription(b.subscriptionJSON(srv.URL+"/push/abc123"), Policy{AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	s := testSender(t)
	payload := []byte(`{"title":"Anna arrived at Home","body":"18:02","url":"/"}`)
	if err := s.Send(t.Context(), sub, payload, Options{TTL: time.Hour, Urgency: UrgencyHigh, Topic: "rule7"}); err != nil {
		t.Fatal(err)
	}
	p := <-got
	if p.err != nil {
		t.Fatalf("VAPID: %v", p.err)
	}
	if k := strings.TrimSpace(p.header.Get("Authorization")[strings.Index(p.header.Get("Authorization"), "k=")+2:]); k != s.Keys.PublicKey() {
		t.Errorf("k=%s, want our public key %s", k, s.Keys.PublicKey())
	}
	if p.claims["sub"] != "mailto:admin@example.org" {
		t.Errorf("sub = %v", p.claims["sub"])
	}
	for h, want := range map[string]string{"TTL": "3600", "Urgency": "high", "Topic": "rule7",
		"Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream"} {
		if v := p.header.Get(h); v != want {
			t.Errorf("%s: %q, want %q", h, v, want)
		}
	}
	plain, err := browserDecrypt(p.body, b.priv, b.auth)
	if err != nil {
		t.Fatalf("the subscriber cannot decrypt: %v", err)
	}
	if !bytes.Equal(plain, payload) {
		t.Errorf("decrypted %q, want %q", plain, payload)
	}
	// Another browser's keys open nothing.
	if _, err := browserDecrypt(p.body, newBrowser(t).priv, b.auth); err == nil {
		t.Error("another key decrypted the message")
	}
}

// TestSendAnswers: 404 and 410 mean the subscription is gone; 429 and
// 5xx are temporary with Retry-After; other refusals are not.
func TestSendAnswers(t *testing.T) {
	for _, tc := range []struct {
		status    int
		gone      bool
		temporary bool
	}{
		{http.StatusOK, false, false},
		{http.StatusGone, true, false},
		{http.StatusNotFound, true, false},
		{http.StatusTooManyRequests, false, true},
		{http.StatusServiceUnavailable, false, true},
		{http.StatusRequestEntityTooLarge, false, false},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			sub, err := ParseSubscription(newBrowser(t).subscriptionJSON(srv.URL+"/x"), Policy{AllowLoopback: true})
			if err != nil {
				t.Fatal(err)
			}
			err = testSender(t).Send(t.Context(), sub, []byte("{}"), Options{})
			var se *StatusError
			switch {
			case tc.status < 300 && err != nil:
				t.Fatalf("Send: %v", err)
			case errors.Is(err, ErrGone) != tc.gone:
				t.Fatalf("Send: %v; gone want %v", err, tc.gone)
			case tc.status >= 300 && !tc.gone && (!errors.As(err, &se) || se.Temporary() != tc.temporary):
				t.Fatalf("Send: %v; want a StatusError, temporary %v", err, tc.temporary)
			case se != nil && se.Temporary() && se.RetryAfter != 7*time.Second:
				t.Errorf("RetryAfter %v, want 7s", se.RetryAfter)
			}
		})
	}
}

// TestClientRefusesPrivateAddresses: the production client does not
// connect to this machine, whatever a subscription's name resolves to.
func TestClientRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, err := NewClient(Policy{}).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "not a public address") {
		t.Errorf("GET loopback with the production client: %v, want refused", err)
	}
	resp, err := NewClient(Policy{AllowLoopback: true}).Get(srv.URL)
	if err != nil {
		t.Fatalf("with AllowLoopback: %v", err)
	}
	resp.Body.Close()
}

// TestPayloadTooLarge: a payload over one record is refused before any
// request, not cut.
func TestPayloadTooLarge(t *testing.T) {
	sub, _ := ParseSubscription(newBrowser(t).subscriptionJSON("https://push.example.org/x"), Policy{})
	if _, err := Encrypt(sub, make([]byte, MaxPlaintext)); err != nil {
		t.Errorf("MaxPlaintext bytes: %v", err)
	}
	if _, err := Encrypt(sub, make([]byte, MaxPlaintext+1)); err == nil {
		t.Error("MaxPlaintext+1 bytes accepted")
	}
}

// TestKeysKeptPrivate: the key is made on first start in a 0600 file
// and the same key is read back after; a file others can read is made
// private; a damaged file stops with a reason.
func TestKeysKeptPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	k1, created, err := LoadOrCreateKeys(path)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	k2, created, err := LoadOrCreateKeys(path)
	if err != nil || created || k2.PublicKey() != k1.PublicKey() {
		t.Fatalf("second start: created %v, same key %v, %v", created, k2.PublicKey() == k1.PublicKey(), err)
	}
	if len(mustB64(k1.PublicKey())) != 65 {
		t.Errorf("public key is not an uncompressed point: %s", k1.PublicKey())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeys(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("a key file others could read stays %v", fi.Mode().Perm())
	}
	// Printed or logged, the keys show the public half only.
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("keys", "vapid", k1)
	raw, _ := k1.priv.Bytes()
	secret := fmt.Sprintf("%x", raw)
	for _, s := range []string{fmt.Sprintf("%v", k1), fmt.Sprintf("%+v", k1), fmt.Sprintf("%#v", k1), fmt.Sprintf("%x", k1), logged.String()} {
		if strings.Contains(s, secret) || strings.Contains(s, "priv") || !strings.Contains(s, k1.PublicKey()) {
			t.Errorf("keys print as %q", s)
		}
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKeys(path); err == nil || !strings.Contains(err.Error(), "no PEM private key") {
		t.Errorf("damaged key file: %v", err)
	}
}
