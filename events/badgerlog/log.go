// Package badgerlog stores the event log in Badger: one key per event,
// "l" + big-endian sequence number, so iteration order is log order and
// reading from N is a seek.
//
// Appends go through one committer goroutine that takes everything queued,
// writes it in one synced transaction (group commit) and only then reports
// success. While one batch syncs, the next one fills; no timer is involved,
// so a lone appender pays one sync and many appenders share one.
package badgerlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/badger/v4"

	"tracker/events"
	"tracker/events/badgerdb"
)

const (
	prefixLog      = 'l' // l + seq(8)            -> record
	prefixRetained = 'r' // r + topic             -> seq(8) hash(8) of the last retained event on topic
)

// prefixImport ('i' + import key -> seq) is in importkey.go.

// Options tune a Log. The zero value is usable.
type Options struct {
	// QueueLen bounds appends waiting for the committer; AppendAsync blocks
	// while it is full. Default 8192.
	QueueLen int
	// MaxBatch bounds the events in one group commit. Default 4096.
	MaxBatch int
	// MaxBatchBytes bounds the encoded bytes in one group commit. Default 1 MiB.
	MaxBatchBytes int
	// DupWindow is how many recent events are remembered to recognise
	// redeliveries (a DUP publish repeating the last event of its session
	// and packet id). Default 65536.
	DupWindow int
	// OnBatch, when set, is called after each durable commit with its size
	// and how long the commit took (metrics, benchmarks).
	OnBatch func(events int, took time.Duration)
	// Space, when set, refuses batches (events.ErrDiskFull, nothing
	// stored) while the volume is nearly full; they succeed again once
	// space is freed.
	Space  *Space
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.QueueLen <= 0 {
		o.QueueLen = 8192
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.DupWindow <= 0 {
		o.DupWindow = 1 << 16
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

type request struct {
	ev   events.Event
	done func(uint64, error)
	// barrier, when set, is run by the committer once every earlier
	// event is durable and before any later one is written (erase.go).
	barrier func()
}

type result struct {
	done func(uint64, error)
	seq  uint64
	err  error // this event's own outcome (ErrAlreadyLogged), when the batch commits
}

// ErrLocked is returned by Open when another process (usually a running
// server) holds the log's database.
var ErrLocked = badgerdb.ErrLocked

// Log is the Badger-backed event log. It implements events.Appender and
// events.Reader. It owns its Badger database: Close closes both.
type Log struct {
	dir  string
	db   *badger.DB // the committer's: replaced only by an erasure, in the committer
	opts Options

	// Readers take the current database through acquire, so an erasure
	// can swap it (erase.go).
	dbMu    sync.Mutex
	dbCond  *sync.Cond
	cur     *generation // nil while an erasure swaps the database
	eraseMu sync.Mutex  // one erasure at a time

	mu       sync.RWMutex // guards closed against sends on queue
	closed   bool
	queue    chan request
	inflight chan *pending
	wg       sync.WaitGroup

	head   atomic.Uint64         // newest durable seq
	failed atomic.Pointer[error] // set once a commit failed twice

	notifyMu sync.Mutex
	notify   chan struct{}

	// Owned by the committer goroutine after Open.
	next     uint64                  // seq the next appended event gets
	byPacket map[uint64]retainedMark // hash(source, client, packet id) -> last event logged for it
	byTopic  map[uint64]retainedMark // hash(topic) -> last event logged on it
	ring     []recentMark            // the recent events, circular; bounds both maps
	ringPos  int
	retained map[string]retainedMark
	imports  *importFilter // every import key logged; loaded at the first import
}

// retainedMark is an event's seq and its content hash (topic, payload).
type retainedMark struct{ seq, hash uint64 }

// recentMark is one recent event in the ring: its seq and the keys it is
// registered under (packet 0 when it has no delivery identity).
type recentMark struct{ seq, packet, topic uint64 }

// Open opens (creating) the log's database in dir and starts the log on
// it. It reads the head and the recent events needed to recognise
// redeliveries.
func Open(dir string, opts Options) (*Log, error) {
	opts.defaults()
	if err := recoverErasure(dir, opts.Logger); err != nil {
		return nil, err
	}
	db, err := openDB(dir, opts.Logger)
	if err != nil {
		return nil, err
	}
	// A batch writes one block and up to two entries per event (retained
	// mark, import key): stay within what one Badger transaction may hold.
	opts.MaxBatch = max(1, min(opts.MaxBatch, int(db.MaxBatchCount())/2-1))
	l := &Log{
		dir:      dir,
		db:       db,
		cur:      &generation{db: db},
		opts:     opts,
		queue:    make(chan request, opts.QueueLen),
		inflight: make(chan *pending, maxInFlight),
		notify:   make(chan struct{}),
		byPacket: make(map[uint64]retainedMark),
		byTopic:  make(map[uint64]retainedMark),
		ring:     make([]recentMark, 0, opts.DupWindow),
		retained: make(map[string]retainedMark),
	}
	l.dbCond = sync.NewCond(&l.dbMu)
	if err := l.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	l.next = l.head.Load() + 1
	l.wg.Add(2)
	go l.commitLoop()
	go l.completeLoop()
	return l, nil
}

// openDB opens the log's database in dir. The log is read sequentially
// (catch-up, rebuild, follow), so a block cache buys little; small caches
// keep the server small. The log syncs after each group commit itself.
func openDB(dir string, logger *slog.Logger) (*badger.DB, error) {
	return badgerdb.Open(badgerdb.Options(dir, logger.With("component", "badger")).
		WithBlockCacheSize(4 << 20).
		WithIndexCacheSize(4 << 20).
		WithValueThreshold(32 << 10)) // big payloads (card faces) go to the value log
}

// RunGC reclaims value-log space every interval until ctx ends. The log
// only appends, so there is rarely anything to collect; the projections
// live in a database of their own.
func (l *Log) RunGC(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g := l.acquire()
		for g.db.RunValueLogGC(0.5) == nil {
		}
		l.release(g)
	}
}

func (l *Log) load() error {
	return l.db.View(func(txn *badger.Txn) error {
		// Walk blocks newest first until the duplicate window is full.
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixLog}, Reverse: true})
		defer it.Close()
		// Blocks come newest first, each block oldest first: each block's
		// marks go just before the newer ones, filling the ring itself from
		// its end. Little garbage on purpose: what the start leaves behind
		// is heap that Go must zero (and so make resident) when the
		// projections' memtable, allocated next, lands in it.
		ring := l.ring[:cap(l.ring)]
		hashes := make([]uint64, len(ring))
		start := len(ring)
		var block []recentMark
		var blockHashes []uint64
		var buf []byte
		for it.Seek(seqKey(^uint64(0))); it.Valid() && start > 0; it.Next() {
			first := binary.BigEndian.Uint64(it.Item().Key()[1:])
			block, blockHashes = block[:0], blockHashes[:0]
			var last uint64
			err := it.Item().Value(func(v []byte) (err error) {
				buf, err = decodeBlockBuf(first, v, buf, func(e events.Event) error {
					last = e.Seq
					if e.DuplicateOf != 0 || e.Erased() {
						return nil // a redelivery is not registered (see commit), nor a placeholder
					}
					block = append(block, recentMark{seq: e.Seq, packet: packetKey(&e), topic: topicKey(e.Topic)})
					blockHashes = append(blockHashes, contentHash(e.Topic, e.Payload))
					return nil
				})
				return err
			})
			if err != nil {
				return err
			}
			if l.head.Load() == 0 {
				l.head.Store(last) // the newest block ends at the head
			}
			// Beyond the window, the block's oldest marks are dropped.
			drop := max(0, len(block)-start)
			start -= len(block) - drop
			copy(ring[start:], block[drop:])
			copy(hashes[start:], blockHashes[drop:])
		}
		// Oldest first from the ring's start; a full ring's oldest is at 0,
		// where remember replaces next.
		n := copy(ring, ring[start:])
		copy(hashes, hashes[start:])
		l.ring, l.ringPos = ring[:n], 0
		for i, m := range l.ring {
			l.index(m, hashes[i])
		}

		rit := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRetained}})
		defer rit.Close()
		for rit.Rewind(); rit.Valid(); rit.Next() {
			err := rit.Item().Value(func(v []byte) error {
				if len(v) != 16 {
					return fmt.Errorf("badgerlog: retained mark has %d bytes, want 16", len(v))
				}
				l.retained[string(rit.Item().Key()[1:])] = retainedMark{
					seq:  binary.BigEndian.Uint64(v),
					hash: binary.BigEndian.Uint64(v[8:]),
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// remember registers a logged event as the last of its packet identity
// and of its topic, forgetting the oldest event of the window.
func (l *Log) remember(m recentMark, hash uint64) {
	if len(l.ring) < cap(l.ring) {
		l.ring = append(l.ring, m)
	} else {
		old := l.ring[l.ringPos]
		if old.packet != 0 && l.byPacket[old.packet].seq == old.seq { // not replaced by a newer event
			delete(l.byPacket, old.packet)
		}
		if l.byTopic[old.topic].seq == old.seq {
			delete(l.byTopic, old.topic)
		}
		l.ring[l.ringPos] = m
		l.ringPos = (l.ringPos + 1) % cap(l.ring)
	}
	l.index(m, hash)
}

// index makes m the last event of its packet identity and of its topic.
func (l *Log) index(m recentMark, hash uint64) {
	if m.packet != 0 {
		l.byPacket[m.packet] = retainedMark{seq: m.seq, hash: hash}
	}
	l.byTopic[m.topic] = retainedMark{seq: m.seq, hash: hash}
}

// redeliveryOf returns the seq of the event e repeats when the transport
// delivered it again, else 0. Only a publish with the DUP flag can be a
// redelivery (the sender resends it because it saw no acknowledgement),
// and only from a source that can resend. With a delivery identity, it
// repeats the last event logged for the same session and packet id when
// topic and payload match (a packet id is reused only after an
// acknowledgement, and a resend keeps its id). Without one (records from
// before identities were kept), it repeats the last event on its topic
// when the content matches: never across a different message on the
// same topic, so something sent again on purpose is never mistaken.
func (l *Log) redeliveryOf(e *events.Event, hash uint64) uint64 {
	if !e.Dup || events.NeverRedelivered(e.Source) {
		return 0
	}
	if pk := packetKey(e); pk != 0 {
		if prev, ok := l.byPacket[pk]; ok && prev.hash == hash {
			return prev.seq
		}
		return 0
	}
	if prev, ok := l.byTopic[topicKey(e.Topic)]; ok && prev.hash == hash {
		return prev.seq
	}
	return 0
}

// packetKey is the hash of e's delivery identity (source, client, packet
// id), or 0 when it has none or its source never redelivers.
func packetKey(e *events.Event) uint64 {
	if e.PacketID == 0 || events.NeverRedelivered(e.Source) {
		return 0
	}
	d := xxhash.New()
	_, _ = d.WriteString(e.Source)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(e.Client)
	_, _ = d.Write([]byte{0, byte(e.PacketID >> 8), byte(e.PacketID)})
	return max(d.Sum64(), 1)
}

func topicKey(topic string) uint64 { return xxhash.Sum64String(topic) }

func contentHash(topic string, payload []byte) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(topic)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(payload)
	return d.Sum64()
}

func seqKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

// Append stores e durably and returns its sequence number.
func (l *Log) Append(ctx context.Context, e events.Event) (uint64, error) {
	type res struct {
		seq uint64
		err error
	}
	ch := make(chan res, 1)
	l.AppendAsync(e, func(seq uint64, err error) { ch <- res{seq, err} })
	select {
	case r := <-ch:
		return r.seq, r.err
	case <-ctx.Done():
		// The event may still become durable; the caller just stops waiting.
		return 0, ctx.Err()
	}
}

// AppendAsync queues e; done is called once it is durable or has failed.
func (l *Log) AppendAsync(e events.Event, done func(uint64, error)) {
	if done == nil {
		done = func(uint64, error) {}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		done(0, events.ErrClosed)
		return
	}
	l.queue <- request{ev: e, done: done}
}

// Close stops taking appends, commits and acknowledges what was queued,
// and waits for the log's goroutines. It does not close the database.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.queue)
	l.mu.Unlock()
	l.wg.Wait()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("badgerlog: close: %w", err)
	}
	return nil
}

// maxInFlight bounds batches handed to Badger but not yet durable. Badger's
// single writer coalesces them into one write and one sync, so the next
// batch forms while the previous one syncs.
const maxInFlight = 4

// pending is one batch between commit and acknowledgement.
type pending struct {
	results []result
	keys    [][]byte // for a retry after a failed commit
	vals    [][]byte
	last    uint64 // highest seq in the batch, 0 when it appends nothing
	n       int
	start   time.Time
	errc    chan error
	fence   chan struct{} // set only by runBarrier: closed when reached
}

func (l *Log) commitLoop() {
	defer l.wg.Done()
	defer close(l.inflight)
	batch := make([]request, 0, l.opts.MaxBatch)
	for {
		req, ok := <-l.queue
		if !ok {
			return
		}
		if req.barrier != nil {
			l.runBarrier(req.barrier)
			continue
		}
		batch = append(batch[:0], req)
		size := len(req.ev.Payload) + len(req.ev.Topic)
		var held func()
	fill:
		for len(batch) < l.opts.MaxBatch && size < l.opts.MaxBatchBytes {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break fill
				}
				if r.barrier != nil {
					held = r.barrier
					break fill
				}
				batch = append(batch, r)
				size += len(r.ev.Payload) + len(r.ev.Topic)
			default:
				break fill
			}
		}
		l.inflight <- l.commit(batch)
		if held != nil {
			l.runBarrier(held)
		}
	}
}

// completeLoop acknowledges batches strictly in log order, once durable.
func (l *Log) completeLoop() {
	defer l.wg.Done()
	for p := range l.inflight {
		err := <-p.errc
		if p.fence != nil {
			close(p.fence) // every earlier batch is acknowledged
			continue
		}
		if errors.Is(err, events.ErrDiskFull) {
			// Refused before writing: not a failure of the log.
			for _, r := range p.results {
				r.done(0, err)
			}
			continue
		}
		if err != nil && len(p.keys) > 0 && l.failed.Load() == nil {
			// One retry: a later batch may already be durable, and
			// rewriting the same keys keeps the sequence dense.
			err = l.db.Update(func(txn *badger.Txn) error {
				for i := range p.keys {
					if err := txn.Set(p.keys[i], p.vals[i]); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err != nil {
			if l.failed.Load() == nil {
				err = fmt.Errorf("badgerlog: commit of seq %d: %w", p.last, err)
				l.failed.Store(&err)
				l.opts.Logger.Error("event log cannot write; refusing appends until restart so nothing unsaved is acknowledged",
					"err", err)
			}
			err = *l.failed.Load()
		}
		if err == nil && p.last > 0 {
			l.head.Store(p.last)
			l.notifyMu.Lock()
			close(l.notify)
			l.notify = make(chan struct{})
			l.notifyMu.Unlock()
		}
		if err == nil && l.opts.OnBatch != nil {
			l.opts.OnBatch(p.n, time.Since(p.start))
		}
		for _, r := range p.results {
			if err != nil {
				r.done(0, err)
			} else {
				r.done(r.seq, r.err)
			}
		}
	}
}

// isReplayCandidate reports whether e may be a retained message an external
// broker sent again on a new subscription: same topic and payload as the
// last retained event logged for that topic. Such replays are acknowledged
// with the earlier seq, not stored twice. Messages published to us directly
// are always stored.
func isReplayCandidate(e *events.Event) bool {
	return e.Retained && strings.HasPrefix(e.Source, events.SourceMQTT+":")
}

// commit assigns sequence numbers, writes the batch as one block and
// syncs it before anything is acknowledged.
func (l *Log) commit(batch []request) *pending {
	p := &pending{results: make([]result, len(batch)), start: time.Now(), errc: make(chan error, 1), n: len(batch)}
	for i := range batch {
		p.results[i].done = batch[i].done // also when the batch fails before the loop below
	}
	if errp := l.failed.Load(); errp != nil {
		p.errc <- *errp
		return p
	}
	size := 0
	for i := range batch {
		size += binary.MaxVarintLen64 + recordSize(&batch[i].ev)
	}
	// Before anything is assigned: a refused batch changes nothing.
	if err := l.opts.Space.Reserve(size); err != nil {
		p.errc <- err
		return p
	}
	imports, err := l.importIndex(batch)
	if err != nil {
		p.errc <- err
		return p
	}
	defer imports.close()
	recs := make([]byte, 0, size)
	first, count := l.next, uint64(0)
	for i := range batch {
		e := &batch[i].ev
		h := contentHash(e.Topic, e.Payload)
		if isReplayCandidate(e) {
			if prev, ok := l.retained[e.Topic]; ok && prev.hash == h {
				p.results[i].seq = prev.seq
				continue
			}
		}
		if e.Received.IsZero() {
			e.Received = time.Now()
		}
		seq := first + count
		if key, ok := ImportKey(e); ok {
			prev, err := imports.lookup(key)
			if err != nil || prev != 0 {
				p.results[i].seq, p.results[i].err = prev, err
				continue
			}
			p.keys = append(p.keys, importIndexKey(key))
			p.vals = append(p.vals, binary.BigEndian.AppendUint64(nil, seq))
			imports.add(key, seq)
		}
		e.Seq = seq
		e.DuplicateOf = l.redeliveryOf(e, h)
		n := len(recs)
		recs = appendRecord(append(recs, make([]byte, binary.MaxVarintLen64)...), e)
		// Length prefix: write it in front of the record, closing the gap.
		rl := len(recs) - n - binary.MaxVarintLen64
		pre := binary.AppendUvarint(nil, uint64(rl))
		copy(recs[n:], pre)
		copy(recs[n+len(pre):], recs[n+binary.MaxVarintLen64:])
		recs = recs[:n+len(pre)+rl]
		if e.Retained {
			rv := make([]byte, 16)
			binary.BigEndian.PutUint64(rv, seq)
			binary.BigEndian.PutUint64(rv[8:], h)
			p.keys = append(p.keys, append([]byte{prefixRetained}, e.Topic...))
			p.vals = append(p.vals, rv)
			l.retained[e.Topic] = retainedMark{seq: seq, hash: h}
		}
		if e.DuplicateOf == 0 {
			// A redelivery is not registered: a further resend still
			// names the original.
			l.remember(recentMark{seq: seq, packet: packetKey(e), topic: topicKey(e.Topic)}, h)
		}
		p.results[i].seq = seq
		count++
	}
	if count == 0 { // only retained replays and known imports: nothing to write
		p.errc <- nil
		return p
	}
	body := binary.AppendUvarint(make([]byte, 0, len(recs)+binary.MaxVarintLen64), count)
	body = append(body, recs...)
	p.keys = append(p.keys, seqKey(first))
	p.vals = append(p.vals, encodeBlock(body))
	p.last = first + count - 1
	l.next = p.last + 1

	// SyncWrites is off (Badger would sync once per transaction and once
	// more for the value log); one Sync covers the whole block. The next
	// batch is only written after this sync, so a memtable rotation can
	// never leave acknowledged entries in an unsynced WAL.
	txn := l.db.NewTransaction(true)
	defer txn.Discard()
	for i := range p.keys {
		if err = txn.Set(p.keys[i], p.vals[i]); err != nil {
			break
		}
	}
	if err == nil {
		err = txn.Commit()
	}
	if err == nil {
		err = l.db.Sync()
	}
	p.errc <- err
	return p
}

// Head returns the sequence number of the newest durable event.
func (l *Log) Head() uint64 { return l.head.Load() }

// Changed returns a channel closed at the next durable append.
func (l *Log) Changed() <-chan struct{} {
	l.notifyMu.Lock()
	defer l.notifyMu.Unlock()
	return l.notify
}

// Scan calls fn for events from seq `from` up to the head at call time.
// Events passed to fn may be kept; they share no buffer with later ones.
// An erasure that replaces the database meanwhile is followed: the scan
// goes on in the new one from where it was, between two blocks.
func (l *Log) Scan(ctx context.Context, from uint64, fn func(events.Event) error) error {
	head := l.head.Load()
	if from == 0 {
		from = 1
	}
	for from <= head {
		next, err := l.scanGeneration(ctx, from, head, fn)
		if err != nil || next == 0 {
			return err
		}
		from = next
	}
	return nil
}

// scanGeneration is Scan on the current database. It returns the seq to
// go on from when an erasure replaced the database, 0 when done.
func (l *Log) scanGeneration(ctx context.Context, from, head uint64, fn func(events.Event) error) (uint64, error) {
	g := l.acquire()
	defer l.release(g)
	errStop := errors.New("stop")
	next := uint64(0)
	err := g.db.View(func(txn *badger.Txn) error {
		start, err := blockStart(txn, from)
		if err != nil {
			return err
		}
		it := txn.NewIterator(badger.IteratorOptions{
			Prefix: []byte{prefixLog}, PrefetchValues: true, PrefetchSize: 16,
		})
		defer it.Close()
		for it.Seek(seqKey(start)); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if g.stale.Load() {
				next = from
				return nil
			}
			first := binary.BigEndian.Uint64(it.Item().Key()[1:])
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("badgerlog: read block %d: %w", first, err)
			}
			err = decodeBlock(first, v, func(e events.Event) error {
				if e.Seq > head {
					return errStop
				}
				if e.Seq < from {
					return nil
				}
				from = e.Seq + 1
				return fn(e)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return 0, nil
	}
	return next, err
}

// blockStart returns the key seq of the block holding seq.
func blockStart(txn *badger.Txn, seq uint64) (uint64, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixLog}, Reverse: true})
	defer it.Close()
	it.Seek(seqKey(seq))
	if !it.Valid() {
		return seq, nil
	}
	return binary.BigEndian.Uint64(it.Item().Key()[1:]), nil
}

// Get returns one event.
func (l *Log) Get(seq uint64) (events.Event, error) {
	var found events.Event
	errStop := errors.New("stop")
	err := l.Scan(context.Background(), seq, func(e events.Event) error {
		found = e
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return found, err
	}
	if found.Seq != seq || seq == 0 {
		return found, fmt.Errorf("badgerlog: event %d: %w", seq, ErrNotFound)
	}
	return found, nil
}

// ErrNotFound is returned by Get for a sequence number not in the log.
var ErrNotFound = errors.New("no such event")

// RetainedSeqs returns, per topic, the sequence number of the last retained
// event logged on it (used to restore a broker's retained messages).
func (l *Log) RetainedSeqs() (map[string]uint64, error) {
	out := map[string]uint64{}
	g := l.acquire()
	defer l.release(g)
	err := g.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRetained}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := string(it.Item().Key()[1:])
			err := it.Item().Value(func(v []byte) error {
				if len(v) == 16 {
					out[k] = binary.BigEndian.Uint64(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Events calls fn for each event seqs names, in that order: seqs must be
// ascending; numbers not in the log are skipped. Each block of the log is
// read and decoded once however many of its events are asked for, so
// reading many events costs a pass over their blocks, not a block per
// event. An event's payload is valid only until fn returns.
func (l *Log) Events(ctx context.Context, seqs []uint64, fn func(events.Event) error) error {
	head := l.head.Load()
	errDone := errors.New("done")
	g := l.acquire()
	defer l.release(g)
	err := g.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixLog}, Reverse: true})
		defer it.Close()
		i := 0
		for i < len(seqs) {
			if err := ctx.Err(); err != nil {
				return err
			}
			if seqs[i] > head {
				return nil
			}
			it.Seek(seqKey(seqs[i])) // the block holding it: the last starting at or before it
			if !it.Valid() {
				i++
				continue
			}
			first := binary.BigEndian.Uint64(it.Item().Key()[1:])
			at := i
			err := it.Item().Value(func(v []byte) error {
				return decodeBlock(first, v, func(e events.Event) error {
					for i < len(seqs) && seqs[i] < e.Seq {
						i++ // not in the log
					}
					if i == len(seqs) {
						return errDone
					}
					if seqs[i] != e.Seq {
						return nil
					}
					for i < len(seqs) && seqs[i] == e.Seq {
						i++
					}
					return fn(e)
				})
			})
			if err != nil {
				return err
			}
			if i == at {
				i++ // past the block's end, not in the log
			}
		}
		return nil
	})
	if errors.Is(err, errDone) {
		return nil
	}
	return err
}
