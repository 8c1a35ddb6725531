// Package stats sums a friend's history up per day and per period:
// distance, time per place, days per country, countries and towns
// visited, the longest journey. A day's summary is made once from the
// day's points (Summarizer.Summarize) and kept by the projections' store
// until the day's history or corrections change (projections.DaysQuery);
// a period's figures are added up from its days' summaries (Add), so
// years of history cost one read of small summaries, not of the points.
//
// Pure: no I/O, no clock.
package stats

import (
	"encoding/json"
	"fmt"
	"slices"

	"tracker/projections"
	"tracker/projections/geo"
)

// Version names what Summarize makes; bump it when that changes, so
// summaries kept from before are made again.
const Version = 1

// Day is what one day of a device's history adds up to.
type Day struct {
	From      int64   `json:"from"` // the span, Unix seconds
	To        int64   `json:"to"`
	Points    int     `json:"n"`
	First     int64   `json:"first,omitempty"` // tst of the first and last fix in use
	Last      int64   `json:"last,omitempty"`
	DistanceM float64 `json:"dist_m"`
	// Stays are where the device stayed (from the visits detector), cut
	// at the day's bounds.
	Stays []Stay `json:"stays,omitempty"`
	// Countries (ISO 3166-1 alpha-2) and towns with a fix that day.
	Countries []string `json:"cc,omitempty"`
	Towns     []Town   `json:"towns,omitempty"`
	// Journey is the day's longest journey (movement between two stays).
	Journey *Journey `json:"journey,omitempty"`
}

// Stay is a time spent in one place.
type Stay struct {
	From    int64   `json:"from"`
	To      int64   `json:"to"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Place   string  `json:"place,omitempty"` // the area or region it matched when summarised (id)
	Name    string  `json:"name,omitempty"`  // its name then, or an address
	Country string  `json:"cc,omitempty"`
	Town    string  `json:"town,omitempty"`
}

// Seconds is the stay's length.
func (s Stay) Seconds() int64 { return s.To - s.From }

// Town is a town visited.
type Town struct {
	Name    string `json:"name"`
	Country string `json:"cc,omitempty"`
}

// Journey is a movement from one place to another.
type Journey struct {
	From      int64   `json:"from"`
	To        int64   `json:"to"`
	DistanceM float64 `json:"distance_m"`
}

// Seconds is the journey's duration.
func (j Journey) Seconds() int64 { return j.To - j.From }

// Summarizer makes day summaries. Its parts are optional: without Stays
// a day has no stays and no journeys, without Where no countries or
// towns.
type Summarizer struct {
	// Stays finds the stays and journeys in a day's points (in tst order).
	Stays func(pts []projections.Point) ([]Stay, []Journey)
	// Where names the country (ISO alpha-2) and nearest town of a place.
	Where func(lat, lon float64) (country, town string)
	// Version names the parts (a geocoder's data, a detector's rules);
	// it goes into the summaries' version.
	Version uint64
}

// CacheVersion is what a DaysQuery's Version should be.
func (s Summarizer) CacheVersion() uint64 {
	v := uint64(Version)<<48 ^ s.Version
	if s.Stays != nil {
		v ^= 1 << 62
	}
	if s.Where != nil {
		v ^= 1 << 61
	}
	return v
}

// Jitter: a fix closer than this to the last one counted (or within the
// accuracy either claims, up to maxJitter) adds no distance, so a phone
// lying on a desk does not walk kilometres a day.
const (
	minJitter = 25.0  // m
	maxJitter = 200.0 // m
	// whereEvery: a place is looked up (country, town) at the first fix,
	// then at each fix this far from the last one looked up.
	whereEvery = 2000.0 // m
)

// Summarize sums up one span's points in use, in tst order.
func (s Summarizer) Summarize(sp projections.DaySpan, pts []projections.Point) Day {
	d := Day{From: sp.From, To: sp.To, Points: len(pts)}
	if len(pts) == 0 {
		return d
	}
	d.First, d.Last = pts[0].Tst, pts[len(pts)-1].Tst
	d.DistanceM = Distance(pts)
	if s.Stays != nil {
		stays, journeys := s.Stays(pts)
		for _, st := range stays {
			st.From, st.To = max(st.From, sp.From), min(st.To, sp.To)
			if st.To > st.From {
				d.Stays = append(d.Stays, st)
			}
		}
		for _, j := range journeys {
			if d.Journey == nil || j.DistanceM > d.Journey.DistanceM {
				jj := j
				d.Journey = &jj
			}
		}
	}
	if s.Where != nil {
		seen := map[Town]bool{}
		var last *geo.Point
		look := func(lat, lon float64) (string, string) {
			cc, town := s.Where(lat, lon)
			if cc != "" && !slices.Contains(d.Countries, cc) {
				d.Countries = append(d.Countries, cc)
			}
			if t := (Town{Name: town, Country: cc}); town != "" && !seen[t] {
				seen[t] = true
				d.Towns = append(d.Towns, t)
			}
			return cc, town
		}
		for _, p := range pts {
			if last != nil && geo.Distance(*last, p.Geo()) < whereEvery {
				continue
			}
			g := p.Geo()
			last = &g
			look(p.Lat, p.Lon)
		}
		for i := range d.Stays {
			d.Stays[i].Country, d.Stays[i].Town = look(d.Stays[i].Lat, d.Stays[i].Lon)
		}
	}
	return d
}

// Distance is the length of a track in metres, leaving out jitter: a fix
// adds its distance from the last fix counted only when it is farther
// than minJitter and than the accuracy either claims (up to maxJitter).
func Distance(pts []projections.Point) float64 {
	if len(pts) == 0 {
		return 0
	}
	var dist float64
	anchor := pts[0]
	for _, p := range pts[1:] {
		step := geo.Distance(anchor.Geo(), p.Geo())
		limit := minJitter
		if a, ok := anchor.Accuracy(); ok {
			limit = max(limit, float64(a))
		}
		if a, ok := p.Accuracy(); ok {
			limit = max(limit, float64(a))
		}
		if step <= min(limit, maxJitter) {
			continue
		}
		dist += step
		anchor = p
	}
	return dist
}

// Encode and Decode are a summary's stored form.
func Encode(d Day) ([]byte, error) { return json.Marshal(d) }

// Decode reads a summary Encode made.
func Decode(b []byte) (Day, error) {
	var d Day
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("stats: day summary: %w", err)
	}
	return d, nil
}
