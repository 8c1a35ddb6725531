package notify

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Delivery statuses, as the delivery log shows them.
const (
	statusQueued    = "queued"
	statusRetrying  = "retrying"
	statusSent      = "sent"
	statusFailed    = "failed"
	statusDropped   = "dropped"   // a full queue
	statusWithdrawn = "withdrawn" // the rule or the friend's sharing changed before it went out
	statusNobody    = "nobody"    // nobody to tell: no page open, no browser subscribed (ErrNobody)
)

// LogPerRule is how many deliveries the log keeps per rule, newest.
const LogPerRule = 20

// Delivery is one notification through one channel, as it stands.
type Delivery struct {
	ID       string // Notification.ID
	Channel  string
	Text     string
	At       time.Time // when the rule fired
	Updated  time.Time // the last change of Status
	Status   string    // queued, retrying, sent, failed, dropped, withdrawn
	Attempts int
	Err      string // why the last attempt failed, or why it never went
}

// Failed reports whether the delivery ended without reaching its target.
func (d Delivery) Failed() bool {
	return d.Status == statusFailed || d.Status == statusDropped
}

// RuleStatus sums up a rule's deliveries since the server started.
type RuleStatus struct {
	Sent, Failed int
	LastError    string // the newest failure ("" when none since the last success)
	LastErrorAt  time.Time
	LastSent     time.Time
}

// deliveryLog keeps the newest deliveries of each rule, in memory: it
// starts empty with the server (README, "Notifications").
type deliveryLog struct {
	mu     sync.Mutex
	rules  map[string][]Delivery // newest last, at most LogPerRule
	status map[string]*RuleStatus
	now    func() time.Time
}

func (l *deliveryLog) init() {
	l.rules = map[string][]Delivery{}
	l.status = map[string]*RuleStatus{}
	l.now = time.Now
}

// record sets the status of n through channel, adding the entry when new.
func (l *deliveryLog) record(n Notification, channel, status string, attempts int, errText string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	list := l.rules[n.Rule.ID]
	i := slices.IndexFunc(list, func(d Delivery) bool { return d.ID == n.ID && d.Channel == channel })
	if i < 0 {
		list = append(list, Delivery{ID: n.ID, Channel: channel, Text: n.Text, At: n.At})
		if len(list) > LogPerRule {
			list = slices.Delete(list, 0, len(list)-LogPerRule)
		}
		i = len(list) - 1
	}
	d := &list[i]
	d.Status, d.Attempts, d.Err, d.Updated = status, attempts, errText, now
	l.rules[n.Rule.ID] = list
	st := l.status[n.Rule.ID]
	if st == nil {
		st = &RuleStatus{}
		l.status[n.Rule.ID] = st
	}
	why := errText
	if !strings.HasPrefix(why, channel+":") {
		why = channel + ": " + why
	}
	switch status {
	case statusSent:
		st.Sent++
		st.LastSent, st.LastError = now, ""
	case statusFailed, statusDropped:
		st.Failed++
		st.LastError, st.LastErrorAt = why, now
	case statusRetrying:
		st.LastError, st.LastErrorAt = why, now
	}
}

// Deliveries returns rule's logged deliveries, newest first.
func (d *Dispatcher) Deliveries(rule string) []Delivery {
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	out := slices.Clone(d.log.rules[rule])
	slices.Reverse(out)
	return out
}

// Status returns rule's delivery summary.
func (d *Dispatcher) Status(rule string) RuleStatus {
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	if st := d.log.status[rule]; st != nil {
		return *st
	}
	return RuleStatus{}
}

// stats counts what the dispatcher did since it started (Collector).
type stats struct {
	fired, suppressed, sent, failed, retried, dropped, withdrawn, nobody, evalDropped atomic.Uint64
}

// Stats are the dispatcher's counters.
type Stats struct {
	Fired      uint64 // rules that fired (one notification each)
	Suppressed uint64 // firings held back by a rule's quiet period
	Sent       uint64 // deliveries that reached their target
	Failed     uint64 // deliveries that gave up (refused, out of attempts)
	Retried    uint64 // attempts that failed and were scheduled again
	Dropped    uint64 // deliveries dropped: a channel's queue or retries full
	Withdrawn  uint64 // deliveries stopped: the rule or the sharing changed
	Nobody     uint64 // deliveries with nobody to tell (ErrNobody)
	// EvalDropped are projection changes dropped because the evaluator
	// was behind: what they held did not notify.
	EvalDropped uint64
}

// Stats returns the counters.
func (d *Dispatcher) Stats() Stats {
	s := &d.stats
	return Stats{Fired: s.fired.Load(), Suppressed: s.suppressed.Load(), Sent: s.sent.Load(), Failed: s.failed.Load(),
		Retried: s.retried.Load(), Dropped: s.dropped.Load(), Withdrawn: s.withdrawn.Load(), Nobody: s.nobody.Load(),
		EvalDropped: s.evalDropped.Load()}
}

// Collector exports the counters and queue lengths to Prometheus
// (tracker_notify_*), read at scrape time.
func (d *Dispatcher) Collector() prometheus.Collector { return collector{d} }

type collector struct{ d *Dispatcher }

var (
	descEvents = prometheus.NewDesc("tracker_notify_events_total",
		"Notification rule outcomes: fired, suppressed (quiet period), and deliveries sent, failed, retried, dropped (queue full), withdrawn (rule or sharing changed), nobody (no page open, no browser subscribed).",
		[]string{"outcome"}, nil)
	descEvalDropped = prometheus.NewDesc("tracker_notify_changes_dropped_total",
		"Projection changes the notification evaluator dropped because it was behind; what they held did not notify.", nil, nil)
	descQueue = prometheus.NewDesc("tracker_notify_queue_length",
		"Deliveries waiting per notification channel, and retries pending.", []string{"channel", "queue"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descEvents
	ch <- descEvalDropped
	ch <- descQueue
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.Stats()
	for outcome, v := range map[string]uint64{"fired": s.Fired, "suppressed": s.Suppressed, "sent": s.Sent, "failed": s.Failed,
		"retried": s.Retried, "dropped": s.Dropped, "withdrawn": s.Withdrawn, "nobody": s.Nobody} {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(v), outcome)
	}
	ch <- prometheus.MustNewConstMetric(descEvalDropped, prometheus.CounterValue, float64(s.EvalDropped))
	for name, q := range c.d.channels {
		q.mu.Lock()
		pending := q.pending.Len()
		q.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(len(q.jobs)), name, "ready")
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(pending), name, "retry")
	}
}
