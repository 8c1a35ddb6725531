package projections

import (
	"cmp"
	"encoding/binary"
	"hash/fnv"
	"maps"
	"slices"
	"time"
)

// DaySpan is one day of history in some time zone: fixes with
// From <= tst < To (Unix seconds). A day is 23 to 25 hours where the
// zone changes its clocks.
type DaySpan struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// DaySpans cuts [from, to) into the days of from's zone; the first and
// last may be cut short by from and to.
func DaySpans(from, to time.Time) []DaySpan {
	var out []DaySpan
	y, m, d := from.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, from.Location())
	for day.Before(to) {
		next := day.AddDate(0, 0, 1)
		sp := DaySpan{From: max(day.Unix(), from.Unix()), To: min(next.Unix(), to.Unix())}
		if sp.From < sp.To {
			out = append(out, sp)
		}
		day = next
	}
	return out
}

// Stamper returns a function fingerprinting what of the filter applies
// to a span's fixes: the points hidden by seq whose tst falls in it, the
// hidden ranges that overlap it, and the accuracy threshold in force. A
// summary of those fixes made under another stamp is out of date. It
// reads only the rules, never the points.
func (f Filter) Stamper() func(DaySpan) uint64 {
	var pts []HiddenPoint
	var rs []HiddenRange
	if f.dev != nil {
		pts = slices.SortedFunc(maps.Values(f.dev.Points), func(a, b HiddenPoint) int {
			return cmp.Or(cmp.Compare(a.Tst, b.Tst), cmp.Compare(a.Seq, b.Seq))
		})
		rs = slices.Clone(f.dev.Ranges)
		slices.SortFunc(rs, func(a, b HiddenRange) int { return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To)) })
	}
	maxAcc := -1
	if t := f.threshold(); t != nil {
		maxAcc = t.Max
	}
	return func(sp DaySpan) uint64 {
		h := fnv.New64a()
		var b [8]byte
		put := func(v uint64) {
			binary.BigEndian.PutUint64(b[:], v)
			_, _ = h.Write(b[:])
		}
		i, _ := slices.BinarySearchFunc(pts, sp.From, func(p HiddenPoint, t int64) int { return cmp.Compare(p.Tst, t) })
		for ; i < len(pts) && pts[i].Tst < sp.To; i++ {
			put(1)
			put(pts[i].Seq)
		}
		for _, r := range rs {
			if r.From >= sp.To {
				break
			}
			if r.To >= sp.From {
				put(2)
				put(uint64(r.From))
				put(uint64(r.To))
			}
		}
		put(3)
		put(uint64(int64(maxAcc)))
		return h.Sum64()
	}
}

// DaysQuery asks for one device's summaries of some days (the stats).
type DaysQuery struct {
	Zone  string    // the spans' time zone (an IANA name); summaries are kept per zone
	Spans []DaySpan // ordered, not overlapping
	// Version names what Make makes: summaries kept from another version
	// are made again.
	Version uint64
	// Make summarises a span from its points in use, in tst order.
	Make func(span DaySpan, pts []Point) ([]byte, error)
}
