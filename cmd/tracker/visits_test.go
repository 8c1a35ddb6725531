package main

import (
	"strings"
	"testing"
	"time"

	"tracker/projections/geo"
	"tracker/projections/visits"
	"tracker/projections/visits/visitstest"
)

// The stay flags reach the web side as given; nonsense is refused by name.
func TestVisitFlags(t *testing.T) {
	tests := []struct {
		args []string
		want visits.Config
		err  string
	}{
		{nil, visits.Config{Radius: 100, MinStay: 5 * time.Minute, MaxGap: 30 * time.Minute}, ""},
		{[]string{"--stay-radius", "250", "--stay-min", "10m", "--stay-gap", "2h"}, visits.Config{Radius: 250, MinStay: 10 * time.Minute, MaxGap: 2 * time.Hour}, ""},
		{[]string{"--stay-radius", "0"}, visits.Config{}, "--stay-radius 0: want 10 to 5000 metres"},
		{[]string{"--stay-radius", "NaN"}, visits.Config{}, "--stay-radius NaN"},
		{[]string{"--stay-min", "10s"}, visits.Config{}, "--stay-min 10s: want 1m to 24h"},
		{[]string{"--stay-gap", "-1h"}, visits.Config{}, "--stay-gap -1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var c serveConfig
			fs := newFlagSet("serve", "", &strings.Builder{})
			c.flags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			got, err := c.visitFlags.config()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("config = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// Stays in no area are named by the offline geocoder's nearest town; far
// out at sea, not at all.
func TestPlaceAddress(t *testing.T) {
	tests := []struct {
		at       geo.Point
		name, cc string
		ok       bool
	}{
		{visitstest.Home, "Brussels", "BE", true},
		{visitstest.Cafe, "Diegem", "BE", true},
		{geo.Point{Lat: 51.0543, Lon: 3.7174}, "Gent", "BE", true},
		{geo.Point{Lat: -40, Lon: -130}, "", "", false}, // the South Pacific
	}
	for _, tt := range tests {
		name, cc, ok := placeAddress(tt.at)
		if name != tt.name || cc != tt.cc || ok != tt.ok {
			t.Errorf("placeAddress(%v) = %q %q %v, want %q %q %v", tt.at, name, cc, ok, tt.name, tt.cc, tt.ok)
		}
	}
}
