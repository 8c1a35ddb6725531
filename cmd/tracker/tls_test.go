package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/acme/autocert"

	"tracker/events/eventstest"
)

// startHTTPSServer runs `tracker serve` in this process like startServer,
// but waits for /healthz over HTTPS with a client trusting roots.
func startHTTPSServer(t *testing.T, data string, roots *x509.CertPool, extra ...string) *server {
	t.Helper()
	s := &server{data: data, http: freeAddr(t), mqtt: freeAddr(t), stderr: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	args := append([]string{"serve", "--data", data, "--http", s.http, "--mqtt-listen", s.mqtt, "--log-level", "debug"}, extra...)
	go func() { s.done <- run(ctx, args, &bytes.Buffer{}, s.stderr) }()
	t.Cleanup(func() { s.stop(t) })
	client := tlsTestClient(t, roots)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.cancel = nil
			t.Fatalf("server exited early: %v\n%s", err, s.stderr)
		default:
		}
		resp, err := client.Get("https://" + s.http + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("https://%s/healthz not OK within 60s (last error %v)\n%s", s.http, err, s.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tlsTestClient is an HTTP client trusting only roots, opening a new
// connection (and handshake) for every request.
func tlsTestClient(t *testing.T, roots *x509.CertPool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// trustPool is a certificate pool of the CAs in files.
func trustPool(t *testing.T, files ...string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !pool.AppendCertsFromPEM(b) {
			t.Fatalf("no certificate in %s", f)
		}
	}
	return pool
}

// certDER is the first certificate in a PEM file.
func certDER(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM block in %s", file)
	}
	return block.Bytes
}

// peerCert does a fresh TLS handshake with addr and returns the
// certificate the server presented.
func peerCert(t *testing.T, addr string, roots *x509.CertPool) []byte {
	t.Helper()
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Raw
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestServeTLSWithCertificateFiles(t *testing.T) {
	pki := eventstest.NewPKI(t)
	roots := trustPool(t, pki.CAFile)
	data := filepath.Join(t.TempDir(), "data")
	s := startHTTPSServer(t, data, roots, "--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey)

	if got, want := peerCert(t, s.http, roots), certDER(t, pki.ServerCert); !bytes.Equal(got, want) {
		t.Error("the server presented another certificate than --tls-cert")
	}

	resp, err := tlsTestClient(t, roots).Get("https://" + s.http + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz over HTTPS: %s", resp.Status)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q, want max-age", hsts)
	}

	t.Run("TLS 1.1 refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", s.http, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			conn.Close()
			t.Fatal("handshake with TLS 1.1 succeeded")
		}
	})
	t.Run("plain HTTP not served", func(t *testing.T) {
		resp, err := http.Get("http://" + s.http + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP answered 200 on the HTTPS listener")
			}
		}
	})
	t.Run("server info names https", func(t *testing.T) {
		info, err := dataDir(data).readServerInfo()
		if err != nil {
			t.Fatal(err)
		}
		if info.HTTP != "https://"+s.http {
			t.Errorf("server.json http = %q, want https://%s", info.HTTP, s.http)
		}
	})
}

func TestServeTLSReloadsOnSIGHUP(t *testing.T) {
	// Belt and braces: whatever happens to serve's subscription, a SIGHUP
	// sent by this test never ends the test process. Stopped after the
	// server (cleanups run last in, first out).
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGHUP)
	t.Cleanup(func() { signal.Stop(guard) })

	first, second := eventstest.NewPKI(t), eventstest.NewPKI(t)
	roots := trustPool(t, first.CAFile, second.CAFile)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyFile(t, first.ServerCert, certFile)
	copyFile(t, first.ServerKey, keyFile)
	s := startHTTPSServer(t, filepath.Join(dir, "data"), roots, "--tls-cert", certFile, "--tls-key", keyFile)

	firstDER, secondDER := certDER(t, first.ServerCert), certDER(t, second.ServerCert)
	if !bytes.Equal(peerCert(t, s.http, roots), firstDER) {
		t.Fatal("not serving the first certificate")
	}
	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(msg string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.stderr.String(), msg) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log within 10s\n%s", msg, s.stderr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Half-written renewal: the new certificate with the old key. The
	// reload fails and the old pair stays.
	copyFile(t, second.ServerCert, certFile)
	hup()
	waitLog("TLS certificate not reloaded")
	if !bytes.Equal(peerCert(t, s.http, roots), firstDER) {
		t.Error("after a failed reload the server does not serve the previous certificate")
	}

	// The key arrives: the next SIGHUP switches new connections over.
	copyFile(t, second.ServerKey, keyFile)
	hup()
	waitLog("TLS certificate reloaded")
	if !bytes.Equal(peerCert(t, s.http, roots), secondDER) {
		t.Error("after the reload new connections do not see the new certificate")
	}
	resp, err := tlsTestClient(t, trustPool(t, second.CAFile)).Get("https://" + s.http + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS with only the new CA trusted: %v", err)
	}
	resp.Body.Close()
}

func TestServeTLSEmbeddedBroker(t *testing.T) {
	pki := eventstest.NewPKI(t)
	roots := trustPool(t, pki.CAFile)
	mqttTLS := freeAddr(t)
	s := startHTTPSServer(t, filepath.Join(t.TempDir(), "data"), roots,
		"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--mqtt-tls-listen", mqttTLS)

	opts := paho.NewClientOptions().AddBroker("ssl://" + mqttTLS).SetClientID("phone-tls").
		SetTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT over TLS to %s: %v\n%s", mqttTLS, tok.Error(), s.stderr)
	}
	t.Cleanup(func() { c.Disconnect(100) })
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":52.52,"lon":13.4,"tst":1718000000}`))

	// The plain listener still serves, beside the TLS one.
	eventstest.Publish(t, eventstest.Connect(t, s.mqtt, "phone-plain"), "owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":52.52,"lon":13.4,"tst":1718000000}`))

	if plain, err := tryConnectMQTT(mqttTLS, "phone-no-tls", "", ""); err == nil {
		plain.Disconnect(0)
		t.Error("plain MQTT connected to the TLS listener")
	}
}

func TestServeTLSACMEWiring(t *testing.T) {
	httpsAddr, redirectAddr := freeAddr(t), freeAddr(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"),
		"--acme-domain", "tracker.example, www.tracker.example", "--acme-email", "admin@tracker.example",
		"--https-listen", httpsAddr, "--http-redirect-listen", redirectAddr)
	client := tlsTestClient(t, nil)

	get := func(t *testing.T, method, host, path string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+redirectAddr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tc := range []struct {
		name, method, host, path string
		wantCode                 int
		wantLocation             string
	}{
		{"redirect keeps path and query", "GET", "tracker.example", "/history/alice/phone?day=2024-06-10", http.StatusMovedPermanently, "https://tracker.example/history/alice/phone?day=2024-06-10"},
		{"redirect to the name asked", "GET", "www.tracker.example:80", "/", http.StatusMovedPermanently, "https://www.tracker.example/"},
		{"redirect a POST too", "POST", "tracker.example", "/login", http.StatusMovedPermanently, "https://tracker.example/login"},
		{"other host goes to the first domain", "GET", "evil.example", "/x", http.StatusMovedPermanently, "https://tracker.example/x"},
		{"unknown challenge token", "GET", "tracker.example", "/.well-known/acme-challenge/no-such-token", http.StatusNotFound, ""},
		{"challenge for another host", "GET", "evil.example", "/.well-known/acme-challenge/no-such-token", http.StatusForbidden, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(t, tc.method, tc.host, tc.path)
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status %s, want %d", resp.Status, tc.wantCode)
			}
			if loc := resp.Header.Get("Location"); loc != tc.wantLocation {
				t.Errorf("Location = %q, want %q", loc, tc.wantLocation)
			}
		})
	}

	t.Run("HTTPS refuses names not configured", func(t *testing.T) {
		conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "evil.example", MinVersion: tls.VersionTLS12})
		if err == nil {
			conn.Close()
			t.Fatal("TLS handshake for a name not in --acme-domain succeeded")
		}
	})
	t.Run("plain --http stays for local tools", func(t *testing.T) {
		resp, err := http.Get("http://" + s.http + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz on --http: %s", resp.Status)
		}
	})
}

func TestTLSACMEManager(t *testing.T) {
	data := t.TempDir()
	cfg := serveConfig{Data: dataDir(data)}
	cfg.ACMEDomains = listFlag{"Tracker.Example., www.tracker.example", "mqtt.tracker.example"}
	cfg.ACMEEmail = "admin@tracker.example"
	setup, err := cfg.resolveTLS()
	if err != nil {
		t.Fatal(err)
	}
	m := setup.acme
	if m == nil || setup.files != nil {
		t.Fatal("--acme-domain did not set up ACME")
	}
	for host, allowed := range map[string]bool{
		"tracker.example": true, "www.tracker.example": true, "mqtt.tracker.example": true,
		"evil.example": false, "tracker.example.evil.example": false, "sub.tracker.example": false, "": false,
	} {
		if err := m.HostPolicy(t.Context(), host); (err == nil) != allowed {
			t.Errorf("HostPolicy(%q) = %v, want allowed %v", host, err, allowed)
		}
	}
	if m.Email != cfg.ACMEEmail || m.Prompt == nil {
		t.Errorf("email %q, prompt set %v", m.Email, m.Prompt != nil)
	}
	if want := autocert.DirCache(filepath.Join(data, "acme")); m.Cache != want {
		t.Errorf("cache %v, want %v", m.Cache, want)
	}
	if setup.httpsAddr != ":443" || setup.redirectAddr != ":80" {
		t.Errorf("listeners %q, %q; want :443 and :80 by default", setup.httpsAddr, setup.redirectAddr)
	}
}

// Wrong combinations are refused before anything listens, with a message
// saying what to do.
func TestServeTLSFlagErrors(t *testing.T) {
	pki := eventstest.NewPKI(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"files and ACME", []string{"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--acme-domain", "tracker.example"}, "mutually exclusive"},
		{"cert without key", []string{"--tls-cert", pki.ServerCert}, "--tls-key go together"},
		{"unreadable certificate", []string{"--tls-cert", pki.ServerCert + ".missing", "--tls-key", pki.ServerKey}, ".missing"},
		{"key of another certificate", []string{"--tls-cert", pki.ServerCert, "--tls-key", pki.ClientKey}, "does not match"},
		{"MQTT TLS without a certificate", []string{"--mqtt-tls-listen", "127.0.0.1:0"}, "needs a certificate"},
		{"MQTT TLS with an external broker", []string{"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--mqtt-tls-listen", "127.0.0.1:0", "--broker", "tcp://127.0.0.1:1"}, "embedded broker"},
		{"email without ACME", []string{"--acme-email", "a@b.example"}, "needs --acme-domain"},
		{"HTTPS listener without ACME", []string{"--https-listen", "127.0.0.1:0"}, "need --acme-domain"},
		{"URL as domain", []string{"--acme-domain", "https://tracker.example"}, "want a DNS name"},
		{"ACME default HTTPS without users", []string{"--acme-domain", "tracker.example"}, "listen on :443, beyond loopback"},
		{"ACME default redirect without users", []string{"--acme-domain", "tracker.example", "--https-listen", "127.0.0.1:0"}, "listen on :80, beyond loopback"},
		{"MQTT TLS beyond loopback without users", []string{"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--mqtt-tls-listen", "0.0.0.0:0"}, "broker would listen on 0.0.0.0:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"serve", "--data", filepath.Join(t.TempDir(), "data"), "--http", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"}, tt.args...)
			err := run(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
