package web_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"tracker/events"
	"tracker/projections/geo"
	"tracker/static"
	"tracker/views"
	"tracker/views/htmltest"
)

// pageStack is the fixture stack with a second HTTP server that can render
// pages (assets and tiles set).
type pageStack struct {
	*stack
	pages *httptest.Server
}

func newPageStack(t *testing.T) *pageStack {
	t.Helper()
	st := newStack(t)
	site := *st.site
	site.Assets = static.New()
	site.Tiles = views.Tiles{URL: "https://tiles.example/{z}/{x}/{y}.png", Attribution: "tiles: example"}
	ps := &pageStack{stack: st, pages: httptest.NewServer(site.Routes())}
	t.Cleanup(ps.pages.Close) // runs before the stack's cleanup stops the projector
	return ps
}

// get fetches path from the page server.
func (ps *pageStack) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	return doURL(t, http.MethodGet, ps.pages.URL+path, "")
}

// page fetches an HTML page, requires the status and parses it.
func (ps *pageStack) page(t *testing.T, path string, code int) (*html.Node, []byte) {
	t.Helper()
	res, body := ps.get(t, path)
	if res.StatusCode != code {
		t.Fatalf("GET %s: status %d, want %d; body:\n%s", path, res.StatusCode, code, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q, want HTML", path, ct)
	}
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	checkNoInjectedMarkup(t, path, doc, body)
	return doc, body
}

// historyPath is the history page of user/device, query appended.
func historyPath(user, device string, kv ...string) string {
	p := "/friends/" + url.PathEscape(user) + "/" + url.PathEscape(device)
	if len(kv) == 0 {
		return p
	}
	return withQuery(p, kv...)
}

// checkNoInjectedMarkup fails when data made it into the page as markup:
// every script is one of ours (a /static/ src, no inline code), no element
// has an event handler attribute or an inline style, and the raw bytes
// hold none of the fixtures' tags.
func checkNoInjectedMarkup(t *testing.T, what string, doc *html.Node, body []byte) {
	t.Helper()
	for _, s := range htmltest.Find(doc, func(d *html.Node) bool { return d.Data == "script" }) {
		if !strings.HasPrefix(htmltest.Attr(s, "src"), "/static/") || s.FirstChild != nil {
			t.Errorf("%s: a script that is not ours: src=%q text=%q", what, htmltest.Attr(s, "src"), htmltest.Text(s))
		}
	}
	for _, n := range htmltest.Find(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" {
				t.Errorf("%s: <%s %s=%q>: event handler or inline style", what, n.Data, a.Key, a.Val)
			}
		}
	}
	for _, raw := range []string{"<script>alert", "<img src=x", "<b>bold"} {
		if bytes.Contains(body, []byte(raw)) {
			t.Errorf("%s: raw %q in the page", what, raw)
		}
	}
}

// The friend whose every name is markup. A topic level cannot hold "/",
// so the user is an unclosed tag; the card name is a whole script.
const (
	evilUser   = `"><script>alert(1)`
	evilDevice = `dev'1 <b>bold`
	evilName   = `<script>alert(1)</script>`
)

// addEvilFriend: a card and two fixes at bob's desk (inside HQ), with a
// trigger that is markup too.
func addEvilFriend(t *testing.T, st *stack) {
	t.Helper()
	topic := "owntracks/" + evilUser + "/" + evilDevice
	st.appendAll(t,
		ev(topic+"/info", day.Add(10*time.Hour), fmt.Sprintf(`{"_type":"card","name":%q,"tid":"<i"}`, evilName)),
		ev(topic, day.Add(11*time.Hour), fmt.Sprintf(`{"_type":"location","lat":%g,"lon":%g,"tst":%d,"acc":5,"t":"<b>bold"}`, desk.Lat, desk.Lon, at(11, 0, 0))),
		ev(topic, day.Add(11*time.Hour+time.Minute), fmt.Sprintf(`{"_type":"location","lat":%g,"lon":%g,"tst":%d,"acc":5,"t":"=cmd|' /C calc'!A0"}`, desk.Lat, desk.Lon, at(11, 1, 0))),
	)
}

// rowTsts reads data-tst of the point rows.
func rowTsts(t *testing.T, doc *html.Node) []int64 {
	t.Helper()
	var out []int64
	for _, r := range htmltest.ByTestID(doc, "point-row") {
		n, err := strconv.ParseInt(htmltest.Attr(r, "data-tst"), 10, 64)
		if err != nil {
			t.Fatalf("point row data-tst: %v", err)
		}
		out = append(out, n)
	}
	return out
}

func TestHistoryPage(t *testing.T) {
	ps := newPageStack(t)
	today := aliceTsts()
	tests := []struct {
		name string
		path string
		tsts []int64
		live bool
	}{
		{"default is today", historyPath("alice", "phone"), today, true},
		{"form values: local date and time", historyPath("alice", "phone", "from", "2026-03-10T09:00", "to", "2026-03-10T12:00"),
			slices.DeleteFunc(slices.Clone(today), func(ts int64) bool { return ts < at(9, 0, 0) || ts >= at(12, 0, 0) }), false},
		{"form values: a date as to includes the day", historyPath("alice", "phone", "from", "2026-03-10", "to", "2026-03-10"), today, true},
		{"yesterday", historyPath("alice", "phone", "from", "2026-03-09", "to", "2026-03-10T00:00"), []int64{day.Add(-12 * time.Hour).Unix()}, false},
		{"RFC 3339 and Unix seconds", historyPath("alice", "phone", "from", "2026-03-10T17:00:00Z", "to", strconv.FormatInt(at(18, 0, 0), 10)),
			[]int64{at(17, 0, 0), at(17, 15, 0), at(17, 30, 0), at(17, 45, 0)}, false},
		{"escaped names", historyPath(oddUser, oddDevice), []int64{at(10, 0, 0)}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, _ := ps.page(t, tc.path, http.StatusOK)
			if got := rowTsts(t, doc); !slices.Equal(got, tc.tsts) {
				t.Errorf("rows (oldest first):\n got %v\nwant %v", got, tc.tsts)
			}
			if got := htmltest.Text(htmltest.One(t, doc, "stat-points")); got != strconv.Itoa(len(tc.tsts)) {
				t.Errorf("points stat = %q, want %d", got, len(tc.tsts))
			}
			if got := htmltest.ByTestID(doc, "history")[0]; htmltest.HasAttr(got, "data-live") != tc.live {
				t.Errorf("data-live present = %v, want %v", !tc.live, tc.live)
			}
			track := htmltest.ByID(doc, "track")
			if track == nil || !strings.Contains(htmltest.Attr(track, "data-geojson"), "/export.geojson?") {
				t.Fatalf("no #track with the GeoJSON export")
			}
			if m := htmltest.ByID(doc, "map"); m == nil || htmltest.Attr(m, "data-tiles") == "" {
				t.Error("no #map with data-tiles")
			}
			// The track's URL is the export of the same points.
			res, body := ps.get(t, htmltest.Attr(track, "data-geojson"))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("track: %s", res.Status)
			}
			fc := parseGeoJSON(t, body)
			if got := fc.tsts(); !slices.Equal(got, tc.tsts) {
				t.Errorf("track tsts %v, want %v", got, tc.tsts)
			}
			exports := htmltest.ByTestID(doc, "export")
			if len(exports) != 3 {
				t.Fatalf("%d export links, want 3", len(exports))
			}
			for _, a := range exports {
				res, body := ps.get(t, htmltest.Attr(a, "href"))
				if res.StatusCode != http.StatusOK || len(body) == 0 {
					t.Errorf("export %s: %s", htmltest.Attr(a, "href"), res.Status)
				}
			}
		})
	}

	t.Run("page parts", func(t *testing.T) {
		doc, _ := ps.page(t, historyPath("alice", "phone"), http.StatusOK)
		if got := htmltest.Text(htmltest.One(t, doc, "friend-name")); got != "Alice Liddell" {
			t.Errorf("name %q", got)
		}
		var picks []string
		for _, a := range htmltest.ByTestID(doc, "quick-pick") {
			s := htmltest.Text(a)
			if htmltest.Attr(a, "aria-current") != "" {
				s += " (current)"
			}
			picks = append(picks, s)
		}
		if want := []string{"Today (current)", "Yesterday", "Last 7 days"}; !slices.Equal(picks, want) {
			t.Errorf("quick picks %q, want %q", picks, want)
		}
		form := htmltest.One(t, doc, "range-form")
		for _, name := range []string{"from", "to"} {
			in := htmltest.Find(form, func(n *html.Node) bool { return n.Data == "input" && htmltest.Attr(n, "name") == name })
			if len(in) != 1 || htmltest.Attr(in[0], "type") != "datetime-local" || in[0].Parent.Data != "label" {
				t.Errorf("range form: no labelled datetime-local input %q", name)
			}
		}
		if v := htmltest.Attr(htmltest.Find(form, func(n *html.Node) bool { return htmltest.Attr(n, "name") == "from" })[0], "value"); v != "2026-03-10T00:00" {
			t.Errorf("from value %q", v)
		}
		// The navigation has no entry for a friend's history: none is marked
		// (it used to mark "Dashboard").
		nav := htmltest.Find(doc, func(n *html.Node) bool { return n.Data == "a" && htmltest.Attr(n, "aria-current") == "page" })
		if len(nav) != 0 {
			t.Errorf("current nav entries on a history page: %q, want none", htmltest.Texts(nav))
		}
		// Alice came home at 17:00 (her phone said so at 17:00:30; the
		// geometry agrees): one line in plain words, as on the dashboard
		// (it used to be two, "phone reported" and "by position").
		got := htmltest.Texts(htmltest.ByTestID(doc, "timeline-item"))
		home := 0
		for _, s := range got {
			if strings.Contains(s, "Home") && strings.Contains(s, "17:0") {
				home++
				if want := "Alice Liddell arrived at Home · 17:00"; s != want {
					t.Errorf("timeline line %q, want %q", s, want)
				}
			}
		}
		if home != 1 {
			t.Errorf("timeline %q: %d lines for alice's arrival at Home at 17:00, want 1", got, home)
		}
		if got := htmltest.Texts(htmltest.ByTestID(doc, "area-time")); len(got) == 0 {
			t.Error("no time per area")
		}
		if got := htmltest.Text(htmltest.One(t, doc, "stat-distance")); !strings.HasSuffix(got, " km") || got == "0.0 km" {
			t.Errorf("distance %q", got)
		}
	})
}

func TestHistoryPaging(t *testing.T) {
	ps := newPageStack(t)
	const n = 250
	var evs []events.Event
	var tsts []int64
	for i := range n {
		tst := day.Add(time.Duration(i) * time.Minute).Unix()
		tsts = append(tsts, tst)
		evs = append(evs, ev("owntracks/pat/phone", time.Unix(tst+1, 0), string(locationPayload("pt", geo.Point{Lat: 48 + float64(i)/1000, Lon: 2}, tst))))
	}
	ps.appendAll(t, evs...)

	for _, tc := range []struct {
		page       string
		from, to   int
		prev, next bool
	}{
		{"", 0, 100, false, true},
		{"1", 0, 100, false, true},
		{"2", 100, 200, true, true},
		{"3", 200, 250, true, false},
		{"4", 0, 0, true, false},
	} {
		t.Run("page "+tc.page, func(t *testing.T) {
			path := historyPath("pat", "phone")
			if tc.page != "" {
				path = historyPath("pat", "phone", "page", tc.page)
			}
			doc, _ := ps.page(t, path, http.StatusOK)
			if got, want := rowTsts(t, doc), tsts[tc.from:tc.to]; !slices.Equal(got, want) {
				t.Errorf("%d rows %v…, want %d rows from %d", len(got), got[:min(3, len(got))], len(want), tc.from)
			}
			if got := htmltest.Text(htmltest.One(t, doc, "stat-points")); got != "250" {
				t.Errorf("points stat %q on every page", got)
			}
			prev, next := htmltest.ByTestID(doc, "page-prev"), htmltest.ByTestID(doc, "page-next")
			if (len(prev) > 0) != tc.prev || (len(next) > 0) != tc.next {
				t.Errorf("prev link %v, next link %v; want %v, %v", len(prev) > 0, len(next) > 0, tc.prev, tc.next)
			}
			if len(next) > 0 {
				// The link keeps the range and goes one page on.
				doc2, _ := ps.page(t, htmltest.Attr(next[0], "href"), http.StatusOK)
				want := tsts[min(tc.to, n):min(tc.to+100, n)]
				if got := rowTsts(t, doc2); !slices.Equal(got, want) {
					t.Errorf("next page: %d rows, want %d", len(got), len(want))
				}
			}
		})
	}
}

func TestHistoryErrors(t *testing.T) {
	ps := newPageStack(t)
	for _, tc := range []struct {
		name, path string
		code       int
		msg        string // in the error text
	}{
		{"unknown friend", historyPath("alice", "tablet"), 404, `no friend "alice" with device "tablet"`},
		{"unknown escaped friend", historyPath("<script>alert(1)", "x"), 404, `no friend "<script>alert(1)" with device "x"`},
		{"bad from", historyPath("alice", "phone", "from", "yesterday-ish"), 400, `Bad range: from: want RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds, got "yesterday-ish"`},
		{"from after to", historyPath("alice", "phone", "from", "2026-03-10T12:00", "to", "2026-03-10T11:00"), 400, "Bad range: from (2026-03-10T12:00:00Z) must be before to (2026-03-10T11:00:00Z)"},
		{"too long", historyPath("alice", "phone", "from", "2024-01-01", "to", "2026-01-01"), 400, "at most 366 days per request"},
		{"markup in the range", historyPath("alice", "phone", "to", "<script>alert(1)</script>"), 400, `got "<script>alert(1)</script>"`},
		{"bad page", historyPath("alice", "phone", "page", "0"), 400, `page: "0" is not a page number (1 or more)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, _ := ps.page(t, tc.path, tc.code)
			if got := htmltest.Text(htmltest.One(t, doc, "error")); !strings.Contains(got, tc.msg) {
				t.Errorf("error text %q, want it to contain %q", got, tc.msg)
			}
		})
	}
}

func TestAreasPage(t *testing.T) {
	ps := newPageStack(t)
	addEvilFriend(t, ps.stack)
	doc, _ := ps.page(t, "/areas", http.StatusOK)

	type area struct {
		name, geometry string
		members        []string
		events         []string
		shape          bool
	}
	var got []area
	for _, s := range htmltest.ByTestID(doc, "area-section") {
		card := htmltest.ByTestID(s, "place")[0]
		def := htmltest.ByTestID(card, "area")[0]
		a := area{
			name:     htmltest.Text(htmltest.Find(card, func(n *html.Node) bool { return n.Data == "h3" })[0]),
			geometry: htmltest.Text(htmltest.ByTestID(s, "geometry")[0]),
			shape:    htmltest.Attr(def, "data-shape") != "",
		}
		for _, m := range htmltest.Find(card, func(n *html.Node) bool { return htmltest.Attr(n, "class") == "member" }) {
			a.members = append(a.members, htmltest.Text(m))
		}
		for _, e := range htmltest.ByTestID(s, "area-event") {
			a.events = append(a.events, htmltest.Text(e))
		}
		got = append(got, a)
	}
	if len(got) != 3 {
		t.Fatalf("%d areas, want HQ, Home, Office: %+v", len(got), got)
	}
	byName := map[string]area{}
	for _, a := range got {
		byName[strings.Fields(a.name)[0]] = a
	}
	hq, home, office := byName["HQ"], byName["Home"], byName["Office"]
	if !slices.Equal(hq.members, []string{evilName, "bt"}) { // bob has no card: his tracker id
		t.Errorf("HQ members %q: want the evil friend by name, and bob", hq.members)
	}
	if !slices.Equal(home.members, []string{"Alice Liddell"}) {
		t.Errorf("Home members %q", home.members)
	}
	if hq.geometry != "circle, 200 m" || !hq.shape || !home.shape {
		t.Errorf("HQ geometry %q, shapes HQ %v Home %v", hq.geometry, hq.shape, home.shape)
	}
	// Bob came to the office at 08:00 (his position) and 08:05 (his
	// phone): one crossing, one line. His phone says he left at 12:00
	// while his position stays at his desk: one line, marked. Newest first.
	if want := []string{"bt left Office · 12:00 ⚠ Only the phone reported this; its position did not show it.", "bt arrived at Office · 08:00"}; !slices.Equal(office.events, want) {
		t.Errorf("Office events (newest first) %q, want %q", office.events, want)
	}
	for _, a := range got {
		if len(a.events) > views.AreaRecentMax {
			t.Errorf("%s: %d events listed, cap is %d", a.name, len(a.events), views.AreaRecentMax)
		}
	}
	nav := htmltest.Find(doc, func(n *html.Node) bool { return n.Data == "a" && htmltest.Attr(n, "aria-current") == "page" })
	if len(nav) != 1 || htmltest.Text(nav[0]) != "Areas" {
		t.Errorf("current nav entry: %q", htmltest.Texts(nav))
	}
}

func TestAreasPageCapsEvents(t *testing.T) {
	ps := newPageStack(t)
	// 30 comings and goings at bob's office, each an hour apart, two days ago.
	var evs []events.Event
	base := day.Add(-48 * time.Hour)
	for i := range 30 {
		verb := []string{"enter", "leave"}[i%2]
		tst := base.Add(time.Duration(i) * time.Hour).Unix()
		evs = append(evs, ev("owntracks/bob/tablet/event", time.Unix(tst+5, 0), fmt.Sprintf(
			`{"_type":"transition","event":%q,"desc":"Office","rid":"off1","wtst":%d,"tst":%d,"lat":%g,"lon":%g,"acc":10,"t":"c"}`,
			verb, wtst.Unix(), tst, desk.Lat, desk.Lon)))
	}
	ps.appendAll(t, evs...)
	doc, _ := ps.page(t, "/areas", http.StatusOK)
	for _, s := range htmltest.ByTestID(doc, "area-section") {
		if !strings.HasPrefix(htmltest.Attr(s, "aria-label"), "Office") {
			continue
		}
		got := htmltest.Texts(htmltest.ByTestID(s, "area-event"))
		if len(got) != views.AreaRecentMax {
			t.Fatalf("%d Office events listed, want %d", len(got), views.AreaRecentMax)
		}
		if !strings.Contains(got[0], "bt left Office · 12:00") {
			t.Errorf("newest first: %q", got[0])
		}
		if !strings.Contains(htmltest.Text(s), "The newest 20 are shown") { // of 30 + today's

			t.Errorf("no note about the older events: %s", htmltest.Text(s))
		}
		return
	}
	t.Fatal("no Office section")
}

// logRows reads seq, topic, kind and invalid reason of the log rows.
type logRowT struct {
	seq                   uint64
	topic, kind, invalid  string
	payload, encoding     string
	truncated, invalidRow bool
}

func logRows(t *testing.T, doc *html.Node) []logRowT {
	t.Helper()
	var out []logRowT
	for _, r := range htmltest.ByTestID(doc, "log-row") {
		seq, err := strconv.ParseUint(htmltest.Attr(r, "data-seq"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		row := logRowT{seq: seq, topic: htmltest.Text(htmltest.ByTestID(r, "topic")[0]), kind: strings.Fields(htmltest.Text(htmltest.ByTestID(r, "kind")[0]))[0]}
		if inv := htmltest.ByTestID(r, "invalid"); len(inv) > 0 {
			row.invalid = htmltest.Text(inv[0])
		}
		p := htmltest.ByTestID(r, "payload")[0]
		if p.FirstChild != nil {
			row.payload = p.FirstChild.Data
		}
		row.encoding = htmltest.Attr(p, "data-encoding")
		row.truncated = len(htmltest.ByTestID(r, "truncated")) > 0
		row.invalidRow = htmltest.Attr(r, "class") == "invalid-row"
		out = append(out, row)
	}
	return out
}

func seqsOfRows(rows []logRowT) []uint64 {
	out := []uint64{}
	for _, r := range rows {
		out = append(out, r.seq)
	}
	return out
}

// seqDown is from, from-1, …, to.
func seqDown(from, to uint64) []uint64 {
	out := []uint64{}
	for s := from; s >= to && s > 0; s-- {
		out = append(out, s)
	}
	return out
}

func TestLogPage(t *testing.T) {
	ps := newPageStack(t)
	ps.appendAll(t,
		ev("owntracks/bob/tablet", clockNow, "\xff\x00\xfe\x80"),
		ev("owntracks/carol/phone", clockNow, `{"_type":"location","note":"`+strings.Repeat("é", 40<<10)+`"}`),
	)
	head := ps.log.Head()
	_, body := ps.do(t, "GET", "/api/v1/events", "")
	var lines []lineJSON
	for l := range bytes.Lines(body) {
		lines = append(lines, decode[lineJSON](t, l))
	}

	t.Run("newest page, then older, then back", func(t *testing.T) {
		doc, _ := ps.page(t, "/log", http.StatusOK)
		rows := logRows(t, doc)
		if got, want := seqsOfRows(rows), seqDown(head, head-49); !slices.Equal(got, want) {
			t.Fatalf("newest page seqs %v, want %v", got, want)
		}
		if len(htmltest.ByTestID(doc, "log-newer")) != 0 {
			t.Error("newest page links to newer events")
		}
		older := htmltest.ByTestID(doc, "log-older")
		if len(older) != 2 { // above and below the table
			t.Fatalf("%d older links", len(older))
		}
		if want := "/log?before=" + strconv.FormatUint(head-49, 10); htmltest.Attr(older[0], "href") != want {
			t.Errorf("older link %q, want %q", htmltest.Attr(older[0], "href"), want)
		}
		doc2, _ := ps.page(t, htmltest.Attr(older[0], "href"), http.StatusOK)
		lo := uint64(1)
		if head > 100 {
			lo = head - 99
		}
		if got, want := seqsOfRows(logRows(t, doc2)), seqDown(head-50, lo); !slices.Equal(got, want) {
			t.Errorf("older page seqs %v, want %v", got, want)
		}
		if head <= 100 && len(htmltest.ByTestID(doc2, "log-older")) != 0 {
			t.Error("last page links to older events")
		}
		newer := htmltest.ByTestID(doc2, "log-newer")
		if len(newer) == 0 || htmltest.Attr(newer[0], "href") != "/log" {
			t.Fatalf("newer link from page 2: %q", htmltest.Texts(newer))
		}
		mid, _ := ps.page(t, "/log?before=40", http.StatusOK)
		if got := seqsOfRows(logRows(t, mid)); !slices.Equal(got, seqDown(39, 1)) {
			t.Errorf("before=40: %v", got)
		}
		want := "/log" // fewer than 50 events from 40 up
		if head >= 89 {
			want = "/log?before=90"
		}
		if n := htmltest.ByTestID(mid, "log-newer"); len(n) == 0 || htmltest.Attr(n[0], "href") != want {
			t.Errorf("newer link from before=40: %q, want %q", htmltest.Texts(n), want)
		}
	})

	t.Run("filter by user", func(t *testing.T) {
		var want []uint64
		for i := len(lines) - 1; i >= 0; i-- {
			if lines[i].User == "bob" {
				want = append(want, lines[i].Seq)
			}
		}
		doc, _ := ps.page(t, "/log?user=bob", http.StatusOK)
		rows := logRows(t, doc)
		if got := seqsOfRows(rows); !slices.Equal(got, want) {
			t.Errorf("bob's events %v, want %v", got, want)
		}
		for _, r := range rows {
			if !strings.HasPrefix(r.topic, "owntracks/bob/") {
				t.Errorf("row %d topic %q", r.seq, r.topic)
			}
		}
		if len(htmltest.ByTestID(doc, "log-older")) != 0 || len(htmltest.ByTestID(doc, "stopped-early")) != 0 {
			t.Error("all of bob's events fit one page: no older link, no early stop")
		}
		in := htmltest.Find(htmltest.One(t, doc, "log-filter"), func(n *html.Node) bool { return htmltest.Attr(n, "name") == "user" })[0]
		if htmltest.Attr(in, "value") != "bob" || in.Parent.Data != "label" {
			t.Errorf("user field: value %q, in a label: %v", htmltest.Attr(in, "value"), in.Parent.Data == "label")
		}
	})

	t.Run("filter by kind", func(t *testing.T) {
		doc, _ := ps.page(t, "/log?kind=transition", http.StatusOK)
		rows := logRows(t, doc)
		if len(rows) != 3 {
			t.Errorf("%d transitions, want 3", len(rows))
		}
		for _, r := range rows {
			if r.kind != "transition" {
				t.Errorf("row %d kind %q", r.seq, r.kind)
			}
		}
		sel := htmltest.Find(doc, func(n *html.Node) bool { return n.Data == "option" && htmltest.HasAttr(n, "selected") })
		if len(sel) != 1 || htmltest.Attr(sel[0], "value") != "transition" {
			t.Errorf("selected kind options %q", htmltest.Texts(sel))
		}
		doc, _ = ps.page(t, "/log?user=bob&kind=location", http.StatusOK)
		for _, r := range logRows(t, doc) {
			if r.kind != "location" || !strings.HasPrefix(r.topic, "owntracks/bob/") {
				t.Errorf("user=bob&kind=location: row %+v", r)
			}
		}
	})

	t.Run("invalid events", func(t *testing.T) {
		doc, _ := ps.page(t, "/log?kind=invalid", http.StatusOK)
		rows := logRows(t, doc)
		var want []uint64
		for i := len(lines) - 1; i >= 0; i-- {
			if lines[i].Invalid != "" {
				want = append(want, lines[i].Seq)
			}
		}
		if got := seqsOfRows(rows); len(want) == 0 || !slices.Equal(got, want) {
			t.Fatalf("invalid events %v, want %v", got, want)
		}
		for _, r := range rows {
			if r.invalid == "" || !r.invalidRow {
				t.Errorf("row %d: invalid reason %q, highlighted %v", r.seq, r.invalid, r.invalidRow)
			}
		}
		// The fix at latitude 91.2 says why it is refused.
		if !slices.ContainsFunc(rows, func(r logRowT) bool { return strings.Contains(r.invalid, "lat") }) {
			t.Errorf("no reason names the latitude: %+v", rows)
		}
	})

	t.Run("payloads", func(t *testing.T) {
		doc, _ := ps.page(t, "/log", http.StatusOK)
		rows := logRows(t, doc)
		big, bin := rows[0], rows[1]
		if bin.encoding != "base64" || bin.payload != base64.StdEncoding.EncodeToString([]byte("\xff\x00\xfe\x80")) {
			t.Errorf("binary payload shown as %q (%s)", bin.payload, bin.encoding)
		}
		if !big.truncated || len(big.payload) > views.LogPayloadMax || len(big.payload) < views.LogPayloadMax-4 || big.encoding != "" {
			t.Errorf("80 KiB payload: truncated %v, %d bytes shown", big.truncated, len(big.payload))
		}
		if small := rows[2]; small.truncated || !strings.HasPrefix(small.payload, "{") {
			t.Errorf("small payload %+v", small)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for path, msg := range map[string]string{
			"/log?before=x":          `before: "x" is not an event number (1 or more)`,
			"/log?before=0":          `before: "0" is not an event number (1 or more)`,
			"/log?kind=%3Cscript%3E": `kind: "<script>" is not a kind of event`,
		} {
			doc, _ := ps.page(t, path, http.StatusBadRequest)
			if got := htmltest.Text(htmltest.One(t, doc, "error")); got != msg {
				t.Errorf("%s: %q, want %q", path, got, msg)
			}
		}
	})
}

func TestLogPageStopsEarly(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 20,000 events")
	}
	ps := newPageStack(t)
	fixture := ps.log.Head()
	filler := make([]events.Event, views.LogScanMax+500)
	for i := range filler {
		filler[i] = ev("owntracks/filler/dev", clockNow, fmt.Sprintf("not json %d", i))
	}
	ps.appendAll(t, filler...)
	head := ps.log.Head()

	doc, _ := ps.page(t, "/log?user=bob", http.StatusOK)
	if len(logRows(t, doc)) != 0 {
		t.Error("the newest 20,000 events hold none of bob's")
	}
	note := htmltest.Text(htmltest.One(t, doc, "stopped-early"))
	if !strings.Contains(note, "Stopped after reading 20000 events") {
		t.Errorf("note: %q", note)
	}
	older := htmltest.ByTestID(doc, "log-older")
	want := fmt.Sprintf("/log?before=%d&user=bob", head+1-views.LogScanMax)
	if len(older) == 0 || htmltest.Attr(older[0], "href") != want {
		t.Fatalf("keep-searching link %q, want %q", htmltest.Texts(older), want)
	}
	// Going on finds bob's events below the filler.
	doc, _ = ps.page(t, htmltest.Attr(older[0], "href"), http.StatusOK)
	rows := logRows(t, doc)
	if len(rows) == 0 || rows[0].seq > fixture || len(htmltest.ByTestID(doc, "stopped-early")) != 0 {
		t.Errorf("second page: %d rows, first %v", len(rows), seqsOfRows(rows))
	}
	for _, r := range rows {
		if !strings.HasPrefix(r.topic, "owntracks/bob/") {
			t.Errorf("row %d: %q", r.seq, r.topic)
		}
	}
	// Newer from there: the newest page (the filler has no more of bob's).
	if n := htmltest.ByTestID(doc, "log-newer"); len(n) == 0 || !strings.HasPrefix(htmltest.Attr(n[0], "href"), "/log?") {
		t.Errorf("newer link %q", htmltest.Texts(n))
	}
}

// TestEscapedEverywhere: a friend named with markup shows as text on every
// page and in every download.
func TestEscapedEverywhere(t *testing.T) {
	ps := newPageStack(t)
	addEvilFriend(t, ps.stack)
	hist := historyPath(evilUser, evilDevice)
	for _, tc := range []struct {
		path string
		code int
		text string // shown as text
	}{
		{"/", 200, evilName},
		{hist, 200, evilName},
		{hist + "?page=2", 200, evilName},
		{hist + "?to=" + url.QueryEscape(evilName), 400, evilName},
		{historyPath(evilUser, "nope"), 404, evilUser},
		{"/areas", 200, evilName},
		{"/log", 200, evilUser},
		{"/log?user=" + url.QueryEscape(evilUser), 200, evilName},
	} {
		doc, _ := ps.page(t, tc.path, tc.code)
		if !strings.Contains(htmltest.Text(doc), tc.text) {
			t.Errorf("%s: %q is not shown as text", tc.path, tc.text)
		}
	}
	doc, _ := ps.page(t, hist, http.StatusOK)
	if got := htmltest.Text(htmltest.One(t, doc, "friend-name")); got != evilName {
		t.Errorf("history name %q, want %q", got, evilName)
	}
	if got := htmltest.Texts(htmltest.Find(doc, func(n *html.Node) bool { return n.Data == "td" && strings.Contains(htmltest.Text(n), "bold") })); len(got) != 1 || got[0] != "<b>bold" {
		t.Errorf("trigger cell %q", got)
	}
	doc, _ = ps.page(t, "/log?user="+url.QueryEscape(evilUser)+"&kind=card", http.StatusOK)
	rows := logRows(t, doc)
	if len(rows) != 1 || rows[0].topic != "owntracks/"+evilUser+"/"+evilDevice+"/info" || !strings.Contains(rows[0].payload, evilName) {
		t.Errorf("log row of the card: %+v", rows)
	}

	for _, format := range []string{"gpx", "geojson", "csv"} {
		res, body := ps.get(t, hist+"/export."+format)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s", format, res.Status)
		}
		raws := []string{"<script>", "<b>"}
		if format == "csv" {
			raws = raws[:1] // CSV has no markup: "<b>bold" is the trigger's value, read back below
		}
		for _, raw := range raws {
			if bytes.Contains(body, []byte(raw)) {
				t.Errorf("%s: raw %q in the download", format, raw)
			}
		}
		_, params, err := mimeParams(res.Header.Get("Content-Disposition"))
		if err != nil || strings.ContainsAny(params["filename"], `"<>'/ `) {
			t.Errorf("%s: filename %q (%v)", format, params["filename"], err)
		}
	}
	res, body := ps.get(t, hist+"/export.gpx")
	g := parseGPX(t, res, body)
	if want := evilName + " (" + evilUser + "/" + evilDevice + ")"; g.Trk.Name != want {
		t.Errorf("GPX track name %q, want %q", g.Trk.Name, want)
	}
	_, body = ps.get(t, hist+"/export.geojson")
	if fc := parseGeoJSON(t, body); len(fc.Features) != 2 || fc.Features[0].Properties.T != "<b>bold" {
		t.Errorf("GeoJSON trigger %+v", fc.Features)
	}
	_, body = ps.get(t, hist+"/export.csv")
	recs := parseCSV(t, body)
	if len(recs) != 3 || recs[1][10] != "<b>bold" || recs[2][10] != "'=cmd|' /C calc'!A0" {
		t.Errorf("CSV triggers: %q", recs)
	}
}
