package views

import (
	"strconv"
	"time"

	"tracker/projections/visits"
)

// HistoryStoryMax bounds the stays and journeys a history page tells (the
// first of them are kept).
const HistoryStoryMax = 1000

// StoryItem is one stay or journey of the history's day story.
type StoryItem struct {
	visits.Segment
	// Day is set on the first item of each calendar day (in the page's
	// zone) when the range spans several: the story's heading for it.
	Day time.Time
	// Gap is the silence before it, when the device sent nothing (that
	// was used) for longer than stays join over.
	Gap time.Duration
	// Until: a stay going on when the range starts ("Home until 08:12");
	// Since: one still going on when the range ends ("Home from 18:00").
	Until, Since bool
}

// SetStory tells segs (from visits, in order) as the page's story; gap is
// the silence that separates them (visits.Config.MaxGap).
func (h *History) SetStory(segs []visits.Segment, gap time.Duration) {
	if len(segs) > HistoryStoryMax {
		segs, h.StoryMore = segs[:HistoryStoryMax], true
	}
	loc := h.Now.Location()
	multiDay := h.To.Sub(h.From) > 24*time.Hour+time.Hour // a day of 25 h at a clock change is one day
	h.Story = make([]StoryItem, 0, len(segs))
	var prevEnd, prevDay time.Time
	for i, s := range segs {
		it := StoryItem{Segment: s}
		if day := s.Start.In(loc); multiDay && (prevDay.IsZero() || !sameDay(day, prevDay)) {
			it.Day, prevDay = day, day
		}
		if !prevEnd.IsZero() && s.Start.Sub(prevEnd) > gap {
			it.Gap = s.Start.Sub(prevEnd)
		}
		if s.Kind == visits.KindStay {
			it.Until = i == 0 && s.Start.Sub(h.From) <= gap
			it.Since = i == len(segs)-1 && s.Open && !h.StoryMore
		}
		prevEnd = s.End
		h.Story = append(h.Story, it)
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// PlaceText names a stay's place: the area, the phone's region, the
// address, else "Unnamed place".
func (it StoryItem) PlaceText() string {
	if it.Place != nil && it.Place.Name != "" {
		return it.Place.Name
	}
	return "Unnamed place"
}

// PlaceKind is the place's kind for styling ("area", "region",
// "address"), "unknown" when none.
func (it StoryItem) PlaceKind() string {
	if it.Place == nil {
		return "unknown"
	}
	return it.Place.Kind
}

// DistanceText is a journey's length: "850 m", "2.1 km".
func (it StoryItem) DistanceText() string {
	if it.DistanceM < 1000 {
		return strconv.Itoa(int(it.DistanceM/10)*10) + " m"
	}
	return strconv.FormatFloat(it.DistanceM/1000, 'f', 1, 64) + " km"
}

// DurationText is how long it lasted: "24 min", "8 h 54 min".
func (it StoryItem) DurationText() string { return AreaTimeText(it.Duration()) }

// Unix is t in Unix seconds, for the map script.
func (it StoryItem) Unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// Coord renders a coordinate for the map script.
func Coord(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// Label says in words what the item is, for assistive technology and
// the map's highlight: "Stay at Office, 8 h 54 min".
func (it StoryItem) Label() string {
	if it.Kind == visits.KindStay {
		return "Stay at " + it.PlaceText() + ", " + it.DurationText()
	}
	return "Journey of " + it.DistanceText() + ", " + it.DurationText()
}
