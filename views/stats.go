package views

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"tracker/projections"
	"tracker/projections/stats"
)

// StatsPicker is the /stats page: the friends whose stats the viewer may
// see.
type StatsPicker struct {
	Page
	Friends []projections.FriendView
}

// Row is a friend of the picker as a row.
func (m StatsPicker) Row(f projections.FriendView) FriendRow {
	return FriendRow{FriendView: f, Now: m.Now}
}

// StatsURL is the stats page of a friend.
func StatsURL(id projections.DeviceID, q url.Values) string {
	u, d := id.Split()
	s := "/stats/" + url.PathEscape(u) + "/" + url.PathEscape(d)
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// Stats is a friend's stats page.
type Stats struct {
	Page
	Friend FriendRow
	Period stats.Period
	Report stats.Report
}

// BuildStats is the page's model.
func BuildStats(p Page, f projections.FriendView, period stats.Period, r stats.Report) Stats {
	return Stats{Page: p, Friend: FriendRow{FriendView: f, Now: p.Now}, Period: period, Report: r}
}

// PeriodLink is one of the period tabs or the previous/next links.
type PeriodLink struct {
	Label   string
	URL     string
	Current bool
}

// PeriodTabs are week, month, year and all time, of the day shown.
func (m Stats) PeriodTabs() []PeriodLink {
	var out []PeriodLink
	labels := map[string]string{stats.PeriodWeek: "Week", stats.PeriodMonth: "Month", stats.PeriodYear: "Year", stats.PeriodAll: "All time"}
	day := m.Period.From.Format("2006-01-02")
	for _, name := range stats.Periods {
		q := url.Values{"period": {name}}
		if name != stats.PeriodAll && !m.isCurrent() {
			q.Set("date", day)
		}
		out = append(out, PeriodLink{Label: labels[name], URL: StatsURL(m.Friend.ID, q), Current: name == m.Period.Name})
	}
	return out
}

// isCurrent: the period shown holds today.
func (m Stats) isCurrent() bool { return m.Period.Next == "" }

// Prev and Next are the periods before and after ("" for none).
func (m Stats) Prev() string { return m.near(m.Period.Prev) }
func (m Stats) Next() string { return m.near(m.Period.Next) }

func (m Stats) near(date string) string {
	if date == "" || m.Period.Name == stats.PeriodAll {
		return ""
	}
	return StatsURL(m.Friend.ID, url.Values{"period": {m.Period.Name}, "date": {date}})
}

// Title names the period: "March 2026", "Week of 2 March 2026", "2026",
// "All time".
func (m Stats) Title() string {
	f := m.Period.From
	switch m.Period.Name {
	case stats.PeriodWeek:
		return "Week of " + f.Format("2 January 2006")
	case stats.PeriodMonth:
		return f.Format("January 2006")
	case stats.PeriodYear:
		return f.Format("2006")
	}
	return "All time, since " + f.Format("2 January 2006")
}

// HistoryURL is the friend's history over the period.
func (m Stats) HistoryURL() string {
	to := m.Period.To
	if from := m.Period.From; to.Sub(from) > 366*24*time.Hour {
		to = from.AddDate(1, 0, 0)
	}
	u, d := m.Friend.ID.Split()
	q := url.Values{"from": {m.Period.From.Format("2006-01-02")}, "to": {to.AddDate(0, 0, -1).Format("2006-01-02")}}
	return "/friends/" + url.PathEscape(u) + "/" + url.PathEscape(d) + "?" + q.Encode()
}

// HeatmapURL is the heatmap of the period (the last year of it, the most
// one read covers).
func (m Stats) HeatmapURL() string {
	from, to := m.Period.From, m.Period.To
	if to.Sub(from) > 366*24*time.Hour {
		from = to.AddDate(-1, 0, 0)
	}
	return HeatmapURL(m.Friend.ID, from, to)
}

// HeatmapURL is the heatmap API's URL for a friend and range.
func HeatmapURL(id projections.DeviceID, from, to time.Time) string {
	u, d := id.Split()
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}
	return "/api/v1/friends/" + url.PathEscape(u) + "/" + url.PathEscape(d) + "/heatmap?" + q.Encode()
}

// HeatmapPartial says the heatmap covers only the last year of the period.
func (m Stats) HeatmapPartial() bool { return m.Period.To.Sub(m.Period.From) > 366*24*time.Hour }

// Km formats metres as kilometres.
func Km(m float64) string {
	switch {
	case m < 10_000:
		return strconv.FormatFloat(m/1000, 'f', 1, 64) + " km"
	}
	return groupThousands(int64(m/1000+0.5)) + " km"
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Hours formats seconds as "3 h 05 min" or "12 min".
func Hours(sec int64) string {
	d := time.Duration(sec) * time.Second
	if d < time.Hour {
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	if d >= 100*time.Hour {
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

// Count formats a count with thousands separators.
func Count(n int) string { return groupThousands(int64(n)) }

// Chart geometry of the bars (SVG user units; the SVG scales to the
// page's width).
const (
	barW      = 12.0
	barGap    = 3.0
	barChartH = 100.0
)

// BarShape is one bar as drawn.
type BarShape struct {
	X, Y, W, H float64
	Label      string // for the tooltip and the table: "Week of 2 Mar" / "Mon 2 Mar"
	Value      string // "12.3 km, 5 days"
	Empty      bool
}

// BarsWidth is the chart's width in SVG units.
func (m Stats) BarsWidth() float64 {
	return max(1, float64(len(m.Report.Bars)))*(barW+barGap) + barGap
}

// BarsHeight is the chart's height in SVG units.
func (m Stats) BarsHeight() float64 { return barChartH }

// Bars are the bars of distance by week (by day for a week).
func (m Stats) Bars() []BarShape {
	var top float64
	for _, b := range m.Report.Bars {
		top = max(top, b.DistanceM)
	}
	out := make([]BarShape, 0, len(m.Report.Bars))
	for i, b := range m.Report.Bars {
		h := 0.0
		if top > 0 {
			h = b.DistanceM / top * (barChartH - 2)
		}
		if b.Points > 0 {
			h = max(h, 2) // a day with data but no distance still shows
		}
		label := "Week of " + b.Start.Format("2 Jan 2006")
		if m.Report.BarUnit == "day" {
			label = b.Start.Format("Mon 2 Jan")
		}
		value := Km(b.DistanceM)
		if m.Report.BarUnit == "week" {
			value += fmt.Sprintf(", %d day%s with data", b.Days, plural(b.Days))
		}
		out = append(out, BarShape{X: barGap + float64(i)*(barW+barGap), Y: barChartH - h, W: barW, H: h,
			Label: label, Value: value, Empty: b.Points == 0})
	}
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// BarAxis are the labels under the chart: first, middle and last bar.
func (m Stats) BarAxis() []string {
	bars := m.Bars()
	if len(bars) == 0 {
		return nil
	}
	short := func(b stats.Bar) string {
		if m.Report.BarUnit == "day" {
			return b.Start.Format("Mon 2")
		}
		return b.Start.Format("2 Jan")
	}
	r := m.Report.Bars
	if len(r) < 3 {
		out := []string{}
		for _, b := range r {
			out = append(out, short(b))
		}
		return out
	}
	return []string{short(r[0]), short(r[len(r)/2]), short(r[len(r)-1])}
}

// Calendar geometry: a column per week (Monday on top), a square per day.
const (
	calCell = 13.0
	calGap  = 3.0
	calLeft = 22.0 // room for the weekday letters
	calTop  = 14.0 // room for the month names
)

// Calendar is one block of the calendar (one per year of the period).
type Calendar struct {
	Year   string
	Width  float64
	Height float64
	Days   []CalDay
	Months []CalLabel
}

// CalDay is one square.
type CalDay struct {
	X, Y  float64
	Date  string
	Level int // 0: no data, 1–4: a quarter of the busiest day's distance
	Title string
}

// CalLabel is a month's name over its first column.
type CalLabel struct {
	X    float64
	Text string
}

// CalCell is the side of a calendar square.
func (Stats) CalCell() float64 { return calCell }

// Weekdays are the letters left of the rows, with their y.
func (Stats) Weekdays() []CalLabel {
	return []CalLabel{{calTop + calCell - 2, "M"}, {calTop + 2*(calCell+calGap) + calCell - 2, "W"}, {calTop + 4*(calCell+calGap) + calCell - 2, "F"}}
}

// Calendars lays out the period's days, a block per calendar year.
func (m Stats) Calendars() []Calendar {
	var top float64
	for _, d := range m.Report.Days {
		top = max(top, d.DistanceM)
	}
	var out []Calendar
	var cur *Calendar
	var firstMonday time.Time
	loc := m.Period.From.Location()
	lastMonth := -1
	for _, d := range m.Report.Days {
		t, err := time.ParseInLocation("2006-01-02", d.Date, loc)
		if err != nil {
			continue
		}
		if cur == nil || cur.Year != t.Format("2006") {
			out = append(out, Calendar{Year: t.Format("2006")})
			cur = &out[len(out)-1]
			firstMonday = t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7))
			lastMonth = -1
		}
		wd := (int(t.Weekday()) + 6) % 7
		monday := t.AddDate(0, 0, -wd)
		col := int(monday.Sub(firstMonday).Hours()/24+0.5) / 7
		x := calLeft + float64(col)*(calCell+calGap)
		y := calTop + float64(wd)*(calCell+calGap)
		lvl := 0
		if d.Points > 0 {
			lvl = 1
			if top > 0 {
				lvl = 1 + min(3, int(d.DistanceM/top*4))
			}
		}
		title := t.Format("Mon 2 Jan 2006") + ": no data"
		if d.Points > 0 {
			title = fmt.Sprintf("%s: %s, %s fixes", t.Format("Mon 2 Jan 2006"), Km(d.DistanceM), Count(d.Points))
		}
		cur.Days = append(cur.Days, CalDay{X: x, Y: y, Date: d.Date, Level: lvl, Title: title})
		if int(t.Month()) != lastMonth {
			lastMonth = int(t.Month())
			cur.Months = append(cur.Months, CalLabel{X: x, Text: t.Format("Jan")})
		}
		cur.Width = max(cur.Width, x+calCell+1, x+20) // room for a month's name
	}
	for i := range out {
		out[i].Height = calTop + 7*(calCell+calGap)
		// A month's name too close to the one before it (a month that
		// starts at the end of a week) would overlap: drop the earlier.
		ms := out[i].Months
		keep := ms[:0]
		for j, l := range ms {
			if j+1 < len(ms) && ms[j+1].X-l.X < 3*(calCell+calGap) {
				continue
			}
			keep = append(keep, l)
		}
		out[i].Months = keep
	}
	return out
}

// TopPlaces are the places with the most time, at most 10.
func (m Stats) TopPlaces() []stats.PlaceTime {
	return m.Report.TimePerPlace[:min(10, len(m.Report.TimePerPlace))]
}

// PlaceShare is a place's time as a share of the first (the bar width, %).
func (m Stats) PlaceShare(p stats.PlaceTime) int {
	if len(m.Report.TimePerPlace) == 0 || m.Report.TimePerPlace[0].Seconds == 0 {
		return 0
	}
	return int(p.Seconds * 100 / m.Report.TimePerPlace[0].Seconds)
}

func timeOf(unix int64) time.Time { return time.Unix(unix, 0) }
