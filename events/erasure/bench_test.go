package erasure_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/erasure"
)

// BenchmarkErase prints the erasure's throughput on a log of
// ERASE_BENCH_EVENTS events (1,000,000 by default) from 200 devices of
// 20 users, written by 64 appenders (group commits of ~30 events, as
// under load): each iteration erases one user (a tenth of the log) with
// the full path of tracker erase up to the log (count, copy, tombstone,
// swap), without the projections' rebuild (BenchmarkRebuild in
// projections/projector measures that).
//
//	go test -run '^$' -bench Erase -benchtime 1x ./events/erasure/
func BenchmarkErase(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("ERASE_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	dir := filepath.Join(b.TempDir(), "log")
	l, err := badgerlog.Open(dir, badgerlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				dev := int(i) % 200
				e := events.Event{Topic: fmt.Sprintf("owntracks/u%d/phone%d", dev%20, dev/20), QoS: 1, Source: events.SourceEmbedded,
					Received: time.Unix(1_700_000_000+i, 0),
					Payload:  fmt.Appendf(nil, `{"_type":"location","tid":"am","lat":52.52009,"lon":13.40495,"tst":%d,"acc":12,"alt":41,"vac":3,"vel":4,"cog":270,"batt":81,"bs":1,"conn":"w","t":"u","m":1}`, 1_700_000_000+i)}
				if _, err := l.Append(context.Background(), e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	size := dirBytes(dir)
	b.Logf("log of %d events (%.0f MB) written in %s", l.Head(), float64(size)/(1<<20), time.Since(start).Round(time.Millisecond))
	x := &erasure.Eraser{Log: l}
	var erased uint64
	var took time.Duration
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		res, err := x.Erase(context.Background(), erasure.Request{Rules: []erasure.Rule{{User: fmt.Sprintf("u%d", i%20)}}, By: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(t0)
		erased += res.Erased
	}
	b.ReportMetric(float64(erased)/took.Seconds(), "erased-events/s")
	b.ReportMetric(float64(l.Head())*float64(b.N)/took.Seconds(), "log-events/s")
	b.ReportMetric(took.Seconds()/float64(b.N), "s/erase")
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/erase")
}

// cpuTime is the CPU time this process used (user and system): less bent
// by other work on the machine than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}
