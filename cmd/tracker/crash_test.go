package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/eventjson"
	"tracker/events/eventstest"
)

// child is `tracker serve` as a separate process (this test binary, see
// TestMain), so it can be killed with SIGKILL.
type child struct {
	cmd    *exec.Cmd
	http   string
	stderr *syncBuffer
	done   chan error
}

func startChild(t testing.TB, data, httpAddr string, args ...string) *child {
	t.Helper()
	return startProgram(t, os.Args[0], data, httpAddr, args...)
}

// startProgram is startChild running the program bin: the test binary
// (as main), or tracker itself where its memory is measured.
func startProgram(t testing.TB, bin, data, httpAddr string, args ...string) *child {
	t.Helper()
	c := &child{http: httpAddr, stderr: &syncBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(bin, append([]string{"serve", "--data", data, "--http", httpAddr}, args...)...)
	c.cmd.Env = append(os.Environ(), "TRACKER_TEST_AS_MAIN=1")
	c.cmd.Stderr = c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	waitHealthy(t, "http://"+httpAddr, c.done)
	return c
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done
}

func (c *child) terminate(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM\n%s", err, c.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not stop within 20s of SIGTERM")
	}
}

// acked records which payloads a publisher got a PUBACK for.
type acked struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (a *acked) add(p string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen[p] = true
}

func (a *acked) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.seen))
	for p := range a.seen {
		out = append(out, p)
	}
	return out
}

// publishUntil publishes QoS 1 messages from several clients as fast as
// acknowledgements allow, recording each acknowledged payload, until stop
// is closed or the connection dies.
func publishUntil(t *testing.T, addr string, publishers int, stop <-chan struct{}, ack *acked) *sync.WaitGroup {
	var wg sync.WaitGroup
	for p := range publishers {
		opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("crash-pub-%d", p)).
			SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		wg.Go(func() {
			defer c.Disconnect(0)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				payload := fmt.Sprintf(`{"_type":"location","lat":50,"lon":4,"tst":%d,"tid":"p%d"}`, 1700000000+i, p)
				tok := c.Publish(fmt.Sprintf("owntracks/pub%d/phone", p), 1, false, payload)
				if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					return // the server died: this message was not acknowledged
				}
				ack.add(fmt.Sprintf("owntracks/pub%d/phone %s", p, payload))
			}
		})
	}
	return &wg
}

// TestCrashLosesNothingAcknowledged: every message the embedded broker
// PUBACKed before a SIGKILL is in the log after restart.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	data := filepath.Join(t.TempDir(), "data")
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	srv := startChild(t, data, httpAddr, "--mqtt-listen", mqttAddr)

	ack := &acked{seen: map[string]bool{}}
	stop := make(chan struct{})
	wg := publishUntil(t, mqttAddr, 8, stop, ack)
	deadline := time.Now().Add(10 * time.Second)
	for len(ack.list()) < 2000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	srv.kill(t) // mid-stream: publishers are still sending
	close(stop)
	wg.Wait()
	acks := ack.list()
	if len(acks) == 0 {
		t.Fatal("no message was acknowledged before the kill")
	}

	srv = startChild(t, data, httpAddr, "--mqtt-listen", mqttAddr)
	srv.terminate(t)
	lines, _ := logLines(t, "--data", data)
	inLog := map[string]int{}
	for _, l := range lines {
		if l.Payload != nil {
			inLog[l.Topic+" "+*l.Payload]++
		}
	}
	lost := 0
	for _, a := range acks {
		if inLog[a] == 0 {
			lost++
		}
	}
	t.Logf("acknowledged before SIGKILL: %d; events in log after restart: %d", len(acks), len(lines))
	if lost > 0 {
		t.Fatalf("%d acknowledged messages are missing from the log after the crash", lost)
	}
	for i, l := range lines {
		if l.Seq != uint64(i+1) {
			t.Fatalf("sequence not dense after crash: line %d has seq %d", i, l.Seq)
		}
	}
}

// TestCrashWithExternalBrokerLosesNothing: with --broker, the server acks
// Mosquitto only after the append is durable, so after a SIGKILL and a
// restart every message published to Mosquitto ends up in the log (the
// broker redelivers what was not acked). Redeliveries are flagged.
func TestCrashWithExternalBrokerLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	mq := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	data := filepath.Join(t.TempDir(), "data")
	httpAddr := freeAddr(t)
	args := []string{"--broker", mq.URL, "--broker-client-id", "tracker-crash-test"}
	srv := startChild(t, data, httpAddr, args...)
	waitConnected(t, "http://"+httpAddr)

	ack := &acked{seen: map[string]bool{}}
	stop := make(chan struct{})
	wg := publishUntil(t, mq.Addr, 8, stop, ack)
	deadline := time.Now().Add(10 * time.Second)
	for len(ack.list()) < 1000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	srv.kill(t)
	time.Sleep(200 * time.Millisecond) // publishers keep going while the server is down
	close(stop)
	wg.Wait()
	published := ack.list()

	srv = startChild(t, data, httpAddr, args...)
	inLog := map[string]int{}
	var lines []eventjson.Line
	deadline = time.Now().Add(30 * time.Second)
	for {
		lines, _ = logLines(t, "--data", data)
		clear(inLog)
		for _, l := range lines {
			if l.Payload != nil {
				inLog[l.Topic+" "+*l.Payload]++
			}
		}
		missing := 0
		for _, p := range published {
			if inLog[p] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages published to Mosquitto are missing from the log after the crash", missing, len(published))
		}
		time.Sleep(200 * time.Millisecond)
	}
	dups, unflagged := 0, 0
	for _, l := range lines {
		if l.DuplicateOf != 0 {
			dups++
		}
	}
	for _, n := range inLog {
		if n > 1 {
			unflagged += n - 1
		}
	}
	t.Logf("published to Mosquitto: %d; events in log: %d; redeliveries flagged as duplicates: %d", len(published), len(lines), dups)
	if unflagged != dups {
		t.Errorf("%d repeated messages in the log but %d flagged as duplicates", unflagged, dups)
	}
	srv.terminate(t)
}

// TestBrokerRestartDuringIngest: Mosquitto stopped and started while
// phones publish; the server reconnects on its own and loses nothing.
func TestBrokerRestartDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a broker")
	}
	mq := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, data, "--broker", mq.URL, "--broker-client-id", "tracker-restart-test")
	waitConnected(t, "http://"+s.http)

	pub := eventstest.Connect(t, mq.Addr, "restart-pub")
	for i := range 50 {
		eventstest.Publish(t, pub, "owntracks/r/phone", 1, false, fmt.Appendf(nil, `{"_type":"location","lat":1,"lon":2,"tst":%d}`, 1700000000+i))
	}
	mq.Stop(t)
	mq.Start(t)
	pub = eventstest.Connect(t, mq.Addr, "restart-pub-2")
	for i := 50; i < 100; i++ {
		eventstest.Publish(t, pub, "owntracks/r/phone", 1, false, fmt.Appendf(nil, `{"_type":"location","lat":1,"lon":2,"tst":%d}`, 1700000000+i))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		lines, _ := logLines(t, "--data", data)
		distinct := map[string]bool{}
		for _, l := range lines {
			distinct[*l.Payload] = true
		}
		if len(distinct) == 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the broker restart the log holds %d of 100 messages\n%s", len(distinct), s.stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(s.stderr.String(), "disconnect") && !strings.Contains(s.stderr.String(), "lost") {
		t.Errorf("the server did not log why it disconnected:\n%s", s.stderr)
	}
}

// waitConnected waits until /healthz says ingest is connected.
func waitConnected(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			var h struct {
				Connected bool `json:"connected"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if h.Connected {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ingest not connected within 20s")
}
