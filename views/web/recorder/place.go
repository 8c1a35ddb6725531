package recorder

import (
	"tracker/events/owntracks/recjson"
	"tracker/projections/geocode"
)

// AddressBook gives a position's street address when it has one at hand
// (the optional --geocoder-url's cache), and never waits: what it does not
// know it may ask for in the background, for a later answer.
type AddressBook interface {
	Address(lat, lon float64) (string, bool)
}

// Keys of the members the Recorder's reverse geocoding adds.
var (
	kCC       = recjson.Key("cc")
	kLocality = recjson.Key("locality")
)

// setPlace adds the members the Recorder's reverse geocoding adds, in its
// order, where known and where the payload has none of its own (the
// Recorder does not overwrite either): cc (the country's ISO code, offline
// from projections/geocode), addr (a street address, only from the
// address book) and locality (the town, when the point is in a country and
// the town in the same one). k remembers recent cells for an answer going
// through a track; nil looks the point up.
func (a *API) setPlace(o *jsonObject, k *placeCache, lat, lon float64) {
	v := k.get(lat, lon)
	if v.cc != nil {
		setDefaultRaw(o, kCC, v.cc)
	}
	if a.Addresses != nil {
		if addr, ok := a.Addresses.Address(lat, lon); ok && addr != "" {
			setDefaultRaw(o, kAddr, recjson.AppendString(nil, addr))
		}
	}
	if v.locality != nil {
		setDefaultRaw(o, kLocality, v.locality)
	}
}

// setDefaultRaw appends the member unless o has key already.
func setDefaultRaw(o *jsonObject, key string, v []byte) {
	for _, m := range *o {
		if m.Key == key {
			return
		}
	}
	*o = append(*o, recjson.Member{Key: key, Value: v})
}

// placeCache remembers the JSON values of cc and locality of recent 0.001°
// cells (what geocode.Lookup answers for), for one answer going through a
// track: consecutive points mostly share a cell, and a hit costs neither
// a lookup nor an allocation. Not safe for concurrent use; the zero value
// is ready, a nil one remembers nothing.
type placeCache struct {
	keys [256]geocode.Cell
	used [256]bool
	vals [256]placeJSON
}

// placeJSON are the members' values, JSON strings; nil where unknown.
type placeJSON struct{ cc, locality []byte }

func (k *placeCache) get(lat, lon float64) placeJSON {
	c, ok := geocode.CellOf(lat, lon)
	if !ok {
		return placeJSON{}
	}
	h := uint64(c) * 0x9E3779B97F4A7C15 >> 56
	if k != nil && k.used[h] && k.keys[h] == c {
		return k.vals[h]
	}
	var v placeJSON
	if p := geocode.Lookup(lat, lon); p.CC != "" {
		v.cc = recjson.AppendString(nil, p.CC)
		if p.Town != "" && p.TownCC == p.CC {
			v.locality = recjson.AppendString(nil, p.Town)
		}
	}
	if k != nil {
		k.keys[h], k.vals[h], k.used[h] = c, v, true
	}
	return v
}
