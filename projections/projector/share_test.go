package projector

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
)

// TestShareLinksRebuild: share links made and revoked by events are in
// the live projections, come back the same from a rebuild and from a
// reopen, and no stored byte holds the token.
func TestShareLinksRebuild(t *testing.T) {
	log := eventstest.OpenLog(t)
	root := t.TempDir()
	ctx := t.Context()
	p, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	share := func(c projections.ShareCommand) events.Event {
		c.Type = "share"
		c.Issue = projections.NewIssue("vera", time.Unix(2000, 0))
		b, _ := json.Marshal(c)
		return events.Event{Topic: projections.ShareTopic, Payload: b, Source: events.SourceAdmin, Received: time.Unix(2000, 0)}
	}
	tok1, h1, id1 := projections.NewShareToken()
	tok2, h2, id2 := projections.NewShareToken()
	appendAll(t, log,
		loc("vera", 1000, 51.5, -0.12),
		share(projections.ShareCommand{Action: projections.ShareCreate, Link: id1, Device: "vera/phone", Owner: "vera", Hash: h1, Expires: time.Unix(5600, 0)}),
		share(projections.ShareCommand{Action: projections.ShareCreate, Link: id2, Device: "vera/phone", Owner: "vera", Hash: h2, Expires: time.Unix(5600, 0), UntilArea: "s:home"}),
		share(projections.ShareCommand{Action: projections.ShareRevoke, Link: id1}),
	)
	if err := p.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(p *Projector, when string) {
		t.Helper()
		l1, ok1 := p.ShareByToken(tok1)
		l2, ok2 := p.ShareByToken(tok2)
		if !ok1 || !ok2 || l1.ID != id1 || l2.ID != id2 {
			t.Fatalf("%s: links by token = %+v %v, %+v %v", when, l1, ok1, l2, ok2)
		}
		if l1.EndReason != "revoked" || l2.Ended.IsZero() == false || l2.UntilArea != "s:home" || l2.Owner != "vera" {
			t.Errorf("%s: links = %+v, %+v", when, l1, l2)
		}
		if got := p.Shares(); len(got) != 2 {
			t.Errorf("%s: %d links listed, want 2", when, len(got))
		}
	}
	check(p, "live")
	live := dump(t, p)
	if strings.Contains(live, tok1) || strings.Contains(live, tok2) {
		t.Fatal("the projections hold a token")
	}
	if _, err := p.Rebuild(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check(p, "rebuilt")
	if rebuilt := dump(t, p); rebuilt != live {
		t.Errorf("rebuild differs from live:\nlive:\n%s\nrebuilt:\n%s", live, rebuilt)
	}
	_ = p.Close()
	p2, err := Open(ctx, root, log, owntracks.Decoder{}, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	check(p2, "reopened")
	if err := log.Scan(ctx, 1, func(e events.Event) error {
		if strings.Contains(string(e.Payload), tok1) || strings.Contains(string(e.Payload), tok2) {
			t.Errorf("event %d holds a token", e.Seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
