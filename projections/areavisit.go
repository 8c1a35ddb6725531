package projections

import "time"

// AreaVisits sums one friend's time inside one area over a range of
// points, by the same rule as the history's time per area (RangeStats),
// and keeps the first and last moments a point was inside. It answers
// "who was inside this shape lately" before the shape is saved: areas
// apply to past history, so the admin sees what a new area will say.
type AreaVisits struct {
	stats  *RangeStats
	First  int64 // tst of the first point inside; 0 when none was
	Last   int64 // tst of the last point inside
	Inside int   // points inside
}

// NewAreaVisits prepares to sum time inside a; an area without geometry
// is never entered.
func NewAreaVisits(a *Area) *AreaVisits {
	return &AreaVisits{stats: NewRangeStats([]*Area{a})}
}

// SetMaxGap sets the longest interval credited (RangeStats.MaxGap).
func (v *AreaVisits) SetMaxGap(d time.Duration) { v.stats.MaxGap = d }

// Add takes the next point; points come in tst order.
func (v *AreaVisits) Add(p Point) {
	v.stats.Add(p)
	if len(v.stats.prevIn) == 0 || !v.stats.prevIn[0] {
		return
	}
	if v.Inside == 0 {
		v.First = p.Tst
	}
	v.Inside++
	v.Last = p.Tst
}

// Points is how many points were added.
func (v *AreaVisits) Points() int { return v.stats.Points() }

// Time is the time spent inside.
func (v *AreaVisits) Time() time.Duration {
	if t := v.stats.TimeInAreas(); len(t) > 0 {
		return t[0].Time
	}
	return 0
}
