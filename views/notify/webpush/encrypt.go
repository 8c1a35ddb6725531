package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The message encryption of RFC 8291: the "aes128gcm" content coding of
// RFC 8188 with keys agreed by ECDH between a fresh key pair of ours and
// the browser's subscription key (p256dh), mixed with its auth secret.
// A push message is one record, so its plaintext must fit one record.

const (
	recordSize = 4096 // rs in the header: the most a push service must accept (RFC 8291 §4)
	headerLen  = 16 + 4 + 1 + 65
	tagLen     = 16
	// MaxPlaintext is the longest payload one push message carries: the
	// record less its header, padding delimiter and tag.
	MaxPlaintext = recordSize - headerLen - 1 - tagLen
)

// Encrypt encrypts plaintext for the subscription's browser with a fresh
// ephemeral key and salt, returning the body of the push message.
func Encrypt(sub Subscription, plaintext []byte) ([]byte, error) {
	as, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("webpush: ephemeral key: %w", err)
	}
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // never fails (crypto/rand panics instead)
	return encrypt(plaintext, sub.P256DH, sub.Auth, as, salt)
}

// encrypt is Encrypt with the ephemeral key and salt given, so the RFC's
// example can be reproduced byte for byte.
func encrypt(plaintext, uaPublic, authSecret []byte, as *ecdh.PrivateKey, salt []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("webpush: payload of %d bytes is over the %d a push message holds", len(plaintext), MaxPlaintext)
	}
	if len(authSecret) != 16 || len(salt) != 16 {
		return nil, fmt.Errorf("webpush: auth secret and salt must be 16 bytes")
	}
	ua, err := ecdh.P256().NewPublicKey(uaPublic)
	if err != nil {
		return nil, fmt.Errorf("webpush: subscription key: %w", err)
	}
	shared, err := as.ECDH(ua)
	if err != nil {
		return nil, fmt.Errorf("webpush: key agreement: %w", err)
	}
	asPublic := as.PublicKey().Bytes()

	// RFC 8291 §3.3-3.4: IKM from the ECDH secret and the auth secret,
	// bound to both public keys.
	keyInfo := make([]byte, 0, 14+65+65)
	keyInfo = append(keyInfo, "WebPush: info\x00"...)
	keyInfo = append(keyInfo, uaPublic...)
	keyInfo = append(keyInfo, asPublic...)
	ikm, err := hkdf.Key(sha256.New, shared, authSecret, string(keyInfo), 32)
	if err != nil {
		return nil, fmt.Errorf("webpush: derive ikm: %w", err)
	}
	// RFC 8188 §2.2-2.3: content key and nonce from the salt.
	prk := hmacSHA256(salt, ikm)
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, fmt.Errorf("webpush: derive key: %w", err)
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, fmt.Errorf("webpush: derive nonce: %w", err)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("webpush: cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("webpush: gcm: %w", err)
	}

	out := make([]byte, headerLen, headerLen+len(plaintext)+1+tagLen)
	copy(out, salt)
	binary.BigEndian.PutUint32(out[16:20], recordSize)
	out[20] = byte(len(asPublic))
	copy(out[21:], asPublic)
	// One record, the last: the plaintext then the delimiter 0x02 and no
	// padding. Its sequence number is 0, so the nonce is used as derived.
	record := append(append(make([]byte, 0, len(plaintext)+1), plaintext...), 0x02)
	return gcm.Seal(out, nonce, record, nil), nil
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
