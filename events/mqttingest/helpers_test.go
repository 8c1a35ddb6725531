package mqttingest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
)

func TestMain(m *testing.M) {
	// paho's loggers are process-wide. Show them with -v; they would
	// interleave with benchmark results otherwise.
	flag.Parse()
	if testing.Verbose() {
		RouteLogs(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	}
	os.Exit(m.Run())
}

// logBuffer collects an Ingest's log lines; they are printed if the test
// fails. (t.Log cannot be used: paho may call our handlers late.)
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) contains(s string) bool { return bytes.Contains([]byte(b.String()), []byte(s)) }

func testLogger(t testing.TB) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ingest log:\n%s", b)
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// running is an Ingest whose Run goroutine the test controls.
type running struct {
	*Ingest
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// startIngest runs New(cfg, log) in a goroutine until stop (or the end of
// the test).
func startIngest(t testing.TB, cfg Config, log events.Appender) *running {
	t.Helper()
	logger, logs := testLogger(t)
	in, err := New(cfg, log, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Ingest: in, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return nil.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("Run did not return within 15s of cancel")
	}
}

// connectClient connects a paho client (publisher or plain subscriber)
// as the phones' apps do: MQTT 3.1.1, reconnecting; tune is applied last.
func connectClient(t testing.TB, url, id string, tune func(*mqtt.ClientOptions)) mqtt.Client {
	t.Helper()
	return eventstest.Connect(t, url, id, func(o *mqtt.ClientOptions) {
		o.SetProtocolVersion(4).SetAutoReconnect(true).SetWriteTimeout(0).
			SetStore(newOutboundStore()) // the memory store warns on each clean connect
		if tune != nil {
			tune(o)
		}
	})
}

// waitLog waits until the log holds an event matching pred and returns it.
func waitLog(t testing.TB, l *badgerlog.Log, timeout time.Duration, what string, pred func(events.Event) bool) events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var found events.Event
	errFound := errors.New("found")
	err := events.Follow(ctx, l, 1, func(e events.Event) error {
		if pred(e) {
			found = e
			return errFound
		}
		return nil
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("waiting for %s in the log: %v", what, err)
	}
	return found
}

func allEvents(t testing.TB, l *badgerlog.Log) []events.Event {
	t.Helper()
	var all []events.Event
	if err := l.Scan(context.Background(), 1, func(e events.Event) error {
		all = append(all, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all
}

// probe publishes one message through the broker and waits for it in the
// log, which shows the ingest is connected and subscribed. It publishes
// again every second: a message sent before the ingest's first SUBACK
// is not delivered to it.
func probe(t testing.TB, brokerURL string, l *badgerlog.Log, name string) {
	t.Helper()
	c := connectClient(t, brokerURL, "probe-"+name, nil)
	topic := "owntracks/probe/" + name
	isProbe := func(e events.Event) bool { return e.Topic == topic }
	for range 15 {
		eventstest.Publish(t, c, topic, 1, false, []byte(`{"_type":"location","probe":true}`))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		errFound := errors.New("found")
		err := events.Follow(ctx, l, 1, func(e events.Event) error {
			if isProbe(e) {
				return errFound
			}
			return nil
		})
		cancel()
		if errors.Is(err, errFound) {
			return
		}
	}
	t.Fatalf("probe %s not in the log after 15s", name)
}

// recorder wraps a real log and records every append's outcome, so tests
// can see what the ingest handed to the log even when the log did not
// store it (failed append, retained replay).
type recorder struct {
	events.Appender
	mu      sync.Mutex
	results []appendResult
	changed chan struct{}
}

type appendResult struct {
	ev  events.Event
	seq uint64
	err error
}

func newRecorder(a events.Appender) *recorder {
	return &recorder{Appender: a, changed: make(chan struct{})}
}

func (r *recorder) AppendAsync(e events.Event, done func(uint64, error)) {
	r.Appender.AppendAsync(e, func(seq uint64, err error) {
		r.mu.Lock()
		r.results = append(r.results, appendResult{ev: e, seq: seq, err: err})
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
		done(seq, err)
	})
}

// wait waits until pred holds for some recorded result and returns it.
func (r *recorder) wait(t testing.TB, timeout time.Duration, what string, pred func(appendResult) bool) appendResult {
	t.Helper()
	deadline := time.After(timeout)
	for i := 0; ; {
		r.mu.Lock()
		for ; i < len(r.results); i++ {
			if pred(r.results[i]) {
				res := r.results[i]
				r.mu.Unlock()
				return res
			}
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waiting for %s: not seen within %s", what, timeout)
		}
	}
}

func (r *recorder) count(pred func(appendResult) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, res := range r.results {
		if pred(res) {
			n++
		}
	}
	return n
}
