package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"tracker/events/erasure"
	"tracker/projections/geocode"
	"tracker/projections/stats"
	"tracker/views/htmltest"
)

type statsJSON struct {
	Device string `json:"device"`
	stats.Report
}

// geoSummarizer sums days up with the offline geocoder, as serve does.
var geoSummarizer = stats.Summarizer{Where: func(lat, lon float64) stats.Place {
	p := geocode.Lookup(lat, lon)
	return stats.Place{Country: stats.Country{CC: p.CC, Name: p.Country}, Town: stats.Town{Name: p.Town, Country: p.TownCC}}
}}

// withSummarizer serves st's site with sum.
func withSummarizer(t *testing.T, st *stack, sum stats.Summarizer) *httptest.Server {
	site := *st.site
	site.Summarizer = sum
	srv := httptest.NewServer(site.Routes())
	t.Cleanup(srv.Close)
	return srv
}

// TestStatsAPI: a friend's stats per period, on the fixture (alice: one
// fix yesterday in the park, 48 today at home and at the office, in
// London; the clock at 18:00 today, UTC).
func TestStatsAPI(t *testing.T) {
	st := newStack(t)
	geo := withSummarizer(t, st, geoSummarizer)
	for _, c := range []struct {
		name               string
		query              string
		period             string
		from, to           time.Time
		points, days, bars int
		barUnit            string
		calendar           int
	}{
		{"default: this month", "", "month", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), day.AddDate(0, 0, 1), 49, 2, 3, "week", 10},
		{"this week, by day", "period=week", "week", day.AddDate(0, 0, -1), day.AddDate(0, 0, 1), 49, 2, 2, "day", 2},
		{"last week: nothing", "period=week&date=2026-03-04", "week", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), day.AddDate(0, 0, -1), 0, 0, 7, "day", 7},
		{"the year", "period=year", "year", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), day.AddDate(0, 0, 1), 49, 2, 11, "week", 69},
		{"all time: from the first fix", "period=all", "all", day.AddDate(0, 0, -1), day.AddDate(0, 0, 1), 49, 2, 1, "week", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := friendPath("alice", "phone", "stats")
			if c.query != "" {
				path += "?" + c.query
			}
			for range 2 { // made, then from the cache: the same
				res, body := doURL(t, http.MethodGet, geo.URL+path, "")
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: %s", res.Status, body)
				}
				requireKeys(t, "stats", body, "device", "period", "from", "to", "zone", "points", "distance_m", "days_with_data",
					"time_per_place", "days_per_country", "countries", "towns", "bar_unit", "bars", "days")
				got := decode[statsJSON](t, body)
				if got.Device != aliceID || got.Period != c.period || !got.From.Equal(c.from) || !got.To.Equal(c.to) {
					t.Errorf("device %s period %s %s..%s, want %s %s..%s", got.Device, got.Period, got.From, got.To, c.period, c.from, c.to)
				}
				if got.Points != c.points || got.DaysWithData != c.days || len(got.Bars) != c.bars || got.BarUnit != c.barUnit || len(got.Days) != c.calendar {
					t.Errorf("points %d days %d bars %d (%s) calendar %d, want %d %d %d (%s) %d",
						got.Points, got.DaysWithData, len(got.Bars), got.BarUnit, len(got.Days), c.points, c.days, c.bars, c.barUnit, c.calendar)
				}
				if c.points > 0 && got.DistanceM < 2000 { // home and office are 2.6 km apart, there and back
					t.Errorf("distance %.0f m, want the commute", got.DistanceM)
				}
				if c.points > 0 && (len(got.DaysPerCountry) != 1 || got.DaysPerCountry[0] != (stats.CountryDays{Country: "GB", Name: "United Kingdom", Days: 2}) ||
					len(got.Towns) != 1 || got.Towns[0].Name != "London") { // within 8 km of its centre, London's districts are London (geocode's reach)
					t.Errorf("days per country %+v, towns %+v; want 2 days in GB; the park, home and the office in London", got.DaysPerCountry, got.Towns)
				}
				if c.points > 0 && (len(got.TimePerPlace) == 0 || got.TimePerPlace[0].Place != "HQ") {
					t.Errorf("time per place %+v, want the server area HQ first (bob's office region is not alice's)", got.TimePerPlace)
				}
			}
		})
	}
	for _, c := range []struct{ query, msg string }{
		{"period=decade", `bad period: period "decade": want week, month, year or all`},
		{"period=month&date=2027-01-01", "bad period: period month of 2027-01-01 is in the future"},
		{"date=yesterday", `bad period: date: want YYYY-MM-DD, got "yesterday"`},
	} {
		res, body := st.do(t, http.MethodGet, friendPath("alice", "phone", "stats")+"?"+c.query, "")
		checkErrorBody(t, res, body, c.msg, "")
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", c.query, res.Status)
		}
	}
	if res, _ := st.do(t, http.MethodGet, friendPath("nobody", "phone", "stats"), ""); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown friend: %s, want 404", res.Status)
	}
}

// TestHeatmapAPI: the heatmap counts every point in use of the range into
// cells; ranges are bounded like every history read.
func TestHeatmapAPI(t *testing.T) {
	st := newStack(t)
	res, body := st.do(t, http.MethodGet, friendPath("alice", "phone", "heatmap"), "")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", res.Status, body)
	}
	requireKeys(t, "heatmap", body, "device", "from", "to", "points", "cell_m", "max", "cells")
	got := decode[struct {
		Points int          `json:"points"`
		Max    int          `json:"max"`
		Cells  [][3]float64 `json:"cells"`
	}](t, body)
	sum := 0.0
	for _, c := range got.Cells {
		sum += c[2]
	}
	// Today: home and office (two cells), 48 fixes.
	if got.Points != 48 || int(sum) != 48 || len(got.Cells) != 2 || got.Max != 32 {
		t.Errorf("points %d, cells %d summing to %.0f, max %d; want 48 in 2 cells, max 32", got.Points, len(got.Cells), sum, got.Max)
	}
	q := url.Values{"from": {"2020-01-01T00:00:00Z"}, "to": {"2026-01-01T00:00:00Z"}}
	res, body = st.do(t, http.MethodGet, friendPath("alice", "phone", "heatmap")+"?"+q.Encode(), "")
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("six years: %s %s, want 400", res.Status, body)
	}
}

// TestStatsPage: the picker lists friends; a friend's page draws a bar
// per day of the week and a calendar square per day, the days with data
// marked, and links the history of the period.
func TestStatsPage(t *testing.T) {
	ps := newPageStack(t)
	doc, _ := ps.page(t, "/stats", http.StatusOK)
	if n := len(htmltest.ByTestID(doc, "stats-friend")); n != 3 {
		t.Errorf("picker lists %d friends, want 3", n)
	}
	doc, _ = ps.page(t, "/stats/alice/phone?period=week", http.StatusOK)
	if got := htmltest.Text(htmltest.One(t, doc, "stats-period")); got != "Week of 9 March 2026" {
		t.Errorf("period %q", got)
	}
	if n := len(htmltest.ByTestID(doc, "stats-bar")); n != 2 {
		t.Errorf("%d bars, want 2 (Monday, Tuesday)", n)
	}
	var marked []string
	for _, d := range htmltest.ByTestID(doc, "cal-day") {
		if htmltest.Attr(d, "data-level") != "0" {
			marked = append(marked, htmltest.Attr(d, "data-date"))
		}
	}
	if len(marked) != 2 || marked[0] != "2026-03-09" || marked[1] != "2026-03-10" {
		t.Errorf("calendar marks %v, want 9 and 10 March", marked)
	}
	if got := htmltest.Attr(htmltest.One(t, doc, "stats-history"), "href"); got != "/friends/alice/phone?from=2026-03-09&to=2026-03-10" {
		t.Errorf("history link %q", got)
	}
	if got := htmltest.Attr(htmltest.One(t, doc, "stats-map"), "data-heatmap"); got == "" {
		t.Error("no heatmap URL")
	}
	if res, _ := ps.get(t, "/stats/nobody/phone"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown friend: %s, want 404", res.Status)
	}
}

// TestStatsAfterErase: an erasure rebuilds the projections, and with
// them goes every cached day: the stats of the days it touched are made
// again from what is left.
func TestStatsAfterErase(t *testing.T) {
	st := newStack(t)
	get := func() statsJSON {
		t.Helper()
		res, body := st.do(t, http.MethodGet, friendPath("alice", "phone", "stats")+"?period=week", "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", res.Status, body)
		}
		return decode[statsJSON](t, body)
	}
	for range 2 { // made, then cached
		if got := get(); got.Points != 49 || got.DaysWithData != 2 || got.Days[0].Points != 1 {
			t.Fatalf("before: %d points on %d days (%+v)", got.Points, got.DaysWithData, got.Days)
		}
	}
	x := &erasure.Eraser{Log: st.log, Purger: rebuilder{st.proj}}
	res, err := x.Erase(t.Context(), erasure.Request{Rules: []erasure.Rule{{User: "alice", Device: "phone", Before: day}}, By: "test"})
	if err != nil || res.Erased != 1 {
		t.Fatalf("erase alice's fix of yesterday: %+v, %v", res, err)
	}
	if got := get(); got.Points != 48 || got.DaysWithData != 1 || got.Days[0].Points != 0 {
		t.Errorf("after the erasure: %d points on %d days (%+v), want 48 on 1", got.Points, got.DaysWithData, got.Days)
	}
}
