package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"tracker/events"
	"tracker/views"
	"tracker/views/htmltest"
)

// placeCards reads the dashboard's place cards: data-place → member names.
func placeCards(doc *html.Node) (order []string, members map[string][]string) {
	members = map[string][]string{}
	for _, p := range htmltest.ByTestID(doc, "place") {
		name := htmltest.Attr(p, "data-place")
		order = append(order, name)
		for _, m := range htmltest.Find(p, func(n *html.Node) bool { return htmltest.Attr(n, "class") == "member" }) {
			members[name] = append(members[name], htmltest.Text(m))
		}
	}
	return order, members
}

// TestDashboardPlaces: five phones each defining Home (any case, any
// spaces) and alice's own Home region give one place card, naming each
// friend inside once; an empty place is folded into one line after the
// places with people.
func TestDashboardPlaces(t *testing.T) {
	ps := newPageStack(t)
	var evs []events.Event
	names := []string{"Home", " home", "HOME ", "Home", "hoMe"}
	for i, n := range names {
		topic := fmt.Sprintf("owntracks/p%d/phone", i)
		evs = append(evs,
			ev(topic+"/waypoint", day.Add(17*time.Hour), fmt.Sprintf(`{"_type":"waypoint","desc":%q,"lat":%g,"lon":%g,"rad":100,"tst":%d,"rid":"h%d"}`, n, home.Lat, home.Lon, wtst.Unix(), i)),
		)
		p := park
		if i < 3 {
			p = home // three of the five are at home
		}
		evs = append(evs, ev(topic, day.Add(17*time.Hour+time.Minute), string(locationPayload(fmt.Sprintf("p%d", i), p, at(17, 1, 0)))))
	}
	ps.appendAll(t, evs...)
	res, body := ps.do(t, http.MethodPost, "/api/v1/areas", `{"name":"Gym","center":{"lat":10,"lon":10},"radius":50}`)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("define Gym: %s: %s", res.Status, body)
	}

	doc, _ := ps.page(t, "/", http.StatusOK)
	order, members := placeCards(doc)
	if n := strings.Count(strings.ToLower(strings.Join(order, ",")), "home"); n != 1 {
		t.Fatalf("place cards %q: %d for Home, want one", order, n)
	}
	if want := []string{"HQ", "Home", "Office", "Gym"}; !sameSet(order, want) { // the spelling most phones use
		t.Errorf("place cards %q, want %q", order, want)
	}
	home := members[order[slices.IndexFunc(order, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "home") })]]
	if want := []string{"Alice Liddell", "p0", "p1", "p2"}; !slices.Equal(home, want) {
		t.Errorf("Home names %q, want %q (each once)", home, want)
	}
	if order[len(order)-1] != "Gym" {
		t.Errorf("place cards %q: the empty Gym must come last", order)
	}
	empty := htmltest.ByTestID(doc, "empty-places")
	if len(empty) != 1 || !strings.HasPrefix(htmltest.Text(empty[0]), "Empty: Gym") {
		t.Errorf("empty places line: %q", htmltest.Texts(empty))
	}
	// The definitions stay one click away: six of Home, each with its outline.
	homeCard := htmltest.ByTestID(doc, "place")[slices.IndexFunc(order, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "home") })]
	if defs := htmltest.ByTestID(homeCard, "area"); len(defs) != 6 {
		t.Errorf("Home card lists %d definitions, want 6", len(defs))
	}

	// The areas page: one section for Home too.
	doc, _ = ps.page(t, "/areas", http.StatusOK)
	sections := 0
	for _, s := range htmltest.ByTestID(doc, "area-section") {
		if strings.EqualFold(strings.TrimSpace(htmltest.Attr(s, "aria-label")), "home") {
			sections++
		}
	}
	if sections != 1 {
		t.Errorf("/areas has %d Home sections, want 1", sections)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	for i := range a {
		a[i] = strings.TrimSpace(a[i])
	}
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestDashboardOneLinePerCrossing: alice's arrival home at 17:00, seen by
// her position and reported by her phone 30 s later, is one feed line in
// plain words; bob's phone saying he left the office while his position
// stays at his desk is one line with a mark that explains.
func TestDashboardOneLinePerCrossing(t *testing.T) {
	ps := newPageStack(t)
	doc, _ := ps.page(t, "/", http.StatusOK)
	lines := htmltest.Texts(htmltest.ByTestID(doc, "feed-item"))
	count := func(s string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, s) {
				n++
			}
		}
		return n
	}
	if count("Alice Liddell arrived at Home · 17:00") != 1 || count("Home · 17:0") != 1 {
		t.Errorf("feed %q: want alice's arrival home once, as \"Alice Liddell arrived at Home · 17:00\"", lines)
	}
	if count("bt arrived at Office · 08:00") != 1 || count("arrived at Office") != 1 {
		t.Errorf("feed %q: want bob's arrival at the office once", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, "geometry") || strings.Contains(l, "entered") {
			t.Errorf("feed line %q names the origin", l)
		}
	}
	marks := htmltest.ByTestID(doc, "disagree")
	if len(marks) == 0 {
		t.Fatal("no disagreement mark for bob's phone leaving while he stays")
	}
	for _, m := range marks {
		if htmltest.Attr(m, "title") == "" || htmltest.Attr(m, "tabindex") != "0" {
			t.Errorf("a mark without an explanation reachable by focus: title %q tabindex %q", htmltest.Attr(m, "title"), htmltest.Attr(m, "tabindex"))
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "Alice Liddell arrived at Home") && strings.Contains(l, "⚠") {
			t.Errorf("alice's agreed arrival is marked: %q", l)
		}
	}
}

// TestDashboardFriendRows: times in <time>, stale after an hour, offline
// since when, low battery flagged, colliding names told apart, and the
// map's data on the row.
func TestDashboardFriendRows(t *testing.T) {
	ps := newPageStack(t)
	ps.appendAll(t,
		ev("owntracks/carol/phone", day.Add(17*time.Hour), fmt.Sprintf(`{"_type":"location","tid":"cc","lat":%g,"lon":%g,"tst":%d,"batt":8,"acc":9,"vel":12}`, park.Lat, park.Lon, at(17, 0, 0))),
		ev("owntracks/carol/phone/info", day.Add(17*time.Hour), `{"_type":"card","name":"Boss"}`),
		ev("owntracks/dave/phone", day.Add(17*time.Hour), fmt.Sprintf(`{"_type":"location","tid":"bd","lat":%g,"lon":%g,"tst":%d,"batt":50}`, park.Lat, park.Lon, at(17, 0, 0))),
		ev("owntracks/dave/phone/info", day.Add(17*time.Hour), `{"_type":"card","name":"boss"}`),
		ev("owntracks/dave/phone", day.Add(17*time.Hour+5*time.Minute), `{"_type":"lwt","tst":1}`),
	)
	doc, _ := ps.page(t, "/", http.StatusOK)
	rows := map[string]*html.Node{}
	for _, r := range htmltest.ByTestID(doc, "friend") {
		rows[htmltest.Attr(r, "data-friend")] = r
	}
	list := htmltest.Find(doc, func(n *html.Node) bool { return htmltest.Attr(n, "id") == "friends" })[0]
	if got := htmltest.Attr(list, "data-stale-after"); got != "3600" {
		t.Errorf("data-stale-after %q, want 3600", got)
	}
	hasClass := func(n *html.Node, c string) bool {
		return slices.Contains(strings.Fields(htmltest.Attr(n, "class")), c)
	}
	text := func(id, testid string) string {
		el := htmltest.ByTestID(rows[id], testid)
		if len(el) == 0 {
			return ""
		}
		return strings.Join(strings.Fields(htmltest.Text(el[0])), " ")
	}

	odd := oddUser + "/" + oddDevice // last fix 10:00, 8 h before the clock
	if !hasClass(rows[odd], "stale") || text(odd, "seen") != "last seen 8 h ago" {
		t.Errorf("odd friend: class %q, seen %q; want stale, \"last seen 8 h ago\"", htmltest.Attr(rows[odd], "class"), text(odd, "seen"))
	}
	// Alice's position was taken at 17:45; the late 10:00 fix she sent at
	// 17:50 does not make that position read fresher than it is.
	if hasClass(rows[aliceID], "stale") || text(aliceID, "seen") != "15 min ago" {
		t.Errorf("alice: class %q, seen %q; want fresh, \"15 min ago\"", htmltest.Attr(rows[aliceID], "class"), text(aliceID, "seen"))
	}
	if tm := htmltest.Find(htmltest.ByTestID(rows[aliceID], "seen")[0], func(n *html.Node) bool { return n.Data == "time" }); len(tm) != 1 ||
		htmltest.Attr(tm[0], "datetime") != "2026-03-10T17:45:00Z" || htmltest.Attr(tm[0], "data-fmt") != views.FmtAgo {
		t.Errorf("alice's last seen is not a <time datetime data-fmt=ago>")
	}
	if got := htmltest.Attr(rows[aliceID], "data-tst"); got != fmt.Sprint(at(17, 45, 0)) {
		t.Errorf("alice's data-tst %q", got)
	}
	if got := text("dave/phone", "offline"); got != "offline since 17:05" {
		t.Errorf("dave: %q, want \"offline since 17:05\"", got)
	}
	if !hasClass(htmltest.ByTestID(rows["carol/phone"], "batt")[0], "batt-low") || !strings.Contains(text("carol/phone", "batt"), "⚠") {
		t.Errorf("carol's 8%% battery is not flagged: %q", text("carol/phone", "batt"))
	}
	if hasClass(htmltest.ByTestID(rows[aliceID], "batt")[0], "batt-low") {
		t.Error("alice's 81% battery is flagged")
	}
	// Boss and boss: both say who they are.
	if text("carol/phone", "who") != "carol/phone" || text("dave/phone", "who") != "dave/phone" || text(aliceID, "who") != "" {
		t.Errorf("who: carol %q, dave %q, alice %q", text("carol/phone", "who"), text("dave/phone", "who"), text(aliceID, "who"))
	}
	var m views.Marker
	if err := json.Unmarshal([]byte(htmltest.Attr(rows["carol/phone"], "data-marker")), &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "Boss" || m.Label != "Boss (carol/phone)" || m.User != "carol" || m.Device != "phone" || m.TID != "cc" ||
		m.Time != "2026-03-10T17:00:00Z" || m.Batt != 8 || m.Acc != 9 || m.Vel != 12 || m.History != "/friends/carol/phone" || !m.Twin || !m.Locate {
		t.Errorf("carol's marker %+v", m)
	}
	// Initials: from the card's name, upper-cased; a tid as the phone wrote it.
	avatar := func(id string) string {
		return htmltest.Text(htmltest.Find(rows[id], func(n *html.Node) bool { return htmltest.Attr(n, "class") == "avatar" })[0])
	}
	if avatar("carol/phone") != "B" || avatar(bobID) != "bt" || avatar(aliceID) != "AL" {
		t.Errorf("initials: carol %q, bob %q, alice %q", avatar("carol/phone"), avatar(bobID), avatar(aliceID))
	}
}

// TestDashboardPages: with more friends than views.ListAll the list shows
// views.ListPage at a time, "Show more" and the filter work without
// JavaScript, and every marker is one request away.
func TestDashboardPages(t *testing.T) {
	ps := newPageStack(t)
	var evs []events.Event
	for i := range views.ListAll {
		evs = append(evs, ev(fmt.Sprintf("owntracks/crowd%03d/phone", i), day.Add(17*time.Hour),
			string(locationPayload("cr", park, at(17, 0, i%60)))))
	}
	ps.appendAll(t, evs...)
	all := views.ListAll + 3
	doc, _ := ps.page(t, "/", http.StatusOK)
	if n := len(htmltest.ByTestID(doc, "friend")); n != views.ListPage {
		t.Fatalf("%d rows for %d friends, want %d", n, all, views.ListPage)
	}
	more := htmltest.Find(htmltest.ByTestID(doc, "list-more")[0], func(n *html.Node) bool { return n.Data == "a" })
	if len(more) != 1 {
		t.Fatal("no \"Show more\" link")
	}
	doc, _ = ps.page(t, htmltest.Attr(more[0], "href"), http.StatusOK)
	if n := len(htmltest.ByTestID(doc, "friend")); n != 2*views.ListPage {
		t.Errorf("after \"Show more\": %d rows, want %d", n, 2*views.ListPage)
	}
	doc, _ = ps.page(t, "/?q=CROWD01", http.StatusOK)
	if n := len(htmltest.ByTestID(doc, "friend")); n != 10 {
		t.Errorf("filter crowd01: %d rows, want 10", n)
	}
	mapEl := htmltest.Find(doc, func(n *html.Node) bool { return htmltest.Attr(n, "id") == "map" })[0]
	_ = mapEl
	doc, _ = ps.page(t, "/", http.StatusOK)
	mapEl = htmltest.Find(doc, func(n *html.Node) bool { return htmltest.Attr(n, "id") == "map" })[0]
	if src := htmltest.Attr(mapEl, "data-markers-src"); src != views.MarkersURL {
		t.Fatalf("the paged page's map has data-markers-src %q, want %q", src, views.MarkersURL)
	}
	res, body := ps.get(t, views.MarkersURL)
	var markers []views.Marker
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &markers) != nil {
		t.Fatalf("GET %s: %s %s", views.MarkersURL, res.Status, body)
	}
	if len(markers) != all {
		t.Errorf("%d markers, want %d (every friend with a position)", len(markers), all)
	}
}
