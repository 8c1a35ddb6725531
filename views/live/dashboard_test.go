package live_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
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

// placesIn lists data-place of every place card in a message.
func placesIn(html string) []string {
	var out []string
	for _, e := range htmltest.FindElements(html, "data-testid", "place") {
		out = append(out, e.Attrs["data-place"])
	}
	return out
}

// membersOf is the text of the member names on the place card name.
func membersOf(t *testing.T, msg, name string) []string {
	t.Helper()
	i := strings.Index(msg, `data-place="`+name+`"`)
	if i < 0 {
		t.Fatalf("no place card %q in\n%s", name, msg)
	}
	card := msg[i:]
	card = card[:strings.Index(card, "</article>")]
	var out []string
	for _, part := range strings.Split(card, `<span class="member">`)[1:] {
		out = append(out, part[:strings.Index(part, "<")])
	}
	return out
}

// TestLivePlacesFollowMembers: areas of one name from the server and from
// phones are one place card on the live page, and a member entering by
// any definition shows in it once, leaving removes them.
func TestLivePlacesFollowMembers(t *testing.T) {
	checkGoroutines(t)
	src := fixtureSource()
	src.mu.Lock()
	src.areas["s:home"] = projections.AreaView{Area: projections.Area{ID: "s:home", Name: "Home", Origin: projections.OriginServer}}
	for _, dev := range []projections.DeviceID{alice, bob} {
		id := "p:" + string(dev) + ":desc:home"
		src.areas[id] = projections.AreaView{Area: projections.Area{ID: id, Name: " home ", Origin: projections.OriginPhone, Owner: dev}}
	}
	src.mu.Unlock()
	hs := newHubServer(t, src)
	c := dial(t, hs)
	full := c.next(t, time.Second, "full state")
	if got := placesIn(full.data); strings.Join(got, ",") != "HQ,Home" {
		t.Fatalf("place cards %q, want HQ (alice inside) then Home (empty)", got)
	}
	time.Sleep(live.MinInterval)

	// Alice enters Home: her phone says so for her region, the server's
	// geometry for the shared area.
	in := true
	src.mu.Lock()
	for _, id := range []string{"s:home", "p:alice/phone:desc:home"} {
		a := src.areas[id]
		o := projections.Presence{Device: alice, Area: id, AreaName: a.Name, Since: clock.Unix() - 30, Geometry: &in}
		if a.Origin == projections.OriginPhone {
			o.Geometry, o.Phone = nil, &in
		}
		a.Members = []projections.Presence{o}
		src.areas[id] = a
	}
	src.mu.Unlock()
	ch := projections.NewChanges()
	ch.Members[projections.MemberKey{Device: alice, Area: "s:home", Origin: projections.OriginGeometry}] = true
	ch.Members[projections.MemberKey{Device: alice, Area: "p:alice/phone:desc:home", Origin: projections.OriginPhone}] = true
	hs.hub.Notify(ch)
	m := c.next(t, time.Second, "alice at home")
	if got := placesIn(m.data); strings.Join(got, ",") != "Home,HQ" {
		t.Errorf("place cards after the enter %q, want Home, HQ (both occupied, by name): one card for the three definitions", got)
	}
	if got := membersOf(t, m.data, "Home"); strings.Join(got, ",") != "alice" {
		t.Errorf("Home names %q, want alice once", got)
	}
	if strings.Contains(m.data, "empty-places") {
		t.Errorf("no place is empty now, yet the update folds some:\n%s", m.data)
	}
	time.Sleep(live.MinInterval)

	src.mu.Lock()
	for _, id := range []string{"s:home", "p:alice/phone:desc:home"} {
		a := src.areas[id]
		a.Members = nil
		src.areas[id] = a
	}
	src.mu.Unlock()
	hs.hub.Notify(ch)
	m = c.next(t, time.Second, "alice left home")
	if got := membersOf(t, m.data, "Home"); len(got) != 0 {
		t.Errorf("Home names %q after alice left, want nobody", got)
	}
	if !strings.Contains(m.data, `data-testid="empty-places"`) {
		t.Errorf("the empty Home is not folded:\n%s", m.data)
	}
}

// TestLiveViewerZone: a live client renders times in its viewer's zone
// (the tz cookie of the websocket request), not the server's.
func TestLiveViewerZone(t *testing.T) {
	checkGoroutines(t)
	hs := newHubServer(t, fixtureSource())
	for _, tc := range []struct{ tz, want string }{
		{"", ">17:59</time>"},                    // the page's zone: UTC
		{"America/Los_Angeles", ">10:59</time>"}, // PDT since 8 March
		{"Asia/Kolkata", ">23:29</time>"},
		{"Not/AZone", ">17:59</time>"},
	} {
		h := http.Header{"Origin": {hs.srv.URL}}
		if tc.tz != "" {
			h.Set("Cookie", views.TZCookie+"="+tc.tz)
		}
		conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), hs.wsURL(), h)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, msg, err := conn.ReadMessage()
		_ = conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The feed line of alice entering HQ at 17:59 UTC.
		feed := string(msg)[strings.Index(string(msg), `id="feed"`):]
		if !strings.Contains(feed, tc.want) {
			t.Errorf("tz %q: feed %q, want the time %s", tc.tz, feed, tc.want)
		}
	}
	eventstest.WaitFor(t, 2*time.Second, "clients gone", func() bool { return hs.hub.Clients() == 0 })
}

// TestLiveLocateOnlyForAdmins: viewers who may not ask a phone for its
// position get rows without the "Locate now" button; admins get it with a
// status element, and the answer is noted with the request's time.
func TestLiveLocateOnlyForAdmins(t *testing.T) {
	checkGoroutines(t)
	src := fixtureSource()
	hs := newHubServer(t, src)
	viewer := serveAs(t, hs.hub, live.Access{User: "viewer", Rights: func() (live.Rights, error) { return live.Rights{}, nil }})

	full := readOne(t, viewer)
	if strings.Contains(full, `data-testid="locate"`) || strings.Contains(full, "locate-status") {
		t.Errorf("a viewer's rows offer \"Locate now\":\n%s", full)
	}
	if !strings.Contains(full, `data-testid="friend"`) {
		t.Fatalf("no rows in the viewer's full state:\n%s", full)
	}

	c := dial(t, hs)
	m := c.next(t, time.Second, "admin's full state")
	if n := strings.Count(m.data, `data-testid="locate-status"`); n != 2 {
		t.Errorf("admin's rows carry %d locate statuses, want 2", n)
	}
	sent := time.Now()
	if err := c.conn.WriteJSON(map[string]any{"locate": string(alice)}); err != nil {
		t.Fatal(err)
	}
	m = c.next(t, time.Second, "request sent")
	note := htmltest.FindElements(m.data, "data-testid", "locate-status")
	if len(note) != 1 || note[0].Attrs["data-requested"] == "" {
		t.Fatalf("note %q, want one locate status with data-requested", m.data)
	}
	if ms := note[0].Attrs["data-requested"]; ms < "1" || len(ms) != len("1700000000000") {
		t.Errorf("data-requested %q, want Unix milliseconds", ms)
	}
	time.Sleep(live.MinInterval)

	// The phone answers: a newer fix.
	src.mu.Lock()
	f := src.friends[alice]
	loc := *f.Location
	loc.Seq, loc.Trigger = 99, "r"
	f.Location = &loc
	src.friends[alice] = f
	src.mu.Unlock()
	hs.notifyFriends(alice)
	m = c.next(t, time.Second, "answer")
	notes := htmltest.FindElements(m.data, "data-testid", "locate-status")
	last := notes[len(notes)-1]
	if last.Attrs["hx-swap-oob"] != "true" || last.Attrs["data-answered"] == "" || !strings.Contains(m.data, "answered <time") {
		t.Errorf("after the answer: %q, want an \"answered …\" note after the row", m.data)
	}
	if time.Since(sent) > 5*time.Second {
		t.Log("slow machine: the answer took", time.Since(sent))
	}
}

// serveAs serves the hub to one viewer on its own server and dials it.
func serveAs(t *testing.T, hub *live.Hub, a live.Access) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hub.ServeWSFor(w, r, a) }))
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), "ws"+strings.TrimPrefix(srv.URL, "http"), http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		srv.Close()
	})
	return conn
}

func readOne(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(msg)
}
