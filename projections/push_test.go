package projections_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
)

// TestPushFold: subscriptions are added, renewed (same endpoint: one
// entry, the new keys), removed by id (again: no change), bounded per
// user, and kept per user; a bad push event is an error with a reason,
// and the same issue applied twice counts once.
func TestPushFold(t *testing.T) {
	hash, _ := projections.HashPassword("vera's password")
	key, auth := "B"+strings.Repeat("A", 86), strings.Repeat("a", 22)
	sub := func(name, endpoint, authSecret string) projections.PushCommand {
		return projections.PushCommand{Type: "push", Action: projections.PushSubscribe, Name: name, Endpoint: endpoint, P256DH: key, Auth: authSecret, Label: "Firefox"}
	}
	unsub := func(endpoint string) projections.PushCommand {
		return projections.PushCommand{Type: "push", Action: projections.PushUnsubscribe, Name: "vera", SubID: projections.PushSubscriptionID(endpoint), Reason: "gone"}
	}
	repeated := sub("vera", "https://push.example.org/r", auth)
	repeated.Issue = projections.NewIssue("vera", time.Unix(1_700_000_009, 0))
	evs := []events.Event{
		adminEvent(t, 1, projections.UserTopic, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "vera", Hash: hash}),
		adminEvent(t, 2, projections.UserTopic, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "ben", Hash: hash}),
		adminEvent(t, 3, projections.PushTopic, sub("vera", "https://push.example.org/a", auth)),
		adminEvent(t, 4, projections.PushTopic, sub("vera", "https://push.example.org/a", strings.Repeat("b", 22))), // renewed
		adminEvent(t, 5, projections.PushTopic, sub("ben", "https://push.example.org/b", auth)),
		adminEvent(t, 6, projections.PushTopic, unsub("https://push.example.org/b")), // ben's, named under vera: nothing
		adminEvent(t, 7, projections.PushTopic, projections.PushCommand{Type: "push", Action: "steal", Name: "vera"}),
		adminEvent(t, 8, projections.PushTopic, sub("vera", "ftp://push.example.org/a", auth)),
		adminEvent(t, 9, projections.PushTopic, repeated),
		adminEvent(t, 10, projections.PushTopic, unsub("https://push.example.org/r")),
		adminEvent(t, 11, projections.PushTopic, repeated), // the same issue again: not re-added
	}
	for i := range projections.MaxPushSubscriptions + 2 {
		evs = append(evs, adminEvent(t, uint64(12+i), projections.PushTopic, sub("vera", fmt.Sprintf("https://push.example.org/n%d", i), auth)))
	}
	s := projections.NewState()
	var errs []string
	changed := map[uint64]bool{}
	for _, e := range evs {
		in := projections.Decode(owntracks.Decoder{}, e)
		if in.Err != nil {
			errs = append(errs, in.Err.Error())
		}
		ch := projections.NewChanges()
		projections.Apply(s, in, ch)
		changed[e.Seq] = ch.Users["vera"]
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "want subscribe or unsubscribe") || !strings.Contains(errs[1], "not an http(s) URL") {
		t.Errorf("refused %q, want an unknown action and an ftp endpoint", errs)
	}
	if changed[6] || changed[11] {
		t.Error("removing another user's subscription, or repeating an issue, changed vera")
	}
	vera, ben := s.Users["vera"], s.Users["ben"]
	if len(vera.Push) != projections.MaxPushSubscriptions {
		t.Fatalf("vera has %d subscriptions, want the bound %d", len(vera.Push), projections.MaxPushSubscriptions)
	}
	a, ok := vera.PushSubscriptionFor(projections.PushSubscriptionID("https://push.example.org/a"))
	if !ok || a.Auth != strings.Repeat("b", 22) || a.Seq != 4 {
		t.Errorf("renewed subscription = %+v, want the second event's keys", a)
	}
	if _, ok := vera.PushSubscriptionFor(projections.PushSubscriptionID("https://push.example.org/r")); ok {
		t.Error("a removed subscription came back from a repeated issue")
	}
	if len(ben.Push) != 1 || ben.Push[0].Endpoint != "https://push.example.org/b" {
		t.Errorf("ben = %+v, want his own subscription untouched", ben.Push)
	}
}
