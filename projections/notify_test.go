package projections_test

import (
	"testing"

	"tracker/events/owntracks"
	"tracker/projections"
)

// TestNotifyFold: a user's rules are added and removed by notify events;
// the same command twice applies once; a rule for a user that does not
// exist, or that names another owner, changes nothing; a user re-added
// keeps their rules, a user removed takes them along (and a new user of
// the same name starts with none); bad rules are an error with a reason.
func TestNotifyFold(t *testing.T) {
	hash, _ := projections.HashPassword("anna's password")
	rule := func(id string, mod func(*projections.NotifyRule)) *projections.NotifyRule {
		r := &projections.NotifyRule{ID: id, Owner: "anna", On: projections.NotifyArrive, Device: "ben/phone", Place: "Home",
			Channels: []string{projections.ChannelWebhook}, Webhook: "https://example.org/hook", Secret: "s3cret"}
		if mod != nil {
			mod(r)
		}
		return r
	}
	add := func(r *projections.NotifyRule, issue string) projections.NotifyCommand {
		return projections.NotifyCommand{Type: "notify", Action: projections.NotifyAdd, Owner: r.Owner, Rule: r, Issue: projections.Issue{ID: issue}}
	}
	remove := func(id, issue string) projections.NotifyCommand {
		return projections.NotifyCommand{Type: "notify", Action: projections.NotifyRemove, Owner: "anna", RuleID: id, Issue: projections.Issue{ID: issue}}
	}
	userAdd := projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "anna", Hash: hash}
	type step struct {
		cmd     any
		topic   string
		wantErr bool
		rules   []string // anna's rule ids after the step
	}
	n := func(c projections.NotifyCommand, rules ...string) step {
		return step{cmd: c, topic: projections.NotifyTopic, rules: rules}
	}
	bad := func(c projections.NotifyCommand, rules ...string) step {
		return step{cmd: c, topic: projections.NotifyTopic, wantErr: true, rules: rules}
	}
	steps := []step{
		n(add(rule("r0", nil), "i0")), // anna does not exist yet
		{cmd: userAdd, topic: projections.UserTopic},
		n(add(rule("r1", nil), "i1"), "r1"),
		n(add(rule("r2", func(r *projections.NotifyRule) { r.On, r.Device, r.Place = projections.NotifyLeave, "", "Work" }), "i2"), "r1", "r2"),
		n(remove("r1", "i3"), "r2"),
		n(add(rule("r1", nil), "i1"), "r2"), // the first add again: already applied
		n(add(rule("r3", func(r *projections.NotifyRule) {
			r.On, r.Place, r.AfterS, r.Channels, r.Webhook = projections.NotifySilent, "", 7200, []string{"browser"}, ""
		}), "i4"), "r2", "r3"),
		n(add(rule("r4", func(r *projections.NotifyRule) { r.On, r.Place, r.Below = projections.NotifyBattery, "", 20 }), "i5"), "r2", "r3", "r4"),
		bad(add(rule("x", func(r *projections.NotifyRule) { r.Place = " " }), "b1"), "r2", "r3", "r4"),
		bad(add(rule("x", func(r *projections.NotifyRule) { r.Webhook = "ftp://example.org" }), "b2"), "r2", "r3", "r4"),
		bad(add(rule("x", func(r *projections.NotifyRule) { r.On, r.Device = projections.NotifySilent, "" }), "b3"), "r2", "r3", "r4"),
		bad(add(rule("x", func(r *projections.NotifyRule) { r.On, r.Below = projections.NotifyBattery, 0 }), "b4"), "r2", "r3", "r4"),
		bad(add(rule("x", func(r *projections.NotifyRule) { r.Channels = nil }), "b5"), "r2", "r3", "r4"),
		bad(add(rule("x", func(r *projections.NotifyRule) { r.Device = "ben" }), "b6"), "r2", "r3", "r4"),
		bad(projections.NotifyCommand{Type: "notify", Action: projections.NotifyAdd, Owner: "ben", Rule: rule("x", nil)}, "r2", "r3", "r4"),
		bad(projections.NotifyCommand{Type: "notify", Action: "mute", Owner: "anna"}, "r2", "r3", "r4"),
		n(remove("nope", "i6"), "r2", "r3", "r4"),
		{cmd: projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "anna", Hash: hash, Admin: true}, topic: projections.UserTopic,
			rules: []string{"r2", "r3", "r4"}},
		{cmd: projections.UserCommand{Type: "user", Action: projections.UserRemove, Name: "anna"}, topic: projections.UserTopic},
		{cmd: projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "anna", Hash: hash}, topic: projections.UserTopic},
	}
	s := projections.NewState()
	for i, st := range steps {
		e := adminEvent(t, uint64(i+1), st.topic, st.cmd)
		in := projections.Decode(owntracks.Decoder{}, e)
		if (in.Err != nil) != st.wantErr {
			t.Fatalf("step %d: err %v, want error %v", i, in.Err, st.wantErr)
		}
		projections.Apply(s, in, projections.NewChanges())
		var got []string
		if u := s.Users["anna"]; u != nil {
			for _, r := range u.Notify {
				got = append(got, r.ID)
			}
		}
		if len(got) != len(st.rules) {
			t.Fatalf("step %d: anna's rules %v, want %v", i, got, st.rules)
		}
		for j := range got {
			if got[j] != st.rules[j] {
				t.Fatalf("step %d: anna's rules %v, want %v", i, got, st.rules)
			}
		}
	}
}

// TestNotifyRuleSeq: an added rule records the event that added it.
func TestNotifyRuleSeq(t *testing.T) {
	hash, _ := projections.HashPassword("anna's password")
	s := projections.NewState()
	for i, c := range []any{
		projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "anna", Hash: hash},
		projections.NotifyCommand{Type: "notify", Action: projections.NotifyAdd, Owner: "anna", Rule: &projections.NotifyRule{ID: "r", Owner: "anna",
			On: projections.NotifyArrive, Place: "Home", Channels: []string{"browser"}}},
	} {
		topic := projections.UserTopic
		if i == 1 {
			topic = projections.NotifyTopic
		}
		ch := projections.NewChanges()
		projections.Apply(s, projections.Decode(owntracks.Decoder{}, adminEvent(t, uint64(i+1), topic, c)), ch)
		if !ch.Users["anna"] {
			t.Errorf("event %d: anna not marked changed", i+1)
		}
	}
	r, ok := s.Users["anna"].NotifyRule("r")
	if !ok || r.Seq != 2 || r.Created.IsZero() || !r.Anyone() || r.Quiet() != projections.DefaultNotifyQuiet {
		t.Errorf("rule %+v, want seq 2, a creation time, anyone, the default quiet period", r)
	}
}
