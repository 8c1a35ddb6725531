package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/geo"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestTstKeyOrder(t *testing.T) {
	// Ascending Unix times, negative ones included: their keys must sort
	// the same way as bytes.
	tsts := []int64{math.MinInt64, -1 << 40, -86400, -1, 0, 1, 86400, 1_718_000_000, 1 << 40, math.MaxInt64}
	for i := 1; i < len(tsts); i++ {
		a, b := tsts[i-1], tsts[i]
		t.Run(fmt.Sprintf("%d<%d", a, b), func(t *testing.T) {
			ka, kb := blockKey("d", a), blockKey("d", b)
			if bytes.Compare(ka, kb) >= 0 {
				t.Errorf("history key of %d (%x) does not sort before %d (%x)", a, ka, b, kb)
			}
			ea, eb := eventKey(prefDevEvent, "d", a, math.MaxUint64, "zz"), eventKey(prefDevEvent, "d", b, 0, "")
			if bytes.Compare(ea, eb) >= 0 {
				t.Errorf("event key of %d does not sort before %d", a, b)
			}
		})
	}
}

func TestPointRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    projections.Point
	}{
		{"zero", projections.Point{}},
		{"typical", projections.Point{Seq: 42, Tst: 1_718_000_000, Lat: 52.52009, Lon: 13.40495, Acc: 12, Alt: 41, Vel: 4, Cog: 270, Batt: 81, BS: 1, Conn: "w", Trigger: "u"}},
		{"negatives and extremes", projections.Point{Seq: math.MaxUint64, Tst: -1, Lat: -90, Lon: -180, Acc: -1, Alt: -430, Vel: -1, Cog: -1, Batt: math.MaxInt32, BS: math.MinInt32}},
		{"before 1970", projections.Point{Tst: math.MinInt64, Lat: math.SmallestNonzeroFloat64, Lon: 180}},
		{"odd strings", projections.Point{Seq: 1, Tst: 1, Conn: "<b>wifi</b>", Trigger: "ünïcødé " + string(make([]byte, 300))}},
		{"numbers not sent", projections.Point{Seq: 2, Tst: 2, Acc: 5, Absent: owntracks.FieldAlt | owntracks.FieldVel | owntracks.FieldBatt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodePoint(tt.p)
			got, err := decodePoint(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got != tt.p {
				t.Errorf("round trip\n got %+v\nwant %+v", got, tt.p)
			}
			// Every truncation is refused, never misread.
			for n := range len(b) {
				if p, err := decodePoint(b[:n]); !errors.Is(err, errBadPoint) {
					t.Fatalf("decode of the first %d of %d bytes = %+v, %v; want errBadPoint", n, len(b), p, err)
				}
			}
		})
	}
}

// history builds a change set with one point per tst; the hash tells apart
// points with the same tst.
func history(dev projections.DeviceID, tsts ...int64) *projections.Changes {
	ch := projections.NewChanges()
	for i, tst := range tsts {
		ch.History = append(ch.History, projections.HistoryPoint{
			Device: dev,
			Point:  projections.Point{Seq: uint64(i + 1), Tst: tst, Lat: float64(i), Lon: float64(tst % 180)},
			Hash:   uint32(i),
		})
	}
	return ch
}

func TestHistory(t *testing.T) {
	s := openStore(t, t.TempDir())
	st := projections.NewState()
	// Saved out of order, in two transactions; one tst twice (other
	// payloads), and neighbours whose ids share a prefix.
	if err := s.Save(st, history("alice/phone", 10, -5, 0, 5, -1, 5, 100), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(st, history("alice/phone", 9), 8); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(st, history("alice/phone2", 1, 2, 3), 9); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(st, history("alice/phon", 1, 2, 3), 10); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		dev      projections.DeviceID
		from, to int64
		want     []int64
	}{
		{"everything, in tst order", "alice/phone", math.MinInt64, math.MaxInt64, []int64{-5, -1, 0, 5, 5, 9, 10, 100}},
		{"from is inclusive, to exclusive", "alice/phone", 5, 10, []int64{5, 5, 9}},
		{"to equal to a point excludes it", "alice/phone", -5, 0, []int64{-5, -1}},
		{"negative to zero", "alice/phone", -100, 1, []int64{-5, -1, 0}},
		{"one second", "alice/phone", 100, 101, []int64{100}},
		{"empty range", "alice/phone", 5, 5, nil},
		{"inverted range", "alice/phone", 10, 5, nil},
		{"after the last point", "alice/phone", 101, 1 << 40, nil},
		{"a device whose id extends another's", "alice/phone2", 0, 100, []int64{1, 2, 3}},
		{"a device whose id is a prefix of another's", "alice/phon", 0, 100, []int64{1, 2, 3}},
		{"unknown device", "bob/phone", math.MinInt64, math.MaxInt64, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			err := s.History(tt.dev, tt.from, tt.to, func(p projections.Point) error {
				got = append(got, p.Tst)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("History(%s, %d, %d) = %v, want %v", tt.dev, tt.from, tt.to, got, tt.want)
			}
		})
	}
	t.Run("points come back whole", func(t *testing.T) {
		var got []projections.Point
		_ = s.History("alice/phone", 10, 11, func(p projections.Point) error { got = append(got, p); return nil })
		want := projections.Point{Seq: 1, Tst: 10, Lat: 0, Lon: 10}
		if len(got) != 1 || got[0] != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
	t.Run("the callback's error stops the read", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := s.History("alice/phone", math.MinInt64, math.MaxInt64, func(projections.Point) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Errorf("err %v after %d points, want stop after 1", err, n)
		}
	})
	t.Run("the same point saved again is one point", func(t *testing.T) {
		if err := s.Save(st, history("alice/phone", 10), 11); err != nil {
			t.Fatal(err)
		}
		n := 0
		_ = s.History("alice/phone", 10, 11, func(projections.Point) error { n++; return nil })
		if n != 1 {
			t.Errorf("%d points at tst 10, want 1", n)
		}
	})
}

func areaEvent(seq uint64, tst int64, dev projections.DeviceID, area, event, origin string) projections.AreaEvent {
	return projections.AreaEvent{Seq: seq, Tst: tst, Device: dev, Area: area, AreaName: area, Event: event, Origin: origin}
}

func TestAreaEvents(t *testing.T) {
	s := openStore(t, t.TempDir())
	ch := projections.NewChanges()
	ch.AreaEvents = []projections.AreaEvent{
		areaEvent(1, 100, "alice/phone", "s:gym", "enter", projections.OriginGeometry),
		areaEvent(2, 200, "alice/phone", "s:gym", "leave", projections.OriginGeometry),
		areaEvent(3, 150, "bob/phone", "s:gym", "enter", projections.OriginGeometry),
		areaEvent(4, -50, "alice/phone", "s:park", "enter", projections.OriginGeometry),
		// One fix that both the phone and the geometry report on: same
		// device, area, tst and seq, two origins; both are kept.
		areaEvent(5, 300, "alice/phone", "p:alice/phone:rid:h1", "enter", projections.OriginPhone),
		areaEvent(5, 300, "alice/phone", "p:alice/phone:rid:h1", "enter", projections.OriginGeometry),
		// A late one: tst before the others, seq after.
		{Seq: 6, Tst: 90, Device: "alice/phone", Area: "s:gym", AreaName: "s:gym", Event: "leave", Origin: projections.OriginPhone, Late: true},
	}
	if err := s.Save(projections.NewState(), ch, 6); err != nil {
		t.Fatal(err)
	}
	render := func(e projections.AreaEvent) string {
		s := fmt.Sprintf("%d %s %s %s %s", e.Tst, e.Device, e.Area, e.Event, e.Origin)
		if e.Late {
			s += " late"
		}
		return s
	}
	tests := []struct {
		name     string
		read     func(from, to int64, fn func(projections.AreaEvent) error) error
		from, to int64
		want     []string
	}{
		{"a device's events, in tst order", func(f, to int64, fn func(projections.AreaEvent) error) error {
			return s.DeviceEvents("alice/phone", f, to, fn)
		}, math.MinInt64, math.MaxInt64, []string{
			"-50 alice/phone s:park enter geometry",
			"90 alice/phone s:gym leave phone late",
			"100 alice/phone s:gym enter geometry",
			"200 alice/phone s:gym leave geometry",
			"300 alice/phone p:alice/phone:rid:h1 enter geometry",
			"300 alice/phone p:alice/phone:rid:h1 enter phone",
		}},
		{"a device's events, from inclusive, to exclusive", func(f, to int64, fn func(projections.AreaEvent) error) error {
			return s.DeviceEvents("alice/phone", f, to, fn)
		}, 100, 300, []string{
			"100 alice/phone s:gym enter geometry",
			"200 alice/phone s:gym leave geometry",
		}},
		{"an area's events, every device", func(f, to int64, fn func(projections.AreaEvent) error) error {
			return s.AreaEvents("s:gym", f, to, fn)
		}, 0, 1000, []string{
			"90 alice/phone s:gym leave phone late",
			"100 alice/phone s:gym enter geometry",
			"150 bob/phone s:gym enter geometry",
			"200 alice/phone s:gym leave geometry",
		}},
		{"an area's events, negative range", func(f, to int64, fn func(projections.AreaEvent) error) error {
			return s.AreaEvents("s:park", f, to, fn)
		}, -50, -49, []string{"-50 alice/phone s:park enter geometry"}},
		{"an area's events, to is exclusive", func(f, to int64, fn func(projections.AreaEvent) error) error {
			return s.AreaEvents("s:park", f, to, fn)
		}, -100, -50, nil},
		{"both origins of one fix", func(f, to int64, fn func(projections.AreaEvent) error) error {
			return s.AreaEvents("p:alice/phone:rid:h1", f, to, fn)
		}, 300, 301, []string{
			"300 alice/phone p:alice/phone:rid:h1 enter geometry",
			"300 alice/phone p:alice/phone:rid:h1 enter phone",
		}},
		{"an area whose id extends another's", func(f, to int64, fn func(projections.AreaEvent) error) error {
			return s.AreaEvents("s:gy", f, to, fn)
		}, math.MinInt64, math.MaxInt64, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			if err := tt.read(tt.from, tt.to, func(e projections.AreaEvent) error { got = append(got, render(e)); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n %q\nwant\n %q", got, tt.want)
			}
		})
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if schema, cp, err := s.Meta(); err != nil || schema != 0 || cp != 0 {
		t.Fatalf("empty store Meta = %d, %d, %v; want 0, 0", schema, cp, err)
	}
	st := projections.NewState()
	recv := time.Unix(1_718_000_005, 0).UTC()
	centre := geo.Point{Lat: 51.5, Lon: -0.12}
	st.Friends["alice/phone"] = &projections.Friend{ID: "alice/phone", User: "alice", Device: "phone", Name: "Anna", TID: "am",
		FirstSeen: recv, LastSeen: recv, Online: true, PresenceAt: recv,
		Location: &projections.Point{Seq: 3, Tst: 1_718_000_000, Lat: 51.5, Lon: -0.12, Batt: 50, Absent: owntracks.FieldVel | owntracks.FieldAlt}, InRegions: []string{"Home"}}
	st.Areas["s:gym"] = &projections.Area{ID: "s:gym", Name: "Gym", Origin: projections.OriginServer, Center: &centre, Radius: 75, Defined: recv, Seq: 1}
	st.Areas["s:park"] = &projections.Area{ID: "s:park", Name: "Park", Origin: projections.OriginServer, Defined: recv, Seq: 2,
		Polygon: []geo.Point{{Lat: 0, Lon: 0}, {Lat: 0, Lon: 1}, {Lat: 1, Lon: 1}}}
	mk := projections.MemberKey{Device: "alice/phone", Area: "s:gym", Origin: projections.OriginGeometry}
	st.Members[mk] = &projections.Member{Device: mk.Device, Area: mk.Area, Origin: mk.Origin, In: true, Since: 1_718_000_000, AsOf: 1_718_000_000, Seq: 3}
	ch := projections.NewChanges()
	ch.Friends["alice/phone"] = true
	ch.Areas["s:gym"], ch.Areas["s:park"] = true, true
	ch.Members[mk] = true
	if err := s.Save(st, ch, 3); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, s *Store, want *projections.State, wantCP uint64) {
		t.Helper()
		if schema, cp, err := s.Meta(); err != nil || schema != projections.SchemaVersion || cp != wantCP {
			t.Errorf("Meta = %d, %d, %v; want %d, %d", schema, cp, err, projections.SchemaVersion, wantCP)
		}
		got, err := s.Load()
		if err != nil {
			t.Fatal(err)
		}
		gj, _ := json.Marshal([]any{got.Friends, got.Areas, got.Members, got.SortedAreas()})
		wj, _ := json.Marshal([]any{want.Friends, want.Areas, want.Members, want.SortedAreas()})
		if !bytes.Equal(gj, wj) {
			t.Errorf("Load =\n %s\nwant\n %s", gj, wj)
		}
		// The API's JSON leaves out which numbers were not sent; the store keeps it.
		for id, f := range want.Friends {
			if g := got.Friends[id]; f.Location != nil && (g == nil || g.Location == nil || g.Location.Absent != f.Location.Absent) {
				t.Errorf("friend %s: location's Absent not kept: got %+v, want %v", id, g, f.Location.Absent)
			}
		}
	}
	check(t, s, st, 3)

	// Removing an area and its member deletes their keys.
	delete(st.Areas, "s:gym")
	delete(st.Members, mk)
	ch = projections.NewChanges()
	ch.Areas["s:gym"] = true
	ch.Members[mk] = true
	if err := s.Save(st, ch, 4); err != nil {
		t.Fatal(err)
	}
	check(t, s, st, 4)

	t.Run("a second open of the same directory is refused", func(t *testing.T) {
		s2, err := Open(dir, nil)
		if err == nil {
			_ = s2.Close()
		}
		if !errors.Is(err, ErrLocked) {
			t.Errorf("second Open: %v, want ErrLocked", err)
		}
	})
}
