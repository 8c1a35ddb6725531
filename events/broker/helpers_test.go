package broker_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// fixture is a running embedded broker on a loopback port, backed by a real
// Badger log in a temp dir. Cleanup stops the broker, then closes the log
// and the database, in that order.
type fixture struct {
	broker *broker.Broker
	log    *badgerlog.Log
	addr   string
	// stop ends Run and returns its error; cleanup calls it too.
	stop func() error
	// logs holds everything the broker logged at info level and above.
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

// startBroker opens a log in a temp dir and the broker on it, and
// runs the broker until the test ends.
func startBroker(tb testing.TB, cfg broker.Config, opts badgerlog.Options) *fixture {
	tb.Helper()
	l, err := badgerlog.Open(tb.TempDir(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("close log: %v", err)
		}
	})
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewMultiHandler(testLogger(tb).Handler(),
		slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	b, err := broker.New(cfg, l, logger)
	if err != nil {
		tb.Fatal(err)
	}
	// The listener is bound in New; Run only starts accepting.
	ctx, cancel := context.WithCancel(tb.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- b.Run(ctx) }()
	stop := sync.OnceValue(func() error {
		cancel()
		return <-runErr
	})
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("broker run: %v", err)
		}
	})
	// Run's own start-up lines are logged; tests that measure the log
	// start after them.
	eventstest.WaitFor(tb, 5*time.Second, "the broker to serve", func() bool { return strings.Contains(logs.String(), "embedded MQTT broker listening") })
	return &fixture{broker: b, log: l, addr: b.Addr(), stop: stop, logs: logs}
}

// testLogger routes warnings and errors into the test's output; benchmarks
// stay quiet.
func testLogger(tb testing.TB) *slog.Logger {
	if _, ok := tb.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// expectNothing fails if a message arrives on ch within d.
func expectNothing(tb testing.TB, ch <-chan eventstest.Received, d time.Duration) {
	tb.Helper()
	select {
	case m := <-ch:
		tb.Errorf("unexpected message on %s: %q (retained %v)", m.Topic, m.Payload, m.Retained)
	case <-time.After(d):
	}
}

// next returns the next message on ch or fails after d.
func next(tb testing.TB, ch <-chan eventstest.Received, d time.Duration) eventstest.Received {
	tb.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(d):
		tb.Fatalf("no message within %v", d)
		return eventstest.Received{}
	}
}

// readLog returns every event in the log.
func readLog(tb testing.TB, l events.Reader) []events.Event {
	tb.Helper()
	var out []events.Event
	if err := l.Scan(tb.Context(), 1, func(e events.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		tb.Fatalf("scan log: %v", err)
	}
	return out
}

// location is a realistic OwnTracks location payload (~250 bytes) that
// carries a per-publisher counter in "n".
func location(publisher, n int) []byte {
	return fmt.Appendf(nil, `{"_type":"location","tid":"%02d","lat":52.520%04d,"lon":13.404%04d,"tst":%d,"created_at":%d,"acc":12,"alt":41,"vac":3,"vel":4,"cog":270,"batt":81,"bs":1,"conn":"w","t":"u","m":1,"BSSID":"a4:2b:b0:ee:1c:70","SSID":"home","n":%d}`,
		publisher%100, n%10000, publisher%10000, 1718000000+n, 1718000004+n, n)
}

// ackSpy wraps the client's connection and calls onPuback for every PUBACK
// the broker sends, at the moment its bytes arrive, before paho sees it.
type ackSpy struct {
	net.Conn
	onPuback func(packetID uint16)

	mu  sync.Mutex
	buf []byte // undecoded tail of the inbound stream
}

// withAckSpy installs an ackSpy as the client's connection.
func withAckSpy(onPuback func(packetID uint16)) func(*paho.ClientOptions) {
	return func(o *paho.ClientOptions) {
		o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
			c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			if err != nil {
				return nil, err
			}
			return &ackSpy{Conn: c, onPuback: onPuback}, nil
		})
	}
}

func (s *ackSpy) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	if n > 0 {
		s.mu.Lock()
		s.buf = append(s.buf, p[:n]...)
		s.decode()
		s.mu.Unlock()
	}
	return n, err
}

// decode consumes complete MQTT packets from buf.
func (s *ackSpy) decode() {
	for {
		if len(s.buf) < 2 {
			return
		}
		remaining, mult, i := 0, 1, 1
		for ; ; i++ {
			if i >= len(s.buf) || i > 4 {
				return // length not complete yet
			}
			remaining += int(s.buf[i]&0x7f) * mult
			mult *= 128
			if s.buf[i]&0x80 == 0 {
				break
			}
		}
		total := i + 1 + remaining
		if len(s.buf) < total {
			return
		}
		if s.buf[0]>>4 == 4 && remaining >= 2 { // PUBACK
			s.onPuback(uint16(s.buf[i+1])<<8 | uint16(s.buf[i+2]))
		}
		s.buf = s.buf[total:]
	}
}

// connGrabber keeps the TCP connection under a paho client so a test can
// drop it without DISCONNECT, like a phone losing its network.
type connGrabber struct {
	mu   sync.Mutex
	conn net.Conn
}

func (g *connGrabber) option(o *paho.ClientOptions) {
	o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		g.conn = c
		g.mu.Unlock()
		return c, nil
	})
}

func (g *connGrabber) drop() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.conn == nil {
		return io.ErrClosedPipe
	}
	return g.conn.Close()
}
