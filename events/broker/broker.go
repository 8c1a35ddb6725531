// Package broker runs the embedded MQTT broker (mochi-mqtt) that phones
// publish to when no external broker is configured.
//
// Every publish is appended to the event log before the publisher hears
// back. For QoS 1 the log's completion callback, run after the group commit
// is synced, hands the message to subscribers and queues the PUBACK for the
// publisher's own writer goroutine, so the client's read loop never waits on
// the disk (it keeps reading and queueing while earlier messages sync), and
// a client that stops reading delays only its own acknowledgements.
// Subscribers receive a QoS 1 or 2 message only once it is in the log; QoS 0
// messages and last wills are delivered first and logged right after.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"tracker/events"
	"tracker/events/lograte"
)

// relayID names the internal client through which logged messages are
// handed back to mochi for delivery; the hook lets its publishes pass.
const relayID = "tracker-relay"

// Config configures the embedded broker. The zero value listens on
// 127.0.0.1:1883 with anonymous access.
type Config struct {
	Listen   string // TCP address, default "127.0.0.1:1883"
	WSListen string // optional MQTT-over-websocket address
	// TLSListen is an optional MQTT-over-TLS address (e.g. ":8883"),
	// served with TLS beside the plain Listen and WSListen.
	TLSListen string
	// TLS is the listeners' TLS configuration. With TLSListen it serves
	// only that listener (and is required); without, Listen and WSListen
	// speak TLS themselves.
	TLS *tls.Config
	// Users maps user name to password: service accounts from the
	// configuration, trusted on every topic.
	Users map[string]string
	// Internal, when set, is a login for clients the server itself runs
	// (--demo's phones), scoped to its Users' topics. Unlike Users it
	// does not end anonymous access.
	Internal *Internal
	// Accounts, when set, are the server's users: a phone logs in with
	// its owner's name and password. Without any user (configured or
	// account), anonymous clients are allowed, which New only permits on
	// loopback listeners.
	Accounts Accounts
	// Phones, when set with Accounts, checks phone logins instead of
	// Accounts.Check, knowing device credentials: a phone that logs in
	// with one may publish only as that device (phones.go).
	Phones Phones

	// Limits (limits.go). Zero means the default named after each field;
	// a negative value turns the limit off.

	// MaxPacketSize is the largest MQTT packet accepted, in bytes (default
	// DefaultMaxPacketSize: the OwnTracks decoder's payload cap plus room
	// for the topic and headers). A bigger packet closes the connection;
	// MQTT 5 clients get DISCONNECT "packet too large" first, and are told
	// the limit in CONNACK.
	MaxPacketSize int
	// ConnectTimeout is how long a new connection has to send CONNECT
	// (default DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// MaxConnsPerAddr caps simultaneous connections from one address (an
	// IPv4 address or an IPv6 /64; default DefaultMaxConnsPerAddr).
	MaxConnsPerAddr int
	// MaxQueued caps the QoS 1 and 2 messages an offline persistent
	// session holds: those queued while it is offline, and those its
	// connection left unacknowledged, oldest dropped first (default
	// DefaultMaxQueued; off leaves mochi's 8192 per client).
	MaxQueued int
	// SessionExpiry is how long a persistent session outlives its
	// connection (default DefaultSessionExpiry); then its subscriptions
	// and queued messages are dropped.
	SessionExpiry time.Duration
}

// Internal is a login held only by the server process: its password is
// random per run and never shown, so no outside client has it, and even
// with it a client could only publish under owntracks/<one of Users>/
// and receive those phones' commands.
type Internal struct {
	Name     string // not a valid user name (e.g. "#demo"), so it never shadows one
	Password string
	Users    []string // the topic levels its phones publish under
}

// ListenError is a listener that could not open; errors.Is finds the
// cause (syscall.EADDRINUSE for a port already taken).
type ListenError struct {
	Listener string // "tcp", "ws" or "tls": Config.Listen, WSListen or TLSListen
	Addr     string
	Err      error
}

func (e *ListenError) Error() string {
	what := map[string]string{"tcp": "", "ws": "websocket ", "tls": "TLS "}[e.Listener]
	return fmt.Sprintf("broker: %slisten on %s: %v", what, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// Accounts checks phone logins and decides what each may publish and
// receive, with the usual OwnTracks rule: a user publishes only under
// owntracks/<own name>/, receives the friends it may see, and admins may
// also publish commands (…/cmd) to any phone. Commands addressed to other
// people's phones are delivered to nobody but their owner.
type Accounts interface {
	HasUsers() bool
	// Check verifies a login from remote (the client's host:port), within
	// the server's login limits (shared with HTTP logins). It returns the
	// credential's version, which changes with the password.
	Check(name, password, remote string) (version uint64, ok bool)
	// Version returns name's current credential version; ok is false once
	// the user is removed.
	Version(name string) (version uint64, ok bool)
	// Guard runs a login the broker verifies itself (a service account
	// from Config.Users) through the same limits as Check: verify is
	// called only when the limits allow a try, and its answer counts.
	Guard(name, remote string, verify func() bool) bool
	IsAdmin(name string) bool
	MaySee(viewer, owner string) bool
}

// Broker is the embedded MQTT broker.
type Broker struct {
	srv    *mqtt.Server
	relay  *mqtt.Client
	log    events.Appender
	logger *slog.Logger
	hook   *hook
	limits limits
	tcp    *listeners.TCP
	ws     *listeners.Websocket
	tls    *listeners.TCP // TLSListen; nil without

	relayMu sync.Mutex // InjectPacket on the relay client from one goroutine at a time

	ackersMu sync.Mutex
	ackers   map[*mqtt.Client]*acker // one per connected QoS 1 publisher
	ackersWG sync.WaitGroup          // acker goroutines; Run waits for them

	conns connCounter // open connections per address
	bg    sync.WaitGroup
	stats stats

	closing atomic.Bool // set when Run starts shutting down
}

// shutdownGrace is how long Run lets mochi disconnect clients politely
// before it closes the connections of those that do not read.
const shutdownGrace = 2 * time.Second

// New builds the broker and opens its listeners. Run serves it.
func New(cfg Config, log events.Appender, logger *slog.Logger) (*Broker, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1883"
	}
	if cfg.TLSListen != "" && cfg.TLS == nil {
		return nil, fmt.Errorf("broker: TLS listener %s without a TLS configuration", cfg.TLSListen)
	}
	open := len(cfg.Users) == 0 && (cfg.Accounts == nil || !cfg.Accounts.HasUsers())
	if open {
		for _, a := range []string{cfg.Listen, cfg.WSListen, cfg.TLSListen} {
			if a != "" && !IsLoopback(a) {
				return nil, fmt.Errorf("broker: %s is not a loopback address and no MQTT users are configured; anonymous access is only allowed on loopback", a)
			}
		}
	}
	lim := cfg.limits()
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true,
		Logger:       slog.New(packetRedactor{logger.With("component", "mqtt-broker").Handler()}),
		Capabilities: lim.capabilities(),
	})
	b := &Broker{srv: srv, log: log, logger: logger, limits: lim, ackers: map[*mqtt.Client]*acker{}}
	b.conns.counts = map[string]*addrConns{}
	b.relay = srv.NewClient(nil, "local", relayID, true)
	b.hook = &hook{b: b, shown: newShownFriends(), users: cfg.Users, internal: cfg.Internal, accounts: cfg.Accounts, phones: cfg.Phones, pending: map[string]*mqtt.Client{},
		refusals: lograte.New(time.Minute, 4096)}
	b.hook.open.Store(open) // decided here, at start, on loopback only
	if err := srv.AddHook(b.hook, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	plainTLS := cfg.TLS // Listen and WSListen speak TLS only without a TLS listener of their own
	if cfg.TLSListen != "" {
		plainTLS = nil
	}
	b.tcp = listeners.NewTCP(listeners.Config{ID: "tcp", Address: cfg.Listen, TLSConfig: plainTLS})
	if err := srv.AddListener(b.guard(b.tcp)); err != nil {
		return nil, &ListenError{"tcp", cfg.Listen, err}
	}
	if cfg.WSListen != "" {
		// mochi's websocket listener binds only in Serve and then just logs
		// a failure, leaving the broker up without it: try the address
		// here so a taken port fails New like the TCP listener's.
		ln, err := net.Listen("tcp", cfg.WSListen)
		if err != nil {
			srv.Listeners.CloseAll(noClients)
			return nil, &ListenError{"ws", cfg.WSListen, err}
		}
		_ = ln.Close()
		b.ws = listeners.NewWebsocket(listeners.Config{ID: "ws", Address: cfg.WSListen, TLSConfig: plainTLS})
		if err := srv.AddListener(b.guard(b.ws)); err != nil {
			srv.Listeners.CloseAll(noClients) // free the ports already bound
			return nil, &ListenError{"ws", cfg.WSListen, err}
		}
	}
	if cfg.TLSListen != "" {
		b.tls = listeners.NewTCP(listeners.Config{ID: "tls", Address: cfg.TLSListen, TLSConfig: cfg.TLS})
		if err := srv.AddListener(b.guard(b.tls)); err != nil {
			srv.Listeners.CloseAll(noClients) // free the ports already bound
			return nil, &ListenError{"tls", cfg.TLSListen, err}
		}
	}
	return b, nil
}

// Addr is the TCP listener's address (useful with port 0).
func (b *Broker) Addr() string { return b.tcp.Address() }

// TLSAddr is the TLS listener's address, or "" without Config.TLSListen.
func (b *Broker) TLSAddr() string {
	if b.tls == nil {
		return ""
	}
	return b.tls.Address()
}

// Source names the broker in events.
func (b *Broker) Source() string { return events.SourceEmbedded }

// Connected reports whether the broker is serving; it is in-process.
func (b *Broker) Connected() bool { return true }

// Run serves until ctx ends, then disconnects every client.
func (b *Broker) Run(ctx context.Context) error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker: serve: %w", err)
	}
	if b.tls != nil {
		b.logger.Info("embedded MQTT broker listening", "addr", b.Addr(), "tls", b.TLSAddr())
	} else {
		b.logger.Info("embedded MQTT broker listening", "addr", b.Addr())
	}
	<-ctx.Done()
	// Mochi publishes every connected client's will as it closes them; the
	// phones did not vanish, we did, so those wills are not logged.
	b.closing.Store(true)

	// Mochi writes a DISCONNECT to each client before closing it; a client
	// that stopped reading blocks that write until its keepalive deadline
	// (forever with keepalive 0). After the grace period, close the
	// connections under those writes.
	closed := make(chan error, 1)
	go func() { closed <- b.srv.Close() }()
	var err error
	select {
	case err = <-closed:
	case <-time.After(shutdownGrace):
		b.logger.Warn("MQTT clients did not disconnect in time; closing their connections", "after", shutdownGrace)
		for _, cl := range b.srv.Clients.GetAll() {
			cl.Stop(errShutdown)
		}
		err = <-closed
	}
	b.ackersWG.Wait() // every client is disconnected, so every acker has stopped
	b.bg.Wait()       // disconnects started by Revoke
	if err != nil {
		return fmt.Errorf("broker: close: %w", err)
	}
	return nil
}

var errShutdown = errors.New("broker: shutting down")

// noClients is the close callback for listeners that never served.
func noClients(string) {}

// RestoreRetained hands the broker the retained messages it held before a
// restart (mochi keeps them in memory only), taken from the log. They are
// not logged again.
func (b *Broker) RestoreRetained(msgs []events.Event) {
	for _, e := range msgs {
		if len(e.Payload) == 0 {
			continue
		}
		b.deliver(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: e.QoS, Retain: true},
			TopicName:   e.Topic,
			Payload:     e.Payload,
		})
	}
}

// Publish sends a message from the server itself (e.g. an OwnTracks cmd),
// logged first like every other message.
func (b *Broker) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	if _, err := b.log.Append(ctx, events.Event{
		Topic: topic, Payload: payload, QoS: qos, Retained: retain,
		Source: events.SourceServer, Received: time.Now(),
	}); err != nil {
		return fmt.Errorf("broker: publish %s: %w", topic, err)
	}
	b.deliver(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain},
		TopicName:   topic, Payload: payload,
	})
	return nil
}

// deliver hands a logged message to mochi for retention and delivery.
func (b *Broker) deliver(pk packets.Packet) {
	// Mochi's validity check wants a packet id on QoS 1 and 2 publishes and
	// none on QoS 0 (a QoS 0 publish with an id is rejected as a protocol
	// violation and never delivered).
	switch {
	case pk.FixedHeader.Qos == 0:
		pk.PacketID = 0
	case pk.PacketID == 0:
		pk.PacketID = 1
	}
	b.relayMu.Lock()
	defer b.relayMu.Unlock()
	if err := b.srv.InjectPacket(b.relay, pk); err != nil {
		b.logger.Warn("could not deliver logged message to subscribers", "topic", pk.TopicName, "err", err)
	}
}

func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil // the relay, or the server's own inline client: already logged
	}
	if reason := h.publishRefusal(cl, pk.TopicName); reason != "" {
		h.refusePublish(cl, pk, reason)
		return pk, packets.ErrRejectPacket
	}
	ev := events.Event{
		Topic:    pk.TopicName,
		Payload:  append([]byte(nil), pk.Payload...),
		QoS:      pk.FixedHeader.Qos,
		Retained: pk.FixedHeader.Retain,
		Dup:      pk.FixedHeader.Dup,
		Source:   events.SourceEmbedded,
		Client:   cl.ID,       // with PacketID, tells a redelivery (DUP) from a
		PacketID: pk.PacketID, // message sent again on purpose
		Received: time.Now(),
	}
	switch pk.FixedHeader.Qos {
	case 0:
		// No acknowledgement to hold back; deliver at once, log in order.
		h.b.log.AppendAsync(ev, func(_ uint64, err error) {
			if err != nil && !errors.Is(err, events.ErrDiskFull) { // the log says that once
				h.b.logger.Error("QoS 0 message not logged", "topic", ev.Topic, "client", cl.ID, "err", err)
			}
		})
		return pk, nil
	case 1:
		a := h.b.ackerFor(cl)
		h.b.log.AppendAsync(ev, func(_ uint64, err error) { h.b.ackLogged(a, pk, err) })
		// Mochi must neither ack nor deliver: ackLogged does both once
		// the event is durable.
		return pk, packets.ErrRejectPacket
	default:
		// QoS 2's PUBREC/PUBREL exchange stays with mochi; block this
		// client's reader until the event is durable (QoS 2 is rare).
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := h.b.log.Append(ctx, ev); err != nil {
			level := slog.LevelError
			if errors.Is(err, events.ErrDiskFull) {
				level = slog.LevelDebug // the log says that once, not per message
			}
			h.b.logger.Log(ctx, level, "message not logged; disconnecting publisher so it sends again",
				"topic", ev.Topic, "client", cl.ID, "err", err)
			cl.Stop(err)
			return pk, packets.ErrRejectPacket
		}
		return pk, nil
	}
}

// ackLogged runs on the log's completion goroutine once a QoS 1 message is
// durable (or failed): delivery to subscribers, then PUBACK. Delivering
// first means a retained message is in mochi's retained store by the time
// its publisher hears back, so a subscription made after the PUBACK sees it
// (or, for an empty payload, no longer sees the old one). Neither step
// blocks: mochi queues deliveries, and the PUBACK is written by the
// publisher's acker.
func (b *Broker) ackLogged(a *acker, pk packets.Packet, err error) {
	if err != nil {
		// No PUBACK: drop the connection so the client resends the message
		// (MQTT clients resend unacknowledged QoS 1 messages on reconnect).
		level := slog.LevelError
		if errors.Is(err, events.ErrDiskFull) {
			level = slog.LevelDebug // the log says that once, not per message
		}
		b.logger.Log(context.Background(), level, "message not logged; disconnecting publisher so it sends again",
			"topic", pk.TopicName, "client", a.cl.ID, "err", err)
		a.cl.Stop(err)
		return
	}
	b.deliver(pk)
	a.push(pk.PacketID)
}

// ackerFor returns cl's acker, starting it on cl's first QoS 1 publish.
// Called from cl's read goroutine, like OnDisconnect, which stops it.
func (b *Broker) ackerFor(cl *mqtt.Client) *acker {
	b.ackersMu.Lock()
	defer b.ackersMu.Unlock()
	a := b.ackers[cl]
	if a == nil {
		a = &acker{cl: cl, logger: b.logger, wake: make(chan struct{}, 1)}
		b.ackers[cl] = a
		b.ackersWG.Go(a.run)
	}
	return a
}

// OnDisconnect stops the client's acker; acknowledgements still pending
// are dropped with the connection, and the client resends those messages.
// It also forgets the client's login (access.go) and reports a packet
// that was too large (limits.go).
func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.ended(cl, err, expire)
	h.b.ackersMu.Lock()
	a := h.b.ackers[cl]
	delete(h.b.ackers, cl)
	h.b.ackersMu.Unlock()
	if a != nil {
		a.stop()
	}
}

// acker writes one publisher's PUBACKs, in order, on its own goroutine.
// The log's completion goroutine only queues them: a PUBACK write blocks
// while the client's socket is full (and while mochi's writer holds the
// client's lock for a delivery stuck on that socket), and on the
// completion goroutine that would stop every publisher's acknowledgements,
// and soon all ingest, for up to 1.5 keepalives (forever with keepalive 0).
type acker struct {
	cl     *mqtt.Client
	logger *slog.Logger
	wake   chan struct{} // 1-buffered: ids were queued, or stop was called

	mu      sync.Mutex
	ids     []uint16 // packet ids to acknowledge, in log order
	stopped bool
}

func (a *acker) push(id uint16) {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	a.ids = append(a.ids, id)
	a.mu.Unlock()
	a.signal()
}

func (a *acker) stop() {
	a.mu.Lock()
	a.stopped = true
	a.ids = nil
	a.mu.Unlock()
	a.signal()
}

func (a *acker) signal() {
	select {
	case a.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (a *acker) run() {
	var ids []uint16
	for range a.wake {
		a.mu.Lock()
		ids, a.ids = a.ids, ids[:0]
		stopped := a.stopped
		a.mu.Unlock()
		if stopped {
			return
		}
		for _, id := range ids {
			err := a.cl.WritePacket(packets.Packet{
				FixedHeader: packets.FixedHeader{Type: packets.Puback},
				PacketID:    id,
			})
			if err != nil {
				if !errors.Is(err, mqtt.ErrConnectionClosed) {
					a.logger.Debug("PUBACK not sent; the client will resend", "client", a.cl.ID, "err", err)
				}
				break
			}
		}
	}
}

// OnWillSent logs a client's last will (OwnTracks lwt) after mochi sent it.
func (h *hook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if h.b.closing.Load() {
		return
	}
	h.b.log.AppendAsync(events.Event{
		Topic: pk.TopicName, Payload: append([]byte(nil), pk.Payload...),
		QoS: pk.FixedHeader.Qos, Retained: pk.FixedHeader.Retain,
		Source: events.SourceEmbedded, Received: time.Now(),
	}, func(_ uint64, err error) {
		if err != nil {
			h.b.logger.Error("last will not logged", "topic", pk.TopicName, "client", cl.ID, "err", err)
		}
	})
}

// IsLoopback reports whether a listen address only accepts local clients.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
