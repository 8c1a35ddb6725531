package broker_test

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// BenchmarkEmbeddedIngest measures QoS 1 ingest through the embedded
// broker over real TCP into a real Badger log. One op is one message; b.N
// messages are spread over the publishers. durable-msgs/s counts PUBACKs
// per second, and every PUBACK implies the event is synced to disk.
//
// Run with a fixed count, e.g.
//
//	go test -run '^$' -bench EmbeddedIngest -benchtime 50000x ./events/broker/
//
// Modes: "seq" publishes and waits for each PUBACK (one in flight per
// client, like a phone); "window=10" keeps up to 10 unacknowledged
// messages per client (paho itself has no in-flight limit for new
// publishes). client=paho uses paho.mqtt.golang; client=raw is a minimal
// hand-rolled MQTT 3.1.1 publisher, to separate the broker's cost from
// paho's (both run in this process, on the same cores).
//
// Metrics: durable-msgs/s; events/batch and commit-ms (from the start of a
// group commit until its callbacks run, so it includes waiting behind
// earlier batches) from badgerlog's OnBatch; cpu-us/msg, the process's
// user+system CPU per message, which unlike msgs/s does not depend on what
// else the machine runs; peak-RSS-MB (VmHWM, reset per sub-benchmark) and
// rest-RSS-MB (VmRSS after GC and FreeOSMemory, broker still up).
func BenchmarkEmbeddedIngest(b *testing.B) {
	for _, publishers := range []int{100, 20, 4} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			for _, mode := range []struct {
				name   string
				window int
				raw    bool
			}{
				{name: "client=paho/seq", window: 1},
				{name: "client=paho/window=10", window: 10},
				{name: "client=raw/window=10", window: 10, raw: true},
			} {
				b.Run(mode.name, func(b *testing.B) {
					benchIngest(b, publishers, mode.window, mode.raw)
				})
			}
		})
	}
}

func benchIngest(b *testing.B, publishers, window int, raw bool) {
	resetPeakRSS(b)
	var batches, batched, commitNanos atomic.Int64
	f := startBroker(b, broker.Config{MaxConnsPerAddr: -1}, badgerlog.Options{
		OnBatch: func(n int, took time.Duration) {
			batches.Add(1)
			batched.Add(int64(n))
			commitNanos.Add(int64(took))
		},
	})
	pubs := make([]func(topic string, p, count int) error, publishers)
	for p := range pubs {
		id := fmt.Sprintf("bench-%d", p)
		if raw {
			rc, err := dialRaw(f.addr, id)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rc.Close() })
			pubs[p] = func(topic string, p, count int) error { return rc.publishWindow(topic, p, count, window) }
			continue
		}
		c := eventstest.Connect(b, f.addr, id)
		pubs[p] = func(topic string, p, count int) error { return pahoWindow(c, topic, p, count, window) }
	}

	b.ResetTimer()
	cpu0 := processCPU(b)
	start := time.Now()
	var wg sync.WaitGroup
	for p, pub := range pubs {
		count := b.N / publishers
		if p < b.N%publishers {
			count++
		}
		wg.Go(func() {
			if err := pub(fmt.Sprintf("owntracks/user%d/phone", p), p, count); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	cpu := processCPU(b) - cpu0
	b.StopTimer()

	if h := f.log.Head(); h != uint64(b.N) {
		b.Fatalf("log head = %d after %d PUBACKs", h, b.N)
	}
	b.ReportMetric(float64(b.N)/took.Seconds(), "durable-msgs/s")
	// CPU the whole process (broker, log and clients) spent per message;
	// unlike msgs/s it does not depend on what else runs on the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/msg")
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(batched.Load())/float64(n), "events/batch")
		b.ReportMetric(float64(commitNanos.Load())/float64(n)/1e6, "commit-ms")
	}
	b.ReportMetric(procStatusMB(b, "VmHWM"), "peak-RSS-MB")
	runtime.GC()
	debug.FreeOSMemory()
	b.ReportMetric(procStatusMB(b, "VmRSS"), "rest-RSS-MB")
}

// pahoWindow publishes count locations with at most window unacknowledged.
func pahoWindow(c paho.Client, topic string, p, count, window int) error {
	toks := make([]paho.Token, 0, count)
	wait := func(tok paho.Token) error {
		if !tok.WaitTimeout(30 * time.Second) {
			return fmt.Errorf("%s: no PUBACK within 30s", topic)
		}
		return tok.Error()
	}
	for n := range count {
		if n >= window {
			if err := wait(toks[n-window]); err != nil {
				return err
			}
		}
		toks = append(toks, c.Publish(topic, 1, false, location(p, n)))
	}
	for _, tok := range toks[max(0, count-window):] {
		if err := wait(tok); err != nil {
			return err
		}
	}
	return nil
}

// processCPU is the user+system CPU time the process has used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS resets VmHWM so peak-RSS-MB is per sub-benchmark (Linux).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS not reset, peak-RSS-MB is the process peak: %v", err)
	}
}

// procStatusMB reads a kB field of /proc/self/status in MB.
func procStatusMB(b *testing.B, field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for line := range bytes.Lines(data) {
		name, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		kb, err := strconv.Atoi(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))))
		if err != nil {
			b.Fatalf("parse %s: %v", field, err)
		}
		return float64(kb) / 1024
	}
	b.Fatalf("%s not in /proc/self/status", field)
	return 0
}

// BenchmarkAbandonedSessions measures what 100 abandoned persistent
// sessions cost: each subscribes to owntracks/# at QoS 1 and goes away,
// then 10,000 locations are published, which the broker queues for every
// session up to its limit. RSS-growth-MB is VmRSS after GC and
// FreeOSMemory, minus the same before the sessions were made.
//
//	go test -run '^$' -bench AbandonedSessions -benchtime 1x ./events/broker/
//
// max-queued=off is the broker before the limit (mochi's 8192 per client).
func BenchmarkAbandonedSessions(b *testing.B) {
	const sessions, messages = 100, 10000
	for _, tc := range []struct {
		name      string
		maxQueued int
	}{{"max-queued=default", 0}, {"max-queued=1000", 1000}, {"max-queued=off", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				f := startBroker(b, broker.Config{MaxQueued: tc.maxQueued, MaxConnsPerAddr: -1}, badgerlog.Options{})
				runtime.GC()
				debug.FreeOSMemory()
				before := procStatusMB(b, "VmRSS")
				for i := range sessions {
					c, code, err := dialRawAs(f.addr, fmt.Sprintf("abandoned-%d", i), rawLogin{persistent: true})
					if err != nil || code != 0 {
						b.Fatalf("session %d: %#x %v", i, code, err)
					}
					if err := c.subscribeQoS("owntracks/#", 1); err != nil {
						b.Fatal(err)
					}
					_ = c.Close()
				}
				pub, err := dialRaw(f.addr, "publisher")
				if err != nil {
					b.Fatal(err)
				}
				if err := pub.publishWindow("owntracks/friend/phone", 1, messages, 10); err != nil {
					b.Fatal(err)
				}
				_ = pub.Close()
				runtime.GC()
				debug.FreeOSMemory()
				b.ReportMetric(procStatusMB(b, "VmRSS")-before, "RSS-growth-MB")
				b.ReportMetric(float64(f.broker.Stats().QueuedDropped), "not-queued")
				if err := f.stop(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
