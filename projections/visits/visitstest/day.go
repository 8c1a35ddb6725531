// Package visitstest makes synthetic days of fixes with the stays and
// journeys they are known to hold, for the tests of visits, of the pages
// and of rebuild.
package visitstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"tracker/events"
	"tracker/projections"
	"tracker/projections/geo"
)

// Places of the synthetic day (Brussels).
var (
	Home   = geo.Point{Lat: 50.8320, Lon: 4.3500}
	Office = geo.Point{Lat: 50.9040, Lon: 4.3900} // 8.5 km north
	Cafe   = geo.Point{Lat: 50.9077, Lon: 4.4072} // 1.3 km east of the office
)

// OfficeRadius is the radius of the server area a test draws round
// Office; Home and Cafe are in no area.
const OfficeRadius = 150.0

// Truth is one stay or journey as the day was made.
type Truth struct {
	Stay       bool
	Name       string // "home", "office", "cafe" for stays
	Start, End time.Time
}

// Day is a synthetic day of one device.
type Day struct {
	Points []projections.Point
	Truth  []Truth // stays and journeys in order
}

// Offset moves p by north and east metres.
func Offset(p geo.Point, north, east float64) geo.Point {
	const m = 111_320.0 // metres per degree of latitude
	return geo.Point{Lat: p.Lat + north/m, Lon: p.Lon + east/(m*math.Cos(p.Lat*math.Pi/180))}
}

type builder struct {
	rnd *rand.Rand
	t   time.Time
	day Day
}

func (b *builder) fix(p geo.Point, acc int) {
	b.day.Points = append(b.day.Points, projections.Point{Tst: b.t.Unix(), Lat: p.Lat, Lon: p.Lon, Acc: acc})
}

// stay: fixes every step round at, jittered as a phone indoors does
// (accuracy 10-40 m, the fix off by up to that), with one wild fix off by
// 250 m now and then. A gap leaves out the fixes from gapFrom for gapLen.
func (b *builder) stay(name string, at geo.Point, d, step time.Duration, gapFrom, gapLen time.Duration) {
	start, end := b.t, b.t.Add(d)
	for ; !b.t.After(end); b.t = b.t.Add(step) {
		if gapLen > 0 && !b.t.Before(start.Add(gapFrom)) && b.t.Before(start.Add(gapFrom+gapLen)) {
			continue
		}
		acc := 10 + b.rnd.IntN(30)
		r, a := float64(acc)*b.rnd.Float64(), 2*math.Pi*b.rnd.Float64()
		if b.rnd.IntN(40) == 0 {
			r = 250 // a wild fix, once in a while: jitter, not a departure
		}
		b.fix(Offset(at, r*math.Cos(a), r*math.Sin(a)), acc)
	}
	b.t = end
	if gapLen > 0 {
		gapStart := start.Add(gapFrom).Add(-step)
		b.day.Truth = append(b.day.Truth,
			Truth{Stay: true, Name: name, Start: start, End: gapStart.Truncate(step)},
			Truth{Stay: true, Name: name, Start: start.Add(gapFrom + gapLen), End: end})
		return
	}
	b.day.Truth = append(b.day.Truth, Truth{Stay: true, Name: name, Start: start, End: end})
}

// move from a to b in d, a fix every step, waiting at each of stops
// (fractions of the way) for the stop's duration: traffic lights.
func (b *builder) move(a, to geo.Point, d, step time.Duration, stops map[float64]time.Duration) {
	start := b.t
	moving := d
	for _, s := range stops {
		moving -= s
	}
	var waited time.Duration
	done := map[float64]bool{}
	for b.t = b.t.Add(step); b.t.Before(start.Add(d)); b.t = b.t.Add(step) {
		f := float64(b.t.Sub(start)-waited) / float64(moving)
		for at, s := range stops {
			if !done[at] && f >= at {
				// Stand at the light for s, fixes jittering on the spot.
				p := lerp(a, to, at)
				for end := b.t.Add(s); b.t.Before(end); b.t = b.t.Add(step) {
					b.fix(Offset(p, 5*b.rnd.NormFloat64(), 5*b.rnd.NormFloat64()), 8)
				}
				waited += s
				done[at] = true
				f = float64(b.t.Sub(start)-waited) / float64(moving)
			}
		}
		b.fix(lerp(a, to, min(f, 1)), 8)
	}
	b.t = start.Add(d)
	b.day.Truth = append(b.day.Truth, Truth{Start: start, End: b.t})
}

func lerp(a, b geo.Point, f float64) geo.Point {
	return geo.Point{Lat: a.Lat + (b.Lat-a.Lat)*f, Lon: a.Lon + (b.Lon-a.Lon)*f}
}

// SyntheticDay is one day from midnight of day (in its zone): home until
// 08:10, a drive to the office with two stops at traffic lights (90 s,
// 2 min), the office until 12:00 with the phone silent 10:00-10:45, a
// walk to a café, the café until 13:10, back to the office until 17:30,
// a drive home and home until midnight. Stays send a fix a minute,
// journeys every 15 s. seed varies the jitter.
func SyntheticDay(day time.Time, seed uint64) Day {
	b := &builder{rnd: rand.New(rand.NewPCG(seed, 16)), t: day}
	min := time.Minute
	b.stay("home", Home, 8*time.Hour+10*min, min, 0, 0)
	b.move(Home, Office, 26*min, 15*time.Second, map[float64]time.Duration{0.3: 90 * time.Second, 0.7: 2 * min})
	b.stay("office", Office, 3*time.Hour+24*min, min, 84*min, 45*min)
	b.move(Office, Cafe, 20*min, 15*time.Second, nil)
	b.stay("cafe", Cafe, 50*min, min, 0, 0)
	b.move(Cafe, Office, 25*min, 15*time.Second, nil)
	b.stay("office", Office, 3*time.Hour+55*min, min, 0, 0)
	b.move(Office, Home, 30*min, 15*time.Second, map[float64]time.Duration{0.5: 2 * min})
	b.stay("home", Home, day.AddDate(0, 0, 1).Add(-min).Sub(b.t), min, 0, 0)
	return b.day
}

// Events are the day's fixes as a phone of user/device publishes them
// (OwnTracks location messages over the embedded broker), received a
// second after each fix.
func (d Day) Events(user, device string) []events.Event {
	out := make([]events.Event, 0, len(d.Points))
	for _, p := range d.Points {
		out = append(out, events.Event{
			Received: time.Unix(p.Tst+1, 0).UTC(),
			Topic:    "owntracks/" + user + "/" + device,
			Payload:  fmt.Appendf(nil, `{"_type":"location","lat":%.7f,"lon":%.7f,"acc":%d,"tst":%d,"tid":"%.2s"}`, p.Lat, p.Lon, p.Acc, p.Tst, user),
			QoS:      1,
			Source:   events.SourceEmbedded,
		})
	}
	return out
}
