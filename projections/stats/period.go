package stats

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
	"tracker/projections/visits"
)

// Periods the stats are asked for.
const (
	PeriodWeek  = "week"  // Monday to Sunday
	PeriodMonth = "month" // a calendar month
	PeriodYear  = "year"  // a calendar year
	PeriodAll   = "all"   // from the first day with history to today
)

// Periods lists them in the order the pages offer them.
var Periods = []string{PeriodWeek, PeriodMonth, PeriodYear, PeriodAll}

// MaxAllDays bounds "all time": at most this many days back from today
// (ten years); older history is left out of it.
const MaxAllDays = 3653

// Period is one period in the viewer's zone: [From, To).
type Period struct {
	Name string
	From time.Time
	To   time.Time // the end of the period, or the end of today when that comes first
	// Prev and Next are dates in the periods before and after ("" for
	// all time, or when there is none: the next one is in the future).
	Prev, Next string
}

// PeriodOf returns the period name containing the day at (in at's zone),
// cut at the end of today (now's day). first is the day of the oldest
// history, for "all".
func PeriodOf(name string, at, now, first time.Time) (Period, error) {
	loc := now.Location()
	at = at.In(loc)
	y, m, d := at.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, loc)
	ny, nm, nd := now.Date()
	endOfToday := time.Date(ny, nm, nd+1, 0, 0, 0, 0, loc)
	p := Period{Name: name}
	switch name {
	case PeriodWeek:
		wd := (int(day.Weekday()) + 6) % 7 // Monday 0
		p.From = day.AddDate(0, 0, -wd)
		p.To = p.From.AddDate(0, 0, 7)
		p.Prev, p.Next = date(p.From.AddDate(0, 0, -7)), date(p.To)
	case PeriodMonth:
		p.From = time.Date(y, m, 1, 0, 0, 0, 0, loc)
		p.To = p.From.AddDate(0, 1, 0)
		p.Prev, p.Next = date(p.From.AddDate(0, -1, 0)), date(p.To)
	case PeriodYear:
		p.From = time.Date(y, 1, 1, 0, 0, 0, 0, loc)
		p.To = p.From.AddDate(1, 0, 0)
		p.Prev, p.Next = date(p.From.AddDate(-1, 0, 0)), date(p.To)
	case PeriodAll:
		fy, fm, fd := first.In(loc).Date()
		p.From = time.Date(fy, fm, fd, 0, 0, 0, 0, loc)
		if oldest := endOfToday.AddDate(0, 0, -MaxAllDays); p.From.Before(oldest) {
			p.From = oldest
		}
		p.To = endOfToday
	default:
		return p, fmt.Errorf("period %q: want week, month, year or all", name)
	}
	if !p.To.Before(endOfToday) {
		p.To = endOfToday
		p.Next = ""
	}
	if !p.From.Before(p.To) { // a period after today
		return p, fmt.Errorf("period %s of %s is in the future", name, date(at))
	}
	return p, nil
}

func date(t time.Time) string { return t.Format("2006-01-02") }

// Report is what a period adds up to.
type Report struct {
	Period       string    `json:"period"`
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Zone         string    `json:"zone"`
	Points       int       `json:"points"`
	DistanceM    float64   `json:"distance_m"`
	DaysWithData int       `json:"days_with_data"`
	// TimePerPlace: the time stayed per place, most first.
	TimePerPlace []PlaceTime `json:"time_per_place"`
	// DaysPerCountry: days with a fix in each country, most first.
	DaysPerCountry []CountryDays `json:"days_per_country"`
	Countries      []string      `json:"countries"` // their codes (or names, for a shape without a code)
	Towns          []TownDays    `json:"towns"`
	LongestJourney *Journey      `json:"longest_journey,omitempty"`
	// Bars are the period's figures by day (a week) or by week (the rest).
	BarUnit string `json:"bar_unit"` // "day" or "week"
	Bars    []Bar  `json:"bars"`
	// Days are every day of the period, with or without data (the
	// calendar).
	Days []DayFigures `json:"days"`
}

// PlaceTime is the time spent at one place.
type PlaceTime struct {
	Place   string `json:"place"`          // the area's name, else the town (else the position)
	Area    string `json:"area,omitempty"` // the area's id when it is one
	Seconds int64  `json:"seconds"`
	Stays   int    `json:"stays"`
	// Lat and Lon are where a place that is no area is (its first
	// stay's centre): stays within placeRadius of it are the same place.
	Lat float64 `json:"lat,omitempty"`
	Lon float64 `json:"lon,omitempty"`
}

// placeRadius: stays in no area within this of a place's first stay are
// at that place.
const placeRadius = 150.0 // m

// placeIndex finds the place of a stay in no area, by a grid of cells a
// little larger than placeRadius.
type placeIndex struct {
	cells map[[2]int32][]*PlaceTime
	all   []*PlaceTime
}

const placeCell = 0.002 // degrees: 222 m of latitude, less of longitude off the equator, so the 3×3 look is widened

func cellOf(lat, lon float64) [2]int32 {
	return [2]int32{int32(math.Floor(lat / placeCell)), int32(math.Floor(lon / placeCell))}
}

func (x *placeIndex) near(s Stay) *PlaceTime {
	c := cellOf(s.Lat, s.Lon)
	// Longitude cells are narrower than placeRadius beyond ~48° north or
	// south: look further east and west there.
	span := int32(1 + placeRadius/(placeCell*111_320*math.Max(0.05, math.Cos(s.Lat*math.Pi/180))))
	for dy := int32(-1); dy <= 1; dy++ {
		for dx := -span; dx <= span; dx++ {
			for _, pt := range x.cells[[2]int32{c[0] + dy, c[1] + dx}] {
				if geo.Distance(geo.Point{Lat: pt.Lat, Lon: pt.Lon}, geo.Point{Lat: s.Lat, Lon: s.Lon}) <= placeRadius {
					return pt
				}
			}
		}
	}
	name := s.Town
	if name == "" {
		name = fmt.Sprintf("%.4f, %.4f", s.Lat, s.Lon)
	}
	pt := &PlaceTime{Place: name, Lat: s.Lat, Lon: s.Lon}
	x.cells[c] = append(x.cells[c], pt)
	x.all = append(x.all, pt)
	return pt
}

// CountryDays counts the days with a fix in a country.
type CountryDays struct {
	Country string `json:"country"` // ISO 3166-1 alpha-2
	Name    string `json:"name"`
	Days    int    `json:"days"`
}

// TownDays counts the days with a fix in a town.
type TownDays struct {
	Town
	Days int `json:"days"`
}

// Bar is one bar of the chart: a day or a week.
type Bar struct {
	Start     time.Time `json:"start"`
	DistanceM float64   `json:"distance_m"`
	Points    int       `json:"points"`
	Days      int       `json:"days"` // with data
}

// DayFigures is one day of the calendar.
type DayFigures struct {
	Date      string  `json:"date"`
	Points    int     `json:"points"`
	DistanceM float64 `json:"distance_m"`
}

// Add adds up a period's days (in order, one per day of p). Stays are
// named by the areas that concern the device now (visits.Places: a server
// area, else one of its regions), else by their town.
func Add(p Period, days []Day, areas []*projections.Area) Report {
	namer := visits.Places{Areas: areas}
	r := Report{Period: p.Name, From: p.From, To: p.To, Zone: p.From.Location().String(),
		TimePerPlace: []PlaceTime{}, DaysPerCountry: []CountryDays{}, Countries: []string{}, Towns: []TownDays{},
		Bars: []Bar{}, Days: make([]DayFigures, 0, len(days))}
	r.BarUnit = "week"
	if p.Name == PeriodWeek {
		r.BarUnit = "day"
	}
	places := map[string]*PlaceTime{} // by area
	unnamed := &placeIndex{cells: map[[2]int32][]*PlaceTime{}}
	countries := map[Country]int{}
	towns := map[Town]int{}
	loc := p.From.Location()
	for _, d := range days {
		start := time.Unix(d.From, 0).In(loc)
		r.Days = append(r.Days, DayFigures{Date: date(start), Points: d.Points, DistanceM: d.DistanceM})
		barStart := dayStart(start)
		if r.BarUnit == "week" {
			barStart = barStart.AddDate(0, 0, -((int(barStart.Weekday()) + 6) % 7))
		}
		if n := len(r.Bars); n == 0 || !r.Bars[n-1].Start.Equal(barStart) {
			r.Bars = append(r.Bars, Bar{Start: barStart})
		}
		b := &r.Bars[len(r.Bars)-1]
		b.DistanceM += d.DistanceM
		b.Points += d.Points
		if d.Points == 0 {
			continue
		}
		b.Days++
		r.Points += d.Points
		r.DistanceM += d.DistanceM
		r.DaysWithData++
		for _, cc := range d.Countries {
			countries[cc]++
		}
		for _, t := range d.Towns {
			towns[t]++
		}
		for _, s := range d.Stays {
			seg := []visits.Segment{{Kind: visits.KindStay, Start: time.Unix(s.From, 0), End: time.Unix(s.To, 0), Centre: &geo.Point{Lat: s.Lat, Lon: s.Lon}}}
			namer.Name(seg)
			var pt *PlaceTime
			if pl := seg[0].Place; pl != nil {
				k := pl.Area + "\x00" + pl.Name
				if pt = places[k]; pt == nil {
					pt = &PlaceTime{Place: pl.Name, Area: pl.Area}
					places[k] = pt
				}
			} else {
				pt = unnamed.near(s)
			}
			pt.Seconds += s.Seconds()
			pt.Stays++
		}
		if j := d.Journey; j != nil && (r.LongestJourney == nil || j.DistanceM > r.LongestJourney.DistanceM) {
			jj := *j
			r.LongestJourney = &jj
		}
	}
	for _, pt := range places {
		r.TimePerPlace = append(r.TimePerPlace, *pt)
	}
	for _, pt := range unnamed.all {
		r.TimePerPlace = append(r.TimePerPlace, *pt)
	}
	slices.SortFunc(r.TimePerPlace, func(a, b PlaceTime) int {
		return cmp.Or(cmp.Compare(b.Seconds, a.Seconds), cmp.Compare(a.Place, b.Place), cmp.Compare(a.Lat, b.Lat), cmp.Compare(a.Lon, b.Lon))
	})
	for c, n := range countries {
		r.DaysPerCountry = append(r.DaysPerCountry, CountryDays{Country: c.CC, Name: c.Name, Days: n})
		r.Countries = append(r.Countries, cmp.Or(c.CC, c.Name))
	}
	slices.SortFunc(r.DaysPerCountry, func(a, b CountryDays) int {
		return cmp.Or(cmp.Compare(b.Days, a.Days), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Country, b.Country))
	})
	slices.Sort(r.Countries)
	for t, n := range towns {
		r.Towns = append(r.Towns, TownDays{Town: t, Days: n})
	}
	slices.SortFunc(r.Towns, func(a, b TownDays) int {
		return cmp.Or(cmp.Compare(b.Days, a.Days), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Country, b.Country))
	})
	return r
}

func dayStart(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

// Spans are the days of p.
func (p Period) Spans() []projections.DaySpan { return projections.DaySpans(p.From, p.To) }
