package geo

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		name string
		a, b Point
		want float64 // metres
		tol  float64
	}{
		{"same point", Point{52.52, 13.405}, Point{52.52, 13.405}, 0, 0.001},
		{"Berlin to Paris", Point{52.5200, 13.4050}, Point{48.8566, 2.3522}, 877_460, 1_000},
		{"one degree of latitude", Point{0, 0}, Point{1, 0}, 111_195, 10},
		{"across the antimeridian", Point{0, 179.9}, Point{0, -179.9}, 22_239, 10},
		{"pole to pole", Point{90, 0}, Point{-90, 0}, math.Pi * EarthRadius, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Distance(tt.a, tt.b); math.Abs(got-tt.want) > tt.tol {
				t.Errorf("Distance = %.1f m, want %.1f ± %.1f", got, tt.want, tt.tol)
			}
		})
	}
}

func TestInCircle(t *testing.T) {
	centre := Point{51.5072, -0.1276}
	edge := Point{centre.Lat + 75/111_195.0*180/math.Pi*math.Pi/180, centre.Lon} // ~75 m north
	d := Distance(centre, edge)
	tests := []struct {
		name   string
		p      Point
		radius float64
		want   bool
	}{
		{"centre", centre, 75, true},
		{"exactly on the edge", edge, d, true},
		{"just outside the edge", edge, math.Nextafter(d, 0), false},
		{"far away", Point{48.85, 2.35}, 75, false},
		{"zero radius at the centre", centre, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InCircle(tt.p, centre, tt.radius); got != tt.want {
				t.Errorf("InCircle = %v, want %v (distance %.6f m, radius %.6f)", got, tt.want, Distance(tt.p, centre), tt.radius)
			}
		})
	}
}

// TestInCircleShortcut: the latitude shortcut never changes the answer
// of the full distance, near the edge, across the antimeridian and at
// the poles.
func TestInCircleShortcut(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	centres := []Point{{51.5072, -0.1276}, {0, 179.999}, {89.9999, 10}, {-89.99, -170}, {-33.86, 151.21}}
	for _, c := range centres {
		for range 20_000 {
			radius := math.Pow(10, r.Float64()*5) // 1 m to 100 km
			p := Point{Lat: math.Max(-90, math.Min(90, c.Lat+(r.Float64()*2-1)*radius*2/111_000)), Lon: c.Lon + (r.Float64()*2-1)*radius*2/111_000}
			if r.IntN(4) == 0 { // on the meridian, at the edge to the last bit
				p = Point{Lat: c.Lat + radius/EarthRadius*180/math.Pi, Lon: c.Lon}
				radius = Distance(p, c)
			}
			if got, want := InCircle(p, c, radius), Distance(p, c) <= radius; got != want {
				t.Fatalf("InCircle(%v, %v, %g) = %v, the distance %.9f says %v", p, c, radius, got, Distance(p, c), want)
			}
		}
	}
}

func TestInPolygon(t *testing.T) {
	square := []Point{{0, 0}, {0, 10}, {10, 10}, {10, 0}}
	// A box over the antimeridian, from 170°E to 170°W, 10°S to 10°N.
	dateline := []Point{{-10, 170}, {10, 170}, {10, -170}, {-10, -170}}
	concave := []Point{{0, 0}, {0, 10}, {10, 10}, {10, 0}, {5, 5}} // a notch cut in from the lon-0 side
	tests := []struct {
		name string
		ring []Point
		p    Point
		want bool
	}{
		{"inside square", square, Point{5, 5}, true},
		{"outside square", square, Point{15, 5}, false},
		{"on an edge", square, Point{0, 5}, true},
		{"on a vertex", square, Point{10, 10}, true},
		{"antimeridian, east side", dateline, Point{0, 175}, true},
		{"antimeridian, west side", dateline, Point{0, -175}, true},
		{"antimeridian, on the line", dateline, Point{0, 180}, true},
		{"antimeridian, outside (Greenwich)", dateline, Point{0, 0}, false},
		{"antimeridian, outside (160E)", dateline, Point{0, 160}, false},
		{"concave notch is outside", concave, Point{5, 2}, false},
		{"concave body is inside", concave, Point{7, 5}, true},
		{"degenerate ring", square[:2], Point{0, 5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InPolygon(tt.p, tt.ring); got != tt.want {
				t.Errorf("InPolygon(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}
