package projector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
)

// dayReader reads alice's day summaries through the cache, counting the
// days it had to make.
type dayReader struct {
	p     *Projector
	spans []projections.DaySpan
	made  int
}

func (d *dayReader) read(t *testing.T) string {
	t.Helper()
	out := make([]string, len(d.spans))
	err := d.p.Days("alice/phone", projections.DaysQuery{
		Zone: "UTC", Spans: d.spans, Version: 1,
		Make: func(sp projections.DaySpan, pts []projections.Point) ([]byte, error) {
			d.made++
			var tsts []string
			for _, p := range pts {
				tsts = append(tsts, fmt.Sprint(p.Tst-sp.From))
			}
			return []byte(strings.Join(tsts, ",")), nil
		},
	}, func(i int, v []byte) error {
		out[i] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " | ")
}

// TestDaySummariesFollowHistory: a day's summary is made once and then
// read from the cache; a late fix for an old day, a hidden point, an
// accuracy limit and a rebuild (what an erasure ends with) each give the
// summaries of the history as it is now, and only the days they touch
// are made again. The day holding the device's current block is made on
// every read (live fixes land there without a mark).
func TestDaySummariesFollowHistory(t *testing.T) {
	log := eventstest.OpenLog(t)
	ctx := t.Context()
	p, err := Open(ctx, t.TempDir(), log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	day := int64(86400)
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix()
	// Three days of fixes, one an hour from 09:00 to 11:00, each on its
	// own day; the third day is today (its fixes are the tail).
	var evs []events.Event
	for d := range int64(3) {
		for h := int64(9); h <= 11; h++ {
			evs = append(evs, locAcc("alice", base+d*day+h*3600, 51, 4, 10))
		}
	}
	appendAll(t, log, evs...)
	catch := func(evs ...events.Event) {
		t.Helper()
		appendAll(t, log, evs...)
		if err := p.catchUp(ctx); err != nil {
			t.Fatal(err)
		}
	}
	catch()
	r := &dayReader{p: p, spans: projections.DaySpans(time.Unix(base, 0).UTC(), time.Unix(base+4*day, 0).UTC())}
	check := func(name, want string, made int) {
		t.Helper()
		r.made = 0
		if got := r.read(t); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		if r.made != made {
			t.Errorf("%s: %d days made, want %d", name, r.made, made)
		}
	}
	all := "32400,36000,39600 | 32400,36000,39600 | 32400,36000,39600 | "
	check("first read makes every day", all, 4)
	// Day 3 holds the tail and day 4 is after it: made every time.
	check("second read: the cache", all, 2)

	catch(locAcc("alice", base+10*3600+60, 51, 4, 10)) // late, day 1 at 10:01
	check("a late fix for an old day", "32400,36000,36060,39600 | 32400,36000,39600 | 32400,36000,39600 | ", 3)
	check("and then the cache", "32400,36000,36060,39600 | 32400,36000,39600 | 32400,36000,39600 | ", 2)

	// Seq of day 2's 10:00 fix: the area-free log holds the fixes in order.
	catch(correction(projections.CorrectionCommand{Action: projections.CorrectHide, User: "alice", Device: "phone", Seq: 5, Tst: base + day + 10*3600}))
	check("a hidden point", "32400,36000,36060,39600 | 32400,39600 | 32400,36000,39600 | ", 3)
	catch(correction(projections.CorrectionCommand{Action: projections.CorrectUnhide, User: "alice", Device: "phone", Seq: 5}))
	check("shown again", "32400,36000,36060,39600 | 32400,36000,39600 | 32400,36000,39600 | ", 3)

	catch(correction(projections.CorrectionCommand{Action: projections.CorrectHide, User: "alice", Device: "phone", From: base + 9*3600, To: base + 10*3600}))
	check("a hidden range", "36060,39600 | 32400,36000,39600 | 32400,36000,39600 | ", 3)

	catch(correction(projections.CorrectionCommand{Action: projections.CorrectAccuracy, All: true, Max: 5}))
	check("an accuracy limit for all hides every fix", " |  |  | ", 4)
	catch(correction(projections.CorrectionCommand{Action: projections.CorrectAccuracy, All: true}),
		correction(projections.CorrectionCommand{Action: projections.CorrectUnhide, User: "alice", Device: "phone", From: base, To: base + day}))
	check("limit cleared, range shown", "32400,36000,36060,39600 | 32400,36000,39600 | 32400,36000,39600 | ", 4)

	if _, err := p.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check("after a rebuild: the same, made again", "32400,36000,36060,39600 | 32400,36000,39600 | 32400,36000,39600 | ", 4)
	check("and cached again", "32400,36000,36060,39600 | 32400,36000,39600 | 32400,36000,39600 | ", 2)
	catch(locAcc("alice", base+day+12*3600, 51, 4, 10)) // late after the rebuild: a mark in the new generation
	check("a late fix after the rebuild", "32400,36000,36060,39600 | 32400,36000,39600,43200 | 32400,36000,39600 | ", 3)
	catch(locAcc("alice", base+2*day+12*3600, 51, 4, 10)) // live, into today's tail
	check("a live fix", "32400,36000,36060,39600 | 32400,36000,39600,43200 | 32400,36000,39600,43200 | ", 2)
}
