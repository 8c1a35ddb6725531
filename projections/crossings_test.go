package projections_test

import (
	"fmt"
	"slices"
	"testing"

	"tracker/projections"
)

func TestMergeCrossings(t *testing.T) {
	const anna, ben = projections.DeviceID("anna/phone"), projections.DeviceID("ben/phone")
	e := func(seq uint64, dev projections.DeviceID, area, name, event, origin string, tst int64) projections.AreaEvent {
		return projections.AreaEvent{Seq: seq, Tst: tst, Device: dev, Area: area, AreaName: name, Event: event, Origin: origin}
	}
	const phone, geo = projections.OriginPhone, projections.OriginGeometry
	// describe renders a crossing as "device event place @tst origins [!contradicted] [?disputed]".
	describe := func(cs []projections.Crossing) []string {
		var out []string
		for _, c := range cs {
			s := fmt.Sprintf("%s %s %s @%d", c.Device, c.Event, c.PlaceKey, c.Tst)
			if c.Phone {
				s += " phone"
			}
			if c.Geometry {
				s += " geometry"
			}
			if c.Contradicted {
				s += " !"
			}
			if c.Disputed {
				s += " ?"
			}
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []projections.AreaEvent
		want []string
	}{
		{"phone and position agree: one crossing", []projections.AreaEvent{
			e(1, anna, "p:anna/phone:rid:h", "Home", "enter", geo, 1000),
			e(2, anna, "p:anna/phone:rid:h", "Home", "enter", phone, 1030),
		}, []string{"anna/phone enter home @1000 phone geometry"}},
		{"phone report first, in any arrival order", []projections.AreaEvent{
			e(9, anna, "p:anna/phone:rid:h", "Home", "enter", geo, 1200),
			e(2, anna, "p:anna/phone:rid:h", "Home", "enter", phone, 1000),
		}, []string{"anna/phone enter home @1000 phone geometry"}},
		{"the server's Home and the phone's home are one place", []projections.AreaEvent{
			e(1, anna, "s:home", "Home", "enter", geo, 1000),
			e(2, anna, "p:anna/phone:rid:h", " home ", "enter", geo, 1000),
			e(3, anna, "p:anna/phone:rid:h", " home ", "enter", phone, 1010),
		}, []string{"anna/phone enter home @1000 phone geometry"}},
		{"too far apart: two crossings", []projections.AreaEvent{
			e(1, anna, "s:home", "Home", "enter", geo, 1000),
			e(2, anna, "s:home", "Home", "leave", geo, 2000),
			e(3, anna, "s:home", "Home", "enter", geo, 2000+projections.CrossingWindow+1),
		}, []string{"anna/phone enter home @1000 geometry", "anna/phone leave home @2000 geometry",
			fmt.Sprintf("anna/phone enter home @%d geometry", 2000+projections.CrossingWindow+1)}},
		{"the same origin twice is two crossings", []projections.AreaEvent{
			e(1, anna, "s:home", "Home", "enter", geo, 1000),
			e(2, anna, "s:home", "Home", "leave", geo, 1100),
			e(3, anna, "s:home", "Home", "enter", geo, 1200),
		}, []string{"anna/phone enter home @1000 geometry", "anna/phone leave home @1100 geometry", "anna/phone enter home @1200 geometry"}},
		{"other devices and places stay apart", []projections.AreaEvent{
			e(1, anna, "s:home", "Home", "enter", geo, 1000),
			e(2, ben, "p:ben/phone:rid:h", "Home", "enter", phone, 1000),
			e(3, anna, "s:gym", "Gym", "leave", geo, 1000),
		}, []string{"anna/phone enter home @1000 geometry", "ben/phone enter home @1000 phone", "anna/phone leave gym @1000 geometry"}},
		{"phone says arrived, position says left: contradicted", []projections.AreaEvent{
			e(1, anna, "p:anna/phone:rid:h", "Home", "enter", phone, 1000),
			e(2, anna, "p:anna/phone:rid:h", "Home", "leave", geo, 1060),
		}, []string{"anna/phone enter home @1000 phone !", "anna/phone leave home @1060 geometry !"}},
		{"phone says left while the position stays inside: disputed", []projections.AreaEvent{
			e(1, anna, "p:anna/phone:rid:h", "Home", "enter", geo, 100),
			e(2, anna, "p:anna/phone:rid:h", "Home", "enter", phone, 110),
			e(3, anna, "p:anna/phone:rid:h", "Home", "leave", phone, 5000),
		}, []string{"anna/phone enter home @100 phone geometry", "anna/phone leave home @5000 phone ?"}},
		{"an origin that never spoke disputes nothing", []projections.AreaEvent{
			e(1, anna, "p:anna/phone:rid:h", "Home", "enter", geo, 100),
			e(2, anna, "p:anna/phone:rid:h", "Home", "leave", geo, 5000),
		}, []string{"anna/phone enter home @100 geometry", "anna/phone leave home @5000 geometry"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(projections.MergeCrossings(tc.in)); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
