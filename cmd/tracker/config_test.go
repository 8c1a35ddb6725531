package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFilePrecedenceAndCheck(t *testing.T) {
	dir := t.TempDir()
	toml := filepath.Join(dir, "tracker.toml")
	os.WriteFile(toml, []byte(`
data = "/var/lib/tracker"
http = "127.0.0.1:9000"
mqtt-listen = "127.0.0.1:1999"
broker-password = "hunter2"
secret-for = ["alice=one", "bob/phone=two"]
log-level = "debug"
`), 0o600)
	yml := filepath.Join(dir, "tracker.yaml")
	os.WriteFile(yml, []byte("http: 127.0.0.1:9100\nmqtt-user:\n  - anna:pw1\n"), 0o600)
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(`htttp = "x"`), 0o600)

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    []string
		wantErr string
	}{
		{name: "file", args: []string{"--config", toml},
			want: []string{`data = "/var/lib/tracker"`, `http = "127.0.0.1:9000"`, `broker-password = "****"`, `secret-for = "****"`, `log-level = "debug"`}},
		{name: "environment beats file", env: map[string]string{"TRACKER_HTTP": "127.0.0.1:9001"}, args: []string{"--config", toml},
			want: []string{`http = "127.0.0.1:9001"`, `data = "/var/lib/tracker"`}},
		{name: "flag beats environment and file", env: map[string]string{"TRACKER_HTTP": "127.0.0.1:9001"}, args: []string{"--config", toml, "--http", "127.0.0.1:9002"},
			want: []string{`http = "127.0.0.1:9002"`}},
		{name: "config from the environment, YAML", env: map[string]string{"TRACKER_CONFIG": yml},
			want: []string{`http = "127.0.0.1:9100"`, `mqtt-user = "****"`, `data = "./tracker-data"`}},
		{name: "unknown setting", args: []string{"--config", bad}, wantErr: `unknown setting "htttp"`},
		{name: "bad value", args: []string{"--log-level", "loud"}, wantErr: "--log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			err := run(t.Context(), append([]string{"config", "check"}, tt.args...), &out, &bytes.Buffer{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("missing %s in:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "hunter2") || strings.Contains(out.String(), "pw1") {
				t.Errorf("a secret was printed:\n%s", out.String())
			}
		})
	}
}

// TestTrustedProxyFlag: --trusted-proxy takes CIDRs (repeatable,
// comma-separated, from the environment and the file too), and still
// accepts the bare switch of older configurations (a proxy on loopback).
func TestTrustedProxyFlag(t *testing.T) {
	dir := t.TempDir()
	oldFile := filepath.Join(dir, "old.toml")
	os.WriteFile(oldFile, []byte("trusted-proxy = true\n"), 0o600)
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{name: "CIDRs", args: []string{"--trusted-proxy", "10.0.0.0/8", "--trusted-proxy=192.0.2.1,::1", "--http", "127.0.0.1:1"},
			want: `trusted-proxy = "10.0.0.0/8,192.0.2.1,::1"`},
		{name: "bare switch before a flag", args: []string{"--trusted-proxy", "--http", "127.0.0.1:1"}, want: `trusted-proxy = "true"`},
		{name: "bare switch last", args: []string{"--http", "127.0.0.1:1", "-trusted-proxy"}, want: `trusted-proxy = "true"`},
		{name: "old configuration file", args: []string{"--config", oldFile}, want: `trusted-proxy = "true"`},
		{name: "environment", env: map[string]string{"TRACKER_TRUSTED_PROXY": "10.1.0.0/16, 10.2.0.0/16"}, want: `trusted-proxy = "10.1.0.0/16,10.2.0.0/16"`},
		{name: "not an address", args: []string{"--trusted-proxy", "proxy.example"}, wantErr: "--trusted-proxy \"proxy.example\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out bytes.Buffer
			err := run(t.Context(), append([]string{"config", "check"}, tc.args...), &out, &bytes.Buffer{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %s:\n%s", tc.want, out.String())
			}
		})
	}
}
