package visits_test

import (
	"testing"
	"time"

	"tracker/projections"
	"tracker/projections/geo"
	"tracker/projections/visits"
	"tracker/projections/visits/visitstest"
)

func TestPlacesName(t *testing.T) {
	dev := projections.MakeDeviceID("ann", "phone")
	office := visitstest.Office
	home := visitstest.Home
	server := &projections.Area{ID: "s:office", Name: "Office", Origin: projections.OriginServer, Center: &office, Radius: visitstest.OfficeRadius}
	region := &projections.Area{ID: "p:ann/phone:rid:h", Name: "Home (phone)", Origin: projections.OriginPhone, Owner: dev, Center: &home, Radius: 80}
	overlap := &projections.Area{ID: "p:ann/phone:rid:o", Name: "Desk", Origin: projections.OriginPhone, Owner: dev, Center: &office, Radius: 50}
	cafe := visitstest.Cafe
	elsewhere := visitstest.Offset(home, -5000, 0)
	start := day0.Add(9 * time.Hour)
	stay := func(at geo.Point) visits.Segment {
		return visits.Segment{Kind: visits.KindStay, Start: start, End: start.Add(time.Hour), Centre: &at}
	}
	address := func(p geo.Point) (string, string, bool) {
		if geo.Distance(p, cafe) < 1000 {
			return "Schaerbeek", "BE", true
		}
		return "", "", false
	}
	tests := []struct {
		name   string
		places visits.Places
		at     geo.Point
		want   *visits.Place
	}{
		{"a server area containing the centre, before the phone's own region", visits.Places{Areas: []*projections.Area{overlap, server}}, office, &visits.Place{Kind: visits.PlaceArea, Area: "s:office", Name: "Office"}},
		{"else the phone's region", visits.Places{Areas: []*projections.Area{server, region}}, home, &visits.Place{Kind: visits.PlaceRegion, Area: region.ID, Name: "Home (phone)"}},
		{"else a region the phone said it entered during the stay", visits.Places{Enters: []projections.AreaEvent{
			{Tst: start.Add(-time.Hour).Unix(), Area: "p:x:early", AreaName: "Too early", Event: "enter", Origin: projections.OriginPhone},
			{Tst: start.Add(time.Minute).Unix(), Area: "s:office", AreaName: "Geometry", Event: "enter", Origin: projections.OriginGeometry},
			{Tst: start.Add(2 * time.Minute).Unix(), Area: "p:ann/phone:rid:b", AreaName: "Beacon", Event: "enter", Origin: projections.OriginPhone},
		}}, elsewhere, &visits.Place{Kind: visits.PlaceRegion, Area: "p:ann/phone:rid:b", Name: "Beacon"}},
		{"else an address", visits.Places{Areas: []*projections.Area{server}, Address: address}, cafe, &visits.Place{Kind: visits.PlaceAddress, Name: "Schaerbeek", CC: "BE"}},
		{"nothing known", visits.Places{Areas: []*projections.Area{server}, Address: address}, elsewhere, nil},
		{"no geocoder", visits.Places{}, cafe, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			segs := []visits.Segment{stay(tt.at), {Kind: visits.KindJourney, Start: start, End: start.Add(time.Minute)}}
			tt.places.Name(segs)
			got := segs[0].Place
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("place = %+v, want %+v", got, tt.want)
			}
			if segs[1].Place != nil {
				t.Errorf("a journey got a place: %+v", segs[1].Place)
			}
		})
	}
}

// Three days at the same office and café: the office (covered by a server
// area) is no suggestion, the café (three stays) and home (six) are; a
// place seen twice is not.
func TestSuggestions(t *testing.T) {
	ann, ben := projections.MakeDeviceID("ann", "phone"), projections.MakeDeviceID("ben", "phone")
	office := visitstest.Office
	officeArea := &projections.Area{ID: "s:office", Name: "Office", Origin: projections.OriginServer, Center: &office, Radius: visitstest.OfficeRadius}
	var s visits.Suggester
	for i := range 3 {
		day := visitstest.SyntheticDay(day0.AddDate(0, 0, i), uint64(i))
		s.Add(ann, visits.Detect(visits.Config{}, day.Points))
	}
	twice := visitstest.Offset(visitstest.Home, 3000, 3000)
	for i := range 2 {
		at := day0.AddDate(0, 0, i).Add(20 * time.Hour)
		s.Add(ben, []visits.Segment{{Kind: visits.KindStay, Start: at, End: at.Add(time.Hour), Centre: &twice}})
	}
	got := s.Suggestions([]*projections.Area{officeArea})
	if len(got) != 2 {
		t.Fatalf("suggestions: %+v, want home and the café", got)
	}
	home, cafe := got[0], got[1]
	if d := geo.Distance(home.Centre, visitstest.Home); home.Stays != 6 || d > 20 {
		t.Errorf("first suggestion: %+v (%.0f m from home), want home with 6 stays", home, d)
	}
	if d := geo.Distance(cafe.Centre, visitstest.Cafe); cafe.Stays != 3 || d > 20 || cafe.Radius < 50 || cafe.Radius > 100 {
		t.Errorf("second suggestion: %+v (%.0f m from the café), want the café with 3 stays", cafe, d)
	}
	if len(home.Devices) != 1 || home.Devices[0] != ann {
		t.Errorf("home devices = %v", home.Devices)
	}
	if h := home.Seconds / 3600; h < 3*13.5 || h > 3*14.5 { // 08:10 + 6 h a day
		t.Errorf("time at home: %.1f h over three days", h)
	}
	// Once an area covers the café, it is no longer suggested.
	cafeArea := &projections.Area{ID: "s:cafe", Origin: projections.OriginServer, Center: &cafe.Centre, Radius: cafe.Radius}
	if got := s.Suggestions([]*projections.Area{officeArea, cafeArea}); len(got) != 1 {
		t.Errorf("with the café drawn: %+v", got)
	}
}
