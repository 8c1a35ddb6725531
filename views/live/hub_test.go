package live_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"tracker/events/eventstest"
	"tracker/projections"
	"tracker/views"
	"tracker/views/htmltest"
	"tracker/views/live"
)

// TestFullStateOnConnect: a page that connects gets the whole state at
// once, as three out-of-band swaps that replace the lists.
func TestFullStateOnConnect(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	c := dial(t, hs)
	m := c.next(t, time.Second, "full state")

	want := []string{"friends=true", "more-markers=true", "places=true", "feed=true"}
	if got := oobSwaps(m.data); !slices.Equal(got, want) {
		t.Errorf("full state swaps %v, want %v", got, want)
	}
	if got := friendsIn(m.data); !slices.Equal(got, []string{"alice/phone", "bob/tablet"}) {
		t.Errorf("full state rows %v, want alice/phone, bob/tablet", got)
	}
	if got := htmltest.FindElements(m.data, "data-testid", "area"); len(got) != 1 || got[0].Attrs["data-area"] != "s:hq" {
		t.Errorf("full state area cards %v, want s:hq", got)
	}
	if got := htmltest.FindElements(m.data, "data-testid", "feed-item"); len(got) != 1 {
		t.Errorf("full state has %d feed lines, want 1", len(got))
	}
	if hs.hub.Clients() != 1 {
		t.Errorf("Clients() = %d, want 1", hs.hub.Clients())
	}
	c.quiet(t, 3*live.MinInterval, "nothing changed")
}

// TestOneChangedFriendOneRow: a change to one friend sends that friend's
// row only, replacing the row in place.
func TestOneChangedFriendOneRow(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	c := dial(t, hs)
	c.next(t, time.Second, "full state")
	time.Sleep(live.MinInterval) // not coalesced with the full state

	hs.src.setFriend(alice, 51.501, -0.121, clock.Unix())
	sent := time.Now()
	hs.notifyFriends(alice)
	m := c.next(t, time.Second, "update")
	t.Logf("Notify → message: %v", m.at.Sub(sent))

	if got := oobSwaps(m.data); len(got) != 1 || !strings.HasSuffix(got[0], "=true") || !strings.HasPrefix(got[0], "f-") {
		t.Errorf("swaps %v, want exactly alice's row replaced (f-…=true)", got)
	}
	if got := friendsIn(m.data); !slices.Equal(got, []string{"alice/phone"}) {
		t.Errorf("rows %v, want alice/phone only", got)
	}
	for _, gone := range []string{`id="friends"`, `data-testid="area"`, `data-testid="feed-item"`} {
		if strings.Contains(m.data, gone) {
			t.Errorf("the update carries %s; want only the changed row", gone)
		}
	}
	row := htmltest.FindElements(m.data, "data-testid", "friend")[0]
	var marker struct{ Lat, Lon float64 }
	if err := json.Unmarshal([]byte(row.Attrs["data-marker"]), &marker); err != nil || marker.Lat != 51.501 {
		t.Errorf("row's data-marker %q (%v), want the new position", row.Attrs["data-marker"], err)
	}
	c.quiet(t, 3*live.MinInterval, "one change, one message")
}

// unescape undoes the HTML escaping of an attribute value.
func unescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// TestNotifyBurstCoalesces: many changes within MinInterval of the last
// message go out as one message carrying every changed row once; under a
// steady stream a client gets at most one message per MinInterval, and
// the last state always arrives.
func TestNotifyBurstCoalesces(t *testing.T) {
	checkGoroutines(t)
	src := fixtureSource()
	var ids []projections.DeviceID
	for i := range 10 {
		id := projections.DeviceID(fmt.Sprintf("f%02d/phone", i))
		ids = append(ids, id)
		src.setFriend(id, 50, 4, clock.Unix())
	}
	hs := newHubServer(t, src)
	c := dial(t, hs)
	full := c.next(t, time.Second, "full state")

	// A burst of 50 notifications right after the full state went out.
	for i := range 50 {
		id := ids[i%len(ids)]
		src.setFriend(id, 50+float64(i)/1000, 4, clock.Unix())
		hs.notifyFriends(id)
	}
	m := c.next(t, time.Second, "coalesced update")
	if gap := m.at.Sub(full.at); gap < live.MinInterval-10*time.Millisecond {
		t.Errorf("update came %v after the full state; want at least MinInterval (%v)", gap, live.MinInterval)
	}
	got := friendsIn(m.data)
	slices.Sort(got)
	var want []string
	for _, id := range ids {
		want = append(want, string(id))
	}
	if !slices.Equal(got, want) {
		t.Errorf("coalesced message has rows %v, want each of the 10 changed friends once", got)
	}
	c.quiet(t, 3*live.MinInterval, "50 notifications within MinInterval must give one message")

	// A steady stream: a change every 5 ms for a second.
	start := time.Now()
	var last float64
	for i := 0; time.Since(start) < time.Second; i++ {
		last = 51 + float64(i)/10000
		src.setFriend(alice, last, 4, clock.Unix())
		hs.notifyFriends(alice)
		time.Sleep(5 * time.Millisecond)
	}
	end := time.Now()
	var n int
	var final string
	for {
		select {
		case m := <-c.msgs:
			n++
			final = m.data
			continue
		case <-time.After(3 * live.MinInterval):
		}
		break
	}
	limit := int(end.Sub(start)/live.MinInterval) + 2
	t.Logf("a change every 5 ms for %v gave %d messages (limit %d)", end.Sub(start).Round(time.Millisecond), n, limit)
	if n > limit || n < 3 {
		t.Errorf("%d messages in %v of steady changes; want between 3 and %d (one per MinInterval)", n, end.Sub(start), limit)
	}
	if !strings.Contains(unescape(final), fmt.Sprintf(`"lat":%v,`, last)) {
		t.Errorf("the last message does not carry the last position %v:\n%s", last, final)
	}
}

// TestNewFriendIsAppended: a friend the page does not have yet is sent
// for appending to #friends; its next change replaces it in place.
func TestNewFriendIsAppended(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	c := dial(t, hs)
	c.next(t, time.Second, "full state")

	const carol = projections.DeviceID("carol/phone")
	hs.src.setFriend(carol, 51.49, -0.13, clock.Unix())
	hs.notifyFriends(carol)
	m := c.next(t, time.Second, "new friend")
	if got := friendsIn(m.data); !slices.Equal(got, []string{string(carol)}) {
		t.Fatalf("rows %v, want carol/phone", got)
	}
	var appended []htmltest.Element
	for _, e := range htmltest.Elements(m.data) {
		if e.Attrs["hx-swap-oob"] == "beforeend:#friends" {
			appended = append(appended, e)
		}
	}
	if len(appended) != 1 {
		t.Fatalf("want one element with hx-swap-oob=\"beforeend:#friends\", got swaps %v", oobSwaps(m.data))
	}
	// htmx swaps the *children* of an out-of-band element whose swap is
	// not outerHTML, so the row must sit inside the element carrying
	// beforeend:#friends; on the row itself, the <li> (its id,
	// data-friend and data-marker) is dropped and only its contents land
	// in the list.
	if appended[0].Attrs["data-testid"] == "friend" {
		t.Errorf("hx-swap-oob=\"beforeend:#friends\" is on the row <%s> itself: htmx would append the row's children, not the row; wrap the row in a <ul hx-swap-oob=\"beforeend:#friends\">", appended[0].Tag)
	}

	time.Sleep(live.MinInterval)
	hs.src.setFriend(carol, 51.48, -0.13, clock.Unix())
	hs.notifyFriends(carol)
	m = c.next(t, time.Second, "known friend")
	if got := oobSwaps(m.data); len(got) != 1 || !strings.HasSuffix(got[0], "=true") {
		t.Errorf("second change swaps %v, want the row replaced in place", got)
	}
}

// TestRemovedAreaIsDeleted: an area that disappears from the source is
// gone from the page: the places are swapped in without it.
func TestRemovedAreaIsDeleted(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	c := dial(t, hs)
	full := c.next(t, time.Second, "full state")
	card := htmltest.FindElements(full.data, "data-area", "s:hq")
	if len(card) != 1 {
		t.Fatal("no HQ card in the full state")
	}
	hs.src.mu.Lock()
	delete(hs.src.areas, "s:hq")
	hs.src.mu.Unlock()
	ch := projections.NewChanges()
	ch.Areas["s:hq"] = true
	hs.hub.Notify(ch)
	m := c.next(t, time.Second, "area removed")
	if got, want := oobSwaps(m.data), []string{"places=true", "feed=true"}; !slices.Equal(got, want) {
		t.Errorf("swaps %v, want %v", got, want)
	}
	if strings.Contains(m.data, `data-area="s:hq"`) || strings.Contains(m.data, `data-place="HQ"`) {
		t.Errorf("the places swapped in still have HQ:\n%s", m.data)
	}
}

// TestSlowClientIsDroppedOthersUnaffected: a client that stops reading is
// dropped after WriteTimeout; meanwhile Notify never blocks and a normal
// client keeps getting every update promptly.
func TestSlowClientIsDroppedOthersUnaffected(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the write timeout")
	}
	checkGoroutines(t)
	src := fixtureSource()
	// Big updates fill the stuck socket's buffers quickly: 300 friends
	// make a message of a few hundred KB.
	var ids []projections.DeviceID
	for i := range 300 {
		id := projections.DeviceID(fmt.Sprintf("crowd%03d/phone", i))
		ids = append(ids, id)
		src.setFriend(id, 50, 4, clock.Unix())
	}
	hs := newHubServer(t, src)
	stuck := rawStuckClient(t, hs)
	eventstest.WaitFor(t, 2*time.Second, "stuck client registered", func() bool { return hs.hub.Clients() == 1 })
	c := dial(t, hs)
	c.next(t, 2*time.Second, "full state")
	eventstest.WaitFor(t, 2*time.Second, "both clients registered", func() bool { return hs.hub.Clients() == 2 })

	start := time.Now()
	var worstNotify, worstDelivery time.Duration
	dropped := time.Duration(0)
	iters, size := 0, 0
	for i := 0; time.Since(start) < live.WriteTimeout+5*time.Second; i++ {
		iters++
		for _, id := range ids {
			src.setFriend(id, 50+float64(i)/1000, 4, clock.Unix())
		}
		ns := time.Now()
		hs.notifyFriends(ids...)
		worstNotify = max(worstNotify, time.Since(ns))
		m := c.next(t, 2*time.Second, fmt.Sprintf("update %d on the normal client", i))
		worstDelivery = max(worstDelivery, m.at.Sub(ns))
		size = len(m.data)
		// A row, or the marker of a friend the paged list leaves out.
		if n := strings.Count(m.data, `data-friend="`); n != len(ids) { // (cheap: messages are big)
			t.Fatalf("update %d carried %d rows, want %d", i, n, len(ids))
		}
		if dropped == 0 && hs.hub.Clients() == 1 {
			dropped = time.Since(start)
			break
		}
		time.Sleep(live.MinInterval)
	}
	t.Logf("stuck client dropped after %v of updates (%d messages of %d KB; WriteTimeout %v); slowest Notify %v; slowest delivery to the normal client %v",
		dropped.Round(time.Millisecond), iters, size>>10, live.WriteTimeout, worstNotify, worstDelivery.Round(time.Millisecond))
	if dropped == 0 {
		t.Fatalf("the client that stopped reading was not dropped within WriteTimeout + 5 s (clients: %d)", hs.hub.Clients())
	}
	// Waiting on the stuck client would cost a whole WriteTimeout (5 s);
	// the bounds sit far below that and far above a busy machine's
	// scheduling noise (a loaded 2-core CI saw Notify take 98 ms).
	if worstNotify > live.WriteTimeout/5 {
		t.Errorf("Notify took up to %v with a stuck client; it must never wait on a client", worstNotify)
	}
	if worstDelivery > live.MinInterval+live.WriteTimeout/3 {
		t.Errorf("the normal client waited up to %v for an update while another client was stuck", worstDelivery)
	}
	_ = stuck.Close()
}

// rawStuckClient opens a websocket over a raw TCP connection with a small
// receive buffer, completes the handshake and then never reads again.
func rawStuckClient(t *testing.T, hs *hubServer) net.Conn {
	t.Helper()
	u, _ := url.Parse(hs.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	fmt.Fprintf(conn, "GET /live HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", u.Host, hs.srv.URL)
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(status, "101") {
		t.Fatalf("raw websocket handshake: %q %v", status, err)
	}
	return conn
}

// TestForeignOriginRefused: a page of another site cannot open the
// socket; a page of ours and a non-browser client (no Origin) can.
func TestForeignOriginRefused(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	tests := []struct {
		name   string
		origin string
		ok     bool
	}{
		{"foreign site", "https://evil.example", false},
		{"same host, other port", "http://127.0.0.1:1", false},
		{"null origin", "null", false},
		{"our page", hs.srv.URL, true},
		{"no origin", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), hs.wsURL(), h)
			if resp != nil {
				resp.Body.Close()
			}
			if !tt.ok {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded; want it refused")
				}
				if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
					t.Errorf("err %v, status %v; want a refused handshake with 403", err, resp)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := conn.ReadMessage(); err != nil {
				t.Errorf("no full state: %v", err)
			}
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		})
	}
	eventstest.WaitFor(t, 2*time.Second, "clients gone", func() bool { return hs.hub.Clients() == 0 })
}

// TestSSEDeliversTheSameFragments: /live/sse sends the same fragments as
// the websocket, as "event: message" with one "data:" line per line.
func TestSSEDeliversTheSameFragments(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	ws := dial(t, hs)
	sse := dialSSE(t, hs)
	wsFull := ws.next(t, time.Second, "websocket full state")
	sseFull := sse.next(t, time.Second, "SSE full state")
	if sseFull.data != wsFull.data {
		t.Errorf("SSE full state differs from the websocket's:\nSSE: %s\nWS:  %s", sseFull.data, wsFull.data)
	}
	eventstest.WaitFor(t, time.Second, "both clients registered", func() bool { return hs.hub.Clients() == 2 })
	time.Sleep(live.MinInterval)

	// A name with line breaks makes a fragment of several lines: SSE
	// sends each as its own "data:" line and the client joins them.
	hs.src.setFriend(bob, 51.53, -0.09, clock.Unix())
	hs.src.mu.Lock()
	f := hs.src.friends[bob]
	f.Name = "Bob\nthe\r\nold\rBuilder"
	hs.src.friends[bob] = f
	hs.src.mu.Unlock()
	hs.notifyFriends(bob)
	wsMsg := ws.next(t, time.Second, "websocket update")
	sseMsg := sse.next(t, time.Second, "SSE update")
	// Browsers end an SSE line at CR, LF or CRLF, so line breaks come
	// out as LF (the same to the HTML parser); nothing else may change.
	if sseMsg.data != normalizeNewlines(wsMsg.data) {
		t.Errorf("SSE update differs from the websocket's:\nSSE: %q\nWS:  %q", sseMsg.data, wsMsg.data)
	}
	if got := friendsIn(sseMsg.data); !slices.Equal(got, []string{string(bob)}) {
		t.Errorf("SSE update rows %v, want bob/tablet", got)
	}
	if !strings.Contains(sseMsg.data, "Bob\nthe\nold\nBuilder") {
		t.Errorf("the multi-line name did not survive SSE framing:\n%q", sseMsg.data)
	}
}

// TestLocateNow: the page's "Locate now" form arrives over the socket
// (htmx ws-send: the form's fields as JSON, plus HEADERS); the hub asks
// the locator and answers with a status note for that friend only.
func TestLocateNow(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	c := dial(t, hs)
	c.next(t, time.Second, "full state")
	statusID := views.FriendRow{FriendView: projections.FriendView{Friend: projections.Friend{ID: alice}}}.LocateStatusID()

	send := func(v any) {
		t.Helper()
		if err := c.conn.WriteJSON(v); err != nil {
			t.Fatal(err)
		}
	}
	htmxHeaders := map[string]any{"HX-Request": "true", "HX-Trigger": nil, "HX-Target": nil, "HX-Current-URL": hs.srv.URL + "/"}
	send(map[string]any{"locate": string(alice), "HEADERS": htmxHeaders})
	m := c.next(t, time.Second, "locate note")
	if got, want := oobSwaps(m.data), []string{statusID + "=true"}; !slices.Equal(got, want) {
		t.Errorf("swaps %v, want %v", got, want)
	}
	if !strings.Contains(m.data, ">request sent<") {
		t.Errorf("note %q, want \"request sent\"", m.data)
	}

	hs.mu.Lock()
	hs.failAll = true
	hs.mu.Unlock()
	send(map[string]any{"locate": string(alice), "HEADERS": htmxHeaders})
	m = c.next(t, time.Second, "failed locate note")
	if !strings.Contains(m.data, ">could not send the request<") {
		t.Errorf("note %q, want \"could not send the request\"", m.data)
	}

	// Unknown friends, junk and other forms are ignored.
	send(map[string]any{"locate": "mallory/phone"})
	send(map[string]any{"other": "x"})
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	c.quiet(t, 3*live.MinInterval, "ignored messages")
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if want := []projections.DeviceID{alice, alice}; !slices.Equal(hs.located, want) {
		t.Errorf("locator asked for %v, want %v", hs.located, want)
	}
}

// TestShutdownClosesWithServiceRestart: when the server shuts down, pages
// get close code 1012 (service restart), the code after which the htmx
// ws extension reconnects (it gives up after 1000 and 1001).
func TestShutdownClosesWithServiceRestart(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	c := dial(t, hs)
	c.next(t, time.Second, "full state")
	hs.cancel()
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
		t.Fatal("connection still open 2 s after the shutdown")
	}
	var ce *websocket.CloseError
	if !errors.As(c.err, &ce) || ce.Code != websocket.CloseServiceRestart {
		t.Errorf("connection ended with %v; want close code %d (service restart)", c.err, websocket.CloseServiceRestart)
	}
}

// TestClientsLeaveNoGoroutines: many clients connect, get updates and
// leave (closing politely or just dropping the TCP connection); the hub
// forgets them and no goroutine is left behind.
func TestClientsLeaveNoGoroutines(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	var clients []*wsClient
	for range 20 {
		c := dial(t, hs)
		c.next(t, time.Second, "full state")
		clients = append(clients, c)
	}
	eventstest.WaitFor(t, 2*time.Second, "20 clients", func() bool { return hs.hub.Clients() == 20 })
	time.Sleep(live.MinInterval)
	hs.notifyFriends(alice)
	for i, c := range clients {
		c.next(t, time.Second, fmt.Sprintf("client %d update", i))
		if i%2 == 0 {
			c.close(t)
		} else {
			_ = c.conn.Close() // no close frame: a tab killed, a network gone
			<-c.done
		}
	}
	eventstest.WaitFor(t, 5*time.Second, "every client forgotten", func() bool { return hs.hub.Clients() == 0 })
	hs.notifyFriends(alice) // nobody to mark
}
