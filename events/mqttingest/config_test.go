package mqttingest

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracker/events/eventstest"
)

func TestNewValidatesConfig(t *testing.T) {
	l := eventstest.OpenLog(t)
	pki := eventstest.NewPKI(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	host, _ := os.Hostname()

	tests := []struct {
		name       string
		cfg        Config
		wantErr    string   // substring; empty: valid
		wantIs     error    // also matched with errors.Is
		wantSource string   // for valid configs
		wantTopics []string // for valid configs
	}{
		{name: "empty broker", cfg: Config{}, wantErr: "broker URL is empty"},
		{name: "no scheme", cfg: Config{Broker: "broker.example.com:1883"}, wantErr: `scheme "broker.example.com" not supported`},
		{name: "http scheme", cfg: Config{Broker: "http://broker.example.com"}, wantErr: `scheme "http" not supported`},
		{name: "mqtts scheme", cfg: Config{Broker: "mqtts://broker.example.com"}, wantErr: "want tcp, ssl, ws or wss"},
		{name: "no host", cfg: Config{Broker: "tcp://:1883"}, wantErr: "no host"},
		{name: "unparsable", cfg: Config{Broker: "tcp://user:pa ss@host:x"}, wantErr: "broker URL"},
		{name: "missing CA file", cfg: Config{Broker: "ssl://b:8883", CAFile: missing}, wantErr: "CA file", wantIs: fs.ErrNotExist},
		{name: "CA file without certificates", cfg: Config{Broker: "ssl://b:8883", CAFile: garbage}, wantErr: "no PEM certificates"},
		{name: "cert without key", cfg: Config{Broker: "ssl://b:8883", CertFile: pki.ClientCert}, wantErr: "both a cert file and a key file"},
		{name: "missing key file", cfg: Config{Broker: "ssl://b:8883", CertFile: pki.ClientCert, KeyFile: missing}, wantErr: "client certificate", wantIs: fs.ErrNotExist},
		{name: "key does not match", cfg: Config{Broker: "ssl://b:8883", CertFile: pki.ClientCert, KeyFile: pki.ServerKey}, wantErr: "private key does not match"},
		{name: "TLS settings on tcp", cfg: Config{Broker: "tcp://b:1883", CAFile: pki.CAFile}, wantErr: "does not use TLS"},
		{name: "bad topic filter", cfg: Config{Broker: "tcp://b", Topics: []string{"owntracks/#/x"}}, wantErr: `"#" must be the last level`},
		{name: "partial wildcard", cfg: Config{Broker: "tcp://b", Topics: []string{"owntracks/u+/d"}}, wantErr: `"+" must be a whole level`},
		{name: "sub-second keepalive", cfg: Config{Broker: "tcp://b", KeepAlive: time.Millisecond}, wantErr: "below 1s"},
		{
			name: "defaults", cfg: Config{Broker: "tcp://user:secret@broker.example.com:1883"},
			wantSource: "mqtt:tcp://broker.example.com:1883", wantTopics: []string{"owntracks/#"},
		},
		{
			name: "TLS with client certificate", cfg: Config{Broker: "ssl://b:8883", CAFile: pki.CAFile, CertFile: pki.ClientCert, KeyFile: pki.ClientKey, Topics: []string{"owntracks/+/+", "owntracks/+/+/info"}},
			wantSource: "mqtt:ssl://b:8883", wantTopics: []string{"owntracks/+/+", "owntracks/+/+/info"},
		},
		{name: "wss", cfg: Config{Broker: "wss://b/mqtt"}, wantSource: "mqtt:wss://b/mqtt", wantTopics: []string{"owntracks/#"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(tt.cfg, l, nil)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("New succeeded, want error containing %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrConfig) {
					t.Errorf("error = %q, want it to contain %q and wrap ErrConfig", err, tt.wantErr)
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("error = %v, want it to wrap %v", err, tt.wantIs)
				}
				if strings.Contains(err.Error(), "pa ss") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := in.Source(); got != tt.wantSource {
				t.Errorf("Source() = %q, want %q", got, tt.wantSource)
			}
			if strings.Join(in.cfg.Topics, ",") != strings.Join(tt.wantTopics, ",") {
				t.Errorf("topics = %q, want %q", in.cfg.Topics, tt.wantTopics)
			}
			if in.cfg.ClientID != "tracker-"+host || in.cfg.KeepAlive != defaultKeepAlive || in.cfg.MaxReconnectInterval != defaultMaxReconnect {
				t.Errorf("defaults = %q %s %s", in.cfg.ClientID, in.cfg.KeepAlive, in.cfg.MaxReconnectInterval)
			}
			if in.Connected() {
				t.Error("Connected() before Run")
			}
		})
	}
}

// TestConnackConn: the session-present flag is read from the CONNACK
// however the reads split it, and only from an accepted CONNACK.
func TestConnackConn(t *testing.T) {
	tests := []struct {
		name   string
		stream []byte
		chunk  int
		want   []bool // onConnack calls
	}{
		{name: "session present", stream: []byte{0x20, 2, 1, 0, 0x30, 0}, chunk: 64, want: []bool{true}},
		{name: "no session", stream: []byte{0x20, 2, 0, 0}, chunk: 64, want: []bool{false}},
		{name: "byte by byte", stream: []byte{0x20, 2, 1, 0, 0x20, 2, 0, 0}, chunk: 1, want: []bool{true}},
		{name: "refused", stream: []byte{0x20, 2, 0, 5}, chunk: 64},
		{name: "not a connack", stream: []byte{0x30, 2, 1, 0}, chunk: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			var got []bool
			c := newConn(client, func(sp bool) { got = append(got, sp) })
			go func() {
				for b := tt.stream; len(b) > 0; {
					n := min(tt.chunk, len(b))
					_, _ = server.Write(b[:n])
					b = b[n:]
				}
				_ = server.Close()
			}()
			buf := make([]byte, tt.chunk)
			var read []byte
			for {
				n, err := c.Read(buf)
				read = append(read, buf[:n]...)
				if err != nil {
					break
				}
			}
			if string(read) != string(tt.stream) {
				t.Errorf("read %v, want %v", read, tt.stream)
			}
			if len(got) != len(tt.want) || (len(got) == 1 && got[0] != tt.want[0]) {
				t.Errorf("onConnack calls = %v, want %v", got, tt.want)
			}
		})
	}
}
