package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"

	"github.com/dgraph-io/badger/v4"

	"tracker/projections"
)

// Day summaries (the stats) are a cache beside the projections: a
// summary of one device's day is a function of the day's points and the
// corrections that apply to them, made on first read and kept until
// either changes. They are not projection state: a rebuild starts
// without them (and makes the same ones again when asked), and Dump
// leaves them out.
//
// How a change of history is noticed without reading it: a day that
// overlaps the device's current block (its tail) is never cached, since
// live fixes land there without a word. Every other change of a day's
// points is a late fix merged into a sealed block, and that write also
// sets the day's mark (one small key per UTC day and save) to the newest
// seq it added; seqs only grow, so a summary made before holds another
// mark. Live ingest pays nothing (its fixes go to the tail); a late or
// imported fix pays one key per device and UTC day per save. Erasure
// rebuilds the projections, so it starts from no cache at all.
const (
	prefDayMark = "sm/" // sm/<device>\0<UTC day:8>                   -> seq:8 of the newest late fix merged into it
	prefDayStat = "sd/" // sd/<device>\0<zone>\0<day start:8>         -> stamp:8 then the summary
)

const daySeconds = 86400

// utcDay is the day number of tst (floor, also before 1970).
func utcDay(tst int64) int64 {
	d := tst / daySeconds
	if tst%daySeconds < 0 {
		d--
	}
	return d
}

func dayMarkKey(dev projections.DeviceID, day int64) []byte {
	k := make([]byte, 0, len(prefDayMark)+len(dev)+1+8)
	k = append(k, prefDayMark...)
	k = append(k, dev...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, tstKey(day))
}

func dayStatPrefix(dev projections.DeviceID, zone string) []byte {
	k := make([]byte, 0, len(prefDayStat)+len(dev)+len(zone)+2+8)
	k = append(k, prefDayStat...)
	k = append(k, dev...)
	k = append(k, 0)
	k = append(k, zone...)
	return append(k, 0)
}

func dayStatKey(prefix []byte, start int64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), tstKey(start))
}

// lateMarks are the mark writes for late points (those merged into
// sealed blocks): per UTC day, the newest seq among them.
func lateMarks(dev projections.DeviceID, late []projections.HistoryPoint) []histOp {
	if len(late) == 0 {
		return nil
	}
	newest := map[int64]uint64{}
	var days []int64
	for _, h := range late {
		d := utcDay(h.Point.Tst)
		if s, ok := newest[d]; !ok {
			days = append(days, d)
			newest[d] = h.Point.Seq
		} else if h.Point.Seq > s {
			newest[d] = h.Point.Seq
		}
	}
	ops := make([]histOp, 0, len(days))
	for _, d := range days {
		ops = append(ops, histOp{k: dayMarkKey(dev, d), v: be64(newest[d])})
	}
	return ops
}

// DaysQuery asks for a device's day summaries.
type DaysQuery struct {
	Zone  string                           // the spans' zone; part of the cache key
	Spans []projections.DaySpan            // ordered, not overlapping
	Stamp func(projections.DaySpan) uint64 // what else the summary depends on (corrections, version)
	// Make summarises one span from its points (every point in it; the
	// caller filters).
	Make func(span projections.DaySpan, pts []projections.Point) ([]byte, error)
}

// Days calls got with each span's summary, in order: the cached one when
// its stamp still holds, else one made by q.Make from the span's points
// (read in the same snapshot as the marks) and cached unless the span
// reaches the device's current block.
func (s *Store) Days(dev projections.DeviceID, q DaysQuery, got func(i int, summary []byte) error) error {
	if len(q.Spans) == 0 {
		return nil
	}
	type write struct{ k, v []byte }
	var writes []write
	err := s.db.View(func(txn *badger.Txn) error {
		cacheFrom, err := tailBlockStart(txn, dev)
		if err != nil {
			return err
		}
		first, last := q.Spans[0].From, q.Spans[len(q.Spans)-1].To
		marks, err := readMarks(txn, dev, utcDay(first), utcDay(last-1))
		if err != nil {
			return err
		}
		prefix := dayStatPrefix(dev, q.Zone)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 128})
		defer it.Close()
		it.Seek(dayStatKey(prefix, first))
		var pts []projections.Point
		for i, sp := range q.Spans {
			want := spanStamp(q.Stamp(sp), marks, sp)
			key := dayStatKey(prefix, sp.From)
			for it.Valid() && string(it.Item().Key()) < string(key) {
				it.Next()
			}
			hit := false
			if it.Valid() && string(it.Item().Key()) == string(key) {
				err := it.Item().Value(func(v []byte) error {
					if len(v) < 8 || binary.BigEndian.Uint64(v) != want {
						return nil
					}
					hit = true
					return got(i, v[8:])
				})
				if err != nil {
					return err
				}
			}
			if hit {
				continue
			}
			pts = pts[:0]
			if err := readHistory(txn, dev, sp.From, sp.To, func(p projections.Point) error {
				pts = append(pts, p)
				return nil
			}); err != nil {
				return err
			}
			v, err := q.Make(sp, pts)
			if err != nil {
				return err
			}
			if sp.To <= cacheFrom {
				writes = append(writes, write{key, binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(v)), want)})
				writes[len(writes)-1].v = append(writes[len(writes)-1].v, v...)
			}
			if err := got(i, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(writes) == 0 {
		return err
	}
	// A cache write may lose to a change made since the snapshot: the
	// change set a mark the stamp does not hold, so it is never used.
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, w := range writes {
		if err := wb.Set(w.k, w.v); err != nil {
			return fmt.Errorf("store: cache day summaries: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("store: cache day summaries: %w", err)
	}
	return nil
}

// tailBlockStart is where dev's current block starts: days ending by then
// may be cached. With no tail (no history) nothing may.
func tailBlockStart(txn *badger.Txn, dev projections.DeviceID) (int64, error) {
	prefix := append([]byte(prefTail+string(dev)), 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	it.Rewind()
	if !it.Valid() {
		return math.MinInt64, nil
	}
	k := it.Item().Key()
	if len(k) != len(prefix)+12 {
		return 0, fmt.Errorf("store: history tail key %q: bad length", k)
	}
	tst := int64(binary.BigEndian.Uint64(k[len(prefix):]) ^ (1 << 63))
	return blockStart(tst, blockOffset(dev)), nil
}

// readMarks reads dev's day marks of UTC days from..to.
func readMarks(txn *badger.Txn, dev projections.DeviceID, from, to int64) (map[int64]uint64, error) {
	marks := map[int64]uint64{}
	prefix := append([]byte(prefDayMark+string(dev)), 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	end := dayMarkKey(dev, to)
	for it.Seek(dayMarkKey(dev, from)); it.Valid(); it.Next() {
		k := it.Item().Key()
		if string(k) > string(end) {
			break
		}
		if len(k) != len(prefix)+8 {
			return nil, fmt.Errorf("store: day mark key %q: bad length", k)
		}
		day := int64(binary.BigEndian.Uint64(k[len(prefix):]) ^ (1 << 63))
		err := it.Item().Value(func(v []byte) error {
			if len(v) != 8 {
				return errors.New("bad value")
			}
			marks[day] = binary.BigEndian.Uint64(v)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: day mark %q: %w", k, err)
		}
	}
	return marks, nil
}

// spanStamp combines the caller's stamp with the marks of the UTC days
// the span overlaps.
func spanStamp(stamp uint64, marks map[int64]uint64, sp projections.DaySpan) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], stamp)
	_, _ = h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(sp.To)) // the key holds From; a zone's day may end differently
	_, _ = h.Write(b[:])
	for d := utcDay(sp.From); d <= utcDay(sp.To-1); d++ {
		binary.BigEndian.PutUint64(b[:], marks[d])
		_, _ = h.Write(b[:])
	}
	return h.Sum64()
}
