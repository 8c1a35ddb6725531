package projections_test

import (
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/geo"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name   string
		events []events.Event
		check  func(t *testing.T, r run)
	}{
		// Friends.
		{
			name: "first location creates the friend with its details",
			events: []events.Event{
				loc(alice, t0, home, kv{"tid": "am", "batt": 81, "bs": 1, "conn": "w", "acc": 12, "alt": 41, "vel": 4, "cog": 270, "t": "u"}),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if f.User != "alice" || f.Device != "phone" {
					t.Errorf("user/device = %q/%q", f.User, f.Device)
				}
				want := projections.Point{Seq: 1, Tst: t0, Lat: home.Lat, Lon: home.Lon, Acc: 12, Alt: 41, Vel: 4, Cog: 270, Batt: 81, BS: 1, Conn: "w", Trigger: "u", Absent: owntracks.FieldVac}
				if f.Location == nil || *f.Location != want {
					t.Errorf("location = %+v, want %+v", f.Location, want)
				}
				recv := time.Unix(t0+5, 0)
				if !f.FirstSeen.Equal(recv) || !f.LastSeen.Equal(recv) || !f.PresenceAt.Equal(recv) || !f.Online {
					t.Errorf("first seen %v, last seen %v, online %v since %v; want all at %v", f.FirstSeen, f.LastSeen, f.Online, f.PresenceAt, recv)
				}
				if !r.last().Friends[alice] || len(r.last().History) != 1 {
					t.Errorf("changes = %+v, want alice and one history point", r.last())
				}
			},
		},
		{
			name: "a number not sent is told from a 0 sent",
			events: []events.Event{
				loc(alice, t0, home, kv{"vel": 0, "alt": 0}),
				loc(bob, t0, home, kv{"acc": 9, "vel": -1, "batt": nil}),
			},
			check: func(t *testing.T, r run) {
				type known struct{ acc, alt, vel, batt bool }
				read := func(p *projections.Point) known {
					_, acc := p.Accuracy()
					_, alt := p.Altitude()
					_, vel := p.Speed()
					_, batt := p.Battery()
					return known{acc, alt, vel, batt}
				}
				if got, want := read(r.friend(t, alice).Location), (known{alt: true, vel: true}); got != want {
					t.Errorf("alice sent vel 0 and alt 0 only: known %+v, want %+v", got, want)
				}
				// vel -1 is iOS's "invalid"; batt null is not a level.
				if got, want := read(r.friend(t, bob).Location), (known{acc: true}); got != want {
					t.Errorf("bob sent acc 9, vel -1, batt null: known %+v, want %+v", got, want)
				}
				if h := r.last().History; len(h) != 1 || h[0].Point.Absent != r.friend(t, bob).Location.Absent {
					t.Errorf("history point %+v does not carry the location's Absent", h)
				}
			},
		},
		{
			name: "one entry per user and device",
			events: []events.Event{
				loc(alice, t0, home, nil),
				loc(aliceT, t0+1, home, nil),
				loc(bob, t0+2, paris, nil),
				loc(alice, t0+3, work, nil),
			},
			check: func(t *testing.T, r run) {
				if len(r.s.Friends) != 3 {
					t.Fatalf("%d friends, want 3", len(r.s.Friends))
				}
				views := r.s.FriendViews()
				for i, want := range []projections.DeviceID{alice, aliceT, bob} {
					if views[i].ID != want {
						t.Errorf("FriendViews()[%d] = %s, want %s", i, views[i].ID, want)
					}
				}
			},
		},
		{
			name: "display name is the card's name",
			events: []events.Event{
				loc(alice, t0, home, kv{"tid": "al"}),
				card(alice, t0+10, kv{"tid": "am", "name": "Anna M."}),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if got := f.DisplayName(); got != "Anna M." {
					t.Errorf("DisplayName = %q, want the card's name", got)
				}
				if f.TID != "am" {
					t.Errorf("TID = %q, want the card's", f.TID)
				}
			},
		},
		{
			name: "display name falls back to the card's tid",
			events: []events.Event{
				card(alice, t0, kv{"tid": "am"}),
			},
			check: func(t *testing.T, r run) {
				if got := r.friend(t, alice).DisplayName(); got != "am" {
					t.Errorf("DisplayName = %q, want the tid", got)
				}
			},
		},
		{
			name: "display name falls back to a location's tid without a card",
			events: []events.Event{
				loc(alice, t0, home, kv{"tid": "am"}),
			},
			check: func(t *testing.T, r run) {
				if got := r.friend(t, alice).DisplayName(); got != "am" {
					t.Errorf("DisplayName = %q, want the tid", got)
				}
			},
		},
		{
			name: "display name falls back to the user without card or tid",
			events: []events.Event{
				loc(alice, t0, home, nil),
			},
			check: func(t *testing.T, r run) {
				if got := r.friend(t, alice).DisplayName(); got != "alice" {
					t.Errorf("DisplayName = %q, want the user", got)
				}
			},
		},
		{
			name: "a later card renames; a card without tid keeps the known one",
			events: []events.Event{
				card(alice, t0, kv{"tid": "am", "name": "Anna"}),
				card(alice, t0+10, kv{"name": "Anna M."}),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if f.DisplayName() != "Anna M." || f.TID != "am" {
					t.Errorf("name %q tid %q, want Anna M. and am", f.DisplayName(), f.TID)
				}
			},
		},
		{
			name: "card face is the avatar; a later card without face removes it",
			events: []events.Event{
				card(alice, t0, kv{"tid": "am", "name": "Anna", "face": pngFace}),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if f.FaceSeq != 1 || f.FaceType != "image/png" {
					t.Errorf("face seq %d type %q, want 1 image/png", f.FaceSeq, f.FaceType)
				}
				// Cards do not make a phone online or seen.
				if f.Online || !f.LastSeen.IsZero() {
					t.Errorf("online %v last seen %v after a card only", f.Online, f.LastSeen)
				}
				r = fold(t, card(alice, t0, kv{"tid": "am", "name": "Anna", "face": pngFace}), card(alice, t0+10, kv{"tid": "am", "name": "Anna"}))
				if f := r.friend(t, alice); f.FaceSeq != 0 || f.FaceType != "" {
					t.Errorf("face seq %d type %q after a card without face, want none", f.FaceSeq, f.FaceType)
				}
			},
		},
		{
			name: "a bad face costs the avatar, not the name",
			events: []events.Event{
				card(alice, t0, kv{"tid": "am", "name": "Anna", "face": pngFace}),
				card(alice, t0+10, kv{"tid": "am", "name": "Anna M.", "face": "bm90IGFuIGltYWdl"}),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if f.Name != "Anna M." || f.FaceSeq != 0 {
					t.Errorf("name %q face seq %d, want Anna M. without face", f.Name, f.FaceSeq)
				}
			},
		},
		{
			name: "lwt marks offline, a later message online again",
			events: []events.Event{
				loc(alice, t0, home, nil),
				lwt(alice, t0+600),
				loc(alice, t0+900, home, nil),
			},
			check: func(t *testing.T, r run) {
				s := fold(t, loc(alice, t0, home, nil), lwt(alice, t0+600))
				f := s.friend(t, alice)
				if f.Online || !f.PresenceAt.Equal(time.Unix(t0+600, 0)) {
					t.Errorf("after lwt: online %v since %v, want offline since the lwt", f.Online, f.PresenceAt)
				}
				if f.Location == nil || f.Location.Tst != t0 || !f.LastSeen.Equal(time.Unix(t0+5, 0)) {
					t.Errorf("lwt changed the location or last seen: %+v, %v", f.Location, f.LastSeen)
				}
				f = r.friend(t, alice)
				if !f.Online || !f.PresenceAt.Equal(time.Unix(t0+905, 0)) {
					t.Errorf("after a new location: online %v since %v, want online since it", f.Online, f.PresenceAt)
				}
			},
		},
		{
			name: "a phone's own retained publish (embedded broker) marks online",
			events: []events.Event{
				loc(bob, t0, home, nil),
				lwt(bob, t0+100),
				retained(loc(bob, t0+200, work, nil)),
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, bob); !f.Online {
					t.Errorf("bob after lwt and a new retained location: offline, want online")
				}
			},
		},
		{
			name: "imported history (Recorder, GPX) does not mark a phone online",
			events: []events.Event{
				imported(loc(bob, t0, home, nil), events.SourceRecorder),
				imported(loc(bob, t0+100, work, nil), events.SourceGPX),
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, bob); f.Online || f.Location == nil || f.Location.Tst != t0+100 {
					t.Errorf("bob after imports = online %v at %+v, want offline at the newest imported fix", f.Online, f.Location)
				}
			},
		},
		{
			name: "lwt of a device never seen creates it offline",
			events: []events.Event{
				lwt(bob, t0),
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, bob); f.Online || f.Location != nil {
					t.Errorf("bob = %+v, want offline without location", f)
				}
			},
		},
		{
			name: "retained replay from an external broker does not mark online",
			events: []events.Event{
				replayed(loc(alice, t0, home, nil)),
				loc(bob, t0, home, nil),
				lwt(bob, t0+100),
				replayed(loc(bob, t0+200, work, nil)),
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, alice); f.Online || f.Location == nil {
					t.Errorf("alice from a retained message: online %v location %v, want offline with location", f.Online, f.Location)
				}
				if f := r.friend(t, bob); f.Online || f.Location.Tst != t0+200 {
					t.Errorf("bob after lwt and a retained replay: online %v tst %d, want offline at the replayed fix", f.Online, f.Location.Tst-t0)
				}
			},
		},

		// Current location and history.
		{
			name: "newest tst wins, not newest arrival",
			events: []events.Event{
				loc(alice, t0+100, work, nil),
				msg(alice, "", t0+500, ot("location", kv{"lat": home.Lat, "lon": home.Lon, "tst": t0})), // older fix, arrives later
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if f.Location.Tst != t0+100 || f.Location.Lat != work.Lat {
					t.Errorf("current = %+v, want the fix at +100", f.Location)
				}
				if !f.LastSeen.Equal(time.Unix(t0+500, 0)) {
					t.Errorf("last seen %v, want the late arrival", f.LastSeen)
				}
				if h := r.historyKeys(); len(h) != 2 {
					t.Errorf("history %v, want both fixes", h)
				}
			},
		},
		{
			name: "late location goes into history only",
			events: []events.Event{
				defineCircle(t0-1000, "Gym", gym, gymRadius),
				loc(alice, t0+100, inGym, nil),
				loc(alice, t0, paris, nil), // older fix, outside
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, alice); f.Location.Tst != t0+100 {
					t.Errorf("current tst %+d, want +100", f.Location.Tst-t0)
				}
				equalStrings(t, "members", r.members(), []string{"alice/phone s:gym geometry in since+100"})
				equalStrings(t, "timeline", r.timeline(), []string{"enter alice/phone s:gym geometry +100"})
				if ch := r.last(); len(ch.History) != 1 || len(ch.Members)+len(ch.AreaEvents) != 0 {
					t.Errorf("late fix changes = %+v, want one history point only", ch)
				}
			},
		},
		{
			name: "same device, tst and payload twice: one history point, no change",
			events: []events.Event{
				defineCircle(t0-1000, "Gym", gym, gymRadius),
				loc(alice, t0, inGym, kv{"batt": 50}),
				loc(alice, t0, inGym, kv{"batt": 50}), // not flagged by a log: applied, but changes nothing
			},
			check: func(t *testing.T, r run) {
				if h := r.historyKeys(); len(h) != 1 {
					t.Errorf("history keys %v, want one", h)
				}
				if f := r.friend(t, alice); f.Location.Seq != 2 {
					t.Errorf("current from seq %d, want the first (2)", f.Location.Seq)
				}
				if ch := r.last(); len(ch.Members)+len(ch.AreaEvents)+len(ch.Areas) != 0 {
					t.Errorf("repeat changed %+v", ch)
				}
				equalStrings(t, "timeline", r.timeline(), []string{"enter alice/phone s:gym geometry +0"})
			},
		},
		{
			name: "same tst, other payload: two history points, the later arrival is current",
			events: []events.Event{
				loc(alice, t0, home, nil),
				loc(alice, t0, work, nil),
			},
			check: func(t *testing.T, r run) {
				if h := r.historyKeys(); len(h) != 2 {
					t.Errorf("history keys %v, want two", h)
				}
				if f := r.friend(t, alice); f.Location.Lat != work.Lat {
					t.Errorf("current %+v, want the later fix", f.Location)
				}
			},
		},
		{
			name: "redelivery flagged by the log is ignored",
			events: []events.Event{
				loc(alice, t0, home, nil),
				func() events.Event {
					e := loc(alice, t0, home, nil)
					e.Received, e.DuplicateOf, e.Dup = time.Unix(t0+3600, 0), 1, true
					return e
				}(),
			},
			check: func(t *testing.T, r run) {
				if ch := r.last(); !ch.Empty() {
					t.Errorf("duplicate changed %+v", ch)
				}
				if f := r.friend(t, alice); !f.LastSeen.Equal(time.Unix(t0+5, 0)) {
					t.Errorf("last seen %v, want the original's", f.LastSeen)
				}
			},
		},
		{
			// Logs written before redeliveries were decided by the
			// transport mark content repeats without DUP: sent on purpose.
			name: "an older content-only mark without DUP applies",
			events: []events.Event{
				loc(alice, t0, home, nil),
				func() events.Event {
					e := loc(alice, t0, home, nil)
					e.Received, e.DuplicateOf = time.Unix(t0+3600, 0), 1
					return e
				}(),
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, alice); !f.LastSeen.Equal(time.Unix(t0+3600, 0)) {
					t.Errorf("last seen %v, want the repeat's", f.LastSeen)
				}
			},
		},
		{
			name: "invalid events are ignored",
			events: []events.Event{
				raw("owntracks/alice/phone", t0, `{"_type":"location","lat":52.5,`),
				raw("owntracks/alice/phone", t0, `{"_type":"location","lat":95,"lon":13.4,"tst":1718000000}`),
				raw("owntracks/alice/phone", t0, `{"_type":"location","lat":52.5,"lon":200,"tst":1718000000}`),
				raw("owntracks/alice/phone", t0, `{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000000}`),
				raw("owntracks/alice/phone", t0, `{"_type":"location","lat":52.5,"lon":13.4}`),
				raw("owntracks/alice/phone", t0, `{"_type":"Location","lat":52.5,"lon":13.4,"tst":1718000000}`),
				raw("owntracks/alice/phone/event", t0, `{"_type":"transition","event":"wander","desc":"Home","tst":1718000000}`),
				raw("owntracks/alice", t0, `{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000}`),
				raw("elsewhere/alice/phone", t0, `{"_type":"location","lat":52.5,"lon":13.4,"tst":1718000000}`),
				raw("owntracks/alice/phone", t0, "\xff\xfe"),
				{Topic: projections.AreaTopic, Source: events.SourceAdmin, Received: time.Unix(t0, 0), Payload: []byte(`{"_type":"area","action":"define","name":"Gym","radius":5}`)},
			},
			check: func(t *testing.T, r run) {
				for i, in := range r.inputs {
					if in.Err == nil {
						t.Errorf("event %d decoded without error: %+v", i+1, in)
					}
					if !r.changes[i].Empty() {
						t.Errorf("event %d changed %+v", i+1, r.changes[i])
					}
				}
				if len(r.s.Friends)+len(r.s.Areas)+len(r.s.Members) != 0 {
					t.Errorf("state not empty: %+v", r.s)
				}
			},
		},
		{
			name: "an invalid message does not touch a known friend",
			events: []events.Event{
				loc(alice, t0, home, nil),
				lwt(alice, t0+10),
				raw("owntracks/alice/phone", t0+100, `{"_type":"location","lat":95,"lon":13.4,"tst":1718000090}`),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if f.Online || !f.LastSeen.Equal(time.Unix(t0+5, 0)) || f.Location.Tst != t0 {
					t.Errorf("friend after an invalid fix: %+v", f)
				}
			},
		},
		{
			name: "commands are ignored: the server's own, and anybody's",
			events: []events.Event{
				func() events.Event {
					e := msg(alice, "cmd", t0, ot("cmd", kv{"action": "reportLocation"}))
					e.Source = events.SourceServer
					return e
				}(),
				msg(bob, "cmd", t0, ot("cmd", kv{"action": "reportLocation"})),
			},
			check: func(t *testing.T, r run) {
				if len(r.s.Friends) != 0 {
					t.Errorf("friends from commands: %v", r.s.Friends)
				}
			},
		},
		{
			name: "other message types count as being seen",
			events: []events.Event{
				msg(alice, "status", t0, ot("status", kv{"_id": "x", "android": kv{"hib": 1}})),
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, alice); !f.Online || !f.LastSeen.Equal(time.Unix(t0, 0)) || f.Location != nil {
					t.Errorf("friend after a status = %+v", f)
				}
			},
		},
		{
			name: "empty payload on the base topic hides the friend until a newer fix",
			events: []events.Event{
				loc(alice, t0, home, nil),
				clearMsg(alice, "", t0+100),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if !f.Hidden || f.Location == nil {
					t.Errorf("hidden %v location %v, want hidden with the location kept", f.Hidden, f.Location)
				}
				if !r.last().Friends[alice] {
					t.Error("clear not recorded as a change")
				}
				r = fold(t, loc(alice, t0, home, nil), clearMsg(alice, "", t0+100), loc(alice, t0-50, work, nil))
				if !r.friend(t, alice).Hidden {
					t.Error("an older fix unhid the friend")
				}
				r = fold(t, loc(alice, t0, home, nil), clearMsg(alice, "", t0+100), loc(alice, t0+200, work, nil))
				if r.friend(t, alice).Hidden {
					t.Error("a newer fix did not unhide the friend")
				}
			},
		},
		{
			name: "empty payload on info clears the card",
			events: []events.Event{
				loc(alice, t0, home, nil),
				card(alice, t0+10, kv{"tid": "am", "name": "Anna", "face": pngFace}),
				clearMsg(alice, "info", t0+100),
			},
			check: func(t *testing.T, r run) {
				f := r.friend(t, alice)
				if f.Name != "" || f.FaceSeq != 0 || f.FaceType != "" {
					t.Errorf("name %q face %d %q after clearing the card", f.Name, f.FaceSeq, f.FaceType)
				}
				if f.Hidden || f.Location == nil {
					t.Errorf("clearing the card touched the location: %+v", f)
				}
			},
		},
		{
			name: "empty payload for a friend never seen, or on another suffix, changes nothing",
			events: []events.Event{
				clearMsg(bob, "", t0),
				loc(alice, t0, home, nil),
				clearMsg(alice, "waypoint", t0+10),
			},
			check: func(t *testing.T, r run) {
				if _, ok := r.s.Friends[bob]; ok || !r.changes[0].Empty() || !r.last().Empty() {
					t.Errorf("clears changed something: %v %+v %+v", r.s.Friends, r.changes[0], r.last())
				}
			},
		},

		// Phone regions.
		{
			name: "waypoint defines a phone region with geometry",
			events: []events.Event{
				waypoint(alice, t0, region("Home", "h1", home, homeRad)),
			},
			check: func(t *testing.T, r run) {
				a, ok := r.s.Areas[homeID]
				if !ok {
					t.Fatalf("areas %v, want %s", r.s.Areas, homeID)
				}
				if a.Name != "Home" || a.Origin != projections.OriginPhone || a.Owner != alice || a.RID != "h1" ||
					a.Center == nil || *a.Center != home || a.Radius != float64(homeRad) || !a.HasGeometry() {
					t.Errorf("area = %+v", a)
				}
				if a.AppliesTo(bob) || !a.AppliesTo(alice) {
					t.Error("a phone region applies to its phone only")
				}
			},
		},
		{
			name: "transition for an unknown region creates a phone area without geometry",
			events: []events.Event{
				transition(alice, t0, "enter", "Club", "c1"),
			},
			check: func(t *testing.T, r run) {
				a, ok := r.s.Areas["p:alice/phone:rid:c1"]
				if !ok || a.Name != "Club" || a.Origin != projections.OriginPhone || a.Owner != alice || a.HasGeometry() {
					t.Fatalf("area = %+v", a)
				}
				equalStrings(t, "timeline", r.timeline(), []string{"enter alice/phone p:alice/phone:rid:c1 phone +0"})
				if ev := r.last().AreaEvents[0]; ev.AreaName != "Club" || ev.Seq != 1 || ev.Late {
					t.Errorf("area event = %+v, want Club from seq 1", ev)
				}
				equalStrings(t, "areas of alice", presences(r.s.AreasOf(alice)), []string{"alice/phone p:alice/phone:rid:c1 phone=in geometry=- since+0"})
				equalStrings(t, "members of Club", presences(r.s.MembersOf("p:alice/phone:rid:c1")), []string{"alice/phone p:alice/phone:rid:c1 phone=in geometry=- since+0"})
				if f := r.friend(t, alice); !f.Online {
					t.Error("a transition did not mark the phone online")
				}
			},
		},
		{
			name: "transition without rid finds the region by name",
			events: []events.Event{
				waypoint(alice, t0-100, region("Home", "h1", home, homeRad)),
				transition(alice, t0, "enter", "Home", ""),
			},
			check: func(t *testing.T, r run) {
				if len(r.s.Areas) != 1 {
					t.Errorf("areas %v, want only Home", r.s.Areas)
				}
				equalStrings(t, "members", r.members(), []string{"alice/phone p:alice/phone:rid:h1 phone in since+0"})
			},
		},
		{
			name: "enter then leave",
			events: []events.Event{
				transition(alice, t0, "enter", "Club", "c1"),
				transition(alice, t0+600, "leave", "Club", "c1"),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone p:alice/phone:rid:c1 phone +0",
					"leave alice/phone p:alice/phone:rid:c1 phone +600",
				})
				equalStrings(t, "members", r.members(), []string{"alice/phone p:alice/phone:rid:c1 phone out since+600"})
				if ps := r.s.AreasOf(alice); len(ps) != 0 {
					t.Errorf("AreasOf after leaving = %v", presences(ps))
				}
			},
		},
		{
			name: "late transition goes on the timeline marked late and changes no membership",
			events: []events.Event{
				transition(alice, t0+600, "enter", "Club", "c1"),
				transition(alice, t0, "leave", "Club", "c1"), // happened before the enter, arrives after
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone p:alice/phone:rid:c1 phone +600",
					"leave alice/phone p:alice/phone:rid:c1 phone +0 late",
				})
				equalStrings(t, "members", r.members(), []string{"alice/phone p:alice/phone:rid:c1 phone in since+600"})
				if len(r.last().Members) != 0 {
					t.Errorf("late transition changed members %v", r.last().Members)
				}
			},
		},
		{
			name: "inregions and inrids are a snapshot of the phone's regions",
			events: []events.Event{
				waypoints(alice, t0-1000, region("Home", "h1", home, homeRad), region("Work", "", work, workRad)),
				loc(alice, t0, paris, kv{"inregions": []string{"Home"}, "inrids": []string{"h1"}}),
				loc(alice, t0+100, paris, kv{"inregions": []string{"Work"}, "inrids": []string{}}), // Work by name: it has no rid
				loc(alice, t0+200, paris, nil), // no list: no news
				loc(alice, t0+300, paris, kv{"inregions": []string{}}),
			},
			check: func(t *testing.T, r run) {
				workByDesc := "p:alice/phone:desc:Work"
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone " + homeID + " phone +0",
					"enter alice/phone " + workByDesc + " phone +100",
					"leave alice/phone " + homeID + " phone +100",
					"leave alice/phone " + workByDesc + " phone +300",
				})
				equalStrings(t, "members", r.members(), []string{
					"alice/phone " + workByDesc + " phone out since+300",
					"alice/phone " + homeID + " phone out since+100",
				})
				if f := r.friend(t, alice); len(f.InRegions) != 0 {
					t.Errorf("InRegions = %v, want the last list (empty)", f.InRegions)
				}
				r2 := fold(t, r2events(r)...)
				if f := r2.friend(t, alice); len(f.InRegions) != 1 || f.InRegions[0] != "Work" {
					t.Errorf("InRegions = %v, want [Work]", f.InRegions)
				}
			},
		},
		{
			name: "a late location's inregions is not news",
			events: []events.Event{
				waypoint(alice, t0-1000, region("Home", "h1", home, homeRad)),
				loc(alice, t0+100, paris, kv{"inrids": []string{"h1"}}),
				loc(alice, t0, paris, kv{"inrids": []string{}}),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "members", r.members(), []string{"alice/phone " + homeID + " phone in since+100"})
			},
		},
		{
			name: "waypoints export removes the regions it does not list",
			events: []events.Event{
				waypoints(alice, t0-1000, region("Home", "h1", home, homeRad), region("Work", "w1", work, workRad)),
				loc(alice, t0, inHome, kv{"inrids": []string{"h1"}}),
				waypoints(alice, t0+100, region("Work", "w1", work, workRad)),
			},
			check: func(t *testing.T, r run) {
				if _, ok := r.s.Areas[homeID]; ok {
					t.Error("Home survived an export without it")
				}
				if _, ok := r.s.Areas[workID]; !ok {
					t.Error("Work was removed though listed")
				}
				equalStrings(t, "export's events", eventStrings(r.last().AreaEvents), []string{
					"leave alice/phone " + homeID + " geometry +100",
					"leave alice/phone " + homeID + " phone +100",
				})
				if !r.last().Areas[homeID] || len(r.last().Members) != 2 {
					t.Errorf("export changes = %+v, want Home and its two members", r.last())
				}
				equalStrings(t, "members", r.members(), []string{"alice/phone " + workID + " phone out since+0"})
			},
		},
		{
			name: "a redefined phone region is evaluated at the current position",
			events: []events.Event{
				waypoint(alice, t0-1000, region("Home", "h1", paris, homeRad)),
				loc(alice, t0, inHome, nil),
				waypoint(alice, t0+100, region("Home", "h1", home, homeRad)), // moved onto alice
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{"enter alice/phone " + homeID + " geometry +0"})
				equalStrings(t, "areas of alice", presences(r.s.AreasOf(alice)), []string{"alice/phone " + homeID + " phone=- geometry=in since+0"})
			},
		},

		// Phone versus geometry.
		{
			name: "phone says in, geometry says out: both kept, disagreement visible",
			events: []events.Event{
				waypoint(alice, t0-1000, region("Home", "h1", home, homeRad)),
				loc(alice, t0, paris, nil),
				transition(alice, t0+100, "enter", "Home", "h1"),
			},
			check: func(t *testing.T, r run) {
				want := []string{"alice/phone " + homeID + " phone=in geometry=out since+100 DISAGREE"}
				equalStrings(t, "areas of alice", presences(r.s.AreasOf(alice)), want)
				equalStrings(t, "members of Home", presences(r.s.MembersOf(homeID)), want)
				views := r.s.AreaViews()
				if len(views) != 1 || len(views[0].Members) != 1 || !views[0].Members[0].Disagree || !views[0].Members[0].In() {
					t.Errorf("AreaViews = %+v", views)
				}
			},
		},
		{
			name: "geometry says in, phone says out: disagreement visible",
			events: []events.Event{
				waypoint(alice, t0-1000, region("Home", "h1", home, homeRad)),
				loc(alice, t0, inHome, kv{"inregions": []string{}}),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "areas of alice", presences(r.s.AreasOf(alice)), []string{"alice/phone " + homeID + " phone=out geometry=in since+0 DISAGREE"})
			},
		},
		{
			name: "phone and geometry agree: one presence, both on the timeline",
			events: []events.Event{
				waypoint(alice, t0-1000, region("Home", "h1", home, homeRad)),
				loc(alice, t0, inHome, kv{"inrids": []string{"h1"}}),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "areas of alice", presences(r.s.AreasOf(alice)), []string{"alice/phone " + homeID + " phone=in geometry=in since+0"})
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone " + homeID + " geometry +0",
					"enter alice/phone " + homeID + " phone +0",
				})
			},
		},

		// Server areas.
		{
			name: "server area follows each new current location",
			events: []events.Event{
				defineCircle(t0-1000, "Gym", gym, gymRadius),
				loc(alice, t0, paris, nil),
				loc(alice, t0+100, inGym, nil),
				loc(alice, t0+200, inGym, nil),
				loc(alice, t0+300, paris, nil),
				loc(alice, t0+400, inGym, nil),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone s:gym geometry +100",
					"leave alice/phone s:gym geometry +300",
					"enter alice/phone s:gym geometry +400",
				})
				equalStrings(t, "who is in Gym", presences(r.s.MembersOf(gymID)), []string{"alice/phone s:gym phone=- geometry=in since+400"})
			},
		},
		{
			name: "server area defined while someone is inside",
			events: []events.Event{
				loc(alice, t0, inGym, nil),
				loc(bob, t0, paris, nil),
				defineCircle(t0+100, "Gym", gym, gymRadius),
			},
			check: func(t *testing.T, r run) {
				a := r.s.Areas[gymID]
				if a == nil || a.Name != "Gym" || a.Origin != projections.OriginServer || !a.AppliesTo(alice) || !a.AppliesTo(bob) {
					t.Fatalf("area = %+v", a)
				}
				equalStrings(t, "timeline", r.timeline(), []string{"enter alice/phone s:gym geometry +100"})
				equalStrings(t, "who is in Gym", presences(r.s.MembersOf(gymID)), []string{"alice/phone s:gym phone=- geometry=in since+100"})
				equalStrings(t, "areas of bob", presences(r.s.AreasOf(bob)), nil)
				views := r.s.FriendViews()
				if len(views[0].Areas) != 1 || views[0].Areas[0].AreaName != "Gym" {
					t.Errorf("alice's view areas = %+v", views[0].Areas)
				}
			},
		},
		{
			name: "server area redefined away from someone",
			events: []events.Event{
				loc(alice, t0, inGym, nil),
				defineCircle(t0+100, "Gym", gym, gymRadius),
				defineCircle(t0+200, "gym ", paris, gymRadius), // names are case-insensitive
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone s:gym geometry +100",
					"leave alice/phone s:gym geometry +200",
				})
				if a := r.s.Areas[gymID]; len(r.s.Areas) != 1 || *a.Center != paris || a.Name != "gym" {
					t.Errorf("areas = %v", r.s.Areas)
				}
				equalStrings(t, "who is in Gym", presences(r.s.MembersOf(gymID)), nil)
			},
		},
		{
			name: "server area removed",
			events: []events.Event{
				loc(alice, t0, inGym, nil),
				defineCircle(t0+100, "Gym", gym, gymRadius),
				removeServerArea(t0+200, "GYM"),
				removeServerArea(t0+300, "Nowhere"),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone s:gym geometry +100",
					"leave alice/phone s:gym geometry +200",
				})
				if len(r.s.Areas)+len(r.s.Members) != 0 {
					t.Errorf("left over: areas %v members %v", r.s.Areas, r.s.Members)
				}
				if ch := r.changes[2]; !ch.Areas[gymID] || len(ch.Members) != 1 {
					t.Errorf("removal changes = %+v", ch)
				}
				if !r.last().Empty() {
					t.Errorf("removing an unknown area changed %+v", r.last())
				}
			},
		},
		{
			name: "server area polygon",
			events: []events.Event{
				definePolygon(t0-100, "Dateline", dateline),
				loc(alice, t0, geo.Point{Lat: 0, Lon: 175}, nil),
				loc(alice, t0+100, geo.Point{Lat: 0, Lon: -175}, nil), // still inside, across the line
				loc(alice, t0+200, geo.Point{Lat: 0, Lon: -165}, nil),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone s:dateline geometry +0",
					"leave alice/phone s:dateline geometry +200",
				})
			},
		},
		{
			name: "a new current location older than a server area's definition still moves geometry",
			events: []events.Event{
				loc(alice, t0, inGym, nil),
				defineCircle(t0+1000, "Gym", gym, gymRadius), // alice is in as of the definition
				// A queued fix (HTTP mode) taken before the definition but
				// newer than the current one arrives after it: alice is
				// out now.
				msg(alice, "", t0+1100, ot("location", kv{"lat": paris.Lat, "lon": paris.Lon, "tst": t0 + 500})),
			},
			check: func(t *testing.T, r run) {
				if f := r.friend(t, alice); f.Location.Tst != t0+500 {
					t.Fatalf("current tst %+d, want +500", f.Location.Tst-t0)
				}
				equalStrings(t, "who is in Gym", presences(r.s.MembersOf(gymID)), nil)
				if tl := r.timeline(); len(tl) != 2 || tl[1] != "leave alice/phone s:gym geometry +1000" {
					t.Errorf("timeline %v, want the enter and a leave no earlier than the enter", tl)
				}
			},
		},
		{
			name: "server area renamed: members kept without a crossing, old id remembered",
			events: []events.Event{
				loc(alice, t0, inGym, nil),
				defineCircle(t0+100, "Gym", gym, gymRadius),
				renameServerArea(t0+200, "gym", "Fitness", nil),
				loc(alice, t0+300, inGym, nil),
				loc(alice, t0+400, paris, nil),
			},
			check: func(t *testing.T, r run) {
				const fitID = "s:fitness"
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone s:gym geometry +100",
					"leave alice/phone s:fitness geometry +400",
				})
				a := r.s.Areas[fitID]
				if len(r.s.Areas) != 1 || a == nil || a.Name != "Fitness" || *a.Center != gym || a.Radius != gymRadius {
					t.Fatalf("areas = %v", r.s.Areas)
				}
				if len(a.Formerly) != 1 || a.Formerly[0] != (projections.FormerID{ID: gymID, Until: t0 + 200}) {
					t.Errorf("formerly = %+v", a.Formerly)
				}
				ch := r.changes[2]
				if !ch.Areas[gymID] || !ch.Areas[fitID] || len(ch.Members) != 2 || len(ch.AreaEvents) != 0 {
					t.Errorf("rename changes = %+v", ch)
				}
				if m := r.s.Members[projections.MemberKey{Device: alice, Area: fitID, Origin: projections.OriginGeometry}]; m == nil || m.In {
					t.Errorf("alice's membership after leaving = %+v", m)
				}
			},
		},
		{
			name: "server area renamed and reshaped in one event",
			events: []events.Event{
				loc(alice, t0, inGym, nil),
				defineCircle(t0+100, "Gym", gym, gymRadius),
				renameServerArea(t0+200, "Gym", "Paris", &projections.AreaCommand{Center: &paris, Radius: 1000}),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "timeline", r.timeline(), []string{
					"enter alice/phone s:gym geometry +100",
					"leave alice/phone s:paris geometry +200",
				})
				if a := r.s.Areas["s:paris"]; a == nil || *a.Center != paris || a.Radius != 1000 || a.Defined.Unix() != t0+200 {
					t.Errorf("area = %+v", a)
				}
			},
		},
		{
			name: "renames that change nothing: unknown area, another area's name, a phone's region",
			events: []events.Event{
				defineCircle(t0, "Gym", gym, gymRadius),
				defineCircle(t0, "Park", paris, gymRadius),
				msg(alice, "waypoint", t0, ot("waypoint", kv{"desc": "Home", "lat": 1, "lon": 1, "rad": 10, "tst": t0, "rid": "h1"})),
				renameServerArea(t0+100, "Nowhere", "Somewhere", nil),
				renameServerArea(t0+200, "Gym", "park", nil),
				renameServerArea(t0+300, "Home", "Castle", nil),
			},
			check: func(t *testing.T, r run) {
				for _, ch := range r.changes[3:] {
					if !ch.Empty() {
						t.Errorf("a refused rename changed %+v", ch)
					}
				}
				if len(r.s.Areas) != 3 || r.s.Areas[gymID].Name != "Gym" || r.s.Areas["s:park"].Name != "Park" {
					t.Errorf("areas = %v", r.s.Areas)
				}
			},
		},
		{
			name: "renamed back and forth: each former id once",
			events: []events.Event{
				defineCircle(t0, "Gym", gym, gymRadius),
				renameServerArea(t0+100, "Gym", "Fitness", nil),
				renameServerArea(t0+200, "Fitness", "Gym", nil),
				renameServerArea(t0+300, "Gym", "GYM", nil), // only the case: same id
			},
			check: func(t *testing.T, r run) {
				a := r.s.Areas[gymID]
				if len(r.s.Areas) != 1 || a == nil || a.Name != "GYM" {
					t.Fatalf("areas = %v", r.s.Areas)
				}
				if len(a.Formerly) != 1 || a.Formerly[0] != (projections.FormerID{ID: "s:fitness", Until: t0 + 200}) {
					t.Errorf("formerly = %+v", a.Formerly)
				}
			},
		},
		{
			name: "a server area applies to every device",
			events: []events.Event{
				defineCircle(t0-100, "Gym", gym, gymRadius),
				loc(alice, t0, inGym, nil),
				loc(aliceT, t0+10, inGym, nil),
				loc(bob, t0+20, inGym, nil),
			},
			check: func(t *testing.T, r run) {
				equalStrings(t, "who is in Gym", presences(r.s.MembersOf(gymID)), []string{
					"alice/phone s:gym phone=- geometry=in since+0",
					"alice/tablet s:gym phone=- geometry=in since+10",
					"bob/phone s:gym phone=- geometry=in since+20",
				})
				views := r.s.AreaViews()
				if len(views) != 1 || len(views[0].Members) != 3 {
					t.Errorf("AreaViews = %+v", views)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, fold(t, tt.events...))
		})
	}
}

// r2events replays r's events but the last one (used to look at the state
// one step earlier).
func r2events(r run) []events.Event {
	evs := make([]events.Event, 0, len(r.inputs)-1)
	for _, in := range r.inputs[:len(r.inputs)-1] {
		evs = append(evs, in.Event)
	}
	return evs
}

// TestApplyGeometry checks where the server's geometry puts one fix:
// circle edges and polygons over the antimeridian.
func TestApplyGeometry(t *testing.T) {
	edge := north(gym, 100)
	onEdge := geo.Distance(gym, edge) // the radius that puts edge exactly on the circle
	tests := []struct {
		name string
		area events.Event
		at   geo.Point
		in   bool
	}{
		{"circle centre", defineCircle(t0, "A", gym, gymRadius), gym, true},
		{"circle, exactly on the edge", defineCircle(t0, "A", gym, onEdge), edge, true},
		{"circle, just beyond the edge", defineCircle(t0, "A", gym, onEdge-0.01), edge, false},
		{"circle, far away", defineCircle(t0, "A", gym, gymRadius), paris, false},
		{"circle over the antimeridian, other side", defineCircle(t0, "A", geo.Point{Lat: 0, Lon: 179.9995}, 200), geo.Point{Lat: 0, Lon: -179.9995}, true},
		{"polygon over the antimeridian, east side", definePolygon(t0, "A", dateline), geo.Point{Lat: 5, Lon: 175}, true},
		{"polygon over the antimeridian, west side", definePolygon(t0, "A", dateline), geo.Point{Lat: -5, Lon: -175}, true},
		{"polygon over the antimeridian, on 180", definePolygon(t0, "A", dateline), geo.Point{Lat: 0, Lon: 180}, true},
		{"polygon over the antimeridian, on -180", definePolygon(t0, "A", dateline), geo.Point{Lat: 0, Lon: -180}, true},
		{"polygon over the antimeridian, beyond the east edge", definePolygon(t0, "A", dateline), geo.Point{Lat: 0, Lon: 165}, false},
		{"polygon over the antimeridian, beyond the west edge", definePolygon(t0, "A", dateline), geo.Point{Lat: 0, Lon: -165}, false},
		{"polygon over the antimeridian, Greenwich", definePolygon(t0, "A", dateline), geo.Point{Lat: 0, Lon: 0}, false},
		{"polygon over the antimeridian, north of it", definePolygon(t0, "A", dateline), geo.Point{Lat: 15, Lon: 178}, false},
		{"polygon, on a vertex", definePolygon(t0, "A", dateline), dateline[0], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, order := range []string{"area first", "fix first"} {
				evs := []events.Event{tt.area, loc(alice, t0+100, tt.at, nil)}
				if order == "fix first" {
					evs[0], evs[1] = evs[1], evs[0]
					evs[1].Received = time.Unix(t0+200, 0)
				}
				r := fold(t, evs...)
				if got := len(r.s.MembersOf("s:a")) == 1; got != tt.in {
					t.Errorf("%s: in = %v, want %v (members %v)", order, got, tt.in, r.members())
				}
			}
		})
	}
}

// imported marks e as coming from an import.
func imported(e events.Event, source string) events.Event {
	e.Source = source
	return e
}
