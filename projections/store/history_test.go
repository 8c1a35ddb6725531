package store

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"tracker/projections"
)

func TestBlockStart(t *testing.T) {
	tests := []struct{ tst, off, want int64 }{
		{0, 0, 0},
		{blockSeconds - 1, 0, 0},
		{blockSeconds, 0, blockSeconds},
		{-1, 0, -blockSeconds},
		{-blockSeconds, 0, -blockSeconds},
		{-blockSeconds - 1, 0, -2 * blockSeconds},
		{1_718_000_123, 0, 1_718_000_123 - 1_718_000_123%blockSeconds},
		{math.MaxInt64, 0, math.MaxInt64 - math.MaxInt64%blockSeconds},
		{math.MinInt64, 0, math.MinInt64},
		{math.MinInt64 + 1, 0, math.MinInt64},
		{1000, 100, 700},
		{700, 100, 700},
		{699, 100, 100},
		{99, 100, -500},
		{-1, 599, -1},
		{math.MinInt64, 599, math.MinInt64},
	}
	for _, tt := range tests {
		if got := blockStart(tt.tst, tt.off); got != tt.want {
			t.Errorf("blockStart(%d, %d) = %d, want %d", tt.tst, tt.off, got, tt.want)
		}
	}
}

// historyDump returns the stored history blocks, key by key.
func historyDump(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	err := s.Dump(func(k, v []byte) error {
		if bytes.HasPrefix(k, []byte(prefHistory)) || bytes.HasPrefix(k, []byte(prefTail)) {
			fmt.Fprintf(&b, "%q=%x\n", k, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestHistoryBlocksOrderIndependent checks that the stored blocks depend
// only on the points, not on how they arrived: a rebuild's bulk write (in
// order, with late points, with late points merged early) and live saves
// (in chunks, one by one in reverse) give the same bytes.
func TestHistoryBlocksOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	devs := []projections.DeviceID{"alice/phone", "bob/phone", "bob/phone2"}
	var pts []projections.HistoryPoint
	seq := uint64(0)
	for i := 0; i < 3000; i++ {
		seq++
		d := devs[rng.IntN(len(devs))]
		tst := int64(1_718_000_000) + int64(i)*37 // about 30 hours, mostly in order
		if rng.IntN(20) == 0 {
			tst -= int64(rng.IntN(20 * 3600)) // a late fix, up to 20 hours old
		}
		h := projections.HistoryPoint{Device: d, Hash: uint32(rng.IntN(3)),
			Point: projections.Point{Seq: seq, Tst: tst, Lat: float64(i) / 100, Lon: 4, Batt: i % 100}}
		pts = append(pts, h)
		if rng.IntN(30) == 0 { // a redelivery: same tst and payload hash, later seq
			seq++
			again := h
			again.Point.Seq = seq
			pts = append(pts, again)
		}
	}
	st := projections.NewState()
	chunked := func(n int) func(s *Store) {
		return func(s *Store) {
			for i := 0; i < len(pts); i += n {
				ch := projections.NewChanges()
				ch.History = pts[i:min(i+n, len(pts))]
				if err := s.Save(st, ch, uint64(i+1)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	bulk := func(lateLimit int) func(s *Store) {
		return func(s *Store) {
			b := s.NewBulk()
			b.hist.lateLimit = lateLimit
			for i := 0; i < len(pts); i += 500 {
				ch := projections.NewChanges()
				ch.History = pts[i:min(i+500, len(pts))]
				if err := b.Add(ch); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Finish(st, uint64(len(pts))); err != nil {
				t.Fatal(err)
			}
		}
	}
	ways := []struct {
		name  string
		write func(s *Store)
	}{
		{"live, 100 at a time", nil}, // reopening the store, see below
		{"live, 250 at a time", chunked(250)},
		{"live, one by one in reverse", func(s *Store) {
			for i := len(pts) - 1; i >= 0; i-- {
				ch := projections.NewChanges()
				ch.History = pts[i : i+1]
				// Reverse order would let an older redelivery win: the
				// higher seq must win whatever the order.
				if err := s.Save(st, ch, uint64(i+1)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"rebuild", bulk(50_000)},
		{"rebuild, late points merged early", bulk(10)},
	}
	// What History must give back: per device, one point per (tst, hash),
	// the one with the highest seq, in (tst, hash) order.
	wantPoints := map[projections.DeviceID][]projections.Point{}
	for _, d := range devs {
		best := map[[2]int64]projections.HistoryPoint{}
		for _, h := range pts {
			k := [2]int64{h.Point.Tst, int64(h.Hash)}
			if h.Device == d && h.Point.Seq >= best[k].Point.Seq {
				best[k] = h
			}
		}
		var hs []projections.HistoryPoint
		for _, h := range best {
			hs = append(hs, h)
		}
		slices.SortFunc(hs, func(a, b projections.HistoryPoint) int {
			if c := cmp.Compare(a.Point.Tst, b.Point.Tst); c != 0 {
				return c
			}
			return cmp.Compare(a.Hash, b.Hash)
		})
		for _, h := range hs {
			wantPoints[d] = append(wantPoints[d], h.Point)
		}
	}
	var want string
	for i, w := range ways {
		s := openStore(t, t.TempDir())
		if w.name == "live, 100 at a time" {
			// Reopened every 700 points: the tails kept in memory must be
			// read back from the keys.
			dir := t.TempDir()
			for i := 0; i < len(pts); i += 700 {
				r, err := Open(dir, nil)
				if err != nil {
					t.Fatal(err)
				}
				for j := i; j < min(i+700, len(pts)); j += 100 {
					ch := projections.NewChanges()
					ch.History = pts[j:min(j+100, i+700, len(pts))]
					if err := r.Save(st, ch, uint64(j+1)); err != nil {
						t.Fatal(err)
					}
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
			s = openStore(t, dir)
		} else {
			w.write(s)
		}
		for _, d := range devs {
			var got []projections.Point
			if err := s.History(d, math.MinInt64, math.MaxInt64, func(p projections.Point) error { got = append(got, p); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, wantPoints[d]) {
				t.Errorf("%s: History(%s) gives %d points, want %d (or they differ)", w.name, d, len(got), len(wantPoints[d]))
			}
		}
		got := historyDump(t, s)
		if i == 0 {
			want = got
			if n := strings.Count(got, "h/"); n < 40 {
				t.Fatalf("only %d blocks: the test should span many blocks", n)
			}
			if !strings.Contains(got, "ht/") {
				t.Fatal("no tail keys: the newest block of each device should be a tail")
			}
			continue
		}
		if got != want {
			t.Errorf("%s: history blocks differ from %s", w.name, ways[0].name)
		}
	}
}

// TestSaveHistoryBiggerThanATransaction saves, in one Save, more history
// than one Badger transaction holds (many devices each sealing a tail and
// getting late fixes); the store splits it and nothing is lost.
func TestSaveHistoryBiggerThanATransaction(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := projections.NewState()
	const devices, perDevice = 300, 120
	save := func(first int64, seq uint64) {
		ch := projections.NewChanges()
		for d := 0; d < devices; d++ {
			dev := projections.DeviceID(fmt.Sprintf("user%03d/phone", d))
			for i := 0; i < perDevice; i++ {
				seq++
				ch.History = append(ch.History, projections.HistoryPoint{Device: dev, Hash: uint32(i),
					Point: projections.Point{Seq: seq, Tst: first + int64(i)*30, Lat: float64(d) / 10, Lon: float64(i) / 100, Conn: "w", Trigger: "p"}})
			}
		}
		if err := s.Save(st, ch, seq); err != nil {
			t.Fatalf("save: %v", err)
		}
	}
	save(1_718_000_000, 0)                      // an hour each: tails, then sealed blocks
	save(1_718_000_000+3600, devices*perDevice) // the next hour seals every tail at once
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	for _, d := range []int{0, devices / 2, devices - 1} {
		dev := projections.DeviceID(fmt.Sprintf("user%03d/phone", d))
		n := 0
		if err := s.History(dev, math.MinInt64, math.MaxInt64, func(projections.Point) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 2*perDevice {
			t.Errorf("%s: %d points, want %d", dev, n, 2*perDevice)
		}
	}
	if _, cp, err := s.Meta(); err != nil || cp != 2*devices*perDevice {
		t.Errorf("checkpoint %d (%v), want %d", cp, err, 2*devices*perDevice)
	}
}
