// Package geo answers the two questions area membership needs: is a point
// within a circle (great-circle distance) and is it inside a polygon. It
// is pure arithmetic.
package geo

import "math"

// EarthRadius is the mean Earth radius in metres (IUGG), the usual choice
// for haversine distances.
const EarthRadius = 6371008.8

// Point is a WGS84 position in degrees.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Distance returns the great-circle distance between a and b in metres.
func Distance(a, b Point) float64 {
	φ1, φ2 := rad(a.Lat), rad(b.Lat)
	dφ := φ2 - φ1
	dλ := rad(b.Lon - a.Lon)
	h := sq(math.Sin(dφ/2)) + math.Cos(φ1)*math.Cos(φ2)*sq(math.Sin(dλ/2))
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

// InCircle reports whether p is within radius metres of centre. A point
// exactly on the edge is inside.
func InCircle(p, centre Point, radius float64) bool {
	// The great-circle distance is at least the arc between the two
	// latitudes: most points of a track are rejected on that, without
	// trigonometry (a micrometre of slack keeps rounding on the exact side).
	if EarthRadius*math.Abs(rad(p.Lat)-rad(centre.Lat)) > radius*(1+1e-9)+1e-6 {
		return false
	}
	return Distance(p, centre) <= radius
}

// InPolygon reports whether p lies inside the polygon ring (vertices in
// order, first not repeated at the end; edges are straight in lat/lon,
// which is what people draw on a web map). Points on an edge count as
// inside. A ring that crosses the antimeridian is handled by unwrapping
// longitudes around the first vertex, so a polygon from 170°E to 170°W is
// the 20° wide one, not the 340° wide one.
func InPolygon(p Point, ring []Point) bool {
	if len(ring) < 3 {
		return false
	}
	ref := ring[0].Lon
	x := unwrap(p.Lon, ref)
	inside := false
	j := len(ring) - 1
	for i := range ring {
		xi, yi := unwrap(ring[i].Lon, ref), ring[i].Lat
		xj, yj := unwrap(ring[j].Lon, ref), ring[j].Lat
		if onSegment(x, p.Lat, xi, yi, xj, yj) {
			return true
		}
		if (yi > p.Lat) != (yj > p.Lat) {
			cross := xi + (p.Lat-yi)*(xj-xi)/(yj-yi)
			if x < cross {
				inside = !inside
			}
		}
		j = i
	}
	return inside
}

// unwrap moves lon into the 360° window centred on ref.
func unwrap(lon, ref float64) float64 {
	for lon-ref > 180 {
		lon -= 360
	}
	for lon-ref < -180 {
		lon += 360
	}
	return lon
}

func onSegment(px, py, ax, ay, bx, by float64) bool {
	const eps = 1e-12
	cross := (bx-ax)*(py-ay) - (by-ay)*(px-ax)
	if math.Abs(cross) > eps {
		return false
	}
	return px >= math.Min(ax, bx)-eps && px <= math.Max(ax, bx)+eps &&
		py >= math.Min(ay, by)-eps && py <= math.Max(ay, by)+eps
}

func rad(d float64) float64 { return d * math.Pi / 180 }
func sq(x float64) float64  { return x * x }
