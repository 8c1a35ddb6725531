package geocode

import (
	"testing"
)

// FuzzDecodeTopoJSON: any input decodes or fails with an error, never a
// panic; what decodes has closed rings and, when small, indexes and
// answers lookups. Seeds: testdata/fuzz/FuzzDecodeTopoJSON.
func FuzzDecodeTopoJSON(f *testing.F) {
	f.Add([]byte(tinyTopo))
	f.Add([]byte(`{"type":"Topology","transform":{"scale":[1,1],"translate":[0,0]},"objects":{"countries":{"type":"GeometryCollection","geometries":[]}},"arcs":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := decodeTopoJSON(data, "countries")
		if err != nil {
			return
		}
		verts := 0
		var rings [][][]int32
		for _, c := range topo.Countries {
			for _, r := range c.Rings {
				if len(r)%2 != 0 || len(r) < 8 || r[0] != r[len(r)-2] || r[1] != r[len(r)-1] {
					t.Fatalf("ring not closed or too short: %v", r)
				}
				verts += len(r) / 2
			}
			rings = append(rings, c.Rings)
		}
		if verts > 64 || len(rings) >= noCountry {
			return
		}
		var span int64
		if w := 360 / topo.Scale[0]; w >= 2 && w < 1<<20 {
			span = int64(w)
		}
		ix := newCountryIndex(rings, span)
		for _, p := range [][2]float64{{0, 0}, {1.5, 1.5}, {-3, 7}, {1e9, -1e9}} {
			if c := ix.lookup(p[0], p[1]); c != noCountry && int(c) >= len(rings) {
				t.Fatalf("lookup answered country %d of %d", c, len(rings))
			}
		}
	})
}

// FuzzDecodeCities: any input decodes or fails with an error, never a
// panic; what decodes indexes and answers. Seeds:
// testdata/fuzz/FuzzDecodeCities (the first cities of cities.pbf).
func FuzzDecodeCities(f *testing.F) {
	f.Add([]byte(citiesPBF[:200]))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := string(data)
		cities, err := decodeCities(s, nil)
		if err != nil {
			return
		}
		for _, c := range cities {
			if int(c.NameOff)+len(c.Name) > len(s) || s[c.NameOff:int(c.NameOff)+len(c.Name)] != c.Name {
				t.Fatalf("name %q not at its offset %d", c.Name, c.NameOff)
			}
		}
		ix := newCityIndex(s, cities)
		r := ix.nearest(0, 0, "BE", 2)
		if r.all >= len(cities) || r.same >= len(cities) {
			t.Fatalf("nearest = %+v of %d", r, len(cities))
		}
	})
}

// tinyTopo is a quantized topology of two squares sharing an edge (A and
// B, B with a hole holding country C) and a thin island of A crossing the
// antimeridian (two triangles on the plane, as world-atlas ships
// Chukotka: the ring steps from one edge of the map to the other).
const tinyTopo = `{"type":"Topology","bbox":[-180,-90,180,90],
"transform":{"scale":[0.036,0.018],"translate":[-180,-90]},
"objects":{"countries":{"type":"GeometryCollection","geometries":[
{"type":"MultiPolygon","id":"001","properties":{"name":"A"},"arcs":[[[0,1]],[[4]]]},
{"type":"Polygon","id":"002","properties":{"name":"B"},"arcs":[[2,-1],[3]]},
{"type":"Polygon","properties":{"name":"C"},"arcs":[[-4]]}
]}},
"arcs":[
[[5000,5000],[0,1000]],
[[5000,6000],[-1000,0],[0,-1000],[1000,0]],
[[5000,5000],[1000,0],[0,1000],[-1000,0]],
[[5400,5400],[200,0],[0,200],[-200,0],[0,-200]],
[[0,8000],[9999,0],[-100,-100],[-9800,0],[-99,100]]
]}`
