package projections_test

import (
	"math"
	"testing"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
)

// TestAreaVisits: the preview of a drawn shape counts time as the
// history's time per area does and names the first and last moments
// inside, for circles and for polygons as people draw them.
func TestAreaVisits(t *testing.T) {
	circle := &projections.Area{Name: "drawn", Center: &gym, Radius: gymRadius}
	// A concave "L" around the gym, in units of d: the foot spans
	// lat -1..1, lon -1..4; the upright lat 1..8, lon -1..1; the notch
	// between them is outside.
	const d = 0.002
	at := func(dlat, dlon float64) geo.Point { return geo.Point{Lat: gym.Lat + dlat*d, Lon: gym.Lon + dlon*d} }
	ell := &projections.Area{Name: "drawn", Polygon: []geo.Point{at(-1, -1), at(-1, 4), at(1, 4), at(1, 1), at(8, 1), at(8, -1)}}
	pt := func(dt int64, p geo.Point) projections.Point {
		return projections.Point{Tst: t0 + dt, Lat: p.Lat, Lon: p.Lon}
	}
	walk := []projections.Point{
		pt(0, north(gym, 300)),   // outside the circle
		pt(60, north(gym, 50)),   // crossing in: half of 60 s
		pt(120, gym),             // inside: 60 s
		pt(300, north(gym, 50)),  // inside: 180 s
		pt(360, north(gym, 300)), // crossing out: half of 60 s
	}
	tests := []struct {
		name        string
		area        *projections.Area
		points      []projections.Point
		want        time.Duration
		first, last int64 // relative to t0; -1: never inside
		inside      int
	}{
		{"circle: full intervals inside, half on crossings", circle, walk, 300 * time.Second, 60, 300, 3},
		{"never inside", circle, []projections.Point{pt(0, paris), pt(60, paris)}, 0, -1, -1, 0},
		{"one point inside counts no time but is a moment", circle, []projections.Point{pt(0, paris), pt(100, gym)}, 50 * time.Second, 100, 100, 1},
		{"no points", circle, nil, 0, -1, -1, 0},
		{"concave polygon: the notch is outside", ell, []projections.Point{
			pt(0, at(0, 0)),    // in the foot
			pt(100, at(0, 3)),  // still in the foot: 100 s
			pt(200, at(3, 3)),  // out in the notch: 50 s
			pt(300, at(3, 0)),  // in the upright: 50 s
			pt(400, at(6, 0)),  // in the upright: 100 s
			pt(500, at(10, 0)), // beyond the top: 50 s
		}, 350 * time.Second, 0, 400, 4},
		{"an area without geometry is never entered", &projections.Area{Name: "none"}, walk, 0, -1, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := projections.NewAreaVisits(tt.area)
			for _, p := range tt.points {
				v.Add(p)
			}
			if v.Time() != tt.want || v.Inside != tt.inside || v.Points() != len(tt.points) {
				t.Errorf("time %v inside %d points %d, want %v, %d, %d", v.Time(), v.Inside, v.Points(), tt.want, tt.inside, len(tt.points))
			}
			first, last := v.First-t0, v.Last-t0
			if v.Inside == 0 {
				first, last = -1, -1
				if v.First != 0 || v.Last != 0 {
					t.Errorf("first/last %d/%d set without a point inside", v.First, v.Last)
				}
			}
			if first != tt.first || last != tt.last {
				t.Errorf("first/last inside %+d/%+d, want %+d/%+d", first, last, tt.first, tt.last)
			}
		})
	}
}

// BenchmarkAreaVisits: the preview's cost per point of history, by
// shape. A week of one fix a minute is 10,080 points per friend.
func BenchmarkAreaVisits(b *testing.B) {
	ring := func(n int) []geo.Point {
		out := make([]geo.Point, n)
		for i := range out {
			a := 2 * math.Pi * float64(i) / float64(n)
			out[i] = geo.Point{Lat: gym.Lat + 0.01*math.Sin(a), Lon: gym.Lon + 0.015*math.Cos(a)}
		}
		return out
	}
	pts := make([]projections.Point, 10_080)
	for i := range pts { // a walk through the area and out again
		f := float64(i)/float64(len(pts)) - 0.5
		pts[i] = projections.Point{Tst: t0 + int64(i)*60, Lat: gym.Lat + 0.03*f, Lon: gym.Lon + 0.02*f}
	}
	for _, tt := range []struct {
		name string
		area *projections.Area
	}{
		{"circle", &projections.Area{Center: &gym, Radius: 1000}},
		{"polygon of 10", &projections.Area{Polygon: ring(10)}},
		{"polygon of 1000", &projections.Area{Polygon: ring(1000)}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				v := projections.NewAreaVisits(tt.area)
				for _, p := range pts {
					v.Add(p)
				}
				if v.Inside == 0 {
					b.Fatal("the walk never entered the area")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pts)), "ns/point")
		})
	}
}
