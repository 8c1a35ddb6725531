package views

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tracker/events/eventjson"
	"tracker/projections"
)

// ErrorPage tells the visitor what went wrong with their request, in the
// site's layout, with a way back (errorpage.templ).
type ErrorPage struct {
	Page
	Code    int    // HTTP status
	Message string // shown as text
	Back    string // a link out, e.g. "/"
}

// Heading says the status in plain words.
func (m ErrorPage) Heading() string {
	switch m.Code {
	case 403:
		return "Not for this account"
	case 404:
		return "Nothing here"
	case 405:
		return "Not something this address does"
	}
	if m.Code >= 500 {
		return "Something went wrong on the server"
	}
	return m.Title
}

// BackText names the link out.
func (m ErrorPage) BackText() string {
	if m.Back == "/" {
		return "Go to the dashboard"
	}
	return "Go back"
}

// AreaRecentMax caps the crossings listed per place.
const AreaRecentMax = 20

// AreaRecentEvents caps the enter/leave events read per area: a crossing
// merges up to one event per origin and definition.
const AreaRecentEvents = 3 * AreaRecentMax

// AreaRecentDays is how far back the areas page lists enter/leave events.
const AreaRecentDays = 7

// AreasPage lists every place with who is in it, its definitions and what
// happened there.
type AreasPage struct {
	Page
	Places []PlaceSection
}

// PlaceSection is one place on the areas page: the dashboard's card with
// its definitions shown, plus the recent crossings.
type PlaceSection struct {
	Place  Place
	Recent []FeedLine // newest first, at most AreaRecentMax
	More   bool       // older crossings of the last AreaRecentDays days were left out
}

// BuildAreasPage prepares the areas page; recent holds each area's newest
// events of the last days, oldest first, by area id, and total how many
// there were.
func BuildAreasPage(p Page, friends []projections.FriendView, areas []projections.AreaView,
	recent map[string][]projections.AreaEvent, total map[string]int) AreasPage {
	m := AreasPage{Page: p}
	names := NamesOf(friends)
	places := BuildPlaces(areas, names, p.Now)
	placeNames := PlaceNamesOf(areas)
	for _, pl := range places {
		pl.Max = len(pl.People)
		var evs []projections.AreaEvent
		more := false
		for _, d := range pl.Defs {
			evs = append(evs, recent[d.ID]...)
			more = more || total[d.ID] > len(recent[d.ID])
		}
		lines := FeedLines(evs, names, placeNames, p.Now, len(evs))
		s := PlaceSection{Place: pl, Recent: lines[:min(len(lines), AreaRecentMax)]}
		s.More = more || len(lines) > AreaRecentMax
		m.Places = append(m.Places, s)
	}
	return m
}

// Log page limits.
const (
	LogPageSize = 50    // events per page
	LogScanMax  = 20000 // events a filtered page reads at most
	// LogPayloadMax is how much of a payload the page shows.
	LogPayloadMax = 64 << 10
)

// LogFilter selects events on the log page; empty fields match all.
type LogFilter struct {
	User string
	Kind string // an event kind, or "invalid" for any event with an invalid reason
}

// Active reports whether the filter selects anything.
func (f LogFilter) Active() bool { return f.User != "" || f.Kind != "" }

// Match reports whether the described event passes the filter.
func (f LogFilter) Match(l *eventjson.Line) bool {
	if f.User != "" && l.User != f.User {
		return false
	}
	switch f.Kind {
	case "":
		return true
	case "invalid":
		return l.Invalid != ""
	}
	return l.Kind == f.Kind
}

func (f LogFilter) query() url.Values {
	q := url.Values{}
	if f.User != "" {
		q.Set("user", f.User)
	}
	if f.Kind != "" {
		q.Set("kind", f.Kind)
	}
	return q
}

// LogKinds are the kind filter's choices.
var LogKinds = []string{
	"location", "transition", "waypoint", "waypoints", "card", "lwt", "status", "cmd",
	"steps", "beacon", "encrypted", "configuration", "request", "clear", "unknown",
}

// LogPage is one page of the event log, newest first.
type LogPage struct {
	Page
	Filter LogFilter
	Users  []string // known users, for the filter's suggestions
	Rows   []LogRow
	Head   uint64 // newest event in the log
	Before uint64 // this page shows events below this seq (Head+1 on the newest page)

	// Older is the cursor of the next older page (0: none); Newer of the
	// next newer page (0: none; NewerIsNewest: the newest page).
	Older         uint64
	Newer         uint64
	NewerIsNewest bool

	Scanned      int    // events read for this page
	StoppedEarly bool   // the scan hit LogScanMax before the page was full
	ScannedDown  uint64 // lowest seq read
}

// IsNewest reports whether this is the newest page.
func (m LogPage) IsNewest() bool { return m.Before > m.Head }

// URL links to the page of events below before, with this filter.
func (m LogPage) URL(before uint64) string {
	q := m.Filter.query()
	if before > 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	if len(q) == 0 {
		return "/log"
	}
	return "/log?" + q.Encode()
}

// OlderURL is the link to older events, "" when there are none.
func (m LogPage) OlderURL() string {
	if m.Older == 0 {
		return ""
	}
	return m.URL(m.Older)
}

// NewerURL is the link to newer events, "" on the newest page.
func (m LogPage) NewerURL() string {
	switch {
	case m.NewerIsNewest:
		return m.URL(0)
	case m.Newer == 0:
		return ""
	}
	return m.URL(m.Newer)
}

// NewestURL links to the newest page with this filter.
func (m LogPage) NewestURL() string { return m.URL(0) }

// ClearURL drops the filter.
func (m LogPage) ClearURL() string { return "/log" }

// LogRow is one event on the log page.
type LogRow struct {
	Seq         uint64
	Received    time.Time
	Topic       string
	Source      string
	Kind        string
	User        string
	Device      string
	Invalid     string
	Retained    bool
	DuplicateOf uint64

	Payload   string // text, or base64 when Base64
	Base64    bool
	Size      int  // payload bytes
	Truncated bool // Payload holds only the first LogPayloadMax bytes
}

// MakeLogRow keeps what the page shows of a described event; the payload
// is cut to LogPayloadMax bytes.
func MakeLogRow(l eventjson.Line) LogRow {
	r := LogRow{
		Seq: l.Seq, Received: l.ReceivedAt, Topic: l.Topic, Source: l.Source, Kind: l.Kind,
		User: l.User, Device: l.Device, Invalid: l.Invalid, Retained: l.Retained, DuplicateOf: l.DuplicateOf,
	}
	if l.Payload != nil {
		r.Payload, r.Size = *l.Payload, len(*l.Payload)
		if len(r.Payload) > LogPayloadMax {
			cut := LogPayloadMax
			for cut > 0 && !utf8.RuneStart(r.Payload[cut]) {
				cut--
			}
			// A copy, so the page does not keep the whole payload alive.
			r.Payload, r.Truncated = strings.Clone(r.Payload[:cut]), true
		}
		return r
	}
	r.Base64 = true
	r.Size = base64.StdEncoding.DecodedLen(len(l.PayloadB64))
	if raw, err := base64.StdEncoding.DecodeString(l.PayloadB64); err == nil {
		r.Size = len(raw)
		if len(raw) > LogPayloadMax {
			raw, r.Truncated = raw[:LogPayloadMax], true
			r.Payload = base64.StdEncoding.EncodeToString(raw)
			return r
		}
	}
	r.Payload = l.PayloadB64
	return r
}

// SizeText is the payload size, e.g. "212 B" or "70.0 KiB".
func (r LogRow) SizeText() string {
	if r.Size < 1024 {
		return strconv.Itoa(r.Size) + " B"
	}
	return strconv.FormatFloat(float64(r.Size)/1024, 'f', 1, 64) + " KiB"
}

// PayloadLabel names how the payload is shown.
func (r LogRow) PayloadLabel() string {
	if r.Base64 {
		return "Payload (binary, base64), " + r.SizeText()
	}
	return "Payload, " + r.SizeText()
}
