package web_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/projections/geo"
	"tracker/views/web"
)

// The wire shapes, spelled out here so a renamed JSON field fails a test.
type (
	pointJSON struct {
		Seq  uint64  `json:"seq"`
		Tst  int64   `json:"tst"`
		Lat  float64 `json:"lat"`
		Lon  float64 `json:"lon"`
		Acc  int     `json:"acc"`
		Alt  int     `json:"alt"`
		Batt int     `json:"batt"`
		Conn string  `json:"conn"`
		T    string  `json:"t"`
	}
	presenceJSON struct {
		Device   string `json:"device"`
		Area     string `json:"area"`
		AreaName string `json:"area_name"`
		Since    int64  `json:"since"`
		Phone    *bool  `json:"phone"`
		Geometry *bool  `json:"geometry"`
		Disagree bool   `json:"disagree"`
	}
	friendJSON struct {
		ID       string         `json:"id"`
		User     string         `json:"user"`
		Device   string         `json:"device"`
		Name     string         `json:"name"`
		TID      string         `json:"tid"`
		Online   bool           `json:"online"`
		LastSeen time.Time      `json:"last_seen"`
		Location *pointJSON     `json:"location"`
		Areas    []presenceJSON `json:"areas"`
	}
	areaJSON struct {
		ID      string         `json:"id"`
		Name    string         `json:"name"`
		Origin  string         `json:"origin"`
		Owner   string         `json:"owner"`
		RID     string         `json:"rid"`
		Center  *geo.Point     `json:"center"`
		Radius  float64        `json:"radius"`
		Polygon []geo.Point    `json:"polygon"`
		Defined time.Time      `json:"defined"`
		Seq     uint64         `json:"seq"`
		Members []presenceJSON `json:"members"`
	}
	areaTimeJSON struct {
		Area    string  `json:"area"`
		Name    string  `json:"name"`
		Seconds float64 `json:"seconds"`
	}
	locationsJSON struct {
		Device      string         `json:"device"`
		From        time.Time      `json:"from"`
		To          time.Time      `json:"to"`
		Points      []pointJSON    `json:"points"`
		Count       int            `json:"count"`
		DistanceM   float64        `json:"distance_m"`
		TimeInAreas []areaTimeJSON `json:"time_in_areas"`
	}
	areaEventJSON struct {
		Seq      uint64 `json:"seq"`
		Tst      int64  `json:"tst"`
		Device   string `json:"device"`
		Area     string `json:"area"`
		AreaName string `json:"area_name"`
		Event    string `json:"event"`
		Origin   string `json:"origin"`
		Late     bool   `json:"late"`
	}
	areaEventsJSON struct {
		Device string          `json:"device"`
		From   time.Time       `json:"from"`
		To     time.Time       `json:"to"`
		Events []areaEventJSON `json:"events"`
	}
)

// String is a presence in one line: "device area phone=… geometry=…
// since=hh:mm [disagree]", with "-" for an origin that says nothing.
func (p presenceJSON) String() string {
	b := func(v *bool) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	s := fmt.Sprintf("%s %s(%s) phone=%s geometry=%s since=%s", p.Device, p.Area, p.AreaName, b(p.Phone), b(p.Geometry), hhmm(p.Since))
	if p.Disagree {
		s += " disagree"
	}
	return s
}

func (e areaEventJSON) String() string {
	s := fmt.Sprintf("%s %s %s %s(%s) %s", hhmm(e.Tst), e.Device, e.Event, e.Area, e.AreaName, e.Origin)
	if e.Late {
		s += " late"
	}
	return s
}

// hhmm shows a Unix time on the fixture day as hh:mm[:ss], other days
// in full.
func hhmm(unix int64) string {
	t := time.Unix(unix, 0).UTC()
	switch {
	case t.Before(day) || !t.Before(day.Add(24*time.Hour)):
		return t.Format(time.RFC3339)
	case t.Second() != 0:
		return t.Format("15:04:05")
	}
	return t.Format("15:04")
}

func presences(ps []presenceJSON) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func eventLines(es []areaEventJSON) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.String())
	}
	return out
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got: %s\nwant: %s", what, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// allTsts is every fix of alice in the log: yesterday's, then today's.
func allAliceTsts() []int64 { return append([]int64{day.Add(-12 * time.Hour).Unix()}, aliceTsts()...) }

func within(tsts []int64, from, to time.Time) []int64 {
	var out []int64
	for _, t := range tsts {
		if t >= from.Unix() && t < to.Unix() {
			out = append(out, t)
		}
	}
	return out
}

// locationsWant describes a locations answer.
type locationsWant struct {
	device   string
	from, to time.Time
	tsts     []int64 // the points' tst, in order
	distance float64 // m
	areas    []areaTimeJSON
}

func (w locationsWant) check(t *testing.T, _ *stack, _ *http.Response, body []byte) {
	t.Helper()
	requireKeys(t, "locations", body, "device", "from", "to", "points", "count", "distance_m", "time_in_areas")
	got := decode[locationsJSON](t, body)
	if got.Device != w.device {
		t.Errorf("device = %q, want %q", got.Device, w.device)
	}
	if !got.From.Equal(w.from) || !got.To.Equal(w.to) || got.From.Location() != time.UTC {
		t.Errorf("range = %s .. %s, want %s .. %s in UTC", got.From.Format(time.RFC3339), got.To.Format(time.RFC3339),
			w.from.UTC().Format(time.RFC3339), w.to.UTC().Format(time.RFC3339))
	}
	var tsts []int64
	for i, p := range got.Points {
		tsts = append(tsts, p.Tst)
		if i > 0 && p.Tst <= got.Points[i-1].Tst {
			t.Errorf("points not ordered by tst: %d after %d", p.Tst, got.Points[i-1].Tst)
		}
		if p.Seq == 0 || p.Lat == 0 || p.Batt != 81 || p.Conn != "w" || p.T != "p" || p.Acc != 12 {
			t.Errorf("point %d lacks fields: %+v", i, p)
		}
	}
	if !slices.Equal(tsts, w.tsts) {
		t.Errorf("points at %v, want %v", tsts, w.tsts)
	}
	if got.Count != len(got.Points) || got.Count != len(w.tsts) {
		t.Errorf("count = %d with %d points, want %d", got.Count, len(got.Points), len(w.tsts))
	}
	if math.Abs(got.DistanceM-w.distance) > 0.01 {
		t.Errorf("distance_m = %.3f, want %.3f", got.DistanceM, w.distance)
	}
	want := w.areas
	if want == nil {
		want = []areaTimeJSON{}
	}
	if got.TimeInAreas == nil || !slices.Equal(got.TimeInAreas, want) {
		t.Errorf("time_in_areas = %+v, want %+v", got.TimeInAreas, want)
	}
}

func areaEventsWant(device string, from, to time.Time, want ...string) func(*testing.T, *stack, *http.Response, []byte) {
	return func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
		t.Helper()
		requireKeys(t, "area events", body, "device", "from", "to", "events")
		got := decode[areaEventsJSON](t, body)
		if got.Device != device || !got.From.Equal(from) || !got.To.Equal(to) {
			t.Errorf("answer for %q %s .. %s, want %q %s .. %s", got.Device, got.From, got.To, device, from, to)
		}
		if got.Events == nil {
			t.Errorf("events is null, want a list")
		}
		for _, e := range got.Events {
			if e.Seq == 0 || e.Device != device {
				t.Errorf("event lacks seq or device: %+v", e)
			}
		}
		if want == nil {
			want = []string{}
		}
		equalLines(t, "area events", eventLines(got.Events), want)
	}
}

var (
	oddID     = oddUser + "/" + oddDevice
	homeToHQ  = geo.Distance(home, office)
	fullDay   = []time.Time{day, day.Add(24 * time.Hour)}
	nineToTwl = []time.Time{day.Add(9 * time.Hour), day.Add(12 * time.Hour)}
)

// readCases exercise every read route on the fixture as newStack leaves
// it; they do not change anything.
var readCases = []reqCase{
	{
		name: "friends: everybody by id, with current location and areas", method: "GET", path: "/api/v1/friends", code: 200,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			raw := decode[[]json.RawMessage](t, body)
			for _, f := range raw {
				requireKeys(t, "friend", f, "id", "user", "device", "location", "areas", "first_seen", "last_seen", "online")
			}
			fs := decode[[]friendJSON](t, body)
			var ids []string
			for _, f := range fs {
				ids = append(ids, f.ID)
				if f.ID != f.User+"/"+f.Device || !f.Online || f.Location == nil {
					t.Fatalf("friend %q: id/user/device/online/location wrong: %+v", f.ID, f)
				}
			}
			if want := []string{oddID, aliceID, bobID}; !slices.Equal(ids, want) {
				t.Fatalf("friends %q, want %q", ids, want)
			}
			odd, alice, bob := fs[0], fs[1], fs[2]
			if odd.User != oddUser || odd.Device != oddDevice || odd.Location.Tst != at(10, 0, 0) || len(odd.Areas) != 0 {
				t.Errorf("odd friend = %+v", odd)
			}
			// The 10:00 fix that arrived last did not replace 17:45.
			if alice.Name != "Alice Liddell" || alice.TID != "al" || alice.Location.Tst != at(17, 45, 0) ||
				alice.Location.Lat != home.Lat || alice.Location.Lon != home.Lon || alice.Location.Batt != 81 {
				t.Errorf("alice = %+v, location %+v", alice, *alice.Location)
			}
			if !alice.LastSeen.Equal(day.Add(17*time.Hour + 50*time.Minute)) {
				t.Errorf("alice last seen %s, want 17:50 (the late fix's arrival)", alice.LastSeen)
			}
			equalLines(t, "alice's areas", presences(alice.Areas), []string{
				"alice/phone " + homeID + "(Home) phone=true geometry=true since=17:00",
			})
			if bob.Name != "" || bob.Location.Tst != at(17, 30, 0) || bob.Location.Lat != desk.Lat {
				t.Errorf("bob = %+v", bob)
			}
			equalLines(t, "bob's areas", presences(bob.Areas), []string{
				"bob/tablet s:hq(HQ) phone=- geometry=true since=18:00",
				"bob/tablet " + officeID + "(Office) phone=false geometry=true since=08:00 disagree",
			})
		},
	},
	{
		name: "locations: default range is today by the server's clock", method: "GET", path: friendPath("alice", "phone", "locations"), code: 200,
		check: locationsWant{
			device: aliceID, from: fullDay[0], to: fullDay[1], tsts: aliceTsts(), distance: 2 * homeToHQ,
			areas: []areaTimeJSON{{homeID, "Home", 13500}, {hqID, "HQ", 28800}},
		}.check,
	},
	{
		name: "locations: RFC 3339 range", method: "GET", code: 200,
		path:  withQuery(friendPath("alice", "phone", "locations"), "from", "2026-03-10T09:00:00Z", "to", "2026-03-10T12:00:00Z"),
		check: locationsWant{device: aliceID, from: nineToTwl[0], to: nineToTwl[1], tsts: within(aliceTsts(), nineToTwl[0], nineToTwl[1]), areas: []areaTimeJSON{{hqID, "HQ", 9900}}}.check,
	},
	{
		name: "locations: RFC 3339 with a zone offset, answered in UTC", method: "GET", code: 200,
		path:  withQuery(friendPath("alice", "phone", "locations"), "from", "2026-03-10T10:00:00+01:00", "to", "2026-03-10T13:00:00+01:00"),
		check: locationsWant{device: aliceID, from: nineToTwl[0], to: nineToTwl[1], tsts: within(aliceTsts(), nineToTwl[0], nineToTwl[1]), areas: []areaTimeJSON{{hqID, "HQ", 9900}}}.check,
	},
	{
		name: "locations: Unix seconds range", method: "GET", code: 200,
		path:  withQuery(friendPath("alice", "phone", "locations"), "from", fmt.Sprint(at(9, 0, 0)), "to", fmt.Sprint(at(12, 0, 0))),
		check: locationsWant{device: aliceID, from: nineToTwl[0], to: nineToTwl[1], tsts: within(aliceTsts(), nineToTwl[0], nineToTwl[1]), areas: []areaTimeJSON{{hqID, "HQ", 9900}}}.check,
	},
	{
		name: "locations: from alone covers one day", method: "GET", code: 200,
		path: withQuery(friendPath("alice", "phone", "locations"), "from", fmt.Sprint(at(17, 0, 0))),
		check: locationsWant{device: aliceID, from: day.Add(17 * time.Hour), to: day.Add(41 * time.Hour),
			tsts: within(aliceTsts(), day.Add(17*time.Hour), day.Add(41*time.Hour)), areas: []areaTimeJSON{{homeID, "Home", 2700}}}.check,
	},
	{
		name: "locations: yesterday holds the park fix only", method: "GET", code: 200,
		path:  withQuery(friendPath("alice", "phone", "locations"), "from", "2026-03-09T00:00:00Z"),
		check: locationsWant{device: aliceID, from: day.Add(-24 * time.Hour), to: day, tsts: []int64{day.Add(-12 * time.Hour).Unix()}}.check,
	},
	{
		name: "locations: a range of exactly 366 days is allowed", method: "GET", code: 200,
		path: withQuery(friendPath("alice", "phone", "locations"), "from", "2025-03-10T00:00:00Z", "to", "2026-03-11T00:00:00Z"),
		check: locationsWant{device: aliceID, from: time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), to: day.Add(24 * time.Hour),
			tsts: allAliceTsts(), distance: 2*homeToHQ + geo.Distance(park, home),
			// The 18 h between yesterday's last fix and today's first
			// are a gap (longer than 30 min): not credited (issue 16).
			areas: []areaTimeJSON{{homeID, "Home", 13500}, {hqID, "HQ", 28800}}}.check,
	},
	{
		name: "locations: a day without fixes", method: "GET", code: 200,
		path:  withQuery(friendPath("alice", "phone", "locations"), "from", "2026-02-01T00:00:00Z"),
		check: locationsWant{device: aliceID, from: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), to: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)}.check,
	},
	{
		name: "locations: bob's day at his desk, in his region and in HQ", method: "GET", path: friendPath("bob", "tablet", "locations"), code: 200,
		check: locationsWant{device: bobID, from: fullDay[0], to: fullDay[1], tsts: bobTsts(),
			areas: []areaTimeJSON{{officeID, "Office", 34200}, {hqID, "HQ", 34200}}}.check,
	},
	{
		name: "locations: spaces, Unicode and markup in user and device", method: "GET", path: friendPath(oddUser, oddDevice, "locations"), code: 200,
		check: locationsWant{device: oddID, from: fullDay[0], to: fullDay[1], tsts: []int64{at(10, 0, 0)}}.check,
	},
	{
		name: "locations: lower-case percent escapes", method: "GET", code: 200,
		path:  "/api/v1/friends/Zo%c3%ab%20%3cimg%20src=x%20onerror=alert(1)%3e/my%20phone/locations",
		check: locationsWant{device: oddID, from: fullDay[0], to: fullDay[1], tsts: []int64{at(10, 0, 0)}}.check,
	},
	{
		name: "locations: unknown friend", method: "GET", path: friendPath("nobody", "phone", "locations"), code: 404,
		errMsg: `no friend "nobody" with device "phone"`,
	},
	{
		name: "locations: unknown friend with an escaped slash", method: "GET", path: friendPath("no/body", "phone", "locations"), code: 404,
		errMsg: `no friend "no/body" with device "phone"`,
	},
	{
		name: "locations: known user, unknown device", method: "GET", path: friendPath("alice", "tablet", "locations"), code: 404,
		errMsg: `no friend "alice" with device "tablet"`,
	},
	{
		name: "locations: from after to", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "locations"), "from", "2026-03-10T12:00:00Z", "to", "2026-03-10T09:00:00Z"),
		errMsg: "from (2026-03-10T12:00:00Z) must be before to (2026-03-10T09:00:00Z)",
	},
	{
		name: "locations: empty range", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "locations"), "from", fmt.Sprint(at(9, 0, 0)), "to", fmt.Sprint(at(9, 0, 0))),
		errMsg: "from (2026-03-10T09:00:00Z) must be before to (2026-03-10T09:00:00Z)",
	},
	{
		name: "locations: unparsable from", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "locations"), "from", "yesterday"),
		errMsg: `from: want RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds, got "yesterday"`,
	},
	{
		name: "locations: unparsable to", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "locations"), "from", "2026-03-10T09:00:00Z", "to", "2026-03-10 12:00"),
		errMsg: `to: want RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds, got "2026-03-10 12:00"`,
	},
	{
		name: "locations: milliseconds are not seconds", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "locations"), "from", fmt.Sprint(at(9, 0, 0)*1000)),
		errMsg: fmt.Sprintf("from: %d is not a plausible Unix time in seconds", at(9, 0, 0)*1000),
	},
	{
		name: "locations: to alone, before the default from (start of today)", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "locations"), "to", "2026-03-09T12:00:00Z"),
		errMsg: "from (2026-03-10T00:00:00Z) must be before to (2026-03-09T12:00:00Z)",
	},
	{
		name: "locations: range over 366 days", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "locations"), "from", "2024-03-10T00:00:00Z", "to", "2026-03-10T00:00:00Z"),
		errMsg: "range is 17520h0m0s long; at most 366 days per request",
	},
	{
		name: "area events: alice's day, geometry and phone", method: "GET", path: friendPath("alice", "phone", "areas"), code: 200,
		check: areaEventsWant(aliceID, fullDay[0], fullDay[1],
			"06:00 alice/phone enter "+homeID+"(Home) geometry",
			"09:00 alice/phone leave "+homeID+"(Home) geometry",
			// HQ, defined at 18:00, applies to the day before.
			"09:00 alice/phone enter s:hq(HQ) geometry",
			"17:00 alice/phone enter "+homeID+"(Home) geometry",
			"17:00 alice/phone leave s:hq(HQ) geometry",
			"17:00:30 alice/phone enter "+homeID+"(Home) phone",
		),
	},
	{
		name: "area events: bob's day, including HQ defined at 18:00 (he arrived at 08:00)", method: "GET", path: friendPath("bob", "tablet", "areas"), code: 200,
		check: areaEventsWant(bobID, fullDay[0], fullDay[1],
			"08:00 bob/tablet enter "+officeID+"(Office) geometry",
			"08:00 bob/tablet enter s:hq(HQ) geometry",
			"08:05 bob/tablet enter "+officeID+"(Office) phone",
			"12:00 bob/tablet leave "+officeID+"(Office) phone",
		),
	},
	{
		name: "area events: a range", method: "GET", code: 200,
		path: withQuery(friendPath("alice", "phone", "areas"), "from", fmt.Sprint(at(9, 0, 0)), "to", "2026-03-10T12:00:00Z"),
		check: areaEventsWant(aliceID, nineToTwl[0], nineToTwl[1],
			"09:00 alice/phone leave "+homeID+"(Home) geometry", "09:00 alice/phone enter s:hq(HQ) geometry"),
	},
	{
		name: "area events: none for the odd friend", method: "GET", path: friendPath(oddUser, oddDevice, "areas"), code: 200,
		check: areaEventsWant(oddID, fullDay[0], fullDay[1]),
	},
	{
		name: "area events: unknown friend", method: "GET", path: friendPath("alice", "watch", "areas"), code: 404,
		errMsg: `no friend "alice" with device "watch"`,
	},
	{
		name: "area events: from after to", method: "GET", code: 400,
		path:   withQuery(friendPath("alice", "phone", "areas"), "from", "2026-03-10T12:00:00Z", "to", "2026-03-10T09:00:00Z"),
		errMsg: "from (2026-03-10T12:00:00Z) must be before to (2026-03-10T09:00:00Z)",
	},
	{
		name: "areas: everyone's, by name, with members and both verdicts", method: "GET", path: "/api/v1/areas", code: 200,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			for _, a := range decode[[]json.RawMessage](t, body) {
				requireKeys(t, "area", a, "id", "name", "origin", "defined", "seq", "members")
			}
			as := decode[[]areaJSON](t, body)
			var got []string
			for _, a := range as {
				got = append(got, fmt.Sprintf("%s %q %s owner=%q rid=%q center=%v r=%g", a.ID, a.Name, a.Origin, a.Owner, a.RID, a.Center, a.Radius))
				if a.Seq == 0 || a.Defined.IsZero() {
					t.Errorf("area %s lacks seq or defined: %+v", a.ID, a)
				}
			}
			equalLines(t, "areas", got, []string{
				`s:hq "HQ" server owner="" rid="" center=&{51.52 -0.1} r=200`,
				homeID + ` "Home" phone owner="alice/phone" rid="home1" center=&{51.5 -0.12} r=100`,
				officeID + ` "Office" phone owner="bob/tablet" rid="off1" center=&{51.52 -0.1} r=150`,
			})
			if len(as) != 3 {
				return
			}
			if !as[0].Defined.Equal(clockNow) {
				t.Errorf("HQ defined %s, want the clock's %s", as[0].Defined, clockNow)
			}
			equalLines(t, "HQ members", presences(as[0].Members), []string{"bob/tablet s:hq(HQ) phone=- geometry=true since=18:00"})
			equalLines(t, "Home members", presences(as[1].Members), []string{"alice/phone " + homeID + "(Home) phone=true geometry=true since=17:00"})
			equalLines(t, "Office members", presences(as[2].Members), []string{"bob/tablet " + officeID + "(Office) phone=false geometry=true since=08:00 disagree"})
		},
	},
}

func TestReadAPI(t *testing.T) {
	st := newStack(t)
	for _, c := range readCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, st) })
	}
}

// TestDefaultRangeFollowsClockZone: "today" is midnight to midnight where
// the server's clock is.
func TestDefaultRangeFollowsClockZone(t *testing.T) {
	st := newStack(t)
	zone := time.FixedZone("UTC+8", 8*3600)
	site := *st.site
	site.Now = func() time.Time { return time.Date(2026, 3, 11, 2, 0, 0, 0, zone) } // 2026-03-10T18:00Z
	srv := httptest.NewServer(site.Routes())
	defer srv.Close()
	from := time.Date(2026, 3, 11, 0, 0, 0, 0, zone)
	_, body := doURL(t, "GET", srv.URL+friendPath("alice", "phone", "locations"), "")
	locationsWant{
		device: aliceID, from: from, to: from.Add(24 * time.Hour), tsts: within(aliceTsts(), from, from.Add(24*time.Hour)),
		distance: homeToHQ, areas: []areaTimeJSON{{homeID, "Home", 2700 + 450}, {hqID, "HQ", 2700 + 450}},
	}.check(t, st, nil, body)
}

// areaWriteCases run in order on one stack: each starts where the one
// before left off.
var areaWriteCases = []reqCase{
	{name: "define: no name", method: "POST", path: "/api/v1/areas", body: `{"center":{"lat":51.5,"lon":-0.1},"radius":100}`, code: 400,
		errMsg: "area: a name is required"},
	{name: "define: blank name", method: "POST", path: "/api/v1/areas", body: `{"name":"  ","center":{"lat":51.5,"lon":-0.1},"radius":100}`, code: 400,
		errMsg: "area: a name is required"},
	{name: "define: radius 0", method: "POST", path: "/api/v1/areas", body: `{"name":"Pool","center":{"lat":51.5,"lon":-0.1},"radius":0}`, code: 400,
		errMsg: `area "Pool": radius 0 m is out of range (0, 100000]`},
	{name: "define: radius too big", method: "POST", path: "/api/v1/areas", body: `{"name":"Pool","center":{"lat":51.5,"lon":-0.1},"radius":100001}`, code: 400,
		errMsg: `area "Pool": radius 100001 m is out of range (0, 100000]`},
	{name: "define: polygon of 2 points", method: "POST", path: "/api/v1/areas", body: `{"name":"Pool","polygon":[{"lat":51.5,"lon":-0.1},{"lat":51.6,"lon":-0.1}]}`, code: 400,
		errMsg: `area "Pool": a polygon needs 3 to 1000 points, got 2`},
	{name: "define: centre latitude 91", method: "POST", path: "/api/v1/areas", body: `{"name":"Pool","center":{"lat":91,"lon":-0.1},"radius":100}`, code: 400,
		errMsg: `area "Pool": centre latitude 91 is out of range [-90, 90]`},
	{name: "define: polygon longitude 181", method: "POST", path: "/api/v1/areas", body: `{"name":"Pool","polygon":[{"lat":51.5,"lon":-0.1},{"lat":51.6,"lon":-0.1},{"lat":51.6,"lon":181}]}`, code: 400,
		errMsg: `area "Pool": polygon point 3 longitude 181 is out of range [-180, 180]`},
	{name: "define: both circle and polygon", method: "POST", path: "/api/v1/areas", code: 400,
		body:   `{"name":"Pool","center":{"lat":51.5,"lon":-0.1},"radius":100,"polygon":[{"lat":51.5,"lon":-0.1},{"lat":51.6,"lon":-0.1},{"lat":51.6,"lon":0}]}`,
		errMsg: `area "Pool": give either a centre and radius or a polygon`},
	{name: "define: neither circle nor polygon", method: "POST", path: "/api/v1/areas", body: `{"name":"Pool"}`, code: 400,
		errMsg: `area "Pool": give either a centre and radius or a polygon`},
	{name: "define: name too long", method: "POST", path: "/api/v1/areas", body: `{"name":"` + strings.Repeat("é", 101) + `","center":{"lat":51.5,"lon":-0.1},"radius":100}`, code: 400,
		errMsg: "area name must be valid text of at most 100 characters"},
	{name: "define: not JSON", method: "POST", path: "/api/v1/areas", body: `name=Pool&radius=100`, code: 400,
		errPrefix: "area: body is not valid JSON: "},
	{name: "define: wrong JSON type", method: "POST", path: "/api/v1/areas", body: `{"name":"Pool","radius":"100m"}`, code: 400,
		errPrefix: "area: body is not valid JSON: "},
	{
		name: "define: polygon around the park; who is there is a member at once", method: "POST", path: "/api/v1/areas", code: 201,
		body: `{"name":"Park","polygon":[{"lat":51.46,"lon":-0.16},{"lat":51.48,"lon":-0.16},{"lat":51.48,"lon":-0.14},{"lat":51.46,"lon":-0.14}]}`,
		check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
			requireKeys(t, "area", body, "id", "name", "origin", "polygon", "defined", "seq", "members")
			a := decode[areaJSON](t, body)
			if a.ID != "s:park" || a.Name != "Park" || a.Origin != "server" || len(a.Polygon) != 4 || a.Center != nil || a.Seq != st.log.Head() {
				t.Errorf("area = %+v, want s:park, server, 4 points, seq %d", a, st.log.Head())
			}
			equalLines(t, "Park members", presences(a.Members), []string{oddID + " s:park(Park) phone=- geometry=true since=18:00"})
		},
	},
	{
		name: "define: names are case-insensitive; redefining moves HQ to alice's home", method: "POST", path: "/api/v1/areas", code: 201,
		body: `{"name":" hq ","center":{"lat":51.5,"lon":-0.12},"radius":300}`,
		check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
			a := decode[areaJSON](t, body)
			if a.ID != hqID || a.Name != "hq" || a.Radius != 300 {
				t.Errorf("area = %+v, want s:hq named hq, r 300", a)
			}
			equalLines(t, "hq members", presences(a.Members), []string{"alice/phone s:hq(hq) phone=- geometry=true since=18:00"})
			// The area as now defined applies to the past: bob, at his
			// desk all day, was never in it; alice was, at home.
			_, body = st.do(t, "GET", friendPath("bob", "tablet", "areas"), "")
			for _, e := range decode[areaEventsJSON](t, body).Events {
				if e.Area == hqID {
					t.Errorf("bob has an event at the moved hq: %v", e)
				}
			}
			_, body = st.do(t, "GET", friendPath("alice", "phone", "areas"), "")
			var hq []string
			for _, e := range decode[areaEventsJSON](t, body).Events {
				if e.Area == hqID {
					hq = append(hq, e.String())
				}
			}
			equalLines(t, "alice at the moved hq", hq, []string{"06:00 alice/phone enter s:hq(hq) geometry",
				"09:00 alice/phone leave s:hq(hq) geometry", "17:00 alice/phone enter s:hq(hq) geometry"})
		},
	},
	{name: "remove: unknown area", method: "DELETE", path: "/api/v1/areas/Nowhere", code: 404,
		errMsg: `no server area named "Nowhere"`},
	{name: "remove: a phone's region is not the server's", method: "DELETE", path: "/api/v1/areas/Home", code: 404,
		errMsg: `no server area named "Home"`},
	{
		name: "remove: Park", method: "DELETE", path: "/api/v1/areas/Park", code: 200,
		check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
			got := decode[struct {
				Removed string `json:"removed"`
				Seq     uint64 `json:"seq"`
			}](t, body)
			if got.Removed != "Park" || got.Seq != st.log.Head() {
				t.Errorf("answer %+v, want removed Park at seq %d", got, st.log.Head())
			}
			_, body = st.do(t, "GET", "/api/v1/areas", "")
			for _, a := range decode[[]areaJSON](t, body) {
				if a.ID == "s:park" {
					t.Errorf("Park still listed: %+v", a)
				}
			}
			_, body = st.do(t, "GET", friendPath(oddUser, oddDevice, "areas"), "")
			equalLines(t, "odd friend's area events", eventLines(decode[areaEventsJSON](t, body).Events), []string{
				"18:00 " + oddID + " enter s:park(Park) geometry",
				"18:00 " + oddID + " leave s:park(Park) geometry",
			})
		},
	},
	{name: "remove: Park again", method: "DELETE", path: "/api/v1/areas/Park", code: 404,
		errMsg: `no server area named "Park"`},
	{name: "define: a name with a space and markup", method: "POST", path: "/api/v1/areas", code: 201,
		body: `{"name":"Town <b>Hall</b>","center":{"lat":51.5,"lon":-0.12},"radius":50}`,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			if a := decode[areaJSON](t, body); a.ID != "s:town <b>hall</b>" || a.Name != "Town <b>Hall</b>" {
				t.Errorf("area = %+v", a)
			}
		}},
	{name: "remove: escaped name, any case", method: "DELETE", path: "/api/v1/areas/town%20%3Cb%3EHALL%3C%2Fb%3E", code: 200,
		check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
			if got := decode[struct {
				Removed string `json:"removed"`
			}](t, body); got.Removed != "town <b>HALL</b>" {
				t.Errorf("removed %q, want the name as given", got.Removed)
			}
			_, body = st.do(t, "GET", "/api/v1/areas", "")
			for _, a := range decode[[]areaJSON](t, body) {
				if strings.HasPrefix(a.ID, "s:town") {
					t.Errorf("Town Hall still listed: %+v", a)
				}
			}
		}},
}

func TestAreaWrites(t *testing.T) {
	st := newStack(t)
	for _, c := range areaWriteCases {
		t.Run(c.name, func(t *testing.T) {
			head := st.log.Head()
			c.run(t, st)
			switch after := st.log.Head(); {
			case c.code >= 400 && after != head:
				t.Errorf("a refused request appended events: head %d -> %d", head, after)
			case c.code < 400 && after != head+1:
				t.Errorf("head %d -> %d, want one admin event", head, after)
			}
		})
	}
}

// rebuildCases: a rebuild answers with its summary and changes nothing
// the API shows.
var rebuildCases = []reqCase{{
	name: "rebuild", method: "POST", path: "/api/v1/admin/rebuild", code: 200,
	check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
		requireKeys(t, "rebuild stats", body, "events", "invalid", "invalid_by_reason", "took_ns")
		got := decode[struct {
			Events   uint64            `json:"events"`
			Invalid  uint64            `json:"invalid"`
			ByReason map[string]uint64 `json:"invalid_by_reason"`
			Took     int64             `json:"took_ns"`
		}](t, body)
		if got.Events != st.log.Head() || got.Invalid != 1 || got.ByReason["lat out of range"] != 1 || got.Took <= 0 {
			t.Errorf("stats = %+v, want %d events, 1 invalid (lat out of range)", got, st.log.Head())
		}
	},
}}

func TestRebuildKeepsProjections(t *testing.T) {
	st := newStack(t)
	views := []string{
		"/api/v1/friends", "/api/v1/areas",
		friendPath("alice", "phone", "locations"), friendPath("bob", "tablet", "locations"),
		friendPath("alice", "phone", "areas"), friendPath("bob", "tablet", "areas"),
		withQuery(friendPath("alice", "phone", "locations"), "from", "2026-03-09T00:00:00Z", "to", "2026-03-11T00:00:00Z"),
	}
	snapshot := func() []string {
		var out []string
		for _, v := range views {
			res, body := st.do(t, "GET", v, "")
			if res.StatusCode != 200 {
				t.Fatalf("GET %s: %s", v, res.Status)
			}
			out = append(out, string(body))
		}
		return out
	}
	before := snapshot()
	for _, c := range rebuildCases {
		c.run(t, st)
	}
	after := snapshot()
	for i := range views {
		if before[i] != after[i] {
			t.Errorf("GET %s changed by the rebuild:\nbefore: %s\n after: %s", views[i], before[i], after[i])
		}
	}
	// The rebuilt projections keep following the log.
	st.appendAll(t, ev("owntracks/bob/tablet", clockNow.Add(time.Minute), string(locationPayload("bt", home, clockNow.Unix()))))
	_, body := st.do(t, "GET", "/api/v1/friends", "")
	for _, f := range decode[[]friendJSON](t, body) {
		if f.ID == bobID && (f.Location == nil || f.Location.Tst != clockNow.Unix()) {
			t.Errorf("after the rebuild bob's new fix was not applied: %+v", f.Location)
		}
	}
}

// routesTestedElsewhere are routes the request tables here do not cover,
// each with the test in this package that does, or "" for a known gap
// (logged by TestRoutesCovered). Every other route the router serves must
// be hit by a case in allCases.
var routesTestedElsewhere = map[string]string{
	"GET /":                        "TestEscapedEverywhere",
	"GET /areas":                   "TestAreasPage",
	"GET /markers.json":            "TestDashboardPages",
	"GET /log":                     "TestLogPage",
	"GET /friends/{user}/{device}": "TestHistoryPage",
	"GET /stats":                   "TestStatsPage",
	"GET /stats/{user}/{device}":   "TestStatsPage",
	"GET /api/v1/friends/{user}/{device}/stats":       "TestStatsAPI",
	"GET /api/v1/friends/{user}/{device}/heatmap":     "TestHeatmapAPI",
	"GET /api/v1/friends/{user}/{device}/visits":      "TestFriendVisits",
	"GET /api/v1/places/suggested":                    "TestSuggestedPlaces",
	"GET /friends/{user}/{device}/export.gpx":         "TestEscapedEverywhere",
	"GET /friends/{user}/{device}/export.geojson":     "TestEscapedEverywhere",
	"GET /friends/{user}/{device}/export.csv":         "TestEscapedEverywhere",
	"GET /faces/{seq}":                                "",
	"GET /live":                                       "",
	"GET /live/sse":                                   "",
	"* /static/*":                                     "",
	"GET /login":                                      "TestLoginAndSessions",
	"POST /login":                                     "TestLoginAndSessions",
	"POST /logout":                                    "TestLoginAndSessions",
	"GET /api/v1/users":                               "TestUserManagementAPI",
	"POST /api/v1/users":                              "TestUserManagementAPI",
	"POST /pub":                                       "TestHTTPMode",
	"GET /metrics":                                    "TestMetrics",
	"GET /readyz":                                     "TestReady",
	"GET /api/v1/export":                              "", // tested by TestExportImport in cmd/tracker (export_test.go)
	"POST /api/v1/admin/import":                       "TestImportEndpoint",
	"GET /admin":                                      "TestAdminOpsByRole",
	"GET /admin/devices":                              "TestDeviceHealthAPI",
	"GET /api/v1/admin/progress":                      "TestRebuildOneAtATime",
	"GET /api/v1/admin/storage":                       "TestAdminOpsByRole",
	"POST /api/v1/admin/upload":                       "TestUploadImports",
	"GET /api/v1/devices/health":                      "TestDeviceHealthAPI",
	"GET /api/v1/friends/{user}/{device}/corrections": "TestCorrectionAttacks",
	"POST /api/v1/friends/{user}/{device}/hide":       "TestCorrectionsHideEverywhere",
	"POST /api/v1/friends/{user}/{device}/unhide":     "TestCorrectionsHideEverywhere",
	"PUT /api/v1/friends/{user}/{device}/accuracy":    "TestCorrectionAttacks",
	"DELETE /api/v1/friends/{user}/{device}/accuracy": "TestCorrectionThresholds",
	"PUT /api/v1/accuracy":                            "TestCorrectionAttacks",
	"DELETE /api/v1/accuracy":                         "TestCorrectionAttacks",
	"POST /friends/{user}/{device}/corrections":       "TestCorrectionsFromThePage",
	"POST /api/v1/admin/erase":                        "TestEraseRoutes",
	"POST /api/v1/admin/retention":                    "TestEraseRoutes",
	"GET /admin/erase":                                "TestEraseRoutes",
	"POST /admin/erase":                               "TestEraseRoutes",
	"POST /admin/erase/retention":                     "TestEraseRoutes",
	"GET /connect":                                    "TestAccountPages",
	"POST /connect":                                   "TestAccountPages",
	"GET /me":                                         "TestAccountPages",
	"POST /me/password":                               "TestAccountPages",
	"POST /me/zone":                                   "TestAccountPages",
	"POST /me/signout":                                "TestAccountPages",
	"POST /me/devices/revoke":                         "TestAccountPages",
	"GET /api/v1/me/otrc":                             "TestAccountPages",
	"POST /api/v1/me/otrc":                            "TestAccountPages",
	"GET /s/{token}":                                  "TestShareLinks",
	"GET /s/{token}/stream":                           "TestShareLinks",
	"GET /s/{token}/track.json":                       "TestShareLinks",
	"GET /api/v1/shares":                              "TestShareLinks",
	"POST /api/v1/shares":                             "TestShareLinks",
	"DELETE /api/v1/shares/{id}":                      "TestShareLinks",
	"GET /share":                                      "TestSharePage",
	"POST /share":                                     "TestSharePage",
	"POST /share/revoke":                              "TestSharePage",
	"GET /api/v1/notifications":                       "TestNotificationRulesAPI",
	"POST /api/v1/notifications":                      "TestNotificationRulesAPI",
	"DELETE /api/v1/notifications/{id}":               "TestNotificationRulesAPI",
	"GET /me/notifications":                           "TestNotificationRulesAPI",
	"POST /me/notifications":                          "TestNotificationRulesAPI",
	"POST /me/notifications/remove":                   "TestNotificationRulesAPI",
}

// testFuncs returns the names of the Test functions in this package's
// test files.
func testFuncs(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for _, d := range af.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				names[fn.Name.Name] = true
			}
		}
	}
	return names
}

// TestRoutesCovered fails when a route is added without a case in one of
// the tables: each case's method and path are routed through the real
// router, and every route chi knows must be hit by some case (or be
// listed in routesTestedElsewhere).
func TestRoutesCovered(t *testing.T) {
	h := web.New(web.Deps{}).Router()
	mux, ok := h.(interface {
		chi.Routes
		Find(*chi.Context, string, string) string
	})
	if !ok {
		t.Fatalf("Routes() returns %T, not a chi router", h)
	}
	// What chi serves; a pattern registered for every method (Handle) is
	// one route, "* pattern".
	methods := map[string][]string{}
	if err := chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		methods[route] = append(methods[route], method)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	routes := map[string]bool{}
	for pattern, ms := range methods {
		if len(ms) >= 9 { // all of GET HEAD POST PUT PATCH DELETE CONNECT OPTIONS TRACE (QUERY)
			routes["* "+pattern] = true
			continue
		}
		for _, m := range ms {
			routes[m+" "+pattern] = true
		}
	}
	if len(routes) == 0 {
		t.Fatal("chi.Walk found no routes")
	}
	covered := map[string][]string{}
	for _, c := range allCases() {
		u, err := url.Parse(c.path)
		if err != nil {
			t.Fatalf("case %q: %v", c.name, err)
		}
		p := u.Path
		if u.RawPath != "" {
			p = u.RawPath // chi routes on the escaped path when there is one
		}
		pattern := mux.Find(chi.NewRouteContext(), c.method, p)
		if pattern == "" {
			t.Errorf("case %q: %s %s matches no route", c.name, c.method, c.path)
			continue
		}
		k := c.method + " " + pattern
		if routes["* "+pattern] {
			k = "* " + pattern
		}
		covered[k] = append(covered[k], c.name)
	}
	tests := testFuncs(t)
	for r := range routes {
		test, elsewhere := routesTestedElsewhere[r]
		switch {
		case len(covered[r]) == 0 && !elsewhere:
			t.Errorf("route %s has no test case: add one to a table in allCases (or name its test in routesTestedElsewhere)", r)
		case len(covered[r]) > 0 && elsewhere:
			t.Errorf("route %s is covered here; drop it from routesTestedElsewhere", r)
		case elsewhere && test == "":
			t.Logf("known gap: route %s has no test", r)
		case elsewhere && !tests[test]:
			t.Errorf("route %s: routesTestedElsewhere names %s, which is not a test in this package", r, test)
		}
	}
	for r := range routesTestedElsewhere {
		if !routes[r] {
			t.Errorf("routesTestedElsewhere lists %s, which the router does not serve", r)
		}
	}
	t.Logf("%d routes, %d cases", len(routes), len(allCases()))
}

// allCases lists every table of requests.
func allCases() []reqCase {
	return slices.Concat(readCases, areaWriteCases, rebuildCases, eventCases, healthCases, []reqCase{followCase}, areaEditReqs(), asOfCases)
}
