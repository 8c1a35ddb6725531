package projections

// A command is applied once per issue: the fold remembers the identity
// (Issue.ID) of the admin commands it applied, and skips a later event
// carrying an identity it has seen. Two events of one issue arise when a
// client sends the same command again (a form submitted twice, a request
// retried after a lost answer: the browser's forms carry the identity they
// were rendered with) or an export is imported back into its own log. A
// command typed again is a new issue and applies again.

// MaxIssued bounds the identities remembered; beyond it the oldest (by
// the event that applied it) is forgotten, so a repeat arriving more than
// MaxIssued commands later would apply again.
const MaxIssued = 10_000

// issuedBefore reports whether the command with id was applied already;
// if not, it remembers id as applied by seq (and forgets the oldest past
// MaxIssued). Commands without an identity (from versions before
// Issue) always apply.
func issuedBefore(s *State, id string, seq uint64, ch *Changes) bool {
	if id == "" {
		return false
	}
	if _, ok := s.Issued[id]; ok {
		return true
	}
	s.Issued[id] = seq
	ch.Issued[id] = true
	if len(s.Issued) > MaxIssued {
		oldest, min := "", seq
		for k, v := range s.Issued {
			if v < min || (v == min && k < oldest) {
				oldest, min = k, v
			}
		}
		delete(s.Issued, oldest)
		ch.Issued[oldest] = true
	}
	return false
}

// IssuedAt returns the event that applied the command with id, if the
// fold remembers it.
func (s *State) IssuedAt(id string) (uint64, bool) {
	seq, ok := s.Issued[id]
	return seq, ok
}
