package web_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"tracker/projections"
	"tracker/views/live"
	"tracker/views/web"
)

// Revoking access reaches what is already open (issue 11, section 2):
// for each live stream (/live, /live/sse, /ws/last) and each change
// (sharing restricted, logout, password change, removal), carol has three
// streams open (two browser sessions and HTTP Basic credentials); the
// change is made through the API or the logout form, then alice's and
// bob's phones post through HTTP mode. Nothing hidden may arrive after the
// change, the streams whose login ended close within a second with the
// code that sends the page to the login page, and a reconnect gets 401.

// streamMsg is one message a stream delivered and when.
type streamMsg struct {
	data string
	at   time.Time
}

// testStream is one open live stream read by its own goroutine.
type testStream struct {
	name string
	send func(string) error // websockets only

	msgs chan streamMsg
	done chan struct{} // closed when the stream has ended

	mu    sync.Mutex
	end   string // how it ended: "close 4401", "event revoked", "EOF", an error
	endAt time.Time
}

func newTestStream(name string) *testStream {
	return &testStream{name: name, msgs: make(chan streamMsg, 1024), done: make(chan struct{})}
}

func (s *testStream) ended(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end == "" {
		s.end, s.endAt = why, time.Now()
	}
}

func (s *testStream) ending() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.end, s.endAt
}

// dialWSStream opens a websocket (/live or /ws/last); resp is the
// handshake answer (a refused one has the status).
func dialWSStream(t *testing.T, name, u string, h http.Header) (*testStream, *http.Response, error) {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.DialContext(t.Context(), u, h)
	if err != nil {
		return nil, resp, err
	}
	s := newTestStream(name)
	var wmu sync.Mutex
	s.send = func(msg string) error {
		wmu.Lock()
		defer wmu.Unlock()
		return conn.WriteMessage(websocket.TextMessage, []byte(msg))
	}
	go func() {
		defer close(s.done)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					s.ended(fmt.Sprintf("close %d", ce.Code))
				} else {
					s.ended(err.Error())
				}
				return
			}
			s.msgs <- streamMsg{data: string(b), at: time.Now()}
		}
	}()
	t.Cleanup(func() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
		_ = conn.Close()
		<-s.done
	})
	return s, resp, nil
}

// dialSSEStream opens /live/sse; a refused request returns its answer.
func dialSSEStream(t *testing.T, name, u string, h http.Header) (*testStream, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header = h.Clone()
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, resp, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	s := newTestStream(name)
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		var event string
		var data []string
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "":
				if event == "message" {
					s.msgs <- streamMsg{data: strings.Join(data, "\n"), at: time.Now()}
				} else {
					s.ended("event " + event)
				}
				event, data = "", nil
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			s.ended(err.Error())
		}
		s.ended("EOF")
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	return s, resp, nil
}

// streamKind is one of the three live streams.
type streamKind struct {
	name string
	path string
	sse  bool
	// ready waits until the stream follows changes and checks it shows
	// alice to carol before the change (so the test would see a leak).
	ready func(t *testing.T, s *testStream)
	// revoked is how the stream must end when the login ends.
	revoked string
}

var streamKinds = []streamKind{
	{name: "live websocket", path: "/live", ready: readyFullState, revoked: fmt.Sprintf("close %d", live.CloseRevoked)},
	{name: "live SSE", path: "/live/sse", sse: true, ready: readyFullState, revoked: "event revoked"},
	{name: "ws last", path: "/ws/last", ready: readyLast, revoked: fmt.Sprintf("close %d", live.CloseRevoked)},
}

func (k streamKind) dial(t *testing.T, a *authStack, name string, h http.Header) (*testStream, *http.Response, error) {
	t.Helper()
	if k.sse {
		return dialSSEStream(t, name, a.locked.URL+k.path, h)
	}
	return dialWSStream(t, name, "ws"+strings.TrimPrefix(a.locked.URL, "http")+k.path, h)
}

// readyFullState: the first message of /live is the full state.
func readyFullState(t *testing.T, s *testStream) {
	t.Helper()
	m := s.next(t, 5*time.Second, "full state")
	if !strings.Contains(m.data, "alice/phone") || !strings.Contains(m.data, "bob/tablet") {
		t.Fatalf("%s: carol's full state before the change lacks alice or bob", s.name)
	}
}

// readyLast: the answer to "LAST" (alice and bob among it) and its echo
// show the socket runs.
func readyLast(t *testing.T, s *testStream) {
	t.Helper()
	if err := s.send("LAST"); err != nil {
		t.Fatal(err)
	}
	var all []string
	for {
		m := s.next(t, 5*time.Second, "answer to LAST")
		if m.data == "LAST" {
			break
		}
		all = append(all, m.data)
	}
	joined := strings.Join(all, "\n")
	if !strings.Contains(joined, "owntracks/alice/phone") || !strings.Contains(joined, "owntracks/bob/tablet") {
		t.Fatalf("%s: LAST before the change lacks alice or bob: %s", s.name, joined)
	}
}

// next returns the stream's next message within d.
func (s *testStream) next(t *testing.T, d time.Duration, what string) streamMsg {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-s.done:
		select {
		case m := <-s.msgs:
			return m
		default:
		}
		end, _ := s.ending()
		t.Fatalf("%s: %s: the stream ended (%s)", s.name, what, end)
	case <-time.After(d):
		t.Fatalf("%s: %s: nothing within %v", s.name, what, d)
	}
	panic("unreachable")
}

// waitFor reads messages until one contains want, within d, and returns
// everything read.
func (s *testStream) waitFor(t *testing.T, d time.Duration, want string) []streamMsg {
	t.Helper()
	var got []streamMsg
	deadline := time.Now().Add(d)
	for {
		m := s.next(t, time.Until(deadline), "a message with "+want)
		got = append(got, m)
		if strings.Contains(m.data, want) {
			return got
		}
	}
}

// drain returns what arrived so far without waiting.
func (s *testStream) drain() []streamMsg {
	var out []streamMsg
	for {
		select {
		case m := <-s.msgs:
			out = append(out, m)
		default:
			return out
		}
	}
}

// post sends a location from user's phone in HTTP mode (the real path
// into the log) at a latitude the test recognises in what streams carry.
func (a *authStack) post(t *testing.T, user, device string, lat float64, tst int64) {
	t.Helper()
	body := fmt.Sprintf(`{"_type":"location","tid":"xx","lat":%.4f,"lon":-0.1,"tst":%d,"acc":5}`, lat, tst)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, a.locked.URL+"/pub", strings.NewReader(body))
	req.SetBasicAuth(user, pw)
	req.Header.Set("X-Limit-D", device)
	req.Header.Set("Content-Type", "application/json")
	if res, b := send(t, req); res.StatusCode != http.StatusOK {
		t.Fatalf("post as %s: %s: %s", user, res.Status, b)
	}
}

// mustUserCommand records a user command through the API as root.
func (a *authStack) mustUserCommand(t *testing.T, c projections.UserCommand) {
	t.Helper()
	c.Type = "user"
	if code, _, body := a.userCommand(t, c); code != http.StatusOK {
		t.Fatalf("user %s %s: %d: %s", c.Action, c.Name, code, body)
	}
}

// sessionCookie logs user in and returns the session cookie header.
func (a *authStack) sessionCookie(t *testing.T, user string) string {
	t.Helper()
	c := client()
	if res := a.login(t, c, user, pw); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %s", user, res.Status)
	}
	u, _ := url.Parse(a.locked.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "tracker_session" {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatal("no session cookie after login")
	return ""
}

// revokeChange is one change to carol's access, and which of her three
// streams ("A" and "B": two sessions; "basic": HTTP Basic) it closes.
type revokeChange struct {
	name   string
	do     func(t *testing.T, a *authStack, cookieA string)
	closes map[string]bool
	// hidesAlice: after the change alice is hidden from the streams
	// that stay open.
	hidesAlice bool
}

var revokeChanges = []revokeChange{
	{name: "sharing restricted", hidesAlice: true, closes: map[string]bool{},
		do: func(t *testing.T, a *authStack, _ string) {
			a.mustUserCommand(t, projections.UserCommand{Action: projections.UserShare, Name: "carol", Sees: []string{"bob"}})
		}},
	{name: "logout", closes: map[string]bool{"A": true},
		do: func(t *testing.T, a *authStack, cookieA string) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, a.locked.URL+"/logout", nil)
			req.Header.Set("Cookie", cookieA)
			res, err := client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout: %s", res.Status)
			}
		}},
	{name: "password change", closes: map[string]bool{"A": true, "B": true, "basic": true},
		do: func(t *testing.T, a *authStack, _ string) {
			h, err := bcrypt.GenerateFromPassword([]byte("a new password, longer"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			a.mustUserCommand(t, projections.UserCommand{Action: projections.UserPasswd, Name: "carol", Hash: string(h)})
		}},
	{name: "removal", closes: map[string]bool{"A": true, "B": true, "basic": true},
		do: func(t *testing.T, a *authStack, _ string) {
			a.mustUserCommand(t, projections.UserCommand{Action: projections.UserRemove, Name: "carol"})
		}},
}

// revokeResult is what one trial measured on one stream.
type revokeResult struct {
	closedAfter time.Duration // from the change being made until the stream ended; 0 when it stays open
	listAfter   time.Duration // from the change until a new friend list arrived (sharing, /live)
	leaked      int           // hidden messages delivered after the change
}

// TestRevocationReachesOpenStreams is the table of streams × changes.
func TestRevocationReachesOpenStreams(t *testing.T) {
	for _, k := range streamKinds {
		for _, c := range revokeChanges {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				res := runRevocation(t, k, c)
				for _, who := range []string{"A", "B", "basic"} {
					r := res[who]
					closed := "stays open"
					if r.listAfter > 0 {
						closed += fmt.Sprintf(", new friend list after %v", r.listAfter.Round(10*time.Microsecond))
					}
					if c.closes[who] {
						closed = fmt.Sprintf("closed after %v", r.closedAfter.Round(10*time.Microsecond))
						if r.closedAfter < 0 {
							closed = "NOT closed"
						}
					}
					t.Logf("%s, %s, stream %s: %s; hidden messages after the change: %d", k.name, c.name, who, closed, r.leaked)
				}
			})
		}
	}
}

// runRevocation runs one trial: carol's three streams, the change, posts
// from alice's and bob's phones, and what each stream saw.
func runRevocation(t *testing.T, k streamKind, c revokeChange) map[string]revokeResult {
	t.Helper()
	a := newAuthStack(t)
	a.appendAll(t,
		userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "bob"}),
		userEvent(t, projections.UserCommand{Action: projections.UserShare, Name: "carol", Sees: []string{"alice", "bob"}}),
	)
	cookieA, cookieB := a.sessionCookie(t, "carol"), a.sessionCookie(t, "carol")
	headers := map[string]http.Header{
		"A":     {"Cookie": {cookieA}},
		"B":     {"Cookie": {cookieB}},
		"basic": {"Authorization": {basic("carol")}},
	}
	order := []string{"A", "B", "basic"}
	streams := map[string]*testStream{}
	for _, who := range order {
		s, _, err := k.dial(t, a, k.name+" "+who, headers[who])
		if err != nil {
			t.Fatalf("open %s as carol (%s): %v", k.path, who, err)
		}
		k.ready(t, s)
		streams[who] = s
	}
	// Before the change alice's news reaches every stream: the same post
	// after it would be a leak.
	tst := clockNow.Unix() + 60
	a.post(t, "alice", "phone", 51.4321, tst)
	for _, who := range order {
		streams[who].waitFor(t, 5*time.Second, "51.4321")
	}
	time.Sleep(2 * live.MinInterval) // nothing else is on its way
	for _, who := range order {
		if extra := streams[who].drain(); len(extra) > 0 {
			t.Fatalf("%s: %d unexpected messages before the change", who, len(extra))
		}
	}

	changed := time.Now()
	c.do(t, a, cookieA)
	for i := range 3 {
		a.post(t, "alice", "phone", 51.1111+float64(i)/10000, tst+int64(i)+1)
	}
	a.post(t, "bob", "tablet", 51.2222, tst+10)

	out := map[string]revokeResult{}
	for _, who := range order {
		s := streams[who]
		var r revokeResult
		if c.closes[who] {
			select {
			case <-s.done:
				end, at := s.ending()
				r.closedAfter = at.Sub(changed)
				if end != k.revoked {
					t.Errorf("%s ended with %q, want %q (the page goes to the login page)", s.name, end, k.revoked)
				}
				if r.closedAfter > time.Second {
					t.Errorf("%s closed %v after the change, want within 1 s", s.name, r.closedAfter)
				}
			case <-time.After(2 * time.Second):
				r.closedAfter = -1
				t.Errorf("%s: still open 2 s after the change", s.name)
			}
			for _, m := range s.drain() { // nothing at all is for a viewer whose login ended
				if m.at.After(changed) {
					r.leaked++
					t.Errorf("%s delivered after its login ended: %.200s", s.name, m.data)
				}
			}
			// Reconnecting is refused, so a page cannot keep retrying.
			if _, resp, err := k.dial(t, a, s.name+" again", headers[who]); err == nil {
				t.Errorf("%s: reconnecting after the change was accepted", s.name)
			} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: reconnecting after the change: %v, want 401", s.name, err)
			}
		} else {
			got := s.waitFor(t, 5*time.Second, "51.2222") // bob's post still arrives
			for _, m := range got {
				if c.hidesAlice && strings.Contains(strings.ToLower(m.data), "alice") {
					r.leaked++
					t.Errorf("%s delivered alice after she was hidden: %.300s", s.name, m.data)
				}
			}
			if c.hidesAlice && k.path != "/ws/last" {
				if !hasFullList(got) {
					t.Errorf("%s: no new friend list after the sharing change: alice's row stays on the page", s.name)
				}
				for _, m := range got {
					if hasFullList([]streamMsg{m}) {
						r.listAfter = m.at.Sub(changed)
						break
					}
				}
			}
			if end, _ := s.ending(); end != "" {
				t.Errorf("%s ended (%s); only the logged-out session's streams may", s.name, end)
			}
		}
		out[who] = r
	}
	if c.hidesAlice && k.path == "/ws/last" {
		// What the socket answers from the projections follows the new rule too.
		if err := streams["A"].send("LAST"); err != nil {
			t.Fatal(err)
		}
		for _, m := range streams["A"].waitFor(t, 5*time.Second, "LAST") {
			if strings.Contains(m.data, "alice") {
				out["A"] = revokeResult{leaked: out["A"].leaked + 1}
				t.Errorf("LAST after the change answered alice: %s", m.data)
			}
		}
	}
	return out
}

// hasFullList reports whether one of msgs replaces the whole friend list
// (a full state), which drops rows no longer visible.
func hasFullList(msgs []streamMsg) bool {
	for _, m := range msgs {
		if strings.Contains(m.data, `id="friends"`) {
			return true
		}
	}
	return false
}

// TestSharingWidenedShowsFriend: a friend newly shared with a viewer
// appears on the open page (a full state with the friend's row), without
// a reload.
func TestSharingWidenedShowsFriend(t *testing.T) {
	a := newAuthStack(t) // carol sees only bob
	u := "ws" + strings.TrimPrefix(a.locked.URL, "http") + "/live"
	s, _, err := dialWSStream(t, "carol", u, http.Header{"Cookie": {a.sessionCookie(t, "carol")}})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.next(t, 5*time.Second, "full state"); strings.Contains(m.data, "alice/phone") {
		t.Fatal("carol's full state shows alice before she is shared")
	}
	a.mustUserCommand(t, projections.UserCommand{Action: projections.UserShare, Name: "carol", Sees: []string{"alice", "bob"}})
	got := s.waitFor(t, 2*time.Second, "alice/phone")
	if !hasFullList(got) {
		t.Errorf("alice's row came without a new friend list: %v", got)
	}
}

// TestHistoryStreamEndsWhenFriendHidden: a history page follows one
// friend (/live?friend=); when that friend is no longer shared with the
// viewer the socket closes with CloseHidden (the page reloads and finds
// the friend gone), and nothing about the friend is sent after the change.
func TestHistoryStreamEndsWhenFriendHidden(t *testing.T) {
	a := newAuthStack(t)
	a.mustUserCommand(t, projections.UserCommand{Action: projections.UserShare, Name: "carol", Sees: []string{"alice", "bob"}})
	u := "ws" + strings.TrimPrefix(a.locked.URL, "http") + "/live?friend=alice%2Fphone"
	s, _, err := dialWSStream(t, "carol's history of alice", u, http.Header{"Cookie": {a.sessionCookie(t, "carol")}})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.next(t, 5*time.Second, "friend row"); !strings.Contains(m.data, "alice/phone") {
		t.Fatalf("the history stream lacks alice's row: %s", m.data)
	}
	changed := time.Now()
	a.mustUserCommand(t, projections.UserCommand{Action: projections.UserShare, Name: "carol", Sees: []string{"bob", "root"}})
	a.appendAll(t, ev("owntracks/alice/phone", clockNow, string(locationPayload("al", park, clockNow.Unix()+120))))
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the history stream of a friend no longer shared is still open 2 s after the change")
	}
	if end, at := s.ending(); end != fmt.Sprintf("close %d", live.CloseHidden) {
		t.Errorf("ended with %q, want close %d", end, live.CloseHidden)
	} else {
		t.Logf("closed %v after the change", at.Sub(changed))
	}
	for _, m := range s.drain() {
		if m.at.After(changed) {
			t.Errorf("sent after alice was hidden: %.200s", m.data)
		}
	}
}

// TestLoginCheckGetsNoChallenge: the page script's login check (GET /live
// with X-Requested-With) gets a plain 401, without the Basic challenge a
// browser would answer with a password dialog; other clients still get it.
func TestLoginCheckGetsNoChallenge(t *testing.T) {
	a := newAuthStack(t)
	for _, c := range []struct {
		name      string
		header    []string
		challenge bool
	}{
		{"page script", []string{"X-Requested-With", "fetch"}, false},
		{"other client", nil, true},
	} {
		res, _ := get(t, http.DefaultClient, a.locked.URL+"/live", c.header...)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %s, want 401", c.name, res.Status)
		}
		if got := res.Header.Get("WWW-Authenticate") != ""; got != c.challenge {
			t.Errorf("%s: Basic challenge sent = %v, want %v", c.name, got, c.challenge)
		}
	}
}

// TestSessionPushedOutClosesItsStreams: a login beyond the per-user cap
// ends the user's oldest session, and the streams that session opened
// close at once.
func TestSessionPushedOutClosesItsStreams(t *testing.T) {
	a := newAuthStack(t)
	u := "ws" + strings.TrimPrefix(a.locked.URL, "http") + "/live"
	s, _, err := dialWSStream(t, "carol's oldest session", u, http.Header{"Cookie": {a.sessionCookie(t, "carol")}})
	if err != nil {
		t.Fatal(err)
	}
	s.next(t, 5*time.Second, "full state")
	for range web.MaxSessionsPerUser - 1 {
		a.sessionCookie(t, "carol")
	}
	if end, _ := s.ending(); end != "" {
		t.Fatalf("closed (%s) while its session was within the cap", end)
	}
	pushed := time.Now()
	a.sessionCookie(t, "carol") // one more: the oldest goes
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
		t.Fatal("the stream of a session pushed out is still open 2 s later")
	}
	if end, at := s.ending(); end != fmt.Sprintf("close %d", live.CloseRevoked) {
		t.Errorf("ended with %q, want close %d", end, live.CloseRevoked)
	} else {
		t.Logf("closed %v after the login that pushed its session out", at.Sub(pushed))
	}
}
