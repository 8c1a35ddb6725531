package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/eventjson"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
)

// TestMain lets the test binary stand in for the tracker binary, so crash
// tests can run `tracker serve` as a child process and SIGKILL it.
func TestMain(m *testing.M) {
	if os.Getenv("TRACKER_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server is a `tracker serve` running in this process.
type server struct {
	data, http, mqtt string
	stderr           *syncBuffer
	cancel           context.CancelFunc
	done             chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	s := &server{data: data, http: freeAddr(t), mqtt: freeAddr(t), stderr: &syncBuffer{}, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	args := append([]string{"serve", "--data", data, "--http", s.http, "--mqtt-listen", s.mqtt, "--log-level", "debug"}, extra...)
	go func() { s.done <- run(ctx, args, &bytes.Buffer{}, s.stderr) }()
	waitHealthy(t, "http://"+s.http, s.done)
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve returned %v\n%s", err, s.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop within 20s\n%s", s.stderr)
	}
}

func waitHealthy(t testing.TB, base string, done <-chan error) {
	t.Helper()
	// Long enough for a first start that rebuilds projections from a big log.
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("server exited early: %v", err)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/healthz not OK within 120s", base)
}

// logLines runs `tracker log --json` and parses its output.
func logLines(t *testing.T, args ...string) ([]eventjson.Line, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), append([]string{"log", "--json"}, args...), &out, &errOut); err != nil {
		t.Fatalf("tracker log: %v\n%s", err, errOut.String())
	}
	var lines []eventjson.Line
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l eventjson.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines, errOut.String()
}

// badInputs is what phones and strangers may send; each must be logged
// verbatim with a reason and never stop the next message.
var badInputs = []struct {
	name    string
	topic   string
	retain  bool
	payload []byte
	kind    string
	reason  string // substring of the expected reason; "" = valid
}{
	{"valid location", "owntracks/alice/phone", false, []byte(`{"_type":"location","lat":52.52,"lon":13.4,"tst":1718000000,"tid":"al"}`), "location", ""},
	{"malformed JSON", "owntracks/alice/phone", false, []byte(`{"_type":"location","lat":52.5`), "", "not JSON"},
	{"non-UTF-8", "owntracks/alice/phone", false, []byte{'{', 0xff, 0xfe, '}'}, "", "UTF-8"},
	{"unknown type", "owntracks/alice/phone", false, []byte(`{"_type":"msg","text":"hi"}`), "unknown", "unknown _type"},
	{"outside owntracks", "foo/alice/phone", false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`), "", "root"},
	{"two levels", "owntracks/alice", false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`), "", "2 levels"},
	{"lat out of range", "owntracks/alice/phone", false, []byte(`{"_type":"location","lat":91.2,"lon":2,"tst":1718000000}`), "location", "lat out of range: 91.2"},
	{"tst as string", "owntracks/alice/phone", false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":"1718000001"}`), "location", ""},
	{"tst in milliseconds", "owntracks/alice/phone", false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000000}`), "location", "milliseconds"},
	// Over the decoder's cap, within the broker's packet limit (bigger
	// packets are refused by the broker: events/broker).
	{"payload over the cap", "owntracks/alice/phone", false, bytes.Repeat([]byte("x"), owntracks.DefaultMaxPayload+1), "", "limit"},
	{"empty retained", "owntracks/alice/phone", true, []byte{}, "clear", ""},
	{"hostile name", "owntracks/<b>x</b>/phone/info", true, []byte(`{"_type":"card","tid":"xx","name":"<script>alert(1)</script>"}`), "card", ""},
	{"valid after all that", "owntracks/alice/phone", false, []byte(`{"_type":"location","lat":52.53,"lon":13.41,"tst":1718000060,"tid":"al"}`), "location", ""},
}

func TestServeKeepsBadInputWithReasons(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, data)
	c := eventstest.Connect(t, s.mqtt, "bad-input")
	for _, in := range badInputs {
		eventstest.Publish(t, c, in.topic, 1, in.retain, in.payload)
	}

	check := func(lines []eventjson.Line) {
		t.Helper()
		if len(lines) != len(badInputs) {
			t.Fatalf("log has %d events, want %d", len(lines), len(badInputs))
		}
		for i, in := range badInputs {
			l := lines[i]
			t.Run(in.name, func(t *testing.T) {
				if l.Seq != uint64(i+1) || l.Topic != in.topic || l.Source != "embedded" || l.Retained != in.retain {
					t.Errorf("event = seq %d topic %q source %q retained %v", l.Seq, l.Topic, l.Source, l.Retained)
				}
				if got := payloadOf(t, l); !bytes.Equal(got, in.payload) {
					t.Errorf("payload not verbatim: got %d bytes, want %d", len(got), len(in.payload))
				}
				if in.kind != "" && l.Kind != in.kind {
					t.Errorf("kind = %q, want %q", l.Kind, in.kind)
				}
				if in.reason == "" && l.Invalid != "" {
					t.Errorf("invalid = %q, want valid", l.Invalid)
				}
				if in.reason != "" && !strings.Contains(l.Invalid, in.reason) {
					t.Errorf("invalid = %q, want it to mention %q", l.Invalid, in.reason)
				}
			})
		}
	}

	// While the server runs, the database is locked: log reads through the API.
	lines, stderr := logLines(t, "--data", data)
	if !strings.Contains(stderr, "reading through http://") {
		t.Errorf("tracker log did not say it read through the server: %q", stderr)
	}
	check(lines)

	// The server counted what it kept.
	resp, err := http.Get("http://" + s.http + "/api/v1/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Events  uint64 `json:"events"`
		Invalid uint64 `json:"invalid"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	wantInvalid := 0
	for _, in := range badInputs {
		if in.reason != "" {
			wantInvalid++
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for stats.Events < uint64(len(badInputs)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		resp, _ := http.Get("http://" + s.http + "/api/v1/stats")
		_ = json.NewDecoder(resp.Body).Decode(&stats)
		resp.Body.Close()
	}
	if stats.Events != uint64(len(badInputs)) || stats.Invalid != uint64(wantInvalid) {
		t.Errorf("stats: %d events, %d invalid; want %d, %d", stats.Events, stats.Invalid, len(badInputs), wantInvalid)
	}

	// Stopped, the log is read directly, with the same result.
	s.stop(t)
	lines, stderr = logLines(t, "--data", data)
	if strings.Contains(stderr, "reading through") {
		t.Errorf("read through a server that is not running: %q", stderr)
	}
	check(lines)

	// --from and --limit.
	lines, _ = logLines(t, "--data", data, "--from", "3", "--limit", "2")
	if len(lines) != 2 || lines[0].Seq != 3 || lines[1].Seq != 4 {
		t.Errorf("--from 3 --limit 2 gave %d lines starting at %v", len(lines), lines)
	}
}

func payloadOf(t *testing.T, l eventjson.Line) []byte {
	t.Helper()
	if l.Payload != nil {
		return []byte(*l.Payload)
	}
	b, err := decodeB64(l.PayloadB64)
	if err != nil {
		t.Fatalf("payload_b64: %v", err)
	}
	return b
}

func TestHelpAndUnknownCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    string
	}{
		{"no args", nil, false, "Commands:"},
		{"help", []string{"help"}, false, "serve"},
		{"serve help", []string{"serve", "--help"}, false, "-mqtt-listen"},
		{"help serve", []string{"help", "serve"}, false, "-broker"},
		{"log help", []string{"log", "--help"}, false, "-follow"},
		{"unknown", []string{"frobnicate"}, true, "unknown command"},
		{"stray argument", []string{"log", "extra"}, true, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), tt.args, &out, &errOut)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			all := out.String() + errOut.String() + fmt.Sprint(err)
			if !strings.Contains(all, tt.want) {
				t.Errorf("output does not mention %q:\n%s", tt.want, all)
			}
		})
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("TRACKER_MQTT_LISTEN", "0.0.0.0:1999")
	t.Setenv("TRACKER_DATA", filepath.Join(t.TempDir(), "d"))
	var errOut bytes.Buffer
	err := run(t.Context(), []string{"serve", "--http", "127.0.0.1:0"}, &bytes.Buffer{}, &errOut)
	// Not loopback and no users: refused, which proves the variable was read.
	if err == nil || !strings.Contains(err.Error(), "0.0.0.0:1999") || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v, want a refusal naming 0.0.0.0:1999", err)
	}
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func tryConnectMQTT(addr, id, user, password string) (paho.Client, error) {
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetUsername(user).SetPassword(password)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	return c, tok.Error()
}
