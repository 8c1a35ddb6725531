package badgerlog

import (
	"errors"
	"testing"

	"tracker/events"
)

// TestAppendAfterFailedCommitReportsTheFailure: once a commit failed for
// good, every later append is answered with that failure (and the log's
// goroutines keep running).
func TestAppendAfterFailedCommitReportsTheFailure(t *testing.T) {
	l := openTest(t, t.TempDir())
	broken := errors.New("disk gone")
	l.failed.Store(&broken)
	for _, src := range []string{events.SourceEmbedded, events.SourceRecorder} {
		if _, err := l.Append(t.Context(), events.Event{Topic: "owntracks/a/p", Payload: []byte("{}"), Source: src}); !errors.Is(err, broken) {
			t.Errorf("%s: append after a failed commit: %v, want the failure", src, err)
		}
	}
}
