// Package views renders the pages with templ. Components take typed view
// models built here from projection types; the same component renders a
// whole page and the fragments the live stream swaps in (hx-swap-oob), so
// there is one source of markup.
package views

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"tracker/projections"
)

// Assets gives the cache-busting URL of a static file.
type Assets interface {
	URL(name string) string
}

// Tiles configures the map's background.
type Tiles struct {
	URL         string // e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png
	Attribution string // HTML allowed by Leaflet; ours is plain text
}

// Page is what every page needs.
type Page struct {
	Title  string
	Assets Assets
	Tiles  Tiles
	Active string // nav entry: "dashboard", "areas", "log"
	Now    time.Time
	User   string // who is logged in; "" in open mode
	Admin  bool   // may see the event log and admin actions
	// StaleAfter: a friend not heard from for longer is shown as stale
	// (0: DefaultStaleAfter).
	StaleAfter time.Duration
	// SkipTo is the id of the element the skip link, the first thing a
	// Tab reaches, leads to, and SkipText its words; the main content
	// when empty. Set with Skipping.
	SkipTo, SkipText string
	// Zone is the time zone the viewer chose on /me ("" for the
	// browser's): the page is rendered in it, and app.js keeps it.
	Zone string
}

// Skipping is p with its skip link leading to the element with id.
func (p Page) Skipping(id, text string) Page {
	p.SkipTo, p.SkipText = id, text
	return p
}

// domID turns any key into a safe, stable element id.
func domID(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(sum[:6])
}

// DefaultStaleAfter is how long a friend may go unheard before the
// dashboard shows them as stale (serve --stale-after).
const DefaultStaleAfter = time.Hour

// FriendRow is one friend in the list and on the map.
type FriendRow struct {
	projections.FriendView
	Now time.Time
	// StaleAfter: not heard from for longer looks stale (0: DefaultStaleAfter).
	StaleAfter time.Duration
	// CanLocate: the viewer may press "Locate now" (admins).
	CanLocate bool
	// Twin: another friend shown with this one has the same display name,
	// so the row and the marker also say user/device.
	Twin bool
	// Places names the places (nil: each area's own name).
	Places PlaceNames
}

// DOMID is the row's element id.
func (f FriendRow) DOMID() string { return domID("f-", string(f.ID)) }

// Initials are one or two letters for the avatar disc. A name on the
// card gives its first letters, upper-cased ("Bob Dylan": "BD"); without
// one, the tracker id as the phone wrote it (the label OwnTracks shows
// on its own map, so "bd" stays "bd"); else the user's first letter.
func (f FriendRow) Initials() string {
	if f.Name == "" && f.TID != "" {
		return firstRunes(f.TID, 2)
	}
	var out []rune
	for _, w := range strings.Fields(f.DisplayName()) {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, unicode.ToUpper(r))
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

func firstRunes(s string, n int) string {
	var out []rune
	for _, r := range s {
		out = append(out, r)
		if len(out) == n {
			break
		}
	}
	return string(out)
}

// ColorClass picks one of the stylesheet's 12 colours (c0..c11) for the
// friend's disc and track, stable per friend. A class, not an inline
// style, so the Content-Security-Policy can forbid inline styles.
func (f FriendRow) ColorClass() string {
	sum := sha256.Sum256([]byte(f.ID))
	return fmt.Sprintf("c%d", int(sum[0])%12)
}

// LastHeard is when the position shown was taken (the fix's own time),
// or, for a friend with no position, when its last message arrived: a
// phone uploading a day-old backlog now must not make a day-old position
// read "just now".
func (f FriendRow) LastHeard() time.Time {
	if f.Location != nil && !f.Location.Time().IsZero() {
		return f.Location.Time()
	}
	return f.LastSeen
}

// Stale reports whether the friend has not been heard from for longer
// than StaleAfter.
func (f FriendRow) Stale() bool {
	after := f.StaleAfter
	if after <= 0 {
		after = DefaultStaleAfter
	}
	t := f.LastHeard()
	return !t.IsZero() && f.Now.Sub(t) > after
}

// RowClass is the row's classes: colour, and "stale" when stale.
func (f FriendRow) RowClass() []string {
	c := []string{"friend", f.ColorClass()}
	if f.Stale() {
		c = append(c, "stale")
	}
	if !f.Online {
		c = append(c, "offline")
	}
	return c
}

// TstAttr is the current fix's time (Unix seconds) for data-tst, "" when
// there is none.
func (f FriendRow) TstAttr() string {
	if f.Location == nil {
		return ""
	}
	return strconv.FormatInt(f.Location.Tst, 10)
}

// OfflineSince is when the friend went offline (zero when online or not
// known).
func (f FriendRow) OfflineSince() time.Time {
	if f.Online {
		return time.Time{}
	}
	return f.PresenceAt
}

// Battery is e.g. "81%", or "–" when unknown.
func (f FriendRow) Battery() string {
	if f.Location == nil || f.Location.Batt <= 0 {
		return "–"
	}
	return fmt.Sprintf("%d%%", f.Location.Batt)
}

// BattLowUnder is the battery level (%) below which a row is flagged.
const BattLowUnder = 15

// BattLow reports a known battery level under BattLowUnder.
func (f FriendRow) BattLow() bool {
	return f.Location != nil && f.Location.Batt > 0 && f.Location.Batt < BattLowUnder
}

// Speed is e.g. "12 km/h", or "" when standing or unknown.
func (f FriendRow) Speed() string {
	if f.Location == nil || f.Location.Vel <= 0 {
		return ""
	}
	return fmt.Sprintf("%d km/h", f.Location.Vel)
}

// AreaNames lists the places the friend is in now, once each (a place
// defined by the server and the phone is one place).
func (f FriendRow) AreaNames() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range f.Areas {
		k := projections.PlaceKey(p.AreaName)
		if p.In() && !seen[k] {
			seen[k] = true
			out = append(out, f.Places.Of(p.AreaName))
		}
	}
	return out
}

// Who is user/device, shown beside the name when names collide.
func (f FriendRow) Who() string { return f.User + "/" + f.Device }

// Label is the name as the map and lists show it: with user/device when
// another friend shown has the same name.
func (f FriendRow) Label() string {
	if f.Twin {
		return f.DisplayName() + " (" + f.Who() + ")"
	}
	return f.DisplayName()
}

// HistoryURL links to the friend's history page.
func (f FriendRow) HistoryURL() string {
	return "/friends/" + url.PathEscape(f.User) + "/" + url.PathEscape(f.Device)
}

// FaceURL is the avatar image, "" when the card has none.
func (f FriendRow) FaceURL() string {
	if f.FaceSeq == 0 {
		return ""
	}
	return fmt.Sprintf("/faces/%d", f.FaceSeq)
}

// OnMap reports whether the friend has a position to show.
func (f FriendRow) OnMap() bool { return f.Location != nil && !f.Hidden }

// Marker is what the map script needs about one friend (data-marker, and
// the compact list of every marker, /markers.json). Unknown values are
// left out.
type Marker struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Label    string   `json:"label"` // name, with user/device when names collide
	User     string   `json:"user"`
	Device   string   `json:"device"`
	TID      string   `json:"tid,omitempty"`
	Initials string   `json:"initials"`
	Color    string   `json:"color"`
	Lat      float64  `json:"lat"`
	Lon      float64  `json:"lon"`
	Acc      int      `json:"acc,omitempty"`
	Vel      int      `json:"vel,omitempty"`
	Batt     int      `json:"batt,omitempty"`
	Time     string   `json:"time"` // the fix, RFC 3339
	Tst      int64    `json:"tst"`
	Places   []string `json:"places,omitempty"`
	Face     string   `json:"face,omitempty"`
	History  string   `json:"history"`
	Stale    bool     `json:"stale,omitempty"`
	Offline  bool     `json:"offline,omitempty"`
	Twin     bool     `json:"twin,omitempty"`
	Locate   bool     `json:"locate,omitempty"` // the viewer may press "Locate now"
}

// Marker returns the friend's marker; ok is false when it has no
// position to show.
func (f FriendRow) Marker() (Marker, bool) {
	if !f.OnMap() {
		return Marker{}, false
	}
	l := f.Location
	return Marker{
		ID: string(f.ID), Name: f.DisplayName(), Label: f.Label(), User: f.User, Device: f.Device, TID: f.TID,
		Initials: f.Initials(), Color: f.ColorClass(), Lat: l.Lat, Lon: l.Lon, Acc: l.Acc, Vel: l.Vel, Batt: l.Batt,
		Time: ISOTime(l.Time()), Tst: l.Tst, Places: f.AreaNames(), Face: f.FaceURL(), History: f.HistoryURL(),
		Stale: f.Stale(), Offline: !f.Online, Twin: f.Twin, Locate: f.CanLocate,
	}, true
}

// MarkerJSON is the marker as a data attribute, "" without a position.
func (f FriendRow) MarkerJSON() string {
	m, ok := f.Marker()
	if !ok {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Viewing is what a friend's row depends on besides the friend: the
// viewer's clock and rights, and which names collide among the friends
// the viewer sees.
type Viewing struct {
	Now        time.Time
	StaleAfter time.Duration
	CanLocate  bool
	Places     PlaceNames      // for the rows' place chips
	twins      map[string]bool // display names (PlaceKey form) shown by two or more friends
}

// NewViewing prepares rows for a viewer of page p who sees friends and
// areas.
func NewViewing(p Page, friends []projections.FriendView, areas []projections.AreaView) Viewing {
	return Viewing{Now: p.Now, StaleAfter: p.StaleAfter, CanLocate: p.Admin, Places: PlaceNamesOf(areas), twins: twinNames(friends)}
}

// twinNames are the display names (PlaceKey form) two or more of friends
// share; nil when none do.
func twinNames(friends []projections.FriendView) map[string]bool {
	var twins map[string]bool
	seen := make(map[string]bool, len(friends))
	for i := range friends {
		k := projections.PlaceKey(friends[i].DisplayName())
		if seen[k] {
			if twins == nil {
				twins = map[string]bool{}
			}
			twins[k] = true
		}
		seen[k] = true
	}
	return twins
}

// Row is f's row for this viewer.
func (v Viewing) Row(f projections.FriendView) FriendRow {
	return FriendRow{FriendView: f, Now: v.Now, StaleAfter: v.StaleAfter, CanLocate: v.CanLocate,
		Twin: v.twins[projections.PlaceKey(f.DisplayName())], Places: v.Places}
}

// Ago renders a past time relative to now: "just now", "4 min ago",
// "3 h ago", "2 days ago".
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Minute:
		return fmt.Sprintf("%d min ago", int(d.Round(time.Minute)/time.Minute))
	case d < 36*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Round(time.Hour)/time.Hour))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// AreaCard is one definition of a place (an area the server or a phone
// defined) with who is in it by that definition.
type AreaCard struct {
	projections.AreaView
	Names map[projections.DeviceID]string // display names of members
	Now   time.Time
}

// DOMID is the definition's element id.
func (a AreaCard) DOMID() string { return domID("a-", a.ID) }

// Member is one person in a place or definition.
type Member struct {
	Device   projections.DeviceID
	Name     string
	Since    time.Time // zero when unknown
	Disagree string    // why the phone and the geometry differ, "" when they agree
	key      string    // lower-cased name, for sorting
}

func (a AreaCard) name(dev projections.DeviceID) string {
	if n := a.Names[dev]; n != "" {
		return n
	}
	return string(dev)
}

// Inside lists the members, with disagreements explained.
func (a AreaCard) Inside() []Member {
	var out []Member
	for _, p := range a.Members {
		m := Member{Device: p.Device, Name: a.name(p.Device)}
		m.key = strings.ToLower(m.Name)
		if p.Since > 0 {
			m.Since = time.Unix(p.Since, 0)
		}
		if p.Disagree {
			switch {
			case p.Phone != nil && *p.Phone:
				m.Disagree = "The phone says inside; its position says outside."
			default:
				m.Disagree = "Its position says inside; the phone says outside."
			}
		}
		out = append(out, m)
	}
	return out
}

// ShapeJSON is the outline for the map, as a data attribute.
func (a AreaCard) ShapeJSON() string {
	if !a.HasGeometry() {
		return ""
	}
	b, _ := json.Marshal(map[string]any{
		"id": a.ID, "name": a.Name, "origin": a.Origin, "center": a.Center, "radius": a.Radius, "polygon": a.Polygon,
	})
	return string(b)
}

// OriginText says where the definition comes from.
func (a AreaCard) OriginText() string {
	if a.Origin == projections.OriginPhone {
		return "region of " + a.name(a.Owner)
	}
	return "shared area"
}

// GeometryText describes the outline: "circle, 200 m" or "polygon, 5
// corners", or that only the phone's reports count.
func (a AreaCard) GeometryText() string {
	switch {
	case len(a.Polygon) >= 3:
		return "polygon, " + strconv.Itoa(len(a.Polygon)) + " corners"
	case a.Center != nil && a.Radius > 0:
		return "circle, " + strconv.FormatFloat(a.Radius, 'f', 0, 64) + " m"
	}
	return "no outline (only the phone's reports count)"
}

// PlacePeopleMax caps the names a dashboard place card lists; the rest
// are counted (the areas page lists everybody).
const PlacePeopleMax = 12

// InText counts who is inside by this definition: "2 inside".
func (a AreaCard) InText() string { return strconv.Itoa(len(a.Members)) + " inside" }

// Place is every area of one name (trimmed, case-insensitive), from the
// server and from any phone: one card, naming who is there now.
type Place struct {
	Key    string // projections.PlaceKey of the name
	Name   string
	Defs   []AreaCard // the definitions, shared area first
	People []Member   // who is there now, each friend once, by name
	Now    time.Time
	Max    int // names the card lists (0: PlacePeopleMax)
}

// DOMID is the place card's element id.
func (p Place) DOMID() string { return domID("p-", p.Key) }

// Shown are the people the card names; More how many it leaves out.
func (p Place) Shown() []Member {
	n := p.Max
	if n <= 0 {
		n = PlacePeopleMax
	}
	return p.People[:min(len(p.People), n)]
}

// More is how many people the card does not name.
func (p Place) More() int { return len(p.People) - len(p.Shown()) }

// DefsText summarises the definitions: "shared area", "region of 5
// phones", "shared area and region of 2 phones".
func (p Place) DefsText() string {
	server, phones := 0, 0
	for _, d := range p.Defs {
		if d.Origin == projections.OriginPhone {
			phones++
		} else {
			server++
		}
	}
	var parts []string
	if server > 0 {
		parts = append(parts, "shared area")
	}
	switch {
	case phones == 1:
		parts = append(parts, "region of 1 phone")
	case phones > 1:
		parts = append(parts, "region of "+strconv.Itoa(phones)+" phones")
	}
	return strings.Join(parts, " and ")
}

// BuildPlaces groups areas into places: a friend is in a place when any
// definition says so, named once, since the earliest "in" among them.
// Places with people come first, then the empty ones, each by name.
func BuildPlaces(areas []projections.AreaView, names map[projections.DeviceID]string, now time.Time) []Place {
	idx := map[string]int{}
	var out []Place
	for _, a := range areas {
		k := projections.PlaceKey(a.Name)
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Place{Key: k, Now: now})
		}
		out[i].Defs = append(out[i].Defs, AreaCard{AreaView: a, Names: names, Now: now})
	}
	for i := range out {
		p := &out[i]
		p.Name = placeName(p.Defs)
		slices.SortStableFunc(p.Defs, func(a, b AreaCard) int {
			return cmp.Or(cmp.Compare(b1(b.Origin == projections.OriginServer), b1(a.Origin == projections.OriginServer)), // shared first
				cmp.Compare(strings.ToLower(a.OriginText()), strings.ToLower(b.OriginText())), cmp.Compare(a.ID, b.ID))
		})
		at := map[projections.DeviceID]int{}
		for _, d := range p.Defs {
			for _, m := range d.Inside() {
				j, ok := at[m.Device]
				if !ok {
					at[m.Device] = len(p.People)
					p.People = append(p.People, m)
					continue
				}
				have := &p.People[j]
				if !m.Since.IsZero() && (have.Since.IsZero() || m.Since.Before(have.Since)) {
					have.Since = m.Since
				}
				if have.Disagree == "" {
					have.Disagree = m.Disagree
				}
			}
		}
		slices.SortFunc(p.People, func(a, b Member) int {
			return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.Device, b.Device))
		})
	}
	slices.SortStableFunc(out, func(a, b Place) int {
		return cmp.Or(cmp.Compare(b1(len(b.People) > 0), b1(len(a.People) > 0)), cmp.Compare(a.Key, b.Key))
	})
	return out
}

// placeName is how a place is called: the admin's spelling, else the one
// most phones use (the first of them on a tie).
func placeName(defs []AreaCard) string {
	count := map[string]int{}
	best := ""
	for _, d := range defs {
		n := strings.TrimSpace(d.Name)
		if d.Origin == projections.OriginServer {
			return n
		}
		count[n]++
		if count[n] > count[best] {
			best = n
		}
	}
	return best
}

// PlaceNames maps a place's key (projections.PlaceKey) to its name.
type PlaceNames map[string]string

// PlaceNamesOf names the places the areas make, as BuildPlaces does.
func PlaceNamesOf(areas []projections.AreaView) PlaceNames {
	defs := map[string][]AreaCard{}
	for _, a := range areas {
		k := projections.PlaceKey(a.Name)
		defs[k] = append(defs[k], AreaCard{AreaView: projections.AreaView{Area: projections.Area{Name: a.Name, Origin: a.Origin}}})
	}
	out := make(PlaceNames, len(defs))
	for k, d := range defs {
		out[k] = placeName(d)
	}
	return out
}

// Of is the name of the place called name, name itself (trimmed) when
// the place is unknown.
func (n PlaceNames) Of(name string) string {
	if p := n[projections.PlaceKey(name)]; p != "" {
		return p
	}
	return strings.TrimSpace(name)
}

func b1(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Occupied are the places with somebody in them; Empty the others.
func Occupied(places []Place) []Place {
	i := slices.IndexFunc(places, func(p Place) bool { return len(p.People) == 0 })
	if i < 0 {
		return places
	}
	return places[:i]
}

// Empty are the places nobody is in, by name.
func Empty(places []Place) []Place { return places[len(Occupied(places)):] }

// EmptyNames is the folded line's text: "Gym, Park, School".
func EmptyNames(places []Place) string {
	var names []string
	for _, p := range Empty(places) {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// FeedLine is one crossing in the feed: "Anna arrived at Home · 14:05".
type FeedLine struct {
	projections.Crossing
	Name     string // the friend's display name
	Now      time.Time
	Disagree string // why the phone and the position disagree, "" when they agree
}

// DOMID is the line's element id.
func (l FeedLine) DOMID() string {
	return domID("e-", fmt.Sprintf("%d/%s/%s/%s", l.Seq, l.Device, l.PlaceKey, l.Event))
}

// Verb is "arrived at" or "left".
func (l FeedLine) Verb() string {
	if l.Event == "enter" {
		return "arrived at"
	}
	return "left"
}

// Time is when the crossing happened.
func (l FeedLine) Time() time.Time { return time.Unix(l.Tst, 0) }

// FeedLines merges enter/leave events (oldest first, as the projections
// give them) into one line per crossing (projections.MergeCrossings),
// newest first, at most n, marked where the phone and the position
// disagree. A crossing only one origin saw is marked once the other has
// had CrossingWindow to see it too and still says the opposite. This is
// the one way enter/leave lines are told, wherever they are listed.
//
// places (nil: each event's own area name) names the places.
func FeedLines(evs []projections.AreaEvent, names map[projections.DeviceID]string, places PlaceNames, now time.Time, n int) []FeedLine {
	cs := projections.MergeCrossings(evs)
	var out []FeedLine
	for i := len(cs) - 1; i >= 0 && len(out) < n; i-- {
		c := cs[i]
		name := names[c.Device]
		if name == "" {
			name = string(c.Device)
		}
		l := FeedLine{Crossing: c, Name: name, Now: now}
		l.Place = places.Of(c.Place)
		settled := now.Unix()-c.Tst > projections.CrossingWindow
		switch {
		case c.Contradicted:
			l.Disagree = "The phone and the position disagree here: one says arrived, the other left."
		case !c.Disputed || !settled:
		case c.Phone:
			l.Disagree = "Only the phone reported this; its position did not show it."
		default:
			l.Disagree = "Only the position showed this; the phone did not report it."
		}
		out = append(out, l)
	}
	return out
}

// ListAll is how many friends the dashboard lists in full; past it the
// list shows ListPage at a time ("Show more", ?show=) and a filter (?q=)
// finds the rest, without JavaScript. The map shows everyone (MarkersURL).
// So the page stays small (≤ 500 KB at 10,000 devices).
const (
	ListAll  = 250
	ListPage = 100
)

// MarkersURL serves every marker the viewer may see as one compact JSON
// array (the Marker objects), for a map whose list is paged.
const MarkersURL = "/markers.json"

// ListOptions narrow the dashboard's friends list.
type ListOptions struct {
	Query string // friends whose name, user or device contains it (any case)
	Show  int    // how many to list (0: ListPage)
}

// ParseListOptions reads ?q= and ?show= (bad numbers are ignored).
func ParseListOptions(q url.Values) ListOptions {
	o := ListOptions{Query: strings.TrimSpace(q.Get("q"))}
	if n, err := strconv.Atoi(q.Get("show")); err == nil && n > 0 {
		o.Show = n
	}
	if len(o.Query) > 100 {
		o.Query = o.Query[:100]
	}
	return o
}

func (o ListOptions) show(total int) int {
	switch {
	case o.Show > 0:
		return o.Show
	case total <= ListAll:
		return total
	}
	return ListPage
}

func (o ListOptions) values(show int) url.Values {
	v := url.Values{}
	if o.Query != "" {
		v.Set("q", o.Query)
	}
	if show > 0 {
		v.Set("show", strconv.Itoa(show))
	}
	return v
}

// Match reports whether the list lists f (before the cut at Show).
func (o ListOptions) Match(f *projections.FriendView) bool {
	if o.Query == "" {
		return true
	}
	q := strings.ToLower(o.Query)
	return strings.Contains(strings.ToLower(f.DisplayName()), q) || strings.Contains(strings.ToLower(f.User), q) ||
		strings.Contains(strings.ToLower(f.Device), q)
}

// Dashboard is the main page.
type Dashboard struct {
	Page
	List    ListOptions
	Friends []FriendRow // listed: the first List.Show of those matching List.Query, by name
	Total   int         // friends matching the filter
	All     int         // friends the viewer sees
	Places  []Place     // places with people first
	Feed    []FeedLine  // newest first
	Time    TimeBar     // the moment shown (time travel, asof.go)
}

// Paged reports whether the list leaves out friends that match.
func (m Dashboard) Paged() bool { return m.Total > len(m.Friends) }

// MoreURL lists the next ListPage friends too.
func (m Dashboard) MoreURL() string {
	return "/?" + m.List.values(len(m.Friends)+ListPage).Encode()
}

// LiveURL is the live stream for this list: the stream's full state
// lists the same friends.
func (m Dashboard) LiveURL() string {
	v := m.List.values(m.List.Show)
	if len(v) == 0 {
		return "/live"
	}
	return "/live?" + v.Encode()
}

// StaleAfterSeconds is the stale threshold for data-stale-after.
func (m Dashboard) StaleAfterSeconds() string {
	after := m.StaleAfter
	if after <= 0 {
		after = DefaultStaleAfter
	}
	return strconv.FormatInt(int64(after/time.Second), 10)
}

// Occupied are the places with somebody in them.
func (m Dashboard) Occupied() []Place { return Occupied(m.Places) }

// Empty are the places nobody is in.
func (m Dashboard) Empty() []Place { return Empty(m.Places) }

// Update is one live message: what changed, ready to swap in.
type Update struct {
	Friends []FriendSwap
	Notes   []Note // status texts (e.g. "request sent")
}

// FriendSwap is a row and how to swap it in.
type FriendSwap struct {
	Row  FriendRow
	Swap string // "true", "beforeend:#friends", or "marker" (a friend the paged list leaves out: its marker only)
}

// Note replaces one status element ("Locate now").
type Note struct {
	ID        string
	Text      string
	Requested time.Time // when the request went out (data-requested), zero when none
	Answered  time.Time // when the phone answered, zero until it did
	Now       time.Time
}

// Waited is how long the phone took to answer, e.g. "2 s".
func (n Note) Waited() string {
	d := max(0, n.Answered.Sub(n.Requested).Round(time.Second))
	if d < time.Minute {
		return strconv.Itoa(int(d/time.Second)) + " s"
	}
	return strconv.Itoa(int(d/time.Minute)) + " min"
}

// RequestedMS is data-requested: Unix milliseconds.
func (n Note) RequestedMS() string {
	if n.Requested.IsZero() {
		return ""
	}
	return strconv.FormatInt(n.Requested.UnixMilli(), 10)
}

// LocateStatusID is the element that shows a friend's "Locate now" state.
func (f FriendRow) LocateStatusID() string { return f.DOMID() + "-locate" }

// MarkerID is the element that carries the marker of a friend the paged
// list leaves out.
func (f FriendRow) MarkerID() string { return domID("m-", string(f.ID)) }

// NamesOf maps each friend to its display name, as places and the feed
// name them; friends shown together under one name (any case) are told
// apart by user/device, as their rows are: "Boss (dan/phone)".
func NamesOf(friends []projections.FriendView) map[projections.DeviceID]string {
	out := make(map[projections.DeviceID]string, len(friends))
	twins := twinNames(friends)
	for _, f := range friends {
		out[f.ID] = FriendRow{FriendView: f, Twin: twins[projections.PlaceKey(f.DisplayName())]}.Label()
	}
	return out
}

// BuildDashboard turns projection views into the dashboard's model:
// friends by name (at most list.Show of those matching list.Query),
// places with people first, the feed newest first.
func BuildDashboard(p Page, list ListOptions, friends []projections.FriendView, areas []projections.AreaView, recent []projections.AreaEvent) Dashboard {
	m := Dashboard{Page: p, List: list, All: len(friends), Time: TimeBar{Now: p.Now}}
	names := NamesOf(friends)
	v := NewViewing(p, friends, areas)
	type byName struct {
		key string // lower-cased display name, computed once per friend
		f   *projections.FriendView
	}
	match := make([]byName, 0, len(friends))
	for i := range friends {
		if list.Match(&friends[i]) {
			match = append(match, byName{strings.ToLower(friends[i].DisplayName()), &friends[i]})
		}
	}
	m.Total = len(match)
	slices.SortFunc(match, func(a, b byName) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.f.ID, b.f.ID)) })
	for _, f := range match[:min(len(match), list.show(len(match)))] {
		m.Friends = append(m.Friends, v.Row(*f.f))
	}
	m.Places = BuildPlaces(areas, names, p.Now)
	m.Feed = FeedLines(recent, names, v.Places, p.Now, FeedMax)
	return m
}

// FeedMax is how many lines the dashboard's feed shows.
const FeedMax = 30
