package recorder

import (
	"testing"

	"tracker/events/owntracks/recjson"
	"tracker/projections/geocode"
)

// BenchmarkSetPlace: the members cc and locality added to a point, along
// the recorder benchmark's track (cmd/tracker BenchmarkRecorderAPI).
func BenchmarkSetPlace(b *testing.B) {
	if err := geocode.Load(); err != nil {
		b.Fatal(err)
	}
	a := &API{}
	var k placeCache
	base, _ := recjson.Parse(nil, []byte(`{"_type":"location","lat":52.1,"lon":13.1,"tst":1,"acc":5,"alt":34,"batt":77,"bs":1,"conn":"w","tid":"u0","ghash":"u33dc0c"}`))
	o := make(jsonObject, 0, 32)
	i := 0
	for b.Loop() {
		o = append(o[:0], base...)
		a.setPlace(&o, &k, 52+float64(i%1000)/1e4, 13+float64(i%777)/1e4)
		i++
	}
}
