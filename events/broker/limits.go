package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"tracker/events/owntracks"
)

// What one client may cost the broker. Mochi enforces the packet size and
// the session expiry; the hook caps offline sessions' queues; the
// listeners are wrapped (guard) for the CONNECT deadline and the
// per-address cap. A connected client's unacknowledged messages stay
// under mochi's own limit (8192), so a subscriber catching up on a burst
// loses nothing; what is left of them when it goes offline is cut to
// MaxQueued.
const (
	// DefaultMaxPacketSize lets through the largest payload the OwnTracks
	// decoder accepts, with room for the topic and the MQTT headers.
	DefaultMaxPacketSize = owntracks.DefaultMaxPayload + 4<<10
	// DefaultConnectTimeout leaves a phone on a slow network time for the
	// TCP and TLS handshakes and its CONNECT.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxConnsPerAddr leaves room for a household or an office
	// behind one NAT address.
	DefaultMaxConnsPerAddr = 32
	// DefaultMaxQueued holds the last hundred messages for a phone that is
	// offline. A message queued in mochi costs 2–3 KB (a 800-byte packet
	// struct, its payload, map overhead): 100 abandoned sessions holding
	// mochi's own 8192 each grew the process by 1.5 GB. A phone that comes
	// back after more also gets each friend's latest location as the
	// retained message when it subscribes.
	DefaultMaxQueued = 100
	// DefaultSessionExpiry keeps an offline phone's session for a week.
	DefaultSessionExpiry = 7 * 24 * time.Hour
)

// limits are Config's limits with defaults applied; 0 means off.
type limits struct {
	maxPacketSize   int
	connectTimeout  time.Duration
	maxConnsPerAddr int
	maxQueued       int
	sessionExpiry   time.Duration
}

func (c Config) limits() limits {
	pick := func(v, def int) int {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	pickDur := func(v, def time.Duration) time.Duration { return time.Duration(pick(int(v), int(def))) }
	return limits{
		maxPacketSize:   pick(c.MaxPacketSize, DefaultMaxPacketSize),
		connectTimeout:  pickDur(c.ConnectTimeout, DefaultConnectTimeout),
		maxConnsPerAddr: pick(c.MaxConnsPerAddr, DefaultMaxConnsPerAddr),
		maxQueued:       min(pick(c.MaxQueued, DefaultMaxQueued), math.MaxUint16),
		sessionExpiry:   pickDur(c.SessionExpiry, DefaultSessionExpiry),
	}
}

// capabilities are mochi's defaults with our limits.
func (l limits) capabilities() *mqtt.Capabilities {
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(l.maxPacketSize)
	if l.sessionExpiry > 0 {
		// Mochi counts in whole seconds; at least one.
		caps.MaximumSessionExpiryInterval = uint32(max(1, (l.sessionExpiry+time.Second-1)/time.Second))
	}
	return caps
}

// Stats counts what the limits and access rules refused, for /metrics.
type Stats struct {
	TooLarge         uint64 // connections closed for a packet over MaxPacketSize
	ConnectTimeouts  uint64 // connections closed for sending no CONNECT in time
	AddrCapRefused   uint64 // connections refused over MaxConnsPerAddr
	QueuedDropped    uint64 // messages not queued (session full) or dropped from a session (no longer visible)
	SessionsExpired  uint64 // offline sessions dropped after SessionExpiry
	LoginsRefused    uint64 // wrong or rate-limited logins
	TakeoversRefused uint64 // CONNECTs with another user's client id
	PublishesRefused uint64 // publishes refused (topic not allowed, login no longer valid)
	Revoked          uint64 // connections closed by Revoke
	Unshared         uint64 // friends phones were told to forget (unshare.go)
}

type stats struct {
	tooLarge, connectTimeouts, addrCapRefused, queuedDropped, sessionsExpired,
	loginsRefused, takeoversRefused, publishesRefused, revoked, unshared atomic.Uint64
}

// Stats returns the counts so far.
func (b *Broker) Stats() Stats {
	s := &b.stats
	return Stats{
		TooLarge: s.tooLarge.Load(), ConnectTimeouts: s.connectTimeouts.Load(), AddrCapRefused: s.addrCapRefused.Load(),
		QueuedDropped: s.queuedDropped.Load(), SessionsExpired: s.sessionsExpired.Load(), LoginsRefused: s.loginsRefused.Load(),
		TakeoversRefused: s.takeoversRefused.Load(), PublishesRefused: s.publishesRefused.Load(), Revoked: s.revoked.Load(),
		Unshared: s.unshared.Load(),
	}
}

// guard wraps a listener so every connection it accepts goes through
// accept first.
func (b *Broker) guard(l listeners.Listener) listeners.Listener {
	return guarded{Listener: l, b: b}
}

type guarded struct {
	listeners.Listener
	b *Broker
}

func (g guarded) Serve(establish listeners.EstablishFn) {
	g.Listener.Serve(func(id string, c net.Conn) error { return g.b.accept(id, c, establish) })
}

// accept applies the per-address cap and the CONNECT deadline, then hands
// the connection to mochi. Mochi's errors end here: what a person needs to
// know is logged by the hook or below, the rest at debug level (mochi's
// listeners would log each with an empty message).
func (b *Broker) accept(listener string, c net.Conn, establish listeners.EstablishFn) error {
	addr := addrKey(c.RemoteAddr())
	if ok, first := b.conns.acquire(addr, b.limits.maxConnsPerAddr); !ok {
		b.stats.addrCapRefused.Add(1)
		if first {
			b.logger.Warn("MQTT connections refused: too many from one address", "address", addr, "max", b.limits.maxConnsPerAddr)
		}
		_ = c.Close()
		return nil
	}
	defer b.conns.release(addr)
	gc := &guardedConn{Conn: c}
	defer gc.finish()
	if b.limits.connectTimeout > 0 {
		// Mochi replaces the deadline with the keepalive's after CONNECT.
		_ = gc.SetDeadline(time.Now().Add(b.limits.connectTimeout))
	}
	err := establish(listener, gc)
	switch {
	case err == nil || gc.connected.Load():
		// Ended after CONNECT: the hook logged what matters.
		if err != nil {
			b.logger.Debug("MQTT connection ended", "remote", c.RemoteAddr().String(), "err", err)
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		b.stats.connectTimeouts.Add(1)
		b.logger.Debug("MQTT connection closed: no CONNECT in time", "remote", c.RemoteAddr().String(), "after", b.limits.connectTimeout)
	case errors.Is(err, packets.ErrPacketTooLarge):
		b.stats.tooLarge.Add(1)
		b.logger.Warn("MQTT connection closed: CONNECT packet too large", "remote", c.RemoteAddr().String(), "max_bytes", b.limits.maxPacketSize)
	default:
		b.logger.Debug("MQTT connection ended before CONNECT", "remote", c.RemoteAddr().String(), "err", err)
	}
	return nil
}

// OnConnect marks the connection as past CONNECT.
func (h *hook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if gc, ok := cl.Net.Conn.(*guardedConn); ok {
		gc.connected.Store(true)
	}
	return nil
}

// OnPacketEncode tells MQTT 5 clients the packet size limit in CONNACK.
func (h *hook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion == 5 && h.b.limits.maxPacketSize > 0 {
		pk.Properties.MaximumPacketSize = uint32(h.b.limits.maxPacketSize)
	}
	return pk
}

// reportTooLarge logs and counts a connection closed for a packet over
// the limit (from OnDisconnect), and queues DISCONNECT "packet too large"
// for an MQTT 5 client.
func (b *Broker) reportTooLarge(cl *mqtt.Client, err error) {
	if !errors.Is(err, packets.ErrPacketTooLarge) {
		return
	}
	b.stats.tooLarge.Add(1)
	b.logger.Warn("MQTT connection closed: packet too large", "user", string(cl.Properties.Username),
		"client", cl.ID, "remote", cl.Net.Remote, "max_bytes", b.limits.maxPacketSize)
	gc, ok := cl.Net.Conn.(*guardedConn)
	if !ok || cl.Properties.ProtocolVersion != 5 {
		return
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
		ReasonCode: packets.ErrPacketTooLarge.Code, ProtocolVersion: 5}
	var buf bytes.Buffer
	if pk.DisconnectEncode(&buf) == nil {
		gc.setFarewell(buf.Bytes())
	}
}

// guardedConn is a client's connection as mochi sees it. Mochi's Close
// only shuts it (a deadline in the past ends any read or write at once);
// accept closes the socket when mochi is done with the client, after the
// farewell packet, if any, is written.
type guardedConn struct {
	net.Conn
	connected atomic.Bool // CONNECT was read

	mu       sync.Mutex
	shut     bool
	farewell []byte
}

var past = time.Unix(1, 0)

// drainMax bounds what finish reads from a client after its farewell.
const drainMax = 16 << 20

func (c *guardedConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shut = true
	return c.Conn.SetDeadline(past)
}

// SetDeadline keeps a shut connection shut (mochi refreshes the deadline
// before every read).
func (c *guardedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *guardedConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *guardedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *guardedConn) setFarewell(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.farewell = p
}

// finish writes the farewell packet (bounded by a short deadline) and
// closes the socket.
func (c *guardedConn) finish() {
	c.mu.Lock()
	c.shut = true
	farewell := c.farewell
	c.mu.Unlock()
	if farewell != nil {
		_ = c.Conn.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Conn.Write(farewell); err == nil {
			// Closing with the rest of the big packet unread would reset
			// the connection, and the client could lose the DISCONNECT:
			// end our side, then read what is in flight (bounded).
			if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, drainMax))
			}
		}
	}
	_ = c.Conn.Close()
}

// connCounter counts open connections per address.
type connCounter struct {
	mu     sync.Mutex
	counts map[string]*addrConns
}

type addrConns struct {
	n      int
	warned bool // a refusal was logged since the last connection ended
}

// acquire counts one more connection from addr unless max (0: no cap) are
// open. first is true for the first refusal since a connection ended, so
// a flood of refusals is logged once.
func (c *connCounter) acquire(addr string, max int) (ok, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.counts[addr]
	if a == nil {
		a = &addrConns{}
		c.counts[addr] = a
	}
	if max > 0 && a.n >= max {
		first, a.warned = !a.warned, true
		return false, first
	}
	a.n++
	return true, false
}

func (c *connCounter) release(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.counts[addr]; a != nil {
		a.warned = false
		if a.n--; a.n <= 0 {
			delete(c.counts, addr)
		}
	}
}

// addrKey is the address a connection counts against: the IPv4 address,
// or the IPv6 /64 (one subscriber usually holds a whole /64).
func addrKey(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return a.String()
	}
	ip := ap.Addr().Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// packetRedactor keeps payloads out of mochi's log lines: a packet (or a
// last will) logged as an attribute is reduced to its type, topic and
// size. A 2 MB publish mochi refused used to print 6 MB of log.
type packetRedactor struct{ slog.Handler }

func (h packetRedactor) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h packetRedactor) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redact(a)
	}
	return packetRedactor{h.Handler.WithAttrs(red)}
}

func (h packetRedactor) WithGroup(name string) slog.Handler {
	return packetRedactor{h.Handler.WithGroup(name)}
}

func redact(a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindGroup:
		g := a.Value.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = redact(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
	default:
		return a
	}
	summary := func(kind byte, topic string, size int) slog.Attr {
		return slog.Group(a.Key, "type", packets.PacketNames[kind], "topic", clip(topic), "payload_bytes", size)
	}
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		return summary(v.FixedHeader.Type, v.TopicName, len(v.Payload))
	case *packets.Packet:
		return summary(v.FixedHeader.Type, v.TopicName, len(v.Payload))
	case mqtt.Will:
		return summary(packets.Publish, v.TopicName, len(v.Payload))
	case []byte:
		return slog.Int(a.Key+"_bytes", len(v))
	}
	return a
}

// trimQueue cuts an offline session's queue to maxQueued messages,
// dropping the oldest.
func (b *Broker) trimQueue(cl *mqtt.Client) {
	excess := cl.State.Inflight.Len() - b.limits.maxQueued
	if b.limits.maxQueued <= 0 || excess <= 0 {
		return
	}
	msgs := cl.State.Inflight.GetAll(false)
	slices.SortFunc(msgs, func(x, y packets.Packet) int {
		if x.Created != y.Created {
			return int(x.Created - y.Created)
		}
		return int(x.PacketID) - int(y.PacketID)
	})
	for _, m := range msgs[:min(excess, len(msgs))] {
		if cl.State.Inflight.Delete(m.PacketID) {
			atomic.AddInt64(&b.srv.Info.Inflight, -1)
			b.stats.queuedDropped.Add(1)
		}
	}
}
