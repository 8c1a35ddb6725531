package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and returns
// it. Mounting needs root: CI runs as root, so there it must work; a
// developer's machine without root skips.
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set but the test does not run as root: cannot mount the tmpfs the full-disk test needs")
		}
		t.Skip("mounting a tmpfs needs root (CI runs as root)")
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// phoneLog records, per phone, what was sent and what was acknowledged.
type phoneLog struct {
	mu      sync.Mutex
	acked   map[string]bool // "topic payload"
	refused int             // sends that got no acknowledgement (retried)
	lastAck time.Time
}

func (p *phoneLog) ack(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acked[key] = true
	p.lastAck = time.Now()
}

func (p *phoneLog) refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused++
}

func (p *phoneLog) counts() (acked, refused int, last time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked), p.refused, p.lastAck
}

// mqttPhone publishes numbered QoS 1 locations (padded to pad bytes, as
// a phone with a long history would) like a phone: each message is sent
// again, over a new connection if need be, until it is acknowledged.
func mqttPhone(t *testing.T, addr, name string, pad int, stop <-chan struct{}, log *phoneLog) {
	var c paho.Client
	dial := func() bool {
		opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(name).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second)
		c = paho.NewClient(opts)
		tok := c.Connect()
		return tok.WaitTimeout(3*time.Second) && tok.Error() == nil
	}
	topic := "owntracks/" + name + "/phone"
	for i := 0; ; {
		select {
		case <-stop:
			if c != nil {
				c.Disconnect(0)
			}
			return
		default:
		}
		if c == nil || !c.IsConnectionOpen() {
			if !dial() {
				time.Sleep(100 * time.Millisecond)
				continue
			}
		}
		payload := fmt.Sprintf(`{"_type":"location","lat":50,"lon":4,"tst":%d,"tid":"%s","pad":"%s"}`, 1700000000+i, name[:2], strings.Repeat("x", pad))
		tok := c.Publish(topic, 1, false, payload)
		if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
			log.ack(topic + " " + payload)
			i++
			continue
		}
		log.refuse() // no PUBACK: send the same message again
		c.Disconnect(0)
		time.Sleep(50 * time.Millisecond)
	}
}

// httpPhone posts numbered locations to /pub, again until answered 200.
func httpPhone(base, name string, pad int, stop <-chan struct{}, log *phoneLog, codes *sync.Map) {
	topic := "owntracks/" + name + "/phone"
	for i := 0; ; {
		select {
		case <-stop:
			return
		default:
		}
		payload := fmt.Sprintf(`{"_type":"location","lat":51,"lon":5,"tst":%d,"tid":"hp","pad":"%s"}`, 1700000000+i, strings.Repeat("y", pad))
		req, _ := http.NewRequest(http.MethodPost, base+"/pub", strings.NewReader(payload))
		req.Header.Set("X-Limit-U", name)
		req.Header.Set("X-Limit-D", "phone")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			n, _ := codes.LoadOrStore(resp.StatusCode, new(int))
			*n.(*int)++
			if resp.StatusCode == http.StatusOK {
				log.ack(topic + " " + payload)
				i++
				continue
			}
		}
		log.refuse()
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFullDiskRefusesAndResumes fills the data volume (a real tmpfs)
// while phones publish over MQTT (embedded broker, TCP) and HTTP (/pub):
// the server, a separate process so a SIGBUS would show, must stop
// acknowledging before the volume is full, say so in /readyz, /metrics
// and once in its log, and take the phones' retries once space is freed.
// Every acknowledged message must be in the log.
func TestFullDiskRefusesAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tmpfs under a server process")
	}
	for _, tc := range []struct {
		name            string
		volume, minFree int64
		flag            []string
	}{
		{"min-free-disk 48MB", 96 << 20, 48 << 20, []string{"--min-free-disk", "48MB"}},
		{"default", 192 << 20, badgerlog.DefaultMinFree, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { fullDiskTrial(t, tc.volume, tc.minFree, tc.flag) })
	}
}

func fullDiskTrial(t *testing.T, volume, minFree int64, flag []string) {
	mnt := mountTmpfs(t, volume)
	data := filepath.Join(mnt, "data")
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	srv := startChild(t, data, httpAddr, append([]string{"--mqtt-listen", mqttAddr}, flag...)...)
	base := "http://" + httpAddr

	logs := map[string]*phoneLog{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	codes := &sync.Map{}
	// Each phone gets its own log before it starts: the goroutines never
	// touch the map, which the test reads while they run.
	for _, name := range []string{"ann", "bob"} {
		pl := &phoneLog{acked: map[string]bool{}}
		logs[name] = pl
		wg.Go(func() { mqttPhone(t, mqttAddr, name, 2000, stop, pl) })
	}
	hugo := &phoneLog{acked: map[string]bool{}}
	logs["hugo"] = hugo
	wg.Go(func() { httpPhone(base, "hugo", 2000, stop, hugo, codes) })
	totals := func() (acked, refused int, last time.Time) {
		for _, l := range logs {
			a, r, at := l.counts()
			acked, refused = acked+a, refused+r
			if at.After(last) {
				last = at
			}
		}
		return
	}

	// Fill the volume with another file, 1 MB at a time, while the phones
	// publish, until the server refuses: the phones' own messages take
	// the last megabytes.
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0xaa}, 1<<20)
	deadline := time.Now().Add(60 * time.Second)
	for !srvDiskFull(t, base) {
		if time.Now().After(deadline) {
			a, r, _ := totals()
			t.Fatalf("the server did not report the disk full within 60s (%d MB free; %d acknowledged, %d refused)\n%s", freeBytes(t, mnt)>>20, a, r, tail(srv.stderr.String(), 2000))
		}
		if freeBytes(t, mnt) > minFree+(2<<20) {
			if _, err := filler.Write(chunk); err != nil {
				t.Fatalf("filling: %v", err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ackedAtFull, _, _ := totals()
	t.Logf("disk reported full with %d MB free; %d messages acknowledged so far", freeBytes(t, mnt)>>20, ackedAtFull)

	// While full: nothing more is acknowledged, for long enough that
	// Badger flushes and compacts what it took, and the server lives.
	time.Sleep(3 * time.Second)
	ackedFull, refused, lastAck := totals()
	if ackedFull > ackedAtFull+5 { // a few in flight when the check turned
		t.Errorf("%d messages acknowledged while the disk was full", ackedFull-ackedAtFull)
	}
	if time.Since(lastAck) < 2*time.Second {
		t.Errorf("a message was acknowledged %v ago, with the disk full", time.Since(lastAck))
	}
	if refused == 0 {
		t.Error("no send was refused while the disk was full")
	}
	if n, ok := codes.Load(http.StatusServiceUnavailable); !ok || *n.(*int) == 0 {
		t.Error("/pub never answered 503 while the disk was full")
	}
	select {
	case err := <-srv.done:
		t.Fatalf("server died with the disk full: %v\n%s", err, tail(srv.stderr.String(), 3000))
	default:
	}
	// An admin write is refused the same way (open mode on loopback: the
	// test is admin).
	area := `{"name":"Gym","center":{"lat":50,"lon":4},"radius":100}`
	if resp, err := http.Post(base+"/api/v1/areas", "application/json", strings.NewReader(area)); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "disk nearly full") {
			t.Errorf("defining an area with the disk full: %d %s, want 503 saying the disk is nearly full", resp.StatusCode, b)
		}
	}
	metrics := getBody(t, base+"/metrics")
	if !strings.Contains(metrics, "tracker_disk_full 1") {
		t.Errorf("/metrics lacks tracker_disk_full 1:\n%s", grepLines(metrics, "tracker_disk"))
	}

	// A restart on the full volume comes up (today it crash-looped). Its
	// shutdown flushed the write-ahead log into a smaller table, so it
	// may take a few more messages before it refuses again.
	srv.terminate(t)
	firstStderr := srv.stderr.String()
	srv = startChild(t, data, httpAddr, append([]string{"--mqtt-listen", mqttAddr}, flag...)...)
	for !srvDiskFull(t, base) {
		if time.Now().After(deadline.Add(60 * time.Second)) {
			t.Fatalf("after the restart the disk was not reported full again (%d MB free)", freeBytes(t, mnt)>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	ackedFull, _, _ = totals()

	// Free the space: the phones' retries land by themselves.
	freed := time.Now()
	_ = filler.Close()
	if err := os.Remove(filler.Name()); err != nil {
		t.Fatal(err)
	}
	var resumed time.Duration
	for {
		a, _, _ := totals()
		if a > ackedFull+20 { // past what was in flight when the disk filled
			resumed = time.Since(freed)
			break
		}
		if time.Since(freed) > 30*time.Second {
			t.Fatalf("nothing acknowledged within 30s of freeing space\n%s", tail(srv.stderr.String(), 3000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for srvDiskFull(t, base) {
		if time.Since(freed) > 10*time.Second {
			t.Fatal("/readyz still reports the disk full 10s after space was freed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	srv.terminate(t)

	stderr := srv.stderr.String()
	for i, out := range []string{firstStderr, stderr} {
		if n := strings.Count(out, "disk nearly full: refusing new messages"); n != 1 {
			t.Errorf("run %d: the refusal was logged %d times, want once", i+1, n)
		}
	}
	stderr = firstStderr + stderr
	if strings.Contains(stderr, "SIGBUS") || strings.Contains(stderr, "unexpected fault address") {
		t.Fatalf("server crashed:\n%s", tail(stderr, 3000))
	}

	lines, _ := logLines(t, "--data", data)
	inLog := map[string]bool{}
	for _, l := range lines {
		if l.Payload != nil {
			inLog[l.Topic+" "+*l.Payload] = true
		}
	}
	acked, lost := 0, 0
	for _, l := range logs {
		for k := range l.acked {
			acked++
			if !inLog[k] {
				lost++
			}
		}
	}
	_, refused, _ = totals()
	t.Logf("acknowledged %d, refused sends (retried) %d, events in log %d, lost %d; acknowledging again %v after space was freed",
		acked, refused, len(lines), lost, resumed.Round(time.Millisecond))
	if lost > 0 {
		t.Fatalf("%d acknowledged messages are missing from the log", lost)
	}
}

// srvDiskFull asks /readyz whether its disk check fails.
func srvDiskFull(t *testing.T, base string) bool {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatalf("readyz: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Checks []struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("readyz: %v", err)
	}
	for _, c := range out.Checks {
		if c.Name == "disk" {
			if !c.OK && (resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(c.Error, "disk nearly full")) {
				t.Errorf("readyz: %d, disk check %q", resp.StatusCode, c.Error)
			}
			return !c.OK
		}
	}
	t.Fatal("readyz has no disk check")
	return false
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
