// Package demo simulates five friends with OwnTracks phones moving around
// central Brussels, for `tracker serve --demo`: something to look at
// before any real phone is set up.
//
// The phones are real MQTT clients of the broker in use (the embedded one
// or --broker), one connection each, so their messages reach the log
// exactly as a phone's would: locations (retained), region transitions,
// waypoint exports, cards with faces, and a last will (lwt) that the
// broker publishes when a phone drops off the network now and then.
//
// Time runs Speed times faster than the wall clock for movement, so the
// map moves within seconds; timestamps (tst) are the wall clock. Given a
// seed, every phone goes through the same sequence of places, fixes,
// transitions and outages in every run.
package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"
)

// Defaults for the zero Simulator.
const (
	DefaultSpeed    = 10
	DefaultInterval = 2 * time.Second
)

// maxQueue caps the messages a phone keeps while it cannot publish (the
// apps queue too); the oldest are dropped beyond it.
const maxQueue = 500

// Simulator runs the simulated phones. The zero value (with Broker or
// Dial set) simulates at DefaultSpeed with seed 0.
type Simulator struct {
	// Broker is how the phones reach the broker in use; Dial, when set,
	// replaces it (tests).
	Broker Broker
	Dial   Dialer
	// Seed makes a run reproducible: the same seed, the same day.
	Seed uint64
	// Speed is how many simulated seconds pass per real second for
	// movement, battery and dwell times. Default DefaultSpeed.
	Speed float64
	// Interval is the real time between a phone's steps: it reports its
	// position this often while moving. Default DefaultInterval.
	Interval time.Duration
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
	// Logger gets connection changes; nil discards.
	Logger *slog.Logger
}

// Dialer connects one simulated phone to the broker. It returns once the
// connection is up and the phone's command topic is subscribed.
type Dialer func(ctx context.Context, s Session) (Conn, error)

// Session describes one connection of one phone.
type Session struct {
	ClientID string
	Will     Message // the OwnTracks lwt, registered as the MQTT will
	CmdTopic string  // the phone's own …/cmd topic, to subscribe at QoS 1
	// OnCommand receives each payload on CmdTopic. It does not block.
	OnCommand func(payload []byte)
}

// Conn is one phone's connection.
type Conn interface {
	// Publish sends m and returns once the broker acknowledged it.
	Publish(ctx context.Context, m Message) error
	// Drop vanishes without DISCONNECT, so the broker publishes the will.
	Drop()
	// Close disconnects politely; the broker discards the will.
	Close()
}

// Friends is the number of simulated phones.
const Friends = 5

// Run simulates until ctx ends, then disconnects every phone and returns
// nil. It fails only when the broker settings are unusable; a broker that
// cannot be reached is retried.
func (s *Simulator) Run(ctx context.Context) error {
	dial := s.Dial
	if dial == nil {
		d, err := s.Broker.dialer()
		if err != nil {
			return err
		}
		dial = d
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	speed, interval := s.pace()
	logger.Info("demo: simulating five friends", "broker", s.Broker.redacted(), "seed", s.Seed, "speed", speed, "interval", interval)

	var wg sync.WaitGroup
	for i, f := range cast() {
		r := &runner{
			s: s, dial: dial, logger: logger.With("component", "demo", "phone", f.baseTopic()),
			p:        newPhone(f, s.Seed, i, speed*interval.Seconds()),
			interval: interval,
			// Phones start a fraction of an interval apart.
			delay: time.Duration(i) * interval / Friends,
			cmds:  make(chan string, 4),
		}
		wg.Go(func() { r.run(ctx) })
	}
	wg.Wait()
	return nil
}

func (s *Simulator) pace() (speed float64, interval time.Duration) {
	speed, interval = s.Speed, s.Interval
	if speed <= 0 {
		speed = DefaultSpeed
	}
	if interval <= 0 {
		interval = DefaultInterval
	}
	return speed, interval
}

func (s *Simulator) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// runner drives one phone and its connection.
type runner struct {
	s        *Simulator
	dial     Dialer
	logger   *slog.Logger
	p        *phone
	interval time.Duration
	delay    time.Duration
	cmds     chan string // actions received on …/cmd

	conn      Conn
	queue     []Message
	greeted   bool // card and waypoints published
	dialFails int
}

func (r *runner) run(ctx context.Context) {
	defer func() {
		if r.conn != nil {
			r.conn.Close()
		}
	}()
	select {
	case <-ctx.Done():
		return
	case <-time.After(r.delay):
	}
	r.send(r.p.begin(r.s.now()))
	r.sync(ctx)

	tick := time.NewTicker(r.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case action := <-r.cmds:
			if r.p.online() {
				r.send(r.p.answer(action, r.s.now()))
			}
		case <-tick.C:
			r.send(r.p.step(r.s.now()))
		}
		r.sync(ctx)
	}
}

// send queues messages; sync publishes them.
func (r *runner) send(msgs []Message) {
	r.queue = append(r.queue, msgs...)
	if n := len(r.queue) - maxQueue; n > 0 {
		r.queue = append(r.queue[:0], r.queue[n:]...)
	}
}

// sync brings the connection in line with the phone (dropping it when
// the phone lost its network, connecting when it is back) and publishes
// the queue in order.
func (r *runner) sync(ctx context.Context) {
	if !r.p.online() {
		if r.conn != nil {
			r.logger.Info("demo phone lost its network; the broker will publish its lwt")
			r.conn.Drop()
			r.conn = nil
		}
		return
	}
	if r.conn == nil && !r.connect(ctx) {
		return
	}
	for len(r.queue) > 0 {
		if err := r.conn.Publish(ctx, r.queue[0]); err != nil {
			if ctx.Err() == nil {
				r.logger.Warn("demo phone could not publish; reconnecting", "topic", r.queue[0].Topic, "err", err)
				r.conn.Drop()
				r.conn = nil
			}
			return
		}
		r.queue = r.queue[1:]
	}
}

// connect dials with a will dated now; on the first connection the phone
// also publishes its card and its regions.
func (r *runner) connect(ctx context.Context) bool {
	f := r.p.f
	conn, err := r.dial(ctx, Session{
		ClientID: "tracker-demo-" + f.user + "-" + f.device,
		Will:     r.p.will(r.s.now()),
		CmdTopic: f.baseTopic() + "/cmd",
		OnCommand: func(payload []byte) {
			var c cmdJSON
			if json.Unmarshal(payload, &c) != nil || c.Type != "cmd" {
				return
			}
			select {
			case r.cmds <- c.Action:
			default: // busy: the phone answers the ones already queued
			}
		},
	})
	if err != nil {
		if ctx.Err() == nil {
			// Log the first failure and then every tenth, not every tick.
			if r.dialFails%10 == 0 {
				r.logger.Warn("demo phone cannot connect to the broker; retrying", "attempts", r.dialFails+1, "err", err)
			}
			r.dialFails++
		}
		return false
	}
	if r.dialFails > 0 {
		r.logger.Info("demo phone connected after failures", "attempts", r.dialFails+1)
	}
	r.conn, r.dialFails = conn, 0
	if r.greeted {
		r.logger.Info("demo phone back online", "queued", len(r.queue))
		return true
	}
	r.logger.Debug("demo phone connected")
	r.greeted = true
	r.queue = append([]Message{r.p.card(), r.p.waypoints()}, r.queue...)
	return true
}
