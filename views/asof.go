package views

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"time"

	"tracker/projections"
)

// TimeSpan is how far back the dashboard's time slider reaches from now
// (the date picker reaches any moment).
const TimeSpan = 7 * 24 * time.Hour

// TimeBar is the dashboard's time travel: a slider and a date picker for
// the moment shown, "back to now" while it shows the past, and the
// replay's controls.
type TimeBar struct {
	Now time.Time // the real now, in the viewer's zone
	At  time.Time // the moment shown; zero: now, live
}

// NewTimeBar is the bar of a dashboard showing at (zero: now) when it is now.
func NewTimeBar(now, at time.Time) TimeBar {
	if !at.IsZero() {
		at = at.In(now.Location())
	}
	return TimeBar{Now: now, At: at}
}

// Past reports whether the dashboard shows a moment in the past (then
// nothing live changes it).
func (t TimeBar) Past() bool { return !t.At.IsZero() }

// Shown is the moment shown.
func (t TimeBar) Shown() time.Time {
	if t.Past() {
		return t.At
	}
	return t.Now
}

func unixText(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// SliderMin, SliderMax and SliderValue are the slider's range and value
// (Unix seconds): the last TimeSpan, widened to the moment shown.
func (t TimeBar) SliderMin() string {
	lo := t.Now.Add(-TimeSpan)
	if t.Past() && t.At.Add(-24*time.Hour).Before(lo) {
		lo = t.At.Add(-24 * time.Hour)
	}
	return unixText(lo.Truncate(time.Minute))
}

// SliderMax is now.
func (t TimeBar) SliderMax() string { return unixText(t.Now) }

// SliderValue is the moment shown.
func (t TimeBar) SliderValue() string { return unixText(t.Shown()) }

// PickerValue is the moment shown for the date picker (datetime-local, in
// the viewer's zone).
func (t TimeBar) PickerValue() string { return t.Shown().Format("2006-01-02T15:04") }

// ReplayFrom and ReplayTo are the replay form's default period: the hour
// before the moment shown.
func (t TimeBar) ReplayFrom() string { return t.Shown().Add(-time.Hour).Format("2006-01-02T15:04") }

// ReplayTo is the end of the default period.
func (t TimeBar) ReplayTo() string { return t.Shown().Format("2006-01-02T15:04") }

// ReplayURL replays the history's range for this friend alone on the
// dashboard (at ReplaySpeed), up to now.
func (h History) ReplayURL() string {
	from, to := h.ReplayFrom(), h.ReplayTo()
	q := url.Values{}
	q.Set("at", unixText(from))
	q.Set("replay", unixText(from)+"-"+unixText(to))
	q.Set("speed", h.ReplaySpeed())
	q.Set("friend", string(h.Friend.ID))
	return "/?" + q.Encode()
}

// Replay is the data of a replay (GET /api/v1/replay): each friend's track
// over the period, where everyone stood at its start, and each arrival
// and departure within it, for the page's script to play.
type Replay struct {
	From    int64          `json:"from"` // Unix seconds
	To      int64          `json:"to"`
	Sampled bool           `json:"sampled"` // some tracks were thinned to keep the answer small
	Friends []ReplayFriend `json:"friends"`
	Places  []ReplayPlace  `json:"places"`
	Start   []ReplayFact   `json:"start"`     // who was in which area at From, by which origin
	Cross   []ReplayFact   `json:"crossings"` // arrivals and departures, by tst
	tracks  map[projections.DeviceID]*ReplayTrack
	names   map[projections.DeviceID]string
	rows    Viewing
	friends map[projections.DeviceID]projections.FriendView
}

// ReplayFriend is one friend's marker (as at the start, or its first
// fix) and track.
type ReplayFriend struct {
	Marker Marker       `json:"marker"`
	Points [][3]float64 `json:"points"` // [tst, lat, lon]
}

// ReplayPlace is one place (areas of one name) and its areas.
type ReplayPlace struct {
	Key   string   `json:"key"`
	Name  string   `json:"name"`
	Areas []string `json:"areas"`
}

// ReplayFact is one device in or out of one area by one origin, at Tst.
type ReplayFact struct {
	Tst    int64  `json:"tst"`
	Device string `json:"device"`
	Area   string `json:"area"`
	Origin string `json:"origin"`
	In     bool   `json:"in"`
}

// NewReplay prepares the replay of from–to for friends (as now), start
// (everyone as at from) and the areas.
func NewReplay(p Page, from, to time.Time, friends, start []projections.FriendView, areas []projections.AreaView) *Replay {
	r := &Replay{From: from.Unix(), To: to.Unix(), Friends: []ReplayFriend{}, Start: []ReplayFact{}, Cross: []ReplayFact{},
		tracks: map[projections.DeviceID]*ReplayTrack{}, names: NamesOf(friends), friends: map[projections.DeviceID]projections.FriendView{}}
	p.Admin = false                   // no "Locate now" in the past
	p.Now = from.In(p.Now.Location()) // markers as fresh as at the start
	r.rows = NewViewing(p, friends, areas)
	for _, f := range friends {
		r.friends[f.ID] = f
	}
	for _, f := range start {
		if _, ok := r.friends[f.ID]; !ok {
			continue
		}
		r.friends[f.ID] = f
		for _, a := range f.Areas {
			if a.Phone != nil {
				r.Start = append(r.Start, ReplayFact{Tst: r.From, Device: string(f.ID), Area: a.Area, Origin: projections.OriginPhone, In: *a.Phone})
			}
			if a.Geometry != nil && *a.Geometry {
				r.Start = append(r.Start, ReplayFact{Tst: r.From, Device: string(f.ID), Area: a.Area, Origin: projections.OriginGeometry, In: true})
			}
		}
	}
	for _, pl := range BuildPlaces(areas, nil, p.Now) {
		rp := ReplayPlace{Key: pl.Key, Name: pl.Name}
		for _, d := range pl.Defs {
			rp.Areas = append(rp.Areas, d.ID)
		}
		r.Places = append(r.Places, rp)
	}
	return r
}

// Track returns dev's track, keeping at most max points.
func (r *Replay) Track(dev projections.DeviceID, max int) *ReplayTrack {
	t := &ReplayTrack{max: max, stride: 1}
	r.tracks[dev] = t
	return t
}

// AddCrossing takes one arrival or departure.
func (r *Replay) AddCrossing(e projections.AreaEvent) {
	if e.Tst < r.From || e.Tst >= r.To {
		return
	}
	r.Cross = append(r.Cross, ReplayFact{Tst: e.Tst, Device: string(e.Device), Area: e.Area, Origin: e.Origin, In: e.Event == "enter"})
}

// Done is the answer: friends by name, crossings by time.
func (r *Replay) Done() *Replay {
	ids := make([]projections.DeviceID, 0, len(r.tracks))
	for id := range r.tracks {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b projections.DeviceID) int { return cmp.Compare(r.names[a], r.names[b]) })
	for _, id := range ids {
		t := r.tracks[id]
		pts := t.done()
		r.Sampled = r.Sampled || t.stride > 1
		f := r.friends[id]
		if f.Location == nil && len(pts) > 0 {
			// Not on the map at the start: the marker begins at its first fix.
			f.Location = &projections.Point{Tst: int64(pts[0][0]), Lat: pts[0][1], Lon: pts[0][2]}
		}
		m, ok := r.rows.Row(f).Marker()
		if !ok {
			continue
		}
		r.Friends = append(r.Friends, ReplayFriend{Marker: m, Points: pts})
	}
	slices.SortStableFunc(r.Cross, func(a, b ReplayFact) int {
		return cmp.Or(cmp.Compare(a.Tst, b.Tst), cmp.Compare(a.Device, b.Device), cmp.Compare(a.Area, b.Area))
	})
	return r
}

// ReplayTrack thins a track evenly as it grows past max: every other
// point goes and the stride doubles, so memory stays bounded whatever the
// period; the last point is always kept.
type ReplayTrack struct {
	pts    [][3]float64
	max    int
	stride int
	n      int
	last   *[3]float64
}

// Add takes the next point, in tst order.
func (t *ReplayTrack) Add(p projections.Point) {
	v := [3]float64{float64(p.Tst), p.Lat, p.Lon}
	t.last = &v
	if t.n%t.stride == 0 {
		t.pts = append(t.pts, v)
		if len(t.pts) > t.max {
			kept := t.pts[:0]
			for i := 0; i < len(t.pts); i += 2 {
				kept = append(kept, t.pts[i])
			}
			t.pts, t.stride = kept, t.stride*2
		}
	}
	t.n++
}

func (t *ReplayTrack) done() [][3]float64 {
	if t.last != nil && (len(t.pts) == 0 || t.pts[len(t.pts)-1] != *t.last) {
		t.pts = append(t.pts, *t.last)
	}
	if t.pts == nil {
		return [][3]float64{}
	}
	return t.pts
}
