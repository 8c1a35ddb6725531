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
			_, l := openTest(b, b.TempDir())
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
