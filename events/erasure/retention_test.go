package erasure_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/erasure"
)

// TestRetentionReadsOnlyWhatIsNew: each run reads the log from where the
// last one stopped (a policy set since counts), and an erasure by command
// since the last run has it read everything again, so a user whose old
// events are gone gets no rule from what was read before.
func TestRetentionReadsOnlyWhatIsNew(t *testing.T) {
	l, err := badgerlog.Open(filepath.Join(t.TempDir(), "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	fix := func(user string, age time.Duration) {
		t.Helper()
		e := events.Event{Topic: "owntracks/" + user + "/phone", QoS: 1, Source: events.SourceEmbedded, Received: now.Add(-age),
			Payload: fmt.Appendf(nil, `{"_type":"location","lat":1,"lon":1,"tst":%d}`, now.Add(-age).Unix())}
		if _, err := l.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	policy := func(user, keep string) {
		t.Helper()
		e, _, err := erasure.NewPolicy(user, keep, "test", now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	x := &erasure.Eraser{Log: l, Now: func() time.Time { return now }}
	r := &erasure.Retention{Eraser: x, Default: 30 * 24 * time.Hour}
	users := func() []string {
		t.Helper()
		rules, err := r.Rules(t.Context(), now)
		if err != nil {
			t.Fatal(err)
		}
		var us []string
		for _, rule := range rules {
			us = append(us, rule.User)
		}
		return us
	}

	fix("alice", 60*24*time.Hour)
	fix("alice", time.Hour)
	fix("bob", time.Hour)
	if got := users(); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("rules = %v, want alice's", got)
	}
	policy("alice", "forever")
	fix("bob", 90*24*time.Hour) // late: old for bob
	if got := users(); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("after alice's policy and bob's old fix: rules = %v, want bob's", got)
	}
	if _, err := x.Erase(t.Context(), erasure.Request{Rules: []erasure.Rule{{User: "bob", Before: now.Add(-24 * time.Hour)}}, By: "test"}); err != nil {
		t.Fatal(err)
	}
	policy("alice", erasure.KeepDefault)
	if got := users(); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("after erasing bob's old fix: rules = %v, want alice's only", got)
	}
}
