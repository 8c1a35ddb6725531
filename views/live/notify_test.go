package live_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tracker/static"
	"tracker/views"
	"tracker/views/live"
)

// TestTellReachesOnlyTheUsersStreams: a notification told to vic reaches
// vic's open streams (as hidden notice elements appended to the body,
// escaped), never another viewer's; Tell counts the streams it reached,
// none when vic has no page open.
func TestTellReachesOnlyTheUsersStreams(t *testing.T) {
	checkGoroutines(t)
	src := fixtureSource()
	assets := static.New()
	hub := live.New(src, func() views.Page { return views.Page{Assets: assets, Now: clock} }, nil, slog.New(slog.DiscardHandler))
	if n := hub.Tell("vic", views.Notice{ID: "r-0", Title: "tracker: alice", Body: "nobody sees this"}); n != 0 {
		t.Fatalf("Tell with no stream open reached %d", n)
	}
	dial := func(user string) (*websocket.Conn, chan string) {
		t.Helper()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hub.ServeWSFor(w, r, live.Access{User: user})
		}))
		t.Cleanup(srv.Close)
		conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		msgs := make(chan string, 16)
		go func() {
			defer close(msgs)
			for {
				_, b, err := conn.ReadMessage()
				if err != nil {
					return
				}
				msgs <- string(b)
			}
		}()
		<-msgs // the full state
		return conn, msgs
	}
	_, vic := dial("vic")
	_, ann := dial("ann")
	if n := hub.Tell("vic", views.Notice{ID: "r-1", Rule: "r", Title: "tracker: alice", Body: `alice arrived at <b>Home</b>`, At: clock}); n != 1 {
		t.Fatalf("Tell reached %d streams, want vic's 1", n)
	}
	select {
	case m := <-vic:
		if !strings.Contains(m, `data-testid="notify-note"`) || !strings.Contains(m, `data-id="r-1"`) ||
			!strings.Contains(m, `hx-swap-oob="beforeend:body"`) || strings.Contains(m, "<b>Home") || !strings.Contains(m, "&lt;b&gt;Home") {
			t.Errorf("vic's message %q, want the escaped notice appended to the body", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("vic's stream got no notice")
	}
	select {
	case m := <-ann:
		t.Errorf("ann's stream got %q", m)
	case <-time.After(300 * time.Millisecond):
	}
}
