package main

import (
	"flag"
	"fmt"
	"time"

	"tracker/projections/geo"
	"tracker/projections/geocode"
	"tracker/projections/visits"
)

// visitFlags say what makes a stay (serve): the history page's day story,
// the visits API and the suggested places.
type visitFlags struct {
	StayRadius float64       // m
	StayMin    time.Duration // shorter stops are part of the journey
	StayGap    time.Duration // a longer silence ends a stay
}

func (c *visitFlags) flags(fs *flag.FlagSet) {
	fs.Float64Var(&c.StayRadius, "stay-radius", visits.DefaultRadius, "a stay's fixes lie within this many `metres` of its centre")
	fs.DurationVar(&c.StayMin, "stay-min", visits.DefaultMinStay, "a device that remained less long is passing by (a stop at traffic lights), not staying")
	fs.DurationVar(&c.StayGap, "stay-gap", visits.DefaultMaxGap, "fixes further apart are not joined: a stay (and time in an area) ends at the last fix before such a silence")
}

// config checks the flags and returns what the web side takes.
func (c *visitFlags) config() (visits.Config, error) {
	switch {
	case !(c.StayRadius >= 10 && c.StayRadius <= 5000):
		return visits.Config{}, fmt.Errorf("--stay-radius %g: want 10 to 5000 metres", c.StayRadius)
	case c.StayMin < time.Minute || c.StayMin > 24*time.Hour:
		return visits.Config{}, fmt.Errorf("--stay-min %s: want 1m to 24h", c.StayMin)
	case c.StayGap < time.Minute || c.StayGap > 7*24*time.Hour:
		return visits.Config{}, fmt.Errorf("--stay-gap %s: want 1m to 168h", c.StayGap)
	}
	return visits.Config{Radius: c.StayRadius, MinStay: c.StayMin, MaxGap: c.StayGap}, nil
}

// placeAddress names a stay no area covers by the offline geocoder: the
// nearest town ("Schaerbeek"), else the country, else "near …" at sea.
func placeAddress(p geo.Point) (name, cc string, ok bool) {
	pl := geocode.Lookup(p.Lat, p.Lon)
	switch {
	case pl.Town != "":
		return pl.Town, pl.CC, true
	case pl.Label() != "":
		return pl.Label(), pl.CC, true
	}
	return "", "", false
}
