package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/geo"
	"tracker/projections/projector"
	"tracker/views/notify"
	"tracker/views/visible"
)

// rig is the log, the projections and a dispatcher following them, over
// real Badger in t.TempDir(), as serve wires them.
type rig struct {
	log   *badgerlog.Log
	proj  *projector.Projector
	disp  *notify.Dispatcher
	clock *clock
}

// clock is the dispatcher's clock: the wall clock plus an offset the test
// moves forward.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func newRig(t *testing.T, opts notify.Options) *rig {
	t.Helper()
	log := eventstest.OpenLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	changes := projections.NewFeed()
	p, err := projector.Open(ctx, t.TempDir(), log, owntracks.Decoder{}, logger, projector.Options{OnChange: changes.Send})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	r := &rig{log: log, proj: p, clock: &clock{}}
	opts.Source, opts.Gate, opts.Events, opts.Logger = p, visible.New(p), log, logger
	if opts.Now == nil {
		opts.Now = r.clock.Now
	}
	r.disp = notify.New(opts)
	var wg sync.WaitGroup
	wg.Go(func() { changes.Run(ctx, r.disp.Follow) })
	wg.Go(func() { _ = r.disp.Run(ctx) })
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			t.Errorf("projector: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := p.Close(); err != nil {
			t.Errorf("close projections: %v", err)
		}
	})
	return r
}

// append appends e and waits until the projections have it.
func (r *rig) append(t *testing.T, e events.Event) uint64 {
	t.Helper()
	if e.Received.IsZero() {
		e.Received = time.Now()
	}
	seq, err := r.log.Append(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.proj.WaitFor(ctx, seq); err != nil {
		t.Fatalf("projections never reached event %d: %v", seq, err)
	}
	return seq
}

func (r *rig) admin(t *testing.T, topic string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	r.append(t, events.Event{Topic: topic, Payload: b, Source: events.SourceAdmin, QoS: 1})
}

// user adds a viewer who sees only sees (nil: everybody).
func (r *rig) user(t *testing.T, name string, sees ...string) {
	t.Helper()
	r.admin(t, projections.UserTopic, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: name, Hash: testHash})
	if sees != nil {
		r.share(t, name, sees...)
	}
}

func (r *rig) share(t *testing.T, name string, sees ...string) {
	t.Helper()
	r.admin(t, projections.UserTopic, projections.UserCommand{Type: "user", Action: projections.UserShare, Name: name, Sees: sees,
		Issue: projections.NewIssue("test", time.Now())})
}

// area defines the server area name: a circle of 100 m around home.
func (r *rig) area(t *testing.T, name string) {
	t.Helper()
	r.admin(t, projections.AreaTopic, projections.AreaCommand{Type: "area", Action: projections.AreaDefine, Name: name,
		Center: &geo.Point{Lat: home.lat, Lon: home.lon}, Radius: 100})
}

func (r *rig) rule(t *testing.T, rule projections.NotifyRule) {
	t.Helper()
	r.admin(t, projections.NotifyTopic, projections.NotifyCommand{Type: "notify", Action: projections.NotifyAdd, Owner: rule.Owner, Rule: &rule,
		Issue: projections.NewIssue(rule.Owner, time.Now())})
}

type place struct{ lat, lon float64 }

var (
	home = place{50.8466, 4.3528}
	away = place{50.8566, 4.3528} // 1.1 km north
)

var testHash = func() string {
	h, err := projections.HashPassword("a password of the test")
	if err != nil {
		panic(err)
	}
	return h
}()

// fix appends a location of dev at p, with tst seconds, from source.
func (r *rig) fix(t *testing.T, dev string, p place, tst int64, source string, received time.Time) uint64 {
	t.Helper()
	payload := fmt.Sprintf(`{"_type":"location","lat":%v,"lon":%v,"tst":%d,"acc":10,"batt":80}`, p.lat, p.lon, tst)
	return r.append(t, events.Event{Topic: "owntracks/" + dev, Payload: []byte(payload), Source: source, QoS: 1, Received: received})
}

// receiver is a webhook receiver started by the test: it checks each
// POST's signature and keeps the bodies it accepted.
type receiver struct {
	secret string
	mu     sync.Mutex
	got    []received
	ln     net.Listener
	srv    *http.Server
	addr   string
}

type received struct {
	body notify.WebhookBody
	raw  []byte
	sig  string
	at   time.Time
	ok   bool // the signature matched and the timestamp agreed
}

// newReceiver starts a receiver on loopback; down leaves its port closed
// until up.
func newReceiver(t *testing.T, secret string, down bool) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{secret: secret, addr: ln.Addr().String()}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 5 * time.Second}
	if down {
		ln.Close()
	} else {
		rc.start(t, ln)
	}
	t.Cleanup(func() { _ = rc.srv.Close() })
	return rc
}

func (rc *receiver) URL() string { return "http://" + rc.addr + "/hook" }

func (rc *receiver) start(t *testing.T, ln net.Listener) {
	rc.ln = ln
	go func() { _ = rc.srv.Serve(ln) }()
}

// up starts a receiver that was down, on its address.
func (rc *receiver) up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", rc.addr)
	if err != nil {
		t.Fatalf("the receiver's port was taken meanwhile: %v", err)
	}
	rc.start(t, ln)
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var b notify.WebhookBody
	err := json.Unmarshal(raw, &b)
	sig := r.Header.Get(notify.HeaderSignature)
	ok := err == nil && sig == notify.Sign(rc.secret, raw) && r.Header.Get(notify.HeaderTimestamp) == strconv.FormatInt(b.Timestamp, 10) &&
		time.Since(time.Unix(b.Timestamp, 0)).Abs() < time.Minute && r.Method == http.MethodPost &&
		r.Header.Get(notify.HeaderDelivery) == b.ID
	rc.mu.Lock()
	rc.got = append(rc.got, received{body: b, raw: raw, sig: sig, at: time.Now(), ok: ok})
	rc.mu.Unlock()
	if !ok {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) posts() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}
