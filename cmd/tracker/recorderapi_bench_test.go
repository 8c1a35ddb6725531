package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"tracker/events/recorder"
)

// benchPayload is a location as the iOS app sends it (~330 bytes).
func benchPayload(tid string, tst int64, lat, lon float64) []byte {
	return fmt.Appendf(nil, `{"_type":"location","BSSID":"a0:b1:c2:d3:e4:f5","SSID":"home-network","acc":5,"alt":41,"batt":81,"bs":1,`+
		`"conn":"w","created_at":%d,"lat":%.6f,"lon":%.6f,"m":1,"p":101.264,"tid":%q,"topic":"owntracks/x/phone","tst":%d,"vac":3,"vel":4,"t":"u","inregions":["Home"]}`,
		tst+1, lat, lon, tid, tst)
}

// BenchmarkRecorderAPI measures the Recorder-compatible answers on the
// data of issue 12's comparison: a Recorder store of 30,000 locations from
// 20 users, 15,000 of them u0/phone's, imported with `tracker import
// recorder`; then live-ingested data (2,000 fixes of one phone through
// the embedded broker, and 979 more phones, for 1,000 devices). It
// reports per request:
//
//   - /api/0/locations: µs per point served (json and gpx) and the peak
//     live heap during the answer, for the whole range and a tenth of it
//     (flat: streamed);
//
//   - /api/0/last and /ws/last's LAST: ms for 20 devices, then 1,000.
//
// Each time is also given as CPU time of the process (server and client
// together), which other work on the machine bends less than wall time.
//
//	go test -run '^$' -bench RecorderAPI -benchtime 5x ./cmd/tracker/
func BenchmarkRecorderAPI(b *testing.B) {
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	store := filepath.Join(dir, "recorder")
	face := base64.StdEncoding.EncodeToString(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 1500)...))
	start := time.Date(2025, 10, 1, 0, 0, 0, 0, time.UTC)
	for u := range 20 {
		n := 15_000
		if u > 0 {
			n = 15_000 / 19
		}
		user := fmt.Sprintf("u%d", u)
		files := map[string][]byte{}
		for i := range n {
			at := start.Add(time.Duration(i) * 10 * time.Minute)
			name := "rec/" + user + "/phone/" + at.Format("2006-01") + ".rec"
			files[name] = recorder.AppendLine(files[name], at.Add(3*time.Second), "*",
				benchPayload(user, at.Unix(), 52+float64(i%1000)/1e4, 13+float64(i%777)/1e4))
		}
		for name, f := range files {
			writeAt(b, store, name, f, start)
		}
		writeAt(b, store, "cards/"+user+"/"+user+".json", fmt.Appendf(nil, `{"_type":"card","name":"User %d","face":%q}`+"\n", u, face), start)
	}
	t0 := time.Now()
	var out, errOut bytes.Buffer
	if err := run(b.Context(), []string{"import", "recorder", store, "--data", data}, &out, &errOut); err != nil {
		b.Fatalf("import: %v\n%s", err, errOut.String())
	}
	b.Logf("imported 30,000 locations in %v", time.Since(t0).Round(time.Millisecond))

	httpAddr, mqttAddr := freeAddr(b), freeAddr(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--http", httpAddr, "--mqtt-listen", mqttAddr, "--log-level", "warn"}, io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		<-done
	}()
	base := "http://" + httpAddr
	waitHealthy(b, base, done)
	benchCaughtUp(b, base)

	locations := func(user string, from, to time.Time, format string) string {
		return fmt.Sprintf("%s/api/0/locations?user=%s&device=phone&from=%s&to=%s&format=%s",
			base, user, from.Format("2006-01-02T15:04:05"), to.Format("2006-01-02T15:04:05"), format)
	}
	end := start.AddDate(0, 11, 0)
	b.Run("imported", func(b *testing.B) {
		benchLocations(b, locations("u0", start, end, "json"), 15_000, "json")
		benchLocations(b, locations("u0", start, end, "gpx"), 15_000, "gpx")
		// A tenth of the range: the heap must not grow with the points.
		benchLocations(b, locations("u0", start, start.Add(1500*10*time.Minute), "json"), 1500, "json-tenth")
		benchLast(b, base, 20)
	})

	// Live: one phone sends 2,000 fixes, 979 more phones one each.
	liveStart := start.AddDate(0, 6, 0)
	publishMany(b, mqttAddr, "live", 2000, liveStart)
	for i := range 979 {
		publishMany(b, mqttAddr, fmt.Sprintf("p%d", i), 1, liveStart)
	}
	benchCaughtUp(b, base)
	b.Run("live", func(b *testing.B) {
		benchLocations(b, locations("live", liveStart, liveStart.Add(time.Hour), "json"), 2000, "json")
		benchLocations(b, locations("live", liveStart, liveStart.Add(time.Hour), "gpx"), 2000, "gpx")
		benchLast(b, base, 1000)
	})
}

// publishMany publishes n fixes of user/phone, a second apart from at, with
// up to 64 in flight.
func publishMany(b *testing.B, addr, user string, n int, at time.Time) {
	b.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("bench-" + user).
		SetAutoReconnect(false).SetMaxResumePubInFlight(64))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	var toks []paho.Token
	for i := range n {
		tst := at.Unix() + int64(i)
		toks = append(toks, c.Publish("owntracks/"+user+"/phone", 1, false, benchPayload(user[:2], tst, 48+float64(i%1000)/1e4, 11+float64(i%777)/1e4)))
		if len(toks) == 64 {
			for _, t := range toks {
				t.Wait()
			}
			toks = toks[:0]
		}
	}
	for _, t := range toks {
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			b.Fatalf("publish: %v", t.Error())
		}
	}
}

// benchCaughtUp waits until the projections hold the whole log.
func benchCaughtUp(b *testing.B, base string) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"lag":0`)) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatal("projections not caught up within 60s")
}

// benchLocations times GET url (want points) b.N times and reports µs
// per point and the peak live heap during one answer.
func benchLocations(b *testing.B, url string, want int, name string) {
	b.Helper()
	get := func() int64 {
		res, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		n, err := io.Copy(io.Discard, res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %s %v", url, res.Status, err)
		}
		return n
	}
	size := get() // warm
	var took time.Duration
	cpu0 := processCPU()
	for range b.N {
		t0 := time.Now()
		get()
		took += time.Since(t0)
	}
	cpu := processCPU() - cpu0
	peak := peakHeap(func() { get() })
	b.ReportMetric(float64(took.Microseconds())/float64(b.N)/float64(want), "µs/point-"+name)
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/float64(want), "cpu-µs/point-"+name)
	b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "ms/req-"+name)
	b.ReportMetric(peak/(1<<20), "peak-live-heap-MB-"+name)
	b.Logf("%s: %d points, %d bytes", name, want, size)
}

// peakHeap returns the largest live heap (as marked by the collector)
// seen while fn runs, above what was live before: flat when an answer
// does not hold on to the points it sends.
func peakHeap(fn func()) float64 {
	const name = "/gc/heap/live:bytes"
	runtime.GC()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: name}}
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	return float64(peak.Load()) - float64(min(peak.Load(), base))
}

// benchLast times /api/0/last and /ws/last's LAST for devices devices.
func benchLast(b *testing.B, base string, devices int) {
	b.Helper()
	if res, err := http.Get(base + "/api/0/last"); err == nil { // warm
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	var took time.Duration
	cpu0 := processCPU()
	for range b.N {
		t0 := time.Now()
		res, err := http.Get(base + "/api/0/last")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		took += time.Since(t0)
		if n := bytes.Count(body, []byte(`"_type":"location"`)); n != devices {
			b.Fatalf("/api/0/last: %d devices, want %d", n, devices)
		}
	}
	b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), fmt.Sprintf("ms-last-%d", devices))
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), fmt.Sprintf("cpu-ms-last-%d", devices))

	conn, res, err := websocket.DefaultDialer.Dial("ws"+base[len("http"):]+"/ws/last", nil)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	defer conn.Close()
	took = 0
	cpu0 = processCPU()
	for range b.N {
		t0 := time.Now()
		if err := conn.WriteMessage(websocket.TextMessage, []byte("LAST")); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, m, err := conn.ReadMessage()
			if err != nil {
				b.Fatal(err)
			}
			if string(m) == "LAST" {
				break
			}
			if bytes.Contains(m, []byte(`"_type":"location"`)) {
				n++
			}
		}
		took += time.Since(t0)
		if n != devices {
			b.Fatalf("LAST: %d devices, want %d", n, devices)
		}
	}
	b.ReportMetric(float64(took.Microseconds())/1000/float64(b.N), fmt.Sprintf("ms-LAST-%d", devices))
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/1000/float64(b.N), fmt.Sprintf("cpu-ms-LAST-%d", devices))
}

// processCPU is the CPU time this process (server and client) has used:
// a figure less bent than wall time by other work on the machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
