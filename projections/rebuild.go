package projections

import (
	"errors"
	"sort"
	"time"
)

// ErrRebuilding is returned by range reads while a serving projector's
// first rebuild has not finished: there is no history to read yet.
var ErrRebuilding = errors.New("projections are being rebuilt from the log; try again shortly")

// RebuildStats summarises a rebuild of the projections from the log.
type RebuildStats struct {
	Events   uint64            `json:"events"`
	Invalid  uint64            `json:"invalid"`
	ByReason map[string]uint64 `json:"invalid_by_reason"`
	Took     time.Duration     `json:"took_ns"`
}

// SortedReasons lists reasons by count, for summaries.
func (s RebuildStats) SortedReasons() []string {
	out := make([]string, 0, len(s.ByReason))
	for r := range s.ByReason {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if s.ByReason[out[i]] != s.ByReason[out[j]] {
			return s.ByReason[out[i]] > s.ByReason[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// Progress is told how far a rebuild got: events done out of total.
type Progress func(done, total uint64)
