package badgerlog

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"tracker/events"
)

// Imports are idempotent. An event whose Source starts with "import:"
// (events.SourceRecorder, events.SourceGPX, ...) has an import key derived
// from the event itself: a 128-bit hash of its source, topic, time and
// payload. The log keeps "i" + key -> seq, written in the same transaction
// as the block holding the event, and stores an import event only when its
// key is not indexed yet. Importing the same file twice therefore adds
// nothing the second time, and because the key is derived from what is
// stored, a restore of an export (tracker import log) rebuilds the index
// by appending the events again.
//
// Messages from phones never get a key: two identical messages from a
// phone are two events (the second flagged DuplicateOf).

// ImportSourcePrefix starts the Source of every imported event.
const ImportSourcePrefix = "import:"

// prefixImport keys the import index: i + key(16) -> seq(8).
const prefixImport = 'i'

// ImportKeySize is the length of an import key in bytes.
const ImportKeySize = 16

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

// IsImport reports whether source names an import (and so whether the
// event gets an import key).
func IsImport(source string) bool { return strings.HasPrefix(source, ImportSourcePrefix) }

// ImportKey returns e's import key; ok is false when e is not an import.
// The key covers Source, Topic, Received (Unix nanoseconds) and Payload,
// each length-prefixed so no two different events share an encoding; the
// flags (QoS, retain, dup) are not part of what an import is about.
func ImportKey(e *events.Event) (key [ImportKeySize]byte, ok bool) {
	if !IsImport(e.Source) {
		return key, false
	}
	h := sha256.New()
	var b [binary.MaxVarintLen64 + 8]byte
	writeField := func(s []byte) {
		_, _ = h.Write(binary.AppendUvarint(b[:0], uint64(len(s))))
		_, _ = h.Write(s)
	}
	writeField([]byte(e.Source))
	writeField([]byte(e.Topic))
	_, _ = h.Write(binary.BigEndian.AppendUint64(b[:0], uint64(e.Received.UnixNano())))
	writeField(e.Payload)
	var sum [sha256.Size]byte
	copy(key[:], h.Sum(sum[:0]))
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
// here sees every earlier import.
type importIndex struct {
	db    *badger.DB
	txn   *badger.Txn // opened at the first lookup
	batch map[[ImportKeySize]byte]uint64
}

func newImportIndex(db *badger.DB) *importIndex {
	return &importIndex{db: db}
}

// lookup returns the seq of the event already logged under key, 0 when
// there is none, and ErrAlreadyLogged with it so the caller can pass both on.
func (x *importIndex) lookup(key [ImportKeySize]byte) (uint64, error) {
	if seq, ok := x.batch[key]; ok {
		return seq, ErrAlreadyLogged
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

func (x *importIndex) add(key [ImportKeySize]byte, seq uint64) {
	if x.batch == nil {
		x.batch = make(map[[ImportKeySize]byte]uint64)
	}
	x.batch[key] = seq
}

func (x *importIndex) close() {
	if x.txn != nil {
		x.txn.Discard()
	}
}
