package demo

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"tracker/events/mqttingest"
)

// Broker is how the simulated phones reach the broker in use. They all
// log in with the same credentials; a broker whose ACL ties topics to
// user names (owntracks/%u/#) must let that user publish under
// owntracks/<friend>/.
type Broker struct {
	// URL is tcp://, ssl://, ws:// or wss://. Credentials in the URL are
	// used when Username is empty. An unspecified host (0.0.0.0, ::) is
	// dialled on loopback.
	URL                string
	Username, Password string
	// CAFile, CertFile and KeyFile are PEM files, as for the server's own
	// connection: the CA that signed the broker's certificate (empty: the
	// system roots) and a client certificate and key for mutual TLS.
	CAFile, CertFile, KeyFile string
}

const (
	connectTimeout = 10 * time.Second
	publishTimeout = 10 * time.Second
	keepAlive      = 30 * time.Second
	quiesce        = 250 // ms paho gets to send DISCONNECT
)

// redacted is the URL without credentials, for logs.
func (b Broker) redacted() string {
	u, err := url.Parse(b.URL)
	if err != nil {
		return ""
	}
	u.User = nil
	return u.String()
}

// dialer checks the settings and loads the TLS material once.
func (b Broker) dialer() (Dialer, error) {
	if b.URL == "" {
		return nil, errNoBroker
	}
	u, err := url.Parse(b.URL)
	if err != nil {
		return nil, fmt.Errorf("demo: broker URL does not parse") // the error would repeat the password
	}
	user, pass := b.Username, b.Password
	if user == "" && u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	u.User = nil
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		loop := "127.0.0.1"
		if ip.To4() == nil {
			loop = "::1"
		}
		u.Host = net.JoinHostPort(loop, u.Port())
	}
	var tc *tls.Config
	switch u.Scheme {
	case "tcp", "ws":
	case "ssl", "wss":
		if tc, err = mqttingest.ClientTLS(b.CAFile, b.CertFile, b.KeyFile); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	default:
		return nil, fmt.Errorf("demo: broker %s: scheme %q not supported (want tcp, ssl, ws or wss)", u.Redacted(), u.Scheme)
	}
	return func(ctx context.Context, s Session) (Conn, error) {
		return dialMQTT(ctx, u, user, pass, tc, s)
	}, nil
}

// mqttConn is a paho client whose network connection we opened, so Drop
// can close it under paho without a DISCONNECT.
type mqttConn struct {
	client paho.Client

	mu      sync.Mutex
	net     net.Conn
	dropped bool
}

func dialMQTT(ctx context.Context, u *url.URL, user, pass string, tc *tls.Config, s Session) (Conn, error) {
	c := &mqttConn{}
	opts := paho.NewClientOptions().AddBroker(u.String()).SetClientID(s.ClientID).
		SetUsername(user).SetPassword(pass).SetTLSConfig(tc).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).SetKeepAlive(keepAlive).SetOrderMatters(false).
		SetBinaryWill(s.Will.Topic, s.Will.Payload, s.Will.QoS, s.Will.Retain).
		SetCustomOpenConnectionFn(c.open).SetStore(noStore{})
	c.client = paho.NewClient(opts)
	if err := wait(ctx, c.client.Connect(), connectTimeout); err != nil {
		c.Drop() // ends a handshake still in progress, and prevents a late one
		return nil, fmt.Errorf("connect: %w", err)
	}
	if s.CmdTopic != "" && s.OnCommand != nil {
		tok := c.client.Subscribe(s.CmdTopic, 1, func(_ paho.Client, m paho.Message) { s.OnCommand(m.Payload()) })
		if err := wait(ctx, tok, connectTimeout); err != nil {
			c.Drop()
			return nil, fmt.Errorf("subscribe %s: %w", s.CmdTopic, err)
		}
	}
	return c, nil
}

// open dials as the ingest does and keeps the connection for Drop.
func (c *mqttConn) open(u *url.URL, o paho.ClientOptions) (net.Conn, error) {
	conn, err := mqttingest.Dial(u, o)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped {
		_ = conn.Close()
		return nil, errDropped
	}
	c.net = conn
	return conn, nil
}

func (c *mqttConn) Publish(ctx context.Context, m Message) error {
	return wait(ctx, c.client.Publish(m.Topic, m.QoS, m.Retain, m.Payload), publishTimeout)
}

// Drop closes the network connection under paho: the broker sees the
// connection end without DISCONNECT and publishes the will; paho sees it
// lost and, without auto-reconnect, stops.
func (c *mqttConn) Drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropped = true
	if c.net != nil {
		_ = c.net.Close() // the point is to break it; an error says it already was
	}
}

func (c *mqttConn) Close() {
	if c.client.IsConnectionOpen() {
		c.client.Disconnect(quiesce)
		return
	}
	c.Drop()
}

// noStore is paho's message store for a client that never resumes a
// session (each connection is a new client with a clean session). paho's
// memory store would log warnings on every connect.
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}

var (
	errTimeout  = errors.New("no answer from the broker")
	errDropped  = errors.New("connection given up")
	errNoBroker = errors.New("demo: no broker URL")
)

// wait waits for a paho token, ctx or the timeout.
func wait(ctx context.Context, tok paho.Token, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errTimeout
	}
}
