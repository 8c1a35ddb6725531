package main

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// When a port serve needs is taken (Debian's mosquitto on 1883, another
// tracker on the web port), serve stops with one line naming the port,
// what probably holds it, and the flag that picks another.
func TestServePortTaken(t *testing.T) {
	tests := []struct {
		name string
		flag string // the flag given the taken address
		want []string
	}{
		{"MQTT", "--mqtt-listen", []string{"MQTT", "another tracker or MQTT broker", "--mqtt-listen 127.0.0.1:"}},
		{"MQTT over websocket", "--mqtt-ws-listen", []string{"MQTT over websocket", "--mqtt-ws-listen 127.0.0.1:"}},
		{"HTTP", "--http", []string{"HTTP", "another tracker or web server", "--http 127.0.0.1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			taken := held.Addr().String()
			addrs := map[string]string{"--http": freeAddr(t), "--mqtt-listen": freeAddr(t)}
			addrs[tt.flag] = taken
			args := []string{"serve", "--data", filepath.Join(t.TempDir(), "data")}
			for flag, addr := range addrs {
				args = append(args, flag, addr)
			}
			var stdout, stderr bytes.Buffer
			err = run(t.Context(), args, &stdout, &stderr)
			if err == nil {
				t.Fatal("serve started on a taken port")
			}
			msg := err.Error()
			want := append([]string{"cannot listen for", taken, "the port is taken, probably by"}, tt.want...)
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is more than one line:\n%s", msg)
			}
		})
	}
}

// The default MQTT port is where a system Mosquitto sits: the message
// says how to stop it, and suggests the next port.
func TestPortTakenMessage(t *testing.T) {
	inUse := fmt.Errorf("listen tcp 127.0.0.1:1883: bind: %w", syscall.EADDRINUSE)
	if e := brokerPortTaken(inUse); e != inUse {
		t.Errorf("an error that is not a broker listener's changed: %v", e)
	}
	got := portTaken(inUse, "MQTT", "127.0.0.1:1883", "mqtt-listen").Error()
	want := "cannot listen for MQTT on 127.0.0.1:1883: the port is taken, probably by a system Mosquitto (systemctl stop mosquitto) or another tracker; stop that, or pick another port with --mqtt-listen 127.0.0.1:1884"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	other := fmt.Errorf("listen: permission denied")
	if portTaken(other, "MQTT", ":1883", "mqtt-listen") != other {
		t.Error("an error other than a taken port changed")
	}
}
