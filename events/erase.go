package events

import "context"

// EraseSpec says which events an erasure removes and what it records.
type EraseSpec struct {
	// Match reports whether e is erased. It is called for every event up
	// to the head at the switch, never for placeholders of earlier
	// erasures.
	Match func(e *Event) bool
	// Tombstone returns the event recorded after the erased ones, given
	// what was erased (Seq is its sequence number). The log writes it in
	// the same switch, so it never holds one without the other.
	Tombstone func(EraseResult) (Event, error)
}

// EraseResult is what an erasure did.
type EraseResult struct {
	Erased      uint64 // events replaced by placeholders
	First, Last uint64 // the lowest and highest erased seq (0 when none)
	Scanned     uint64 // events read
	Seq         uint64 // the tombstone's sequence number
	Rewritten   bool   // the log was rewritten (something matched)
}

// Erasable is a log whose events can be erased for good: the matching
// events become placeholders (Event.Erased) and no byte of them is left
// in its storage.
type Erasable interface {
	Reader
	Appender
	// Erase replaces the matching events with placeholders and records
	// the tombstone; when nothing matches, nothing is rewritten and the
	// tombstone is appended like any event.
	Erase(ctx context.Context, spec EraseSpec) (EraseResult, error)
}
