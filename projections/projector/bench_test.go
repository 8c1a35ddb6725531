package projector_test

// Benchmarks of the projector over a real Badger log. Run each once:
//
//	go test -run '^$' -bench . -benchtime 1x ./projections/projector/
//
// BenchmarkHistoryRange repeats its read; give it the default benchtime
// or e.g. -benchtime 200x.

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/projector"
	"tracker/projections/store"
)

// benchDay is the day the generated phones report on.
var benchDay = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

// benchAreas are the server areas defined before any location, so the
// geometry runs on every fix: three circles and a polygon in central
// London, where the generated devices wander.
var benchAreas = []string{
	`{"_type":"area","action":"define","name":"Office","center":{"lat":51.515,"lon":-0.09},"radius":800}`,
	`{"_type":"area","action":"define","name":"Gym","center":{"lat":51.49,"lon":-0.15},"radius":500}`,
	`{"_type":"area","action":"define","name":"School","center":{"lat":51.53,"lon":-0.13},"radius":1200}`,
	`{"_type":"area","action":"define","name":"Park","polygon":[{"lat":51.50,"lon":-0.17},{"lat":51.51,"lon":-0.17},{"lat":51.51,"lon":-0.15},{"lat":51.50,"lon":-0.15}]}`,
}

func areaEvent(payload string) events.Event {
	return events.Event{Topic: projections.AreaTopic, Payload: []byte(payload), QoS: 1, Source: events.SourceAdmin, Received: benchDay}
}

// benchLocation is the k-th fix of device dev: a ~205-byte location as
// the Android app sends it. Each device walks its own slow loop around
// central London, so it crosses the areas now and then.
func benchLocation(topic string, dev, k int, tst int64) events.Event {
	phase := float64(k)/400 + float64(dev)
	lat := 51.505 + 0.03*math.Sin(phase) + 0.0001*float64(k%7)
	lon := -0.12 + 0.05*math.Cos(phase*0.7) + 0.0001*float64(k%5)
	p := fmt.Appendf(make([]byte, 0, 224), `{"_type":"location","BSSID":"a4:2b:b0:1c:%02x:7f","acc":%d,"alt":41,"batt":%d,"bs":1,"conn":"w","created_at":%d,"lat":%.6f,"lon":%.6f,"m":1,"t":"p","tid":"%02d","tst":%d,"vac":3,"vel":%d,"cog":%d}`,
		dev%256, 5+k%20, 100-k%100, tst+1, lat, lon, dev%100, tst, k%50, (k*7)%360)
	return events.Event{Topic: topic, Payload: p, QoS: 1, Source: events.SourceEmbedded, Received: time.Unix(tst+2, 0).UTC()}
}

// appendFast appends the events gen makes, in order, without waiting for
// each sync: AppendAsync from one goroutine fills every group commit to
// its limit (4096 events or 1 MiB). It returns the payload bytes written.
func appendFast(b *testing.B, log *badgerlog.Log, n int, gen func(i int) events.Event) int64 {
	b.Helper()
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	var bytes int64
	wg.Add(n)
	for i := range n {
		e := gen(i)
		bytes += int64(len(e.Payload))
		log.AppendAsync(e, func(_ uint64, err error) {
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
	return bytes
}

// procStatusKB reads a field of /proc/self/status (VmRSS, VmHWM) in kB.
func procStatusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// cpuTime is the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the first field of /proc/loadavg: how busy the machine is
// (other processes skew the wall-clock figures; cpu-s does not change).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

// resetPeakRSS returns memory the heap no longer needs to the OS and
// resets VmHWM to the current RSS.
func resetPeakRSS(b *testing.B) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v): peak-RSS-MB includes building the log", err)
	}
}

const (
	rebuildEvents  = 1_000_000
	rebuildDevices = 200
)

// rebuildLog appends the four server areas and then locations from
// rebuildDevices devices (each every 10 s) up to rebuildEvents events.
// settle waits (at most a minute) until the process is idle: under 5%
// of a core for 0.6 s, i.e. Badger's background compactions are done.
func settle() {
	deadline := time.Now().Add(time.Minute)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); {
		c0 := cpuTime()
		time.Sleep(200 * time.Millisecond)
		if cpuTime()-c0 < 10*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
	}
}

// dirMB is the size of the files under dir, in MB.
func dirMB(dir string) float64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return float64(n) / (1 << 20)
}

func rebuildLog(b *testing.B) *badgerlog.Log {
	b.Helper()
	dir := b.TempDir()
	if data := os.Getenv("REBUILD_KEEPLOG"); data != "" {
		// Build the log in a data directory of tracker's to measure
		// `tracker rebuild --data DIR` as its own process.
		dir = filepath.Join(data, "log")
	}
	log, err := badgerlog.Open(dir, badgerlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = log.Close() })
	start := time.Now()
	topics := make([]string, rebuildDevices)
	for d := range topics {
		topics[d] = fmt.Sprintf("owntracks/user%03d/phone", d)
	}
	areas := len(benchAreas)
	payload := appendFast(b, log, rebuildEvents, func(i int) events.Event {
		if i < areas {
			return areaEvent(benchAreas[i])
		}
		j := i - areas
		dev, k := j%rebuildDevices, j/rebuildDevices
		return benchLocation(topics[dev], dev, k, benchDay.Unix()+int64(k)*10)
	})
	took := time.Since(start)
	// Settle the log as it would be long after it was written: let the
	// compactions the bulk append started finish (the process goes idle),
	// so they do not run during the measured rebuild.
	t0 := time.Now()
	settle()
	b.Logf("log of %d events (%.0f payload bytes/event, %.0f MB on disk) built in %v (%.0f events/s), settled in %v",
		log.Head(), float64(payload)/rebuildEvents, dirMB(dir), took.Round(time.Millisecond), rebuildEvents/took.Seconds(), time.Since(t0).Round(time.Millisecond))
	return log
}

// rssSampler records the highest anonymous and file-backed RSS and Go
// heap seen while it runs (VmHWM has no such split).
type rssSampler struct {
	stop           chan struct{}
	done           chan struct{}
	anonKB, fileKB int64
	heapB, goB     uint64 // Go heap objects, all memory the Go runtime holds
}

func sampleRSS() *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		ms := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		for {
			s.anonKB = max(s.anonKB, procStatusKB("RssAnon"))
			s.fileKB = max(s.fileKB, procStatusKB("RssFile"))
			metrics.Read(ms)
			if trace := os.Getenv("REBUILD_HEAPTRACE"); trace != "" {
				fmt.Fprintf(os.Stderr, "heap %s %.0f MB anon %d MB\n", time.Now().Format("05.000"), float64(ms[0].Value.Uint64())/(1<<20), procStatusKB("RssAnon")/1024)
			}
			s.heapB = max(s.heapB, ms[0].Value.Uint64())
			s.goB = max(s.goB, ms[1].Value.Uint64()-ms[2].Value.Uint64())
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) Stop() { close(s.stop); <-s.done }

// BenchmarkRebuild replays a log of 1,000,000 locations from 200 devices
// (after four server areas) into fresh projections. Targets: at least
// 200,000 events/s, peak RSS under 200 MB.
//
// The rebuild runs under the pprof label phase=rebuild (inherited by the
// goroutines it starts, Badger's included), so a CPU profile can be cut
// to it: go tool pprof -tagfocus phase=rebuild.
func BenchmarkRebuild(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1,000,000-event log")
	}
	log := rebuildLog(b)
	ctx := b.Context()
	var took, cpu time.Duration
	var peakKB, baseKB, anonKB, fileKB int64
	var heapB, goB uint64
	// REBUILD_CPUPROFILE=file profiles the rebuild alone (not the log's
	// building), REBUILD_TRACE=file traces it (go tool trace -pprof=sync
	// shows where it waits); REBUILD_MEMPROFILE=file writes a heap
	// profile after it.
	cpuProfile, memProfile := os.Getenv("REBUILD_CPUPROFILE"), os.Getenv("REBUILD_MEMPROFILE")
	traceFile := os.Getenv("REBUILD_TRACE")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root := b.TempDir()
		p := projector.New(root, log, owntracks.Decoder{}, nil)
		resetPeakRSS(b)
		baseKB = max(baseKB, procStatusKB("VmRSS"))
		rss := sampleRSS()
		b.StartTimer()
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
		}
		if traceFile != "" {
			f, err := os.Create(traceFile)
			if err != nil {
				b.Fatal(err)
			}
			if err := trace.Start(f); err != nil {
				b.Fatal(err)
			}
			defer func() { trace.Stop(); _ = f.Close() }()
		}
		load := loadAvg()
		t0, c0 := time.Now(), cpuTime()
		var stats projections.RebuildStats
		var err error
		pprof.Do(ctx, pprof.Labels("phase", "rebuild"), func(ctx context.Context) {
			stats, err = p.Rebuild(ctx, heapAt(os.Getenv("REBUILD_HEAPPROFILE")))
		})
		took += time.Since(t0)
		cpu += cpuTime() - c0
		b.Logf("rebuild %d: %v wall, %v CPU; load average %s before, %s after", i+1, time.Since(t0).Round(time.Millisecond), (cpuTime() - c0).Round(time.Millisecond), load, loadAvg())
		b.StopTimer()
		if cpuProfile != "" {
			pprof.StopCPUProfile()
			cpuProfile = ""
		}
		if traceFile != "" {
			trace.Stop()
			traceFile = ""
		}
		rss.Stop()
		peakKB = max(peakKB, procStatusKB("VmHWM"))
		anonKB, fileKB = max(anonKB, rss.anonKB), max(fileKB, rss.fileKB)
		heapB, goB = max(heapB, rss.heapB), max(goB, rss.goB)
		if memProfile != "" {
			f, err := os.Create(memProfile)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				b.Fatal(err)
			}
			_ = f.Close()
			memProfile = ""
		}
		if err != nil {
			b.Fatal(err)
		}
		if stats.Events != rebuildEvents || stats.Invalid != 0 || p.Checkpoint() != rebuildEvents {
			b.Fatalf("rebuild: %+v, checkpoint %d; want %d valid events", stats, p.Checkpoint(), rebuildEvents)
		}
		if fs := p.Friends(); len(fs) != rebuildDevices {
			b.Fatalf("%d friends, want %d", len(fs), rebuildDevices)
		}
		if err := p.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("projections: %.0f MB on disk", dirMB(root))
		b.StartTimer()
	}
	b.ReportMetric(float64(rebuildEvents*b.N)/took.Seconds(), "events/s")
	b.ReportMetric(float64(peakKB)/1024, "peak-RSS-MB")
	b.ReportMetric(float64(baseKB)/1024, "base-RSS-MB")
	b.ReportMetric(float64(anonKB)/1024, "peak-anon-MB")
	b.ReportMetric(float64(fileKB)/1024, "peak-file-MB")
	b.ReportMetric(cpu.Seconds()/float64(b.N)/(rebuildEvents/1e6), "cpu-s/M")
	b.ReportMetric(float64(heapB)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(goB)/(1<<20), "peak-go-MB")
}

// heapAt returns a rebuild progress callback that writes a heap profile
// (live objects at the last GC) to file when the rebuild is 95% done;
// nil when file is empty.
func heapAt(file string) projections.Progress {
	if file == "" {
		return nil
	}
	var once sync.Once
	return func(done, total uint64) {
		if done < total*19/20 {
			return
		}
		once.Do(func() {
			f, err := os.Create(file)
			if err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				_ = f.Close()
			}
		})
	}
}

// BenchmarkRebuildStages does a rebuild's work on one goroutine, stage by
// stage, and reports the seconds each took per million events: reading
// the log, decoding, folding, writing the projections. It explains
// BenchmarkRebuild, which overlaps reading+decoding with the rest.
func BenchmarkRebuildStages(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 1,000,000-event log")
	}
	log := rebuildLog(b)
	ctx := b.Context()
	var scan, dec, apply, save, total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st, err := store.Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		state := projections.NewState()
		ch := projections.NewChanges()
		raw := make([]events.Event, 0, 2000)
		in := make([]projections.Input, 0, 2000)
		var last uint64
		flush := func() error {
			t0 := time.Now()
			in = in[:0]
			for _, e := range raw {
				in = append(in, projections.Decode(owntracks.Decoder{}, e))
			}
			t1 := time.Now()
			for _, x := range in {
				projections.Apply(state, x, ch)
			}
			t2 := time.Now()
			last = raw[len(raw)-1].Seq
			err := st.Save(state, ch, last)
			t3 := time.Now()
			dec, apply, save = dec+t1.Sub(t0), apply+t2.Sub(t1), save+t3.Sub(t2)
			ch.Reset()
			raw = raw[:0]
			return err
		}
		t0 := time.Now()
		err = log.Scan(ctx, 1, func(e events.Event) error {
			raw = append(raw, e)
			if len(raw) == cap(raw) {
				return flush()
			}
			return nil
		})
		if err == nil && len(raw) > 0 {
			err = flush()
		}
		total += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		if last != rebuildEvents {
			b.Fatalf("applied up to %d, want %d", last, rebuildEvents)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	scan = total - dec - apply - save
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) / (rebuildEvents / 1e6) }
	b.ReportMetric(per(scan), "scan-s/M")
	b.ReportMetric(per(dec), "decode-s/M")
	b.ReportMetric(per(apply), "apply-s/M")
	b.ReportMetric(per(save), "save-s/M")
	b.ReportMetric(float64(rebuildEvents*b.N)/total.Seconds(), "events/s")
}

// BenchmarkLiveLag runs the projector live while an appender feeds it
// 5,000 events/s for 5 s, and measures for each event the time from its
// Append returning (durable) to the projector's checkpoint reaching it.
func BenchmarkLiveLag(b *testing.B) {
	const (
		rate     = 5000
		duration = 5 * time.Second
		n        = rate * int(duration/time.Second)
		devices  = 200
	)
	log := eventstest.OpenLog(b)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	p, err := projector.Open(ctx, b.TempDir(), log, owntracks.Decoder{}, nil, projector.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		_ = p.Close()
	}()
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			b.Errorf("projector: %v", err)
		}
	})
	for _, a := range benchAreas {
		if _, err := log.Append(ctx, areaEvent(a)); err != nil {
			b.Fatal(err)
		}
	}
	topics := make([]string, devices)
	for d := range topics {
		topics[d] = fmt.Sprintf("owntracks/user%03d/phone", d)
	}

	var lags []time.Duration
	var sent, early int
	var feedTook time.Duration
	for iter := 0; iter < b.N; iter++ {
		first := log.Head() + 1
		last := first + uint64(n) - 1
		acked := make([]atomic.Int64, n) // unix ns when Append would have returned
		// The watcher records when the checkpoint passes each point.
		type reached struct {
			seq uint64
			at  int64
		}
		var marks []reached
		watchDone := make(chan struct{})
		go func() {
			defer close(watchDone)
			for next := first; next <= last; {
				if err := p.WaitFor(ctx, next); err != nil {
					return
				}
				cp := p.Checkpoint()
				marks = append(marks, reached{cp, time.Now().UnixNano()})
				next = cp + 1
			}
		}()
		var failed atomic.Pointer[error]
		var pending sync.WaitGroup
		pending.Add(n)
		base := benchDay.Unix() + int64(iter)*100_000
		start := time.Now()
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
				time.Sleep(d)
			}
			dev := i % devices
			log.AppendAsync(benchLocation(topics[dev], dev, i/devices, base+int64(i/devices)*10), func(seq uint64, err error) {
				if err != nil {
					failed.CompareAndSwap(nil, &err)
				} else if seq >= first && seq <= last {
					acked[seq-first].Store(time.Now().UnixNano())
				}
				pending.Done()
			})
		}
		feedTook += time.Since(start)
		sent += n
		pending.Wait()
		if err := failed.Load(); err != nil {
			b.Fatalf("append: %v", *err)
		}
		select {
		case <-watchDone:
		case <-time.After(30 * time.Second):
			b.Fatalf("projector at %d after 30 s, want %d", p.Checkpoint(), last)
		}
		for i := range n {
			seq := first + uint64(i)
			j, _ := slices.BinarySearchFunc(marks, seq, func(m reached, s uint64) int {
				switch {
				case m.seq < s:
					return -1
				case m.seq > s:
					return 1
				}
				return 0
			})
			if j == len(marks) {
				b.Fatalf("no checkpoint mark covers seq %d", seq)
			}
			lag := time.Duration(marks[j].at - acked[i].Load())
			if lag < 0 {
				early++ // the head moves before acknowledgements run
			}
			lags = append(lags, max(lag, 0))
		}
	}
	slices.Sort(lags)
	pct := func(q float64) float64 {
		return float64(lags[min(len(lags)-1, int(q*float64(len(lags))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(sent)/feedTook.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50-lag-ms")
	b.ReportMetric(pct(0.99), "p99-lag-ms")
	b.ReportMetric(pct(1), "max-lag-ms")
	b.ReportMetric(100*float64(early)/float64(len(lags)), "%applied-before-ack")
}

// BenchmarkHistoryRange reads one day of one device: 10,000 fixes, among
// its own fixes of the days before and after and 50 other devices' fixes
// of the same three days, from projections reopened as after a restart.
// Target: under 20 ms per read.
func BenchmarkHistoryRange(b *testing.B) {
	const (
		perDay  = 10_000
		others  = 50
		otherN  = 3_000 // per other device over three days
		aroundN = 2_000 // target device, day before and day after
	)
	log := eventstest.OpenLog(b)
	const target = "owntracks/bench/target"
	// Neighbouring device ids sort right next to the target's keys.
	otherTopic := func(d int) string {
		switch d {
		case 0:
			return "owntracks/bench/targes"
		case 1:
			return "owntracks/bench/targeu"
		}
		return fmt.Sprintf("owntracks/bench%02d/phone", d)
	}
	var evs []events.Event
	for _, a := range benchAreas {
		evs = append(evs, areaEvent(a))
	}
	dayStart, dayEnd := benchDay.Unix(), benchDay.Unix()+86400
	for k := range aroundN / 2 {
		evs = append(evs, benchLocation(target, 999, k, dayStart-86400+int64(k)*40))
	}
	for k := range perDay {
		evs = append(evs, benchLocation(target, 999, k, dayStart+int64(k)*8)) // 80,000 s of the day
	}
	for d := range others { // each over the three days
		for k := range otherN {
			evs = append(evs, benchLocation(otherTopic(d), d, k, dayStart-86400+int64(k)*86))
		}
	}
	for k := range aroundN / 2 {
		evs = append(evs, benchLocation(target, 999, k, dayEnd+int64(k)*40))
	}
	// Arrival order: by receive time, as phones would deliver.
	slices.SortStableFunc(evs, func(a, c events.Event) int { return a.Received.Compare(c.Received) })
	appendFast(b, log, len(evs), func(i int) events.Event { return evs[i] })

	ctx := b.Context()
	root := b.TempDir()
	p, err := projector.Open(ctx, root, log, owntracks.Decoder{}, nil, projector.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Close(); err != nil {
		b.Fatal(err)
	}
	p, err = projector.Open(ctx, root, log, owntracks.Decoder{}, nil, projector.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()

	dev := projections.DeviceID("bench/target")
	pts := make([]projections.Point, 0, perDay)
	read := func() {
		pts = pts[:0]
		if err := p.History(dev, dayStart, dayEnd, func(pt projections.Point) error {
			pts = append(pts, pt)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if len(pts) != perDay || pts[0].Tst != dayStart || pts[len(pts)-1].Tst != dayStart+(perDay-1)*8 {
			b.Fatalf("read %d points, want %d of the day in order", len(pts), perDay)
		}
	}
	t0 := time.Now()
	read() // cold: block cache empty after the reopen
	cold := time.Since(t0)
	var took time.Duration
	for b.Loop() {
		t0 := time.Now()
		read()
		took += time.Since(t0)
	}
	b.ReportMetric(float64(took)/float64(b.N)/float64(time.Millisecond), "ms/read")
	b.ReportMetric(float64(cold)/float64(time.Millisecond), "first-read-ms")
	b.ReportMetric(perDay, "points/read")
}
