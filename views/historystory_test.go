package views

import (
	"testing"
	"time"

	"tracker/projections/geo"
	"tracker/projections/visits"
)

func TestSetStory(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	c := &geo.Point{Lat: 50, Lon: 4}
	stay := func(from, to time.Time, open bool, place string) visits.Segment {
		s := visits.Segment{Kind: visits.KindStay, Start: from, End: to, Centre: c, Open: open}
		if place != "" {
			s.Place = &visits.Place{Kind: visits.PlaceArea, Name: place}
		}
		return s
	}
	journey := func(from, to time.Time, m float64) visits.Segment {
		return visits.Segment{Kind: visits.KindJourney, Start: from, End: to, DistanceM: m}
	}
	segs := []visits.Segment{
		stay(at(0, 0), at(8, 12), false, "Home"),
		journey(at(8, 12), at(8, 36), 2140),
		stay(at(8, 36), at(10, 0), false, "Office"),
		stay(at(11, 0), at(17, 30), false, "Office"), // after an hour of silence
		journey(at(17, 30), at(17, 45), 640),
		stay(at(17, 45), at(23, 59), true, ""),
	}
	h := History{Page: Page{Now: at(23, 59)}, From: day, To: day.AddDate(0, 0, 1)}
	h.SetStory(segs, 30*time.Minute)
	if len(h.Story) != len(segs) || h.StoryMore {
		t.Fatalf("story: %+v", h.Story)
	}
	first, last := h.Story[0], h.Story[5]
	if !first.Until || first.Since || first.PlaceText() != "Home" || !first.Day.IsZero() {
		t.Errorf("first: %+v", first)
	}
	if !last.Since || last.Until || last.PlaceText() != "Unnamed place" || last.PlaceKind() != "unknown" {
		t.Errorf("last: %+v", last)
	}
	if got := h.Story[1].DistanceText() + ", " + h.Story[1].DurationText(); got != "2.1 km, 24 min" {
		t.Errorf("journey reads %q", got)
	}
	if got := h.Story[4].DistanceText(); got != "640 m" {
		t.Errorf("short journey reads %q", got)
	}
	if h.Story[3].Gap != time.Hour || h.Story[2].Gap != 0 {
		t.Errorf("gaps: %s, %s", h.Story[2].Gap, h.Story[3].Gap)
	}
	if got := h.Story[2].Label(); got != "Stay at Office, 1 h 24 min" {
		t.Errorf("label %q", got)
	}

	// Over several days, each day's first item heads it.
	h = History{Page: Page{Now: at(23, 59)}, From: day.AddDate(0, 0, -1), To: day.AddDate(0, 0, 1)}
	h.SetStory(append([]visits.Segment{stay(day.Add(-10*time.Hour), day.Add(-time.Hour), false, "X")}, segs...), 30*time.Minute)
	if h.Story[0].Day.IsZero() || h.Story[1].Day.IsZero() || !h.Story[2].Day.IsZero() {
		t.Errorf("day headings: %v %v %v", h.Story[0].Day, h.Story[1].Day, h.Story[2].Day)
	}
	if h.Story[0].Until {
		t.Error("a stay starting 14 h into the range is no 'until'")
	}

	// Bounded.
	many := make([]visits.Segment, HistoryStoryMax+1)
	for i := range many {
		many[i] = journey(day.Add(time.Duration(i)*time.Minute), day.Add(time.Duration(i)*time.Minute+30*time.Second), 100)
	}
	h.SetStory(many, 30*time.Minute)
	if len(h.Story) != HistoryStoryMax || !h.StoryMore {
		t.Errorf("%d items, more=%v", len(h.Story), h.StoryMore)
	}
}
