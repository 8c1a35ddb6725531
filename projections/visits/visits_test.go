package visits_test

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/geo"
	"tracker/projections/visits"
	"tracker/projections/visits/visitstest"
)

var day0 = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

// offBy compares segs with the truth's stays and journeys: how far the
// worst start or end is off, or an error when they do not pair up.
func offBy(segs []visits.Segment, truth []visitstest.Truth) (time.Duration, error) {
	if len(segs) != len(truth) {
		return 0, fmt.Errorf("%d segments, want %d:\n%s", len(segs), len(truth), describe(segs))
	}
	var worst time.Duration
	for i, s := range segs {
		w := truth[i]
		if (s.Kind == visits.KindStay) != w.Stay {
			return 0, fmt.Errorf("segment %d is a %s, want stay=%v:\n%s", i, s.Kind, w.Stay, describe(segs))
		}
		worst = max(worst, s.Start.Sub(w.Start).Abs(), s.End.Sub(w.End).Abs())
	}
	return worst, nil
}

// checkTruth fails t unless segs are the truth's stays and journeys, each
// start and end within a minute.
func checkTruth(t *testing.T, segs []visits.Segment, truth []visitstest.Truth) {
	t.Helper()
	off, err := offBy(segs, truth)
	if err != nil {
		t.Fatal(err)
	}
	if off > time.Minute {
		t.Errorf("a start or end is off by %s:\n%s", off, describe(segs))
	}
}

func describe(segs []visits.Segment) string {
	var b strings.Builder
	for _, s := range segs {
		fmt.Fprintf(&b, "  %-7s %s-%s %3d fixes %6.0f m", s.Kind, s.Start.Format("15:04:05"), s.End.Format("15:04:05"), s.Points, s.DistanceM)
		if s.Centre != nil {
			fmt.Fprintf(&b, " at %.5f,%.5f ±%.0f", s.Centre.Lat, s.Centre.Lon, s.AccM)
		}
		if s.Open {
			b.WriteString(" open")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// The synthetic day: stays with jitter and wild fixes, a gap in the
// office stay, drives with stops at lights: stays and journeys within a
// minute of the truth.
func TestDetectSyntheticDay(t *testing.T) {
	day := visitstest.SyntheticDay(day0, 1)
	segs := visits.Detect(visits.Config{}, day.Points)
	checkTruth(t, segs, day.Truth)
	if t.Failed() {
		return
	}
	// Centres land on the places, despite the jitter.
	for i, s := range segs {
		if s.Kind != visits.KindStay {
			continue
		}
		at := map[string]geo.Point{"home": visitstest.Home, "office": visitstest.Office, "cafe": visitstest.Cafe}[day.Truth[i].Name]
		if d := geo.Distance(*s.Centre, at); d > 20 {
			t.Errorf("stay %d (%s) centred %.0f m off", i, day.Truth[i].Name, d)
		}
	}
	// The drive home is 8.5 km as the crow flies; the track a bit more.
	if j := segs[len(segs)-2]; j.Kind != visits.KindJourney || j.DistanceM < 8400 || j.DistanceM > 9500 {
		t.Errorf("drive home: %+v, want a journey of about 8.6 km", j)
	}
	if last := segs[len(segs)-1]; !last.Open {
		t.Errorf("the last stay ends with the input: want Open, got %+v", last)
	}
}

// The same day with 200 draws of the jitter: no stop at a light is ever
// a stay and no wild fix a journey; at most 1 % of the days has a start
// or end more than a minute off (a wild fix among the first of a stay),
// none more than five.
func TestDetectSyntheticDays(t *testing.T) {
	const days = 200
	late := 0
	for seed := range uint64(days) {
		day := visitstest.SyntheticDay(day0, seed)
		off, err := offBy(visits.Detect(visits.Config{}, day.Points), day.Truth)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if off > 5*time.Minute {
			t.Errorf("seed %d: a start or end is off by %s", seed, off)
		}
		if off > time.Minute {
			late++
			t.Logf("seed %d: a start or end is off by %s", seed, off)
		}
	}
	if late > days/100 {
		t.Errorf("%d of %d days have a start or end more than a minute off", late, days)
	}
}

func pt(at time.Time, p geo.Point, acc int) projections.Point {
	return projections.Point{Tst: at.Unix(), Lat: p.Lat, Lon: p.Lon, Acc: acc}
}

// every makes fixes at p from start for d, one every step.
func every(start time.Time, d, step time.Duration, p func(i int) geo.Point, acc int) []projections.Point {
	var out []projections.Point
	for i, at := 0, start; !at.After(start.Add(d)); i, at = i+1, at.Add(step) {
		out = append(out, pt(at, p(i), acc))
	}
	return out
}

func TestDetectRules(t *testing.T) {
	here := visitstest.Home
	there := visitstest.Offset(here, 2000, 0)
	at := func(p geo.Point) func(int) geo.Point { return func(int) geo.Point { return p } }
	m := time.Minute
	type seg struct {
		kind       visits.Kind
		start, end time.Duration // from day0
	}
	tests := []struct {
		name   string
		cfg    visits.Config
		points []projections.Point
		want   []seg
	}{
		{
			name:   "four minutes still is no stay",
			points: every(day0, 4*m, m, at(here), 10),
			want:   []seg{{visits.KindJourney, 0, 4 * m}},
		},
		{
			name:   "five minutes still is a stay",
			points: every(day0, 5*m, m, at(here), 10),
			want:   []seg{{visits.KindStay, 0, 5 * m}},
		},
		{
			name:   "a shorter minimum, configured",
			cfg:    visits.Config{MinStay: 3 * m},
			points: every(day0, 4*m, m, at(here), 10),
			want:   []seg{{visits.KindStay, 0, 4 * m}},
		},
		{
			name: "a gap longer than the threshold ends the stay rather than stretching it",
			points: append(every(day0, 10*m, m, at(here), 10),
				every(day0.Add(90*m), 10*m, m, at(here), 10)...),
			want: []seg{{visits.KindStay, 0, 10 * m}, {visits.KindStay, 90 * m, 100 * m}},
		},
		{
			name: "a gap shorter than the threshold is part of the stay",
			points: append(every(day0, 10*m, m, at(here), 10),
				every(day0.Add(30*m), 10*m, m, at(here), 10)...),
			want: []seg{{visits.KindStay, 0, 40 * m}},
		},
		{
			name:   "a longer threshold, configured",
			cfg:    visits.Config{MaxGap: 2 * time.Hour},
			points: append(every(day0, 10*m, m, at(here), 10), every(day0.Add(90*m), 10*m, m, at(here), 10)...),
			want:   []seg{{visits.KindStay, 0, 100 * m}},
		},
		{
			name: "a stay, a journey, a stay",
			points: concat(
				every(day0, 10*m, m, at(here), 10),
				every(day0.Add(11*m), 3*m, m, func(i int) geo.Point { return visitstest.Offset(here, 400*float64(i+1), 0) }, 10),
				every(day0.Add(15*m), 10*m, m, at(there), 10),
			),
			want: []seg{{visits.KindStay, 0, 10 * m}, {visits.KindJourney, 10 * m, 15 * m}, {visits.KindStay, 15 * m, 25 * m}},
		},
		{
			name: "fixes far less precise than the radius are ignored",
			points: concat(
				every(day0, 10*m, m, at(here), 10),
				every(day0.Add(10*m+30*time.Second), 3*m, m, at(there), 2000), // a cell tower fix
				every(day0.Add(14*m), 10*m, m, at(here), 10),
			),
			want: []seg{{visits.KindStay, 0, 24 * m}},
		},
		{
			name: "one fix off, then back: jitter, not a departure",
			points: concat(
				every(day0, 10*m, m, at(here), 10),
				[]projections.Point{pt(day0.Add(10*m+30*time.Second), there, 20)},
				every(day0.Add(11*m), 10*m, m, at(here), 10),
			),
			want: []seg{{visits.KindStay, 0, 21 * m}},
		},
		{
			name:   "a fix's accuracy widens the radius by half of it",
			points: every(day0, 10*m, m, func(i int) geo.Point { return visitstest.Offset(here, float64(i%2)*140, 0) }, 100),
			want:   []seg{{visits.KindStay, 0, 10 * m}},
		},
		{
			name:   "without the accuracy, the radius alone",
			points: noAcc(every(day0, 10*m, m, func(i int) geo.Point { return visitstest.Offset(here, float64(i%2)*140, 0) }, 0)),
			want:   []seg{{visits.KindStay, 0, 10 * m}},
		},
		{
			name:   "a slow walk is no stay",
			points: every(day0, 20*m, 15*time.Second, func(i int) geo.Point { return visitstest.Offset(here, float64(i)*15, 0) }, 10),
			want:   []seg{{visits.KindJourney, 0, 20 * m}},
		},
		{
			name: "fixes not after the previous one are skipped",
			points: concat(every(day0, 10*m, m, at(here), 10),
				every(day0, 10*m, m, at(there), 10)),
			want: []seg{{visits.KindStay, 0, 10 * m}},
		},
		{name: "no fixes"},
		{name: "one fix", points: every(day0, 0, m, at(here), 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := visits.Detect(tt.cfg, tt.points)
			if len(got) != len(tt.want) {
				t.Fatalf("got\n%swant %v", describe(got), tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Kind != w.kind || !g.Start.Equal(day0.Add(w.start)) || !g.End.Equal(day0.Add(w.end)) {
					t.Errorf("segment %d: got\n%swant %v", i, describe(got[i:i+1]), w)
				}
			}
		})
	}
}

func noAcc(pts []projections.Point) []projections.Point {
	for i := range pts {
		pts[i].Absent |= owntracks.FieldAcc
	}
	return pts
}

func concat(parts ...[]projections.Point) []projections.Point {
	var out []projections.Point
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// The streaming detector emits each segment as soon as it is known: the
// journey when the stay after it has lasted the minimum, not at the end.
func TestDetectorEmitsEarly(t *testing.T) {
	day := visitstest.SyntheticDay(day0, 1)
	var got []visits.Segment
	var emittedAt []int64
	d := visits.NewDetector(visits.Config{}, func(s visits.Segment) {
		got = append(got, s)
		emittedAt = append(emittedAt, 0)
	})
	last := int64(0)
	for _, p := range day.Points {
		d.Add(p)
		for i := range emittedAt {
			if emittedAt[i] == 0 {
				emittedAt[i] = p.Tst
			}
		}
		last = p.Tst
	}
	if len(got) < 2 || got[0].Kind != visits.KindStay {
		t.Fatalf("before Close: %s", describe(got))
	}
	// The drive to the office is told once the office stay has lasted 5 min.
	if got[1].Kind != visits.KindJourney || emittedAt[1]-got[1].End.Unix() > 6*60 {
		t.Errorf("the first journey was emitted at %s, ending %s", time.Unix(emittedAt[1], 0).UTC(), got[1].End)
	}
	n := len(got)
	d.Close()
	if len(got) != n+1 || !got[n].Open || got[n].End.Unix() != last {
		t.Errorf("Close emits the open stay: %s", describe(got[n:]))
	}
}

// FuzzDetect: whatever the fixes, segments come in order, do not overlap,
// stays last at least the minimum and journeys lie between stays.
func FuzzDetect(f *testing.F) {
	f.Add([]byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
	day := visitstest.SyntheticDay(day0, 3)
	var seed []byte
	for _, p := range day.Points[:200] {
		seed = binary.BigEndian.AppendUint16(seed, uint16(p.Tst-day0.Unix())/8)
		seed = append(seed, byte((p.Lat-visitstest.Home.Lat)*1e4), byte((p.Lon-visitstest.Home.Lon)*1e4), byte(p.Acc))
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		var pts []projections.Point
		tst := day0.Unix()
		for len(b) >= 5 {
			tst += int64(binary.BigEndian.Uint16(b)) % 900
			p := visitstest.Offset(visitstest.Home, float64(int8(b[2]))*15, float64(int8(b[3]))*15)
			pts = append(pts, projections.Point{Tst: tst, Lat: p.Lat, Lon: p.Lon, Acc: int(b[4]) * 2})
			b = b[5:]
		}
		cfg := visits.Config{}.WithDefaults()
		segs := visits.Detect(cfg, pts)
		var prevEnd time.Time
		for i, s := range segs {
			if s.End.Before(s.Start) || s.Start.Before(prevEnd) {
				t.Fatalf("segment %d out of order:\n%s", i, describe(segs))
			}
			prevEnd = s.End
			switch s.Kind {
			case visits.KindStay:
				if s.Duration() < cfg.MinStay || s.Centre == nil || s.Points < 2 {
					t.Fatalf("stay %d too short or without centre:\n%s", i, describe(segs))
				}
			case visits.KindJourney:
				if s.Points < 0 || s.DistanceM < 0 {
					t.Fatalf("journey %d empty:\n%s", i, describe(segs))
				}
			}
		}
	})
}

// BenchmarkDetect: fixes per second through the detector: a synthetic
// day (stays a fix a minute, journeys every 15 s), and a drive sending a
// fix every second at 40 km/h (every stay candidate left again and
// again: the detector's worst common case).
func BenchmarkDetect(b *testing.B) {
	drive := make([]projections.Point, 20_000)
	for i := range drive {
		p := visitstest.Offset(visitstest.Home, float64(i)*11, float64(i%7))
		drive[i] = projections.Point{Tst: day0.Unix() + int64(i), Lat: p.Lat, Lon: p.Lon, Acc: 5}
	}
	for _, c := range []struct {
		name string
		pts  []projections.Point
	}{{"day", visitstest.SyntheticDay(day0, 1).Points}, {"drive-1s", drive}} {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				d := visits.NewDetector(visits.Config{}, func(visits.Segment) {})
				for _, p := range c.pts {
					d.Add(p)
				}
				d.Close()
				n += len(c.pts)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "points/s")
			// The machine is shared: CPU time says what wall time cannot.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/point")
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
