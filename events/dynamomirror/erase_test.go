package dynamomirror_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"tracker/events"
	"tracker/events/dynamomirror/dynamotest"
	"tracker/events/erasure"
)

// An erasure reaches the table: the items of erased events the mirror had
// written are deleted when it meets the tombstone, events erased before it
// got to them are never written, and the other user's items stay.
func TestMirrorDeletesErasedItems(t *testing.T) {
	f := newFixture(t, false)
	loc := func(user string, i int) events.Event {
		return events.Event{Topic: "owntracks/" + user + "/phone", Payload: fmt.Appendf(nil, `{"_type":"location","lat":1,"lon":2,"tst":%d,"note":"%s-secret"}`, 1000+i, user),
			QoS: 1, Source: events.SourceEmbedded, Received: received.Add(time.Duration(i) * time.Second)}
	}
	for i := range 60 {
		user := "bob"
		if i%2 == 0 {
			user = "alice"
		}
		appendEvent(t, f.log, loc(user, i))
	}
	m := f.mirror(t)
	stop := run(t, m)
	caughtUp(t, f, m, 20*time.Second)
	stop()
	// Some of alice's events arrive after the mirror stopped: erased
	// before it ever sees them.
	for i := 60; i < 70; i++ {
		appendEvent(t, f.log, loc("alice", i))
	}
	x := &erasure.Eraser{Log: f.log}
	res, err := x.Erase(t.Context(), erasure.Request{Rules: []erasure.Rule{{User: "alice"}}, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Erased != 40 {
		t.Fatalf("erased %d, want 40", res.Erased)
	}
	m = f.mirror(t)
	run(t, m)
	caughtUp(t, f, m, 20*time.Second)
	items := dynamotest.Items(t, f.client, f.table)
	bob, tomb := 0, 0
	for _, it := range items {
		dev := it["device"].(*types.AttributeValueMemberS).Value
		p, _ := it["payload"].(*types.AttributeValueMemberB)
		switch {
		case dev == "alice/phone" || p != nil && bytes.Contains(p.Value, []byte("alice-secret")):
			t.Errorf("item of an erased event left: seq %d, %s", dynamotest.Seq(t, it), dev)
		case dev == "bob/phone":
			bob++
		case dynamotest.Seq(t, it) == res.Seq:
			tomb++
		}
	}
	if bob != 30 || tomb != 1 || len(items) != 31 {
		t.Errorf("table: %d items, %d of bob's (want 30), tombstone %d (want 1)", len(items), bob, tomb)
	}
	if got := m.Stats().Deleted; got != 30 {
		t.Errorf("deleted %d items, want 30 (alice's written before the erasure)", got)
	}
}
