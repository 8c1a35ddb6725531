package visits

import (
	"tracker/projections"
	"tracker/projections/geo"
)

// Kinds of places.
const (
	PlaceArea    = "area"    // a server area whose geometry holds the stay's centre
	PlaceRegion  = "region"  // one of the device's own regions (waypoint or transition)
	PlaceAddress = "address" // neither: where it is in words (Places.Address)
)

// Place says where a stay was.
type Place struct {
	Kind string `json:"kind"`
	Area string `json:"area,omitempty"` // area id, for PlaceArea and PlaceRegion
	Name string `json:"name"`
	// CC is the country code of an address, when the geocoder knew it.
	CC string `json:"cc,omitempty"`
}

// Address names a position in words, e.g. with the offline geocoder:
// ok false when it knows nothing there.
type Address func(p geo.Point) (name, cc string, ok bool)

// Places names stays: a server area containing the centre first, then
// one of the device's regions (its geometry, or a phone's enter
// transition during the stay), else an address.
type Places struct {
	// Areas are those that concern the device (server areas and its own
	// regions), as visible.Reader.AreasFor gives them.
	Areas []*projections.Area
	// Enters are the device's phone transitions into a region over the
	// range (AreaEvent with Origin phone, Event enter), oldest first.
	Enters []projections.AreaEvent
	// Address is asked when no area matches; nil leaves the place unset.
	Address Address
}

// Name sets the Place of each stay in segs.
func (p Places) Name(segs []Segment) {
	for i := range segs {
		if segs[i].Kind == KindStay && segs[i].Centre != nil {
			segs[i].Place = p.of(segs[i])
		}
	}
}

func (p Places) of(s Segment) *Place {
	var region *projections.Area
	for _, a := range p.Areas {
		if !a.Contains(*s.Centre) {
			continue
		}
		if a.Origin == projections.OriginServer {
			return &Place{Kind: PlaceArea, Area: a.ID, Name: a.Name}
		}
		if region == nil {
			region = a
		}
	}
	if region != nil {
		return &Place{Kind: PlaceRegion, Area: region.ID, Name: region.Name}
	}
	// A region the phone said it entered around the stay's start (a
	// region without geometry, or a transition from a beacon).
	slack := int64(DefaultMinStay.Seconds())
	for _, e := range p.Enters {
		if e.Origin == projections.OriginPhone && e.Event == "enter" && e.Tst >= s.Start.Unix()-slack && e.Tst <= s.End.Unix() {
			return &Place{Kind: PlaceRegion, Area: e.Area, Name: e.AreaName}
		}
	}
	if p.Address != nil {
		if name, cc, ok := p.Address(*s.Centre); ok {
			return &Place{Kind: PlaceAddress, Name: name, CC: cc}
		}
	}
	return nil
}
