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
// the town in the same one). k remembers recent cells for a reader going
// through a track; nil looks each point up.
func (a *API) setPlace(o *jsonObject, k *geocode.Cache, lat, lon float64) {
	var p geocode.Place
	if k != nil {
		p = k.Lookup(lat, lon)
	} else {
		p = geocode.Lookup(lat, lon)
	}
	if p.CC != "" {
		setDefaultString(o, kCC, p.CC)
	}
	if a.Addresses != nil {
		if addr, ok := a.Addresses.Address(lat, lon); ok && addr != "" {
			setDefaultString(o, kAddr, addr)
		}
	}
	if p.CC != "" && p.Town != "" && p.TownCC == p.CC {
		setDefaultString(o, kLocality, p.Town)
	}
}

func setDefaultString(o *jsonObject, key, s string) {
	if _, ok := o.Get(key); !ok {
		o.SetString(key, s)
	}
}
