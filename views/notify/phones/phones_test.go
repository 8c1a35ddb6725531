package phones_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/broker"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/projector"
	"tracker/views/notify/phones"
	"tracker/views/visible"
)

// world is an embedded broker on a real log, the projections following
// that log, and users ann (who sees ben) and ben.
type world struct {
	log    events.Appender
	proj   *projector.Projector
	broker *broker.Broker
}

func newWorld(t *testing.T) *world {
	t.Helper()
	log := eventstest.OpenLog(t)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0"}, log, logger)
	if err != nil {
		t.Fatal(err)
	}
	p, err := projector.Open(t.Context(), t.TempDir(), log, owntracks.Decoder{}, logger, projector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = b.Run(ctx) })
	wg.Go(func() { _ = p.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	w := &world{log: log, proj: p, broker: b}
	hash, _ := projections.HashPassword("a long password")
	w.admin(t, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "ann", Hash: hash})
	w.admin(t, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: "ben", Hash: hash})
	w.admin(t, projections.UserCommand{Type: "user", Action: projections.UserShare, Name: "ann", Sees: []string{"ben"}})
	return w
}

func (w *world) admin(t *testing.T, c projections.UserCommand) {
	t.Helper()
	b, _ := json.Marshal(c)
	seq, err := w.log.Append(t.Context(), events.Event{Topic: projections.UserTopic, Payload: b, Source: events.SourceAdmin, Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.proj.WaitFor(t.Context(), seq); err != nil {
		t.Fatal(err)
	}
}

// phone connects a real MQTT client as user's device, reports a location
// (so the server knows the phone) and returns what arrives on its own
// command topic.
func (w *world) phone(t *testing.T, user, device, tid string) <-chan eventstest.Received {
	t.Helper()
	c := eventstest.Connect(t, w.broker.Addr(), user+"-"+device)
	cmds := eventstest.Subscribe(t, c, "owntracks/"+user+"/"+device+"/cmd", 1)
	eventstest.Publish(t, c, "owntracks/"+user+"/"+device, 1, false,
		[]byte(`{"_type":"location","tid":"`+tid+`","lat":50.85,"lon":4.35,"tst":`+itoa(time.Now().Unix())+`}`))
	eventstest.WaitFor(t, 5*time.Second, user+"/"+device+" in the projections", func() bool {
		_, ok := w.proj.Friend(projections.MakeDeviceID(user, device))
		return ok
	})
	return cmds
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestPhonesTellOwnPhonesOnly: ann's notice about ben reaches each of
// ann's own phones as an OwnTracks cmd on its own command topic (a real
// MQTT client subscribed as the phone; QoS 0, so nothing waits in an
// offline phone's session), nothing is published anywhere else, and an HTTP-mode post of ann's phone gets ben's transition once;
// a friend ann may no longer see is neither told nor handed over later.
func TestPhonesTellOwnPhonesOnly(t *testing.T) {
	w := newWorld(t)
	annPhone := w.phone(t, "ann", "phone", "an")
	annTablet := w.phone(t, "ann", "tablet", "at")
	benPhone := w.phone(t, "ben", "phone", "bb")
	spy := eventstest.Connect(t, w.broker.Addr(), "spy")
	everything := eventstest.Subscribe(t, spy, "#", 1)

	p := &phones.Phones{Users: w.proj, Gate: visible.New(w.proj), MQTT: w.broker}
	at := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	n := phones.Notice{ID: "r1-7", Event: phones.EventArrive, Friend: "ben/phone", Place: "Home", Text: "Ben arrived at Home", At: at}
	if err := p.Tell(t.Context(), "ann", n); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]<-chan eventstest.Received{"ann/phone": annPhone, "ann/tablet": annTablet} {
		select {
		case m := <-ch:
			var cmd map[string]any
			if err := json.Unmarshal(m.Payload, &cmd); err != nil || cmd["_type"] != "cmd" || cmd["action"] != "action" ||
				cmd["notification"] != "Ben arrived at Home at 09:30 UTC" || m.QoS != 0 || m.Retained {
				t.Errorf("%s got %s on %s (QoS %d, retained %v)", name, m.Payload, m.Topic, m.QoS, m.Retained)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s got no command", name)
		}
	}
	// Nothing else went out: only ann's two command topics, nothing on
	// ben's topics or any event topic.
	deadline := time.After(500 * time.Millisecond)
	var seen []string
collect:
	for {
		select {
		case m := <-everything:
			if !strings.HasSuffix(m.Topic, "/cmd") && m.Retained {
				continue // the locations reported above, replayed on subscribe
			}
			if strings.HasPrefix(m.Topic, "owntracks/") && !strings.HasSuffix(m.Topic, "/cmd") {
				continue // the locations reported above, live
			}
			seen = append(seen, m.Topic)
		case <-deadline:
			break collect
		}
	}
	if len(seen) != 2 || !strings.HasPrefix(seen[0], "owntracks/ann/") || !strings.HasPrefix(seen[1], "owntracks/ann/") {
		t.Errorf("published on %q, want ann's two command topics only", seen)
	}
	select {
	case m := <-benPhone:
		t.Errorf("ben's phone got %s", m.Payload)
	default:
	}

	// HTTP mode: ann's phone's next post carries ben's transition, once;
	// the same notice retried is not queued twice (over MQTT it goes again).
	if err := p.Tell(t.Context(), "ann", n); err != nil {
		t.Fatal(err)
	}
	<-annPhone
	<-annTablet
	got := p.Take("ann/phone")
	if len(got) != 1 {
		t.Fatalf("Take = %s, want one transition", got)
	}
	var tr map[string]any
	_ = json.Unmarshal(got[0], &tr)
	if tr["_type"] != "transition" || tr["event"] != "enter" || tr["desc"] != "Home" || tr["tid"] != "bb" || tr["tst"] != float64(at.Unix()) {
		t.Errorf("transition %s", got[0])
	}
	if again := p.Take("ann/phone"); len(again) != 0 {
		t.Errorf("handed over twice: %s", again)
	}
	if got := p.Take("ben/phone"); len(got) != 0 {
		t.Errorf("ben's phone got ann's notice: %s", got)
	}

	// Sharing changes: ann no longer sees ben. What waits is withheld,
	// and a new notice about ben is refused.
	silent := phones.Notice{ID: "r2-9", Event: "battery", Friend: "ben/phone", Text: "Ben's battery is at 9 %", At: at}
	if err := p.Tell(t.Context(), "ann", silent); err != nil {
		t.Fatal(err)
	}
	<-annPhone
	<-annTablet
	w.admin(t, projections.UserCommand{Type: "user", Action: projections.UserShare, Name: "ann", Sees: []string{}})
	if got := p.Take("ann/tablet"); len(got) != 0 {
		t.Errorf("a notice about a friend no longer shared was handed over: %s", got)
	}
	if err := p.Tell(t.Context(), "ann", n); !errors.Is(err, phones.ErrHidden) {
		t.Errorf("Tell about a hidden friend: %v, want ErrHidden", err)
	}
	select {
	case m := <-annPhone:
		t.Errorf("ann's phone was told about a hidden friend: %s", m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
	if err := p.Tell(t.Context(), "ben", phones.Notice{ID: "x", Friend: "ann/phone", Text: "?", At: at}); err != nil {
		t.Errorf("ben (who sees everyone) about ann: %v", err)
	}
}
