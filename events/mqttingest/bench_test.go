package mqttingest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
)

// BenchmarkIngestMosquitto publishes b.N QoS 1 messages from 20
// publishers through one Mosquitto to two subscribers at once: a plain
// paho subscriber that acknowledges on receipt, and our Ingest, which
// acknowledges after the group commit. It reports both rates, measured
// from the first publish to the last message received (sub-msgs/s) or
// durable in the log (durable-msgs/s), their ratio, and the messages
// each side never got (Mosquitto drops silently beyond
// max_queued_messages). Run it with a fixed count, e.g.
//
//	go test -run '^$' -bench IngestMosquitto -benchtime 20000x ./events/mqttingest/
func BenchmarkIngestMosquitto(b *testing.B) {
	brokers := []struct {
		name   string
		opts   eventstest.MosquittoOptions
		lossOK bool // the stock limits are expected to drop messages
	}{
		{name: "broker=recommended", opts: eventstest.MosquittoOptions{}},
		{name: "broker=inflight20", opts: eventstest.MosquittoOptions{MaxInflightMessages: 20}},
		{name: "broker=inflight100", opts: eventstest.MosquittoOptions{MaxInflightMessages: 100}},
		{name: "broker=inflight10000", opts: eventstest.MosquittoOptions{MaxInflightMessages: 10000}},
		// Mosquitto's defaults: 20 in flight, 1000 queued.
		{name: "broker=stock", opts: eventstest.MosquittoOptions{MaxInflightMessages: -1, MaxQueuedMessages: -1}, lossOK: true},
	}
	for _, bb := range brokers {
		b.Run(bb.name, func(b *testing.B) {
			benchIngest(b, bb.opts, bb.lossOK)
		})
	}
}

func benchIngest(b *testing.B, opts eventstest.MosquittoOptions, lossOK bool) {
	const publishers = 20
	broker := eventstest.StartMosquitto(b, opts)
	var batches, batched atomic.Int64
	var commitTime atomic.Int64
	l := eventstest.OpenLogWith(b, badgerlog.Options{OnBatch: func(n int, took time.Duration) {
		batches.Add(1)
		batched.Add(int64(n))
		commitTime.Add(int64(took))
	}})
	// The plain subscriber.
	var (
		subMu   sync.Mutex
		subSeen = map[string]struct{}{}
		subLast time.Time
	)
	sub := connectClient(b, broker.URL, "plain-sub", nil)
	tok := sub.Subscribe("owntracks/+/phone", 1, func(_ mqtt.Client, m mqtt.Message) {
		k := m.Topic() + string(m.Payload())
		subMu.Lock()
		if _, ok := subSeen[k]; !ok {
			subSeen[k] = struct{}{}
			subLast = time.Now()
		}
		subMu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("plain subscriber: %v", tok.Error())
	}

	// Our side: count completions as the log reports them durable (the
	// moment the ingest acknowledges); the log is checked after the run.
	var (
		logMu   sync.Mutex
		logSeen = map[string]struct{}{}
		logLast time.Time
	)
	durable := &durableCounter{Appender: l, fn: func(e events.Event) {
		if !strings.HasPrefix(e.Topic, "owntracks/user") {
			return // the probe
		}
		k := e.Topic + string(e.Payload)
		logMu.Lock()
		if _, ok := logSeen[k]; !ok {
			logSeen[k] = struct{}{}
			logLast = time.Now()
		}
		logMu.Unlock()
	}}
	startIngest(b, Config{Broker: broker.URL, ClientID: "tracker-bench"}, durable)
	probe(b, broker.URL, l, "bench")

	clients := make([]mqtt.Client, publishers)
	for p := range clients {
		clients[p] = connectClient(b, broker.URL, fmt.Sprintf("bench-pub-%d", p), nil)
	}
	payloads := make([][][]byte, publishers) // prepared outside the timing
	for i := range b.N {
		payloads[i%publishers] = append(payloads[i%publishers], counterPayload(i%publishers, i/publishers))
	}

	counts := func() (int, int) {
		subMu.Lock()
		s := len(subSeen)
		subMu.Unlock()
		logMu.Lock()
		d := len(logSeen)
		logMu.Unlock()
		return s, d
	}
	// How far each subscriber falls behind what the broker acknowledged to
	// the publishers, sampled. A lower bound: publishers count a PUBACK
	// only when they wait for it (up to their window later). Mosquitto
	// drops beyond max_queued_messages, which shows up as lost messages.
	var pubAcked atomic.Int64
	var maxSubBehind, maxDurBehind int64
	sampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
			}
			s, d := counts()
			a := pubAcked.Load()
			maxSubBehind = max(maxSubBehind, a-int64(s))
			maxDurBehind = max(maxDurBehind, a-int64(d))
		}
	})

	batches.Store(0)
	batched.Store(0)
	commitTime.Store(0)
	durable.maxPending.Store(0)
	b.ResetTimer()
	cpuStart := processCPU()
	start := time.Now()
	var wg sync.WaitGroup
	for p, c := range clients {
		wg.Go(func() {
			// A window of outstanding PUBACKs per publisher, like a
			// phone flushing its queue after being offline.
			const window = 100
			toks := make([]mqtt.Token, 0, len(payloads[p]))
			for i, pl := range payloads[p] {
				if i >= window {
					toks[i-window].Wait()
					pubAcked.Add(1)
				}
				toks = append(toks, c.Publish(publisherTopic(p), 1, false, pl))
			}
			for i, tok := range toks {
				if tok.Wait(); tok.Error() != nil {
					b.Errorf("publisher %d: %v", p, tok.Error())
				}
				if i >= len(toks)-window {
					pubAcked.Add(1)
				}
			}
		})
	}
	wg.Wait()
	pubDone := time.Since(start)

	// Wait until both sides have everything or neither makes progress.
	lastS, lastD := counts()
	stalled := time.Now()
	for {
		s, d := counts()
		if s == b.N && d == b.N {
			break
		}
		if s != lastS || d != lastD {
			lastS, lastD, stalled = s, d, time.Now()
		}
		if time.Since(stalled) > 3*time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	cpu := processCPU() - cpuStart
	close(sampling)
	sampler.Wait()
	b.ReportMetric(float64(maxSubBehind), "sub-max-behind")
	b.ReportMetric(float64(maxDurBehind), "durable-max-behind")

	s, d := counts()
	subMu.Lock()
	subTook := subLast.Sub(start)
	subMu.Unlock()
	logMu.Lock()
	durTook := logLast.Sub(start)
	logMu.Unlock()
	subRate := float64(s) / subTook.Seconds()
	durRate := float64(d) / durTook.Seconds()
	b.ReportMetric(float64(b.N)/pubDone.Seconds(), "pub-msgs/s")
	b.ReportMetric(subRate, "sub-msgs/s")
	b.ReportMetric(durRate, "durable-msgs/s")
	b.ReportMetric(durRate/subRate, "durable/sub")
	b.ReportMetric(float64(b.N-s), "sub-lost")
	b.ReportMetric(float64(b.N-d), "durable-lost")
	b.ReportMetric(float64(durable.maxPending.Load()), "max-appending")
	// Publishers, plain subscriber and ingest share this process (not
	// Mosquitto): the same load on both sides, so a change in the ingest
	// shows here whatever else runs on the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "process-cpu-µs/msg")
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(batched.Load())/float64(n), "events/commit")
		b.ReportMetric(float64(commitTime.Load())/float64(n)/1e6, "ms/commit")
	}
	if !lossOK && (s != b.N || d != b.N) {
		b.Errorf("lost messages: plain subscriber got %d, log %d of %d", s, d, b.N)
	}
	stored := map[string]struct{}{}
	for _, e := range allEvents(b, l) {
		if strings.HasPrefix(e.Topic, "owntracks/user") {
			stored[e.Topic+string(e.Payload)] = struct{}{}
		}
	}
	if len(stored) != d {
		b.Errorf("log holds %d distinct messages, %d were reported durable", len(stored), d)
	}
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// durableCounter calls fn for each event once the log reports it durable
// and tracks the most appends waiting for the log at once.
type durableCounter struct {
	events.Appender
	fn         func(events.Event)
	pending    atomic.Int64
	maxPending atomic.Int64
}

func (c *durableCounter) AppendAsync(e events.Event, done func(uint64, error)) {
	n := c.pending.Add(1)
	for m := c.maxPending.Load(); n > m && !c.maxPending.CompareAndSwap(m, n); m = c.maxPending.Load() {
	}
	c.Appender.AppendAsync(e, func(seq uint64, err error) {
		c.pending.Add(-1)
		if err == nil {
			c.fn(e)
		}
		done(seq, err)
	})
}
