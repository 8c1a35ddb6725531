package webpush

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/projector"
)

// world is a real log and projections, followed live, with one user.
type world struct {
	log  events.Appender
	read events.Reader
	proj *projector.Projector
}

func newWorld(t *testing.T, user string) *world {
	t.Helper()
	log := eventstest.OpenLog(t)
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := projector.Open(t.Context(), t.TempDir(), log, owntracks.Decoder{}, logger, projector.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	w := &world{log: log, read: log, proj: p}
	hash, _ := projections.HashPassword("a long password")
	w.append(t, projections.UserTopic, projections.UserCommand{Type: "user", Action: projections.UserAdd, Name: user, Hash: hash})
	return w
}

func (w *world) append(t *testing.T, topic string, v any) uint64 {
	t.Helper()
	b, _ := json.Marshal(v)
	seq, err := w.log.Append(t.Context(), events.Event{Topic: topic, Payload: b, Source: events.SourceAdmin, Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.proj.WaitFor(t.Context(), seq); err != nil {
		t.Fatal(err)
	}
	return seq
}

// subscribe records b's subscription to endpoint for user, as the web
// side does.
func (w *world) subscribe(t *testing.T, user, endpoint string, b browser) {
	t.Helper()
	enc := base64.RawURLEncoding
	w.append(t, projections.PushTopic, projections.PushCommand{Type: "push", Action: projections.PushSubscribe, Name: user,
		Endpoint: endpoint, P256DH: enc.EncodeToString(b.priv.PublicKey().Bytes()), Auth: enc.EncodeToString(b.auth)})
}

// TestBrowsersForgetGone: a message reaches each subscribed browser
// (decrypted with its own keys); a push service answering 410 makes the
// server record an unsubscribe event, after which that browser is not
// tried again; when none is left, Tell says there is nobody.
func TestBrowsersForgetGone(t *testing.T) {
	w := newWorld(t, "ann")
	live, got := pushService(t, http.StatusCreated)
	var goneHits atomic.Int32
	gone := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		goneHits.Add(1)
		rw.WriteHeader(http.StatusGone)
	}))
	defer gone.Close()
	phone, laptop := newBrowser(t), newBrowser(t)
	w.subscribe(t, "ann", live.URL+"/sub/phone", phone)
	w.subscribe(t, "ann", gone.URL+"/sub/laptop", laptop)

	b := &Browsers{Sender: testSender(t), Users: w.proj, Appender: w.log, Policy: Policy{AllowLoopback: true}}
	msg := Message{Title: "tracker: Ben", Body: "Ben arrived at Home", URL: "/", Tag: "r1-42"}
	if err := b.Tell(t.Context(), "ann", msg, "rule-r1"); err != nil {
		t.Fatalf("Tell: %v", err)
	}
	p := <-got
	if p.err != nil {
		t.Fatalf("VAPID: %v", p.err)
	}
	plain, err := browserDecrypt(p.body, phone.priv, phone.auth)
	if err != nil {
		t.Fatal(err)
	}
	var shown Message
	if err := json.Unmarshal(plain, &shown); err != nil || shown != msg {
		t.Fatalf("the browser got %s (%v), want %+v", plain, err, msg)
	}
	if p.header.Get("TTL") != "3600" || p.header.Get("Topic") != "rule-r1" {
		t.Errorf("TTL %q Topic %q", p.header.Get("TTL"), p.header.Get("Topic"))
	}

	// The 410 became an unsubscribe event by the server.
	var removal *projections.PushCommand
	_ = w.read.Scan(t.Context(), 1, func(e events.Event) error {
		if c, err := projections.ParsePushCommand(e.Payload); err == nil && e.Topic == projections.PushTopic && c.Action == projections.PushUnsubscribe {
			removal = &c
		}
		return nil
	})
	if removal == nil || removal.By != "server" || removal.SubID != projections.PushSubscriptionID(gone.URL+"/sub/laptop") || !strings.Contains(removal.Reason, "410") {
		t.Fatalf("unsubscribe event %+v, want one by the server for the laptop saying 410", removal)
	}
	if err := w.proj.WaitFor(t.Context(), w.read.Head()); err != nil {
		t.Fatal(err)
	}
	if u, _ := w.proj.User("ann"); len(u.Push) != 1 || u.Push[0].Endpoint != live.URL+"/sub/phone" {
		t.Fatalf("ann's subscriptions after the 410: %+v", u.Push)
	}
	if err := b.Tell(t.Context(), "ann", msg, ""); err != nil {
		t.Fatal(err)
	}
	<-got
	if n := goneHits.Load(); n != 1 {
		t.Errorf("the gone endpoint was tried %d times, want once", n)
	}

	// Without browsers: nobody to tell.
	w.append(t, projections.PushTopic, projections.PushCommand{Type: "push", Action: projections.PushUnsubscribe, Name: "ann",
		SubID: projections.PushSubscriptionID(live.URL + "/sub/phone"), Reason: "test"})
	if err := b.Tell(t.Context(), "ann", msg, ""); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("Tell without browsers: %v, want ErrNoBrowser", err)
	}
}
