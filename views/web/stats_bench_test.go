package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/owntracks"
	"tracker/projections/projector"
	"tracker/projections/visits/visitstest"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
	"tracker/views/web"
)

// BenchmarkStats serves the stats page of a friend with three years of
// history at a fix a minute (synthetic Brussels days: home, office, café,
// a fix every 15 s on the way; ~1.8 million fixes), through the whole
// HTTP handler with the offline geocoder:
//
//	go test -run '^$' -bench Stats -benchtime 1x ./views/web/
//
// It prints the first render of all time (every day summarised and
// cached), then the median of renders from the cache for all time, a
// year and a month, the JSON API, a render after a late fix for an old
// day, and a year's heatmap. STATS_BENCH_DATA=DIR keeps the log there
// for the next run (the projections are rebuilt from it each time).
func BenchmarkStats(b *testing.B) {
	const years = 3
	dir := os.Getenv("STATS_BENCH_DATA")
	if dir == "" {
		dir = b.TempDir()
	}
	log, err := badgerlog.Open(dir, badgerlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	first := time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)
	days := int(first.AddDate(years, 0, 0).Sub(first).Hours() / 24)
	if log.Head() == 0 {
		t0 := time.Now()
		// All of it queued at once: the log's group commit takes it in
		// large blocks (a wait per day cost a sync each).
		var evs []events.Event
		for d := range days {
			for _, p := range visitstest.SyntheticDay(first.AddDate(0, 0, d), uint64(d)).Points {
				evs = append(evs, events.Event{Topic: "owntracks/anna/phone", QoS: 1, Source: events.SourceEmbedded,
					Received: time.Unix(p.Tst+2, 0),
					Payload:  fmt.Appendf(nil, `{"_type":"location","tid":"an","lat":%.6f,"lon":%.6f,"tst":%d,"acc":%d}`, p.Lat, p.Lon, p.Tst, p.Acc)})
			}
		}
		appendMany(b, log, len(evs), func(i int) events.Event { return evs[i] })
		evs = nil
		b.Logf("log of %d events (%d days) built in %v", log.Head(), days, time.Since(t0).Round(time.Second))
	}
	t0 := time.Now()
	logger := slog.New(slog.DiscardHandler)
	p, err := projector.Open(b.Context(), b.TempDir(), log, owntracks.Decoder{}, logger, projector.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.Logf("projections of %d events built in %v (load average %s)", log.Head(), time.Since(t0).Round(time.Millisecond), loadAvg())
	now := first.AddDate(0, 0, days).Add(-time.Hour) // the evening of the last day
	assets := static.New()
	site := web.New(web.Deps{Log: log, Appender: log, Decoder: &owntracks.Decoder{}, Ingest: &fakeIngest{}, Projections: p,
		Logger: logger, Now: func() time.Time { return now }, Assets: assets, Summarizer: geoSummarizer,
		Hub: live.New(p, func() views.Page { return views.Page{Assets: assets, Now: now} }, nil, logger)})
	srv := httptest.NewServer(site.Routes())
	defer srv.Close()

	get := func(path string) (time.Duration, int64) {
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
		return time.Since(t0), n
	}
	once := func(name, path string) {
		c0 := cpuTime()
		d, n := get(path)
		b.Logf("%-34s %8.1f ms, CPU %8.1f ms, %d KB", name, ms(d), ms(cpuTime()-c0), n/1000)
		b.ReportMetric(ms(d), name+"-ms")
	}
	median := func(name, path string) {
		var ds []time.Duration
		var n int64
		c0 := cpuTime()
		for range 7 {
			d, size := get(path)
			ds, n = append(ds, d), size
		}
		cpu := (cpuTime() - c0) / time.Duration(len(ds))
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		b.Logf("%-34s median %6.1f ms, slowest %6.1f ms, CPU %6.1f ms/request, %d KB", name, ms(ds[len(ds)/2]), ms(ds[len(ds)-1]), ms(cpu), n/1000)
		b.ReportMetric(ms(ds[len(ds)/2]), name+"-median-ms")
	}
	b.ResetTimer()
	for range b.N {
		once("page-all-first", "/stats/anna/phone?period=all")
		median("page-all-cached", "/stats/anna/phone?period=all")
		median("page-year-cached", "/stats/anna/phone?period=year")
		median("page-month-cached", "/stats/anna/phone?period=month")
		median("api-all-cached", "/api/v1/friends/anna/phone/stats?period=all")
		// A late fix for a day a year ago: that day alone is made again.
		late := first.AddDate(1, 0, 10).Add(12 * time.Hour).Unix()
		appendMany(b, log, 1, func(int) events.Event {
			return events.Event{Topic: "owntracks/anna/phone", QoS: 1, Source: events.SourceEmbedded, Received: now,
				Payload: fmt.Appendf(nil, `{"_type":"location","tid":"an","lat":50.9,"lon":4.4,"tst":%d,"acc":10}`, late)}
		})
		if err := p.CatchUp(b.Context()); err != nil { // nobody runs the projector here
			b.Fatal(err)
		}
		once("page-all-after-late-fix", "/stats/anna/phone?period=all")
		from, to := now.AddDate(-1, 0, 0), now
		once("heatmap-year", fmt.Sprintf("/api/v1/friends/anna/phone/heatmap?from=%d&to=%d", from.Unix(), to.Unix()))
	}
}
