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
	"hash/fnv"
	"slices"

	"tracker/projections"
	"tracker/projections/geo"
	"tracker/projections/visits"
)

// Version names what Summarize makes; bump it when that changes, so
// summaries kept from before are made again.
const Version = 1

// Day is what one day of a device's history adds up to.
type Day struct {
	From   int64 `json:"from"` // the span, Unix seconds
	To     int64 `json:"to"`
	Points int   `json:"n"`
	First  int64 `json:"first,omitempty"` // tst of the first and last fix in use
	Last   int64 `json:"last,omitempty"`
	// DistanceM is the length of the day's journeys: fixes within a stay
	// (a phone's jitter on a desk) add nothing, nor do gaps longer than
	// the visits' MaxGap.
	DistanceM float64 `json:"dist_m"`
	// Stays are where the device stayed (from the visits detector), cut
	// at the day's bounds.
	Stays []Stay `json:"stays,omitempty"`
	// Countries and towns with a fix that day.
	Countries []Country `json:"countries,omitempty"`
	Towns     []Town    `json:"towns,omitempty"`
	// Journey is the day's longest journey (movement between two stays).
	Journey *Journey `json:"journey,omitempty"`
}

// Stay is a time spent in one place.
type Stay struct {
	From    int64   `json:"from"`
	To      int64   `json:"to"`
	Lat     float64 `json:"lat"` // the stay's centre
	Lon     float64 `json:"lon"`
	Country string  `json:"cc,omitempty"`   // where the centre is (Summarizer.Where)
	Town    string  `json:"town,omitempty"` // the nearest town
	// The place (an area or region) is found when the days are added up,
	// by the areas as they are then: an area drawn today names last
	// spring's stays.
}

// Seconds is the stay's length.
func (s Stay) Seconds() int64 { return s.To - s.From }

// Country is a country visited.
type Country struct {
	CC   string `json:"cc"`   // ISO 3166-1 alpha-2; "" for a shape without a code of its own
	Name string `json:"name"` // English short name, e.g. "Belgium"
}

// Town is a town visited.
type Town struct {
	Name    string `json:"name"`
	Country string `json:"cc,omitempty"` // the town's country (alpha-2)
}

// Place is what a geocoder says of a position: the country and the
// nearest town, each "" when unknown (at sea, far from towns).
type Place struct {
	Country Country
	Town    Town
}

// Journey is a movement from one place to another.
type Journey struct {
	From      int64   `json:"from"`
	To        int64   `json:"to"`
	DistanceM float64 `json:"distance_m"`
}

// Seconds is the journey's duration.
func (j Journey) Seconds() int64 { return j.To - j.From }

// Summarizer makes day summaries: stays and journeys by the visits
// detector with Visits, countries and towns by Where when set.
type Summarizer struct {
	// Visits says what counts as a stay (zero: the defaults).
	Visits visits.Config
	// Where names the country and nearest town of a position (the
	// offline geocoder); nil: no countries or towns.
	Where func(lat, lon float64) Place
	// WhereVersion names Where's data (e.g. of the geocoder's data set),
	// so that summaries made with other data are made again.
	WhereVersion uint64
}

// CacheVersion is what a DaysQuery's Version should be: it changes with
// Version, the stay rules and the geocoder.
func (s Summarizer) CacheVersion() uint64 {
	c := s.Visits.WithDefaults()
	h := fnv.New64a()
	fmt.Fprintf(h, "%d %g %d %d %g %t %d", Version, c.Radius, c.MinStay, c.MaxGap, c.MaxAcc, s.Where != nil, s.WhereVersion)
	return h.Sum64()
}

// whereEvery: a place is looked up (country, town) at the day's first
// fix, then at each fix this far from the last one looked up.
const whereEvery = 2000.0 // m

// Summarize sums up one span's points in use, in tst order.
func (s Summarizer) Summarize(sp projections.DaySpan, pts []projections.Point) Day {
	d := Day{From: sp.From, To: sp.To, Points: len(pts)}
	if len(pts) == 0 {
		return d
	}
	d.First, d.Last = pts[0].Tst, pts[len(pts)-1].Tst
	for _, seg := range visits.Detect(s.Visits, pts) {
		switch {
		case seg.Kind == visits.KindStay && seg.Centre != nil:
			st := Stay{From: max(seg.Start.Unix(), sp.From), To: min(seg.End.Unix(), sp.To), Lat: seg.Centre.Lat, Lon: seg.Centre.Lon}
			if st.To > st.From {
				d.Stays = append(d.Stays, st)
			}
		case seg.Kind == visits.KindJourney:
			d.DistanceM += seg.DistanceM
			if d.Journey == nil || seg.DistanceM > d.Journey.DistanceM {
				d.Journey = &Journey{From: seg.Start.Unix(), To: seg.End.Unix(), DistanceM: seg.DistanceM}
			}
		}
	}
	if s.Where != nil {
		var last *geo.Point
		look := func(lat, lon float64) (string, string) {
			pl := s.Where(lat, lon)
			if pl.Country.Name != "" && !slices.Contains(d.Countries, pl.Country) {
				d.Countries = append(d.Countries, pl.Country)
			}
			if pl.Town.Name != "" && !slices.Contains(d.Towns, pl.Town) {
				d.Towns = append(d.Towns, pl.Town)
			}
			return pl.Country.CC, pl.Town.Name
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
