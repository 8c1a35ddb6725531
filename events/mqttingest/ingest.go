package mqttingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"tracker/events"
)

const (
	// drainTimeout bounds how long Run waits at shutdown for appends in
	// progress to become durable so their acknowledgements still go out.
	drainTimeout = 5 * time.Second
	// disconnectQuiesce is the time paho gets to send DISCONNECT (ms).
	disconnectQuiesce = 250
	firstRetry        = time.Second
)

// Ingest subscribes to an external broker and appends every message it
// receives to the event log, acknowledging it only once it is durable.
type Ingest struct {
	cfg    settings
	log    events.Appender
	logger *slog.Logger
	source string
	client mqtt.Client

	running atomic.Bool

	subscribedOnce sync.Once
	subscribed     chan struct{} // closed at the first acknowledged subscription

	// Subscription bookkeeping. sessionsLost counts CONNACKs that reported
	// no session (the broker holds no subscriptions for us); subscribedFor
	// is its value when our last subscription was acknowledged, owned by
	// the Run goroutine. We subscribe whenever the two differ, which
	// includes the first connection of every Ingest (see subscribe).
	sessionsLost  atomic.Uint64
	subscribedFor uint64
	hadSession    atomic.Bool // session present flag of the latest CONNACK
	connects      atomic.Uint64
	onConnect     chan struct{} // OnConnect -> Run, capacity 1

	inflight appends
	acks     ackQueue
	failing  atomic.Bool // the last append failed; log only the first failure

	// The log refused messages (disk nearly full): the broker resends
	// them only on a new connection, and stops sending anything once its
	// window of unacknowledged messages is full. serve reconnects after
	// refusedRetry so they arrive again, until the log takes them.
	refused  chan struct{} // capacity 1
	retrying atomic.Bool   // the current connection was made for that: log it quietly
}

// refusedRetry is how long the ingest waits, after the log refused
// messages, before reconnecting to have the broker send them again.
const refusedRetry = time.Second

// New validates cfg and prepares a client; nothing connects before Run.
func New(cfg Config, log events.Appender, logger *slog.Logger) (*Ingest, error) {
	s, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		return nil, errors.New("mqttingest: New needs an event log")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{
		cfg:           s,
		log:           log,
		source:        events.SourceMQTT + ":" + redact(s.url),
		subscribedFor: ^uint64(0),
		subscribed:    make(chan struct{}),
		onConnect:     make(chan struct{}, 1),
		refused:       make(chan struct{}, 1),
		inflight:      appends{idle: make(chan struct{})},
		acks:          ackQueue{wake: make(chan struct{}, 1), stop: make(chan struct{})},
	}
	in.logger = logger.With("component", "mqttingest", "broker", redact(s.url), "client_id", s.ClientID)

	o := mqtt.NewClientOptions().
		AddBroker(s.url.String()).
		SetClientID(s.ClientID).
		SetUsername(s.Username).
		SetPassword(s.Password).
		SetProtocolVersion(4). // MQTT 3.1.1; no silent fallback to 3.1
		SetCleanSession(false).
		SetResumeSubs(false). // we decide when to subscribe (see subscribe)
		SetOrderMatters(true).
		SetAutoAckDisabled(true).
		SetKeepAlive(s.KeepAlive).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(connectTimeout). // a stuck connection fails writes instead of blocking Publish
		SetConnectRetry(false).          // Run retries the first connect with backoff
		SetAutoReconnect(true).
		SetMaxReconnectInterval(s.MaxReconnectInterval).
		SetStore(newOutboundStore()).
		SetDialer(&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).
		SetDefaultPublishHandler(in.onMessage).
		SetOnConnectHandler(in.connected).
		SetConnectionLostHandler(in.connectionLost).
		SetConnectionNotificationHandler(in.notified)
	if s.tls != nil {
		o.SetTLSConfig(s.tls)
	}
	o.SetCustomOpenConnectionFn(func(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
		return dial(u, o, in.sawConnack)
	})
	in.client = mqtt.NewClient(o)
	return in, nil
}

// Source is the Source recorded on every event: "mqtt:" and the broker
// URL without credentials.
func (in *Ingest) Source() string { return in.source }

// Connected reports whether the connection to the broker is up right now
// and the broker has acknowledged our subscription: before that, /healthz
// saying "connected" would invite publishers whose messages reach nobody.
func (in *Ingest) Connected() bool {
	select {
	case <-in.subscribed:
		return in.client.IsConnectionOpen()
	default:
		return false
	}
}

// Publish sends one message through the broker and waits until the broker
// has it (PUBACK for QoS 1) or ctx ends. While reconnecting, QoS 1 and 2
// messages are held and sent once the connection is back; paho drops QoS 0
// messages then (and reports success), so send commands at QoS 1. Before
// the first connection it fails. It must not be called from a message
// handler. Note that with the default subscription
// owntracks/# a message we publish there comes back to us and is logged
// like any other (MQTT 3.1.1 has no "no local" option).
func (in *Ingest) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	if qos > 2 {
		return fmt.Errorf("mqttingest: publish to %s: QoS %d is not 0, 1 or 2", topic, qos)
	}
	tok := in.client.Publish(topic, qos, retain, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("mqttingest: publish to %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqttingest: publish to %s: %w", topic, ctx.Err())
	}
}

// Run connects, retrying with exponential backoff while the broker is
// unreachable, keeps the subscription alive across reconnects and returns
// nil once ctx is cancelled and the client has disconnected. At shutdown
// it stops taking messages, waits (up to drainTimeout) for the appends in
// progress and sends their acknowledgements before disconnecting; anything
// not acknowledged is redelivered by the broker on the next connection.
// Run may be called once.
func (in *Ingest) Run(ctx context.Context) error {
	if !in.running.CompareAndSwap(false, true) {
		return errors.New("mqttingest: Run called twice")
	}
	var wg sync.WaitGroup
	wg.Go(in.acks.run)

	up := in.connect(ctx)
	if up {
		in.serve(ctx)
	}

	select {
	case <-in.inflight.stop():
	case <-time.After(drainTimeout):
		in.logger.Warn("appends still pending at shutdown; the broker will redeliver them")
	}
	in.acks.close()
	wg.Wait()
	if up {
		in.client.Disconnect(disconnectQuiesce)
		in.logger.Info("disconnected from MQTT broker")
	}
	return nil
}

// connect makes the first connection, retrying with backoff. It reports
// whether the client is connected (and so must be disconnected).
func (in *Ingest) connect(ctx context.Context) bool {
	wait := min(firstRetry, in.cfg.MaxReconnectInterval)
	for {
		tok := in.client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			// The attempt is bounded by connectTimeout; let it finish so a
			// late success is disconnected rather than left running.
			tok.WaitTimeout(2 * connectTimeout)
			return tok.Error() == nil
		}
		if tok.Error() == nil {
			return true
		}
		// The failure itself was logged by notified.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		wait = min(2*wait, in.cfg.MaxReconnectInterval)
	}
}

// serve subscribes whenever a (re)connection needs it, until ctx ends.
func (in *Ingest) serve(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-in.refused:
			t := time.NewTimer(refusedRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			// A new connection makes the broker resend what we did not
			// acknowledge (our session is persistent).
			in.logger.Debug("reconnecting so the broker resends the messages the log refused")
			in.retrying.Store(true)
			in.client.Disconnect(disconnectQuiesce)
			if !in.connect(ctx) {
				return
			}
		case <-in.onConnect:
			if in.subscribedFor != in.sessionsLost.Load() {
				in.subscribe(ctx)
			}
		}
	}
}

// subscribe subscribes to the configured filters at QoS 1.
//
// On reconnects we subscribe only when the broker reports that it kept no
// session for us: re-subscribing makes the broker replay every retained
// message under the filters. paho v1.5.1 does not expose "session present"
// on reconnects, so conn.go reads it from the CONNACK. The first
// connection of each Ingest always subscribes, session or not: an earlier
// process may have died between CONNACK and SUBACK (a session without our
// subscriptions would never deliver anything) or may have had other
// Topics. The retained replay that costs is recognised by the log, which
// acknowledges it without storing it again.
func (in *Ingest) subscribe(ctx context.Context) {
	gen := in.sessionsLost.Load()
	filters := make(map[string]byte, len(in.cfg.Topics))
	for _, t := range in.cfg.Topics {
		filters[t] = 1
	}
	tok := in.client.SubscribeMultiple(filters, nil)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return
	}
	if err := tok.Error(); err != nil {
		// The connection went down; the next OnConnect retries.
		in.logger.Warn("subscribe failed; retrying on the next connection", "topics", in.cfg.Topics, "err", err)
		return
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for topic, code := range st.Result() {
			if code > 2 {
				in.logger.Error("broker refused subscription (check its ACL)", "topic", topic, "code", code)
			}
		}
	}
	in.subscribedFor = gen
	in.logger.Info("subscribed", "topics", in.cfg.Topics)
	in.subscribedOnce.Do(func() { close(in.subscribed) })
}

// Subscribed is closed once the broker first acknowledged our
// subscription: from then on nothing published to it is missed (our
// session keeps the subscription). Before, a message that is not retained
// reaches nobody.
func (in *Ingest) Subscribed() <-chan struct{} { return in.subscribed }

// sawConnack runs on paho's connect goroutine for each accepted CONNACK,
// before OnConnect.
func (in *Ingest) sawConnack(sessionPresent bool) {
	in.hadSession.Store(sessionPresent)
	if !sessionPresent {
		in.sessionsLost.Add(1)
	}
}

// connected is paho's OnConnect handler; it runs on a paho goroutine.
func (in *Ingest) connected(mqtt.Client) {
	session := in.hadSession.Load()
	switch {
	case in.retrying.Swap(false) && session:
		in.logger.Debug("reconnected to MQTT broker for the messages the log refused")
	case in.connects.Add(1) == 1:
		in.logger.Info("connected to MQTT broker", "session_present", session)
	case session:
		in.logger.Info("reconnected to MQTT broker", "session_present", session)
	default:
		in.logger.Warn("reconnected to MQTT broker, which kept no session for us: messages published while we were away are lost; subscribing again",
			"session_present", session)
	}
	select {
	case in.onConnect <- struct{}{}:
	default: // a check is already pending
	}
}

func (in *Ingest) connectionLost(_ mqtt.Client, err error) {
	in.logger.Warn("lost connection to MQTT broker; reconnecting", "err", err)
}

func (in *Ingest) notified(_ mqtt.Client, n mqtt.ConnectionNotification) {
	if f, ok := n.(mqtt.ConnectionNotificationFailed); ok {
		in.logger.Warn("cannot connect to MQTT broker; retrying", "err", f.Reason)
	}
}

// onMessage is paho's handler for every message, called in arrival order
// on paho's router goroutine. It must not block for long: a stalled
// router stalls keepalives. AppendAsync blocks only while the log's queue
// is full.
func (in *Ingest) onMessage(_ mqtt.Client, m mqtt.Message) {
	if !in.inflight.begin() {
		return // shutting down: not acknowledged, so the broker redelivers it
	}
	e := events.Event{
		Received: time.Now(),
		Topic:    m.Topic(),
		Payload:  bytes.Clone(m.Payload()),
		QoS:      m.Qos(),
		Retained: m.Retained(),
		Dup:      m.Duplicate(),
		Source:   in.source,
		// The broker's delivery on our session: it resends with DUP and
		// the same packet id when our PUBACK did not reach it.
		Client:   in.cfg.ClientID,
		PacketID: m.MessageID(),
	}
	in.log.AppendAsync(e, func(seq uint64, err error) { in.appended(m, e.Topic, err) })
}

// appended runs on the log's completion goroutine once the event is
// durable or has failed. Acknowledgements go to our own goroutine: Ack
// can block on the network and must not hold up the log's other writers.
func (in *Ingest) appended(m mqtt.Message, topic string, err error) {
	defer in.inflight.end()
	if err != nil {
		// Not acknowledged: the broker keeps the message and redelivers
		// it on the next connection.
		if errors.Is(err, events.ErrDiskFull) {
			select {
			case in.refused <- struct{}{}:
			default:
			}
			return // the log says so once
		}
		if !in.failing.Swap(true) {
			in.logger.Error("cannot append MQTT message to the event log; leaving it unacknowledged",
				"topic", topic, "err", err)
		}
		return
	}
	if in.failing.Swap(false) {
		in.logger.Info("appending MQTT messages to the event log works again")
	}
	if m.Qos() > 0 {
		in.acks.push(m)
	}
}

// appends counts appends between onMessage and their completion, so that
// Run can wait for them at shutdown.
type appends struct {
	mu       sync.Mutex
	n        int
	stopping bool
	idle     chan struct{} // closed once stopping and n == 0
}

func (a *appends) begin() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return false
	}
	a.n++
	return true
}

func (a *appends) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n--
	if a.stopping && a.n == 0 {
		close(a.idle)
	}
}

// stop refuses further appends and returns a channel closed once the
// pending ones have completed.
func (a *appends) stop() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.stopping {
		a.stopping = true
		if a.n == 0 {
			close(a.idle)
		}
	}
	return a.idle
}

// ackQueue hands durable messages to one goroutine that acknowledges them
// in order. It is unbounded, but holds at most what the broker lets us
// have unacknowledged (its max_inflight_messages).
type ackQueue struct {
	mu   sync.Mutex
	msgs []mqtt.Message
	wake chan struct{} // capacity 1
	stop chan struct{}
	once sync.Once
}

func (q *ackQueue) push(m mqtt.Message) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *ackQueue) run() {
	var batch []mqtt.Message
	for {
		stopping := false
		select {
		case <-q.wake:
		case <-q.stop:
			stopping = true
		}
		q.mu.Lock()
		batch, q.msgs = q.msgs, batch[:0]
		q.mu.Unlock()
		for i, m := range batch {
			m.Ack()
			batch[i] = nil
		}
		if stopping {
			return
		}
	}
}

// close makes run acknowledge what is queued and return.
func (q *ackQueue) close() { q.once.Do(func() { close(q.stop) }) }

// outboundStore is an in-memory paho Store that keeps only what we send:
// our own QoS 1 publishes (Publish), resent after a reconnect. It drops
// what paho would keep of received messages: v1.5.1 stores each received
// QoS 1 publish until it is acknowledged and, on reconnect, discards the
// leftovers with an ERROR per message ("invalid message type ... in
// store"), while the broker redelivers them anyway. (The other inbound
// entries are for QoS 2, which we never receive: we subscribe at QoS 1.)
// Unlike paho's MemoryStore it does not warn about deleting keys it never
// held, which paho does after every SUBACK when subscriptions are not
// persisted.
type outboundStore struct {
	mu   sync.Mutex
	msgs map[string]packets.ControlPacket
}

func newOutboundStore() *outboundStore {
	return &outboundStore{msgs: map[string]packets.ControlPacket{}}
}

func (s *outboundStore) Open()  {}
func (s *outboundStore) Close() {}

func (s *outboundStore) Put(key string, m packets.ControlPacket) {
	if strings.HasPrefix(key, "i.") {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs[key] = m
}

func (s *outboundStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[key]
}

func (s *outboundStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.msgs))
	for k := range s.msgs {
		keys = append(keys, k)
	}
	return keys
}

func (s *outboundStore) Del(key string) {
	if strings.HasPrefix(key, "i.") {
		return // paho deletes the inbound key of every message it acknowledges
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.msgs, key)
}

func (s *outboundStore) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.msgs)
}
