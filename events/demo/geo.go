package demo

import "math"

// earthRadius is the mean Earth radius in metres, the one the server's
// area geometry uses, so the phones and the server agree on who is inside.
const earthRadius = 6371008.8

// latLon is a WGS84 position in degrees.
type latLon struct{ Lat, Lon float64 }

// distance is the great-circle (haversine) distance in metres.
func distance(a, b latLon) float64 {
	φ1, φ2 := radians(a.Lat), radians(b.Lat)
	dφ, dλ := φ2-φ1, radians(b.Lon-a.Lon)
	h := sq(math.Sin(dφ/2)) + math.Cos(φ1)*math.Cos(φ2)*sq(math.Sin(dλ/2))
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

// bearing is the initial course from a to b in degrees, [0, 360).
func bearing(a, b latLon) float64 {
	φ1, φ2 := radians(a.Lat), radians(b.Lat)
	dλ := radians(b.Lon - a.Lon)
	y := math.Sin(dλ) * math.Cos(φ2)
	x := math.Cos(φ1)*math.Sin(φ2) - math.Sin(φ1)*math.Cos(φ2)*math.Cos(dλ)
	return math.Mod(math.Atan2(y, x)*180/math.Pi+360, 360)
}

// offset moves p by north and east metres (flat approximation, fine for
// the few hundred metres a street corner is off the straight line).
func offset(p latLon, north, east float64) latLon {
	dLat := north / earthRadius * 180 / math.Pi
	dLon := east / (earthRadius * math.Cos(radians(p.Lat))) * 180 / math.Pi
	return latLon{p.Lat + dLat, p.Lon + dLon}
}

func radians(d float64) float64 { return d * math.Pi / 180 }
func sq(x float64) float64      { return x * x }

// path is a polyline walked or driven from its first point to its last.
type path struct {
	pts []latLon
	cum []float64 // cum[i]: metres from pts[0] to pts[i] along the path
}

func newPath(pts ...latLon) path {
	p := path{pts: pts, cum: make([]float64, len(pts))}
	for i := 1; i < len(pts); i++ {
		p.cum[i] = p.cum[i-1] + distance(pts[i-1], pts[i])
	}
	return p
}

// length is the path's length in metres.
func (p path) length() float64 {
	if len(p.cum) == 0 {
		return 0
	}
	return p.cum[len(p.cum)-1]
}

// at returns the position d metres along the path (clamped to its ends)
// and the course there in degrees. Within a segment, the position is
// interpolated linearly in latitude and longitude: segments are short
// enough (city streets) for that to stay on the great circle within
// centimetres.
func (p path) at(d float64) (pos latLon, course float64) {
	switch len(p.pts) {
	case 0:
		return latLon{}, 0
	case 1:
		return p.pts[0], 0
	}
	d = math.Max(0, math.Min(d, p.length()))
	i := 1
	for i < len(p.pts)-1 && p.cum[i] < d {
		i++
	}
	a, b := p.pts[i-1], p.pts[i]
	seg := p.cum[i] - p.cum[i-1]
	f := 0.0
	if seg > 0 {
		f = (d - p.cum[i-1]) / seg
	}
	return latLon{a.Lat + (b.Lat-a.Lat)*f, a.Lon + (b.Lon-a.Lon)*f}, bearing(a, b)
}

// region is one of a phone's circular regions (an OwnTracks waypoint).
type region struct {
	desc   string
	rid    string
	centre latLon
	radius float64 // m
	wtst   int64   // creation time, Unix seconds
}

// contains reports whether p is within the region (the edge counts).
func (r region) contains(p latLon) bool { return distance(p, r.centre) <= r.radius }

// crossing is a region entered or left.
type crossing struct {
	region int // index into the fence's regions
	enter  bool
	at     latLon
}

// fence tracks which of a phone's regions it is inside, as the phone's
// geofencing does. The first update reports an enter for every region
// the phone starts in (like the apps' initial trigger).
type fence struct {
	regions []region
	inside  []bool
}

func newFence(regions []region) *fence {
	return &fence{regions: regions, inside: make([]bool, len(regions))}
}

// update moves the phone to p and returns the regions it entered or left.
func (f *fence) update(p latLon) []crossing {
	var out []crossing
	for i, r := range f.regions {
		if in := r.contains(p); in != f.inside[i] {
			f.inside[i] = in
			out = append(out, crossing{region: i, enter: in, at: p})
		}
	}
	return out
}

// in lists the names and ids of the regions the phone is inside, never
// nil (the apps send [] for none).
func (f *fence) in() (names, rids []string) {
	names, rids = []string{}, []string{}
	for i, r := range f.regions {
		if f.inside[i] {
			names, rids = append(names, r.desc), append(rids, r.rid)
		}
	}
	return names, rids
}
