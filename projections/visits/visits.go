// Package visits tells a device's history as stays and journeys: where
// the phone remained within a radius for at least a while, and how it got
// from one such place to the next.
//
// It is a pure, streaming fold over one device's points in tst order: a
// Detector keeps the open stay candidate (a running, accuracy-weighted
// centroid), the open journey's sums and one unconfirmed point, so a range
// of any length takes constant memory. Nothing is stored: segments are
// computed on read from the history the projections keep, so corrections
// and hidden points are honoured by whoever reads the points, and ingest
// and rebuild do not pay for them.
//
// Whole days: Detect(cfg, points) for one day's points (as the stats
// page caches them) returns that day's segments; a stay running over the
// range's edge is cut there and marked Open.
package visits

import (
	"math"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
)

// Defaults of Config.
const (
	DefaultRadius  = 100.0           // m
	DefaultMinStay = 5 * time.Minute // shorter stops (traffic lights) are part of the journey
	DefaultMaxGap  = projections.DefaultMaxGap
)

// Config sets what counts as a stay. The zero value means the defaults.
type Config struct {
	// Radius (m): a stay's fixes lie within it of the stay's centre.
	Radius float64
	// MinStay: a device that remained less long is passing by.
	MinStay time.Duration
	// MaxGap: two fixes further apart than this are not joined. A stay
	// (or journey) ends at the last fix before the gap rather than
	// stretching over it; time in areas uses the same rule
	// (projections.RangeStats.MaxGap).
	MaxGap time.Duration
	// MaxAcc (m): fixes with a worse accuracy say too little to place a
	// stay and are ignored. Zero: three times Radius.
	MaxAcc float64
}

// WithDefaults fills the zero fields with the defaults.
func (c Config) WithDefaults() Config {
	if c.Radius <= 0 {
		c.Radius = DefaultRadius
	}
	if c.MinStay <= 0 {
		c.MinStay = DefaultMinStay
	}
	if c.MaxGap <= 0 {
		c.MaxGap = DefaultMaxGap
	}
	if c.MaxAcc <= 0 {
		c.MaxAcc = 3 * c.Radius
	}
	return c
}

// core is the radius of a stay's core: a fix within it (and half its
// accuracy) is surely there, not walking in or out; the stay runs from
// the first to the last such fix.
func (c Config) core() float64 { return c.Radius / 4 }

// Kind of a segment.
type Kind string

// The kinds of segments.
const (
	KindStay    Kind = "stay"
	KindJourney Kind = "journey"
)

// Segment is one stay or one journey. Segments come in time order and do
// not overlap; where one ends and the next starts later, the device sent
// no fix for longer than Config.MaxGap (or its fixes were too imprecise).
type Segment struct {
	Kind  Kind      `json:"kind"`
	Start time.Time `json:"start"` // first fix of the stay; for a journey, the last fix of the stay before (else its first fix)
	End   time.Time `json:"end"`   // last fix of the stay; for a journey, the first fix of the stay after (else its last fix)
	// Points is how many fixes it took (for a journey, those between its
	// stays).
	Points int `json:"points"`
	// Open: the range (or the input) ended while it was still going on,
	// so the device may have stayed (or travelled) longer.
	Open bool `json:"open,omitempty"`

	// Stays: the accuracy-weighted centre, the mean accuracy of its fixes
	// (m; 0 when none sent one) and, filled by Resolve, its place.
	Centre *geo.Point `json:"centre,omitempty"`
	AccM   float64    `json:"acc_m,omitempty"`
	Place  *Place     `json:"place,omitempty"`

	// Journeys: where from and to, and the length of the track (m).
	From      *geo.Point `json:"from,omitempty"`
	To        *geo.Point `json:"to,omitempty"`
	DistanceM float64    `json:"distance_m,omitempty"`
}

// Duration is End - Start.
func (s Segment) Duration() time.Duration { return s.End.Sub(s.Start) }

// Detect folds points (one device, tst order) into segments.
func Detect(cfg Config, points []projections.Point) []Segment {
	var out []Segment
	d := NewDetector(cfg, func(s Segment) { out = append(out, s) })
	for _, p := range points {
		d.Add(p)
	}
	d.Close()
	return out
}

// Detector is the streaming form of Detect: Add each point in tst order,
// then Close; emit is called with each segment as soon as it is known
// (a journey when the stay after it is certain, a stay when it ends).
type Detector struct {
	cfg  Config
	emit func(Segment)

	last    projections.Point // the newest fix taken
	hasLast bool
	cand    cluster // fixes that may be a stay
	// pend are fixes outside cand in a row, not yet enough to say the
	// device left (a phone's wild fixes come in short bursts).
	pend    [maxPending]projections.Point
	npend   int
	jour    journey
	skipped int
}

// maxPending fixes in a row outside a stay end it; fewer, followed by a
// fix inside again, are jitter (phones send wild fixes in short bursts).
// The stay still ends at its last fix inside: this delays only the news.
const maxPending = 4

// headMax bounds the fixes a candidate keeps from its start, to trim the
// approach once it proves a stay.
const headMax = 32

// cluster is the open stay candidate: an accuracy-weighted centroid.
type cluster struct {
	n           int
	first, last projections.Point
	wsum        float64 // sum of weights (1/acc²)
	wlat, wlon  float64 // weighted sums
	accSum      float64
	accN        int
	path        float64 // m along its fixes, in case it proves a mere stop

	// head are its first fixes (up to headMax), nhead of them.
	head  [headMax]projections.Point
	nhead int
	// core is its last fix close to the centre (the core radius); after
	// are the fixes since and path their track from core: the walk out of
	// the radius is the journey's, not the stay's.
	core      projections.Point
	after     int
	afterPath float64
}

// journey sums the fixes between two stays: from the last fix of the
// stay before (else its own first) to the first of the stay after (else
// its own last).
type journey struct {
	has, stayed bool // stayed: it starts at a stay
	n           int  // its own fixes, without the stays' at its ends
	first, last projections.Point
	dist        float64
}

// NewDetector returns a detector calling emit with each segment.
func NewDetector(cfg Config, emit func(Segment)) *Detector {
	return &Detector{cfg: cfg.WithDefaults(), emit: emit}
}

// Skipped is how many fixes were ignored: too imprecise, not after the
// previous one, or a short burst off a stay (GPS jitter).
func (d *Detector) Skipped() int { return d.skipped }

// Add takes the next fix of the device.
func (d *Detector) Add(p projections.Point) {
	if acc, ok := p.Accuracy(); ok && float64(acc) > d.cfg.MaxAcc {
		d.skipped++
		return
	}
	if d.hasLast && p.Tst <= d.last.Tst {
		d.skipped++
		return
	}
	if d.hasLast && time.Duration(p.Tst-d.last.Tst)*time.Second > d.cfg.MaxGap {
		d.flush(false)
	}
	d.last, d.hasLast = p, true
	d.add(p)
}

func (d *Detector) add(p projections.Point) {
	if d.cand.n == 0 {
		d.cand.start(p, d.cfg)
		return
	}
	if d.within(p, d.cfg.Radius) && d.arrived(p) {
		d.leave()
		d.add(p)
		return
	}
	if d.within(p, d.cfg.Radius) {
		if d.npend > 0 {
			d.skipped += d.npend // a burst off the stay, then back: jitter
			d.npend = 0
		}
		d.cand.add(p, d.cfg, d.within(p, d.cfg.core()))
		d.confirm()
		return
	}
	d.pend[d.npend] = p
	d.npend++
	if d.npend < maxPending {
		return
	}
	d.leave()
}

// arrived reports whether p, inside a candidate that is no stay yet, is
// rather with (one of) the fixes outside it: the candidate was the way in
// to a place next to it, not a place with jitter.
func (d *Detector) arrived(p projections.Point) bool {
	if d.npend == 0 || d.long() {
		return false
	}
	own := dist(d.cand.centre(), p.Geo())
	for _, q := range d.pend[:d.npend] {
		if dist(q.Geo(), p.Geo()) < own {
			return true
		}
	}
	return false
}

// leave ends the candidate: the device has left; the fixes outside start
// anew. Of a candidate that is no stay yet, the fixes at its end that
// are already near the last fix outside start anew with them, so the
// fixes of an arrival are not lost with the approach they came with.
func (d *Detector) leave() {
	pend, n := d.pend, d.npend
	d.npend = 0
	c := &d.cand
	if !d.long() && c.n > 1 && c.n == c.nhead {
		head, k := c.head, c.nhead
		i := k
		for i > 1 && dist(head[i-1].Geo(), pend[n-1].Geo()) <= d.cfg.Radius+halfAcc(head[i-1]) {
			i--
		}
		if i < k {
			for _, q := range head[:i] {
				d.jour.take(q, true)
			}
			*c = cluster{}
			for _, q := range head[i:k] {
				d.add(q)
			}
			for _, q := range pend[:n] {
				d.add(q)
			}
			return
		}
	}
	d.endCandidate()
	for _, q := range pend[:n] {
		d.add(q)
	}
}

// within reports whether p lies within r of the candidate's centre, with
// half the fix's accuracy as benefit of the doubt.
func (d *Detector) within(p projections.Point, r float64) bool {
	return dist(d.cand.centre(), p.Geo()) <= r+halfAcc(p)
}

// halfAcc is half the fix's accuracy, 0 when it sent none.
func halfAcc(p projections.Point) float64 {
	if acc, ok := p.Accuracy(); ok {
		return float64(acc) / 2
	}
	return 0
}

// long reports whether the candidate lasted long enough to be a stay.
func (d *Detector) long() bool {
	c := &d.cand
	return c.n > 0 && time.Duration(c.core.Tst-c.first.Tst)*time.Second >= d.cfg.MinStay
}

// confirm makes the candidate a stay once it lasted long enough: the
// approach is trimmed off its start (fixes at its edge before the first
// close to the centre) and the journey before it, which nothing later
// changes, is emitted.
func (d *Detector) confirm() {
	c := &d.cand
	if c.nhead == 0 || !d.long() {
		return
	}
	// One fix at a time: each trimmed moves the centre away from the
	// approach, so the next is judged by a truer centre.
	for c.nhead > 1 {
		q, next := c.head[0], c.head[1]
		if dist(c.centre(), q.Geo()) <= d.cfg.core()+halfAcc(q) {
			break
		}
		copy(c.head[:], c.head[1:c.nhead])
		c.nhead--
		d.jour.take(q, true)
		c.path -= dist(q.Geo(), next.Geo())
		c.remove(q, next, d.cfg)
	}
	c.first = c.head[0]
	if !d.long() {
		return
	}
	c.nhead = 0 // confirmed: nothing more to trim
	if d.jour.has {
		d.jour.take(c.first, false) // the stay's first fix ends it
		d.emitJourney(false)
	}
}

// endCandidate closes the candidate: a stay when it lasted (up to its
// last fix close to the centre), else its fixes join the journey.
func (d *Detector) endCandidate() {
	c := &d.cand
	if c.n == 0 {
		return
	}
	if d.long() {
		if c.nhead > 0 {
			d.confirm()
		}
		d.emit(c.segment(false))
		// The journey starts at the stay's last fix close to the centre.
		d.jour = journey{has: true, stayed: true, first: c.core, last: c.last, dist: c.afterPath, n: c.after}
	} else {
		d.jour.take(c.first, true)
		d.jour.dist += c.path
		d.jour.last = c.last
		d.jour.n += c.n - 1
	}
	*c = cluster{}
}

// flush ends everything open: at a gap (open false) or at the end of
// the input (open true).
func (d *Detector) flush(open bool) {
	// Fewer fixes off a stay than it takes to leave, then nothing: as in
	// the middle of a stay, jitter. Off a mere stop, they are the way on.
	if d.long() {
		d.skipped += d.npend
		d.npend = 0
	} else if d.npend > 0 {
		d.leave()
	}
	c := &d.cand
	if d.long() {
		if c.nhead > 0 {
			d.confirm()
		}
		// Up to its last fix: at a gap or the end of the input there is no
		// walk out to tell apart.
		s := c.segment(open)
		s.End, s.Points = c.last.Time(), c.n
		d.emit(s)
		*c = cluster{}
		d.jour = journey{}
		return
	}
	d.endCandidate()
	d.emitJourney(open)
}

// take adds a fix at the journey's end; count says whether it is the
// journey's own (not the first fix of the stay that ends it).
func (j *journey) take(p projections.Point, count bool) {
	if !j.has {
		j.first, j.has = p, true
	} else {
		j.dist += dist(j.last.Geo(), p.Geo())
	}
	j.last = p
	if count {
		j.n++
	}
}

func (d *Detector) emitJourney(open bool) {
	j := d.jour
	d.jour = journey{}
	if !j.has || j.last.Tst <= j.first.Tst {
		return
	}
	if !j.stayed && j.n < maxPending {
		// A burst of fixes off, first after a gap (or the start), then a
		// stay: jitter, as in a stay, not a journey from nowhere.
		d.skipped += j.n
		return
	}
	from, to := j.first.Geo(), j.last.Geo()
	d.emit(Segment{
		Kind: KindJourney, Start: j.first.Time(), End: j.last.Time(), Points: j.n, Open: open,
		From: &from, To: &to, DistanceM: math.Round(j.dist),
	})
}

// Close ends the input: the open stay or journey is emitted, marked Open.
func (d *Detector) Close() {
	d.flush(true)
	d.hasLast = false
}

func (c *cluster) start(p projections.Point, cfg Config) {
	*c = cluster{first: p}
	c.add(p, cfg, true)
}

// accOf is a fix's accuracy as weighed (an unknown one as half the
// radius, better than 10 m not believed) and whether the phone sent it.
func accOf(p projections.Point, cfg Config) (float64, bool) {
	a, ok := p.Accuracy()
	if !ok {
		return cfg.Radius / 2, false
	}
	return max(float64(a), 10), true
}

// The centre weighs each fix by the time it stands for (half the
// interval to each neighbour, an interval at most MinStay: a phone
// sending often while it arrives does not pull the centre to the
// doorstep) over its accuracy. A lone fix stands for a second.
func (c *cluster) weigh(p projections.Point, secs float64, cfg Config) {
	a, _ := accOf(p, cfg)
	w := secs / a
	c.wsum += w
	c.wlat += w * p.Lat
	c.wlon += w * p.Lon
}

// halfGap is half the interval between two fixes, as weighed.
func halfGap(a, b projections.Point, cfg Config) float64 {
	return min(float64(b.Tst-a.Tst), cfg.MinStay.Seconds()) / 2
}

func (c *cluster) add(p projections.Point, cfg Config, core bool) {
	if a, ok := accOf(p, cfg); ok {
		c.accSum += a
		c.accN++
	}
	c.weigh(p, 1, cfg)
	if c.n > 0 {
		h := halfGap(c.last, p, cfg)
		c.weigh(c.last, h, cfg)
		c.weigh(p, h, cfg)
		step := dist(c.last.Geo(), p.Geo())
		c.path += step
		c.afterPath += step
	}
	if c.nhead > 0 || c.n == 0 {
		if c.nhead < headMax {
			c.head[c.nhead] = p
			c.nhead++
		}
	}
	if core {
		c.core, c.after, c.afterPath = p, 0, 0
	} else {
		c.after++
	}
	c.last = p
	c.n++
}

// remove takes the first fix p, followed by next, out of the centre
// (trimming the approach).
func (c *cluster) remove(p, next projections.Point, cfg Config) {
	if a, ok := accOf(p, cfg); ok {
		c.accSum -= a
		c.accN--
	}
	h := halfGap(p, next, cfg)
	c.weigh(p, -1-h, cfg)
	c.weigh(next, -h, cfg)
	c.n--
}

func (c *cluster) centre() geo.Point {
	return geo.Point{Lat: c.wlat / c.wsum, Lon: c.wlon / c.wsum}
}

// segment is the stay up to its last fix close to the centre.
func (c *cluster) segment(open bool) Segment {
	centre := c.centre()
	centre.Lat = math.Round(centre.Lat*1e6) / 1e6
	centre.Lon = math.Round(centre.Lon*1e6) / 1e6
	s := Segment{Kind: KindStay, Start: c.first.Time(), End: c.core.Time(), Points: c.n - c.after, Open: open, Centre: &centre}
	if c.accN > 0 {
		s.AccM = math.Round(c.accSum / float64(c.accN))
	}
	return s
}

// dist is the distance in metres between two positions a few kilometres
// apart at most, as the detector compares them: on the plane tangent at
// their mean latitude (within 0.1% of the great circle below 10 km; a
// third of the haversine's cost, which dominated the detector).
func dist(a, b geo.Point) float64 {
	const m = geo.EarthRadius * math.Pi / 180 // metres per degree
	dlon := b.Lon - a.Lon
	switch {
	case dlon > 180:
		dlon -= 360
	case dlon < -180:
		dlon += 360
	}
	x, y := dlon*math.Cos((a.Lat+b.Lat)*math.Pi/360), b.Lat-a.Lat
	return m * math.Sqrt(x*x+y*y)
}
