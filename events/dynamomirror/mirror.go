// Package dynamomirror copies every event of the log to a DynamoDB table,
// asynchronously, from a checkpoint, for analytics elsewhere.
//
// The mirror only reads the log (Scan, and Changed to wake up), in the one
// goroutine Run owns, so ingest never waits for it: while DynamoDB is slow
// or away the mirror falls behind, backs off (capped, exponential, logged
// once per outage) and catches up when it answers again.
//
// # Items
//
// One item per event, keyed by
//
//   - device (partition key, string): "user/device" from the topic
//     owntracks/<user>/<device>[/...]; PartitionAdmin ("#admin") for the
//     server's own events (areas, users) and PartitionOther ("#other") for
//     any topic that is not a device's (kept in the log like everything);
//   - ts (sort key, string): the receive time, fixed-width RFC 3339 in UTC
//     with nanoseconds, "#", the sequence number in 20 digits (SortKey).
//
// and holding seq (N), topic (S), kind (S, as `tracker log --json` gives
// it: the OwnTracks _type, "clear", "unknown", "invalid", "admin"),
// invalid (S, the reason, only for unusable events), payload (B, the bytes
// exactly as received), payload_size (N), received (S, RFC 3339 UTC),
// source (S), qos (N), retained (BOOL), client (S) and packet_id (N)
// when the event came over MQTT, and duplicate_of (N, only for
// redeliveries: DUP, same session and packet id). A payload that would take the item past
// DynamoDB's 400 KB limit is left out and payload_omitted (BOOL) is set;
// the log still has it.
//
// # Guarantees
//
// Writes are BatchWriteItem puts of up to 25 items, unprocessed items
// retried with backoff. The key is derived from the event alone, so
// writing an event again (after an outage, a crash, a lost reply)
// replaces its item with an identical one: each event is in the table at
// most once, and after the mirror has caught up, exactly once. The
// checkpoint file records the last sequence number below which every
// event is written; it is saved atomically at most once per
// Config.CheckpointEvery and when Run returns, so a crash rewrites at most
// that much. A checkpoint for another table name is ignored (the new table
// gets the whole log); delete the file to copy everything again.
package dynamomirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"tracker/events"
	"tracker/events/owntracks"
)

// BatchSize is the most items one BatchWriteItem call takes.
const BatchSize = 25

// Config tells the mirror where to write. Client, Table and
// CheckpointFile are required; zero values of the rest take the defaults
// given.
type Config struct {
	Client         API    // NewClient, or a *dynamodb.Client of your own
	Table          string // table name
	CheckpointFile string // where progress is kept, e.g. <data>/mirror-dynamodb.json
	// CreateTable creates the table (on-demand capacity) when it is
	// missing; otherwise a missing table is an outage like any other.
	CreateTable bool
	// Decoder judges payloads for the kind and invalid attributes (with
	// the server's secrets, an encrypted payload gets its inner kind);
	// nil: a zero decoder.
	Decoder *owntracks.Decoder
	Logger  *slog.Logger // nil: slog.Default()

	MinBackoff      time.Duration // first retry delay after a failure; 200 ms
	MaxBackoff      time.Duration // cap of the exponential backoff; 30 s
	Linger          time.Duration // after a wake-up with less than a chunk waiting, let appends gather this long; 50 ms, negative for none
	CheckpointEvery time.Duration // most frequent checkpoint save; 1 s
	CallTimeout     time.Duration // one DynamoDB call; 30 s
	Parallel        int           // concurrent BatchWriteItem calls; 4

	// Ingest first: while the log grows faster than BusyRate events/s
	// (1000; negative: never), the mirror works only BusyShare (0.1) of
	// the time, pausing after each chunk, so that on a small machine its
	// CPU use does not take from ingest. It catches up at full speed once
	// the burst (an import, a backlog of phones reconnecting) is over.
	BusyRate  float64
	BusyShare float64
}

// Mirror copies the log to the table. Create it with New, run it with Run.
type Mirror struct {
	cfg    Config
	src    events.Reader
	dec    *owntracks.Decoder
	logger *slog.Logger

	done    atomic.Uint64 // every event up to this one is in the table
	written atomic.Uint64 // items put (a rewrite after a lost reply counts again)
	fails   atomic.Uint64 // failed attempts
	skipped atomic.Uint64 // events DynamoDB refused outright (see putEach)
	deleted atomic.Uint64 // items deleted after erasures (erase.go)
	up      atomic.Bool   // the last call succeeded
	running atomic.Bool

	// Owned by the Run goroutine.
	saved     uint64    // sequence number in the checkpoint file
	savedAt   time.Time // when it was last saved
	down      bool      // inside an outage
	downSince time.Time
}

// New reads the checkpoint and returns a mirror of src that continues
// after it.
func New(src events.Reader, cfg Config) (*Mirror, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("dynamomirror: no DynamoDB client")
	case cfg.Table == "":
		return nil, errors.New("dynamomirror: no table name")
	case cfg.CheckpointFile == "":
		return nil, errors.New("dynamomirror: no checkpoint file")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.MinBackoff, 200*time.Millisecond)
	def(&cfg.MaxBackoff, 30*time.Second)
	def(&cfg.Linger, 50*time.Millisecond)
	def(&cfg.CheckpointEvery, time.Second)
	def(&cfg.CallTimeout, 30*time.Second)
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.BusyRate == 0 {
		cfg.BusyRate = 1000
	}
	if cfg.BusyShare <= 0 || cfg.BusyShare > 1 {
		cfg.BusyShare = 0.1
	}
	m := &Mirror{cfg: cfg, src: src, dec: cfg.Decoder, logger: cfg.Logger}
	if m.dec == nil {
		m.dec = &owntracks.Decoder{}
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	m.logger = m.logger.With("table", cfg.Table)
	cp, err := loadCheckpoint(cfg.CheckpointFile)
	if err != nil {
		return nil, err
	}
	if cp.Table != "" && cp.Table != cfg.Table {
		m.logger.Info("DynamoDB mirror: the checkpoint is for another table; copying the whole log to this one",
			"checkpoint_table", cp.Table, "checkpoint", cfg.CheckpointFile)
		cp.Seq = 0
	}
	m.done.Store(cp.Seq)
	m.saved = cp.Seq
	return m, nil
}

// Stats is the mirror's progress.
type Stats struct {
	Checkpoint uint64 // every event up to this sequence number is in the table
	Written    uint64 // items put since New
	Failures   uint64 // failed attempts since New
	Skipped    uint64 // events DynamoDB refused outright since New
	Deleted    uint64 // items of erased events deleted since New
	Up         bool   // the last call to DynamoDB succeeded
}

// Stats returns the progress so far; safe to call from any goroutine.
func (m *Mirror) Stats() Stats {
	return Stats{Checkpoint: m.done.Load(), Written: m.written.Load(), Failures: m.fails.Load(),
		Skipped: m.skipped.Load(), Deleted: m.deleted.Load(), Up: m.up.Load()}
}

// chunk is how many events one round reads from the log before writing
// them: Parallel batches, written at once.
func (m *Mirror) chunk() int { return BatchSize * m.cfg.Parallel }

var errChunkFull = errors.New("chunk full")

// Run copies events until ctx ends, then saves the checkpoint and returns
// nil. It returns an error only when the log cannot be read.
func (m *Mirror) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("dynamomirror: Run is already running")
	}
	defer m.running.Store(false)
	defer m.save()
	m.logger.Info("DynamoDB mirror starting", "from", m.done.Load()+1, "head", m.src.Head())
	err := m.retry(ctx, func(ctx context.Context) error {
		created, err := checkTable(ctx, m.cfg.Client, m.cfg.Table, m.cfg.CreateTable)
		if created {
			m.logger.Info("DynamoDB mirror: created the table (on-demand capacity)")
		}
		return err
	})
	if err != nil {
		return nil // ctx ended
	}
	buf := make([]events.Event, 0, m.chunk())
	for {
		changed := m.src.Changed() // before reading, so no append is missed
		buf = buf[:0]
		err := m.src.Scan(ctx, m.done.Load()+1, func(e events.Event) error {
			buf = append(buf, e)
			if len(buf) == cap(buf) {
				return errChunkFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errChunkFull) {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dynamomirror: read the log: %w", err)
		}
		if len(buf) > 0 {
			start, head := time.Now(), m.src.Head()
			if !m.write(ctx, buf) {
				return nil
			}
			for _, e := range buf {
				if !isTombstone(e) {
					continue
				}
				if err := m.purge(ctx, e); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
			m.done.Store(buf[len(buf)-1].Seq)
			if time.Since(m.savedAt) >= m.cfg.CheckpointEvery {
				m.save()
			}
			if !m.yield(ctx, start, head) {
				return nil
			}
			if len(buf) == cap(buf) {
				continue // more waiting
			}
		}
		if !m.wait(ctx, changed) {
			return nil
		}
	}
}

// yield pauses after a chunk that took since start while the log grew
// from head, when ingest is busy (see Config.BusyRate). It returns false
// when ctx ended.
func (m *Mirror) yield(ctx context.Context, start time.Time, head uint64) bool {
	took := time.Since(start)
	if m.cfg.BusyRate < 0 || took <= 0 || float64(m.src.Head()-head)/took.Seconds() < m.cfg.BusyRate {
		return true
	}
	// A chunk that took long (retries through an outage) must not stop
	// the mirror for nine times as long.
	pause := min(time.Duration(float64(took)*(1/m.cfg.BusyShare-1)), maxPause)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(pause):
		return true
	}
}

// maxPause caps a pause of Config.BusyShare.
const maxPause = 2 * time.Second

// wait returns once changed is closed and the linger time has passed, or
// false when ctx ends. Meanwhile it saves a checkpoint that is due.
func (m *Mirror) wait(ctx context.Context, changed <-chan struct{}) bool {
	for {
		var due <-chan time.Time
		if m.done.Load() != m.saved {
			due = time.After(time.Until(m.savedAt.Add(m.cfg.CheckpointEvery)))
		}
		select {
		case <-ctx.Done():
			return false
		case <-due:
			m.save()
			continue
		case <-changed:
		}
		break
	}
	if m.cfg.Linger > 0 && m.src.Head()-m.done.Load() < uint64(m.chunk()) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(m.cfg.Linger):
		}
	}
	return true
}

// save writes the checkpoint file when it is behind.
func (m *Mirror) save() {
	seq := m.done.Load()
	if seq == m.saved {
		return
	}
	if err := saveCheckpoint(m.cfg.CheckpointFile, checkpoint{Table: m.cfg.Table, Seq: seq}); err != nil {
		// The items are written; only a restart would rewrite them.
		m.logger.Error("DynamoDB mirror: cannot save the checkpoint; a restart will write some events again (harmless, same items)", "err", err)
		return
	}
	m.saved, m.savedAt = seq, time.Now()
}

// write puts the events' items, retrying failed batches with backoff
// until all are written. It returns false when ctx ended first.
func (m *Mirror) write(ctx context.Context, evs []events.Event) bool {
	var batches [][]types.WriteRequest
	for i := 0; i < len(evs); i += BatchSize {
		reqs := make([]types.WriteRequest, 0, BatchSize)
		for _, e := range evs[i:min(i+BatchSize, len(evs))] {
			if e.Erased() {
				continue // nothing of it is left to mirror
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item(e, m.dec)}})
			// Let a goroutine of the ingest path that waits for a P (the
			// log's committer back from its sync) run first: on a small
			// machine the mirror would otherwise hold it up for a
			// scheduler time slice.
			runtime.Gosched()
		}
		batches = append(batches, reqs)
	}
	return m.retry(ctx, func(ctx context.Context) error {
		var g errgroup.Group
		for i := range batches {
			if len(batches[i]) == 0 {
				continue
			}
			g.Go(func() error {
				left, err := m.writeBatch(ctx, batches[i])
				batches[i] = left
				return err
			})
		}
		return g.Wait()
	}) == nil
}

// writeBatch writes reqs with BatchWriteItem, resending unprocessed items
// (DynamoDB throttling) after a backoff. It returns what is left unwritten
// when a call fails.
func (m *Mirror) writeBatch(ctx context.Context, reqs []types.WriteRequest) ([]types.WriteRequest, error) {
	for try := 0; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		out, err := m.cfg.Client.BatchWriteItem(cctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{m.cfg.Table: reqs},
		})
		cancel()
		if isValidation(err) {
			// One item may be what DynamoDB refuses; find it.
			return m.putEach(ctx, reqs)
		}
		if err != nil {
			return reqs, err
		}
		left := out.UnprocessedItems[m.cfg.Table]
		m.written.Add(uint64(len(reqs) - len(left)))
		if len(left) == 0 {
			return nil, nil
		}
		reqs = left
		select {
		case <-ctx.Done():
			return reqs, ctx.Err()
		case <-time.After(m.delay(try)):
		}
	}
}

// putEach writes reqs one by one. An item DynamoDB refuses as invalid
// while the table itself is fine is logged and left out (counted as
// skipped): resending it would block the mirror for good. No item this
// package builds should be refused; this is the safety net.
func (m *Mirror) putEach(ctx context.Context, reqs []types.WriteRequest) ([]types.WriteRequest, error) {
	for i, r := range reqs {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		_, err := m.cfg.Client.PutItem(cctx, &dynamodb.PutItemInput{TableName: aws.String(m.cfg.Table), Item: r.PutRequest.Item})
		cancel()
		if isValidation(err) {
			if _, terr := checkTable(ctx, m.cfg.Client, m.cfg.Table, false); terr != nil {
				return reqs[i:], terr // the table changed under us: an outage, not this item
			}
			m.skipped.Add(1)
			var seq string
			if n, ok := r.PutRequest.Item[AttrSeq].(*types.AttributeValueMemberN); ok {
				seq = n.Value
			}
			m.logger.Error("DynamoDB mirror: DynamoDB refuses this event's item; it is left out of the table (the log keeps it)", "seq", seq, "err", err)
			continue
		}
		if err != nil {
			return reqs[i:], err
		}
		m.written.Add(1)
	}
	return nil, nil
}

// retry runs fn until it succeeds, backing off after each failure, and
// logs an outage once when it starts and once when it ends. It returns
// ctx's error if ctx ends first.
func (m *Mirror) retry(ctx context.Context, fn func(context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil {
			m.up.Store(true)
			if m.down {
				m.down = false
				m.logger.Info("DynamoDB mirror: DynamoDB answers again; catching up",
					"down_for", time.Since(m.downSince).Round(time.Millisecond), "failed_attempts", attempt, "behind", m.behind())
			}
			return nil
		}
		m.fails.Add(1)
		m.up.Store(false)
		d := m.delay(attempt)
		if !m.down {
			m.down, m.downSince = true, time.Now()
			m.logger.Warn("DynamoDB mirror: cannot write to DynamoDB; retrying with backoff until it answers (ingest is not affected, the mirror falls behind and catches up later)",
				"err", err, "behind", m.behind(), "max_backoff", m.cfg.MaxBackoff)
		} else {
			m.logger.Debug("DynamoDB mirror: still failing", "err", err, "attempt", attempt+1, "retry_in", d, "behind", m.behind())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
		var missing *types.ResourceNotFoundException
		if errors.As(err, &missing) && m.cfg.CreateTable {
			// Deleted while we ran: create it again. A failure here
			// shows again in the next attempt.
			if _, err := checkTable(ctx, m.cfg.Client, m.cfg.Table, true); err != nil {
				m.logger.Debug("DynamoDB mirror: cannot create the table again", "err", err)
			}
		}
	}
}

// delay is the capped exponential backoff for the attempt (0 = first
// retry), with jitter: between half and all of MinBackoff·2^attempt.
func (m *Mirror) delay(attempt int) time.Duration {
	d := m.cfg.MaxBackoff
	if attempt < 30 {
		d = min(m.cfg.MinBackoff<<attempt, m.cfg.MaxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// behind is how many events of the log are not yet in the table.
func (m *Mirror) behind() uint64 {
	head, done := m.src.Head(), m.done.Load()
	if head < done {
		return 0
	}
	return head - done
}
