package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events/eventstest"
)

// TestGeocoderURL: with --geocoder-url the Recorder API's answers gain
// addr once the service has named the place, asked in the background (a
// phone's message never waits for it, and no message asks it: only a
// read does), after cc and before locality as in the Recorder; the
// addresses survive a restart in the data directory.
func TestGeocoderURL(t *testing.T) {
	var asked atomic.Int32
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.URL.Path != "/reverse" || r.URL.Query().Get("format") != "jsonv2" {
			http.Error(w, "no", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, `{"display_name":"Korenmarkt 1, 9000 Gent, Belgium","address":{"road":"Korenmarkt"}}`)
	}))
	defer svc.Close()

	data := filepath.Join(t.TempDir(), "data")
	expect(t, data, `user "adm"`, "user", "add", "adm", "--admin")
	expect(t, data, `user "bob"`, "user", "add", "bob")
	s := startServer(t, data, "--geocoder-url", svc.URL, "--geocoder-interval", "10ms")
	phone, err := tryConnectMQTT(s.mqtt, "bob-phone", "bob", cmdPassword)
	if err != nil {
		t.Fatal(err)
	}
	tst := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix()
	eventstest.Publish(t, phone, "owntracks/bob/phone", 1, false, fmt.Appendf(nil, `{"_type":"location","lat":51.0543,"lon":3.7208,"tst":%d,"tid":"bp"}`, tst))
	waitCaughtUp(t, "http://"+s.http)
	if n := asked.Load(); n != 0 {
		t.Fatalf("the geocoder was asked %d times by ingest, want 0 (only reads ask)", n)
	}

	const q = "/api/0/locations?user=bob&device=phone&from=2026-03-01&to=2026-03-02"
	first := geoGet(t, s, q)
	if !strings.Contains(first, `"ghash":"u14dkwj","cc":"BE","locality":"Gent","isorcv"`) || strings.Contains(first, `"addr"`) {
		t.Fatalf("first answer %s: want cc and locality offline, no addr yet", first)
	}
	var got string
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(got, `"addr"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		got = geoGet(t, s, q)
	}
	if !strings.Contains(got, `"cc":"BE","addr":"Korenmarkt 1, 9000 Gent, Belgium","locality":"Gent"`) {
		t.Fatalf("answer %s: want addr between cc and locality", got)
	}
	if g := geoGet(t, s, q+"&format=geojson"); !strings.Contains(g, `"address":"Korenmarkt 1, 9000 Gent, Belgium"`) {
		t.Errorf("GeoJSON %s: want the address", g)
	}
	if l := geoGet(t, s, "/api/0/last?user=bob"); !strings.Contains(l, `"cc":"BE","addr":"Korenmarkt 1, 9000 Gent, Belgium","locality":"Gent"`) {
		t.Errorf("/api/0/last %s: want the place", l)
	}
	s.stop(t)
	if _, err := os.Stat(filepath.Join(data, "geocoder-cache.jsonl")); err != nil {
		t.Fatalf("no cache file after a stop: %v", err)
	}

	before := asked.Load()
	s = startServer(t, data, "--geocoder-url", svc.URL)
	waitCaughtUp(t, "http://"+s.http)
	if got := geoGet(t, s, q); !strings.Contains(got, `"addr":"Korenmarkt 1, 9000 Gent, Belgium"`) {
		t.Errorf("after a restart: %s, want the address from the cache file", got)
	}
	if n := asked.Load(); n != before {
		t.Errorf("asked %d more times after the restart, want 0", n-before)
	}
}

func geoGet(t *testing.T, s *server, path string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.http+path, nil)
	req.SetBasicAuth("adm", cmdPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", path, res.Status, b)
	}
	return string(b)
}
