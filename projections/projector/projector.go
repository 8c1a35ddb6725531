// Package projector runs the projection folds over the event log: on start
// it catches up from the stored checkpoint, then follows the log live;
// Rebuild replays the whole log into a fresh database and switches to it
// atomically. It also serves reads of the current state.
package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/store"
)

// The projections live in Dir/projections-<generation>; the symlink
// Dir/projections names the current one. Switching generations is one
// atomic rename of that link, so an interrupted rebuild leaves the old
// state in place.
const (
	linkName  = "projections"
	genPrefix = "projections-"
)

// saveEvery bounds how many events are applied between saves (and so the
// size of one Badger transaction).
const saveEvery = 2000

// reopenEvery is how many events a rebuild folds between reopenings of
// the new database (store.Bulk.Reopen): Badger keeps the pages of the
// tables it writes mapped until it closes them, so the rebuild's RSS grew
// with everything written.
const reopenEvery = 250_000

// Projector owns the projection state.
type Projector struct {
	root    string
	log     events.Reader
	decoder owntracks.Decoder
	logger  *slog.Logger
	opts    Options

	rebuildMu sync.Mutex   // one rebuild at a time
	applyMu   sync.Mutex   // one applier at a time: Run's catch-up, Rebuild's switch
	storeMu   sync.RWMutex // held by range reads; a store is closed under its write lock

	mu          sync.RWMutex // guards the fields below for readers
	store       *store.Store
	state       *projections.State
	checkpoint  uint64
	gen         int
	applied     chan struct{} // closed and replaced whenever checkpoint moves
	broken      chan string   // a read failed: why (Run rebuilds); capacity 1
	pending     string        // OpenServing left a rebuild to Run: why
	reopenEvery uint64        // reopenEvery, or fewer in tests
	recent      recentEvents  // newest enter/leave events, for feeds
	past        pastCache     // areas' crossings before their definition, for feeds (past.go)
}

// Options are what a serving projector reports to and asks. The zero
// value is a projector for a command: nobody to notify, no disk guard.
type Options struct {
	// OnChange, when set, is called after each save with what changed
	// (nil after a rebuild: everything), while no other apply runs. It
	// must not block (projections.Feed.Send).
	OnChange func(*projections.Changes)
	// Space, when set, is asked before each save of the live projections:
	// it waits while the volume is nearly full, so the projections never
	// run Badger out of space (badgerlog.Space).
	Space interface {
		WaitWritable(ctx context.Context) error
	}
}

// New returns a projector that has loaded nothing yet: call Rebuild (as
// `tracker rebuild` does) or use Open.
func New(root string, log events.Reader, d owntracks.Decoder, logger *slog.Logger) *Projector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Projector{root: root, log: log, decoder: d, logger: logger, applied: make(chan struct{}), broken: make(chan string, 1), reopenEvery: reopenEvery}
}

// advance sets the checkpoint and wakes WaitFor; the caller holds p.mu.
func (p *Projector) advance(seq uint64) {
	p.checkpoint = seq
	close(p.applied)
	p.applied = make(chan struct{})
}

// WaitFor returns once the projections include event seq, or ctx ends.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	for {
		p.mu.RLock()
		done, ch := p.checkpoint >= seq, p.applied
		p.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Open opens the current projections under root, rebuilding them from the
// log when they were made by another schema version, are ahead of the log,
// or cannot be opened or read (a missing table, garbled blocks, a broken
// link or MANIFEST, a corrupted value): they are disposable, the log is
// the truth. Only a database held by another process is an error.
func Open(ctx context.Context, root string, log events.Reader, d owntracks.Decoder, logger *slog.Logger, opts Options) (*Projector, error) {
	p := New(root, log, d, logger)
	p.opts = opts
	reason, err := p.openCurrent()
	if err != nil {
		return nil, err
	}
	if reason == "" {
		return p, nil
	}
	if reason != reasonNone {
		logger.Warn("rebuilding projections from the log", "why", reason)
	}
	p.removeStale(0)
	if _, err := p.Rebuild(ctx, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// OpenServing is Open for a server that takes phones' messages while the
// projections are rebuilt: when they must be, it folds only the users
// from the log (what broker and HTTP-mode logins need, a small fraction
// of a rebuild's work) and returns; Run then rebuilds before following
// the log. Until the rebuild is done, reads see the users and no
// friends, areas or history (range reads fail with
// projections.ErrRebuilding), and the checkpoint stays 0, so readiness
// checks report the lag. Users added meanwhile can log in once the
// rebuild is done.
func OpenServing(ctx context.Context, root string, log events.Reader, d owntracks.Decoder, logger *slog.Logger, opts Options) (*Projector, error) {
	p := New(root, log, d, logger)
	p.opts = opts
	reason, err := p.openCurrent()
	if err != nil || reason == "" {
		return p, err
	}
	if reason != reasonNone {
		logger.Warn("rebuilding projections from the log; phones are served meanwhile", "why", reason)
	}
	state := projections.NewState()
	ch := projections.NewChanges()
	err = log.Scan(ctx, 1, func(e events.Event) error {
		if projections.IsAccountsTopic(e.Topic) {
			projections.Apply(state, projections.Decode(p.decoder, e), ch)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("projector: read the users from the log: %w", err)
	}
	p.state, p.pending = state, reason
	return p, nil
}

// reasonNone: there are no projections yet (not worth a warning).
const reasonNone = "no projections yet"

// openCurrent loads the current projections; when they cannot be used it
// returns why, with nothing open.
func (p *Projector) openCurrent() (reason string, err error) {
	gen, err := p.currentGen()
	if err != nil {
		return err.Error(), nil
	}
	p.removeStale(gen)
	if gen == 0 {
		return reasonNone, nil
	}
	dir := p.genDir(gen)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Sprintf("the projections link points at %s, which is missing", filepath.Base(dir)), nil
	}
	st, err := openStore(dir, p.logger)
	if errors.Is(err, store.ErrLocked) {
		return "", err
	}
	if err != nil {
		return fmt.Sprintf("cannot open them: %v", err), nil
	}
	fail := func(why string) (string, error) {
		_ = st.Close()
		return why, nil
	}
	schema, cp, err := st.Meta()
	switch {
	case err != nil:
		return fail(fmt.Sprintf("cannot read their checkpoint: %v", err))
	case schema == 0 && p.log.Head() > 0:
		return fail("they hold nothing (no schema version), the log holds events (was their MANIFEST lost?)")
	case schema != 0 && schema != projections.SchemaVersion:
		return fail(fmt.Sprintf("stored projections have schema version %d, this program uses %d", schema, projections.SchemaVersion))
	case cp > p.log.Head():
		return fail(fmt.Sprintf("projections are at seq %d but the log ends at %d (was the log restored?)", cp, p.log.Head()))
	}
	state, err := loadState(st)
	if err != nil {
		return fail(fmt.Sprintf("cannot read them: %v", err))
	}
	p.store, p.state, p.gen = st, state, gen
	p.advance(cp)
	if err := p.loadRecent(); err != nil {
		p.store, p.state = nil, nil
		return fail(fmt.Sprintf("cannot read their area events: %v", err))
	}
	return "", nil
}

// openStore and loadState turn corrupted files into an error, so the
// projections are rebuilt instead of the server stopping: tables are
// checked first (Badger panics on a broken footer in a goroutine of its
// own, out of reach of recover), and a panic on this goroutine is caught.
func openStore(dir string, logger *slog.Logger) (st *store.Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("projections: panic opening %s: %v", dir, r)
		}
	}()
	if err := store.CheckTables(dir); err != nil {
		return nil, err
	}
	return store.Open(dir, logger)
}

func loadState(st *store.Store) (state *projections.State, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("projections: panic loading: %v", r)
		}
	}()
	return st.Load()
}

// Close closes the projection database.
func (p *Projector) Close() error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store == nil {
		return nil
	}
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	err := p.store.Close()
	p.store = nil
	return err
}

func (p *Projector) genDir(gen int) string {
	return filepath.Join(p.root, fmt.Sprintf("%s%06d", genPrefix, gen))
}

// currentGen reads the link; 0 when there are no projections yet.
func (p *Projector) currentGen() (int, error) {
	target, err := os.Readlink(filepath.Join(p.root, linkName))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("projector: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(target), genPrefix))
	if err != nil {
		return 0, fmt.Errorf("projector: link %s points at %q, not a projections directory", linkName, target)
	}
	return n, nil
}

// removeStale deletes generations other than keep: leftovers of rebuilds
// that were interrupted, or of switches whose cleanup did not finish.
func (p *Projector) removeStale(keep int) {
	entries, _ := os.ReadDir(p.root)
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), genPrefix))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), genPrefix) || err != nil || n == keep {
			continue
		}
		if err := os.RemoveAll(filepath.Join(p.root, e.Name())); err != nil {
			p.logger.Warn("could not remove old projections", "dir", e.Name(), "err", err)
		}
	}
}

// switchTo points the link at gen atomically.
func (p *Projector) switchTo(gen int) error {
	tmp := filepath.Join(p.root, linkName+".tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(p.genDir(gen)), tmp); err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(p.root, linkName)); err != nil {
		return fmt.Errorf("projector: switch to new projections: %w", err)
	}
	if d, err := os.Open(p.root); err == nil {
		_ = d.Sync() // make the switch itself durable
		_ = d.Close()
	}
	return nil
}

// Checkpoint returns the last applied sequence number.
func (p *Projector) Checkpoint() uint64 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.checkpoint
}

// Run applies new events as they are appended until ctx ends; first it
// finishes what OpenServing left to do.
func (p *Projector) Run(ctx context.Context) error {
	if p.pending != "" {
		start := time.Now()
		p.removeStale(0)
		if _, err := p.Rebuild(ctx, nil); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		p.pending = ""
		p.logger.Info("projections rebuilt from the log", "took", time.Since(start).Round(time.Millisecond), "checkpoint", p.Checkpoint())
	}
	for {
		changed := p.log.Changed()
		if err := p.catchUp(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case why := <-p.broken:
			p.logger.Warn("rebuilding projections from the log: a read failed", "why", why)
			if _, err := p.Rebuild(ctx, nil); err != nil && ctx.Err() == nil {
				p.logger.Error("rebuilding broken projections failed; reads may keep failing", "err", err)
			}
		}
	}
}

// readFailed reports a failed read of the store (not one of fn's own
// errors, nor a cancellation): the projections are rebuilt by Run.
func (p *Projector) readFailed(err error) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	select {
	case p.broken <- err.Error():
	default: // a rebuild is already asked for
	}
}

// CatchUp applies everything appended after the checkpoint.
func (p *Projector) CatchUp(ctx context.Context) error { return p.catchUp(ctx) }

// catchUp applies everything after the checkpoint, saving every
// saveEvery events.
func (p *Projector) catchUp(ctx context.Context) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	p.mu.RLock()
	from, st, state := p.checkpoint+1, p.store, p.state
	p.mu.RUnlock()
	if st == nil {
		return errors.New("projector: closed")
	}
	ch := projections.NewChanges()
	var batch []projections.Input
	// save applies seg and saves it with its checkpoint. A correction
	// comes alone, after everything before it is saved: repositioning
	// reads the history up to it from the store.
	save := func(seg []projections.Input) error {
		var saved []*projections.Changes // published once p.mu is released
		p.mu.Lock()
		var err error
		for i, in := range seg {
			projections.Apply(state, in, ch)
			if i < len(seg)-1 && saveFull(ch) {
				if err = p.saveApplied(ctx, st, state, ch, in.Event.Seq); err != nil {
					break
				}
				saved, ch = append(saved, ch), projections.NewChanges()
			}
		}
		if err == nil {
			err = p.saveApplied(ctx, st, state, ch, seg[len(seg)-1].Event.Seq)
		}
		p.mu.Unlock()
		if err == nil {
			saved, ch = append(saved, ch), projections.NewChanges()
		}
		if p.opts.OnChange != nil { // what was saved, also when a later part failed
			for _, c := range saved {
				if !c.Empty() {
					p.opts.OnChange(c)
				}
			}
		}
		return err
	}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if p.opts.Space != nil {
			if err := p.opts.Space.WaitWritable(ctx); err != nil {
				return err
			}
		}
		for seg := batch; len(seg) > 0; {
			n := len(seg)
			for i, in := range seg {
				if in.Correction != nil {
					n = max(i, 1) // what comes before it, else the correction alone
					break
				}
			}
			if err := save(seg[:n]); err != nil {
				return err
			}
			seg = seg[n:]
		}
		batch = batch[:0]
		return nil
	}
	err := p.log.Scan(ctx, from, func(e events.Event) error {
		batch = append(batch, projections.Decode(p.decoder, e))
		if len(batch) >= saveEvery {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// saveFull reports whether ch is as much as one save should hold: the
// state's changes and the checkpoint are one Badger transaction, which
// must stay within 15% of a memtable (600 KB for a serving store), and
// each changed friend carries its newest payload; a card's face can be
// hundreds of KB. History goes in transactions of its own and does not
// count.
func saveFull(ch *projections.Changes) bool {
	return len(ch.Friends) >= maxFriendsPerSave || len(ch.Members) >= 4*maxFriendsPerSave ||
		len(ch.AreaEvents) >= 8*maxFriendsPerSave || len(ch.Faces) >= 1
}

// maxFriendsPerSave: a friend's record is its payload (up to ~1 KB for
// a location) and ~300 bytes around it.
const maxFriendsPerSave = 256

// saveApplied saves what ch says was applied up to seq (p.mu held) and
// notes it for reads; the caller publishes it once p.mu is released.
func (p *Projector) saveApplied(ctx context.Context, st *store.Store, state *projections.State, ch *projections.Changes, seq uint64) error {
	var err error
	if len(ch.Reposition) > 0 {
		err = p.reposition(ctx, state, ch, st.Newest)
	}
	if err == nil {
		err = st.Save(state, ch, seq)
	}
	if err != nil {
		return err
	}
	p.advance(seq)
	p.recent.add(ch.AreaEvents)
	p.past.saw(ch)
	return nil
}

// Rebuild replays the whole log into a new projections database and
// switches to it. Until the switch the current projections stay as they
// are and keep serving; if ctx ends first, the new database is removed
// and nothing changes.
func (p *Projector) Rebuild(ctx context.Context, progress projections.Progress) (projections.RebuildStats, error) {
	p.rebuildMu.Lock() // a second rebuild waits for the first
	defer p.rebuildMu.Unlock()
	start := time.Now()
	stats := projections.RebuildStats{ByReason: map[string]uint64{}}
	p.mu.RLock()
	gen := p.gen
	p.mu.RUnlock()
	if cur, err := p.currentGen(); err == nil && cur > gen {
		gen = cur
	}
	gen++
	dir := p.genDir(gen)
	_ = os.RemoveAll(dir)
	st, err := store.OpenBulk(dir, p.logger)
	if err != nil {
		return stats, err
	}
	fail := func(err error) (projections.RebuildStats, error) {
		_ = st.Close()
		_ = os.RemoveAll(dir)
		return stats, err
	}
	state := projections.NewState()
	total := p.log.Head()

	// Decoding runs beside folding and saving: two cores, two stages.
	type chunk []projections.Input
	chunks := make(chan chunk, 4)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var scanErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(chunks)
		c := make(chunk, 0, saveEvery)
		scanErr = p.log.Scan(rctx, 1, func(e events.Event) error {
			c = append(c, projections.Decode(p.decoder, e))
			if len(c) == saveEvery {
				select {
				case chunks <- c:
				case <-rctx.Done():
					return rctx.Err()
				}
				c = make(chunk, 0, saveEvery)
			}
			return nil
		})
		if scanErr == nil && len(c) > 0 {
			chunks <- c
		}
	})
	// History and area events stream into a bulk write whose commits run
	// beside the fold; the small state is written once at the end.
	bulk := st.NewBulk()
	ch := projections.NewChanges()
	var last uint64
	var applyErr error
	for c := range chunks {
		if applyErr != nil {
			continue // drain so the scanner can finish
		}
		if p.opts.Space != nil {
			if applyErr = p.opts.Space.WaitWritable(rctx); applyErr != nil {
				cancel()
				continue
			}
		}
		for _, in := range c {
			if in.Correction != nil {
				// History up to here goes to the store first: the
				// correction may reposition from it.
				if applyErr = bulk.Add(ch); applyErr != nil {
					break
				}
				ch.Reset()
			}
			projections.Apply(state, in, ch)
			if len(ch.Reposition) > 0 {
				if applyErr = p.reposition(rctx, state, ch, bulk.Newest); applyErr != nil {
					break
				}
			}
			stats.Events++
			if in.Err != nil {
				stats.Invalid++
				stats.ByReason[owntracks.Category(in.Err)]++
			}
		}
		if applyErr != nil {
			cancel()
			continue
		}
		last = c[len(c)-1].Event.Seq
		applyErr = bulk.Add(ch)
		if applyErr == nil && stats.Events/p.reopenEvery != (stats.Events-uint64(len(c)))/p.reopenEvery {
			applyErr = bulk.Reopen()
		}
		if applyErr != nil {
			cancel()
		}
		ch.Reset()
		if progress != nil {
			progress(last, total)
		}
	}
	wg.Wait()
	if err := errors.Join(scanErr, applyErr, ctx.Err()); err != nil {
		bulk.Cancel()
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return fail(ctx.Err())
		}
		return fail(fmt.Errorf("projector: rebuild: %w", err))
	}
	if err := bulk.Finish(state, last); err != nil {
		return fail(err)
	}
	// Badger keeps every page of the tables it wrote mapped into the
	// process (~90 MB of RSS after 1,000,000 events, for good). Compacted
	// into one level, nothing is left to compact (and so to map again)
	// once it serves; opened again, its tables are mapped untouched, as
	// after a restart. A small log's tables are not worth the time.
	if stats.Events >= p.reopenEvery {
		if err := st.Compact(); err != nil {
			return fail(err)
		}
		if err := st.ReopenServing(); err != nil {
			_ = os.RemoveAll(dir)
			return stats, fmt.Errorf("projector: reopen the rebuilt projections: %w", err)
		}
	}
	// Switch: stop live applies, take the events that arrived meanwhile,
	// then point the link at the new generation.
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	err = p.log.Scan(ctx, last+1, func(e events.Event) error {
		in := projections.Decode(p.decoder, e)
		if in.Correction != nil && !ch.Empty() {
			if err := st.Save(state, ch, last); err != nil { // see catchUp
				return err
			}
			ch.Reset()
		}
		projections.Apply(state, in, ch)
		last = e.Seq
		if len(ch.Reposition) > 0 {
			if err := p.reposition(ctx, state, ch, st.Newest); err != nil {
				return err
			}
		}
		if saveFull(ch) {
			if err := st.Save(state, ch, last); err != nil {
				return err
			}
			ch.Reset()
		}
		return nil
	})
	if err == nil && !ch.Empty() {
		err = st.Save(state, ch, last)
	}
	if err == nil {
		err = p.switchTo(gen)
	}
	if err != nil {
		return fail(err)
	}
	p.mu.Lock()
	old, oldGen := p.store, p.gen
	p.store, p.state, p.gen = st, state, gen
	p.advance(last)
	if err := p.loadRecent(); err != nil {
		p.logger.Warn("could not load recent area events after the rebuild", "err", err)
	}
	p.mu.Unlock()
	if old != nil {
		p.storeMu.Lock() // wait for reads still using the old store
		err := old.Close()
		p.storeMu.Unlock()
		if err != nil {
			p.logger.Warn("closing the previous projections", "err", err)
		}
		_ = os.RemoveAll(p.genDir(oldGen))
	}
	p.removeStale(gen)
	if p.opts.OnChange != nil {
		p.opts.OnChange(nil) // everything changed
	}
	stats.Took = time.Since(start)
	return stats, nil
}
