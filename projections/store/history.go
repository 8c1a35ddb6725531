package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/klauspost/compress/s2"

	"tracker/projections"
)

// History is stored in blocks: one key per device and 10 minutes of fix
// times, holding those points sorted by (tst, hash). A key per point made
// Badger's per-key work (memtable, WAL, compaction) most of a rebuild's
// cost; with blocks a rebuild writes one key per 60 points at one fix per
// 10 s, and a day's range read is 144 block reads.
//
// Rewriting a block for every live fix would cost a block per point, so
// the device's current block (the one holding its newest tst) is kept as
// one small "tail" key per point; when a newer fix opens a later block,
// the tail is sealed into a block. A point for an older, sealed block (a
// late fix) is merged into it. So blocks hold exactly the points before
// the device's current block and the tail exactly the rest.
//
// The layout depends only on the set of points: within a block they are
// sorted, of two points with the same tst and payload hash the one with
// the higher seq (the later in the log) wins, and which blocks are sealed
// depends on the newest tst alone. Live saves, however they are chunked,
// and a rebuild's bulk write give the same bytes.
const blockSeconds = 600

// Block values: a version byte, then the entries s2-compressed (the
// projection database leaves compression to its values: Badger's own
// compresses each table block through buffers it grows by doubling and
// pools, which cost more memory than the rest of a rebuild).
const blockVersion = 1

// blockStart is the first second of the block holding tst (floor, also
// for times before 1970), for blocks that start off seconds past each
// multiple of blockSeconds.
func blockStart(tst, off int64) int64 {
	r := (tst%blockSeconds - off) % blockSeconds
	if r < 0 {
		r += blockSeconds
	}
	if tst < math.MinInt64+r { // the first block is cut short
		return math.MinInt64
	}
	return tst - r
}

// blockOffset staggers each device's block boundaries, so that devices
// reporting at the same times do not all seal their tails in one save.
func blockOffset(dev projections.DeviceID) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(dev))
	return int64(h.Sum32() % blockSeconds)
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

// block collects the points of one device and block.
type block struct {
	key   []byte
	start int64 // set by groupHistory
	buf   []byte
	ents  []histEntry
	raw   []byte // scratch: the entries as stored, before compression
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

// sortDedup sorts the entries by (tst, hash) and keeps, of entries with
// the same tst and hash, the one with the highest seq (the later one).
func (b *block) sortDedup() {
	slices.SortFunc(b.ents, func(x, y histEntry) int {
		if c := cmp.Compare(x.tst, y.tst); c != 0 {
			return c
		}
		if c := cmp.Compare(x.hash, y.hash); c != 0 {
			return c
		}
		return cmp.Compare(x.seq, y.seq)
	})
	out := b.ents[:0]
	for i, e := range b.ents {
		if i+1 < len(b.ents) && b.ents[i+1].tst == e.tst && b.ents[i+1].hash == e.hash {
			continue
		}
		out = append(out, e)
	}
	b.ents = out
}

// encode sorts and deduplicates the entries and returns the block value.
// The result is freshly allocated: a batch may hold it until it commits.
func (b *block) encode() []byte {
	b.sortDedup()
	raw := b.raw[:0]
	for _, e := range b.ents {
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

// tailKey is ht/<device>\0<tst:8><hash:4>; the value is the point.
func tailKey(dev projections.DeviceID, tst int64, hash uint32) []byte {
	k := make([]byte, 0, len(prefTail)+len(dev)+1+12)
	k = append(k, prefTail...)
	k = append(k, dev...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, tstKey(tst))
	return binary.BigEndian.AppendUint32(k, hash)
}

// histWriter writes through a transaction, committing it and starting
// another when it grows too big, between devices where it can.
type histWriter struct {
	db   *badger.DB
	txn  *badger.Txn
	size int
}

// txnBudget keeps a transaction well under Badger's limit (15% of the
// memtable, ~1.2 MB with badgerdb.Options' 8 MB memtables).
const txnBudget = 256 << 10

func (w *histWriter) room(n int) error {
	if w.size > 0 && w.size+n > txnBudget {
		return w.commit()
	}
	return nil
}

func (w *histWriter) op(k, v []byte, del bool) error {
	if w.txn == nil {
		w.txn = w.db.NewTransaction(true)
	}
	set := func() error {
		if del {
			return w.txn.Delete(k)
		}
		return w.txn.Set(k, v)
	}
	err := set()
	if errors.Is(err, badger.ErrTxnTooBig) { // one device's update alone
		if err = w.commit(); err != nil {
			return err
		}
		w.txn = w.db.NewTransaction(true)
		err = set()
	}
	w.size += opSize(k, v)
	return err
}

// opSize estimates what one write adds to a transaction.
func opSize(k, v []byte) int { return len(k) + len(v) + 32 }

func (w *histWriter) commit() error {
	if w.txn == nil {
		return nil
	}
	err := w.txn.Commit()
	w.txn, w.size = nil, 0
	if err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func (w *histWriter) discard() {
	if w.txn != nil {
		w.txn.Discard()
	}
}

type histOp struct {
	k, v []byte
	del  bool
}

// mergeHistory applies live points: points of a device's current block
// become tail keys, points of older blocks are merged into them, and a
// device whose newest fix opened a later block has its tail sealed.
//
// It writes through w, which usually ends up holding the caller's whole
// save; when the history alone is too big for one transaction, w commits
// parts of it ahead of the checkpoint. That is safe because every step is
// idempotent (a block is a function of its points, tail keys are
// overwritten with themselves): history written ahead of a checkpoint that
// a crash then loses is simply written again on catch-up.
func (s *Store) mergeHistory(w *histWriter, pts []projections.HistoryPoint) error {
	if len(pts) == 0 {
		return nil
	}
	var devs []projections.DeviceID
	byDev := map[projections.DeviceID][]projections.HistoryPoint{}
	for _, h := range pts {
		if _, ok := byDev[h.Device]; !ok {
			devs = append(devs, h.Device)
		}
		byDev[h.Device] = append(byDev[h.Device], h)
	}
	s.tailsMu.Lock()
	defer s.tailsMu.Unlock()
	// Reads go through their own snapshot: each device is read and written
	// once per call, so w's pending writes never matter to them, and an
	// iterator on a transaction with pending writes sorts them all first.
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	for _, dev := range devs {
		t, ok := s.tails[dev]
		if !ok {
			var err error
			if t, err = loadTail(txn, dev); err != nil {
				return err
			}
			s.tails[dev] = t
		}
		ops, err := t.add(txn, dev, byDev[dev])
		if err != nil {
			return err
		}
		n := 0
		for _, o := range ops {
			n += opSize(o.k, o.v)
		}
		if err := w.room(n); err != nil {
			return err
		}
		for _, o := range ops {
			if err := w.op(o.k, o.v, o.del); err != nil {
				return err
			}
		}
	}
	return nil
}

// tail is a device's current block as stored in its tail keys, kept in
// memory so that sealing it needs no read.
type tail struct {
	newest int64 // the newest tst; meaningful when pts is not empty
	pts    map[tailID]projections.HistoryPoint
}

type tailID struct {
	tst  int64
	hash uint32
}

// loadTail reads dev's tail keys.
func loadTail(txn *badger.Txn, dev projections.DeviceID) (*tail, error) {
	t := &tail{pts: map[tailID]projections.HistoryPoint{}}
	prefix := append([]byte(prefTail+string(dev)), 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()
		if len(k) != len(prefix)+12 {
			return nil, fmt.Errorf("store: history tail key %q: bad length", k)
		}
		p, err := itemPoint(it.Item())
		if err != nil {
			return nil, fmt.Errorf("store: history tail %q: %w", k, err)
		}
		h := projections.HistoryPoint{Device: dev, Point: p, Hash: binary.BigEndian.Uint32(k[len(k)-4:])}
		t.put(h)
	}
	return t, nil
}

// itemPoint decodes a tail key's value.
func itemPoint(item *badger.Item) (projections.Point, error) {
	var p projections.Point
	err := item.Value(func(v []byte) error {
		var err error
		p, err = decodePoint(v)
		return err
	})
	return p, err
}

func (t *tail) put(h projections.HistoryPoint) {
	id := tailID{h.Point.Tst, h.Hash}
	if old, ok := t.pts[id]; ok && old.Point.Seq > h.Point.Seq {
		return
	}
	if len(t.pts) == 0 || h.Point.Tst > t.newest {
		t.newest = h.Point.Tst
	}
	t.pts[id] = h
}

// add works out the writes that add pts (all of dev) to history, and
// updates t to match them.
func (t *tail) add(txn *badger.Txn, dev projections.DeviceID, pts []projections.HistoryPoint) ([]histOp, error) {
	newest := pts[0].Point.Tst
	if len(t.pts) > 0 {
		newest = t.newest
	}
	for _, h := range pts {
		newest = max(newest, h.Point.Tst)
	}
	off := blockOffset(dev)
	cur := blockStart(newest, off)
	var ops []histOp
	var sealed []projections.HistoryPoint
	tailBlock := int64(math.MinInt64)
	if len(t.pts) > 0 && blockStart(t.newest, off) < cur {
		// The newest fix opens a later block: seal the tail into a block.
		tailBlock = blockStart(t.newest, off)
		for id, h := range t.pts {
			sealed = append(sealed, h)
			ops = append(ops, histOp{k: tailKey(dev, id.tst, id.hash), del: true})
		}
		clear(t.pts)
	}
	var late []projections.HistoryPoint
	for _, h := range pts {
		if blockStart(h.Point.Tst, off) < cur {
			sealed = append(sealed, h)
			late = append(late, h)
			continue
		}
		ops = append(ops, histOp{k: tailKey(dev, h.Point.Tst, h.Hash), v: encodePoint(h.Point)})
		t.put(h)
	}
	for _, b := range groupHistory(sealed) {
		// A sealed tail has no stored block yet; late fixes' blocks may.
		if b.start != tailBlock {
			if err := loadBlock(txn, b); err != nil {
				return nil, err
			}
		}
		ops = append(ops, histOp{k: b.key, v: b.encode()})
	}
	return append(ops, lateMarks(dev, late)...), nil // days.go
}

// loadBlock adds the stored entries of b's block, if any.
func loadBlock(txn *badger.Txn, b *block) error {
	item, err := txn.Get(b.key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := item.Value(b.load); err != nil {
		return fmt.Errorf("store: history block %q: %w", b.key, err)
	}
	return nil
}

// mergeSealed merges points of sealed blocks into them (a rebuild's late
// fixes).
func (s *Store) mergeSealed(pts []projections.HistoryPoint) error {
	w := &histWriter{db: s.db}
	defer w.discard()
	txn := s.db.NewTransaction(false) // see mergeHistory
	defer txn.Discard()
	for _, b := range groupHistory(pts) {
		if err := loadBlock(txn, b); err != nil {
			return err
		}
		v := b.encode()
		if err := w.room(opSize(b.key, v)); err != nil {
			return err
		}
		if err := w.op(b.key, v, false); err != nil {
			return err
		}
	}
	return w.commit()
}

// groupHistory sorts points into blocks by device and block.
func groupHistory(pts []projections.HistoryPoint) []*block {
	idx := map[string]*block{}
	var out []*block
	for _, h := range pts {
		start := blockStart(h.Point.Tst, blockOffset(h.Device))
		k := blockKey(h.Device, start)
		b, ok := idx[string(k)]
		if !ok {
			b = &block{key: k, start: start}
			idx[string(k)] = b
			out = append(out, b)
		}
		b.add(h)
	}
	return out
}

// readHistory calls fn for dev's points with from <= tst < to, in order:
// the sealed blocks, then the tail, which comes after all of them.
func readHistory(txn *badger.Txn, dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	if from >= to {
		return nil
	}
	if err := readBlocks(txn, dev, from, to, fn); err != nil {
		return err
	}
	prefix := append([]byte(prefTail+string(dev)), 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	end := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), tstKey(to))
	for it.Seek(binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), tstKey(from))); it.Valid(); it.Next() {
		if string(it.Item().Key()) >= string(end) {
			return nil
		}
		p, err := itemPoint(it.Item())
		if err != nil {
			return fmt.Errorf("store: history tail %q: %w", it.Item().Key(), err)
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// readBlocks calls fn for the points of dev's sealed blocks with
// from <= tst < to, in order.
func readBlocks(txn *badger.Txn, dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	prefix := append([]byte(prefHistory+string(dev)), 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 8})
	defer it.Close()
	// The block holding from starts at or before it; the last block to
	// read starts before to.
	end := blockKey(dev, to)
	var b block
	for it.Seek(blockKey(dev, blockStart(from, blockOffset(dev)))); it.Valid(); it.Next() {
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

// bulkHistory writes a rebuild's history in the layout live saves give.
// Each device keeps its current block open; a fix that opens a later
// block seals the open one, which is written whole. A fix for a sealed
// block (a late one) waits in late and is merged into its stored block
// at the end, or earlier when too many wait. At the end each device's
// open block becomes its tail.
type bulkHistory struct {
	devs map[projections.DeviceID]*bulkDevice
	late []projections.HistoryPoint
	free []*block
	// lateLimit is how many late points may wait before they are merged.
	lateLimit int
}

type bulkDevice struct {
	off    int64 // blockOffset of the device
	newest int64
	open   *block // the current block, holding newest
	start  int64  // open's block start
}

func newBulkHistory() *bulkHistory {
	return &bulkHistory{devs: map[projections.DeviceID]*bulkDevice{}, lateLimit: 50_000}
}

// add takes pts; set writes sealed blocks.
func (h *bulkHistory) add(pts []projections.HistoryPoint, set func(k, v []byte) error) error {
	for _, p := range pts {
		d, ok := h.devs[p.Device]
		if !ok {
			d = &bulkDevice{newest: p.Point.Tst, off: blockOffset(p.Device)}
			h.devs[p.Device] = d
		}
		d.newest = max(d.newest, p.Point.Tst)
		cur, start := blockStart(d.newest, d.off), blockStart(p.Point.Tst, d.off)
		if d.open != nil && d.start < cur {
			if err := h.seal(d, set); err != nil {
				return err
			}
		}
		if start < cur {
			h.late = append(h.late, p)
			continue
		}
		if d.open == nil {
			d.open, d.start = h.newBlock(blockKey(p.Device, start)), start
		}
		d.open.add(p)
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

func (h *bulkHistory) seal(d *bulkDevice, set func(k, v []byte) error) error {
	if err := set(d.open.key, d.open.encode()); err != nil {
		return err
	}
	h.free = append(h.free, d.open)
	d.open = nil
	return nil
}

// finish writes each device's open block as its tail.
func (h *bulkHistory) finish(set func(k, v []byte) error) error {
	for dev, d := range h.devs {
		if b := d.open; b != nil {
			b.sortDedup()
			for _, e := range b.ents {
				if err := set(tailKey(dev, e.tst, e.hash), b.buf[e.off+4:e.off+e.ln]); err != nil {
					return err
				}
			}
		}
		delete(h.devs, dev)
	}
	return nil
}

// readHistoryBack calls fn for dev's points with tst <= at, newest first,
// until fn returns false: the tail (newer than every block), then the
// sealed blocks backwards. An as-of read needs a device's last fix at or
// before a moment, and how long it had been where it was: both are a
// seek and a few entries back, whatever the history's length.
func readHistoryBack(txn *badger.Txn, dev projections.DeviceID, at int64, fn func(projections.Point) bool) error {
	prefix := append([]byte(prefTail+string(dev)), 0)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false, Reverse: true})
	seek := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), tstKey(at))
	seek = binary.BigEndian.AppendUint32(seek, math.MaxUint32)
	for it.Seek(seek); it.Valid(); it.Next() {
		p, err := itemPoint(it.Item())
		if err != nil {
			it.Close()
			return fmt.Errorf("store: history tail %q: %w", it.Item().Key(), err)
		}
		if !fn(p) {
			it.Close()
			return nil
		}
	}
	it.Close()
	bprefix := append([]byte(prefHistory+string(dev)), 0)
	bit := txn.NewIterator(badger.IteratorOptions{Prefix: bprefix, PrefetchValues: false, Reverse: true})
	defer bit.Close()
	var b block
	for bit.Seek(blockKey(dev, blockStart(at, blockOffset(dev)))); bit.Valid(); bit.Next() {
		b.reset(nil)
		if err := bit.Item().Value(b.load); err != nil {
			return fmt.Errorf("store: history block %q: %w", bit.Item().Key(), err)
		}
		for i := len(b.ents) - 1; i >= 0; i-- { // stored sorted
			e := b.ents[i]
			if e.tst > at {
				continue
			}
			p, err := decodePoint(b.buf[e.off+4 : e.off+e.ln])
			if err != nil {
				return err
			}
			if !fn(p) {
				return nil
			}
		}
	}
	return nil
}
