package visits

import (
	"cmp"
	"math"
	"slices"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
)

// Suggestion is a place where devices stayed often that no area covers
// yet: offered to an admin to name.
type Suggestion struct {
	Centre geo.Point `json:"centre"`
	// Radius (m) covers the stays' centres, at least 50, at most the
	// stay radius.
	Radius  float64                `json:"radius"`
	Stays   int                    `json:"stays"`
	Seconds float64                `json:"seconds"` // time spent there, all stays
	First   time.Time              `json:"first"`
	Last    time.Time              `json:"last"`
	Devices []projections.DeviceID `json:"devices"`
	// Address names it in words when a geocoder knew (Suggester.Address).
	Address string `json:"address,omitempty"`
}

// Suggester gathers stays (of one or more devices) into places: a stay
// joins the place whose centre is within Radius of its own, the centre
// being the time-weighted mean of its stays'. Memory grows with the
// places found, not with the stays.
type Suggester struct {
	// Radius (m) within which stays are one place; zero: DefaultRadius.
	Radius float64
	// MinStays makes a place a suggestion; zero: 3.
	MinStays int

	places []*suggestion
}

type suggestion struct {
	Suggestion
	wsum, wlat, wlon float64
	far              float64 // farthest stay centre from the place's centre when it joined
}

// Add takes the stays among segs of dev.
func (s *Suggester) Add(dev projections.DeviceID, segs []Segment) {
	radius := s.Radius
	if radius <= 0 {
		radius = DefaultRadius
	}
	for _, seg := range segs {
		if seg.Kind != KindStay || seg.Centre == nil {
			continue
		}
		c := *seg.Centre
		var best *suggestion
		bestD := math.Inf(1)
		for _, p := range s.places {
			if d := geo.Distance(p.Centre, c); d <= radius && d < bestD {
				best, bestD = p, d
			}
		}
		if best == nil {
			best = &suggestion{Suggestion: Suggestion{First: seg.Start, Last: seg.End}}
			s.places = append(s.places, best)
		}
		w := max(seg.Duration().Seconds(), 1)
		best.wsum += w
		best.wlat += w * c.Lat
		best.wlon += w * c.Lon
		best.Centre = geo.Point{Lat: best.wlat / best.wsum, Lon: best.wlon / best.wsum}
		best.far = max(best.far, geo.Distance(best.Centre, c))
		best.Stays++
		best.Seconds += seg.Duration().Seconds()
		if seg.Start.Before(best.First) {
			best.First = seg.Start
		}
		if seg.End.After(best.Last) {
			best.Last = seg.End
		}
		if !slices.Contains(best.Devices, dev) {
			best.Devices = append(best.Devices, dev)
		}
	}
}

// Suggestions are the places with at least MinStays stays whose centre no
// area in areas contains, most stays first.
func (s *Suggester) Suggestions(areas []*projections.Area) []Suggestion {
	minStays := s.MinStays
	if minStays <= 0 {
		minStays = 3
	}
	radius := s.Radius
	if radius <= 0 {
		radius = DefaultRadius
	}
	out := []Suggestion{}
	for _, p := range s.places {
		if p.Stays < minStays || slices.ContainsFunc(areas, func(a *projections.Area) bool { return a.Contains(p.Centre) }) {
			continue
		}
		sg := p.Suggestion
		sg.Centre = geo.Point{Lat: math.Round(sg.Centre.Lat*1e6) / 1e6, Lon: math.Round(sg.Centre.Lon*1e6) / 1e6}
		sg.Radius = math.Round(min(max(p.far+25, 50), radius))
		slices.Sort(sg.Devices)
		out = append(out, sg)
	}
	slices.SortFunc(out, func(a, b Suggestion) int {
		if c := cmp.Compare(b.Stays, a.Stays); c != 0 {
			return c
		}
		return cmp.Compare(b.Seconds, a.Seconds)
	})
	return out
}
