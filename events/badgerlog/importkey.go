package badgerlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"tracker/events"
)

// Imports are idempotent. An event whose Source starts with "import:"
// (events.SourceRecorder, events.SourceGPX, ...) has an import key derived
// from the event itself: its time and a 128-bit hash of its source, topic,
// time and payload. The log keeps "i" + key -> seq, written in the same transaction
// as the block holding the event, and stores an import event only when its
// key is not indexed yet. Importing the same file twice therefore adds
// nothing the second time, and because the key is derived from what is
// stored, a restore of an export (tracker import log) rebuilds the index
// by appending the events again.
//
// Messages from phones never get a key: two identical messages from a
// phone are two events (the second flagged DuplicateOf).

// prefixImport keys the import index: i + key(24) -> seq(8).
const prefixImport = 'i'

// ImportKeySize is the length of an import key in bytes: the event's time
// (8, big endian Unix nanoseconds) and a 128-bit hash (16). The time in
// front keeps an import's index entries close together in Badger (the
// events of one device arrive in time order), which makes writing them
// several times cheaper than for scattered keys.
const ImportKeySize = 8 + 16

// ErrAlreadyLogged is what an append of an imported event reports when the
// log already holds an event with the same import key: the append's done
// (or Append) gets the sequence number of the earlier event together with
// this error, and nothing is stored. Test for it with errors.Is.
var ErrAlreadyLogged error = alreadyLogged{}

type alreadyLogged struct{}

func (alreadyLogged) Error() string { return "badgerlog: this imported event is already in the log" }

// AlreadyLogged lets packages that do not import this one (the web API
// answers with counts) recognise the error by behaviour, with errors.As
// and an interface{ AlreadyLogged() bool }.
func (alreadyLogged) AlreadyLogged() bool { return true }

// ImportKey returns e's import key; ok is false when e is not an import.
// The key is the event's time and a hash over Source, Topic, Received
// (Unix nanoseconds) and Payload, each length-prefixed so no two different
// events share an encoding (SHA-256, truncated to 128 bits: imported files
// come from anywhere, so collisions must not be constructible). The flags
// (QoS, retain, dup) are not part of what an import is about.
func ImportKey(e *events.Event) (key [ImportKeySize]byte, ok bool) {
	if !events.IsImport(e.Source) {
		return key, false
	}
	nanos := uint64(e.Received.UnixNano())
	h := sha256.New()
	var b [binary.MaxVarintLen64 + 8]byte
	writeField := func(s []byte) {
		_, _ = h.Write(binary.AppendUvarint(b[:0], uint64(len(s))))
		_, _ = h.Write(s)
	}
	writeField([]byte(e.Source))
	writeField([]byte(e.Topic))
	_, _ = h.Write(binary.BigEndian.AppendUint64(b[:0], nanos))
	writeField(e.Payload)
	var sum [sha256.Size]byte
	binary.BigEndian.PutUint64(key[:8], nanos)
	copy(key[8:], h.Sum(sum[:0]))
	return key, true
}

func importIndexKey(key [ImportKeySize]byte) []byte {
	k := make([]byte, 1+ImportKeySize)
	k[0] = prefixImport
	copy(k[1:], key[:])
	return k
}

// importIndex answers, for one batch, whether an import key is already
// logged: earlier in the batch, or in the database. The previous batch is
// committed before the next one is formed, so a read transaction opened
// here sees every earlier import. The filter answers "certainly not" for
// most new keys without a Badger lookup.
type importIndex struct {
	db     *badger.DB
	filter *importFilter
	txn    *badger.Txn // opened at the first lookup the filter cannot answer
	batch  map[[ImportKeySize]byte]uint64
}

// lookup returns the seq of the event already logged under key, 0 when
// there is none, and ErrAlreadyLogged with it so the caller can pass both on.
func (x *importIndex) lookup(key [ImportKeySize]byte) (uint64, error) {
	if seq, ok := x.batch[key]; ok {
		return seq, ErrAlreadyLogged
	}
	if !x.filter.mayContain(key) {
		return 0, nil
	}
	if x.txn == nil {
		x.txn = x.db.NewTransaction(false)
	}
	item, err := x.txn.Get(importIndexKey(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("badgerlog: look up import key: %w", err)
	}
	var seq uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("badgerlog: import index entry has %d bytes, want 8", len(v))
		}
		seq = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return seq, ErrAlreadyLogged
}

// add notes a key the batch logs. The filter learns it at once: should
// the batch fail, a later lookup only costs a Badger read.
func (x *importIndex) add(key [ImportKeySize]byte, seq uint64) {
	if x.batch == nil {
		x.batch = make(map[[ImportKeySize]byte]uint64)
	}
	x.batch[key] = seq
	x.filter.add(key)
}

func (x *importIndex) close() {
	if x.txn != nil {
		x.txn.Discard()
	}
}

// importFilter is a Bloom filter over every import key in the log, grown
// by adding a filter twice as large when the newest is full (a key may be
// in any of them). It is blocked: a key's bits all lie in one 512-bit
// block, so a lookup costs one cache miss per part. About 10 bits a key:
// 1.2 MB for a million imported events, 1-2% of new keys still looked up
// in Badger.
type importFilter struct {
	parts []bloom
}

type bloom struct {
	blocks   [][8]uint64
	n, limit int
}

const (
	bloomBitsPerKey = 10
	bloomHashes     = 7
	bloomFirst      = 1 << 16 // keys in the first part
)

// loadImportFilter reads every import key of db (keys only).
func loadImportFilter(db *badger.DB) (*importFilter, error) {
	f := &importFilter{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixImport}})
		defer it.Close()
		var key [ImportKeySize]byte
		for it.Rewind(); it.Valid(); it.Next() {
			if copy(key[:], it.Item().Key()[1:]) == ImportKeySize {
				f.add(key)
			}
		}
		return nil
	})
	return f, err
}

func (f *importFilter) add(key [ImportKeySize]byte) {
	if f == nil {
		return
	}
	if len(f.parts) == 0 || f.parts[len(f.parts)-1].n >= f.parts[len(f.parts)-1].limit {
		limit := bloomFirst
		if len(f.parts) > 0 {
			limit = 2 * f.parts[len(f.parts)-1].limit
		}
		f.parts = append(f.parts, bloom{blocks: make([][8]uint64, limit*bloomBitsPerKey/512), limit: limit})
	}
	b := &f.parts[len(f.parts)-1]
	b.n++
	h1, h2 := bloomHashPair(key)
	blk := &b.blocks[h1%uint64(len(b.blocks))]
	for i := range uint64(bloomHashes) {
		bit := (h2 >> (9 * i)) & 511
		blk[bit/64] |= 1 << (bit % 64)
	}
}

func (f *importFilter) mayContain(key [ImportKeySize]byte) bool {
	if f == nil {
		return true // not loaded: ask Badger
	}
	h1, h2 := bloomHashPair(key)
next:
	for i := range f.parts {
		b := &f.parts[i]
		blk := &b.blocks[h1%uint64(len(b.blocks))]
		for j := range uint64(bloomHashes) {
			bit := (h2 >> (9 * j)) & 511
			if blk[bit/64]&(1<<(bit%64)) == 0 {
				continue next
			}
		}
		return true
	}
	return false
}

// bloomHashPair: the key ends in a cryptographic hash; one half picks the
// block, the other the bits in it (7 × 9 bits).
func bloomHashPair(key [ImportKeySize]byte) (uint64, uint64) {
	return binary.LittleEndian.Uint64(key[8:16]), binary.LittleEndian.Uint64(key[16:24])
}

// importIndex prepares the import lookups of a batch, loading the filter
// at the log's first import. Called by the committer only.
func (l *Log) importIndex(batch []request) (*importIndex, error) {
	if l.imports == nil && slices.ContainsFunc(batch, func(r request) bool { return events.IsImport(r.ev.Source) }) {
		f, err := loadImportFilter(l.db)
		if err != nil {
			return nil, fmt.Errorf("badgerlog: read the import keys: %w", err)
		}
		l.imports = f
	}
	return &importIndex{db: l.db, filter: l.imports}, nil
}
