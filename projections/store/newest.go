package store

import (
	"bytes"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"tracker/projections"
)

// NewestLimit bounds how many points a search for a device's newest
// usable fix looks at (Newest): a correction that hides more than that
// leaves the device without a position rather than reading its whole
// history. Live and rebuild search alike, so they agree.
const NewestLimit = 100_000

// newestScan takes points newest first and keeps the newest one hides
// lets through: the highest tst and, of equal tst, the highest seq (the
// later arrival, as the fold decides).
type newestScan struct {
	hides func(projections.Point) bool
	best  projections.Point
	found bool
	seen  int
}

// offer takes the next point; true when the search is over.
func (n *newestScan) offer(p projections.Point) bool {
	if n.found && p.Tst < n.best.Tst {
		return true
	}
	n.seen++
	if !n.hides(p) && (!n.found || p.Seq > n.best.Seq) {
		n.best, n.found = p, true
	}
	return n.seen >= NewestLimit
}

// block offers b's entries, newest first; true when the search is over.
func (n *newestScan) block(b *block) (bool, error) {
	for i := len(b.ents) - 1; i >= 0; i-- {
		e := b.ents[i]
		p, err := decodePoint(b.buf[e.off+4 : e.off+e.ln])
		if err != nil {
			return false, err
		}
		if n.offer(p) {
			return true, nil
		}
	}
	return false, nil
}

// reverse iterates the keys under prefix from the last.
func reverse(txn *badger.Txn, prefix []byte, fn func(*badger.Item) (bool, error)) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: true, PrefetchSize: 8})
	defer it.Close()
	for it.Seek(append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 16)...)); it.Valid(); it.Next() {
		done, err := fn(it.Item())
		if err != nil || done {
			return err
		}
	}
	return nil
}

// sealed offers dev's sealed blocks, newest first.
func (n *newestScan) sealed(txn *badger.Txn, dev projections.DeviceID) error {
	var b block
	return reverse(txn, append([]byte(prefHistory+string(dev)), 0), func(item *badger.Item) (bool, error) {
		b.reset(nil)
		if err := item.Value(b.load); err != nil {
			return false, fmt.Errorf("store: history block %q: %w", item.Key(), err)
		}
		return n.block(&b)
	})
}

// Newest returns dev's newest point that hides lets through (see
// newestScan), looking at most at NewestLimit points; false when there is
// none.
func (s *Store) Newest(dev projections.DeviceID, hides func(projections.Point) bool) (projections.Point, bool, error) {
	n := &newestScan{hides: hides}
	err := s.db.View(func(txn *badger.Txn) error {
		over := false
		err := reverse(txn, append([]byte(prefTail+string(dev)), 0), func(item *badger.Item) (bool, error) {
			p, err := itemPoint(item)
			if err != nil {
				return false, fmt.Errorf("store: history tail %q: %w", item.Key(), err)
			}
			over = n.offer(p)
			return over, nil
		})
		if err != nil || over {
			return err
		}
		return n.sealed(txn, dev)
	})
	if err != nil {
		return projections.Point{}, false, fmt.Errorf("store: newest point of %s: %w", dev, err)
	}
	return n.best, n.found, nil
}

// Newest is Store.Newest in the middle of a bulk write: it writes what
// the batch holds and the late points first, and looks at the device's
// open block, which is only in memory, before the stored ones.
func (b *Bulk) Newest(dev projections.DeviceID, hides func(projections.Point) bool) (projections.Point, bool, error) {
	if err := b.wb.Flush(); err != nil {
		return projections.Point{}, false, fmt.Errorf("store: bulk flush: %w", err)
	}
	b.wb = b.s.db.NewWriteBatch()
	if err := b.mergeLate(); err != nil {
		return projections.Point{}, false, err
	}
	n := &newestScan{hides: hides}
	if d := b.hist.devs[dev]; d != nil && d.open != nil {
		d.open.sortDedup()
		over, err := n.block(d.open)
		if err != nil || over {
			return n.best, n.found, err
		}
	}
	err := b.s.db.View(func(txn *badger.Txn) error { return n.sealed(txn, dev) })
	if err != nil {
		return projections.Point{}, false, fmt.Errorf("store: newest point of %s: %w", dev, err)
	}
	return n.best, n.found, nil
}
