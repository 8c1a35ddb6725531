package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"tracker/views/htmltest"
)

// friendsAt says where each friend of an as-of answer was and in which
// places: "alice/phone 10:00 s:hq(HQ) phone=- geometry=true since=09:00".
func friendsAt(t *testing.T, body []byte) []string {
	t.Helper()
	var fs []struct {
		ID       string `json:"id"`
		Location struct {
			Tst int64   `json:"tst"`
			Lat float64 `json:"lat"`
		} `json:"location"`
		Areas []presenceJSON `json:"areas"`
	}
	if err := json.Unmarshal(body, &fs); err != nil {
		t.Fatalf("friends: %v\n%s", err, body)
	}
	out := []string{}
	for _, f := range fs {
		s := f.ID + " " + hhmm(f.Location.Tst)
		for _, a := range f.Areas {
			s += " | " + strings.TrimPrefix(a.String(), f.ID+" ")
		}
		out = append(out, s)
	}
	return out
}

// asOfCases: the read API as of a moment (?at=) and the replay's data.
// HQ is defined at 18:00 and applies to the whole day; alice's 10:00 fix
// arrived last, at 17:50, and counts at its own time.
var asOfCases = []reqCase{
	{
		name: "as of: friends at 10:05, alice at her late 10:00 fix, places by today's areas", method: "GET",
		path: "/api/v1/friends?at=" + fmt.Sprint(at(10, 5, 0)), code: 200,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			equalLines(t, "friends at 10:05", friendsAt(t, body), []string{
				"Zoë <img src=x onerror=alert(1)>/my phone 10:00",
				"alice/phone 10:00 | s:hq(HQ) phone=- geometry=true since=09:00",
				"bob/tablet 10:00 | s:hq(HQ) phone=- geometry=true since=08:00 | p:bob/tablet:rid:off1(Office) phone=true geometry=true since=08:00",
			})
		},
	},
	{
		name: "as of: RFC 3339, bob has left the office by phone only", method: "GET",
		path: "/api/v1/friends?at=2026-03-10T12:10:00Z", code: 200,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			equalLines(t, "friends at 12:10", friendsAt(t, body), []string{
				"Zoë <img src=x onerror=alert(1)>/my phone 10:00",
				"alice/phone 12:00 | s:hq(HQ) phone=- geometry=true since=09:00",
				"bob/tablet 12:00 | s:hq(HQ) phone=- geometry=true since=08:00 | p:bob/tablet:rid:off1(Office) phone=false geometry=true since=08:00 disagree",
			})
		},
	},
	{
		name: "as of: before anybody's first fix, nobody", method: "GET",
		path: "/api/v1/friends?at=" + fmt.Sprint(day.Add(-13*60*60e9).Unix()), code: 200,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			equalLines(t, "friends", friendsAt(t, body), []string{})
		},
	},
	{
		name: "as of: areas at 08:30, HQ defined at 18:00 has bob", method: "GET",
		path: "/api/v1/areas?at=" + fmt.Sprint(at(8, 30, 0)), code: 200,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			var got []string
			for _, a := range decode[[]areaJSON](t, body) {
				got = append(got, fmt.Sprintf("%s %v", a.ID, presences(a.Members)))
			}
			equalLines(t, "areas at 08:30", got, []string{
				"s:hq [bob/tablet s:hq(HQ) phone=- geometry=true since=08:00]",
				homeID + " [alice/phone " + homeID + "(Home) phone=- geometry=true since=06:00]",
				officeID + " [bob/tablet " + officeID + "(Office) phone=true geometry=true since=08:00]",
			})
		},
	},
	{name: "as of: garbage", method: "GET", path: "/api/v1/friends?at=yesterday", code: 400,
		errMsg: `at: want RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds, got "yesterday"`},
	{name: "as of: negative", method: "GET", path: "/api/v1/areas?at=-5", code: 400,
		errMsg: `at: -5 is not a plausible Unix time in seconds`},
	{name: "as of: out of range", method: "GET", path: "/api/v1/areas?at=0001-01-01T00:00:00Z", code: 400,
		errMsg: `at 0001-01-01T00:00:00Z is outside 1970-01-01 to 9999-12-31: time out of range`},
	{
		name: "replay: 08:30 to 09:30, tracks and crossings", method: "GET",
		path: fmt.Sprintf("/api/v1/replay?from=%d&to=%d", at(8, 30, 0), at(9, 30, 0)), code: 200,
		check: func(t *testing.T, _ *stack, _ *http.Response, body []byte) {
			var r struct {
				From    int64 `json:"from"`
				Friends []struct {
					Marker struct {
						ID string `json:"id"`
					} `json:"marker"`
					Points [][3]float64 `json:"points"`
				} `json:"friends"`
				Start []struct {
					Device, Area, Origin string
					In                   bool
				} `json:"start"`
				Crossings []struct {
					Tst                  int64
					Device, Area, Origin string
					In                   bool
				} `json:"crossings"`
				Places []struct {
					Key, Name string
				} `json:"places"`
			}
			if err := json.Unmarshal(body, &r); err != nil {
				t.Fatal(err)
			}
			var tracks, cross []string
			for _, f := range r.Friends {
				tracks = append(tracks, fmt.Sprintf("%s %d", f.Marker.ID, len(f.Points)))
			}
			for _, c := range r.Crossings {
				cross = append(cross, fmt.Sprintf("%s %s %s %s %v", hhmm(c.Tst), c.Device, c.Area, c.Origin, c.In))
			}
			equalLines(t, "tracks", tracks, []string{"alice/phone 4", "bob/tablet 2", oddID + " 0"})
			equalLines(t, "crossings", cross, []string{
				"09:00 alice/phone " + homeID + " geometry false",
				"09:00 alice/phone s:hq geometry true",
			})
			if len(r.Start) == 0 || len(r.Places) != 3 {
				t.Errorf("start %+v, places %+v: want who was where at 08:30 and the three places", r.Start, r.Places)
			}
		},
	},
	{name: "replay: bad range", method: "GET", path: "/api/v1/replay?from=2026-03-10T12:00:00Z&to=2026-03-10T09:00:00Z", code: 400,
		errMsg: "from (2026-03-10T12:00:00Z) must be before to (2026-03-10T09:00:00Z)"},
	{name: "replay: unknown friend", method: "GET", path: "/api/v1/replay?friend=alice/watch", code: 404,
		errMsg: `no friend "alice/watch"`},
}

// The dashboard as of a moment shows everyone where they were, the places
// by today's areas, and no live stream; the three views of comings and
// goings show an area's arrivals and departures from before it was
// defined (HQ, defined at 18:00).
func TestDashboardAsOf(t *testing.T) {
	ps := newPageStack(t)
	doc, body := ps.page(t, fmt.Sprintf("/?at=%d", at(10, 5, 0)), http.StatusOK)
	if strings.Contains(string(body), "ws-connect") {
		t.Error("a past dashboard connects to the live stream")
	}
	rows := map[string]string{}
	for _, r := range htmltest.ByTestID(doc, "friend") {
		rows[htmltest.Attr(r, "data-friend")] = htmltest.Attr(r, "data-tst")
	}
	if rows["alice/phone"] != fmt.Sprint(at(10, 0, 0)) || rows["bob/tablet"] != fmt.Sprint(at(10, 0, 0)) {
		t.Errorf("rows' fixes %v, want alice's and bob's 10:00", rows)
	}
	_, members := placeCards(doc)
	if !sameSet(members["HQ"], []string{"Alice Liddell", "bt"}) || !sameSet(members["Office"], []string{"bt"}) {
		t.Errorf("places at 10:05 %v, want HQ: alice and bob, Office: bob", members)
	}
	if s := htmltest.Text(htmltest.One(t, doc, "asof-state")); !strings.Contains(s, "As of") || !strings.Contains(s, "paused") {
		t.Errorf("time bar says %q", s)
	}
	if htmltest.One(t, doc, "asof-now") == nil {
		t.Error("no way back to now")
	}
	if v := htmltest.Attr(htmltest.One(t, doc, "asof-picker"), "value"); v != "2026-03-10T10:05" {
		t.Errorf("the date picker shows %q", v)
	}
	// The date picker's own value, in the viewer's zone, is a moment too.
	doc, _ = ps.page(t, "/?at=2026-03-10T08:30", http.StatusOK)
	if _, members := placeCards(doc); !sameSet(members["HQ"], []string{"bt"}) {
		t.Errorf("places at 08:30 %v, want HQ: bob", members)
	}
	ps.page(t, "/?at=soon", http.StatusBadRequest)

	// Now: the live dashboard's feed, the areas page, alice's timeline.
	doc, _ = ps.page(t, "/", http.StatusOK)
	feed := htmltest.Texts(htmltest.ByTestID(doc, "feed-item"))
	for _, want := range []string{"Alice Liddell arrived at HQ · 09:00", "Alice Liddell left HQ · 17:00", "bt arrived at HQ · 08:00"} {
		if !slices.ContainsFunc(feed, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("the dashboard's feed lacks %q: %q", want, feed)
		}
	}
	doc, _ = ps.page(t, "/areas", http.StatusOK)
	var hq []string
	for _, s := range htmltest.ByTestID(doc, "area-section") {
		if htmltest.Attr(s, "aria-label") == "HQ" {
			hq = htmltest.Texts(htmltest.ByTestID(s, "area-event"))
		}
	}
	for _, want := range []string{"Alice Liddell arrived at HQ · 09:00", "Alice Liddell left HQ · 17:00", "bt arrived at HQ · 08:00"} {
		if !slices.ContainsFunc(hq, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("the areas page's HQ lacks %q: %q", want, hq)
		}
	}
	doc, _ = ps.page(t, "/friends/alice/phone?from=2026-03-10&to=2026-03-10", http.StatusOK)
	timeline := htmltest.Texts(htmltest.ByTestID(doc, "timeline-item"))
	for _, want := range []string{"Alice Liddell arrived at HQ · 09:00", "Alice Liddell left HQ · 17:00"} {
		if !slices.ContainsFunc(timeline, func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("alice's timeline lacks %q: %q", want, timeline)
		}
	}
}

// TestAsOfAPI runs asOfCases.
func TestAsOfAPI(t *testing.T) {
	st := newStack(t)
	for _, c := range asOfCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, st) })
	}
}
