package main

import (
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVAPIDKeyKeptPrivate: serve makes the Web Push key on first start
// in the data directory (0600) and keeps it across restarts; the API
// gives its public half; the private key is in no log line, no event and
// no export.
func TestVAPIDKeyKeptPrivate(t *testing.T) {
	f := newConnectFixture(t, "--push-subject", "mailto:ops@example.org")
	path := filepath.Join(f.s.data, "webpush-vapid.pem")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want it with mode 0600", fi, err)
	}
	b, _ := os.ReadFile(path)
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("key file holds no PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.(*ecdsa.PrivateKey)
	raw, _ := priv.Bytes()
	pub, _ := priv.PublicKey.Bytes()

	code, body := f.do(t, http.MethodGet, "/api/v1/push/key", "vera", veraPW, nil, nil)
	var key struct {
		PublicKey string `json:"public_key"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &key) != nil || key.PublicKey != base64.RawURLEncoding.EncodeToString(pub) {
		t.Fatalf("GET /api/v1/push/key: %d %s; want the file's public key", code, body)
	}

	secrets := []string{hex.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(blk.Bytes)[:40]}
	_, gz := f.do(t, http.MethodGet, "/api/v1/export", "root", rootPW, nil, nil)
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	export := string(unzipped)
	for where, text := range map[string]string{"the server's log output": f.s.stderr.String(), "the export": export} {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the private key", where)
			}
		}
	}
	if !strings.Contains(export, "tracker/admin/user") {
		t.Fatalf("the export looks empty: %.200s", export)
	}

	// A restart keeps the key: subscribed browsers stay valid.
	f.s.stop(t)
	s := startServer(t, f.s.data, "--tiles", "")
	code, body = (connectFixture{s: s, base: "http://" + s.http}).do(t, http.MethodGet, "/api/v1/push/key", "vera", veraPW, nil, nil)
	if code != http.StatusOK || !strings.Contains(body, key.PublicKey) {
		t.Errorf("after a restart the key is %s, want the same", body)
	}
}
