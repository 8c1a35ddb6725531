package geocode

import (
	"math"
	"math/rand/v2"
	"testing"
)

// benchPoints are where phones are: half near towns (within ~5 km of a
// GeoNames town, drawn at random), half anywhere on the globe (mostly sea).
func benchPoints(n int) [][2]float64 {
	all, err := decodeCities(citiesPBF, nil)
	if err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	pts := make([][2]float64, n)
	for i := range pts {
		if i%2 == 0 {
			c := all[r.IntN(len(all))]
			pts[i] = [2]float64{float64(c.Lat)/1e5 + (r.Float64()-0.5)*0.09, float64(c.Lon)/1e5 + (r.Float64()-0.5)*0.14}
		} else {
			pts[i] = [2]float64{math.Asin(2*r.Float64()-1) * 180 / math.Pi, r.Float64()*360 - 180}
		}
	}
	return pts
}

// BenchmarkLookup prints lookups per second on an index already built
// (the first Lookup's build is BenchmarkLoad's).
func BenchmarkLookup(b *testing.B) {
	if err := Load(); err != nil {
		b.Fatal(err)
	}
	pts := benchPoints(1 << 16)
	i := 0
	for b.Loop() {
		p := pts[i&(len(pts)-1)]
		Lookup(p[0], p[1])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkLoad prints the index's build time and size.
func BenchmarkLoad(b *testing.B) {
	var ix *index
	for b.Loop() {
		var err error
		if ix, err = build(countriesJSON, citiesPBF); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(ix.countries.bytes()+len(ix.towns.towns)*8+len(ix.towns.xyz)*12)/1e6, "index-MB")
}
