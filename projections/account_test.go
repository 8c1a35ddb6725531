package projections_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
)

func adminEvent(t *testing.T, seq uint64, topic string, v any) events.Event {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return events.Event{Seq: seq, Topic: topic, Payload: b, Source: events.SourceAdmin, Received: time.Unix(1_700_000_000+int64(seq), 0)}
}

// TestAccountFold: device credentials are made, replaced and revoked by
// account events; a revoke of a credential already gone changes nothing;
// a user re-added with another role keeps its phones; a secret matches
// only its own credential; bad account events are an error, not a crash.
func TestAccountFold(t *testing.T) {
	hash, _ := projections.HashPassword("vera's password")
	s1, h1, id1 := projections.NewDeviceSecret()
	s2, h2, id2 := projections.NewDeviceSecret()
	s3, h3, id3 := projections.NewDeviceSecret()
	acc := func(action, device, id, h string) projections.AccountCommand {
		return projections.AccountCommand{Type: "account", Action: action, Name: "vera", Device: device, Credential: id, Hash: h, Mode: "mqtt"}
	}
	evs := []events.Event{
		adminEvent(t, 1, projections.UserTopic, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "vera", Hash: hash}),
		adminEvent(t, 2, projections.AccountTopic, acc(projections.AccountCredential, "phone", id1, h1)),
		adminEvent(t, 3, projections.AccountTopic, acc(projections.AccountCredential, "tablet", id2, h2)),
		adminEvent(t, 4, projections.AccountTopic, acc(projections.AccountCredential, "phone", id3, h3)), // replaces id1
		adminEvent(t, 5, projections.AccountTopic, acc(projections.AccountRevoke, "tablet", id2, "")),
		adminEvent(t, 6, projections.AccountTopic, acc(projections.AccountRevoke, "tablet", id2, "")), // again
		adminEvent(t, 7, projections.AccountTopic, acc(projections.AccountRevoke, "phone", id1, "")),  // already replaced
		adminEvent(t, 8, projections.AccountTopic, projections.AccountCommand{Type: "account", Action: projections.AccountZone, Name: "vera", Zone: "Asia/Tokyo"}),
		adminEvent(t, 9, projections.UserTopic, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "vera", Hash: hash, Admin: true}),
		adminEvent(t, 10, projections.AccountTopic, projections.AccountCommand{Type: "account", Action: "steal", Name: "vera"}),
		adminEvent(t, 11, projections.AccountTopic, acc(projections.AccountCredential, "a/b", "x", h1)),
	}
	s := projections.NewState()
	changed := make([]bool, len(evs))
	var errs int
	for i, e := range evs {
		in := projections.Decode(owntracks.Decoder{}, e)
		if in.Err != nil {
			errs++
		}
		ch := projections.NewChanges()
		projections.Apply(s, in, ch)
		changed[i] = ch.Users["vera"]
	}
	if errs != 2 {
		t.Errorf("%d events refused, want 2 (an unknown action, a device name with /)", errs)
	}
	if changed[5] || changed[6] {
		t.Error("revoking a credential already gone recorded a change")
	}
	u := s.Users["vera"]
	if u == nil || len(u.Devices) != 1 || u.Devices[0].Device != "phone" || u.Devices[0].ID != id3 || u.Zone != "Asia/Tokyo" || !u.Admin {
		t.Fatalf("vera = %+v, want admin with the phone's second credential and her zone", u)
	}
	if c, ok := u.DeviceCredential(s3); !ok || c.ID != id3 {
		t.Error("the current secret does not match its credential")
	}
	for _, old := range []string{s1, s2, "", "vera's password"} {
		if _, ok := u.DeviceCredential(old); ok {
			t.Errorf("secret %q matches a credential", old)
		}
	}
	if payload := string(evs[3].Payload); !json.Valid(evs[3].Payload) || strings.Contains(payload, s3) {
		t.Error("the event holds the secret")
	}
}
