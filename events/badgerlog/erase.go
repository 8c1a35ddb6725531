package badgerlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"

	"tracker/events"
)

// Erasure removes events from the log for good. Badger cannot promise
// that an overwritten or deleted value leaves its files (an old version
// may sit in a table no compaction touches, in the value log, in a
// memtable's write-ahead file), so an erasure copies the log into a fresh
// database beside it, each block as it is except that matching events
// become placeholders (recordErased: the seq alone), appends the
// tombstone there, and swaps the directories:
//
//	<dir>.erase-tmp   the copy being written; removed at the next Open
//	<dir>.erase-new   the complete copy (renamed from -tmp once synced)
//	<dir>.erase-old   the previous log, between the two renames of the swap
//
// A crash at any point leaves the old log or the new one under <dir>, or
// both complete beside it: Open finishes or undoes the swap and removes
// what is left (recoverErasure), so the erased bytes are gone from the
// data directory once a server ran on it again. Ingest goes on during the
// copy; the committer pauses only for the tail written meanwhile, the
// tombstone and the swap (appends wait in its queue, none is refused).
const (
	suffixTmp = ".erase-tmp"
	suffixNew = ".erase-new"
	suffixOld = ".erase-old"
)

// eraseReaderWait bounds how long the swap waits for reads still using
// the old database (a scan lets go between two blocks; a reader stuck in
// its callback holds it).
const eraseReaderWait = 30 * time.Second

// generation is one open database of the log, counted by its readers.
type generation struct {
	db    *badger.DB
	refs  int         // guarded by Log.dbMu
	stale atomic.Bool // an erasure waits for its readers to let go
}

// acquire returns the current database for a read; release it after.
// While an erasure swaps databases, it waits for the new one.
func (l *Log) acquire() *generation {
	l.dbMu.Lock()
	defer l.dbMu.Unlock()
	for l.cur == nil {
		l.dbCond.Wait()
	}
	l.cur.refs++
	return l.cur
}

func (l *Log) release(g *generation) {
	l.dbMu.Lock()
	g.refs--
	if g.refs == 0 {
		l.dbCond.Broadcast()
	}
	l.dbMu.Unlock()
}

// EraseSpec and EraseResult are the contract's (events.Erasable).
type (
	EraseSpec   = events.EraseSpec
	EraseResult = events.EraseResult
)

// ErrEraseBusy is returned when reads kept the old database longer than
// the erasure waits; nothing was changed.
var ErrEraseBusy = errors.New("badgerlog: reads kept the log busy; nothing erased, try again")

// Erase replaces every event Match selects with a placeholder, records the
// tombstone, and makes sure no byte of the erased events is left in the
// log's directory. When nothing matches, the tombstone is appended like
// any event and the log is not copied. The volume must hold a copy of the
// log besides the minimum free space (Options.Space); if it does not, or
// runs out meanwhile, the log is left as it was (events.ErrDiskFull).
func (l *Log) Erase(ctx context.Context, spec EraseSpec) (EraseResult, error) {
	l.eraseMu.Lock()
	defer l.eraseMu.Unlock()
	if errp := l.failed.Load(); errp != nil {
		return EraseResult{}, *errp
	}
	size, err := dirSize(l.dir)
	if err != nil {
		return EraseResult{}, err
	}
	if err := l.opts.Space.fits(size); err != nil {
		return EraseResult{}, fmt.Errorf("badgerlog: an erasure needs room for a copy of the log (%d MB) besides the minimum free space: %w", size>>20, err)
	}
	tmp := l.dir + suffixTmp
	if err := os.RemoveAll(tmp); err != nil {
		return EraseResult{}, fmt.Errorf("badgerlog: erase: %w", err)
	}
	ndb, err := openDB(tmp, l.opts.Logger)
	if err != nil {
		return EraseResult{}, fmt.Errorf("badgerlog: erase: %w", err)
	}
	c := &eraseCopy{l: l, to: ndb, wb: ndb.NewWriteBatch(), match: spec.Match}
	discard := func() {
		if !c.closed {
			c.wb.Cancel()
			_ = ndb.Close()
		}
		_ = os.RemoveAll(tmp)
		_ = os.RemoveAll(l.dir + suffixNew)
	}
	abandon := func(err error) (EraseResult, error) {
		discard()
		return EraseResult{}, err
	}

	// The bulk of the copy, beside ingest: everything in one snapshot.
	g := l.acquire()
	err = g.db.View(func(txn *badger.Txn) error {
		if err := c.blocks(ctx, txn, 0); err != nil {
			return err
		}
		return c.imports(txn, 0)
	})
	l.release(g)
	if err != nil {
		return abandon(err)
	}

	// The rest in the committer, with appends held in its queue.
	var res EraseResult
	var appendTomb *events.Event
	done := make(chan struct{})
	barrier := func() {
		defer close(done)
		res, appendTomb, err = l.eraseSwitch(ctx, c, spec, tmp)
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return abandon(events.ErrClosed)
	}
	l.queue <- request{barrier: barrier}
	l.mu.RUnlock()
	<-done
	if err != nil {
		return abandon(err)
	}
	if appendTomb != nil { // nothing matched: no copy, the tombstone alone
		discard()
		seq, err := l.Append(ctx, *appendTomb)
		res.Seq = seq
		return res, err
	}
	return res, nil
}

// eraseSwitch runs in the committer once everything appended before it is
// durable: it copies what was appended since the snapshot, writes the
// tombstone and swaps the databases. When nothing matched it writes
// nothing and returns the tombstone for the caller to append.
func (l *Log) eraseSwitch(ctx context.Context, c *eraseCopy, spec EraseSpec, tmp string) (EraseResult, *events.Event, error) {
	head := l.next - 1
	copied := c.lastSeq // the snapshot's last event: later import keys are still to copy
	err := l.db.View(func(txn *badger.Txn) error {
		if err := c.blocks(ctx, txn, c.lastBlock); err != nil {
			return err
		}
		if err := c.imports(txn, copied); err != nil {
			return err
		}
		return c.retainedMarks(txn)
	})
	if err != nil {
		return EraseResult{}, nil, err
	}
	res := EraseResult{Erased: uint64(len(c.erased)), Scanned: c.scanned, Seq: head + 1}
	if len(c.erased) > 0 {
		res.First, res.Last, res.Rewritten = c.erased[0], c.erased[len(c.erased)-1], true
	}
	tomb, err := spec.Tombstone(res)
	if err != nil {
		return EraseResult{}, nil, err
	}
	tomb.Source = events.SourceAdmin
	if tomb.Received.IsZero() {
		tomb.Received = time.Now()
	}
	if !res.Rewritten {
		res.Seq = 0
		return res, &tomb, nil
	}
	if err := l.opts.Space.fits(0); err != nil {
		return EraseResult{}, nil, err
	}
	tomb.Seq = head + 1
	rec := appendRecord(nil, &tomb)
	body := binary.AppendUvarint(nil, 1)
	body = binary.AppendUvarint(body, uint64(len(rec)))
	body = append(body, rec...)
	if err := c.wb.Set(seqKey(tomb.Seq), encodeBlock(body)); err != nil {
		return EraseResult{}, nil, err
	}
	c.closed = true
	if err := c.wb.Flush(); err != nil {
		_ = c.to.Close()
		return EraseResult{}, nil, fmt.Errorf("badgerlog: erase: write the copy: %w", err)
	}
	if err := c.to.Close(); err != nil {
		return EraseResult{}, nil, fmt.Errorf("badgerlog: erase: close the copy: %w", err)
	}
	if err := syncTree(tmp); err != nil {
		return EraseResult{}, nil, err
	}
	if err := renameSynced(tmp, l.dir+suffixNew); err != nil {
		return EraseResult{}, nil, err
	}
	if err := l.swap(); err != nil {
		return EraseResult{}, nil, err
	}

	// The committer's own memory of the log: drop what names erased events.
	for topic, m := range l.retained {
		if c.isErased(m.seq) {
			delete(l.retained, topic)
		}
	}
	l.next = tomb.Seq + 1
	l.remember(recentMark{seq: tomb.Seq, topic: topicKey(tomb.Topic)}, contentHash(tomb.Topic, tomb.Payload))
	l.head.Store(tomb.Seq)
	l.notifyMu.Lock()
	close(l.notify)
	l.notify = make(chan struct{})
	l.notifyMu.Unlock()
	return res, nil, nil
}

// swap replaces the log's database with the complete copy at
// <dir>.erase-new, once the readers of the old one let go.
func (l *Log) swap() error {
	l.dbMu.Lock()
	old := l.cur
	l.cur = nil // new readers wait
	old.stale.Store(true)
	timer := time.AfterFunc(eraseReaderWait, func() {
		l.dbMu.Lock()
		l.dbCond.Broadcast()
		l.dbMu.Unlock()
	})
	deadline := time.Now().Add(eraseReaderWait)
	for old.refs > 0 && time.Now().Before(deadline) {
		l.dbCond.Wait()
	}
	timer.Stop()
	restore := func() {
		old.stale.Store(false)
		l.cur = old
		l.dbCond.Broadcast()
		l.dbMu.Unlock()
	}
	if old.refs > 0 {
		restore()
		return ErrEraseBusy
	}
	// Closing Badger releases its directory lock by closing a descriptor
	// that a process forked meanwhile would hold until it execs (see
	// badgerdb.Reopen): keep forks out until the new one is open.
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := old.db.Close(); err != nil {
		l.opts.Logger.Warn("closing the event log before the erasure's swap", "err", err)
	}
	reopenOld := func(cause error) error {
		db, err := openDB(l.dir, l.opts.Logger)
		if err != nil {
			err = fmt.Errorf("badgerlog: erase: %w; and reopening the log failed: %w", cause, err)
			l.failed.Store(&err)
			l.cur = &generation{db: old.db} // closed: reads fail rather than hang
			l.dbCond.Broadcast()
			l.dbMu.Unlock()
			return err
		}
		l.db = db
		old = &generation{db: db}
		restore()
		return cause
	}
	if err := os.Rename(l.dir, l.dir+suffixOld); err != nil {
		return reopenOld(fmt.Errorf("badgerlog: erase: %w", err))
	}
	if err := renameSynced(l.dir+suffixNew, l.dir); err != nil {
		// Put the old one back: the swap did not happen.
		if rerr := os.Rename(l.dir+suffixOld, l.dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return reopenOld(err)
	}
	var db *badger.DB
	var err error
	for wait := time.Millisecond; ; wait *= 2 {
		db, err = openDB(l.dir, l.opts.Logger)
		if !errors.Is(err, ErrLocked) || wait > time.Second {
			break
		}
		time.Sleep(wait)
	}
	if err != nil {
		err = fmt.Errorf("badgerlog: erase: open the new log: %w", err)
		l.failed.Store(&err)
		l.opts.Logger.Error("the event log was erased but cannot be opened; restart the server", "err", err)
		l.cur = &generation{db: old.db} // closed: reads fail rather than hang
		l.dbCond.Broadcast()
		l.dbMu.Unlock()
		return err
	}
	l.db = db
	l.cur = &generation{db: db}
	l.dbCond.Broadcast()
	l.dbMu.Unlock()
	if err := os.RemoveAll(l.dir + suffixOld); err != nil {
		l.opts.Logger.Error("could not remove the log from before the erasure; it still holds the erased events (the next start removes it)",
			"dir", l.dir+suffixOld, "err", err)
	}
	return nil
}

// eraseCopy writes the copy of the log an erasure makes.
type eraseCopy struct {
	l         *Log
	to        *badger.DB
	wb        *badger.WriteBatch
	match     func(*events.Event) bool
	erased    []uint64 // ascending
	scanned   uint64
	lastBlock uint64 // key seq of the last block copied
	lastSeq   uint64 // its last event
	closed    bool   // the copy's database was closed (written or failed)
	written   int    // bytes since the last space check
}

func (c *eraseCopy) isErased(seq uint64) bool {
	_, ok := slices.BinarySearch(c.erased, seq)
	return ok
}

// spaceCheckBytes is how much the copy writes between two looks at the
// free space.
const spaceCheckBytes = 8 << 20

// blocks copies the blocks after the one keyed after (all when 0),
// rewriting those holding matching events.
func (c *eraseCopy) blocks(ctx context.Context, txn *badger.Txn, after uint64) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixLog}, PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	start := seqKey(after + 1)
	for it.Seek(start); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		first := binary.BigEndian.Uint64(it.Item().Key()[1:])
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("badgerlog: erase: read block %d: %w", first, err)
		}
		out, err := c.block(first, v)
		if err != nil {
			return err
		}
		if err := c.wb.Set(seqKey(first), out); err != nil {
			return fmt.Errorf("badgerlog: erase: write block %d: %w", first, err)
		}
		c.lastBlock = first
		if c.written += len(out); c.written >= spaceCheckBytes {
			c.written = 0
			if err := c.l.opts.Space.fits(0); err != nil {
				return err
			}
		}
	}
	return nil
}

// block returns v with the matching events' records replaced by
// placeholders; v itself when nothing in it matches.
func (c *eraseCopy) block(first uint64, v []byte) ([]byte, error) {
	var recs [][]byte
	changed := false
	err := blockRecords(first, v, func(seq uint64, rec []byte) error {
		c.scanned++
		c.lastSeq = seq
		if len(rec) > 0 && rec[0] != recordErased {
			e := events.Event{Seq: seq}
			if err := decodeRecord(rec, &e); err != nil {
				return fmt.Errorf("badgerlog: event %d: %w", seq, err)
			}
			if c.match(&e) {
				rec, changed = []byte{recordErased}, true
				c.erased = append(c.erased, seq)
			}
		}
		recs = append(recs, rec)
		return nil
	})
	if err != nil || !changed {
		return v, err
	}
	body := binary.AppendUvarint(nil, uint64(len(recs)))
	for _, r := range recs {
		body = binary.AppendUvarint(body, uint64(len(r)))
		body = append(body, r...)
	}
	return encodeBlock(body), nil
}

// imports copies the import keys of events after seq `after` that are
// not erased: a new import of an erased event logs it again.
func (c *eraseCopy) imports(txn *badger.Txn, after uint64) error {
	return c.index(txn, prefixImport, func(seq uint64) bool { return seq > after })
}

// retainedMarks copies the retained-message marks of events not erased.
func (c *eraseCopy) retainedMarks(txn *badger.Txn) error {
	return c.index(txn, prefixRetained, func(uint64) bool { return true })
}

// index copies the entries under prefix whose value starts with a seq
// that want accepts and that is not erased.
func (c *eraseCopy) index(txn *badger.Txn, prefix byte, want func(uint64) bool) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}, PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("badgerlog: erase: read index: %w", err)
		}
		if len(v) < 8 {
			continue
		}
		seq := binary.BigEndian.Uint64(v)
		if !want(seq) || c.isErased(seq) {
			continue
		}
		if err := c.wb.Set(it.Item().KeyCopy(nil), v); err != nil {
			return fmt.Errorf("badgerlog: erase: write index: %w", err)
		}
	}
	return nil
}

// blockRecords calls fn with each raw record of a block, in order.
func blockRecords(first uint64, v []byte, fn func(seq uint64, rec []byte) error) error {
	body, err := blockBody(first, v, nil)
	if err != nil {
		return err
	}
	count, n := binary.Uvarint(body)
	if n <= 0 {
		return fmt.Errorf("badgerlog: block %d: %w", first, errShortRecord)
	}
	body = body[n:]
	for i := range count {
		l, n := binary.Uvarint(body)
		if n <= 0 || uint64(len(body)-n) < l {
			return fmt.Errorf("badgerlog: block %d event %d: %w", first, i, errShortRecord)
		}
		if err := fn(first+i, body[n:n+int(l):n+int(l)]); err != nil {
			return err
		}
		body = body[n+int(l):]
	}
	return nil
}

// recoverErasure finishes or undoes a swap a crash interrupted, and
// removes the copies and old logs an erasure left (they may hold erased
// events).
func recoverErasure(dir string, logger *slog.Logger) error {
	exists := func(p string) bool {
		_, err := os.Stat(p)
		return err == nil
	}
	if !exists(dir) {
		// Between the swap's two renames: the new log is complete.
		for _, from := range []string{dir + suffixNew, dir + suffixOld} {
			if exists(from) {
				if err := renameSynced(from, dir); err != nil {
					return fmt.Errorf("badgerlog: finish an interrupted erasure: %w", err)
				}
				logger.Warn("finished an erasure interrupted by a crash", "log", dir, "from", filepath.Base(from))
				break
			}
		}
	}
	for _, s := range []string{suffixTmp, suffixNew, suffixOld} {
		if exists(dir + s) {
			if err := os.RemoveAll(dir + s); err != nil {
				return fmt.Errorf("badgerlog: remove what an interrupted erasure left: %w", err)
			}
			logger.Warn("removed what an interrupted erasure left", "dir", dir+s)
		}
	}
	return nil
}

// renameSynced renames from to to and syncs their directory.
func renameSynced(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("badgerlog: %w", err)
	}
	return syncDir(filepath.Dir(to))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("badgerlog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("badgerlog: sync %s: %w", dir, err)
	}
	return nil
}

// syncTree syncs every file under dir, and dir.
func syncTree(dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
	if err != nil {
		return fmt.Errorf("badgerlog: sync the erased copy: %w", err)
	}
	return syncDir(dir)
}

// dirSize is the bytes of the files under dir.
func dirSize(dir string) (uint64, error) {
	var n uint64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += uint64(info.Size())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("badgerlog: size of %s: %w", dir, err)
	}
	return n, nil
}

// runBarrier waits, in the committer, until every batch handed to Badger
// is durable and acknowledged, then runs fn: nothing is written meanwhile.
func (l *Log) runBarrier(fn func()) {
	fence := make(chan struct{})
	errc := make(chan error, 1)
	errc <- nil
	l.inflight <- &pending{errc: errc, fence: fence}
	<-fence
	fn()
}
