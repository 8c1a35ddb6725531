package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/eventstest"
	"tracker/views/notify"
)

// notifyFixture is a server with users anna (a viewer), ben (whose phone
// crosses Home over real MQTT), dora (a viewer) and root (an admin), the
// server area Home, and a webhook receiver started by the test.
type notifyFixture struct {
	data string
	s    *server
	base string
	hook *hookReceiver
	ben  paho.Client
}

const (
	notifyPW       = "a password of the test"
	notifyHomeLat  = 50.8466
	notifyHomeLon  = 4.3528
	notifyAwayLat  = 50.8566
	notifyHookSecr = "anna's webhook secret"
)

// startNotifyFixture makes the users and Home offline, runs setup (more
// commands on the data directory), then starts the server (webhooks may
// reach loopback: the receiver is there).
func startNotifyFixture(t *testing.T, hook *hookReceiver, setup func(data string)) *notifyFixture {
	t.Helper()
	f := &notifyFixture{data: filepath.Join(t.TempDir(), "data"), hook: hook}
	for _, u := range [][]string{{"add", "root", "--admin"}, {"add", "anna"}, {"add", "ben"}, {"add", "dora"}} {
		var out, errOut bytes.Buffer
		if err := runUserWith(t.Context(), append(u, "--password-stdin", "--data", f.data), strings.NewReader(notifyPW+"\n"), &out, &errOut); err != nil {
			t.Fatalf("tracker user %s: %v\n%s", strings.Join(u, " "), err, errOut.String())
		}
	}
	if out, err := tracker(t, f.data, "area", "add", "Home", "--circle", fmt.Sprintf("%v,%v,150", notifyHomeLat, notifyHomeLon)); err != nil {
		t.Fatalf("area add: %v\n%s", err, out)
	}
	if setup != nil {
		setup(f.data)
	}
	f.s = startServer(t, f.data, "--tiles", "", "--webhook-allow-private")
	f.base = "http://" + f.s.http
	f.ben = eventstest.Connect(t, f.s.mqtt, "ben-phone", func(o *paho.ClientOptions) { o.SetUsername("ben").SetPassword(notifyPW) })
	return f
}

// cross publishes ben's phone away from Home, then at Home with its own
// transition a few seconds earlier (as a phone sends it), and returns
// when the arrival was published.
func (f *notifyFixture) cross(t *testing.T, tst int64) time.Time {
	t.Helper()
	publishLocation(t, f.ben, "ben/phone", location{Lat: notifyAwayLat, Lon: notifyHomeLon, Tst: tst - 120, Acc: 10, Batt: 70})
	time.Sleep(100 * time.Millisecond) // the away fix first, so the arrival is a crossing
	at := time.Now()
	publishLocation(t, f.ben, "ben/phone", location{Lat: notifyHomeLat, Lon: notifyHomeLon, Tst: tst, Acc: 10, Batt: 70})
	tr, _ := json.Marshal(map[string]any{"_type": "transition", "event": "enter", "desc": "Home", "tst": tst - 4, "wtst": tst - 86400,
		"lat": notifyHomeLat, "lon": notifyHomeLon, "acc": 10, "t": "c"})
	eventstest.Publish(t, f.ben, "owntracks/ben/phone/event", 1, false, tr)
	return at
}

// hookReceiver is a webhook receiver started by the test: it checks each
// POST's signature and timestamp and keeps what it got.
type hookReceiver struct {
	srv  *http.Server
	addr string
	mu   sync.Mutex
	got  []hookPost
}

type hookPost struct {
	path   string
	body   notify.WebhookBody
	at     time.Time
	signed bool // the signature checks under the secret and the timestamp is fresh
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{addr: ln.Addr().String()}
	h.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var b notify.WebhookBody
		err := json.Unmarshal(raw, &b)
		ts, _ := strconv.ParseInt(r.Header.Get(notify.HeaderTimestamp), 10, 64)
		signed := err == nil && r.Header.Get(notify.HeaderSignature) == notify.Sign(notifyHookSecr, raw) && ts == b.Timestamp &&
			time.Since(time.Unix(ts, 0)).Abs() < 5*time.Minute
		h.mu.Lock()
		h.got = append(h.got, hookPost{path: r.URL.Path, body: b, at: time.Now(), signed: signed})
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = h.srv.Serve(ln) }()
	t.Cleanup(func() { _ = h.srv.Close() })
	return h
}

func (h *hookReceiver) URL(owner string) string { return "http://" + h.addr + "/hook/" + owner }

func (h *hookReceiver) posts() []hookPost {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookPost(nil), h.got...)
}

// TestNotifyCrossingOverMQTT: the example rule, added with the
// command line before the server starts; ben's phone crosses into Home
// over the embedded MQTT broker (its fix and its own transition): anna's
// webhook gets exactly one signed POST within 2 s. dora's rule for ben,
// made while she could see him, says nothing once the sharing hides him.
// An import of ben's track (minutes old, leaving Home and coming back)
// says nothing, even to a rule quiet for 1 s only. /metrics counts what
// fired and was sent. The command line lists and removes rules through
// the running server.
func TestNotifyCrossingOverMQTT(t *testing.T) {
	hook := newHookReceiver(t)
	f := startNotifyFixture(t, hook, func(data string) {
		out, err := tracker(t, data, "notify", "add", "--for", "anna", "--arrives", "ben/phone", "--place", "Home",
			"--webhook", "http://127.0.0.1:1/placeholder", "--webhook-secret", notifyHookSecr)
		if err != nil || !strings.Contains(out, "added for anna") || !strings.Contains(out, "ben/phone arrives at Home") {
			t.Fatalf("tracker notify add (the issue's example): %v\n%s", err, out)
		}
		// The receiver's real URL, as the example spells it.
		out, err = tracker(t, data, "notify", "add", "--for", "anna", "--arrives", "ben/phone", "--place", "Home",
			"--webhook", hook.URL("anna"), "--webhook-secret", notifyHookSecr)
		if err != nil {
			t.Fatalf("tracker notify add: %v\n%s", err, out)
		}
		out, err = tracker(t, data, "notify", "add", "--for", "dora", "--leaves", "*", "--place", "Home",
			"--webhook", hook.URL("dora"), "--webhook-secret", notifyHookSecr)
		if err != nil {
			t.Fatalf("tracker notify add for dora: %v\n%s", err, out)
		}
		// Quiet for 1 s only: nothing but the import's origin keeps the
		// imported arrival below from notifying.
		out, err = tracker(t, data, "notify", "add", "--for", "anna", "--arrives", "ben/phone", "--place", "Home", "--quiet", "1s",
			"--webhook", hook.URL("anna-import"), "--webhook-secret", notifyHookSecr)
		if err != nil {
			t.Fatalf("tracker notify add: %v\n%s", err, out)
		}
		// dora may see ben when she makes her rule; then the sharing hides him.
		out, err = tracker(t, data, "notify", "add", "--for", "dora", "--arrives", "ben/phone", "--place", "Home",
			"--webhook", hook.URL("dora"), "--webhook-secret", notifyHookSecr)
		if err != nil {
			t.Fatalf("tracker notify add for dora: %v\n%s", err, out)
		}
		if out, err := tracker(t, data, "user", "share", "dora", "--sees", "dora"); err != nil {
			t.Fatalf("user share: %v\n%s", err, out)
		}
		if out, err := tracker(t, data, "notify", "add", "--for", "dora", "--arrives", "ben/phone", "--place", "Home"); err == nil ||
			!strings.Contains(err.Error(), "may not see ben/phone") {
			t.Fatalf("a rule for a friend dora may not see: %v\n%s", err, out)
		}
	})

	now := time.Now().Unix()
	sent := f.cross(t, now)
	annas := func() []hookPost {
		var out []hookPost
		for _, p := range f.hook.posts() {
			if p.path == "/hook/anna" {
				out = append(out, p)
			}
		}
		return out
	}
	eventstest.WaitFor(t, 2*time.Second, "anna's signed POST", func() bool { return len(annas()) > 0 })
	time.Sleep(time.Second) // a second POST, or dora's, would come now
	got := f.hook.posts()
	if len(annas()) != 1 || len(got) != 2 || got[0].body.ID == got[1].body.ID {
		t.Fatalf("POSTs %+v, want exactly 1 per rule of anna's (none of dora's)", got)
	}
	p := annas()[0]
	if !p.signed || p.body.Rule.Owner != "anna" || p.body.Device != "ben/phone" || p.body.Event != "arrive" || p.body.Place != "Home" {
		t.Fatalf("POST %+v, want anna's signed arrival of ben/phone at Home", p)
	}
	t.Logf("ben's arrival published over MQTT to the signed POST: %s", p.at.Sub(sent).Round(time.Millisecond))

	// Through the running server: commands go through the API as root.
	t.Setenv("TRACKER_LOGIN", "root")
	t.Setenv("TRACKER_LOGIN_PASSWORD", notifyPW)

	// An import of ben's track (GPX, minutes old, after his live fixes):
	// he leaves Home and comes back in it, and no rule says so.
	gpx := filepath.Join(t.TempDir(), "ben.gpx")
	at := func(d time.Duration) string { return time.Unix(now, 0).Add(d).UTC().Format(time.RFC3339) }
	track := fmt.Sprintf(`<?xml version="1.0"?><gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>
<trkpt lat="%v" lon="%v"><time>%s</time></trkpt><trkpt lat="%v" lon="%v"><time>%s</time></trkpt></trkseg></trk></gpx>`,
		notifyAwayLat, notifyHomeLon, at(20*time.Second), notifyHomeLat, notifyHomeLon, at(40*time.Second))
	if err := os.WriteFile(gpx, []byte(track), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := tracker(t, f.data, "import", "gpx", gpx, "--user", "ben", "--device", "phone"); err != nil {
		t.Fatalf("tracker import gpx: %v\n%s", err, out)
	}
	eventstest.WaitFor(t, 10*time.Second, "the imported fixes in the projections", func() bool {
		var friends []struct {
			ID       string
			Location struct{ Tst int64 }
		}
		resp, err := basicGet(f.base+"/api/v1/friends", "root", notifyPW)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&friends) != nil {
			return false
		}
		for _, fr := range friends {
			if fr.ID == "ben/phone" && fr.Location.Tst == now+40 {
				return true
			}
		}
		return false
	})
	time.Sleep(time.Second)
	if n := len(f.hook.posts()); n != 2 {
		t.Fatalf("%d POSTs after the import, want still 2: %+v", n, f.hook.posts())
	}
	resp, err := basicGet(f.base+"/metrics", "root", notifyPW)
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`tracker_notify_events_total{outcome="sent"} 2`, `tracker_notify_events_total{outcome="fired"} 3`,
		`tracker_notify_queue_length{channel="webhook",queue="ready"} 0`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	out, err := tracker(t, f.data, "notify", "list", "--all")
	if err != nil || strings.Count(out, "ben/phone arrives at Home") != 4 || !strings.Contains(out, "anyone leaves Home") {
		t.Fatalf("tracker notify list --all through the server: %v\n%s", err, out)
	}
	var listed []struct {
		ID, Owner, Webhook string
		Sent               int
		LastError          string `json:"last_error"`
	}
	out, err = tracker(t, f.data, "notify", "list", "--for", "anna", "--json")
	if err != nil {
		t.Fatalf("tracker notify list --for anna --json: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("tracker notify list --for anna --json: %v\n%s", err, out)
	}
	var placeholder string
	for _, r := range listed {
		switch {
		case strings.Contains(r.Webhook, "placeholder"):
			placeholder = r.ID
		case r.Sent != 1:
			t.Errorf("anna's receiver rule %+v, want 1 sent", r)
		}
	}
	if out, err := tracker(t, f.data, "notify", "remove", placeholder); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("tracker notify remove through the server: %v\n%s", err, out)
	}
	if out, _ := tracker(t, f.data, "notify", "list", "--for", "anna"); strings.Contains(out, placeholder) {
		t.Errorf("the removed rule is still listed:\n%s", out)
	}
	// The example again, through the running server as root.
	out, err = tracker(t, f.data, "notify", "add", "--for", "anna", "--arrives", "ben/phone", "--place", "Home",
		"--webhook", hook.URL("anna"), "--webhook-secret", notifyHookSecr)
	if err != nil || !strings.Contains(out, "added for anna") || !strings.Contains(out, "ben/phone arrives at Home") {
		t.Fatalf("tracker notify add through the server: %v\n%s", err, out)
	}
}

// basicGet GETs url with HTTP Basic credentials.
func basicGet(url, user, password string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(user, password)
	return http.DefaultClient.Do(req)
}
