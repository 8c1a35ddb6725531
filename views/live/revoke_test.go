package live_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tracker/events/eventstest"
	"tracker/projections"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
)

// TestRightsDecidedPerMessage: the hub asks Access.Rights for every
// message. A change to the viewer's account (Notify with Users) sends a
// full state under the new rights, nothing hidden follows, and Recheck
// closes the socket with CloseRevoked once the rights have ended.
func TestRightsDecidedPerMessage(t *testing.T) {
	checkGoroutines(t)
	src := fixtureSource()
	assets := static.New()
	hub := live.New(src, func() views.Page { return views.Page{Assets: assets, Now: clock} }, nil, slog.New(slog.DiscardHandler))
	var hideAlice, revoked atomic.Bool
	access := live.Access{User: "vic", Rights: func() (live.Rights, error) {
		if revoked.Load() {
			return live.Rights{}, live.ErrRevoked
		}
		return live.Rights{May: func(d projections.DeviceID) bool { return d != alice || !hideAlice.Load() }}, nil
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hub.ServeWSFor(w, r, access) }))
	defer srv.Close()
	conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One reader: after a read deadline passes, gorilla fails every read.
	msgs, ended := make(chan string, 16), make(chan error, 1)
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				ended <- err
				return
			}
			msgs <- string(b)
		}
	}()
	read := func(d time.Duration) (string, error) {
		select {
		case m := <-msgs:
			return m, nil
		case err := <-ended:
			return "", err
		case <-time.After(d):
			return "", errors.New("nothing")
		}
	}
	if m, err := read(time.Second); err != nil || !strings.Contains(m, string(alice)) {
		t.Fatalf("full state: %v, alice in it: %v", err, strings.Contains(m, string(alice)))
	}

	hideAlice.Store(true)
	ch := projections.NewChanges()
	ch.Users["vic"] = true
	hub.Notify(ch)
	if m, err := read(time.Second); err != nil || strings.Contains(m, string(alice)) || !strings.Contains(m, `id="friends"`) {
		t.Fatalf("after the sharing change: %v; want a new friend list without alice:\n%s", err, m)
	}
	src.setFriend(alice, 51.6, -0.2, clock.Unix())
	ch = projections.NewChanges()
	ch.Friends[alice] = true
	hub.Notify(ch)
	if m, err := read(3 * live.MinInterval); err == nil {
		t.Fatalf("a hidden friend's update was sent:\n%s", m)
	}

	revoked.Store(true)
	start := time.Now()
	hub.Recheck("vic")
	_, err = read(time.Second)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != live.CloseRevoked {
		t.Fatalf("after Recheck: %v, want close %d", err, live.CloseRevoked)
	}
	t.Logf("closed %v after Recheck", time.Since(start))
	eventstest.WaitFor(t, 2*time.Second, "client gone", func() bool { return hub.Clients() == 0 })
}

// TestWatchHearsAccountChanges: Watch wakes on a change to any account
// and on Recheck of its user, and stops when told.
func TestWatchHearsAccountChanges(t *testing.T) {
	hub := live.New(fixtureSource(), func() views.Page { return views.Page{Now: clock} }, nil, slog.New(slog.DiscardHandler))
	var n atomic.Int32
	stop := hub.Watch("vic", func() { n.Add(1) })
	hub.Notify(projections.NewChanges()) // nothing about accounts
	ch := projections.NewChanges()
	ch.Users["vic"] = true
	hub.Notify(ch)
	hub.Recheck("someone else")
	hub.Recheck("vic")
	hub.Notify(nil) // a rebuild
	if got := n.Load(); got != 3 {
		t.Errorf("woken %d times, want 3 (account change, Recheck, rebuild)", got)
	}
	stop()
	hub.Recheck("vic")
	if got := n.Load(); got != 3 {
		t.Errorf("woken after stop")
	}
}
