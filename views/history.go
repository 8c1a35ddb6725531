package views

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	"tracker/projections"
)

// HistoryPageSize is how many points one page of the history table shows.
const HistoryPageSize = 100

// HistoryTimelineMax bounds the crossings listed for one range (the
// newest are kept); historyEventsMax the enter/leave events read for them
// (a crossing merges the phone's and the geometry's, of every area of the
// place).
const (
	HistoryTimelineMax = 1000
	historyEventsMax   = 4 * HistoryTimelineMax
)

// History is one friend's track over a time range.
type History struct {
	Page
	Friend FriendRow
	From   time.Time // start of the range, inclusive, in the page's zone
	To     time.Time // end of the range, exclusive

	Count       int                    // points in the range
	DistanceM   float64                // track length
	TimeInAreas []projections.AreaTime // from RangeStats, area order

	// Story is the range as stays and journeys (SetStory); StoryMore says
	// it was cut at HistoryStoryMax; StayRadius (m) draws a stay's
	// highlight on the map.
	Story      []StoryItem
	StoryMore  bool
	StayRadius float64

	Timeline     []FeedLine // one line per crossing in the range, oldest first (Crossings)
	TimelineMore bool       // the range has more than HistoryTimelineMax crossings
	events       []projections.AreaEvent

	Points []PointRow // this page of the table, oldest first
	PageNo int        // 1-based

	// Rows counts the table's rows: the points in use (Count) and the
	// hidden ones (HiddenCount), which the table lists marked.
	Rows, HiddenCount int
	// Corrections are the friend's; CanCorrect says whether the viewer
	// may change them (the owner of the device, or an admin).
	Corrections projections.Corrections
	CanCorrect  bool
}

// BuildHistory prepares the history page. Times are shown in the zone of
// p.Now.
func BuildHistory(p Page, f projections.FriendView, from, to time.Time) History {
	loc := p.Now.Location()
	return History{Page: p, Friend: FriendRow{FriendView: f, Now: p.Now}, From: from.In(loc), To: to.In(loc), PageNo: 1}
}

// AddPoint takes the next point of the range (in tst order) and keeps it
// when it falls on the page being shown; hidden (nil: in use) says why a
// correction hides it.
func (h *History) AddPoint(pt projections.Point, hidden *projections.Hidden) {
	first := (h.PageNo - 1) * HistoryPageSize
	if h.Rows >= first && h.Rows < first+HistoryPageSize {
		h.Points = append(h.Points, PointRow{Point: pt, Hidden: hidden, loc: h.Now.Location()})
	}
	h.Rows++
	if hidden != nil {
		h.HiddenCount++
		return
	}
	h.Count++
}

// AddEvent takes the next enter/leave event of the range (oldest first);
// Crossings turns them into the timeline.
func (h *History) AddEvent(e projections.AreaEvent) {
	if len(h.events) >= historyEventsMax {
		h.TimelineMore = true
		h.events = h.events[1:] // keep the newest
	}
	h.events = append(h.events, e)
}

// Crossings makes the timeline from the events added: one line per
// crossing, as the dashboard's feed tells them (FeedLines), oldest first,
// the newest HistoryTimelineMax of them. places names the places.
func (h *History) Crossings(places PlaceNames) {
	names := map[projections.DeviceID]string{h.Friend.ID: h.Friend.DisplayName()}
	lines := FeedLines(h.events, names, places, h.Now, HistoryTimelineMax+1)
	if len(lines) > HistoryTimelineMax {
		lines, h.TimelineMore = lines[:HistoryTimelineMax], true
	}
	slices.Reverse(lines)
	h.Timeline, h.events = lines, nil
}

// Pages is the number of table pages (at least 1).
func (h History) Pages() int {
	return max(1, (h.Rows+HistoryPageSize-1)/HistoryPageSize)
}

// FirstRow and LastRow number the rows on this page (1-based), for "points
// 101–200 of 250".
func (h History) FirstRow() int { return (h.PageNo-1)*HistoryPageSize + 1 }

// LastRow is the number of the last row on this page.
func (h History) LastRow() int { return h.FirstRow() + len(h.Points) - 1 }

// Live reports whether the range includes now, so new points belong on
// the page as they arrive.
func (h History) Live() bool { return !h.Now.Before(h.From) && h.Now.Before(h.To) }

// DistanceText is the track length, e.g. "12.3 km".
func (h History) DistanceText() string {
	return strconv.FormatFloat(h.DistanceM/1000, 'f', 1, 64) + " km"
}

// AreaTimeText renders a duration spent in an area, e.g. "3 h 05 min".
func AreaTimeText(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return fmt.Sprintf("%d h %02d min", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// inputLayout is the value format of <input type="datetime-local">.
const inputLayout = "2006-01-02T15:04"

// FromValue and ToValue fill the range form's inputs.
func (h History) FromValue() string { return h.From.Format(inputLayout) }

// ToValue is the form value of the range's end.
func (h History) ToValue() string { return h.To.Format(inputLayout) }

// WholeDay reports whether the range is one calendar day (midnight to
// midnight in the page's zone), shown as that day.
func (h History) WholeDay() bool {
	return h.To.Equal(h.From.AddDate(0, 0, 1)) && h.From.Hour() == 0 && h.From.Minute() == 0 && h.From.Second() == 0
}

func (h History) rangeQuery(from, to time.Time) url.Values {
	return url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
}

// URL links to this history page for another range and page (page 1 is
// left out).
func (h History) URL(from, to time.Time, page int) string {
	q := h.rangeQuery(from, to)
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	return h.Friend.HistoryURL() + "?" + q.Encode()
}

// PageURL links to another page of the same range.
func (h History) PageURL(page int) string { return h.URL(h.From, h.To, page) }

// ExportURL is the download of the range as "gpx", "geojson" or "csv".
func (h History) ExportURL(format string) string {
	return h.Friend.HistoryURL() + "/export." + format + "?" + h.rangeQuery(h.From, h.To).Encode()
}

// QuickLink is one preset range.
type QuickLink struct {
	Label   string
	URL     string
	Current bool
}

// QuickLinks are Today, Yesterday and Last 7 days (ending tonight).
func (h History) QuickLinks() []QuickLink {
	y, m, d := h.Now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, h.Now.Location())
	tomorrow := today.AddDate(0, 0, 1)
	link := func(label string, from, to time.Time) QuickLink {
		return QuickLink{Label: label, URL: h.URL(from, to, 1), Current: from.Equal(h.From) && to.Equal(h.To)}
	}
	return []QuickLink{
		link("Today", today, tomorrow),
		link("Yesterday", today.AddDate(0, 0, -1), today),
		link("Last 7 days", today.AddDate(0, 0, -6), tomorrow),
	}
}

// AreaTimeRows lists time per place for the stats: definitions of one
// name (the server's and each phone's) are one place, as on the dashboard.
// They describe the same ground, so the place gets the longest of their
// times, not their sum.
func (h History) AreaTimeRows() []NameValue {
	var out []NameValue
	longest := map[string]int{} // place key -> index in out
	times := []time.Duration{}
	for _, a := range h.TimeInAreas {
		k := projections.PlaceKey(a.Name)
		if i, ok := longest[k]; ok {
			if a.Time > times[i] {
				times[i] = a.Time
				out[i].Value = AreaTimeText(a.Time)
			}
			continue
		}
		longest[k] = len(out)
		times = append(times, a.Time)
		out = append(out, NameValue{Name: a.Name, Value: AreaTimeText(a.Time)})
	}
	return out
}

// NameValue is one labelled figure.
type NameValue struct {
	Name, Value string
}

// PointRow is one fix in the history table.
type PointRow struct {
	projections.Point
	// Hidden says why a correction hides the point; nil when it is used.
	Hidden *projections.Hidden
	loc    *time.Location
}

// PointDay is the table's rows of one calendar day (in the page's zone):
// the day heads them, each row shows its clock time.
type PointDay struct {
	Day  time.Time // a time on that day, for its heading
	Rows []PointRow
}

// PointDays groups this page's rows by day, oldest first.
func (h History) PointDays() []PointDay {
	var out []PointDay
	loc := h.Now.Location()
	for _, p := range h.Points {
		t := p.Time().In(loc)
		if n := len(out); n > 0 {
			if y, m, d := out[n-1].Day.Date(); t.Year() == y && t.Month() == m && t.Day() == d {
				out[n-1].Rows = append(out[n-1].Rows, p)
				continue
			}
		}
		out = append(out, PointDay{Day: t, Rows: []PointRow{p}})
	}
	return out
}

// Unknown is what the page shows for a value the phone did not send.
const Unknown = "–"

// Position is "lat, lon" with five decimals (about a metre).
func (p PointRow) Position() string {
	return strconv.FormatFloat(p.Lat, 'f', 5, 64) + ", " + strconv.FormatFloat(p.Lon, 'f', 5, 64)
}

func orUnknown(v int, ok bool, unit string) string {
	if !ok {
		return Unknown
	}
	return strconv.Itoa(v) + unit
}

// AccText is the accuracy, "–" when the phone did not send it.
func (p PointRow) AccText() string { v, ok := p.Accuracy(); return orUnknown(v, ok, " m") }

// AltText is the altitude, "–" when the phone did not send it.
func (p PointRow) AltText() string { v, ok := p.Altitude(); return orUnknown(v, ok, " m") }

// VelText is the speed, "–" when the phone did not send it (a phone
// standing still sends 0: "0 km/h").
func (p PointRow) VelText() string { v, ok := p.Speed(); return orUnknown(v, ok, " km/h") }

// BattText is the battery level, "–" when the phone did not send it.
func (p PointRow) BattText() string { v, ok := p.Battery(); return orUnknown(v, ok, "%") }

// triggers explains OwnTracks' "t" field.
var triggers = map[string]string{
	"p": "ping", "c": "region", "C": "region", "b": "beacon", "r": "requested",
	"u": "manual", "t": "timer", "v": "move mode",
}

// TriggerText is the report's trigger, explained when known.
func (p PointRow) TriggerText() string {
	if d, ok := triggers[p.Trigger]; ok {
		return p.Trigger + " (" + d + ")"
	}
	if p.Trigger == "" {
		return "automatic"
	}
	return p.Trigger
}
