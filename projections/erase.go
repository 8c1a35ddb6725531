package projections

import (
	"tracker/events"
	"tracker/events/erasure"
)

// Topics of the erasure's admin events (events/erasure).
const (
	EraseTopic     = erasure.Topic          // an erasure's tombstone
	RetentionTopic = erasure.RetentionTopic // a user's retention policy
)

// decodeErasure reports whether e is an erasure's event, which changes
// no projection: a placeholder, a tombstone or a retention policy. The
// projections hold nothing of erased events because an erasure rebuilds
// them from the erased log. A tombstone or policy that cannot be read is
// an error with its reason.
func decodeErasure(e events.Event) (bool, error) {
	if e.Erased() {
		return true, nil
	}
	if e.Source != events.SourceAdmin {
		return false, nil
	}
	switch e.Topic {
	case EraseTopic:
		_, err := erasure.ParseTombstone(e.Payload)
		return true, err
	case RetentionTopic:
		_, err := erasure.ParsePolicy(e.Payload)
		return true, err
	}
	return false, nil
}
