package projections

import (
	"time"

	"tracker/projections/geo"
)

// RangeStats accumulates, point by point, what a history range adds up
// to: distance travelled and time spent per area. It keeps only the
// previous point, so a range of any length takes constant memory.
//
// Time per area comes from the points alone, so an area defined today
// answers for last spring. The interval between two fixes counts fully
// when both are inside an area, half when only one is (the crossing lies
// somewhere between), and not at all when it is longer than MaxGap: the
// phone said nothing, so a visit ends at its last fix rather than
// stretching over the silence (the rule stays use, projections/visits).
type RangeStats struct {
	// MaxGap is the longest interval between two fixes that is credited;
	// zero means DefaultMaxGap.
	MaxGap time.Duration

	areas  []*Area
	prev   *Point
	prevIn []bool
	halfs  []int64 // per area: seconds * 2
	dist   float64
	n      int
}

// DefaultMaxGap is the longest silence between two fixes that still joins
// them into one visit (--stay-gap): a phone at rest that still reports
// now and then stays; one silent for longer is not known to be there.
const DefaultMaxGap = 30 * time.Minute

// NewRangeStats prepares to sum time for the given areas (those without
// geometry are ignored).
func NewRangeStats(areas []*Area) *RangeStats {
	var withGeo []*Area
	for _, a := range areas {
		if a.HasGeometry() {
			withGeo = append(withGeo, a)
		}
	}
	return &RangeStats{areas: withGeo, prevIn: make([]bool, len(withGeo)), halfs: make([]int64, len(withGeo))}
}

// Add takes the next point; points come in tst order.
func (r *RangeStats) Add(p Point) {
	r.n++
	in := make([]bool, len(r.areas))
	for i, a := range r.areas {
		in[i] = a.Contains(p.Geo())
	}
	if r.prev != nil {
		maxGap := r.MaxGap
		if maxGap <= 0 {
			maxGap = DefaultMaxGap
		}
		if dt := p.Tst - r.prev.Tst; dt > 0 && time.Duration(dt)*time.Second <= maxGap {
			for i := range r.areas {
				switch {
				case in[i] && r.prevIn[i]:
					r.halfs[i] += 2 * dt
				case in[i] || r.prevIn[i]:
					r.halfs[i] += dt
				}
			}
		}
		r.dist += geo.Distance(r.prev.Geo(), p.Geo())
	}
	r.prev, r.prevIn = &p, in
}

// Points is how many points were added.
func (r *RangeStats) Points() int { return r.n }

// Distance is the length of the track in metres.
func (r *RangeStats) Distance() float64 { return r.dist }

// AreaTime is the time spent in one area.
type AreaTime struct {
	Area    string        `json:"area"`
	Name    string        `json:"name"`
	Seconds float64       `json:"seconds"`
	Time    time.Duration `json:"-"`
}

// TimeInAreas lists the areas with time spent in them, in area order.
func (r *RangeStats) TimeInAreas() []AreaTime {
	var out []AreaTime
	for i, a := range r.areas {
		if r.halfs[i] == 0 {
			continue
		}
		d := time.Duration(r.halfs[i]) * time.Second / 2
		out = append(out, AreaTime{Area: a.ID, Name: a.Name, Seconds: d.Seconds(), Time: d})
	}
	return out
}
