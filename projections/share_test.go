package projections_test

import (
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
)

func shareCmd(action, link string, dev projections.DeviceID, owner, hash string, expires time.Time) projections.ShareCommand {
	return projections.ShareCommand{Type: "share", Action: action, Link: link, Device: dev, Owner: owner, Hash: hash, Expires: expires,
		Issue: projections.NewIssue("vera", time.Unix(1_700_000_000, 0))}
}

// TestShareFold: a link is made by a create event and ended by a revoke
// or by its friend's arrival (end); a second end changes nothing; a
// token matches only its own link; bad share events are an error with a
// reason, not a crash; an owner at the limit forgets an ended link, and
// is refused while all run.
func TestShareFold(t *testing.T) {
	tok1, h1, id1 := projections.NewShareToken()
	tok2, h2, id2 := projections.NewShareToken()
	exp := time.Unix(1_700_000_000+3600, 0)
	end := shareCmd(projections.ShareEnd, id2, "", "", "", time.Time{})
	end.Reason = projections.ShareEndArrived
	bad := shareCmd(projections.ShareCreate, "0123456789abcdef", "vera", "vera", h1, exp) // no device
	evs := []events.Event{
		adminEvent(t, 1, projections.ShareTopic, shareCmd(projections.ShareCreate, id1, "vera/phone", "vera", h1, exp)),
		adminEvent(t, 2, projections.ShareTopic, shareCmd(projections.ShareCreate, id2, "vera/phone", "vera", h2, exp)),
		adminEvent(t, 3, projections.ShareTopic, shareCmd(projections.ShareRevoke, id1, "", "", "", time.Time{})),
		adminEvent(t, 4, projections.ShareTopic, shareCmd(projections.ShareRevoke, id1, "", "", "", time.Time{})), // again: nothing
		adminEvent(t, 5, projections.ShareTopic, end),
		adminEvent(t, 6, projections.ShareTopic, bad),
		adminEvent(t, 7, projections.ShareTopic, map[string]string{"_type": "share", "action": "steal", "link": id1}),
	}
	s := projections.NewState()
	var errs int
	changed := make([]bool, len(evs))
	for i, e := range evs {
		in := projections.Decode(owntracks.Decoder{}, e)
		if in.Err != nil {
			errs++
			if !strings.Contains(in.Err.Error(), "share") {
				t.Errorf("event %d refused without saying why: %v", i+1, in.Err)
			}
		}
		ch := projections.NewChanges()
		projections.Apply(s, in, ch)
		changed[i] = len(ch.Shares) > 0
	}
	if errs != 2 {
		t.Errorf("%d events refused, want 2", errs)
	}
	if changed[3] {
		t.Error("revoking a revoked link recorded a change")
	}
	l1, l2 := s.Shares[id1], s.Shares[id2]
	if l1 == nil || l1.EndReason != "revoked" || l1.Ended.IsZero() || l1.Active(l1.Created) {
		t.Errorf("link 1 = %+v, want revoked", l1)
	}
	if l2 == nil || l2.EndReason != projections.ShareEndArrived || l2.Active(l2.Created) {
		t.Errorf("link 2 = %+v, want ended by arrival", l2)
	}
	if l, ok := s.ShareByToken(tok2); !ok || l.ID != id2 {
		t.Error("token 2 does not find its link")
	}
	if l, ok := s.ShareByToken(tok1); !ok || l.ID != id1 {
		t.Error("token 1 does not find its link")
	}
	for _, guess := range []string{"", tok1[:25], strings.ToLower(tok1), h1} {
		if _, ok := s.ShareByToken(guess); ok {
			t.Errorf("%q finds a link", guess)
		}
	}
	for _, e := range evs {
		if strings.Contains(string(e.Payload), tok1) || strings.Contains(string(e.Payload), tok2) {
			t.Fatal("an event holds a token")
		}
	}

	// The limit per owner: the ended links make room, running ones do not.
	s = projections.NewState()
	at := time.Unix(1_700_000_000, 0)
	var seq uint64
	create := func(owner string) (string, bool) {
		seq++
		_, h, id := projections.NewShareToken()
		c := shareCmd(projections.ShareCreate, id, "vera/phone", owner, h, at.Add(time.Hour))
		projections.Apply(s, projections.Decode(owntracks.Decoder{}, adminEvent(t, seq, projections.ShareTopic, c)), projections.NewChanges())
		_, ok := s.Shares[id]
		return id, ok
	}
	var first string
	for i := range projections.MaxSharesPerOwner {
		id, ok := create("vera")
		if !ok {
			t.Fatalf("link %d refused", i)
		}
		if i == 0 {
			first = id
		}
	}
	if _, ok := create("vera"); ok {
		t.Error("a link beyond the limit was made while all run")
	}
	if _, ok := create("ben"); !ok {
		t.Error("another owner's link was refused")
	}
	seq++
	projections.Apply(s, projections.Decode(owntracks.Decoder{}, adminEvent(t, seq, projections.ShareTopic,
		shareCmd(projections.ShareRevoke, first, "", "", "", time.Time{}))), projections.NewChanges())
	if _, ok := create("vera"); !ok {
		t.Error("no room after revoking one")
	}
	if _, ok := s.Shares[first]; ok {
		t.Error("the revoked link was not forgotten to make room")
	}
}
