package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"tracker/events/eventstest"
)

// biggestTable is the largest .sst file of the current projections.
func biggestTable(t *testing.T, data string) string {
	t.Helper()
	gen, err := os.Readlink(filepath.Join(data, "projections"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := filepath.Glob(filepath.Join(data, gen, "*.sst"))
	if len(m) == 0 {
		t.Fatalf("no tables in %s", gen)
	}
	sort.Slice(m, func(i, j int) bool {
		a, _ := os.Stat(m[i])
		b, _ := os.Stat(m[j])
		return a.Size() > b.Size()
	})
	return m[0]
}

// TestServeRebuildsBrokenProjections: the server starts on projections
// broken in several ways, says why it rebuilds them, and serves the same
// friends as before.
func TestServeRebuildsBrokenProjections(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	cases := []struct {
		name    string
		corrupt func(t *testing.T, data string)
	}{
		{"table garbled", func(t *testing.T, data string) {
			f, err := os.OpenFile(biggestTable(t, data), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			if _, err := f.WriteAt(bytes.Repeat([]byte{0x5a}, 512), fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"table truncated", func(t *testing.T, data string) {
			sst := biggestTable(t, data)
			fi, _ := os.Stat(sst)
			if err := os.Truncate(sst, fi.Size()/3); err != nil {
				t.Fatal(err)
			}
		}},
		{"table deleted", func(t *testing.T, data string) {
			if err := os.Remove(biggestTable(t, data)); err != nil {
				t.Fatal(err)
			}
		}},
		{"MANIFEST removed", func(t *testing.T, data string) {
			gen, _ := os.Readlink(filepath.Join(data, "projections"))
			if err := os.Remove(filepath.Join(data, gen, "MANIFEST")); err != nil {
				t.Fatal(err)
			}
		}},
		{"link broken", func(t *testing.T, data string) {
			link := filepath.Join(data, "projections")
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("nowhere", link); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			s := startServer(t, data)
			c := eventstest.Connect(t, s.mqtt, "phone")
			for i := range 300 {
				for _, u := range []string{"ann", "bob", "cyd"} {
					eventstest.Publish(t, c, "owntracks/"+u+"/phone", 1, false, fmt.Appendf(nil, `{"_type":"location","lat":%.4f,"lon":4.3,"tst":%d,"tid":"%s","batt":%d}`, 50+float64(i)/1000, 1700000000+i*60, u[:2], i%100))
				}
			}
			eventstest.Publish(t, c, "owntracks/ann/phone/info", 1, true, []byte(`{"_type":"card","name":"Ann"}`))
			c.Disconnect(100)
			waitCaughtUp(t, "http://"+s.http)
			before := getBody(t, "http://"+s.http+"/api/v1/friends")
			s.stop(t)

			tc.corrupt(t, data)

			s = startServer(t, data)
			waitCaughtUp(t, "http://"+s.http)
			if after := getBody(t, "http://"+s.http+"/api/v1/friends"); after != before {
				t.Errorf("friends after the rebuild:\n%s\nbefore:\n%s", after, before)
			}
			if !strings.Contains(s.stderr.String(), "rebuilding projections from the log") {
				t.Errorf("the server did not say it rebuilt the projections:\n%s", s.stderr.String())
			}
		})
	}
}

// waitCaughtUp waits until /readyz reports the projections caught up
// with the log (lag 0).
func waitCaughtUp(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			var out struct {
				Head uint64 `json:"log_head"`
				Lag  uint64 `json:"lag"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if out.Head > 0 && out.Lag == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("projections not caught up within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
