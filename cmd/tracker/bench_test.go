package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
)

// procStatusMB reads a field such as VmRSS or VmHWM of a process, in MB.
func procStatusMB(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return -1
}

// prefill appends n location events for 200 devices straight into a log.
func prefill(b *testing.B, data string, n int) {
	b.Helper()
	l, err := badgerlog.Open(dataDir(data).logDir(), badgerlog.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 256 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				dev := int(i) % 200
				payload := fmt.Appendf(nil, `{"_type":"location","tid":"%02d","lat":%.5f,"lon":%.5f,"tst":%d,"acc":12,"alt":41,"vel":4,"batt":81,"conn":"w"}`,
					dev, 50+float64(i%1000)/1000, 4+float64(i%777)/1000, base.Unix()+i)
				if _, err := l.Append(context.Background(), events.Event{
					Topic: fmt.Sprintf("owntracks/user%d/phone", dev), Payload: payload, QoS: 1,
					Source: events.SourceEmbedded, Received: base.Add(time.Duration(i) * time.Second),
				}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	_ = l.Close()
}

// BenchmarkServeMemoryAndIngest runs `tracker serve` as its own process on
// a log of 1,000,000 events: its first start (the projections rebuilt from
// the log while phones are served) with its peak RSS and RSS at rest once
// the rebuild is done, its RSS at rest after a restart, then QoS 1 load
// from 100 publishers through the embedded broker: the durable message
// rate and the server's peak RSS. SERVE_MEMORY_DATA=DIR keeps the
// prefilled log in DIR for the next run (its projections are removed
// before each first start); SERVE_MEMORY_LOAD=0 stops after the restart's
// figures at rest. first-start-peak-anon-MB and -file-MB say what the
// first start's peak was made of (sampled every 20 ms).
//
//	go test -run '^$' -bench ServeMemory -benchtime 1x ./cmd/tracker/
func BenchmarkServeMemoryAndIngest(b *testing.B) {
	const events = 1_000_000
	data := os.Getenv("SERVE_MEMORY_DATA")
	if data == "" {
		data = filepath.Join(b.TempDir(), "data")
	}
	if _, err := os.Stat(dataDir(data).logDir()); err != nil {
		start := time.Now()
		prefill(b, data, events)
		b.Logf("prefilled %d events in %v", events, time.Since(start).Round(time.Millisecond))
	}

	// The product, not this test binary: the test's own packages (the
	// browser driver's tables) would add to the memory measured.
	bin := buildTracker(b)
	for range b.N {
		removeProjections(b, data)
		httpAddr, mqttAddr := freeAddr(b), freeAddr(b)
		// The first start builds the projections from the whole log; the
		// figure at rest is taken after a restart, as a server lives.
		start := time.Now()
		srv := startProgram(b, bin, data, httpAddr, "--mqtt-listen", mqttAddr, "--log-level", "warn")
		b.ReportMetric(time.Since(start).Seconds(), "first-start-healthy-s")
		pid := srv.cmd.Process.Pid
		sampled := sampleRSS(pid)
		waitRebuilt(b, "http://"+httpAddr, srv.done)
		b.ReportMetric(time.Since(start).Seconds(), "first-start-rebuilt-s")
		b.ReportMetric(procStatusMB(pid, "VmHWM"), "first-start-peak-RSS-MB")
		time.Sleep(3 * time.Second)
		b.ReportMetric(procStatusMB(pid, "VmRSS"), "first-start-rest-RSS-MB")
		peak := sampled()
		b.ReportMetric(peak.anon, "first-start-peak-anon-MB")
		b.ReportMetric(peak.file, "first-start-peak-file-MB")
		_ = srv.cmd.Process.Signal(syscall.SIGTERM)
		<-srv.done
		// 100 publishers from one address: beyond the per-address cap.
		srv = startProgram(b, bin, data, httpAddr, "--mqtt-listen", mqttAddr, "--log-level", "warn", "--mqtt-max-conns-per-address", "0")
		time.Sleep(3 * time.Second)
		pid = srv.cmd.Process.Pid
		b.ReportMetric(procStatusMB(pid, "VmRSS"), "rest-RSS-MB")
		b.ReportMetric(procStatusMB(pid, "RssAnon"), "rest-anon-MB")
		b.ReportMetric(procStatusMB(pid, "RssFile"), "rest-file-MB")
		if os.Getenv("SERVE_MEMORY_LOAD") == "0" {
			_ = srv.cmd.Process.Kill()
			<-srv.done
			continue
		}

		for _, publishers := range []int{100, 4} {
			rate := drive(b, mqttAddr, publishers, 10*time.Second)
			b.ReportMetric(rate, fmt.Sprintf("msgs/s-%dpub", publishers))
		}
		b.ReportMetric(procStatusMB(pid, "VmHWM"), "peak-RSS-MB")
		b.ReportMetric(procStatusMB(pid, "RssAnon"), "load-anon-MB")
		time.Sleep(3 * time.Second)
		b.ReportMetric(procStatusMB(pid, "VmRSS"), "after3s-RSS-MB")
		time.Sleep(60 * time.Second) // the Go scavenger returns freed memory gradually
		b.ReportMetric(procStatusMB(pid, "VmRSS"), "after60s-RSS-MB")
		b.ReportMetric(procStatusMB(pid, "RssAnon"), "after60s-anon-MB")
		_ = srv.cmd.Process.Kill()
		<-srv.done
	}
}

// buildTracker builds the tracker program into a temporary directory.
func buildTracker(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "tracker")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// rssSample is a process's resident memory in MB: anonymous (mostly Go's
// heap) and file-backed (mapped Badger files and the binary).
type rssSample struct{ anon, file float64 }

// sampleRSS reads pid's RSS every 20 ms until the returned function is
// called, which returns the sample taken at the highest RSS: what the
// peak was made of.
func sampleRSS(pid int) func() rssSample {
	stop, done := make(chan struct{}), make(chan rssSample)
	go func() {
		var peak rssSample
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- peak
				return
			case <-t.C:
			}
			s := rssSample{procStatusMB(pid, "RssAnon"), procStatusMB(pid, "RssFile")}
			if s.anon+s.file > peak.anon+peak.file {
				peak = s
			}
		}
	}()
	return func() rssSample { close(stop); return <-done }
}

// removeProjections deletes the projections of a data directory, so the
// next start rebuilds them from the log.
func removeProjections(b *testing.B, data string) {
	b.Helper()
	entries, err := os.ReadDir(data)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "projections") {
			if err := os.RemoveAll(filepath.Join(data, e.Name())); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// waitRebuilt waits until /readyz reports the projections caught up with
// the log (the first start's rebuild is done).
func waitRebuilt(b *testing.B, base string, done <-chan error) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			b.Fatalf("server exited: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			var out struct {
				Head uint64 `json:"log_head"`
				Lag  uint64 `json:"lag"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && out.Head > 0 && out.Lag == 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatal("projections not rebuilt within 5 minutes")
}

// drive publishes QoS 1 messages from n sequential publishers for d and
// returns acknowledged (durable) messages per second.
func drive(b *testing.B, addr string, n int, d time.Duration) float64 {
	var count atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	begin := time.Now()
	for p := range n {
		opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("bench-%d-%d", n, p)).
			SetAutoReconnect(false).SetMaxResumePubInFlight(1)
		c := paho.NewClient(opts)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatalf("connect: %v", tok.Error())
		}
		wg.Go(func() {
			defer c.Disconnect(0)
			topic := fmt.Sprintf("owntracks/bench%d/phone", p)
			for i := 0; time.Now().Before(stop); i++ {
				payload := fmt.Appendf(nil, `{"_type":"location","tid":"bb","lat":51.0%d,"lon":4.0,"tst":%d,"acc":10,"batt":80}`, i%100, 1750000000+i)
				tok := c.Publish(topic, 1, false, payload)
				if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					b.Errorf("publish: %v", tok.Error())
					return
				}
				count.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(count.Load()) / time.Since(begin).Seconds()
}
