package eventstest

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// WaitFor polls cond every 10 ms until it holds, failing the test after d.
func WaitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Connect dials an MQTT broker at addr (host:port, or a tcp:// URL) with
// a paho client that never reconnects, so a dropped connection is visible
// to the test; opts are applied last. It disconnects in tb.Cleanup.
func Connect(tb testing.TB, addr, id string, opts ...func(*paho.ClientOptions)) paho.Client {
	tb.Helper()
	c, err := TryConnect(addr, id, opts...)
	if err != nil {
		tb.Fatalf("connect %s to %s: %v", id, addr, err)
	}
	tb.Cleanup(func() {
		if c.IsConnected() {
			c.Disconnect(50)
		}
	})
	return c
}

// TryConnect is Connect for a test that expects the broker may refuse.
func TryConnect(addr, id string, opts ...func(*paho.ClientOptions)) (paho.Client, error) {
	if !strings.Contains(addr, "://") {
		addr = "tcp://" + addr
	}
	o := paho.NewClientOptions().
		AddBroker(addr).
		SetClientID(id).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetWriteTimeout(10 * time.Second)
	for _, f := range opts {
		f(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return c, nil
}

// Publish sends one message and waits for the broker's acknowledgement
// (PUBACK for QoS 1, PUBCOMP for QoS 2, the write for QoS 0).
func Publish(tb testing.TB, c paho.Client, topic string, qos byte, retain bool, payload []byte) {
	tb.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(10 * time.Second) {
		tb.Fatalf("publish %s (QoS %d): no acknowledgement within 10s", topic, qos)
	}
	if err := tok.Error(); err != nil {
		tb.Fatalf("publish %s (QoS %d): %v", topic, qos, err)
	}
}

// Received is one message a test subscriber got.
type Received struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Subscribe subscribes c to filter and returns the channel messages arrive
// on. The buffer is large enough for every test; a full buffer fails the
// test rather than stalling the client.
func Subscribe(tb testing.TB, c paho.Client, filter string, qos byte) <-chan Received {
	tb.Helper()
	ch := make(chan Received, 1<<15)
	var overflow atomic.Bool
	tok := c.Subscribe(filter, qos, func(_ paho.Client, m paho.Message) {
		r := Received{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), QoS: m.Qos(), Retained: m.Retained()}
		select {
		case ch <- r:
		default:
			overflow.Store(true)
		}
	})
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		tb.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	tb.Cleanup(func() {
		if overflow.Load() {
			tb.Errorf("subscriber on %s dropped messages: test buffer full", filter)
		}
	})
	return ch
}
