package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// VAPID (RFC 8292): every push request carries a JWT signed with our
// key, and browsers subscribe with our public key, so a push service
// accepts messages for our subscriptions from us only.

// Keys is the server's VAPID key pair. The private key lives in one file
// of the data directory (mode 0600) and nowhere else: not in the log,
// not in exports, not in logs (Keys has no String method that shows it).
type Keys struct {
	priv *ecdsa.PrivateKey
	pub  []byte // uncompressed point, 65 bytes
}

// KeyFile is the name of the VAPID key's file in the data directory.
const KeyFile = "webpush-vapid.pem"

// LoadOrCreateKeys reads the key pair from path, or makes one and writes
// it there (0600) when the file does not exist. created says which.
func LoadOrCreateKeys(path string) (k *Keys, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := NewKeys()
		if err != nil {
			return nil, false, err
		}
		if err := k.write(path); err != nil {
			return nil, false, err
		}
		return k, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("webpush: read VAPID key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Readable by others: tighten rather than refuse, and say so.
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, false, fmt.Errorf("webpush: %s is readable by others and could not be made private: %w", path, err)
		}
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("webpush: %s holds no PEM private key; move it away to make a new key (browsers then subscribe again)", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("webpush: %s: %w", path, err)
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, false, fmt.Errorf("webpush: %s is not a P-256 key", path)
	}
	k, err = keysOf(priv)
	return k, false, err
}

// NewKeys makes a fresh key pair (kept in memory only).
func NewKeys() (*Keys, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webpush: make VAPID key: %w", err)
	}
	return keysOf(priv)
}

func keysOf(priv *ecdsa.PrivateKey) (*Keys, error) {
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("webpush: VAPID public key: %w", err)
	}
	return &Keys{priv: priv, pub: pub}, nil
}

// write stores the private key in path, created with mode 0600 and
// renamed into place, so a crash leaves either no file or a whole one.
func (k *Keys) write(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return fmt.Errorf("webpush: encode VAPID key: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".vapid-*")
	if err != nil {
		return fmt.Errorf("webpush: write VAPID key: %w", err)
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("webpush: write VAPID key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("webpush: write VAPID key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("webpush: write VAPID key: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("webpush: write VAPID key: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("webpush: write VAPID key: %w", err)
	}
	return nil
}

// PublicKey is the public key in base64url (uncompressed point): the
// applicationServerKey a browser subscribes with, and the k= of the
// Authorization header.
func (k *Keys) PublicKey() string { return base64.RawURLEncoding.EncodeToString(k.pub) }

// String, GoString, Format and LogValue show the public key only, so a
// key printed or logged by mistake gives nothing away.
func (k *Keys) String() string   { return "VAPID key " + k.PublicKey() }
func (k *Keys) GoString() string { return k.String() }
func (k *Keys) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, k.String())
}
func (k *Keys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// TokenLifetime is how long a VAPID token we sign is valid (RFC 8292
// allows at most 24 hours).
const TokenLifetime = 12 * time.Hour

// Authorization is the Authorization header for a push to endpoint:
// "vapid t=<JWT>, k=<public key>", the JWT's aud being the endpoint's
// origin, exp now+TokenLifetime and sub the contact (a mailto: or
// https: URL).
func (k *Keys) Authorization(endpoint, subject string, now time.Time) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("webpush: endpoint %q has no origin", endpoint)
	}
	claims, _ := json.Marshal(struct {
		Aud string `json:"aud"`
		Exp int64  `json:"exp"`
		Sub string `json:"sub"`
	}{u.Scheme + "://" + u.Host, now.Add(TokenLifetime).Unix(), subject})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256"}`)) + "." + enc.EncodeToString(claims)
	digest := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("webpush: sign VAPID token: %w", err)
	}
	// ES256 (RFC 7518 §3.4): r and s as 32-byte big-endian, concatenated.
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return "vapid t=" + signing + "." + enc.EncodeToString(sig) + ", k=" + k.PublicKey(), nil
}
