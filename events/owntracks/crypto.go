package owntracks

import (
	"strings"

	"golang.org/x/crypto/nacl/secretbox"
)

// Keys finds the secretbox key of a device for payloads of _type
// encrypted. A nil Keys means no secrets are configured.
type Keys interface {
	Key(user, device string) (key *[32]byte, ok bool)
}

// KeyFromSecret turns an app's encryption secret into its key the way the
// apps do (protocol §2.9): the first 32 bytes of the UTF-8 text,
// zero-filled. No KDF is involved, so a longer secret only counts up to 32
// bytes and an empty one gives the all-zero key.
func KeyFromSecret(secret string) *[32]byte {
	var k [32]byte
	copy(k[:], secret)
	return &k
}

// Secrets is a Keys built from the secrets typed into the apps. Lookups
// use the user and device as they appear in the topic.
type Secrets struct {
	// Default is the secret for devices with no entry in PerUser; ""
	// means none.
	Default string
	// PerUser maps "user" or "user/device" to a secret. Keys match case-
	// insensitively (the Recorder lower-cases both parts); a
	// "user/device" entry beats a "user" entry, and an entry with an
	// empty secret means "no key", without falling back to Default.
	PerUser map[string]string
}

// Key implements Keys.
func (s Secrets) Key(user, device string) (*[32]byte, bool) {
	if secret, found := lookupFold(s.PerUser, user+"/"+device); found {
		return keyOrNone(secret)
	}
	if secret, found := lookupFold(s.PerUser, user); found {
		return keyOrNone(secret)
	}
	return keyOrNone(s.Default)
}

func keyOrNone(secret string) (*[32]byte, bool) {
	if secret == "" {
		return nil, false
	}
	return KeyFromSecret(secret), true
}

// lookupFold finds name in m, preferring an exact match and otherwise
// taking the smallest case-insensitively equal key, so that the choice
// does not depend on map order.
func lookupFold(m map[string]string, name string) (string, bool) {
	if v, ok := m[name]; ok {
		return v, true
	}
	best, found := "", false
	var v string
	for k, secret := range m {
		if strings.EqualFold(k, name) && (!found || k < best) {
			best, v, found = k, secret, true
		}
	}
	return v, found
}

// Layout of the decoded data member: nonce, then Poly1305 tag and
// ciphertext (libsodium crypto_secretbox_easy).
const (
	nonceSize    = 24
	minEncrypted = nonceSize + secretbox.Overhead
)

// open decrypts the data of an encrypted payload. It fails closed: a
// short box, a missing key and a failed authentication all reject.
func open(data string, keys Keys, t Topic) ([]byte, *Invalid) {
	raw, err := decodeBase64(data)
	if err != nil {
		return nil, invalid(KindEncrypted, "encrypted data is not base64: %s", base64Problem(data, err))
	}
	if len(raw) < minEncrypted {
		return nil, invalid(KindEncrypted, "encrypted data too short: %d bytes, need at least %d", len(raw), minEncrypted)
	}
	var key *[32]byte
	ok := false
	if keys != nil {
		key, ok = keys.Key(t.User, t.Device)
	}
	if !ok || key == nil {
		return nil, invalid(KindEncrypted, "encrypted, no key for %s/%s", t.User, t.Device)
	}
	var nonce [nonceSize]byte
	copy(nonce[:], raw)
	plain, ok := secretbox.Open(nil, raw[nonceSize:], &nonce, key)
	if !ok {
		return nil, invalid(KindEncrypted, "encrypted, key for %s/%s does not open it", t.User, t.Device)
	}
	return plain, nil
}
