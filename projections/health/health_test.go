package health_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/health"
)

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// ev is one synthetic event: a payload on alice/phone's topic (or
// another), arriving at t0+at by source.
type ev struct {
	at      time.Duration
	source  string
	topic   string // default owntracks/alice/phone
	payload string
	dup     uint64 // DuplicateOf with DUP set: a transport redelivery
}

func loc(tst time.Time, extra string) string {
	return fmt.Sprintf(`{"_type":"location","lat":50.85,"lon":4.35,"tid":"ph","tst":%d%s}`, tst.Unix(), extra)
}

func fold(evs []ev) *health.Health {
	h := health.New()
	d := owntracks.Decoder{}
	for i, x := range evs {
		e := eventOf(i, x)
		m, err := d.DecodeAt(e.Topic, e.Payload, e.Received)
		h.Apply(e, m, err)
	}
	return h
}

func eventOf(i int, x ev) events.Event {
	e := events.Event{Seq: uint64(i + 1), Received: t0.Add(x.at), Topic: x.topic, Payload: []byte(x.payload), Source: x.source, QoS: 1}
	if e.Topic == "" {
		e.Topic = "owntracks/alice/phone"
	}
	if e.Source == "" {
		e.Source = events.SourceEmbedded
	}
	if x.dup != 0 {
		e.Dup, e.DuplicateOf, e.Client, e.PacketID = true, x.dup, "phone", 7
	}
	return e
}

// every returns n location events a step apart from start, each fix
// arriving late by delay(i).
func every(n int, start, step time.Duration, delay func(i int) time.Duration) []ev {
	out := make([]ev, n)
	for i := range out {
		at := start + time.Duration(i)*step
		out[i] = ev{at: at, payload: loc(t0.Add(at-delay(i)), "")}
	}
	return out
}

func secs(d time.Duration) func(int) time.Duration { return func(int) time.Duration { return d } }

func TestDeviceHealthFold(t *testing.T) {
	for _, tc := range []struct {
		name  string
		evs   []ev
		now   time.Duration // since t0: when the report is asked for
		check func(t *testing.T, d health.Device)
	}{
		{
			name: "delays: median and p95 of the fixes' lateness",
			// 100 fixes a minute apart; 90 arrive 2 s late, 10 arrive 300 s late.
			evs: every(100, 0, time.Minute, func(i int) time.Duration {
				if i%10 == 9 {
					return 300 * time.Second
				}
				return 2 * time.Second
			}),
			now: 100 * time.Minute,
			check: func(t *testing.T, d health.Device) {
				if d.Delay.Samples != 100 || d.Delay.Median != 2 || d.Delay.P95 != 300 {
					t.Errorf("delay %+v, want 100 samples, median 2 s, p95 300 s", d.Delay)
				}
				if d.Interval.Usual != time.Minute || d.Interval.QuietAfter != health.MinQuiet {
					t.Errorf("interval %+v, want usual 1 min, quiet after %s", d.Interval, health.MinQuiet)
				}
				if d.Quiet || d.Gaps.Count != 0 {
					t.Errorf("quiet %v, gaps %+v: a device heard a minute ago is neither", d.Quiet, d.Gaps)
				}
			},
		},
		{
			name: "delays are bounded to the newest window",
			evs: append(every(300, 0, time.Minute, secs(1000*time.Second)),
				every(health.Window, 300*time.Minute, time.Minute, secs(5*time.Second))...),
			now: 600 * time.Minute,
			check: func(t *testing.T, d health.Device) {
				if d.Delay.Samples != health.Window || d.Delay.P95 != 5 {
					t.Errorf("delay %+v, want the newest %d samples only (p95 5 s)", d.Delay, health.Window)
				}
			},
		},
		{
			name: "a silence longer than twice the usual interval is a gap",
			evs: append(every(20, 0, 5*time.Minute, secs(time.Second)),
				every(5, 20*5*time.Minute+3*time.Hour, 5*time.Minute, secs(time.Second))...),
			now: 5 * time.Hour,
			check: func(t *testing.T, d health.Device) {
				want := 3*time.Hour + 5*time.Minute
				if d.Gaps.Count != 1 || d.Gaps.Longest != want || !d.Gaps.LastFrom.Equal(t0.Add(95*time.Minute)) {
					t.Errorf("gaps %+v, want one of %s from %s", d.Gaps, want, t0.Add(95*time.Minute))
				}
			},
		},
		{
			name: "quiet: silent for longer than its usual interval",
			evs:  every(20, 0, 5*time.Minute, secs(time.Second)),
			now:  95*time.Minute + 31*time.Minute, // quiet after max(2×5 min, 15 min)
			check: func(t *testing.T, d health.Device) {
				if !d.Quiet || d.QuietFor != 31*time.Minute {
					t.Errorf("quiet %v for %s, want quiet for 31 min (usual %s)", d.Quiet, d.QuietFor, d.Interval.Usual)
				}
			},
		},
		{
			name: "not quiet within its usual interval",
			evs:  every(20, 0, 5*time.Minute, secs(time.Second)),
			now:  95*time.Minute + 14*time.Minute,
			check: func(t *testing.T, d health.Device) {
				if d.Quiet {
					t.Errorf("quiet after 14 min, usual interval %s", d.Interval.Usual)
				}
			},
		},
		{
			name: "a new device is quiet only after the default",
			evs:  every(3, 0, time.Minute, secs(time.Second)),
			now:  2*time.Minute + 5*time.Hour,
			check: func(t *testing.T, d health.Device) {
				if d.Quiet || d.Interval.QuietAfter != health.DefaultQuietAfter {
					t.Errorf("quiet %v, threshold %s: with 2 intervals the default %s applies", d.Quiet, d.Interval.QuietAfter, health.DefaultQuietAfter)
				}
			},
		},
		{
			name: "duplicates: redeliveries and repeated fixes",
			evs: []ev{
				{at: 0, payload: loc(t0, "")},
				{at: time.Second, payload: loc(t0, ""), dup: 1},                          // MQTT DUP redelivery
				{at: 2 * time.Second, payload: loc(t0, ""), source: events.SourceHTTP},   // the same fix by HTTP
				{at: time.Minute, payload: loc(t0.Add(time.Minute), "")},                 // new
				{at: 2 * time.Minute, payload: loc(t0.Add(time.Minute), `,"t":"u"`)},     // same tst again
				{at: 3 * time.Minute, payload: loc(t0.Add(3*time.Minute), ""), dup: 0},   // new
				{at: 4 * time.Minute, payload: loc(t0.Add(time.Minute), ""), dup: 0},     // an old tst again
				{at: 5 * time.Minute, payload: loc(t0.Add(5*time.Minute), ""), dup: 0},   // new
				{at: 6 * time.Minute, payload: loc(t0.Add(6*time.Minute), ""), dup: 0},   // new
				{at: 7 * time.Minute, payload: loc(t0.Add(7*time.Minute), ""), dup: 0},   // new
				{at: 8 * time.Minute, payload: loc(t0.Add(8*time.Minute), ""), dup: 0},   // new
				{at: 9 * time.Minute, payload: `{"_type":"lwt","tst":1}`, dup: 0},        // the broker's will
				{at: 9 * time.Minute, payload: loc(t0.Add(9*time.Minute), ""), dup: 0},   // new
				{at: 10 * time.Minute, payload: loc(t0.Add(10*time.Minute), ""), dup: 0}, // new
			},
			now: 11 * time.Minute,
			check: func(t *testing.T, d health.Device) {
				if d.Duplicates != (health.Duplicates{Redelivered: 1, Repeated: 3}) {
					t.Errorf("duplicates %+v, want 1 redelivered, 3 repeated", d.Duplicates)
				}
				if d.Messages != 13 || d.Delay.Samples != 9 {
					t.Errorf("%d messages, %d delays; want 13 (redelivery not counted), 9 (new fixes)", d.Messages, d.Delay.Samples)
				}
				if !d.Transports[health.TransportHTTP].Equal(t0.Add(2*time.Second)) || !d.Transports[health.TransportEmbedded].Equal(t0.Add(10*time.Minute)) {
					t.Errorf("transports %v", d.Transports)
				}
			},
		},
		{
			name: "invalid messages: count and the last reason",
			evs: []ev{
				{at: 0, payload: loc(t0, "")},
				{at: time.Minute, payload: `{"_type":"location","lat":91,"lon":4,"tst":1763625600}`},
				{at: 2 * time.Minute, payload: `not json`},
				{at: 3 * time.Minute, payload: loc(t0.Add(3*time.Minute), "")},
			},
			now: 4 * time.Minute,
			check: func(t *testing.T, d health.Device) {
				if d.Invalid.Count != 2 || d.Invalid.LastReason == "" || !d.Invalid.LastAt.Equal(t0.Add(2*time.Minute)) {
					t.Errorf("invalid %+v, want 2, the last at %s with its reason", d.Invalid, t0.Add(2*time.Minute))
				}
				if !d.LastSeen.Equal(t0.Add(3 * time.Minute)) {
					t.Errorf("last seen %s", d.LastSeen)
				}
			},
		},
		{
			name: "transports: each one's newest arrival; imports do not count as heard",
			evs: []ev{
				{at: 0, payload: loc(t0, ""), source: events.SourceEmbedded},
				{at: time.Minute, payload: loc(t0.Add(time.Minute), ""), source: "mqtt:tcp://broker:1883"},
				{at: 2 * time.Minute, payload: loc(t0.Add(2*time.Minute), ""), source: events.SourceHTTP},
				{at: 3 * time.Minute, payload: loc(t0.Add(-time.Hour), ""), source: events.SourceGPX},
				{at: 4 * time.Minute, payload: `{"_type":"cmd","action":"reportLocation"}`, topic: "owntracks/alice/phone/cmd", source: events.SourceServer},
			},
			now: 5 * time.Minute,
			check: func(t *testing.T, d health.Device) {
				want := map[string]time.Time{"embedded": t0, "mqtt": t0.Add(time.Minute), "http": t0.Add(2 * time.Minute), "import": t0.Add(3 * time.Minute)}
				if !reflect.DeepEqual(d.Transports, want) {
					t.Errorf("transports %v, want %v", d.Transports, want)
				}
				if d.Messages != 3 || d.Imported != 1 || !d.LastSeen.Equal(t0.Add(2*time.Minute)) || d.Delay.Samples != 3 {
					t.Errorf("messages %d imported %d last seen %s delays %d", d.Messages, d.Imported, d.LastSeen, d.Delay.Samples)
				}
			},
		},
		{
			name: "battery: newest level and its trend",
			// 1 % every 10 minutes down: -6 %/h.
			evs: func() []ev {
				var out []ev
				for i := range 12 {
					at := time.Duration(i) * 10 * time.Minute
					out = append(out, ev{at: at, payload: loc(t0.Add(at), fmt.Sprintf(`,"batt":%d,"bs":1`, 90-i))})
				}
				return out
			}(),
			now: 2 * time.Hour,
			check: func(t *testing.T, d health.Device) {
				b := d.Battery
				if b == nil || b.Level != 79 || b.Charging || len(b.Samples) != 12 || b.PerHour < -6.01 || b.PerHour > -5.99 {
					t.Fatalf("battery %+v, want 79 %%, -6 %%/h over 12 samples", b)
				}
			},
		},
		{
			name: "app version from the iOS status",
			evs: []ev{
				{at: 0, payload: loc(t0, "")},
				{at: time.Minute, topic: "owntracks/alice/phone/status",
					payload: `{"_type":"status","iOS":{"version":"18.3.1","deviceSystemVersion":"18.2","deviceModel":"iPhone15,2","locale":"en"}}`},
			},
			now: 2 * time.Minute,
			check: func(t *testing.T, d health.Device) {
				want := health.App{Platform: "iOS", Version: "18.3.1", System: "18.2", Model: "iPhone15,2", At: t0.Add(time.Minute)}
				if d.App == nil || *d.App != want {
					t.Errorf("app %+v, want %+v", d.App, want)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fold(tc.evs).Report(t0.Add(tc.now))
			if len(r.Devices) != 1 || r.Devices[0].ID != "alice/phone" {
				t.Fatalf("devices %+v, want alice/phone", r.Devices)
			}
			tc.check(t, r.Devices[0])
		})
	}
}

// TestDeviceHealthBounded: past MaxDevices, devices are counted, not kept.
func TestDeviceHealthBounded(t *testing.T) {
	var evs []ev
	for i := range health.MaxDevices + 10 {
		evs = append(evs, ev{at: time.Duration(i) * time.Millisecond, topic: fmt.Sprintf("owntracks/u/d%d", i), payload: loc(t0, "")})
	}
	r := fold(evs).Report(t0)
	if len(r.Devices) != health.MaxDevices || r.Untracked != 10 {
		t.Errorf("%d devices, %d untracked messages; want %d and 10", len(r.Devices), r.Untracked, health.MaxDevices)
	}
}

// TestTrackerReproducible: a tracker following a log as it grows reports
// what a fresh tracker folding the whole log reports (what a restart
// does), and skips what no phone sent.
func TestTrackerReproducible(t *testing.T) {
	log := eventstest.OpenLog(t)
	evs := append(every(40, 0, 3*time.Minute, secs(4*time.Second)),
		ev{at: 121 * time.Minute, payload: "{"},
		ev{at: 122 * time.Minute, payload: loc(t0.Add(100*time.Minute), `,"batt":50`), source: events.SourceHTTP})
	appendAll := func(evs []ev, from int) {
		var wg sync.WaitGroup
		for i, x := range evs {
			e := eventOf(from+i, x)
			e.Seq = 0
			wg.Add(1)
			log.AppendAsync(e, func(_ uint64, err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			})
		}
		wg.Wait()
	}
	area := events.Event{Topic: projections.AreaTopic, Source: events.SourceAdmin, Received: t0, Payload: []byte(`{}`)}
	if _, err := log.Append(t.Context(), area); err != nil {
		t.Fatal(err)
	}
	appendAll(evs[:20], 1)

	run := func() (*health.Tracker, func()) {
		tr := health.NewTracker()
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := tr.Run(ctx, log, owntracks.Decoder{}); err != nil {
				t.Error(err)
			}
		})
		return tr, func() { cancel(); wg.Wait() }
	}
	live, stop := run()
	defer stop()
	eventstest.WaitFor(t, 5*time.Second, "first part folded", func() bool { return live.Applied() == log.Head() })
	appendAll(evs[20:], 21)
	eventstest.WaitFor(t, 5*time.Second, "second part folded", func() bool { return live.Applied() == log.Head() })

	fresh, stop2 := run()
	defer stop2()
	eventstest.WaitFor(t, 5*time.Second, "fresh fold", func() bool { return fresh.Applied() == log.Head() })
	now := t0.Add(3 * time.Hour)
	a, b := live.Report(now), fresh.Report(now)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("following the log:\n%+v\nfolding it again:\n%+v", a, b)
	}
	d := a.Devices[0]
	if len(a.Devices) != 1 || d.Messages != 42 || d.Invalid.Count != 1 || d.Battery == nil || d.Delay.Median != 4 {
		t.Errorf("report %+v", a)
	}
}
