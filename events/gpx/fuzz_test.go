package gpx

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzRead: any input either fails with an error or yields locations
// that are JSON with coordinates in range, on the device's topic; never a
// panic. Seeds: the test files and the corpus in testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Add(twoSegments)
	f.Add(`<gpx version="1.0"><rte><rtept lat="-33.9" lon="151.2"><time>2020-01-01T00:00:00</time></rtept></rte></gpx>`)
	f.Fuzz(func(t *testing.T, in string) {
		dev := Device{User: "u", Device: "d"}
		_, _ = Read(t.Context(), strings.NewReader(in), dev, func(r Record) error {
			var loc struct {
				Type string   `json:"_type"`
				Lat  *float64 `json:"lat"`
				Lon  *float64 `json:"lon"`
				Tst  int64    `json:"tst"`
			}
			if err := json.Unmarshal(r.Event.Payload, &loc); err != nil {
				t.Fatalf("payload %q: %v", r.Event.Payload, err)
			}
			if loc.Type != "location" || loc.Lat == nil || loc.Lon == nil || *loc.Lat < -90 || *loc.Lat > 90 ||
				*loc.Lon < -180 || *loc.Lon > 180 || loc.Tst != r.Event.Received.Unix() {
				t.Fatalf("bad location %s at %v", r.Event.Payload, r.Event.Received)
			}
			if r.Event.Topic != "owntracks/u/d" {
				t.Fatalf("topic %q", r.Event.Topic)
			}
			return nil
		}, func(p Problem) {
			if p.Reason != ReasonNoTime && p.Reason != ReasonTime && p.Reason != ReasonCoords {
				t.Fatalf("unknown reason %q", p.Reason)
			}
		})
	})
}
