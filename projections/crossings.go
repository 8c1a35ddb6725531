package projections

import (
	"cmp"
	"slices"
	"strings"
)

// PlaceKey is what makes areas one place: the same name, trimmed and
// case-insensitive, whether the server or any phone defined it.
func PlaceKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// CrossingWindow is how far apart (seconds) the phone's report and the
// server's reading of the position may be and still be one crossing: a
// phone reports a geofence event when it notices it, and the fix that
// shows it may come a few minutes before or after.
const CrossingWindow = 10 * 60

// Crossing is one arrival at or departure from a place by one device, as a
// person tells it: the enter/leave events of every origin (the phone's
// transition, the server's geometry) and every definition of the place
// (the server's area, the phone's region) merged into one when they agree.
type Crossing struct {
	Device   DeviceID
	Place    string // the place's name as the first event gave it
	PlaceKey string // PlaceKey of the name
	Event    string // "enter" or "leave"
	Tst      int64  // Unix seconds of the earliest merged event
	Seq      uint64 // event that started it: with Device and PlaceKey, a stable id
	Phone    bool   // the phone reported it
	Geometry bool   // the server's geometry saw it
	// Contradicted is set when another origin said the opposite within
	// CrossingWindow (the phone says "arrived", the position "left").
	Contradicted bool
	// Disputed is set when only one origin saw the crossing and the
	// other's last word, as of CrossingWindow later, is the opposite (the
	// phone says "left" while the position stays inside). An origin that
	// never spoke about the place disputes nothing.
	Disputed bool
	Late     bool     // every merged event was late (history only)
	Areas    []string // the area ids of the merged events
	Events   int      // how many events were merged
}

// MergeCrossings turns enter/leave events (any order) into crossings,
// oldest first. An event joins the newest crossing of the same device and
// place when that crossing goes the same way, began at most
// CrossingWindow before or after it and has no event yet from the same
// origin and area; otherwise it starts a crossing of its own. The result
// is the same for the same events in any order of arrival with equal tst.
func MergeCrossings(evs []AreaEvent) []Crossing {
	sorted := slices.Clone(evs)
	slices.SortStableFunc(sorted, func(a, b AreaEvent) int {
		return cmp.Or(cmp.Compare(a.Tst, b.Tst), cmp.Compare(a.Seq, b.Seq))
	})
	type key struct {
		dev   DeviceID
		place string
	}
	type origin struct{ area, origin string }
	var out []Crossing
	seen := []map[origin]bool{}
	last := map[key]int{} // newest crossing per device and place
	for _, e := range sorted {
		k := key{e.Device, PlaceKey(e.AreaName)}
		o := origin{e.Area, e.Origin}
		contradicts := false
		if i, ok := last[k]; ok && e.Tst-out[i].Tst <= CrossingWindow {
			c := &out[i]
			if c.Event == e.Event && !seen[i][o] {
				seen[i][o] = true
				c.Phone = c.Phone || e.Origin == OriginPhone
				c.Geometry = c.Geometry || e.Origin == OriginGeometry
				c.Late = c.Late && e.Late
				if !slices.Contains(c.Areas, e.Area) {
					c.Areas = append(c.Areas, e.Area)
				}
				c.Events++
				continue
			}
			if c.Event != e.Event && c.Phone != (e.Origin == OriginPhone) && !(c.Phone && c.Geometry) {
				// The other origin says the opposite of a crossing it
				// did not confirm: they disagree.
				c.Contradicted, contradicts = true, true
			}
		}
		last[k] = len(out)
		seen = append(seen, map[origin]bool{o: true})
		out = append(out, Crossing{
			Device: e.Device, Place: strings.TrimSpace(e.AreaName), PlaceKey: k.place, Event: e.Event, Tst: e.Tst, Seq: e.Seq,
			Phone: e.Origin == OriginPhone, Geometry: e.Origin == OriginGeometry, Late: e.Late, Areas: []string{e.Area}, Events: 1,
			Contradicted: contradicts,
		})
	}
	// The other origin's last word for each one-origin crossing.
	type okey struct {
		dev    DeviceID
		place  string
		origin string
	}
	said := map[okey][]AreaEvent{} // by tst, as sorted
	for _, e := range sorted {
		k := okey{e.Device, PlaceKey(e.AreaName), e.Origin}
		said[k] = append(said[k], e)
	}
	for i := range out {
		c := &out[i]
		if c.Phone == c.Geometry || c.Contradicted {
			continue
		}
		other := OriginPhone
		if c.Phone {
			other = OriginGeometry
		}
		evs := said[okey{c.Device, c.PlaceKey, other}]
		j, _ := slices.BinarySearchFunc(evs, c.Tst+CrossingWindow+1, func(e AreaEvent, t int64) int { return cmp.Compare(e.Tst, t) })
		if j > 0 && evs[j-1].Event != c.Event {
			c.Disputed = true
		}
	}
	return out
}
