package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"

	"tracker/projections"
)

// History is stored in blocks: one key per device and hour, holding that
// hour's points sorted by (tst, hash). A key per point made Badger's
// per-key work (memtable, WAL, compaction) most of a rebuild's cost; an
// hour of points is one key, and a day's range read is 24 gets.
//
// A block's content depends only on the set of points in it (sorted, and
// of two points with the same tst and payload hash the one with the higher
// seq wins, which is the later one in the log), so live saves that merge
// into stored blocks and a rebuild that writes whole blocks give the same
// bytes whatever the order the points arrived in.
const blockSeconds = 3600

// Block values: a version byte, then the entries s2-compressed (the
// projection database leaves compression to its values: Badger's own
// compresses each table block through buffers it grows by doubling and
// pools, which cost more memory than the rest of a rebuild).
const blockVersion = 1

// blockStart is the first second of the block holding tst (floor, also
// for times before 1970).
func blockStart(tst int64) int64 {
	r := tst % blockSeconds
	if r < 0 {
		r += blockSeconds
	}
	if tst < math.MinInt64+r { // the first block is cut short
		return math.MinInt64
	}
	return tst - r
}

// blockKey is h/<device>\0<block start:8>.
func blockKey(dev projections.DeviceID, start int64) []byte {
	k := make([]byte, 0, len(prefHistory)+len(dev)+1+8)
	k = append(k, prefHistory...)
	k = append(k, dev...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, tstKey(start))
}

// histEntry is one point of a block: its sort key and where its encoding
// (hash:4 then the point) sits in the block's buffer.
type histEntry struct {
	tst     int64
	hash    uint32
	seq     uint64
	off, ln int
}

// block collects the points of one device and hour.
type block struct {
	key  []byte
	buf  []byte
	ents []histEntry
	raw  []byte // scratch: the entries as stored, before compression
}

func (b *block) add(h projections.HistoryPoint) {
	off := len(b.buf)
	b.buf = binary.BigEndian.AppendUint32(b.buf, h.Hash)
	b.buf = appendPoint(b.buf, h.Point)
	b.ents = append(b.ents, histEntry{tst: h.Point.Tst, hash: h.Hash, seq: h.Point.Seq, off: off, ln: len(b.buf) - off})
}

var errBadBlock = errors.New("store: bad history block")

// load adds the entries of a stored block value.
func (b *block) load(v []byte) error {
	if len(v) == 0 || v[0] != blockVersion {
		return errBadBlock
	}
	n, err := s2.DecodedLen(v[1:])
	if err != nil {
		return fmt.Errorf("%w: %w", errBadBlock, err)
	}
	// Decode straight into the end of buf, where the entries go anyway.
	start := len(b.buf)
	b.buf = slices.Grow(b.buf, 2*n)
	dec, err := s2.Decode(b.buf[start+n:start+2*n], v[1:])
	if err != nil {
		return fmt.Errorf("%w: %w", errBadBlock, err)
	}
	v = dec
	for len(v) > 0 {
		l, n := binary.Uvarint(v)
		if n <= 0 || l < 4+32 || uint64(len(v)-n) < l {
			return errBadBlock
		}
		e := v[n : n+int(l)]
		off := len(b.buf)
		b.buf = append(b.buf, e...)
		b.ents = append(b.ents, histEntry{
			tst:  int64(binary.BigEndian.Uint64(e[4+8:])),
			hash: binary.BigEndian.Uint32(e),
			seq:  binary.BigEndian.Uint64(e[4:]),
			off:  off, ln: len(e),
		})
		v = v[n+int(l):]
	}
	return nil
}

// encode sorts and deduplicates the entries and returns the block value.
// The result is freshly allocated: a batch may hold it until it commits.
func (b *block) encode() []byte {
	slices.SortFunc(b.ents, func(x, y histEntry) int {
		if c := cmp.Compare(x.tst, y.tst); c != 0 {
			return c
		}
		if c := cmp.Compare(x.hash, y.hash); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	raw := b.raw[:0]
	for i, e := range b.ents {
		if i+1 < len(b.ents) && b.ents[i+1].tst == e.tst && b.ents[i+1].hash == e.hash {
			continue // the same point again: the later (higher seq) one wins
		}
		raw = binary.AppendUvarint(raw, uint64(e.ln))
		raw = append(raw, b.buf[e.off:e.off+e.ln]...)
	}
	b.raw = raw
	out := make([]byte, 1+s2.MaxEncodedLen(len(raw)))
	out[0] = blockVersion
	return out[:1+len(s2.Encode(out[1:], raw))]
}

func (b *block) reset(key []byte) {
	b.key, b.buf, b.ents = key, b.buf[:0], b.ents[:0]
}

// groupHistory sorts points into blocks by device and hour.
func groupHistory(pts []projections.HistoryPoint) []*block {
	idx := map[string]*block{}
	var out []*block
	for _, h := range pts {
		k := blockKey(h.Device, blockStart(h.Point.Tst))
		b, ok := idx[string(k)]
		if !ok {
			b = &block{key: k}
			idx[string(k)] = b
			out = append(out, b)
		}
		b.add(h)
	}
	return out
}

// saveHistory merges pts into their stored blocks within txn.
func saveHistory(txn *badger.Txn, pts []projections.HistoryPoint) error {
	for _, b := range groupHistory(pts) {
		item, err := txn.Get(b.key)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return err
		default:
			if err := item.Value(b.load); err != nil {
				return fmt.Errorf("store: history block %q: %w", b.key, err)
			}
		}
		if err := txn.Set(b.key, b.encode()); err != nil {
			return err
		}
	}
	return nil
}

// readBlocks calls fn for dev's points with from <= tst < to, in order.
func readBlocks(txn *badger.Txn, dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	if from >= to {
		return nil
	}
	prefix := append([]byte(prefHistory+string(dev)), 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 8})
	defer it.Close()
	// The block holding from starts at or before it; the last block to
	// read starts before to.
	end := blockKey(dev, to)
	var b block
	for it.Seek(blockKey(dev, blockStart(from))); it.Valid(); it.Next() {
		if string(it.Item().Key()) >= string(end) {
			return nil
		}
		b.reset(nil)
		if err := it.Item().Value(b.load); err != nil {
			return fmt.Errorf("store: history block %q: %w", it.Item().Key(), err)
		}
		for _, e := range b.ents { // stored sorted
			if e.tst < from {
				continue
			}
			if e.tst >= to {
				return nil
			}
			p, err := decodePoint(b.buf[e.off+4 : e.off+e.ln])
			if err != nil {
				return err
			}
			if err := fn(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// bulkHistory writes a rebuild's history as whole blocks. Points mostly
// come in tst order per device, so each device keeps its newest blocks
// open and writes a block once the device has moved on; a point for a
// block already written (a late fix) waits in late and is merged at the
// end, or earlier when too many wait.
type bulkHistory struct {
	open    map[projections.DeviceID][]*block // at most openPerDevice each, oldest first
	written map[string]struct{}
	late    []projections.HistoryPoint
	free    []*block
	// lateLimit is how many late points may wait before they are merged.
	lateLimit int
}

const openPerDevice = 2

func newBulkHistory() *bulkHistory {
	return &bulkHistory{open: map[projections.DeviceID][]*block{}, written: map[string]struct{}{}, lateLimit: 50_000}
}

// add takes pts; set writes finished blocks.
func (h *bulkHistory) add(pts []projections.HistoryPoint, set func(k, v []byte) error) error {
	for _, p := range pts {
		start := blockStart(p.Point.Tst)
		key := blockKey(p.Device, start)
		blocks := h.open[p.Device]
		var b *block
		for _, ob := range blocks {
			if string(ob.key) == string(key) {
				b = ob
				break
			}
		}
		if b == nil {
			if _, done := h.written[string(key)]; done {
				h.late = append(h.late, p)
				continue
			}
			if len(blocks) == openPerDevice {
				if err := h.flush(blocks[0], set); err != nil {
					return err
				}
				blocks = append(blocks[:0], blocks[1:]...)
			}
			b = h.newBlock(key)
			// Keep the device's open blocks ordered by start.
			i := len(blocks)
			for i > 0 && string(blocks[i-1].key) > string(key) {
				i--
			}
			blocks = slices.Insert(blocks, i, b)
			h.open[p.Device] = blocks
		}
		b.add(p)
	}
	return nil
}

func (h *bulkHistory) newBlock(key []byte) *block {
	if n := len(h.free); n > 0 {
		b := h.free[n-1]
		h.free = h.free[:n-1]
		b.reset(key)
		return b
	}
	return &block{key: key}
}

func (h *bulkHistory) flush(b *block, set func(k, v []byte) error) error {
	h.written[string(b.key)] = struct{}{}
	if err := set(b.key, b.encode()); err != nil {
		return err
	}
	h.free = append(h.free, b)
	return nil
}

// finish writes every open block.
func (h *bulkHistory) finish(set func(k, v []byte) error) error {
	for dev, blocks := range h.open {
		for _, b := range blocks {
			if err := h.flush(b, set); err != nil {
				return err
			}
		}
		delete(h.open, dev)
	}
	return nil
}
