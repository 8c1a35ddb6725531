package demo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"tracker/events/owntracks"
)

var t0 = time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)

func near(a, b latLon, metres float64) bool { return distance(a, b) <= metres }

func TestDemoDistanceAndBearing(t *testing.T) {
	// Grand-Place to Rond-point Schuman: about 2.1 km, heading east-south-east.
	a, b := latLon{50.84676, 4.35236}, latLon{50.84275, 4.38120}
	if d := distance(a, b); math.Abs(d-2080) > 30 {
		t.Errorf("distance = %.0f m, want about 2080", d)
	}
	if c := bearing(a, b); c < 95 || c > 105 {
		t.Errorf("bearing = %.1f°, want about 100°", c)
	}
	if c := bearing(b, a); c < 275 || c > 285 {
		t.Errorf("bearing back = %.1f°, want about 280°", c)
	}
	north := offset(a, 100, 0)
	if d := distance(a, north); math.Abs(d-100) > 0.1 || north.Lon != a.Lon {
		t.Errorf("offset 100 m north went %.2f m to %v", d, north)
	}
}

func TestDemoPathAt(t *testing.T) {
	a := latLon{50.84, 4.35}
	b := offset(a, 0, 300)  // 300 m east
	c := offset(b, -400, 0) // then 400 m south
	p := newPath(a, b, c)
	if l := p.length(); math.Abs(l-700) > 0.5 {
		t.Fatalf("length = %.2f, want 700", l)
	}
	tests := []struct {
		name   string
		d      float64
		want   latLon
		course float64
	}{
		{"start", 0, a, 90},
		{"before the start clamps", -50, a, 90},
		{"halfway along the first leg", 150, offset(a, 0, 150), 90},
		{"the corner", 300, b, -1}, // either leg's course
		{"just past the corner", 301, offset(b, -1, 0), 180},
		{"halfway along the second leg", 500, offset(b, -200, 0), 180},
		{"the end", 700, c, 180},
		{"beyond the end clamps", 1e6, c, 180},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, course := p.at(tt.d)
			if !near(got, tt.want, 0.5) {
				t.Errorf("at(%v) = %v, %.2f m from %v", tt.d, got, distance(got, tt.want), tt.want)
			}
			if tt.course >= 0 && math.Abs(course-tt.course) > 0.5 {
				t.Errorf("course = %.2f, want %v", course, tt.course)
			}
		})
	}
	// Positions along the path advance monotonically from the start.
	prev := -1.0
	for d := 0.0; d <= 300; d += 7 {
		pos, _ := p.at(d)
		if got := distance(a, pos); got < prev {
			t.Fatalf("at(%v) went backwards", d)
		} else {
			prev = got
		}
	}
	if pos, _ := (path{}).at(10); pos != (latLon{}) {
		t.Errorf("empty path gave %v", pos)
	}
}

func TestDemoFenceEnterThenLeave(t *testing.T) {
	gym := region{desc: "Gym", rid: "g1", centre: latLon{50.8356, 4.3683}, radius: 80}
	home := region{desc: "Home", rid: "h1", centre: offset(gym.centre, 0, -1000), radius: 100}
	f := newFence([]region{home, gym})

	// Starting at home reports the initial enter.
	if got := f.update(home.centre); len(got) != 1 || got[0].region != 0 || !got[0].enter {
		t.Fatalf("start at home: %+v, want enter Home", got)
	}
	// Walk east straight through the gym and on.
	p := newPath(home.centre, offset(gym.centre, 0, 500))
	var events []string
	for d := 0.0; d <= p.length(); d += sampleEvery {
		pos, _ := p.at(d)
		for _, c := range f.update(pos) {
			r := f.regions[c.region]
			kind := "leave"
			if c.enter {
				kind = "enter"
			}
			// Crossings are reported where they happen, at the edge.
			if edge := math.Abs(distance(c.at, r.centre) - r.radius); edge > sampleEvery {
				t.Errorf("%s %s %.1f m from the edge", kind, r.desc, edge)
			}
			events = append(events, kind+" "+r.desc)
		}
	}
	want := []string{"leave Home", "enter Gym", "leave Gym"}
	if !slices.Equal(events, want) {
		t.Errorf("crossings = %q, want %q", events, want)
	}
	if names, rids := f.in(); len(names) != 0 || len(rids) != 0 || names == nil || rids == nil {
		t.Errorf("in() after leaving = %q %q, want two empty non-nil lists", names, rids)
	}
}

// A car crosses a small region between two fixes: the phone still
// reports the enter and the leave, in that order, before the location.
func TestDemoStepReportsCrossingBetweenFixes(t *testing.T) {
	f := cast()[0] // Anna: Home, Office, Gym
	p := newPhone(f, 1, 0, 60)
	p.begin(t0)
	gymAt := slices.IndexFunc(p.regions, func(r region) bool { return r.desc == "Gym" })
	gymC := p.regions[gymAt].centre
	p.pos = offset(gymC, 0, -300)
	p.fence.update(p.pos)
	p.route, p.along, p.mode = newPath(p.pos, offset(gymC, 0, 300)), 0, driveSpeed
	msgs := p.step(t0.Add(2 * time.Second)) // ~580 m in one tick, through the 160 m wide gym
	var got []string
	for _, m := range msgs {
		msg := decode(t, m)
		switch msg.Kind {
		case owntracks.KindTransition:
			got = append(got, msg.Transition.Event+" "+msg.Transition.Desc)
		case owntracks.KindLocation:
			got = append(got, "location t="+msg.Location.Trigger)
			if slices.Contains(msg.Location.InRegions, "Gym") {
				t.Errorf("location after leaving still in Gym: %q", msg.Location.InRegions)
			}
		}
	}
	want := []string{"enter Gym", "leave Gym", "location t=c"}
	if !slices.Equal(got, want) {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

func decode(t *testing.T, m Message) owntracks.Message {
	t.Helper()
	msg, err := owntracks.Decode(m.Topic, m.Payload, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", m.Topic, m.Payload, err)
	}
	return msg
}

// day simulates every phone for n ticks of 2 s at speed 10, with a fake
// clock, and returns what each published, in order, as the runner would
// send it (card and waypoints first, will of each connection included).
func day(seed uint64, n int) map[string][]Message {
	out := map[string][]Message{}
	for i, f := range cast() {
		p := newPhone(f, seed, i, 20)
		now := t0
		msgs := append([]Message{p.card(), p.waypoints(), p.will(now)}, p.begin(now)...)
		wasOnline := true
		for range n {
			now = now.Add(2 * time.Second)
			msgs = append(msgs, p.step(now)...)
			if p.online() && !wasOnline {
				msgs = append(msgs, p.will(now))
			}
			wasOnline = p.online()
		}
		msgs = append(msgs, p.answer("reportLocation", now)...)
		msgs = append(msgs, p.answer("waypoints", now)...)
		out[f.baseTopic()] = msgs
	}
	return out
}

func TestDemoEveryMessageDecodes(t *testing.T) {
	const ticks = 3000 // 100 minutes of wall time, 17 hours simulated
	kinds := map[owntracks.Kind]int{}
	for topic, msgs := range day(7, ticks) {
		inside := map[string]bool{} // rid -> inside, from transitions
		var tsts []int64
		for _, m := range msgs {
			if m.QoS != 1 {
				t.Errorf("%s: QoS %d, want 1", m.Topic, m.QoS)
			}
			msg := decode(t, m)
			kinds[msg.Kind]++
			if msg.Topic.User+"/"+msg.Topic.Device != strings.TrimPrefix(topic, "owntracks/") {
				t.Fatalf("message of %s on %s", topic, m.Topic)
			}
			wantSuffix, wantRetain := map[owntracks.Kind]string{
				owntracks.KindLocation: "", owntracks.KindLWT: "", owntracks.KindTransition: "event",
				owntracks.KindCard: "info", owntracks.KindWaypoints: "waypoints",
			}[msg.Kind], msg.Kind == owntracks.KindLocation || msg.Kind == owntracks.KindCard
			if msg.Topic.Suffix != wantSuffix || m.Retain != wantRetain {
				t.Errorf("%s on %q retain %v, want suffix %q retain %v", msg.Kind, m.Topic, m.Retain, wantSuffix, wantRetain)
			}
			switch msg.Kind {
			case owntracks.KindTransition:
				tr := msg.Transition
				if inside[tr.RID] == (tr.Event == "enter") {
					t.Errorf("%s: %s %s twice in a row", topic, tr.Event, tr.Desc)
				}
				inside[tr.RID] = tr.Event == "enter"
				if tr.Trigger != "c" || tr.Wtst == 0 || tr.Desc == "" || tr.TID == "" {
					t.Errorf("%s: transition %s", topic, m.Payload)
				}
			case owntracks.KindLocation:
				l := msg.Location
				var want []string
				for rid, in := range inside {
					if in {
						want = append(want, rid)
					}
				}
				got := slices.Clone(l.InRIDs)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: location inrids %q, but transitions say %q", topic, got, want)
				}
				if l.Batt < 3 || l.Batt > 100 || l.Acc <= 0 || l.Vel < 0 || l.Vel > 50 || l.TID == "" {
					t.Errorf("%s: implausible location %s", topic, m.Payload)
				}
				if distance(latLon{l.Lat, l.Lon}, latLon{50.8467, 4.3525}) > 6000 {
					t.Errorf("%s: left Brussels: %s", topic, m.Payload)
				}
				tsts = append(tsts, l.Tst)
			case owntracks.KindCard:
				if msg.Card.Name == "" || msg.Card.TID == "" || msg.Card.FaceInvalid != "" {
					t.Errorf("%s: card %+v", topic, msg.Card)
				}
			case owntracks.KindWaypoints:
				if n := len(msg.Waypoints); n < 2 || n > 3 {
					t.Errorf("%s: %d regions, want 2 or 3", topic, n)
				}
			}
		}
		if !slices.IsSorted(tsts) {
			t.Errorf("%s: location tst not in order", topic)
		}
	}
	for _, k := range []owntracks.Kind{owntracks.KindLocation, owntracks.KindTransition, owntracks.KindLWT,
		owntracks.KindCard, owntracks.KindWaypoints} {
		if kinds[k] == 0 {
			t.Errorf("no %s in a simulated day: %v", k, kinds)
		}
	}
	t.Logf("kinds: %v", kinds)
}

func TestDemoSharedRegionsAgree(t *testing.T) {
	byName := map[string][]region{}
	for _, f := range cast() {
		rs := f.regions()
		if len(rs) < 2 || len(rs) > 3 || rs[0].desc != "Home" {
			t.Errorf("%s: regions %+v, want Home and one or two more", f.user, rs)
		}
		for _, r := range rs {
			if r.radius < 80 || r.radius > 200 || r.rid == "" {
				t.Errorf("%s: region %+v", f.user, r)
			}
			byName[r.desc] = append(byName[r.desc], r)
		}
	}
	for _, name := range []string{"Office", "Gym", "Park"} {
		rs := byName[name]
		if len(rs) < 2 {
			t.Errorf("%s is on %d phones, want it shared", name, len(rs))
		}
		for _, r := range rs[1:] {
			if r.centre != rs[0].centre || r.radius != rs[0].radius {
				t.Errorf("%s differs between phones: %+v vs %+v", name, r, rs[0])
			}
		}
	}
}

func TestDemoSameSeedSameDay(t *testing.T) {
	a, b, c := day(42, 500), day(42, 500), day(43, 500)
	same := func(x, y map[string][]Message) bool {
		for topic, ms := range x {
			if len(ms) != len(y[topic]) {
				return false
			}
			for i := range ms {
				if ms[i].Topic != y[topic][i].Topic || !bytes.Equal(ms[i].Payload, y[topic][i].Payload) {
					return false
				}
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("the same seed gave two different days")
	}
	if same(a, c) {
		t.Error("seeds 42 and 43 gave the same day")
	}
}

// Within ten seconds of the start someone is on the move, someone left a
// region, and someone stays at a shared place: whatever the seed.
func TestDemoFirstSecondsShowSomething(t *testing.T) {
	for seed := range uint64(20) {
		var moved, left, stayed bool
		for _, msgs := range day(seed, 5) {
			var first *latLon
			for _, m := range msgs {
				msg, _ := owntracks.Decode(m.Topic, m.Payload, nil)
				switch msg.Kind {
				case owntracks.KindLocation:
					pos := latLon{msg.Location.Lat, msg.Location.Lon}
					if first == nil {
						first = &pos
					} else if distance(*first, pos) > 50 {
						moved = true
					}
					if slices.ContainsFunc(msg.Location.InRegions, func(s string) bool { return s != "Home" }) &&
						msg.Location.Trigger == "r" {
						stayed = true // still in a shared place at the end
					}
				case owntracks.KindTransition:
					if msg.Transition.Event == "leave" {
						left = true
					}
				}
			}
		}
		if !moved || !left || !stayed {
			t.Errorf("seed %d: moved %v, left a region %v, stayed at a shared place %v", seed, moved, left, stayed)
		}
	}
}

func TestDemoFaces(t *testing.T) {
	withFace := 0
	for i, f := range cast() {
		msg := decode(t, newPhone(f, 0, i, 20).card())
		if msg.Card.Face == "" {
			continue
		}
		withFace++
		raw, err := base64.StdEncoding.DecodeString(msg.Card.Face)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: face is not a PNG: %v", f.name, err)
		}
		if b := img.Bounds(); b.Dx() != faceSize || b.Dy() != faceSize {
			t.Errorf("%s: face is %v", f.name, b)
		}
		// The corner is transparent, the middle is painted.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%s: corner not transparent", f.name)
		}
		if _, _, _, a := img.At(faceSize/2, faceSize/2).RGBA(); a == 0 {
			t.Errorf("%s: centre not painted", f.name)
		}
	}
	if withFace != 2 {
		t.Errorf("%d faces, want 2", withFace)
	}
}

func TestDemoWillIsOwnTracksLWT(t *testing.T) {
	p := newPhone(cast()[1], 0, 1, 20)
	m := p.will(t0)
	msg := decode(t, m)
	if msg.Kind != owntracks.KindLWT || m.Topic != "owntracks/ben/pixel" || m.Retain {
		t.Errorf("will = %s on %s retain %v", m.Payload, m.Topic, m.Retain)
	}
	var v struct {
		Type string `json:"_type"`
		Tst  int64  `json:"tst"`
	}
	if err := json.Unmarshal(m.Payload, &v); err != nil || v.Tst != t0.Unix() {
		t.Errorf("will payload %s: tst want the connect time %d", m.Payload, t0.Unix())
	}
}

func TestDemoRouteStaysNearTheLine(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a, b := latLon{50.8302, 4.3456}, latLon{50.84275, 4.3812}
	for range 50 {
		r := route(a, b, rng)
		if r.pts[0] != a || r.pts[len(r.pts)-1] != b {
			t.Fatal("route does not join its ends")
		}
		if straight := distance(a, b); r.length() < straight || r.length() > 1.6*straight {
			t.Errorf("route of %.0f m for %.0f m straight", r.length(), straight)
		}
	}
}
