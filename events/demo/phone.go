package demo

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// Travel speeds, km/h.
const (
	walkSpeed  = 5
	driveSpeed = 35
	// driveFrom is the straight-line distance from which people drive.
	driveFrom = 1200 // m
)

const (
	restEvery   = 6  // ticks: a resting phone reports this often
	sampleEvery = 10 // m: region crossings are checked this often along the way

	// Outages, in ticks: the first comes after 45…150 ticks, the next
	// ones 90…240 ticks after the last; each lasts 10…20 ticks (20–40 s
	// at the default interval).
	firstOfflineMin, firstOfflineSpan = 45, 106
	nextOfflineMin, nextOfflineSpan   = 90, 151
	offlineMin, offlineSpan           = 10, 11
)

// phone is one friend's simulated phone: where it is, where it goes, its
// battery and its connection. It is driven tick by tick and is
// deterministic given its random source: the wall clock only sets tst.
type phone struct {
	f       friend
	rng     *rand.Rand
	dt      float64 // simulated seconds per tick
	fence   *fence
	regions []region

	pos    latLon
	course float64
	route  path    // the current trip; no points while resting
	along  float64 // metres travelled on route
	mode   float64 // km/h of the current trip
	vel    int     // km/h of the last tick
	acc    int     // m, accuracy of the last fix
	dwell  float64 // simulated seconds left at the current place
	here   string  // name of the place the phone rests at or heads to
	trips  int     // trips planned so far

	batt     float64 // %
	charging bool
	sinceFix int // ticks since the last location

	offlineIn  int // ticks until the connection next drops
	offlineFor int // ticks left without a connection; 0 when online
}

func newPhone(f friend, seed uint64, index int, dt float64) *phone {
	rng := rand.New(rand.NewPCG(seed, uint64(index)+1))
	regions := f.regions()
	p := &phone{
		f: f, rng: rng, dt: dt, regions: regions, fence: newFence(regions),
		pos: f.startAt(), dwell: f.startDwell.Seconds(), here: "Home",
		batt: 40 + 60*rng.Float64(), acc: 10,
		offlineIn: firstOfflineMin + rng.IntN(firstOfflineSpan),
	}
	if f.start.radius > 0 {
		p.here = f.start.name
	}
	return p
}

// online reports whether the phone has a network connection now.
func (p *phone) online() bool { return p.offlineFor == 0 }

// begin returns what the phone says when it starts: an enter for each
// region it is in (the apps' initial trigger) and its position.
func (p *phone) begin(now time.Time) []Message {
	var out []Message
	for _, c := range p.fence.update(p.pos) {
		out = append(out, p.transition(c, now))
	}
	return append(out, p.location(now, ""))
}

// step advances the phone by one tick and returns what it publishes.
func (p *phone) step(now time.Time) []Message {
	// Connection: drop now and then, come back after a while.
	if p.offlineFor > 0 {
		p.offlineFor--
	} else if p.offlineIn--; p.offlineIn <= 0 {
		p.offlineFor = offlineMin + p.rng.IntN(offlineSpan)
		p.offlineIn = nextOfflineMin + p.rng.IntN(nextOfflineSpan)
	}

	var crossed []crossing
	moved := len(p.route.pts) > 0
	if moved {
		v := p.mode * (0.85 + 0.3*p.rng.Float64())
		to := math.Min(p.along+v/3.6*p.dt, p.route.length())
		for x := p.along + sampleEvery; x < to; x += sampleEvery {
			at, _ := p.route.at(x)
			crossed = append(crossed, p.fence.update(at)...)
		}
		p.pos, p.course = p.route.at(to)
		crossed = append(crossed, p.fence.update(p.pos)...)
		p.along, p.vel = to, int(math.Round(v))
		if to >= p.route.length() {
			p.route, p.vel = path{}, 0
			p.dwell = (3 + 12*p.rng.Float64()) * 60 // 3 to 15 minutes
		}
	} else {
		p.vel = 0
		if p.dwell -= p.dt; p.dwell <= 0 {
			p.plan()
		}
	}
	p.battery()
	p.acc = p.accuracy()

	var out []Message
	for _, c := range crossed {
		out = append(out, p.transition(c, now))
	}
	p.sinceFix++
	switch {
	case len(crossed) > 0:
		out = append(out, p.location(now, "c"))
	case moved || p.sinceFix >= restEvery:
		out = append(out, p.location(now, ""))
	}
	return out
}

// plan picks the next destination and the way there.
func (p *phone) plan() {
	home := place{"Home", p.f.home, homeRadius}
	var choices []place
	if p.here != "Home" {
		choices = append(choices, home, home) // people go home often
	}
	for _, s := range p.f.shared {
		if s.name != p.here {
			choices = append(choices, s, s)
		}
	}
	for _, e := range errands {
		if e.name != p.here {
			choices = append(choices, e)
		}
	}
	dest := choices[p.rng.IntN(len(choices))]
	if p.trips == 0 && p.f.first.name != "" {
		dest = p.f.first
	}
	p.trips++
	// Stop somewhere near the middle, not all on one pixel.
	end := offset(dest.at, 30*p.rng.Float64()-15, 30*p.rng.Float64()-15)
	p.route, p.along, p.here = route(p.pos, end, p.rng), 0, dest.name
	p.mode = walkSpeed
	if distance(p.pos, end) > driveFrom {
		p.mode = driveSpeed
	}
}

// route is a way through the streets from a to b: an L along the two
// axes with its corner pushed off the straight line a little.
func route(a, b latLon, rng *rand.Rand) path {
	corner := latLon{a.Lat, b.Lon}
	if rng.IntN(2) == 0 {
		corner = latLon{b.Lat, a.Lon}
	}
	corner = offset(corner, 100*rng.Float64()-50, 100*rng.Float64()-50)
	mid := latLon{(a.Lat + corner.Lat) / 2, (a.Lon + corner.Lon) / 2}
	mid = offset(mid, 40*rng.Float64()-20, 40*rng.Float64()-20)
	return newPath(a, mid, corner, b)
}

// battery drains about 1% every two simulated minutes away from home and
// charges at home when low.
func (p *phone) battery() {
	if p.fence.inside[0] && (p.charging || p.batt < 50) {
		p.charging = true
		p.batt = math.Min(100, p.batt+p.dt/30)
		return
	}
	p.charging = false
	p.batt = math.Max(3, p.batt-p.dt/120)
}

func (p *phone) accuracy() int {
	switch p.mode {
	case driveSpeed:
		if p.vel > 0 {
			return 8 + p.rng.IntN(18)
		}
	case walkSpeed:
		if p.vel > 0 {
			return 5 + p.rng.IntN(11)
		}
	}
	return 5 + p.rng.IntN(8)
}

// location is the phone's position report; t is the trigger ("" for
// automatic, "c" after a region event, "r" answering reportLocation).
func (p *phone) location(now time.Time, t string) Message {
	p.sinceFix = 0
	names, rids := p.fence.in()
	conn := "m"
	switch {
	case !p.online():
		conn = "o"
	case p.fence.inside[0] || slices.Contains(names, "Office"):
		conn = "w" // wifi at home and at the office
	}
	bs := 1
	switch {
	case p.charging && p.batt >= 100:
		bs = 3
	case p.charging:
		bs = 2
	}
	cog := 0
	if p.vel > 0 {
		cog = int(math.Round(p.course)) % 360
	}
	return Message{
		Topic: p.f.baseTopic(), QoS: 1, Retain: true,
		Payload: mustJSON(locationJSON{
			Type: "location", TID: p.f.tid, Lat: coord(p.pos.Lat), Lon: coord(p.pos.Lon), Tst: now.Unix(),
			Acc: p.acc, Vel: p.vel, Cog: cog, Batt: int(math.Round(p.batt)), BS: bs, Conn: conn, T: t,
			InRegions: names, InRIDs: rids,
		}),
	}
}

func (p *phone) transition(c crossing, now time.Time) Message {
	r := p.regions[c.region]
	event := "leave"
	if c.enter {
		event = "enter"
	}
	return Message{
		Topic: p.f.baseTopic() + "/event", QoS: 1,
		Payload: mustJSON(transitionJSON{
			Type: "transition", Event: event, Desc: r.desc, RID: r.rid, Wtst: r.wtst, Tst: now.Unix(),
			Lat: coord(c.at.Lat), Lon: coord(c.at.Lon), Acc: 10, T: "c", TID: p.f.tid,
		}),
	}
}

// waypoints is the phone's export of its regions.
func (p *phone) waypoints() Message {
	ws := make([]waypointJSON, len(p.regions))
	for i, r := range p.regions {
		ws[i] = waypointJSON{Type: "waypoint", Desc: r.desc, Lat: coord(r.centre.Lat), Lon: coord(r.centre.Lon),
			Rad: int(r.radius), Tst: r.wtst, RID: r.rid}
	}
	return Message{
		Topic: p.f.baseTopic() + "/waypoints", QoS: 1,
		Payload: mustJSON(waypointsJSON{Type: "waypoints", Waypoints: ws, Creator: "tracker-demo"}),
	}
}

// card is the friend's retained card, with a face for some.
func (p *phone) card() Message {
	c := cardJSON{Type: "card", TID: p.f.tid, Name: p.f.name}
	if p.f.hasFace {
		c.Face = face(p.f.name[0], p.f.face)
	}
	return Message{Topic: p.f.baseTopic() + "/info", QoS: 1, Retain: true, Payload: mustJSON(c)}
}

// will is the OwnTracks last will registered on a connection made at
// connected: the broker publishes it if the phone vanishes.
func (p *phone) will(connected time.Time) Message {
	return Message{Topic: p.f.baseTopic(), QoS: 1, Payload: mustJSON(lwtJSON{Type: "lwt", Tst: connected.Unix()})}
}

// answer returns the reply to a command from …/cmd, if any.
func (p *phone) answer(action string, now time.Time) []Message {
	switch action {
	case "reportLocation":
		return []Message{p.location(now, "r")}
	case "waypoints":
		return []Message{p.waypoints()}
	}
	return nil
}
