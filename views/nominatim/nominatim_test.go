package nominatim

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"tracker/projections/geocode"
)

// service is a Nominatim stand-in over real HTTP: it answers with answer
// and records when each request came and what it asked.
type service struct {
	*httptest.Server
	mu     sync.Mutex
	times  []time.Time
	asked  []string // lat,lon
	agents []string
	answer func(w http.ResponseWriter, r *http.Request)
}

func newService(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *service {
	s := &service{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		s.asked = append(s.asked, r.URL.Query().Get("lat")+","+r.URL.Query().Get("lon"))
		s.agents = append(s.agents, r.UserAgent())
		s.mu.Unlock()
		if r.URL.Path != "/reverse" || r.URL.Query().Get("format") != "jsonv2" {
			http.Error(w, "want /reverse?format=jsonv2", http.StatusBadRequest)
			return
		}
		s.answer(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *service) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.times)
}

func paris(w http.ResponseWriter, r *http.Request) {
	_, _ = fmt.Fprintf(w, `{"place_id":1,"lat":%q,"lon":%q,"display_name":"11 Av de Suffren, 75007 Paris, France","address":{"road":"Av de Suffren"}}`,
		r.URL.Query().Get("lat"), r.URL.Query().Get("lon"))
}

// run starts b's worker until the test ends.
func run(t *testing.T, b *Book) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// eventually polls cond until it holds or the test's patience ends.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAddressAnsweredLaterFromTheService(t *testing.T) {
	svc := newService(t, paris)
	b, err := New(Config{URL: svc.URL + "/", Interval: 10 * time.Millisecond, UserAgent: "tracker-test"})
	if err != nil {
		t.Fatal(err)
	}
	// Not known yet: no answer, and the reader does not wait.
	if a, ok := b.Address(48.856826, 2.292713); ok {
		t.Fatalf("Address before any lookup = %q", a)
	}
	run(t, b)
	eventually(t, "the address is known", func() bool { _, ok := b.Address(48.856826, 2.292713); return ok })
	a, _ := b.Address(48.8569, 2.2928) // the same 0.001° cell
	if a != "11 Av de Suffren, 75007 Paris, France" {
		t.Errorf("Address = %q", a)
	}
	if svc.requests() != 1 {
		t.Errorf("%d requests for one cell, want 1", svc.requests())
	}
	if svc.asked[0] != "48.8565,2.2925" || svc.agents[0] != "tracker-test" {
		t.Errorf("asked %q as %q, want the cell's centre 48.8565,2.2925 as tracker-test", svc.asked[0], svc.agents[0])
	}
}

// TestRateLimited: however many positions wait, requests are at least an
// interval apart (Nominatim's policy: one a second by default).
func TestRateLimited(t *testing.T) {
	svc := newService(t, paris)
	const interval = 80 * time.Millisecond
	b, err := New(Config{URL: svc.URL, Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		b.Address(50+float64(i)/100, 4)
	}
	run(t, b)
	eventually(t, "5 requests", func() bool { return svc.requests() == 5 })
	svc.mu.Lock()
	defer svc.mu.Unlock()
	for i := 1; i < len(svc.times); i++ {
		if gap := svc.times[i].Sub(svc.times[i-1]); gap < interval-5*time.Millisecond {
			t.Errorf("request %d came %v after the one before, want ≥ %v", i, gap, interval)
		}
	}
	if d, _ := New(Config{URL: svc.URL}); d.cfg.Interval != time.Second {
		t.Errorf("default interval %v, want 1s", d.cfg.Interval)
	}
}

// TestHostileAnswers: what the service answers cannot grow memory, crash
// the worker or put control characters and HTML into answers.
func TestHostileAnswers(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		want   string // "" with known: no address there
		known  bool   // remembered (else asked again later)
	}{
		{"huge answer", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"display_name":"` + strings.Repeat("a", 4<<20) + `"}`))
		}, "", false},
		{"endless answer", func(w http.ResponseWriter, r *http.Request) {
			for range 1 << 12 {
				if _, err := w.Write([]byte(strings.Repeat(" ", 1024))); err != nil {
					return
				}
			}
		}, "", false},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>busy</html>")) }, "", false},
		{"server error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "overloaded", http.StatusTooManyRequests) }, "", false},
		{"nothing there", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"error":"Unable to geocode"}`)) }, "", true},
		{"long name with controls and markup", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"display_name":"Rue\u0000 de\n\t<script>x</script>\u202e ` + strings.Repeat("é", 400) + `"}`))
		}, "Rue de <script>x</script> " + strings.Repeat("é", (maxAddr-len("Rue de <script>x</script> "))/2), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := newService(t, tt.answer)
			b, err := New(Config{URL: svc.URL, Interval: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			b.Address(51, 4)
			run(t, b)
			eventually(t, "the answer is handled", func() bool { s := b.Stats(); return s.Answered+s.Failed == 1 })
			got, ok := b.Address(51, 4)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("Address = %q, %v; want %q", got, ok, tt.want)
			}
			if len(got) > maxAddr || !utf8.ValidString(got) {
				t.Errorf("address of %d bytes (valid UTF-8: %v), want ≤ %d", len(got), utf8.ValidString(got), maxAddr)
			}
			if s := b.Stats(); (s.Known == 1) != tt.known {
				t.Errorf("stats %+v: remembered %v, want %v", s, s.Known == 1, tt.known)
			}
		})
	}
}

// TestSlowServiceNeverBlocksReaders: a service that does not answer holds
// only the worker, for at most the timeout; readers get their answer from
// what is known at once.
func TestSlowServiceNeverBlocksReaders(t *testing.T) {
	release := make(chan struct{})
	svc := newService(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	b, err := New(Config{URL: svc.URL, Interval: time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	b.put(cellOf(t, 50.85, 4.35), "Grote Markt, Brussel")
	b.mu.Unlock()
	b.Address(51, 4)
	run(t, b)
	eventually(t, "the request is in flight", func() bool { return svc.requests() == 1 })
	for range 1000 { // each returns at once, the worker being stuck
		if a, ok := b.Address(50.85, 4.35); !ok || a != "Grote Markt, Brussel" {
			t.Fatalf("Address of a known cell = %q, %v", a, ok)
		}
		b.Address(52, 5)
	}
	eventually(t, "the stuck request times out", func() bool { return b.Stats().Failed == 1 })
}

func TestBounds(t *testing.T) {
	svc := newService(t, paris)
	t.Run("cache", func(t *testing.T) {
		b, err := New(Config{URL: svc.URL, Interval: time.Millisecond, CacheSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		run(t, b)
		for i := range 5 {
			lat := 50 + float64(i)/100
			b.Address(lat, 4)
			eventually(t, "answered", func() bool { _, ok := b.Address(lat, 4); return ok })
		}
		if s := b.Stats(); s.Known != 3 {
			t.Errorf("%d known, want the bound 3", s.Known)
		}
		if _, ok := b.Address(50, 4); ok {
			t.Errorf("the least recently used cell is still known")
		}
	})
	t.Run("queue", func(t *testing.T) {
		b, err := New(Config{URL: svc.URL, Queue: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 { // no worker: nothing leaves the queue
			b.Address(40+float64(i)/100, 4)
		}
		b.Address(40, 4) // pending: not queued twice, not dropped
		if s := b.Stats(); s.Pending != 2 || s.Dropped != 3 {
			t.Errorf("stats %+v, want 2 pending and 3 dropped", s)
		}
	})
}

func TestRedirectRefused(t *testing.T) {
	target := newService(t, paris)
	svc := newService(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.RequestURI(), http.StatusFound)
	})
	b, err := New(Config{URL: svc.URL, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.Address(51, 4)
	run(t, b)
	eventually(t, "failed", func() bool { return b.Stats().Failed == 1 })
	if target.requests() != 0 {
		t.Errorf("the redirect was followed")
	}
}

// TestCacheFile: what was learnt survives a restart, through the file.
func TestCacheFile(t *testing.T) {
	svc := newService(t, paris)
	file := filepath.Join(t.TempDir(), "geocoder-cache.jsonl")
	b, err := New(Config{URL: svc.URL, Interval: time.Millisecond, File: file})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	b.Address(48.8568, 2.2927)
	eventually(t, "answered", func() bool { _, ok := b.Address(48.8568, 2.2927); return ok })
	cancel()
	<-done

	again, err := New(Config{URL: svc.URL, Interval: time.Millisecond, File: file})
	if err != nil {
		t.Fatal(err)
	}
	run(t, again)
	eventually(t, "loaded from the file", func() bool {
		a, ok := again.Address(48.8568, 2.2927)
		return ok && a == "11 Av de Suffren, 75007 Paris, France"
	})
	if svc.requests() != 1 {
		t.Errorf("%d requests, want 1 (the second book read the file)", svc.requests())
	}
}

func TestBadURL(t *testing.T) {
	for _, u := range []string{"", "nominatim.example.org", "ftp://x/", "http://"} {
		if _, err := New(Config{URL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func FuzzParseReverse(f *testing.F) {
	f.Add([]byte(`{"display_name":"11 Av de Suffren, 75007 Paris, France"}`))
	f.Add([]byte(`{"error":"Unable to geocode"}`))
	f.Add([]byte(`{"display_name":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseReverse(body)
		if err != nil {
			return
		}
		if len(a) > maxAddr || !utf8.ValidString(a) || strings.ContainsAny(a, "\x00\n\r\t") {
			t.Fatalf("address %q", a)
		}
	})
}

func cellOf(t *testing.T, lat, lon float64) geocode.Cell {
	t.Helper()
	c, ok := geocode.CellOf(lat, lon)
	if !ok {
		t.Fatalf("no cell for %v,%v", lat, lon)
	}
	return c
}
