package projections_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
)

func TestRangeStats(t *testing.T) {
	// Areas as the projector hands them over. All are defined long after
	// the track: time per area comes from the points alone.
	later := time.Unix(t0+1e6, 0)
	gymArea := &projections.Area{ID: gymID, Name: "Gym", Origin: projections.OriginServer, Center: &gym, Radius: gymRadius, Defined: later}
	box := &projections.Area{ID: "s:box", Name: "Box", Origin: projections.OriginServer, Defined: later, Polygon: []geo.Point{
		{Lat: 51.49, Lon: -0.14}, {Lat: 51.49, Lon: -0.11}, {Lat: 51.52, Lon: -0.11}, {Lat: 51.52, Lon: -0.14},
	}}
	parisArea := &projections.Area{ID: "s:paris", Name: "Paris", Origin: projections.OriginServer, Center: &paris, Radius: 1000, Defined: later}
	club := &projections.Area{ID: "p:alice/phone:rid:c1", Name: "Club", Origin: projections.OriginPhone, Owner: alice, Defined: later} // no geometry
	beacon := &projections.Area{ID: "p:alice/phone:rid:b1", Name: "Beacon", Origin: projections.OriginPhone, Owner: alice, Center: &gym, Defined: later}

	pt := func(dt int64, p geo.Point) projections.Point {
		return projections.Point{Tst: t0 + dt, Lat: p.Lat, Lon: p.Lon}
	}
	// A walk into the gym and out again.
	walk := []projections.Point{
		pt(0, north(gym, 300)),   // outside
		pt(60, north(gym, 50)),   // crossing in: half of 60 s
		pt(120, gym),             // inside: 60 s
		pt(300, north(gym, 50)),  // inside: 180 s
		pt(360, north(gym, 300)), // crossing out: half of 60 s
		pt(360, north(gym, 300)), // same tst: adds nothing
	}
	tests := []struct {
		name   string
		areas  []*projections.Area
		points []projections.Point
		want   []projections.AreaTime
		dist   float64 // m, ± 1
	}{
		{
			name:   "full intervals inside, half on crossings",
			areas:  []*projections.Area{gymArea},
			points: walk,
			want:   []projections.AreaTime{{Area: gymID, Name: "Gym", Seconds: 300, Time: 300 * time.Second}},
			dist:   600,
		},
		{
			name:   "several areas in the order given; areas never entered and without geometry are left out",
			areas:  []*projections.Area{club, parisArea, box, beacon, gymArea},
			points: walk,
			want: []projections.AreaTime{
				{Area: "s:box", Name: "Box", Seconds: 360, Time: 360 * time.Second},
				{Area: gymID, Name: "Gym", Seconds: 300, Time: 300 * time.Second},
			},
			dist: 600,
		},
		{
			name:   "one crossing of an odd length counts half a second",
			areas:  []*projections.Area{gymArea},
			points: []projections.Point{pt(0, gym), pt(3, paris)},
			want:   []projections.AreaTime{{Area: gymID, Name: "Gym", Seconds: 1.5, Time: 1500 * time.Millisecond}},
			dist:   geo.Distance(gym, paris),
		},
		{
			// Issue 16: about 2 minutes at the office, then the phone was
			// silent for 80 minutes and reported from elsewhere; half the
			// silence was credited (42 min 30 s).
			name:   "a gap longer than MaxGap is not credited, neither inside nor on a crossing",
			areas:  []*projections.Area{gymArea},
			points: []projections.Point{pt(0, north(gym, 300)), pt(60, gym), pt(180, north(gym, 20)), pt(180+80*60, paris), pt(180+81*60, gym), pt(180+200*60, gym)},
			want:   []projections.AreaTime{{Area: gymID, Name: "Gym", Seconds: 180, Time: 180 * time.Second}}, // 30 s + 2 min + 30 s back in
			dist:   300 + 20 + geo.Distance(north(gym, 20), paris) + geo.Distance(paris, gym),
		},
		{
			name:   "a gap up to MaxGap joins the fixes",
			areas:  []*projections.Area{gymArea},
			points: []projections.Point{pt(0, gym), pt(30*60, gym)},
			want:   []projections.AreaTime{{Area: gymID, Name: "Gym", Seconds: 1800, Time: 30 * time.Minute}},
		},
		{
			name:   "a single point has no time and no distance",
			areas:  []*projections.Area{gymArea},
			points: []projections.Point{pt(0, gym)},
		},
		{
			name:  "no points",
			areas: []*projections.Area{gymArea},
		},
		{
			name:   "no areas",
			points: walk,
			dist:   600,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := projections.NewRangeStats(tt.areas)
			for _, p := range tt.points {
				r.Add(p)
			}
			if r.Points() != len(tt.points) {
				t.Errorf("Points = %d, want %d", r.Points(), len(tt.points))
			}
			if got := r.TimeInAreas(); !slices.Equal(got, tt.want) {
				t.Errorf("TimeInAreas =\n %+v\nwant\n %+v", got, tt.want)
			}
			if math.Abs(r.Distance()-tt.dist) > 1 {
				t.Errorf("Distance = %.2f m, want %.2f", r.Distance(), tt.dist)
			}
		})
	}
}
