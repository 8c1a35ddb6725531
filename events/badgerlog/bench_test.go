package badgerlog

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
)

var benchPayload = []byte(`{"_type":"location","tid":"am","lat":52.52009,"lon":13.40495,"tst":1718000000,"created_at":1718000004,"acc":12,"alt":41,"vac":3,"vel":4,"cog":270,"batt":81,"bs":1,"conn":"w","t":"u","m":1}`)

// BenchmarkAppend measures durable appends/s with N concurrent appenders,
// each waiting for its own append to be synced before the next.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 4, 64, 256} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			l := openTest(b, b.TempDir())
			var batches, batched atomic.Int64
			l.opts.OnBatch = func(n int, _ time.Duration) { batches.Add(1); batched.Add(int64(n)) }
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range appenders {
				wg.Go(func() {
					topic := fmt.Sprintf("owntracks/user%d/phone", w)
					for next.Add(1) <= int64(b.N) {
						if _, err := l.Append(context.Background(), events.Event{Topic: topic, Payload: benchPayload, QoS: 1, Source: events.SourceEmbedded}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			if n := batches.Load(); n > 0 {
				b.ReportMetric(float64(batched.Load())/float64(n), "events/batch")
			}
		})
	}
}

// BenchmarkOpenWindow measures what a start costs for recognising
// redeliveries: reading the newest DupWindow events back (each with a
// client id and packet id) and the memory the window holds.
func BenchmarkOpenWindow(b *testing.B) {
	dir := b.TempDir()
	l, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	const events = 100_000 // more than the default window of 65,536
	var wg sync.WaitGroup
	for i := range events {
		wg.Add(1)
		l.AppendAsync(eventsEvent(i), func(_ uint64, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	_ = l.Close()
	b.ResetTimer()
	for b.Loop() {
		l, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(len(l.byPacket)), "packets")
		b.ReportMetric(float64(len(l.byTopic)), "topics")
		_ = l.Close()
		b.StartTimer()
	}
}

func eventsEvent(i int) events.Event {
	return events.Event{
		Topic: fmt.Sprintf("owntracks/user%d/phone", i%200), Payload: benchPayload, QoS: 1,
		Source: events.SourceEmbedded, Client: fmt.Sprintf("phone-%d", i%200), PacketID: uint16(i%65535 + 1),
	}
}
