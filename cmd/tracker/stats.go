package main

import (
	"hash/fnv"

	"tracker/projections/geocode"
	"tracker/projections/stats"
	"tracker/projections/visits"
)

// geocodeData names the data set projections/geocode embeds (its
// data/VERSIONS); the stats' day summaries made with other data are made
// again. TestGeocodeDataNamed keeps it in step with the file.
const geocodeData = "world-atlas 2.0.2\nall-the-cities 3.1.0\n"

// statsSummarizer is what the stats page sums days up with: stays by the
// visits detector with the stay flags (--stay-radius, --stay-min,
// --stay-gap), countries and towns by the offline geocoder.
func statsSummarizer(stays visits.Config) stats.Summarizer {
	h := fnv.New64a()
	_, _ = h.Write([]byte(geocodeData + geocode.Rules))
	return stats.Summarizer{
		Visits: stays,
		Where: func(lat, lon float64) stats.Place {
			p := geocode.Lookup(lat, lon)
			return stats.Place{Country: stats.Country{CC: p.CC, Name: p.Country}, Town: stats.Town{Name: p.Town, Country: p.TownCC}}
		},
		WhereVersion: h.Sum64(),
	}
}
