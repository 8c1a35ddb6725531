package live_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tracker/events/eventstest"
	"tracker/projections"
	"tracker/static"
	"tracker/views"
	"tracker/views/htmltest"
	"tracker/views/live"
)

// fakeSource is an in-memory live.Source: the hub's own read interface,
// filled by the test.
type fakeSource struct {
	mu      sync.Mutex
	friends map[projections.DeviceID]projections.FriendView
	areas   map[string]projections.AreaView
	feed    []projections.AreaEvent // oldest first
}

func newFakeSource() *fakeSource {
	return &fakeSource{friends: map[projections.DeviceID]projections.FriendView{}, areas: map[string]projections.AreaView{}}
}

func (s *fakeSource) Friends() []projections.FriendView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]projections.FriendView, 0, len(s.friends))
	for _, f := range s.friends {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b projections.FriendView) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

func (s *fakeSource) Friend(id projections.DeviceID) (projections.FriendView, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.friends[id]
	return f, ok
}

func (s *fakeSource) Areas() []projections.AreaView {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]projections.AreaView, 0, len(s.areas))
	for _, a := range s.areas {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b projections.AreaView) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *fakeSource) RecentAreaEvents(n int) []projections.AreaEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.feed[max(0, len(s.feed)-n):])
}

// setFriend adds or replaces a friend at a position.
func (s *fakeSource) setFriend(id projections.DeviceID, lat, lon float64, tst int64) {
	user, device := id.Split()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.friends[id] = projections.FriendView{Friend: projections.Friend{
		ID: id, User: user, Device: device, Online: true,
		LastSeen: time.Unix(tst, 0), Location: &projections.Point{Tst: tst, Lat: lat, Lon: lon, Acc: 10, Batt: 80},
	}}
}

func (s *fakeSource) setArea(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.areas[id] = projections.AreaView{Area: projections.Area{ID: id, Name: name, Origin: projections.OriginServer}}
}

func (s *fakeSource) addFeed(e projections.AreaEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feed = append(s.feed, e)
}

// clock is the fixed time every page renders with, so two renders of the
// same state are byte-identical.
var clock = time.Date(2026, 3, 10, 18, 0, 0, 0, time.UTC)

const (
	alice = projections.DeviceID("alice/phone")
	bob   = projections.DeviceID("bob/tablet")
)

// fixtureSource has two friends, one area with alice inside, and one feed line.
func fixtureSource() *fakeSource {
	src := newFakeSource()
	src.setFriend(alice, 51.5, -0.12, clock.Unix()-60)
	src.setFriend(bob, 51.52, -0.1, clock.Unix()-600)
	src.setArea("s:hq", "HQ")
	in := true
	src.mu.Lock()
	a := src.areas["s:hq"]
	a.Members = []projections.Presence{{Device: alice, Area: "s:hq", AreaName: "HQ", Since: clock.Unix() - 60, Geometry: &in}}
	src.areas["s:hq"] = a
	src.mu.Unlock()
	src.addFeed(projections.AreaEvent{Seq: 7, Tst: clock.Unix() - 60, Device: alice, Area: "s:hq", AreaName: "HQ", Event: "enter", Origin: projections.OriginGeometry})
	return src
}

// hubServer is a hub behind a real HTTP server on loopback.
type hubServer struct {
	hub    *live.Hub
	src    *fakeSource
	srv    *httptest.Server
	cancel context.CancelFunc // ends every request's context: a server shutdown

	mu      sync.Mutex
	located []projections.DeviceID
	failAll bool
}

// newHubServer serves the hub on /live (websocket) and /live/sse to a
// viewer who sees everything (live.Access{}: no rights to check).
func newHubServer(t *testing.T, src *fakeSource) *hubServer {
	t.Helper()
	assets := static.New()
	hs := &hubServer{src: src}
	locate := func(ctx context.Context, dev projections.DeviceID) error {
		hs.mu.Lock()
		defer hs.mu.Unlock()
		hs.located = append(hs.located, dev)
		if hs.failAll {
			return fmt.Errorf("broker down")
		}
		return nil
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	hs.hub = live.New(src, func() views.Page { return views.Page{Assets: assets, Now: clock} }, locate, logger)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) { hs.hub.ServeWSFor(w, r, live.Access{}) })
	mux.HandleFunc("GET /live/sse", func(w http.ResponseWriter, r *http.Request) { hs.hub.ServeSSEFor(w, r, live.Access{}) })
	ctx, cancel := context.WithCancel(context.Background())
	hs.cancel = cancel
	hs.srv = httptest.NewUnstartedServer(mux)
	hs.srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	hs.srv.Start()
	t.Cleanup(func() {
		cancel() // hijacked websocket handlers outlive srv.Close otherwise
		hs.srv.Close()
		eventstest.WaitFor(t, 5*time.Second, "every live client gone", func() bool { return hs.hub.Clients() == 0 })
	})
	return hs
}

func (hs *hubServer) wsURL() string { return "ws" + strings.TrimPrefix(hs.srv.URL, "http") + "/live" }

// notify tells the hub that friends changed.
func (hs *hubServer) notifyFriends(ids ...projections.DeviceID) {
	ch := projections.NewChanges()
	for _, id := range ids {
		ch.Friends[id] = true
	}
	hs.hub.Notify(ch)
}

// message is one websocket or SSE message and when it arrived.
type message struct {
	data string
	at   time.Time
}

// wsClient is a browser-like websocket client: one reader goroutine
// queues every message with its arrival time.
type wsClient struct {
	conn *websocket.Conn
	msgs chan message
	done chan struct{} // closed when the reader stops
	err  error         // the reader's last error, once done is closed
}

// dial connects with the Origin a page of this server would send.
func dial(t *testing.T, hs *hubServer) *wsClient {
	t.Helper()
	h := http.Header{"Origin": {hs.srv.URL}}
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), hs.wsURL(), h)
	if err != nil {
		t.Fatalf("dial %s: %v", hs.wsURL(), err)
	}
	resp.Body.Close()
	c := &wsClient{conn: conn, msgs: make(chan message, 4096), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			c.msgs <- message{data: string(b), at: time.Now()}
		}
	}()
	t.Cleanup(func() { c.close(t) })
	return c
}

// close says goodbye like a browser leaving the page and waits for the reader.
func (c *wsClient) close(t *testing.T) {
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	_ = c.conn.Close()
	<-c.done
}

// next returns the next message, failing after d.
func (c *wsClient) next(t *testing.T, d time.Duration, what string) message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.done:
		select {
		case m := <-c.msgs:
			return m
		default:
		}
		t.Fatalf("%s: connection ended (%v)", what, c.err)
	case <-time.After(d):
		t.Fatalf("%s: no message within %v", what, d)
	}
	panic("unreachable")
}

// quiet fails when a message arrives within d.
func (c *wsClient) quiet(t *testing.T, d time.Duration, why string) {
	t.Helper()
	select {
	case m := <-c.msgs:
		t.Errorf("%s, but got a message:\n%s", why, m.data)
	case <-time.After(d):
	}
}

// sseClient reads /live/sse and turns each event into a message.
type sseClient struct {
	msgs chan message
	done chan struct{}
}

func dialSSE(t *testing.T, hs *hubServer) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.srv.URL+"/live/sse", nil)
	req.Header.Set("Accept", "text/event-stream")
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		cancel()
		t.Fatalf("GET /live/sse: %s, Content-Type %q", resp.Status, ct)
	}
	c := &sseClient{msgs: make(chan message, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		sc.Split(sseLines)
		var event string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if event != "message" {
					t.Errorf("SSE event type %q, want message", event)
				}
				c.msgs <- message{data: strings.Join(data, "\n"), at: time.Now()}
				event, data = "", nil
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			case line == "data:":
				data = append(data, "")
			default:
				t.Errorf("unexpected SSE line %q", line)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
		tr.CloseIdleConnections()
	})
	return c
}

// sseLines splits an event stream into lines as browsers do: a line ends
// at CRLF, LF or a lone CR.
func sseLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 == len(data) && !atEOF {
				return 0, nil, nil // a LF may follow
			}
			if i+1 < len(data) && data[i+1] == '\n' {
				return i + 2, data[:i], nil
			}
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// normalizeNewlines turns CRLF and CR into LF, as HTML parsing does.
func normalizeNewlines(s string) string {
	return strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
}

func (c *sseClient) next(t *testing.T, d time.Duration, what string) message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(d):
		t.Fatalf("%s: no SSE event within %v", what, d)
	}
	panic("unreachable")
}

// oobSwaps lists the out-of-band swaps of a message as "id=swap" (or
// "tag=swap" for elements without id), in order.
func oobSwaps(html string) []string {
	var out []string
	for _, e := range htmltest.Elements(html) {
		if swap, ok := e.Attrs["hx-swap-oob"]; ok {
			name := e.Attrs["id"]
			if name == "" {
				name = e.Tag
			}
			out = append(out, name+"="+swap)
		}
	}
	return out
}

// friendsIn lists the data-friend of every friend row in a message.
func friendsIn(html string) []string {
	var out []string
	for _, e := range htmltest.FindElements(html, "data-testid", "friend") {
		out = append(out, e.Attrs["data-friend"])
	}
	return out
}

// checkGoroutines fails the test if, after everything registered later
// with t.Cleanup has run, more goroutines are left than when it started.
// Call it first in a test.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before the test, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
