package stats_test

import (
	"math"
	"testing"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
	"tracker/projections/stats"
	"tracker/projections/visits/visitstest"
)

var brussels = mustZone("Europe/Brussels")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// where is a stand-in geocoder: north of 50.88 is Vilvoorde, the rest
// Brussels; east of 5° is the Netherlands.
func where(lat, lon float64) stats.Place {
	be, nl := stats.Country{CC: "BE", Name: "Belgium"}, stats.Country{CC: "NL", Name: "Netherlands"}
	switch {
	case lon > 5:
		return stats.Place{Country: nl, Town: stats.Town{Name: "Maastricht", Country: "NL"}}
	case lat > 50.88:
		return stats.Place{Country: be, Town: stats.Town{Name: "Vilvoorde", Country: "BE"}}
	}
	return stats.Place{Country: be, Town: stats.Town{Name: "Brussels", Country: "BE"}}
}

var officeArea = &projections.Area{ID: "s:office", Name: "Office", Origin: projections.OriginServer,
	Center: &visitstest.Office, Radius: visitstest.OfficeRadius}

// summarize makes the summary of one day of pts, as the page does.
func summarize(sum stats.Summarizer, day time.Time, pts []projections.Point) stats.Day {
	sp := projections.DaySpans(day, day.AddDate(0, 0, 1))[0]
	return sum.Summarize(sp, pts)
}

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// TestSummarizeDay: one synthetic day (home, a drive with stops at
// lights, the office with a silent phone, a café, the office, home):
// its stays, distance, longest journey, countries and towns.
func TestSummarizeDay(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, brussels)
	syn := visitstest.SyntheticDay(day, 1)
	drive := geo.Distance(visitstest.Home, visitstest.Office)
	walk := geo.Distance(visitstest.Office, visitstest.Cafe)
	for _, c := range []struct {
		name      string
		sum       stats.Summarizer
		pts       []projections.Point
		stays     int
		distanceM float64
		journeyM  float64
		countries []string
		towns     int
	}{
		{"the synthetic day", stats.Summarizer{Where: where}, syn.Points, 6, 2*drive + 2*walk, drive, []string{"BE"}, 2},
		{"no geocoder: no countries", stats.Summarizer{}, syn.Points, 6, 2*drive + 2*walk, drive, nil, 0},
		{"no fixes", stats.Summarizer{Where: where}, nil, 0, 0, 0, nil, 0},
		{"the morning only", stats.Summarizer{Where: where}, until(syn.Points, day.Add(9*time.Hour)), 2, drive, drive, []string{"BE"}, 2},
		{"a day abroad", stats.Summarizer{Where: where}, shifted(until(syn.Points, day.Add(7*time.Hour)), 0, 1.5), 1, 0, 0, []string{"NL"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := summarize(c.sum, day, c.pts)
			if d.Points != len(c.pts) || len(d.Stays) != c.stays {
				t.Errorf("%d points, %d stays; want %d, %d", d.Points, len(d.Stays), len(c.pts), c.stays)
			}
			if !near(d.DistanceM, c.distanceM, 0.05*c.distanceM+1) {
				t.Errorf("distance %.0f m, want %.0f ±5%%", d.DistanceM, c.distanceM)
			}
			switch {
			case c.journeyM == 0 && d.Journey != nil:
				t.Errorf("journey %+v, want none", d.Journey)
			case c.journeyM > 0 && (d.Journey == nil || !near(d.Journey.DistanceM, c.journeyM, 0.05*c.journeyM)):
				t.Errorf("longest journey %+v, want %.0f m", d.Journey, c.journeyM)
			}
			if len(d.Countries) != len(c.countries) || (len(c.countries) > 0 && d.Countries[0].CC != c.countries[0]) {
				t.Errorf("countries %v, want %v", d.Countries, c.countries)
			}
			if len(d.Towns) != c.towns {
				t.Errorf("towns %v, want %d", d.Towns, c.towns)
			}
			back, err := stats.Decode(mustEncode(t, d))
			if err != nil || back.Points != d.Points || len(back.Stays) != len(d.Stays) {
				t.Errorf("stored form: %+v, %v", back, err)
			}
		})
	}
}

func mustEncode(t *testing.T, d stats.Day) []byte {
	t.Helper()
	b, err := stats.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func until(pts []projections.Point, end time.Time) []projections.Point {
	var out []projections.Point
	for _, p := range pts {
		if p.Tst < end.Unix() {
			out = append(out, p)
		}
	}
	return out
}

func shifted(pts []projections.Point, dlat, dlon float64) []projections.Point {
	out := make([]projections.Point, len(pts))
	for i, p := range pts {
		p.Lat += dlat
		p.Lon += dlon
		out[i] = p
	}
	return out
}

// TestAddPeriod: a week of synthetic days with a day off (no fixes) adds
// up to the time per place (the office by its area, drawn after the
// fact; the rest by town), days per country, bars by day and the
// calendar; a month adds up by week.
func TestAddPeriod(t *testing.T) {
	sum := stats.Summarizer{Where: where}
	now := time.Date(2026, 3, 15, 20, 0, 0, 0, brussels) // a Sunday
	week, err := stats.PeriodOf(stats.PeriodWeek, now, now, now)
	if err != nil {
		t.Fatal(err)
	}
	var days []stats.Day
	for i, sp := range week.Spans() {
		start := time.Unix(sp.From, 0).In(brussels)
		var pts []projections.Point
		switch {
		case i == 2: // Wednesday: the phone stayed off
		case i == 5: // Saturday abroad, at home there
			pts = shifted(until(visitstest.SyntheticDay(start, uint64(i)).Points, start.Add(7*time.Hour)), 0, 1.5)
		default:
			pts = visitstest.SyntheticDay(start, uint64(i)).Points
		}
		days = append(days, sum.Summarize(sp, pts))
	}
	for _, c := range []struct {
		name   string
		areas  []*projections.Area
		places []stats.PlaceTime // name, area and stays; seconds checked apart
	}{
		{"office by its area", []*projections.Area{officeArea}, []stats.PlaceTime{
			{Place: "Brussels", Stays: 10}, {Place: "Office", Area: "s:office", Stays: 15}, {Place: "Maastricht", Stays: 1}, {Place: "Vilvoorde", Stays: 5}}},
		{"no areas: by town, a place per spot", nil, []stats.PlaceTime{
			{Place: "Brussels", Stays: 10}, {Place: "Vilvoorde", Stays: 15}, {Place: "Maastricht", Stays: 1}, {Place: "Vilvoorde", Stays: 5}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := stats.Add(week, days, c.areas)
			if r.DaysWithData != 6 || len(r.Days) != 7 || len(r.Bars) != 7 || r.BarUnit != "day" {
				t.Errorf("days %d, calendar %d, bars %d by %s; want 6, 7, 7 by day", r.DaysWithData, len(r.Days), len(r.Bars), r.BarUnit)
			}
			if r.Days[2].Points != 0 || r.Bars[2].Points != 0 || r.Bars[2].DistanceM != 0 {
				t.Errorf("Wednesday: %+v %+v, want nothing", r.Days[2], r.Bars[2])
			}
			if len(r.TimePerPlace) != len(c.places) {
				t.Fatalf("time per place %+v, want %+v", r.TimePerPlace, c.places)
			}
			for i, w := range c.places {
				if g := r.TimePerPlace[i]; g.Place != w.Place || g.Area != w.Area || g.Stays != w.Stays {
					t.Errorf("place %d: %+v, want %+v", i, g, w)
				}
			}
			// Five office days of 7 h 19 min less the 45 min the phone
			// was silent (and the minutes walking in and out).
			office := r.TimePerPlace[1]
			if !near(float64(office.Seconds), 5*(6*3600+34*60), 5*15*60) {
				t.Errorf("office %s, want ~33 h", time.Duration(office.Seconds)*time.Second)
			}
			if len(r.DaysPerCountry) != 2 || r.DaysPerCountry[0] != (stats.CountryDays{Country: "BE", Name: "Belgium", Days: 5}) ||
				r.DaysPerCountry[1] != (stats.CountryDays{Country: "NL", Name: "Netherlands", Days: 1}) {
				t.Errorf("days per country %+v", r.DaysPerCountry)
			}
			if len(r.Countries) != 2 || len(r.Towns) != 3 {
				t.Errorf("countries %v, towns %+v", r.Countries, r.Towns)
			}
			drive := geo.Distance(visitstest.Home, visitstest.Office)
			if r.LongestJourney == nil || !near(r.LongestJourney.DistanceM, drive, 0.05*drive) {
				t.Errorf("longest journey %+v", r.LongestJourney)
			}
		})
	}
	month, err := stats.PeriodOf(stats.PeriodMonth, now, now, now)
	if err != nil {
		t.Fatal(err)
	}
	var mdays []stats.Day
	for _, sp := range month.Spans() {
		mdays = append(mdays, stats.Day{From: sp.From, To: sp.To})
	}
	copy(mdays[len(mdays)-7:], days)
	r := stats.Add(month, mdays, nil)
	// March 2026 to the 15th: the weeks of 23 Feb, 2 and 9 March.
	if r.BarUnit != "week" || len(r.Bars) != 3 || r.Bars[2].Days != 6 || len(r.Days) != 15 || r.DaysWithData != 6 {
		t.Errorf("month: %d bars by %s (last %+v), %d days, %d with data", len(r.Bars), r.BarUnit, r.Bars[len(r.Bars)-1], len(r.Days), r.DaysWithData)
	}
}

// TestPeriodOf: the periods' bounds in the viewer's zone, cut at the end
// of today; days are 23 or 25 hours where the clocks change.
func TestPeriodOf(t *testing.T) {
	now := time.Date(2026, 3, 31, 10, 0, 0, 0, brussels) // a Tuesday
	first := time.Date(2014, 5, 1, 12, 0, 0, 0, time.UTC)
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, brussels) }
	for _, c := range []struct {
		name, period string
		at           time.Time
		from, to     time.Time
		prev, next   string
		days         int
		err          string
	}{
		{"this week", "week", now, d(2026, 3, 30), d(2026, 4, 1), "2026-03-23", "", 2, ""},
		{"a past week, over the clock change", "week", d(2026, 3, 29), d(2026, 3, 23), d(2026, 3, 30), "2026-03-16", "2026-03-30", 7, ""},
		{"this month", "month", now, d(2026, 3, 1), d(2026, 4, 1), "2026-02-01", "", 31, ""},
		{"a past month", "month", d(2025, 2, 10), d(2025, 2, 1), d(2025, 3, 1), "2025-01-01", "2025-03-01", 28, ""},
		{"this year", "year", now, d(2026, 1, 1), d(2026, 4, 1), "2025-01-01", "", 90, ""},
		{"all time, at most ten years", "all", now, d(2016, 3, 31), d(2026, 4, 1), "", "", stats.MaxAllDays, ""},
		{"a month to come", "month", d(2026, 5, 1), time.Time{}, time.Time{}, "", "", 0, "period month of 2026-05-01 is in the future"},
		{"an unknown period", "fortnight", now, time.Time{}, time.Time{}, "", "", 0, `period "fortnight": want week, month, year or all`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := stats.PeriodOf(c.period, c.at, now, first)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.From.Equal(c.from) || !p.To.Equal(c.to) || p.Prev != c.prev || p.Next != c.next {
				t.Errorf("%s..%s prev %q next %q; want %s..%s %q %q", p.From, p.To, p.Prev, p.Next, c.from, c.to, c.prev, c.next)
			}
			spans := p.Spans()
			if len(spans) != c.days {
				t.Errorf("%d days, want %d", len(spans), c.days)
			}
			for i, sp := range spans {
				if h := (sp.To - sp.From) / 3600; h < 23 || h > 25 || (i > 0 && sp.From != spans[i-1].To) {
					t.Errorf("day %d: %d..%d (%d h)", i, sp.From, sp.To, h)
				}
			}
		})
	}
}
