package main

import (
	"os"
	"testing"
)

// TestGeocodeDataNamed: the stats' summaries know which geocoder data
// made them (geocodeData); a data update must change that name, or days
// summarised before would keep the old data's countries and towns.
func TestGeocodeDataNamed(t *testing.T) {
	b, err := os.ReadFile("../../projections/geocode/data/VERSIONS")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != geocodeData {
		t.Errorf("projections/geocode/data/VERSIONS is %q; set geocodeData (cmd/tracker/stats.go) to it", b)
	}
}
