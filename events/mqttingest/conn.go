package mqttingest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// paho v1.5.1 reports the CONNACK "session present" flag only on the token
// of the first Connect; reconnects discard it, and OnConnect gets no
// arguments. We open the network connection ourselves (paho's
// CustomOpenConnectionFn) and read the flag from the CONNACK as it passes
// through: the first four bytes the broker sends on a connection.

// dial opens the network connection for one connection attempt and wraps
// it so that onConnack sees the broker's CONNACK.
func dial(u *url.URL, o mqtt.ClientOptions, onConnack func(sessionPresent bool)) (net.Conn, error) {
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
type connackConn struct {
	net.Conn
	r         *bufio.Reader
	onConnack func(sessionPresent bool)
	seen      atomic.Bool // the CONNACK has been decoded
	hdr       [4]byte
	n         int
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
