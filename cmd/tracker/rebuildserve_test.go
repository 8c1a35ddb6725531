package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
	"tracker/events/badgerlog"
)

// fillLog appends n locations of 200 phones straight into data's log, in
// large group commits.
func fillLog(t testing.TB, data string, n int) {
	t.Helper()
	l, err := badgerlog.Open(dataDir(data).logDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	errs := make(chan error, 1)
	for i := 1; i <= n; i++ {
		dev := i % 200
		l.AppendAsync(events.Event{
			Topic: fmt.Sprintf("owntracks/user%d/phone", dev), QoS: 1, Source: events.SourceEmbedded,
			Payload: fmt.Appendf(nil, `{"_type":"location","tid":"%02d","lat":%.5f,"lon":%.5f,"tst":%d,"acc":12,"batt":81}`,
				dev, 50+float64(i%1000)/1000, 4+float64(i%777)/1000, base.Unix()+int64(i)),
			Received: base.Add(time.Duration(i) * time.Second),
		}, func(_ uint64, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// staleProjections builds data's projections, then marks them as made by
// an older program, so the next start must rebuild them.
func staleProjections(t testing.TB, data string) {
	t.Helper()
	var out, errOut syncBuffer
	if err := run(t.Context(), []string{"rebuild", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, errOut.String())
	}
	gen, err := os.Readlink(filepath.Join(data, "projections"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(data, gen)).WithLogger(nil).WithCompression(options.None))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte("m/schema"), binary.BigEndian.AppendUint64(nil, 1))
	}); err != nil {
		t.Fatal(err)
	}
}

// startupTimes starts `tracker serve` as its own process on data and
// measures from the process start until a phone's QoS 1 publish is
// acknowledged, and until /readyz is ready (the rebuild done). rebuilding
// reports whether /readyz still said the projections were behind right
// after the acknowledgement.
func startupTimes(t testing.TB, data string) (ack, ready time.Duration, rebuilding bool, stderr string) {
	t.Helper()
	httpAddr, mqttAddr := freeAddr(t), freeAddr(t)
	errBuf := &syncBuffer{}
	cmd := exec.Command(os.Args[0], "serve", "--data", data, "--http", httpAddr, "--mqtt-listen", mqttAddr)
	cmd.Env = append(os.Environ(), "TRACKER_TEST_AS_MAIN=1")
	cmd.Stderr = errBuf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	deadline := start.Add(120 * time.Second)
	for ack == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no PUBACK within 120s of starting the server\n%s", errBuf.String())
		}
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, errBuf.String())
		default:
		}
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID("early-phone").
			SetAutoReconnect(false).SetConnectTimeout(time.Second))
		if tok := c.Connect(); !tok.WaitTimeout(2*time.Second) || tok.Error() != nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		tok := c.Publish("owntracks/early/phone", 1, false, `{"_type":"location","lat":50.1,"lon":4.1,"tst":1800000000,"tid":"ea"}`)
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			ack = time.Since(start)
		}
		c.Disconnect(0)
	}
	readyOnce := func() (bool, error) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var out struct {
			Lag uint64 `json:"lag"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode == http.StatusOK && out.Lag == 0, nil
	}
	ok, err := readyOnce()
	rebuilding = err == nil && !ok
	for {
		if ok, _ := readyOnce(); ok {
			ready = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 120s\n%s", errBuf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ack, ready, rebuilding, errBuf.String()
}

// TestPhonesServedDuringStartupRebuild: when a start must rebuild the
// projections (here: made by an older schema), phones connect and their
// QoS 1 publishes are acknowledged while the rebuild still runs.
func TestPhonesServedDuringStartupRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 300,000-event log and starts a server process")
	}
	data := filepath.Join(t.TempDir(), "data")
	fillLog(t, data, 300_000)
	staleProjections(t, data)
	ack, ready, rebuilding, stderr := startupTimes(t, data)
	t.Logf("300,000 events, projections of an older schema: PUBACK %v after the process started, ready (rebuilt) after %v", ack.Round(time.Millisecond), ready.Round(time.Millisecond))
	if !rebuilding || ack >= ready {
		t.Fatalf("the phone was acknowledged only once the rebuild was done (ack %v, ready %v)\n%s", ack, ready, stderr)
	}
}

// BenchmarkPhonesDuringStartupRebuild: on a 1,000,000-event log whose
// projections an older schema made, the time from the process start until
// a phone's QoS 1 publish is acknowledged, and until the rebuild is done.
//
//	go test -run '^$' -bench PhonesDuringStartupRebuild -benchtime 1x ./cmd/tracker/
func BenchmarkPhonesDuringStartupRebuild(b *testing.B) {
	data := filepath.Join(b.TempDir(), "data")
	fillLog(b, data, 1_000_000)
	for range b.N {
		staleProjections(b, data)
		ack, ready, _, stderr := startupTimes(b, data)
		for l := range strings.Lines(stderr) {
			for _, m := range []string{"event log open", "rebuilding projections", "projections open", "tracker serving", "projections rebuilt"} {
				if strings.Contains(l, `msg="`+m) {
					b.Log(strings.TrimSpace(l))
				}
			}
		}
		b.ReportMetric(ack.Seconds(), "first-PUBACK-s")
		b.ReportMetric(ready.Seconds(), "rebuilt-ready-s")
	}
}
