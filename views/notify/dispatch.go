package notify

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"tracker/events"
	"tracker/projections"
	"tracker/views/visible"
)

// Users is where the dispatcher reads the rules and their owners' rights
// (the projections' users).
type Users interface {
	User(name string) (projections.User, bool)
	Users() []projections.User
}

// EventReader reads the log, to tell a live event from imported or
// replayed history (its Source and arrival time). events.Reader has it.
type EventReader interface {
	Scan(ctx context.Context, from uint64, fn func(events.Event) error) error
}

// Options configure a Dispatcher. The zero value of every field but
// Source, Gate and Events is a working default.
type Options struct {
	Source Users
	// Gate is the only way the dispatcher reads friends: always as one
	// rule's owner may see them now.
	Gate     *visible.Gate
	Events   EventReader
	Channels []Channel
	// Queue bounds each channel's pending deliveries and its retries
	// (each); 0: 256. Past it, new deliveries are dropped and counted.
	Queue int
	// Workers per channel; 0: 2.
	Workers int
	// Attempts per delivery; 0: 6 (the first and five retries).
	Attempts int
	// Backoff is the wait before the first retry, doubled for each next
	// one up to MaxBackoff; 0: 2 s and 5 min.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt; 0: 10 s.
	Timeout time.Duration
	// MaxAge is how old an event may be, against its arrival and against
	// now, and still notify; older is history (a phone's buffered
	// backlog, a catch-up after a restart). 0: 15 min.
	MaxAge time.Duration
	// Tick is how often silences are checked; 0: 15 s.
	Tick time.Duration
	// Now is the clock; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Queue, 256)
	def(&o.Workers, 2)
	def(&o.Attempts, 6)
	defDur(&o.Backoff, 2*time.Second)
	defDur(&o.MaxBackoff, 5*time.Minute)
	defDur(&o.Timeout, 10*time.Second)
	defDur(&o.MaxAge, 15*time.Minute)
	defDur(&o.Tick, 15*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Dispatcher evaluates the rules against the projections' changes and
// delivers what fires. Follow is its projections.Feed follower; Run
// starts its goroutines and returns once they have all stopped.
type Dispatcher struct {
	o        Options
	channels map[string]*channelQueue
	changes  chan change // from Follow to the evaluator
	missed   atomic.Bool // changes were dropped: the evaluator starts afresh
	stats    stats
	log      deliveryLog
	eval     *evaluator // owned by the evaluator goroutine
}

// change is what the evaluator needs of one projections.Changes, copied
// on the projector's goroutine (the Changes is not ours to keep).
type change struct {
	all      bool // a rebuild, or changes were dropped: read everything afresh
	crossing []projections.AreaEvent
	friends  []projections.DeviceID
	users    bool
}

// evalQueue bounds the changes waiting for the evaluator.
const evalQueue = 1024

// New returns a dispatcher; nothing runs before Run.
func New(o Options) *Dispatcher {
	o.defaults()
	d := &Dispatcher{o: o, channels: map[string]*channelQueue{}, changes: make(chan change, evalQueue)}
	for _, c := range o.Channels {
		d.channels[c.Name()] = &channelQueue{ch: c, jobs: make(chan *job, o.Queue), wake: make(chan struct{}, 1)}
	}
	d.log.init()
	d.eval = newEvaluator(d)
	return d
}

// Follow takes one projection change (nil: everything changed) for
// evaluation. It never blocks: when the evaluator is behind by
// evalQueue changes, the change is dropped, counted, and the evaluator
// reads the projections afresh (without notifying what it missed).
func (d *Dispatcher) Follow(ch *projections.Changes) {
	c := change{all: ch == nil}
	if ch != nil {
		for _, e := range ch.AreaEvents {
			if !e.Late {
				c.crossing = append(c.crossing, e)
			}
		}
		for id := range ch.Friends {
			c.friends = append(c.friends, id)
		}
		c.users = len(ch.Users) > 0
		if len(c.crossing)+len(c.friends) == 0 && !c.users {
			return
		}
	}
	select {
	case d.changes <- c:
	default:
		d.stats.evalDropped.Add(1)
		d.missed.Store(true)
	}
}

// Run evaluates and delivers until ctx ends, then waits for its
// goroutines: the evaluator, the silence timer's tick (same goroutine),
// each channel's workers and retry scheduler. Deliveries still queued
// at the end are dropped (the log holds what fired; see README).
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range d.channels {
		for range d.o.Workers {
			wg.Go(func() { d.work(ctx, q) })
		}
		wg.Go(func() { d.retries(ctx, q) })
	}
	wg.Go(func() { d.eval.run(ctx) })
	wg.Wait()
	return nil
}

// Channels lists the channels the dispatcher runs, by name.
func (d *Dispatcher) Channels() []string {
	out := make([]string, 0, len(d.channels))
	for _, c := range d.o.Channels {
		out = append(out, c.Name())
	}
	return out
}

// job is one notification on its way through one channel.
type job struct {
	n       Notification
	channel string
	attempt int       // attempts made so far
	due     time.Time // when the next retry may go
}

// channelQueue is one channel with its queue and pending retries.
type channelQueue struct {
	ch   Channel
	jobs chan *job

	mu      sync.Mutex
	pending retryHeap // by due
	wake    chan struct{}
}

// send queues n for every channel its rule names, never blocking.
func (d *Dispatcher) send(n Notification) {
	d.stats.fired.Add(1)
	for _, name := range n.Rule.Channels {
		q, ok := d.channels[name]
		if !ok {
			d.log.record(n, name, statusFailed, 0, fmt.Sprintf("this server has no %q channel", name))
			d.stats.failed.Add(1)
			continue
		}
		d.log.record(n, name, statusQueued, 0, "")
		select {
		case q.jobs <- &job{n: n, channel: name}:
		default:
			d.stats.dropped.Add(1)
			d.log.record(n, name, statusDropped, 0, "the channel's queue was full")
			d.o.Logger.Warn("notification dropped: the channel's queue is full",
				"channel", name, "rule", n.Rule.ID, "owner", n.Rule.Owner, "queue", cap(q.jobs))
		}
	}
}

// work delivers q's jobs until ctx ends.
func (d *Dispatcher) work(ctx context.Context, q *channelQueue) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-q.jobs:
			d.attempt(ctx, q, j)
		}
	}
}

// attempt makes one delivery attempt of j, after checking that the rule
// still stands and its owner may still see the friend.
func (d *Dispatcher) attempt(ctx context.Context, q *channelQueue, j *job) {
	if why := d.stillAllowed(j.n); why != "" {
		d.stats.withdrawn.Add(1)
		d.log.record(j.n, j.channel, statusWithdrawn, j.attempt, why)
		return
	}
	j.attempt++
	actx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	err := q.ch.Deliver(actx, j.n)
	cancel()
	switch {
	case err == nil:
		d.stats.sent.Add(1)
		d.log.record(j.n, j.channel, statusSent, j.attempt, "")
	case ctx.Err() != nil:
		return // shutting down
	case errors.Is(err, ErrNobody):
		d.stats.nobody.Add(1)
		d.log.record(j.n, j.channel, statusNobody, j.attempt, err.Error())
	case IsPermanent(err) || j.attempt >= d.o.Attempts:
		d.stats.failed.Add(1)
		d.log.record(j.n, j.channel, statusFailed, j.attempt, err.Error())
		d.o.Logger.Warn("notification not delivered", "channel", j.channel, "rule", j.n.Rule.ID, "owner", j.n.Rule.Owner,
			"attempts", j.attempt, "err", err)
	default:
		wait := d.o.Backoff << (j.attempt - 1)
		if wait > d.o.MaxBackoff || wait <= 0 {
			wait = d.o.MaxBackoff
		}
		j.due = d.o.Now().Add(wait)
		// Logged before j is handed on: another worker may take it at once.
		d.log.record(j.n, j.channel, statusRetrying, j.attempt, err.Error())
		n, channel, attempts := j.n, j.channel, j.attempt
		if !q.later(j, d.o.Queue) {
			d.stats.dropped.Add(1)
			d.log.record(n, channel, statusDropped, attempts, "too many retries pending: "+err.Error())
			return
		}
		d.stats.retried.Add(1)
	}
}

// stillAllowed says why n may no longer go out ("" when it may): its rule
// was removed, its owner removed, or the owner may no longer see the
// friend (the sharing changed since it fired).
func (d *Dispatcher) stillAllowed(n Notification) string {
	u, ok := d.o.Source.User(n.Rule.Owner)
	if !ok {
		return "the rule's owner was removed"
	}
	if _, ok := u.NotifyRule(n.Rule.ID); !ok {
		return "the rule was removed"
	}
	if _, ok := d.o.Gate.For(viewerRule(u)).Friend(n.Device); !ok {
		return "withheld: the friend is no longer shared with the rule's owner"
	}
	return ""
}

// later keeps j for a retry at j.due; false when max retries are pending.
func (q *channelQueue) later(j *job, max int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending.Len() >= max {
		return false
	}
	heap.Push(&q.pending, j)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// retries puts each pending retry back in the queue when it is due.
func (d *Dispatcher) retries(ctx context.Context, q *channelQueue) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		q.mu.Lock()
		var next time.Duration = time.Hour
		now := d.o.Now()
		for q.pending.Len() > 0 {
			j := q.pending[0]
			if wait := j.due.Sub(now); wait > 0 {
				next = wait
				break
			}
			select {
			case q.jobs <- j:
				heap.Pop(&q.pending)
				continue
			default:
				next = d.o.Backoff // the queue is full: try again shortly
			}
			break
		}
		q.mu.Unlock()
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-t.C:
		}
	}
}

// retryHeap orders pending retries by due time.
type retryHeap []*job

func (h retryHeap) Len() int           { return len(h) }
func (h retryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h retryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *retryHeap) Push(x any)        { *h = append(*h, x.(*job)) }
func (h *retryHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}

// errStop ends a Scan after the first event.
var errStop = errors.New("stop")

// event reads the log event seq.
func (d *Dispatcher) event(ctx context.Context, seq uint64) (events.Event, error) {
	var out events.Event
	err := d.o.Events.Scan(ctx, seq, func(e events.Event) error {
		out = e
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return out, fmt.Errorf("notify: read event %d: %w", seq, err)
	}
	if out.Seq != seq {
		return out, fmt.Errorf("notify: event %d not in the log", seq)
	}
	return out, nil
}
