package web_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/views/web"
)

// scrape reads /metrics into "name{labels}" -> value.
func scrape(t *testing.T, st *stack) map[string]float64 {
	t.Helper()
	res, body := st.do(t, http.MethodGet, "/metrics", "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s: %s", res.Status, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type %q, want the text format", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitAudited waits until the auditor has read the whole log.
func waitAudited(t *testing.T, st *stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for st.audit.Counts().LastSeq < st.log.Head() {
		select {
		case <-ctx.Done():
			t.Fatalf("auditor stuck at %d, head %d", st.audit.Counts().LastSeq, st.log.Head())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestMetrics(t *testing.T) {
	st := newStack(t)
	waitAudited(t, st)
	// Some traffic of the kinds the scrape-time collector cannot see.
	st.site.Metrics.Observe(3, 2*time.Millisecond)
	st.site.Metrics.Observe(1, 1*time.Millisecond)
	st.site.Metrics.IncCommands()
	if res, _ := st.do(t, http.MethodGet, "/healthz", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %s", res.Status)
	}
	if res, _ := st.do(t, http.MethodGet, friendPath("alice", "phone", "locations"), ""); res.StatusCode != http.StatusOK {
		t.Fatalf("locations: %s", res.Status)
	}
	st.do(t, http.MethodGet, "/no/such/page", "")
	// One message from each other source: a phone in HTTP mode through
	// /pub (open mode: no users), and appended directly what two external
	// brokers, the server's own command, and the two importers store.
	tst := day.Add(18 * time.Hour).Unix()
	if res, body := st.do(t, http.MethodPost, "/pub", string(locationPayload("ca", office, tst))); res.StatusCode != http.StatusOK {
		t.Fatalf("POST /pub: %s: %s", res.Status, body)
	}
	other := func(source, topic, payload string) events.Event {
		e := ev(topic, day.Add(18*time.Hour), payload)
		e.Source = source
		return e
	}
	st.appendAll(t,
		other("mqtt:tcp://broker.example.org:1883", "owntracks/dave/phone", string(locationPayload("da", office, tst))),
		other("mqtt:ssl://other.example.org:8883", "owntracks/dave/phone", string(locationPayload("da", park, tst+60))),
		other(events.SourceServer, "owntracks/dave/phone/cmd", `{"_type":"cmd","action":"reportLocation"}`),
		other(events.SourceRecorder, "owntracks/erin/phone", string(locationPayload("er", park, tst-86400))),
		other(events.SourceGPX, "owntracks/erin/gpx", string(locationPayload("er", office, tst-2*86400))),
	)
	waitAudited(t, st)

	m := scrape(t, st)
	// The fixture: 77 phone messages through the embedded broker (71
	// locations, one of them invalid for lat 91.2; 2 waypoints; 1 card; 3
	// transitions), the HQ area defined through the API, then the six
	// messages above.
	want := map[string]float64{
		`tracker_log_head_sequence`:                                                             84,
		`tracker_projection_checkpoint_sequence`:                                                84,
		`tracker_projection_lag_events`:                                                         0,
		`tracker_messages_total{kind="location",source="embedded"}`:                             71,
		`tracker_messages_total{kind="waypoint",source="embedded"}`:                             2,
		`tracker_messages_total{kind="card",source="embedded"}`:                                 1,
		`tracker_messages_total{kind="transition",source="embedded"}`:                           3,
		`tracker_messages_total{kind="admin",source="admin"}`:                                   1,
		`tracker_messages_total{kind="location",source="http"}`:                                 1,
		`tracker_messages_total{kind="location",source="mqtt"}`:                                 2,
		`tracker_messages_total{kind="cmd",source="server"}`:                                    1,
		`tracker_messages_total{kind="location",source="import:recorder"}`:                      1,
		`tracker_messages_total{kind="location",source="import:gpx"}`:                           1,
		`tracker_messages_invalid_total{reason="lat out of range"}`:                             1,
		`tracker_messages_duplicate_total`:                                                      0,
		`tracker_ingest_connected{source="test"}`:                                               1,
		`tracker_commands_sent_total`:                                                           1,
		`tracker_log_batch_events_count`:                                                        2,
		`tracker_log_batch_events_sum`:                                                          4,
		`tracker_log_batch_events_bucket{le="2"}`:                                               1,
		`tracker_log_commit_seconds_count`:                                                      2,
		`tracker_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"}`: 1,
		`tracker_http_request_duration_seconds_count{code="200",method="GET",route="/api/v1/friends/{user}/{device}/locations"}`: 1,
		`tracker_http_request_duration_seconds_count{code="201",method="POST",route="/api/v1/areas"}`:                            1,
		`tracker_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"}`:                                 1,
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok {
			t.Errorf("no %s in the scrape", k)
			continue
		}
		if got != v {
			t.Errorf("%s = %g, want %g", k, got, v)
		}
	}
	var messages, invalid float64
	for k, v := range m {
		switch {
		case strings.HasPrefix(k, "tracker_messages_total{"):
			messages += v
		case strings.HasPrefix(k, "tracker_messages_invalid_total{"):
			invalid += v
		}
	}
	if messages != 84 || invalid != 1 {
		t.Errorf("messages %g (want 84), invalid %g (want 1)", messages, invalid)
	}
	// Every series carries both labels, and the broker URLs are cut off.
	for k := range m {
		if strings.HasPrefix(k, "tracker_messages_total{") && (!strings.Contains(k, "source=") || strings.Contains(k, "example.org")) {
			t.Errorf("series %s: want the source label without the broker URL", k)
		}
	}
	if c := st.audit.Counts(); float64(c.Events) != messages || float64(c.Invalid) != invalid {
		t.Errorf("scrape disagrees with the auditor: %+v", c)
	}
	if _, ok := m["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

func TestReady(t *testing.T) {
	st := newStack(t)
	type readiness struct {
		Status string   `json:"status"`
		Failed []string `json:"failed"`
		Checks []struct {
			Name  string `json:"name"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"checks"`
		Head       uint64 `json:"log_head"`
		Checkpoint uint64 `json:"checkpoint"`
		Lag        uint64 `json:"lag"`
	}
	ready := func(wantCode int) readiness {
		t.Helper()
		res, body := st.do(t, http.MethodGet, "/readyz", "")
		if res.StatusCode != wantCode {
			t.Fatalf("/readyz: %s, want %d: %s", res.Status, wantCode, body)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("/readyz Content-Type %q", ct)
		}
		return decode[readiness](t, body)
	}
	r := ready(http.StatusOK)
	if r.Status != "ready" || len(r.Failed) != 0 || r.Head != 78 || r.Checkpoint != 78 || r.Lag != 0 || len(r.Checks) != 3 {
		t.Errorf("ready: %+v", r)
	}

	st.ingest.down.Store(true)
	r = ready(http.StatusServiceUnavailable)
	if len(r.Failed) != 1 || r.Failed[0] != "ingest" || r.Status != "not ready: ingest" {
		t.Errorf("ingest down: %+v", r)
	}
	for _, c := range r.Checks {
		if c.Name == "ingest" && (c.OK || c.Error != "ingest test disconnected") {
			t.Errorf("ingest check: %+v", c)
		}
	}

	st.ingest.down.Store(false)
	if r := ready(http.StatusOK); r.Status != "ready" {
		t.Errorf("ingest back: %+v", r)
	}
}

func TestMetricsAndReadyAccess(t *testing.T) {
	a := newAuthStack(t) // users exist: nothing is open
	h := a.site.Routes()
	try := func(path, remote, user string) int {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "localhost" // httptest's example.com is not one of the server's names
		req.RemoteAddr = remote
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	const public = "203.0.113.7:40000"
	for _, path := range []string{"/metrics", "/readyz"} {
		for _, c := range []struct {
			remote, user string
			want         int
		}{
			{public, "", http.StatusUnauthorized},
			{public, "alice", http.StatusForbidden}, // not an admin
			{public, "root", http.StatusOK},
			{"127.0.0.1:40000", "", http.StatusOK},
			{"[::1]:40000", "", http.StatusOK},
			{"[::ffff:127.0.0.1]:40000", "", http.StatusOK},
		} {
			if got := try(path, c.remote, c.user); got != c.want {
				t.Errorf("%s from %s as %q: %d, want %d", path, c.remote, c.user, got, c.want)
			}
		}
		if got := try("/healthz", public, ""); got != http.StatusOK {
			t.Errorf("/healthz from %s: %d, want 200 (public)", public, got)
		}
	}

	allow, err := web.ParseAllow([]string{"203.0.113.0/24", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::1/128")}; len(allow) != 2 || allow[0] != want[0] || allow[1] != want[1] {
		t.Fatalf("ParseAllow = %v, want %v", allow, want)
	}
	if _, err := web.ParseAllow([]string{"10.0.0.0/33"}); err == nil {
		t.Error("ParseAllow accepted 10.0.0.0/33")
	}
	a.site.MetricsAllow = allow
	for _, c := range []struct {
		remote string
		want   int
	}{
		{public, http.StatusOK},
		{"[2001:db8::1]:40000", http.StatusOK},
		{"198.51.100.1:40000", http.StatusUnauthorized},
	} {
		if got := try("/metrics", c.remote, ""); got != c.want {
			t.Errorf("/metrics from %s with --metrics-allow: %d, want %d", c.remote, got, c.want)
		}
	}
	// Only the pages that say so: the API still wants a login.
	if got := try("/api/v1/friends", public, ""); got != http.StatusUnauthorized {
		t.Errorf("/api/v1/friends from an allowed address: %d, want 401", got)
	}
}
