package geocode

import (
	"math"
	"math/rand/v2"
	"syscall"
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

// trackPoints is a phone's track: a fix every ~20 m, wandering from
// Brussels (the Recorder API answers points in this order).
func trackPoints(n int) [][2]float64 {
	r := rand.New(rand.NewPCG(3, 4))
	pts := make([][2]float64, n)
	lat, lon, dir := 50.8467, 4.3525, 0.0
	for i := range pts {
		dir += (r.Float64() - 0.5) * 0.5
		lat += 0.00018 * math.Cos(dir)
		lon += 0.00028 * math.Sin(dir)
		pts[i] = [2]float64{lat, lon}
	}
	return pts
}

// BenchmarkLookup prints lookups per second on an index already built
// (the first Lookup's build is BenchmarkLoad's), and the CPU time per
// lookup (less bent by other work on a shared machine). The sub-benchmarks
// time the country and the town search alone.
func BenchmarkLookup(b *testing.B) {
	if err := Load(); err != nil {
		b.Fatal(err)
	}
	pts := benchPoints(1 << 16)
	ix := loaded
	var k Cache
	track := trackPoints(1 << 16)
	for _, bb := range []struct {
		name string
		f    func(lat, lon float64)
	}{
		{"both", func(lat, lon float64) { Lookup(lat, lon) }},
		{"cached-track", func(lat, lon float64) { k.Lookup(lat, lon) }},
		{"country", func(lat, lon float64) {
			ix.countries.lookup((lon-ix.t.Translate[0])/ix.t.Scale[0], (lat-ix.t.Translate[1])/ix.t.Scale[1])
		}},
		{"town", func(lat, lon float64) { ix.towns.nearest(lat, lon, "BE", 2*math.Sin(landTownKm/earthKm/2)) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			cpu0 := cpuTime()
			i, pts := 0, pts
			if bb.name == "cached-track" {
				pts = track
			}
			for b.Loop() {
				p := pts[i&(len(pts)-1)]
				bb.f(p[0], p[1])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/lookup")
		})
	}
}

// cpuTime is the process's CPU time (user and system) in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkLoad prints the index's build time and size.
func BenchmarkLoad(b *testing.B) {
	var ix *index
	cpu0 := cpuTime()
	for b.Loop() {
		var err error
		if ix, err = build(countriesJSON, citiesPBF); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/build")
	b.ReportMetric(float64(ix.countries.bytes()+len(ix.towns.towns)*16+len(ix.towns.xyz)*12)/1e6, "index-MB")
}
