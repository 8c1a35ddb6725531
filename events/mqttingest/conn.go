package mqttingest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// paho v1.5.1 reports the CONNACK "session present" flag only on the token
// of the first Connect; reconnects discard it, and OnConnect gets no
// arguments. We open the network connection ourselves (paho's
// CustomOpenConnectionFn) and read the flag from the CONNACK as it passes
// through: the first four bytes the broker sends on a connection.

// dial opens the network connection for one connection attempt and wraps
// it so that onConnack sees the broker's CONNACK.
func dial(u *url.URL, o mqtt.ClientOptions, onConnack func(sessionPresent bool)) (*connackConn, error) {
	conn, err := Dial(u, o)
	if err != nil {
		return nil, err
	}
	return newConn(conn, onConnack), nil
}

// Dial opens a network connection to the broker at u, for paho's
// CustomOpenConnectionFn (so the caller holds the connection). It mirrors
// paho's own openConnection for tcp, ssl, ws and wss, minus its
// proxy-from-environment support for tcp:// and ssl://.
func Dial(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	var (
		conn net.Conn
		err  error
	)
	switch u.Scheme {
	case "tcp":
		conn, err = dialer.Dial("tcp", hostPort(u, "1883"))
	case "ssl":
		conn, err = tls.DialWithDialer(dialer, "tcp", hostPort(u, "8883"), o.TLSConfig)
	case "ws", "wss":
		var tc *tls.Config
		if u.Scheme == "wss" {
			tc = o.TLSConfig
		}
		conn, err = mqtt.NewWebsocket(redact(u), tc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	default:
		return nil, fmt.Errorf("scheme %q not supported", u.Scheme)
	}
	if err != nil {
		return nil, err
	}
	return conn, nil
}

func hostPort(u *url.URL, defaultPort string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), defaultPort)
}

// readBuffer is the size of the read buffer in front of the connection.
// paho reads each packet's fixed header a byte at a time straight from the
// connection, three or more read syscalls per message; buffering makes
// that one syscall per burst of messages.
const readBuffer = 32 << 10

// connackConn buffers reads and decodes the first four bytes read, which
// in MQTT 3.1.1 are the CONNACK: 0x20, remaining length 2, acknowledge
// flags (bit 0: session present), return code.
//
// It also writes our PUBACKs (writeAcks): many in one write, next to
// paho's own packets. paho writes each packet with one Write call, so a
// lock around Write keeps every packet whole; the same lock serialises
// write deadlines (a websocket connection's are not safe for concurrent
// use) and lets writeAcks restore the one paho set.
type connackConn struct {
	net.Conn
	r         *bufio.Reader
	onConnack func(sessionPresent bool)
	seen      atomic.Bool // the CONNACK has been decoded
	hdr       [4]byte
	n         int

	wmu       sync.Mutex
	deadline  time.Time     // paho's write deadline, guarded by wmu
	acks      []byte        // writeAcks' buffer, guarded by wmu
	ackWrites atomic.Uint64 // writes of PUBACKs (tests, benchmarks)
}

func newConn(conn net.Conn, onConnack func(sessionPresent bool)) *connackConn {
	return &connackConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer), onConnack: onConnack}
}

func (c *connackConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && !c.seen.Load() {
		// Reads are sequential (paho's connect handshake, then its reader
		// goroutine), so r, hdr and n need no lock.
		k := copy(c.hdr[c.n:], p[:n])
		c.n += k
		if c.n == len(c.hdr) {
			c.seen.Store(true)
			if c.hdr[0] == 0x20 && c.hdr[1] == 2 && c.hdr[3] == 0 { // accepted
				c.onConnack(c.hdr[2]&1 == 1)
			}
		}
	}
	return n, err
}

func (c *connackConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(p)
}

func (c *connackConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.deadline = t
	return c.Conn.SetWriteDeadline(t)
}

func (c *connackConn) SetDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

// ackWriteTimeout bounds one write of PUBACKs to a broker that stopped
// reading; the failed write makes paho's reader see a closed connection.
const ackWriteTimeout = connectTimeout

// writeAcks sends a PUBACK for each packet id in one write. paho sends
// each acknowledgement with its own write system call after two goroutine
// hand-offs; at tens of thousands of messages a second that was as much
// CPU as the rest of the ingest. On an error the connection is closed and
// the broker resends what it did not get acknowledged.
func (c *connackConn) writeAcks(ids []uint16) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.acks[:0]
	for _, id := range ids {
		b = append(b, 0x40, 2, byte(id>>8), byte(id)) // PUBACK, remaining length 2, packet id
	}
	c.acks = b
	c.ackWrites.Add(1)
	if err := c.Conn.SetWriteDeadline(time.Now().Add(ackWriteTimeout)); err != nil {
		return err
	}
	_, err := c.Conn.Write(b)
	if err == nil {
		err = c.Conn.SetWriteDeadline(c.deadline)
	}
	if err != nil {
		_ = c.Conn.Close()
	}
	return err
}
