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
	// SkipTo is the id of the element the skip link, the first thing a
	// Tab reaches, leads to, and SkipText its words; the main content
	// when empty. Set with Skipping.
	SkipTo, SkipText string
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

// FriendRow is one friend in the list and on the map.
type FriendRow struct {
	projections.FriendView
	Now time.Time
}

// DOMID is the row's element id.
func (f FriendRow) DOMID() string { return domID("f-", string(f.ID)) }

// Initials are one or two letters for the avatar disc: the tracker id if
// set, else the first letters of the name.
func (f FriendRow) Initials() string {
	if f.TID != "" {
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

// Seen says how long ago the phone was last heard from.
func (f FriendRow) Seen() string {
	t := f.LastSeen
	if f.Location != nil && f.Location.Time().After(t) {
		t = f.Location.Time()
	}
	return Ago(f.Now, t)
}

// Battery is e.g. "81%", or "" when unknown.
func (f FriendRow) Battery() string {
	if f.Location == nil || f.Location.Batt <= 0 {
		return ""
	}
	return fmt.Sprintf("%d%%", f.Location.Batt)
}

// Speed is e.g. "12 km/h", or "" when standing or unknown.
func (f FriendRow) Speed() string {
	if f.Location == nil || f.Location.Vel <= 0 {
		return ""
	}
	return fmt.Sprintf("%d km/h", f.Location.Vel)
}

// AreaNames lists the areas the friend is in now.
func (f FriendRow) AreaNames() []string {
	var out []string
	for _, p := range f.Areas {
		if p.In() {
			out = append(out, p.AreaName)
		}
	}
	return out
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

// MarkerJSON is what the map script needs, as a data attribute.
func (f FriendRow) MarkerJSON() string {
	if !f.OnMap() {
		return ""
	}
	b, _ := json.Marshal(map[string]any{
		"id": string(f.ID), "name": f.DisplayName(), "initials": f.Initials(), "color": f.ColorClass(),
		"lat": f.Location.Lat, "lon": f.Location.Lon, "acc": f.Location.Acc, "face": f.FaceURL(),
		"history": f.HistoryURL(),
	})
	return string(b)
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

// AreaCard is one area with who is in it now.
type AreaCard struct {
	projections.AreaView
	Names map[projections.DeviceID]string // display names of members
	Now   time.Time
}

// DOMID is the card's element id.
func (a AreaCard) DOMID() string { return domID("a-", a.ID) }

// Member is one line in an area card.
type Member struct {
	Name     string
	Since    string
	Disagree string // why the phone and the geometry differ, "" when they agree
}

// Inside lists the members, with disagreements explained.
func (a AreaCard) Inside() []Member {
	var out []Member
	for _, p := range a.Members {
		name := a.Names[p.Device]
		if name == "" {
			name = string(p.Device)
		}
		m := Member{Name: name}
		if p.Since > 0 {
			m.Since = "since " + Ago(a.Now, time.Unix(p.Since, 0))
		}
		if p.Disagree {
			switch {
			case p.Phone != nil && *p.Phone:
				m.Disagree = "phone says inside, position says outside"
			default:
				m.Disagree = "position says inside, phone says outside"
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

// OriginText says where the area comes from.
func (a AreaCard) OriginText() string {
	if a.Origin == projections.OriginPhone {
		return "region of " + string(a.Owner)
	}
	return "shared area"
}

// FeedLine is one enter/leave in the feed.
type FeedLine struct {
	projections.AreaEvent
	Name string // the friend's display name
	Now  time.Time
}

// DOMID is the line's element id.
func (l FeedLine) DOMID() string {
	return domID("e-", fmt.Sprintf("%d/%s/%s/%s", l.Seq, l.Device, l.Area, l.Origin))
}

// Verb is "entered" or "left".
func (l FeedLine) Verb() string {
	if l.Event == "enter" {
		return "entered"
	}
	return "left"
}

// When is the event's time relative to now.
func (l FeedLine) When() string { return Ago(l.Now, time.Unix(l.Tst, 0)) }

// Dashboard is the main page.
type Dashboard struct {
	Page
	Friends []FriendRow
	Areas   []AreaCard
	Feed    []FeedLine
}

// Update is one live message: what changed, ready to swap in.
type Update struct {
	Friends []FriendSwap
	Areas   []AreaSwap
	Feed    []FeedLine
	Removed []string // element ids to delete
	Notes   []Note   // status texts (e.g. "request sent")
}

// FriendSwap is a row and how to swap it in.
type FriendSwap struct {
	Row  FriendRow
	Swap string // "true" or "beforeend:#friends"
}

// AreaSwap is an area card and how to swap it in.
type AreaSwap struct {
	Card AreaCard
	Swap string // "true" or "beforeend:#area-cards"
}

// Note replaces one status element's text.
type Note struct {
	ID   string
	Text string
}

// LocateStatusID is the element that shows a friend's "Locate now" state.
func (f FriendRow) LocateStatusID() string { return f.DOMID() + "-locate" }

// NamesOf maps each friend to its display name.
func NamesOf(friends []projections.FriendView) map[projections.DeviceID]string {
	out := make(map[projections.DeviceID]string, len(friends))
	for _, f := range friends {
		out[f.ID] = f.DisplayName()
	}
	return out
}

// BuildDashboard turns projection views into the dashboard's model.
// Friends are listed by name; the feed is newest first.
func BuildDashboard(p Page, friends []projections.FriendView, areas []projections.AreaView, recent []projections.AreaEvent) Dashboard {
	m := Dashboard{Page: p}
	names := NamesOf(friends)
	for _, f := range friends {
		m.Friends = append(m.Friends, FriendRow{FriendView: f, Now: p.Now})
	}
	slices.SortStableFunc(m.Friends, func(a, b FriendRow) int {
		return cmp.Compare(strings.ToLower(a.DisplayName()), strings.ToLower(b.DisplayName()))
	})
	for _, a := range areas {
		m.Areas = append(m.Areas, AreaCard{AreaView: a, Names: names, Now: p.Now})
	}
	for i := len(recent) - 1; i >= 0; i-- {
		m.Feed = append(m.Feed, FeedLine{AreaEvent: recent[i], Name: names[recent[i].Device], Now: p.Now})
	}
	return m
}
