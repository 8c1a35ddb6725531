package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"tracker/events/audit"
	"tracker/views/web/internal/httpx"
)

// MaxReadyLag is how many events the projections may trail the log head
// by while /readyz still answers ready.
const MaxReadyLag = 1000

// Metrics holds the server's Prometheus metrics in a registry of its own
// (no global state). What others already count (the auditor, the log
// head, the projections' checkpoint, live clients) is read at scrape time;
// what only happens in passing (commits, HTTP requests, commands sent) is
// observed here. The zero of *Metrics (nil) ignores observations.
type Metrics struct {
	reg      *prometheus.Registry
	commit   prometheus.Histogram
	batch    prometheus.Histogram
	commands prometheus.Counter
	http     *prometheus.HistogramVec
}

// NewMetrics returns the metrics with their registry, including the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tracker_log_commit_seconds",
			Help:    "Time a group commit of the event log took to become durable (the append latency of every event in it).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. ~4 s
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tracker_log_batch_events",
			Help:    "Events per group commit of the event log.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14), // 1 .. 8192
		}),
		commands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tracker_commands_sent_total",
			Help: "OwnTracks cmd messages sent to phones (reportLocation).",
		}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tracker_http_request_duration_seconds",
			Help:    "HTTP request durations by method, route pattern and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "code"}),
	}
	m.reg.MustRegister(m.commit, m.batch, m.commands, m.http,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records one durable group commit; pass it as the event log's
// Options.OnBatch.
func (m *Metrics) Observe(events int, took time.Duration) {
	if m == nil {
		return
	}
	m.batch.Observe(float64(events))
	m.commit.Observe(took.Seconds())
}

// IncCommands counts one cmd message sent to a phone.
func (m *Metrics) IncCommands() {
	if m == nil {
		return
	}
	m.commands.Inc()
}

// Registry is the registry the metrics live in (to add more collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// instrument times each request under the route pattern chi matched.
func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := ""
		if rc := chi.RouteContext(r.Context()); rc != nil {
			route = rc.RoutePattern()
		}
		if route == "" {
			route = "unmatched" // 404s: keep arbitrary paths out of the labels
		}
		code := ww.Status()
		if code == 0 {
			code = http.StatusOK
		}
		m.http.WithLabelValues(r.Method, route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}

var (
	descMessages = prometheus.NewDesc("tracker_messages_total",
		"Events the auditor read from the log, by source (embedded, mqtt, http, admin, server, import:recorder, import:gpx) and message kind (admin for the server's own events).",
		[]string{"source", "kind"}, nil)
	descInvalid = prometheus.NewDesc("tracker_messages_invalid_total",
		"Events kept in the log but not usable, by reason.", []string{"reason"}, nil)
	descDuplicates = prometheus.NewDesc("tracker_messages_duplicate_total",
		"Redelivered messages recognised as duplicates.", nil, nil)
	descIngest = prometheus.NewDesc("tracker_ingest_connected",
		"1 when the message intake is connected, by source.", []string{"source"}, nil)
	descHead = prometheus.NewDesc("tracker_log_head_sequence",
		"Sequence number of the newest durable event.", nil, nil)
	descCheckpoint = prometheus.NewDesc("tracker_projection_checkpoint_sequence",
		"Sequence number of the last event the projections applied.", nil, nil)
	descLag = prometheus.NewDesc("tracker_projection_lag_events",
		"Events appended but not yet applied by the projections (head - checkpoint).", nil, nil)
	descClients = prometheus.NewDesc("tracker_live_clients",
		"Connected live clients (websocket and SSE).", nil, nil)
	descDiskFree = prometheus.NewDesc("tracker_disk_free_bytes",
		"Free space on the data volume at the last check.", nil, nil)
	descDiskMin = prometheus.NewDesc("tracker_disk_min_free_bytes",
		"Free space kept on the data volume (--min-free-disk): below it new messages are refused.", nil, nil)
	descDiskFull = prometheus.NewDesc("tracker_disk_full",
		"1 while new messages are refused because the data volume is nearly full.", nil, nil)
)

// Disk is the free-space guard of the data volume (badgerlog.Space).
type Disk interface {
	Check() error // looks again (rate-limited), so freed space is noticed without appends
	Low() bool
	Free() uint64
	Min() uint64
}

// stateCollector reads what others count at scrape time, so the
// auditor's counts are exported as they are, without decoding again.
// A nil reader is not reported.
type stateCollector struct {
	counts     func() audit.Counts
	ingest     Ingest
	head       func() uint64
	checkpoint func() uint64
	clients    func() int
	disk       Disk
}

// newStateCollector reads the server's dependencies.
func newStateCollector(d Deps) stateCollector {
	c := stateCollector{ingest: d.Ingest, checkpoint: d.Checkpoint, disk: d.Disk}
	if d.Stats != nil {
		c.counts = d.Stats.Counts
	}
	if d.Log != nil {
		c.head = d.Log.Head
	}
	if d.Hub != nil {
		c.clients = d.Hub.Clients
	}
	return c
}

func (stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMessages, descInvalid, descDuplicates, descIngest, descHead, descCheckpoint, descLag, descClients, descDiskFree, descDiskMin, descDiskFull} {
		ch <- d
	}
}

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.counts != nil {
		counts := c.counts()
		for source, kinds := range counts.BySource {
			for kind, n := range kinds {
				ch <- prometheus.MustNewConstMetric(descMessages, prometheus.CounterValue, float64(n), source, kind)
			}
		}
		for reason, n := range counts.ByReason {
			ch <- prometheus.MustNewConstMetric(descInvalid, prometheus.CounterValue, float64(n), reason)
		}
		ch <- prometheus.MustNewConstMetric(descDuplicates, prometheus.CounterValue, float64(counts.Duplicates))
	}
	if c.ingest != nil {
		ch <- prometheus.MustNewConstMetric(descIngest, prometheus.GaugeValue, b2f(c.ingest.Connected()), c.ingest.Source())
	}
	if c.head != nil {
		head := c.head()
		ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(head))
		if c.checkpoint != nil {
			cp := c.checkpoint()
			ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(cp))
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lag(head, cp)))
		}
	}
	if c.disk != nil {
		_ = c.disk.Check()
		ch <- prometheus.MustNewConstMetric(descDiskFree, prometheus.GaugeValue, float64(c.disk.Free()))
		ch <- prometheus.MustNewConstMetric(descDiskMin, prometheus.GaugeValue, float64(c.disk.Min()))
		ch <- prometheus.MustNewConstMetric(descDiskFull, prometheus.GaugeValue, b2f(c.disk.Low()))
	}
	if c.clients != nil {
		ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(c.clients()))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func lag(head, cp uint64) uint64 {
	if cp >= head {
		return 0
	}
	return head - cp
}

// readyz answers 200 when the log is open, ingest is connected and the
// projections trail the log by at most MaxReadyLag events; otherwise 503
// naming each check that failed.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	type check struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	type ready struct {
		Status     string   `json:"status"`
		Failed     []string `json:"failed,omitempty"`
		Checks     []check  `json:"checks"`
		Head       uint64   `json:"log_head"`
		Checkpoint uint64   `json:"checkpoint"`
		Lag        uint64   `json:"lag"`
	}
	var out ready
	add := func(name string, ok bool, msg string) {
		c := check{Name: name, OK: ok}
		if !ok {
			c.Error = msg
			out.Failed = append(out.Failed, name)
		}
		out.Checks = append(out.Checks, c)
	}
	add("log", s.Log != nil, "event log not open")
	if s.Ingest != nil {
		add("ingest", s.Ingest.Connected(), "ingest "+s.Ingest.Source()+" disconnected")
	} else {
		add("ingest", false, "no ingest")
	}
	if s.Log != nil {
		out.Head = s.Log.Head()
		if s.Checkpoint != nil {
			cp := s.Checkpoint()
			out.Checkpoint, out.Lag = cp, lag(out.Head, cp)
			add("projections", out.Lag <= MaxReadyLag,
				fmt.Sprintf("projections %d events behind the log (at most %d)", out.Lag, MaxReadyLag))
		}
	}
	if s.Disk != nil {
		_ = s.Disk.Check()
		add("disk", !s.Disk.Low(), fmt.Sprintf("disk nearly full: %d MB free, %d MB kept (--min-free-disk); new messages are refused until space is freed",
			s.Disk.Free()>>20, s.Disk.Min()>>20))
	}
	code := http.StatusOK
	out.Status = "ready"
	if len(out.Failed) > 0 {
		code, out.Status = http.StatusServiceUnavailable, "not ready: "+strings.Join(out.Failed, ", ")
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, code, out)
}

// metricsAccess lets clients on loopback or in MetricsAllow through
// without a login; everyone else must be a logged-in admin. The client
// address is Auth.ClientIP's: behind a trusted proxy (which itself sits on
// loopback) the forwarded address counts, not the proxy's.
func (s *Server) metricsAccess(next http.Handler) http.Handler {
	locked := s.Auth.Require(RequireAdmin(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.metricsAllowed(r) {
			next.ServeHTTP(w, r)
			return
		}
		locked.ServeHTTP(w, r)
	})
}

func (s *Server) metricsAllowed(r *http.Request) bool {
	ip, err := netip.ParseAddr(s.Auth.ClientIP(r))
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		return true
	}
	for _, p := range s.MetricsAllow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseAllow parses --metrics-allow values: CIDRs ("10.0.0.0/8") or
// single addresses.
func ParseAllow(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		v = strings.TrimSpace(v)
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--metrics-allow %q: want a CIDR such as 10.0.0.0/8 or an IP address", v)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
