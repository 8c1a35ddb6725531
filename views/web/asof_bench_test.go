package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/projector"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
	"tracker/views/web"
)

// BenchmarkAsOf serves the dashboard as of a moment (/?at=), the read
// API as of a moment, and the three views of comings and goings with an
// area defined after the data, on a log of 1,000,000 locations from 200
// devices (each every 10 s, ~14 h, wandering through four areas defined
// first and one defined at the end), through the whole HTTP handler:
//
//	go test -run '^$' -bench AsOf -benchtime 1x ./views/web/
//
// It prints the median and the slowest of each request over moments
// spread across the log.
func BenchmarkAsOf(b *testing.B) {
	const events1M, devices = 1_000_000, 200
	log, err := badgerlog.Open(b.TempDir(), badgerlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	areas := []string{
		`{"_type":"area","action":"define","name":"Office","center":{"lat":51.515,"lon":-0.09},"radius":800}`,
		`{"_type":"area","action":"define","name":"Gym","center":{"lat":51.49,"lon":-0.15},"radius":500}`,
		`{"_type":"area","action":"define","name":"School","center":{"lat":51.53,"lon":-0.13},"radius":1200}`,
		`{"_type":"area","action":"define","name":"Park","polygon":[{"lat":51.50,"lon":-0.17},{"lat":51.51,"lon":-0.17},{"lat":51.51,"lon":-0.15},{"lat":51.50,"lon":-0.15}]}`,
	}
	start := time.Now()
	n := events1M - len(areas) - 1
	last := benchDay(0)
	appendMany(b, log, events1M, func(i int) events.Event {
		switch {
		case i < len(areas):
			return events.Event{Topic: projections.AreaTopic, Payload: []byte(areas[i]), QoS: 1, Source: events.SourceAdmin, Received: benchDay(0)}
		case i == events1M-1:
			// Defined after everything: its crossings are all in the past.
			return events.Event{Topic: projections.AreaTopic, QoS: 1, Source: events.SourceAdmin, Received: last.Add(time.Minute),
				Payload: []byte(`{"_type":"area","action":"define","name":"Later","center":{"lat":51.505,"lon":-0.12},"radius":1500}`)}
		}
		j := i - len(areas)
		dev, k := j%devices, j/devices
		return wander(dev, k, benchDay(int64(k)*10))
	})
	last = benchDay(int64(n/devices) * 10)
	b.Logf("log of %d events built in %v", log.Head(), time.Since(start).Round(time.Millisecond))

	start = time.Now()
	logger := slog.New(slog.DiscardHandler)
	p, err := projector.Open(b.Context(), b.TempDir(), log, owntracks.Decoder{}, logger, projector.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.Logf("projections built in %v", time.Since(start).Round(time.Millisecond))
	now := last.Add(10 * time.Minute)
	assets := static.New()
	site := web.New(web.Deps{Log: log, Appender: log, Decoder: &owntracks.Decoder{}, Ingest: &fakeIngest{}, Projections: p,
		Logger: logger, Now: func() time.Time { return now }, Assets: assets,
		Hub: live.New(p, func() views.Page { return views.Page{Assets: assets, Now: now} }, nil, logger)})
	srv := httptest.NewServer(site.Routes())
	defer srv.Close()

	get := func(path string) time.Duration {
		t0 := time.Now()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || n == 0 {
			b.Fatalf("GET %s: %s", path, res.Status)
		}
		return time.Since(t0)
	}
	// CPU time per request (server and client, one process) is less bent
	// by other work on the machine than the wall time.
	report := func(name string, paths []string) {
		var ds []time.Duration
		c0 := cpuTime()
		for range 3 {
			for _, path := range paths {
				ds = append(ds, get(path))
			}
		}
		cpu := (cpuTime() - c0) / time.Duration(len(ds))
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		med, worst := ds[len(ds)/2], ds[len(ds)-1]
		b.Logf("%-28s median %6.1f ms, slowest %6.1f ms, CPU %6.1f ms/request (%d requests)", name, ms(med), ms(worst), ms(cpu), len(ds))
		b.ReportMetric(ms(med), name+"-median-ms")
	}
	span := last.Sub(benchDay(0))
	var moments, apiMoments []string
	for i := range 10 {
		at := benchDay(0).Add(span * time.Duration(i+1) / 11).Unix()
		moments = append(moments, fmt.Sprintf("/?at=%d", at))
		apiMoments = append(apiMoments, fmt.Sprintf("/api/v1/friends?at=%d", at))
	}
	b.Logf("load average before: %s", loadAvg())
	for b.Loop() {
		report("dashboard-asof", moments)
		report("api-friends-asof", apiMoments)
		// The first feed read derives the Later area's week before its
		// definition from every device's history; later reads are cached.
		first := get("/")
		b.Logf("%-44s %6.1f ms (once: derives the later area's past)", "dashboard-now-first", ms(first))
		report("dashboard-now", []string{"/"})
		report("areas-page", []string{"/areas"})
		report("history-page-timeline", []string{"/friends/user007/phone?from=" + fmt.Sprint(benchDay(0).Unix()) + "&to=" + fmt.Sprint(now.Unix())})
		report("replay-1h-all", []string{fmt.Sprintf("/api/v1/replay?from=%d&to=%d", last.Add(-time.Hour).Unix(), last.Unix())})
	}
	b.Logf("load average after: %s", loadAvg())
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchDay(s int64) time.Time {
	return time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Second)
}

// wander is the k-th fix of device dev, as the projector's benchmarks
// make them: each device walks its own slow loop around central London.
func wander(dev, k int, at time.Time) events.Event {
	phase := float64(k)/400 + float64(dev)
	lat := 51.505 + 0.03*math.Sin(phase) + 0.0001*float64(k%7)
	lon := -0.12 + 0.05*math.Cos(phase*0.7) + 0.0001*float64(k%5)
	tst := at.Unix()
	p := fmt.Appendf(make([]byte, 0, 224), `{"_type":"location","acc":%d,"alt":41,"batt":%d,"bs":1,"conn":"w","created_at":%d,"lat":%.6f,"lon":%.6f,"m":1,"t":"p","tid":"%02d","tst":%d,"vac":3,"vel":%d}`,
		5+k%20, 100-k%100, tst+1, lat, lon, dev%100, tst, k%50)
	return events.Event{Topic: fmt.Sprintf("owntracks/user%03d/phone", dev), Payload: p, QoS: 1, Source: events.SourceEmbedded, Received: at.Add(2 * time.Second)}
}

// appendMany appends what gen makes without waiting for each sync.
func appendMany(b *testing.B, log *badgerlog.Log, n int, gen func(i int) events.Event) {
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		log.AppendAsync(gen(i), func(_ uint64, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatalf("append: %v", *err)
	}
}
