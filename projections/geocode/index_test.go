package geocode

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTinyTopology: shared edges, a hole holding another country, and an
// island across the antimeridian (tinyTopo in fuzz_test.go).
func TestTinyTopology(t *testing.T) {
	ix, err := build([]byte(tinyTopo), "")
	if err != nil {
		t.Fatal(err)
	}
	deg := func(x, y float64) (float64, float64) { return -90 + y*0.018, -180 + x*0.036 }
	tests := []struct {
		name    string
		x, y    float64 // quantized units
		country string
	}{
		{"in A", 4500, 5500, "A"},
		{"in B", 5200, 5200, "B"},
		{"in B's hole: C", 5500, 5500, "C"},
		{"outside all", 3000, 3000, ""},
		{"island of A across 180°: its east part", 9980, 7930, "A"},
		{"island of A across 180°: its west part", 20, 7930, "A"},
		{"between the island's ends", 5000, 7950, ""},
		{"north of the island", 9950, 8050, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lat, lon := deg(tt.x, tt.y)
			if got := ix.lookup(lat, lon).Country; got != tt.country {
				t.Errorf("lookup(%v, %v) = %q, want %q", lat, lon, got, tt.country)
			}
		})
	}
}

// TestIndexMatchesBruteForce compares the index with the even-odd rule
// over whole rings, on many-vertex shapes (so that cells split): jagged
// star-shaped countries in a grid, some with a hole holding an enclave.
func TestIndexMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	star := func(cx, cy, radius float64, n int, reverse bool) []int32 {
		var ring []int32
		for i := range n {
			k := i
			if reverse {
				k = n - i
			}
			a := 2 * math.Pi * float64(k) / float64(n)
			rr := radius * (0.55 + 0.45*r.Float64())
			ring = append(ring, int32(cx+rr*math.Cos(a)), int32(cy+rr*math.Sin(a)))
		}
		return append(ring, ring[0], ring[1])
	}
	var rings [][][]int32
	const block = 10000.0
	for i := range 5 {
		for j := range 5 {
			cx, cy := (float64(i)+0.5)*block, (float64(j)+0.5)*block
			rs := [][]int32{star(cx, cy, block*0.49, 400, false)}
			if (i+j)%2 == 0 {
				rs = append(rs, star(cx, cy, block*0.25, 300, true)) // a hole …
				rings = append(rings, rs)
				rings = append(rings, [][]int32{star(cx, cy, block*0.12, 200, false)}) // … holding an enclave
				continue
			}
			rings = append(rings, rs)
		}
	}
	ix := newCountryIndex(rings, 0)
	brute := func(x, y float64) uint16 {
		for c, rs := range rings {
			in := false
			for _, ring := range rs {
				for k := 0; k+3 < len(ring); k += 2 {
					ax, ay, bx, by := float64(ring[k]), float64(ring[k+1]), float64(ring[k+2]), float64(ring[k+3])
					if (ay > y) != (by > y) && x < ax+(y-ay)*(bx-ax)/(by-ay) {
						in = !in
					}
				}
			}
			if in {
				return uint16(c)
			}
		}
		return noCountry
	}
	mismatches := 0
	const n = 4000
	for range n {
		x, y := r.Float64()*5*block, r.Float64()*5*block
		if got, want := ix.lookup(x, y), brute(x, y); got != want {
			mismatches++
			if mismatches < 5 {
				t.Errorf("lookup(%.3f, %.3f) = %d, brute force %d", x, y, got, want)
			}
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d lookups differ", mismatches, n)
	}
}
