// Package store keeps projection state in its own Badger database (a
// directory beside the event log), together with the checkpoint: the last
// log sequence number applied. State and checkpoint are written in one
// transaction, so after a crash they always agree and catching up from the
// checkpoint gives the same result as never having stopped.
//
// The store is not synced on each write: it can always be rebuilt from the
// log, and a lost tail of writes takes its checkpoint with it.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"tracker/events/badgerdb"
	"tracker/events/owntracks"
	"tracker/projections"
)

// Key layout. Timestamps and sequence numbers are fixed-width big-endian,
// so a time range for one friend or one area is one ordered range read.
const (
	keySchema     = "m/schema"     // -> uint64 schema version
	keyCheckpoint = "m/checkpoint" // -> uint64 last applied seq
	prefFriend    = "f/"           // f/<device>                        -> storedFriend JSON
	prefFace      = "c/"           // c/<device>                        -> the card's face (base64)
	prefArea      = "a/"           // a/<area id>                       -> Area JSON
	prefMember    = "s/"           // s/<device>\0<area>\0<origin>      -> Member JSON
	prefUser      = "u/"           // u/<name>                          -> User JSON
	prefIssued    = "i/"           // i/<command id>                    -> seq:8 of the event that applied it
	prefRules     = "x/"           // x/<device> ("x/" for all devices) -> Rules JSON (corrections)
	prefShare     = "sl/"          // sl/<link id>                      -> ShareLink JSON
	prefHistory   = "h/"           // h/<device>\0<block start:8>       -> sealed block of points (history.go)
	prefTail      = "ht/"          // ht/<device>\0<tst:8><hash:4>      -> point of the current block
	prefDevEvent  = "ed/"          // ed/<device>\0<tst:8><seq:8><area>\0<origin> -> AreaEvent JSON
	prefAreaEvent = "ea/"          // ea/<area>\0<tst:8><seq:8><device>\0<origin> -> AreaEvent JSON
	// sm/ and sd/: the stats' day marks and summaries (days.go).
)

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("projection database is in use by another process")

// Store is the projection database.
type Store struct {
	db   *badger.DB
	opts badger.Options // as opened, for Reopen

	tailsMu sync.Mutex
	tails   map[projections.DeviceID]*tail // the devices' current blocks, as far as read
}

// Memtable sizes. Each memtable is one Go allocation of 1.3 times its
// size that lives as long as the memtable; when Go places it in memory
// the heap used before, it zeroes it, and all of it is resident at once.
// A serving store writes little, so its memtable is small: at rest that
// was the difference between 42 and 53 MB of RSS. A rebuild writes
// hundreds of megabytes, and smaller memtables there meant more tables
// to compact (a higher peak and more CPU).
const (
	servingMemTable = 4 << 20
	bulkMemTable    = 8 << 20
)

// Open opens (creating) the projection database in dir, for serving.
func Open(dir string, logger *slog.Logger) (*Store, error) {
	return open(dir, logger, servingMemTable)
}

// OpenBulk opens (creating) the projection database in dir for a
// rebuild's bulk writes; ReopenServing turns it into a serving store.
func OpenBulk(dir string, logger *slog.Logger) (*Store, error) {
	return open(dir, logger, bulkMemTable)
}

func open(dir string, logger *slog.Logger, memTable int64) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Badger's table builders were most of a rebuild's peak memory: they
	// grow buffers by doubling, keep every old one until the table is
	// done, and pool them afterwards. So: small tables (compaction builds
	// several at once); blocks big enough for a history block (10 minutes
	// of points, up to ~30 KB before compression at one point a second),
	// which with 4 KB blocks made each flushed memtable cost 60 MB; and no
	// Badger compression, whose per-block buffers cost as much again.
	// History blocks, nearly all the bytes, are s2-compressed by the
	// store itself.
	opts := badgerdb.Options(dir, logger.With("component", "badger-projections")).
		WithMemTableSize(memTable).
		WithValueThreshold(256 << 10). // must stay under a batch: 15% of the smaller memtable
		WithBaseTableSize(1 << 20).
		WithBlockSize(64 << 10).
		WithCompression(options.None). // CheckTables verifies blocks as stored, plain first

		// A garbled block is an error (the projector then rebuilds), not
		// garbage served: Badger's iterators end silently at a bad block,
		// so every table is verified once at open (a few ms per 10 MB),
		// and each block again as it is read.
		WithChecksumVerificationMode(options.OnBlockRead)
	db, err := badgerdb.Open(opts)
	if errors.Is(err, badgerdb.ErrLocked) {
		return nil, fmt.Errorf("projections: %w", ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("projections: %w", err)
	}
	return &Store{db: db, opts: opts, tails: map[projections.DeviceID]*tail{}}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Reopen closes the database and opens it again, so that the pages of
// the tables written so far leave the process (badgerdb.Reopen): after a
// rebuild they were ~90 MB of RSS, for good. Nothing may use the store
// meanwhile; after an error it is closed.
func (s *Store) Reopen() error {
	db, err := badgerdb.Reopen(s.db, s.opts)
	if err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	s.db = db
	return nil
}

// ReopenServing is Reopen with the options of a serving store (Open),
// for a store opened with OpenBulk once its bulk writes are done.
func (s *Store) ReopenServing() error {
	s.opts = s.opts.WithMemTableSize(servingMemTable)
	return s.Reopen()
}

// Compact merges every table into one level, so that a database written
// in bulk (a rebuild) needs no compaction once it serves.
func (s *Store) Compact() error {
	if err := s.db.Flatten(1); err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	return nil
}

// Meta returns the stored schema version and checkpoint (0, 0 when empty).
func (s *Store) Meta() (schema int, checkpoint uint64, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		v, err := getUint(txn, keySchema)
		if err != nil {
			return err
		}
		schema = int(v)
		checkpoint, err = getUint(txn, keyCheckpoint)
		return err
	})
	return schema, checkpoint, err
}

func getUint(txn *badger.Txn, key string) (uint64, error) {
	item, err := txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v uint64
	err = item.Value(func(b []byte) error {
		if len(b) != 8 {
			return fmt.Errorf("store: %s has %d bytes, want 8", key, len(b))
		}
		v = binary.BigEndian.Uint64(b)
		return nil
	})
	return v, err
}

// Load reads the whole small state (friends, areas, memberships).
func (s *Store) Load() (*projections.State, error) {
	st := projections.NewState()
	err := s.db.View(func(txn *badger.Txn) error {
		if err := each(txn, prefFriend, func(v []byte) error {
			sf := storedFriend{Friend: &projections.Friend{}}
			if err := json.Unmarshal(v, &sf); err != nil {
				return err
			}
			sf.Friend.Sent = sf.Sent
			if sf.Friend.Location != nil {
				sf.Friend.Location.Absent = sf.LocationAbsent
			}
			st.Friends[sf.ID] = sf.Friend
			return nil
		}); err != nil {
			return fmt.Errorf("load friends: %w", err)
		}
		if err := each(txn, prefArea, func(v []byte) error {
			var a projections.Area
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			st.Areas[a.ID] = &a
			return nil
		}); err != nil {
			return fmt.Errorf("load areas: %w", err)
		}
		if err := each(txn, prefRules, func(v []byte) error {
			var r projections.Rules
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			st.Rules[r.Device] = &r
			return nil
		}); err != nil {
			return fmt.Errorf("load corrections: %w", err)
		}
		if err := each(txn, prefUser, func(v []byte) error {
			var u projections.User
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			st.Users[u.Name] = &u
			return nil
		}); err != nil {
			return fmt.Errorf("load users: %w", err)
		}
		if err := each(txn, prefShare, func(v []byte) error {
			var l projections.ShareLink
			if err := json.Unmarshal(v, &l); err != nil {
				return err
			}
			st.Shares[l.ID] = &l
			return nil
		}); err != nil {
			return fmt.Errorf("load share links: %w", err)
		}
		if err := eachKV(txn, prefIssued, func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("command %q: stored seq has %d bytes", k, len(v))
			}
			st.Issued[string(k)] = binary.BigEndian.Uint64(v)
			return nil
		}); err != nil {
			return fmt.Errorf("load command identities: %w", err)
		}
		return each(txn, prefMember, func(v []byte) error {
			var m projections.Member
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("load memberships: %w", err)
			}
			st.Members[m.Key()] = &m
			return nil
		})
	})
	return st, err
}

func each(txn *badger.Txn, prefix string, fn func(v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		if err := it.Item().Value(fn); err != nil {
			return err
		}
	}
	return nil
}

// eachKV calls fn with the key (without prefix) and value of every entry
// under prefix.
func eachKV(txn *badger.Txn, prefix string, fn func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		k := it.Item().Key()[len(prefix):]
		if err := it.Item().Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
		}
	}
	return nil
}

// Save writes what ch says changed, taken from st, and the checkpoint, in
// one transaction.
//
// History goes first; when it is too big for the same transaction, part of
// it is committed ahead (see mergeHistory).
func (s *Store) Save(st *projections.State, ch *projections.Changes, checkpoint uint64) (err error) {
	defer func() {
		if err != nil {
			s.forgetTails()
		}
	}()
	w := &histWriter{db: s.db}
	defer w.discard()
	if err := s.mergeHistory(w, ch.History); err != nil {
		return err
	}
	// The rest must be one transaction with the checkpoint; give it room.
	if err := w.room(txnBudget / 2); err != nil {
		return err
	}
	if w.txn == nil {
		w.txn = s.db.NewTransaction(true)
	}
	txn := w.txn
	set := func(k, v []byte) error { return txn.Set(k, v) }
	if err := writeChanges(set, func(k []byte) error { return txn.Delete(k) }, st, ch); err != nil {
		return err
	}
	if err := set([]byte(keySchema), be64(projections.SchemaVersion)); err != nil {
		return err
	}
	if err := set([]byte(keyCheckpoint), be64(checkpoint)); err != nil {
		return err
	}
	if err := w.commit(); err != nil {
		return fmt.Errorf("store: save at seq %d: %w", checkpoint, err)
	}
	return nil
}

// forgetTails drops the tails kept in memory after a failed save, which
// may have left them ahead of what is stored; they are read again.
func (s *Store) forgetTails() {
	s.tailsMu.Lock()
	clear(s.tails)
	s.tailsMu.Unlock()
}

// writeChanges writes everything in ch but history, which is merged into
// blocks (saveHistory, bulkHistory).
func writeChanges(set func(k, v []byte) error, del func(k []byte) error, st *projections.State, ch *projections.Changes) error {
	for id := range ch.Friends {
		f, ok := st.Friends[id]
		k := []byte(prefFriend + string(id))
		if !ok {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		sf := storedFriend{Friend: f, Sent: f.Sent}
		if f.Location != nil {
			sf.LocationAbsent = f.Location.Absent
		}
		if err := setJSON(set, k, sf); err != nil {
			return err
		}
	}
	for dev, face := range ch.Faces {
		k := []byte(prefFace + string(dev))
		if face == "" {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		if err := set(k, []byte(face)); err != nil {
			return err
		}
	}
	for id := range ch.Areas {
		k := []byte(prefArea + id)
		a, ok := st.Areas[id]
		if !ok {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		if err := setJSON(set, k, a); err != nil {
			return err
		}
	}
	for name := range ch.Users {
		k := []byte(prefUser + name)
		u, ok := st.Users[name]
		if !ok {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		if err := setJSON(set, k, u); err != nil {
			return err
		}
	}
	for id := range ch.Issued {
		k := []byte(prefIssued + id)
		seq, ok := st.Issued[id]
		if !ok {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		if err := set(k, be64(seq)); err != nil {
			return err
		}
	}
	for dev := range ch.Rules {
		k := []byte(prefRules + string(dev))
		r, ok := st.Rules[dev]
		if !ok {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		if err := setJSON(set, k, r); err != nil {
			return err
		}
	}
	for id := range ch.Shares {
		k := []byte(prefShare + id)
		l, ok := st.Shares[id]
		if !ok {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		if err := setJSON(set, k, l); err != nil {
			return err
		}
	}
	for mk := range ch.Members {
		k := []byte(prefMember + mk.String())
		m, ok := st.Members[mk]
		if !ok {
			if err := del(k); err != nil {
				return err
			}
			continue
		}
		if err := setJSON(set, k, m); err != nil {
			return err
		}
	}
	for _, e := range ch.AreaEvents {
		v, err := json.Marshal(e)
		if err != nil {
			return err
		}
		// One fix can give the same area event from both origins (the
		// phone's report and the geometry): the origin keeps them apart.
		if err := set(eventKey(prefDevEvent, string(e.Device), e.Tst, e.Seq, e.Area+"\x00"+e.Origin), v); err != nil {
			return err
		}
		if err := set(eventKey(prefAreaEvent, e.Area, e.Tst, e.Seq, string(e.Device)+"\x00"+e.Origin), v); err != nil {
			return err
		}
	}
	return nil
}

// storedFriend is a friend as stored: with its location as sent and the
// numbers that location did not carry, which the native API does not show.
type storedFriend struct {
	*projections.Friend
	Sent           *projections.Sent `json:"sent,omitempty"`
	LocationAbsent owntracks.Fields  `json:"location_absent,omitempty"`
}

// Face returns dev's card face (base64), "" when it has none.
func (s *Store) Face(dev projections.DeviceID) (string, error) {
	var face string
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(prefFace + string(dev)))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			face = string(v)
			return nil
		})
	})
	if err != nil {
		return "", fmt.Errorf("store: face of %s: %w", dev, err)
	}
	return face, nil
}

func setJSON(set func(k, v []byte) error, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return set(k, b)
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// tstKey maps a Unix time to an order-preserving unsigned value.
func tstKey(tst int64) uint64 { return uint64(tst) ^ (1 << 63) }

func eventKey(prefix, owner string, tst int64, seq uint64, other string) []byte {
	k := make([]byte, 0, len(prefix)+len(owner)+1+16+len(other))
	k = append(k, prefix...)
	k = append(k, owner...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, tstKey(tst))
	k = binary.BigEndian.AppendUint64(k, seq)
	return append(k, other...)
}

// Point encoding: seq, tst (8 each), lat, lon (float64 bits), then
// varints acc alt vel cog batt bs, then conn and trigger as
// length-prefixed strings, then one byte of Absent.
func encodePoint(p projections.Point) []byte { return appendPoint(make([]byte, 0, 48), p) }

func appendPoint(b []byte, p projections.Point) []byte {
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(p.Tst))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Lat))
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(p.Lon))
	for _, v := range []int{p.Acc, p.Alt, p.Vel, p.Cog, p.Batt, p.BS} {
		b = binary.AppendVarint(b, int64(v))
	}
	b = binary.AppendUvarint(b, uint64(len(p.Conn)))
	b = append(b, p.Conn...)
	b = binary.AppendUvarint(b, uint64(len(p.Trigger)))
	b = append(b, p.Trigger...)
	return append(b, byte(p.Absent))
}

var errBadPoint = errors.New("store: bad history point")

func decodePoint(b []byte) (projections.Point, error) {
	var p projections.Point
	if len(b) < 32 {
		return p, errBadPoint
	}
	p.Seq = binary.BigEndian.Uint64(b)
	p.Tst = int64(binary.BigEndian.Uint64(b[8:]))
	p.Lat = math.Float64frombits(binary.BigEndian.Uint64(b[16:]))
	p.Lon = math.Float64frombits(binary.BigEndian.Uint64(b[24:]))
	b = b[32:]
	for _, dst := range []*int{&p.Acc, &p.Alt, &p.Vel, &p.Cog, &p.Batt, &p.BS} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return p, errBadPoint
		}
		*dst, b = int(v), b[n:]
	}
	for _, dst := range []*string{&p.Conn, &p.Trigger} {
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return p, errBadPoint
		}
		*dst, b = string(b[n:n+int(l)]), b[n+int(l):]
	}
	if len(b) != 1 {
		return p, errBadPoint
	}
	p.Absent = owntracks.Fields(b[0])
	return p, nil
}

// History calls fn for dev's points with from <= tst < to, in tst order.
func (s *Store) History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	return s.db.View(func(txn *badger.Txn) error { return readHistory(txn, dev, from, to, fn) })
}

// HistoryBack calls fn for dev's points with tst <= at, newest first,
// until fn returns false.
func (s *Store) HistoryBack(dev projections.DeviceID, at int64, fn func(projections.Point) bool) error {
	return s.db.View(func(txn *badger.Txn) error { return readHistoryBack(txn, dev, at, fn) })
}

// DeviceEvents calls fn for dev's area events with from <= tst < to.
func (s *Store) DeviceEvents(dev projections.DeviceID, from, to int64, fn func(projections.AreaEvent) error) error {
	return s.events(prefDevEvent, string(dev), from, to, fn)
}

// AreaEvents calls fn for an area's events with from <= tst < to.
func (s *Store) AreaEvents(area string, from, to int64, fn func(projections.AreaEvent) error) error {
	return s.events(prefAreaEvent, area, from, to, fn)
}

func (s *Store) events(pref, owner string, from, to int64, fn func(projections.AreaEvent) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		prefix := append([]byte(pref+owner), 0)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		end := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), tstKey(to))
		for it.Seek(binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), tstKey(from))); it.Valid(); it.Next() {
			if string(it.Item().Key()) >= string(end) {
				return nil
			}
			var e projections.AreaEvent
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return err
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeviceEventsBack calls fn for dev's area events of one origin with
// tst <= at, newest first, until fn returns false. The origin is read
// from the key, so events of the other origin cost no decoding.
func (s *Store) DeviceEventsBack(dev projections.DeviceID, at int64, origin string, fn func(projections.AreaEvent) bool) error {
	return s.db.View(func(txn *badger.Txn) error {
		prefix := append([]byte(prefDevEvent+string(dev)), 0)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
		defer it.Close()
		seek := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), tstKey(at))
		seek = binary.BigEndian.AppendUint64(seek, math.MaxUint64)
		seek = append(seek, 0xff)
		suffix := "\x00" + origin
		for it.Seek(seek); it.Valid(); it.Next() {
			if !strings.HasSuffix(string(it.Item().Key()), suffix) {
				continue
			}
			var e projections.AreaEvent
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return err
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// AllAreaEvents calls fn for every enter/leave event, device by device.
func (s *Store) AllAreaEvents(fn func(projections.AreaEvent) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		return each(txn, prefDevEvent, func(v []byte) error {
			var e projections.AreaEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			return fn(e)
		})
	})
}

// Dump calls fn for every key and value, in key order (tests compare
// stores with it).
func (s *Store) Dump(fn func(k, v []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if k := it.Item().Key(); bytes.HasPrefix(k, []byte(prefDayMark)) || bytes.HasPrefix(k, []byte(prefDayStat)) {
				continue // the stats' cache, not state (days.go)
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(it.Item().KeyCopy(nil), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Bulk writes a whole rebuild: history blocks and area events as they
// come, the small state once at the end. It writes through a Badger
// WriteBatch, whose commits run beside the fold instead of holding it up;
// nothing is atomic until Finish writes the checkpoint, which is fine for
// a new generation that is not in use until it is complete.
type Bulk struct {
	s    *Store
	wb   *badger.WriteBatch
	hist *bulkHistory
}

// NewBulk starts a bulk write.
func (s *Store) NewBulk() *Bulk {
	return &Bulk{s: s, wb: s.db.NewWriteBatch(), hist: newBulkHistory()}
}

// Reopen writes what the batch holds and reopens the database (see
// Store.Reopen), so that a long bulk write keeps only the tables written
// since in memory.
func (b *Bulk) Reopen() error {
	if err := b.wb.Flush(); err != nil {
		return fmt.Errorf("store: bulk flush: %w", err)
	}
	if err := b.s.Reopen(); err != nil {
		return err
	}
	b.wb = b.s.db.NewWriteBatch()
	return nil
}

// Add writes the append-only part of ch: history points, area events
// and faces (each write of a face replaces the one before).
func (b *Bulk) Add(ch *projections.Changes) error {
	only := &projections.Changes{AreaEvents: ch.AreaEvents, Faces: ch.Faces}
	if err := writeChanges(b.wb.Set, b.wb.Delete, projections.NewState(), only); err != nil {
		return err
	}
	if err := b.hist.add(ch.History, b.wb.Set); err != nil {
		return err
	}
	if len(b.hist.late) >= b.hist.lateLimit {
		return b.mergeLate()
	}
	return nil
}

// mergeLate writes what the batch holds, then merges the late points into
// their stored blocks.
func (b *Bulk) mergeLate() error {
	if len(b.hist.late) == 0 {
		return nil
	}
	if err := b.wb.Flush(); err != nil {
		return fmt.Errorf("store: bulk flush: %w", err)
	}
	b.wb = b.s.db.NewWriteBatch()
	if err := b.s.mergeSealed(b.hist.late); err != nil {
		return fmt.Errorf("store: late history: %w", err)
	}
	b.hist.late = b.hist.late[:0]
	return nil
}

// Finish writes every entity of st and then, in its own transaction, the
// schema and the checkpoint.
func (b *Bulk) Finish(st *projections.State, checkpoint uint64) error {
	all := projections.NewChanges()
	for id := range st.Friends {
		all.Friends[id] = true
	}
	for id := range st.Areas {
		all.Areas[id] = true
	}
	for k := range st.Members {
		all.Members[k] = true
	}
	for n := range st.Users {
		all.Users[n] = true
	}
	for id := range st.Issued {
		all.Issued[id] = true
	}
	for dev := range st.Rules {
		all.Rules[dev] = true
	}
	for id := range st.Shares {
		all.Shares[id] = true
	}
	if err := b.hist.finish(b.wb.Set); err != nil {
		b.wb.Cancel()
		return fmt.Errorf("store: bulk history: %w", err)
	}
	if err := writeChanges(b.wb.Set, b.wb.Delete, st, all); err != nil {
		b.wb.Cancel()
		return fmt.Errorf("store: bulk state: %w", err)
	}
	if err := b.mergeLate(); err != nil {
		b.wb.Cancel()
		return err
	}
	if err := b.wb.Flush(); err != nil {
		return fmt.Errorf("store: bulk flush: %w", err)
	}
	return b.s.Save(st, projections.NewChanges(), checkpoint)
}

// Cancel drops a bulk write that will not finish.
func (b *Bulk) Cancel() { b.wb.Cancel() }
