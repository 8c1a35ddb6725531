package badgerlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tracker/events"
)

// DefaultMinFree is the free space below which the log refuses appends.
// Badger writes through memory-mapped files, so running out of space is a
// SIGBUS, not an error. Each of the two databases on the volume (log and
// projections, badgerdb.Options) may still need, after the last accepted
// append: its memtable filled to 8 MB and flushed as a table (8 MB), a
// value log file (16 MB) and a level-0 compaction rewriting its 3 level-0
// tables (24 MB) before the old ones go: 56 MB each, 112 MB together,
// rounded up.
const DefaultMinFree = 128 << 20

// spaceResume is how much more than the minimum must be free before
// appends are taken again after a refusal, so the state does not flap
// (and log) with every small write or deletion around the threshold.
const spaceResume = 1 << 20

// spaceCheckEvery bounds how often Space asks the file system; between
// two asks it counts the bytes it let through.
const spaceCheckEvery = 100 * time.Millisecond

// Space watches the free space of the volume holding a directory, so
// writers can stop before Badger runs out of it. The zero of *Space (nil)
// allows everything.
type Space struct {
	dir    string
	min    uint64
	logger *slog.Logger
	statfs func(dir string) (uint64, error) // free bytes for unprivileged writers

	mu      sync.Mutex
	checked time.Time
	free    uint64 // at the last statfs, minus what was reserved since
	err     error  // of the last statfs

	low      atomic.Bool
	lastFree atomic.Uint64
}

// NewSpace watches the volume of dir, keeping min bytes free.
func NewSpace(dir string, min uint64, logger *slog.Logger) *Space {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Space{dir: dir, min: min, logger: logger, statfs: statfs}
}

func statfs(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Reserve reports whether n more bytes may be written while keeping the
// minimum free, and counts them: events.ErrDiskFull when not. The file
// system is asked at most every 100 ms (every 10 ms near the threshold);
// in between, the bytes let through count. The first refusal and the
// return of space are logged once each. A minimum of 0 allows everything.
func (s *Space) Reserve(n int) error {
	if s == nil {
		return nil
	}
	return s.reserve(n, s.min)
}

// reserve is Reserve with its own floor: the projections, which must
// apply what the log accepted, write on down to half the minimum. Only
// the log's floor decides Low.
func (s *Space) reserve(n int, floor uint64) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.checked) >= spaceCheckEvery || s.free < floor+uint64(n)+spaceResume && now.Sub(s.checked) >= spaceCheckEvery/10 {
		s.free, s.err = s.statfs(s.dir)
		s.checked = now
		s.lastFree.Store(s.free)
	}
	if s.err != nil {
		return nil // cannot tell: do not stop the server over statfs
	}
	need := floor + uint64(n)
	if floor == s.min && s.low.Load() {
		need += spaceResume
	}
	ok := s.free >= need
	if ok {
		s.free -= uint64(n)
	}
	if floor == s.min {
		s.setLow(!ok)
	}
	if !ok {
		return events.ErrDiskFull
	}
	return nil
}

func (s *Space) setLow(low bool) {
	if s.low.Swap(low) == low {
		return
	}
	if low {
		s.logger.Error("disk nearly full: refusing new messages (no MQTT acknowledgement, HTTP 503) until space is freed; nothing acknowledged is lost",
			"dir", s.dir, "free_bytes", s.free, "min_free_bytes", s.min)
		return
	}
	s.logger.Info("disk space available again: accepting messages", "dir", s.dir, "free_bytes", s.free, "min_free_bytes", s.min)
}

// Low reports whether the last check refused appends.
func (s *Space) Low() bool { return s != nil && s.low.Load() }

// Free is the free space found at the last check, in bytes.
func (s *Space) Free() uint64 {
	if s == nil {
		return 0
	}
	return s.lastFree.Load()
}

// Min is the free space kept, in bytes.
func (s *Space) Min() uint64 {
	if s == nil {
		return 0
	}
	return s.min
}

// fits asks the file system now whether n more bytes fit above the
// minimum free space, without counting them as written (an erasure's
// copy, which gives them back when it finishes): events.ErrDiskFull when
// not. A nil Space, a minimum of 0 or a failing statfs allow everything.
func (s *Space) fits(n uint64) error {
	if s == nil || s.min == 0 {
		return nil
	}
	free, err := s.statfs(s.dir)
	if err != nil {
		return nil
	}
	if free < s.min+n {
		return fmt.Errorf("%w (%d MB free, %d MB needed)", events.ErrDiskFull, free>>20, (s.min+n)>>20)
	}
	return nil
}

// Check asks the file system now (at most every 100 ms) whether appends
// would be accepted; a health check calls it so a freed disk is noticed
// even while nobody appends.
func (s *Space) Check() error { return s.Reserve(0) }

// WaitWritable returns once the free space is above half the minimum
// (what the projections may still use to apply events the log accepted),
// checking every second, or when ctx ends.
func (s *Space) WaitWritable(ctx context.Context) error {
	if s == nil {
		return nil
	}
	logged := false
	for {
		if err := s.reserve(0, s.min/2); err == nil {
			if logged {
				s.logger.Info("disk space available again: projections resume")
			}
			return nil
		}
		if !logged {
			s.logger.Error("disk nearly full: projections pause until space is freed", "dir", s.dir, "free_bytes", s.Free())
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
