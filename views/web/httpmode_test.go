package web_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/projections"
	"tracker/views/web"
)

// pubStack is the auth stack served once more with the event getter (for
// faces and vac) and a clock the test can move, as phones in HTTP mode
// reach it.
type pubStack struct {
	*authStack
	phoneSite *web.Server
	phoneSrv  *httptest.Server
	clock     atomic.Int64 // Unix seconds
}

func newPubStack(t *testing.T) *pubStack {
	t.Helper()
	p := &pubStack{authStack: newAuthStack(t)}
	p.clock.Store(clockNow.Unix())
	site := *p.site
	site.Events = p.log
	site.Now = func() time.Time { return time.Unix(p.clock.Load(), 0).UTC() }
	p.phoneSite = &site
	p.phoneSrv = httptest.NewServer(site.Routes())
	t.Cleanup(p.phoneSrv.Close)
	return p
}

// iosLocation is a location as the iOS app posts it in HTTP mode.
func iosLocation(tid string, tst int64, topic string) []byte {
	return fmt.Appendf(nil, `{"_type":"location","tid":%q,"lat":51.50071,"lon":-0.12462,"tst":%d,"created_at":%d,`+
		`"acc":5,"alt":17,"vac":4,"vel":3,"cog":87,"batt":64,"bs":1,"conn":"m","m":1,"t":"u","p":101.264,`+
		`"inregions":["Home"],"inrids":["home1"],"BSSID":"a0:b1:c2:d3:e4:f5","topic":%q}`, tid, tst, tst+1, topic)
}

// postPub posts body to u with the headers given as name, value pairs.
func postPub(t *testing.T, u string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return send(t, req)
}

// pubItem is one object of an HTTP-mode answer.
type pubItem struct {
	Type   string  `json:"_type"`
	TID    string  `json:"tid"`
	Name   string  `json:"name"`
	Face   string  `json:"face"`
	Topic  string  `json:"topic"`
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	Tst    int64   `json:"tst"`
	Vac    *int    `json:"vac"`
	Batt   int     `json:"batt"`
	Action string  `json:"action"`
	raw    json.RawMessage
}

// postAnswer posts and decodes the answer, which must be 200.
func postAnswer(t *testing.T, u string, body []byte, header ...string) []pubItem {
	t.Helper()
	res, b := postPub(t, u, body, header...)
	return answer(t, res, b)
}

// answer checks a 200 JSON answer and decodes its objects.
func answer(t *testing.T, res *http.Response, body []byte) []pubItem {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %s, want 200; body: %s", res.Status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	raws := decode[[]json.RawMessage](t, body)
	if raws == nil {
		t.Fatalf("answer is %s, want an array", body)
	}
	items := make([]pubItem, len(raws))
	for i, r := range raws {
		items[i] = decode[pubItem](t, r)
		items[i].raw = r
		if items[i].Type != "cmd" && items[i].TID == "" {
			t.Errorf("answer object without a tid: %s", r)
		}
	}
	return items
}

func findItem(items []pubItem, typ, topicOrTID string) (pubItem, bool) {
	for _, it := range items {
		if it.Type == typ && (it.Topic == topicOrTID || (typ == "card" && it.TID == topicOrTID)) {
			return it, true
		}
	}
	return pubItem{}, false
}

// lastEvent returns the newest event in the log.
func (p *pubStack) lastEvent(t *testing.T) events.Event {
	t.Helper()
	e, err := p.log.Get(p.log.Head())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// eventLine reads event seq through the event API, as root.
func (p *pubStack) eventLine(t *testing.T, seq uint64) eventjson.Line {
	t.Helper()
	res, body := get(t, http.DefaultClient, p.locked.URL+"/api/v1/events?limit=1&from="+strconv.FormatUint(seq, 10), "Authorization", basic("root"))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("events: %s", res.Status)
	}
	line, _, _ := bufio.NewReader(strings.NewReader(body)).ReadLine()
	return decode[eventjson.Line](t, line)
}

func TestHTTPMode(t *testing.T) {
	p := newPubStack(t)
	pub := p.phoneSrv.URL + "/pub"
	alice := []string{"Authorization", basic("alice"), "X-Limit-U", "alice", "X-Limit-D", "iphone"}
	fix := clockNow.Add(-time.Minute).Unix()

	t.Run("round trip", func(t *testing.T) {
		head := p.log.Head()
		payload := iosLocation("ai", fix, "owntracks/alice/iphone")
		items := postAnswer(t, pub, payload, alice...)

		bob, ok := findItem(items, "location", "owntracks/bob/tablet")
		if !ok || bob.TID != "bt" {
			t.Errorf("no location of bob with tid bt in %+v", items)
		} else {
			requireKeys(t, "bob's location", bob.raw, "_type", "tid", "lat", "lon", "tst", "vel", "alt", "cog", "acc", "vac", "batt", "topic")
		}
		own, ok := findItem(items, "location", "owntracks/alice/iphone")
		if !ok || own.TID != "ai" || own.Lat != 51.50071 || own.Tst != fix || own.Vac == nil || *own.Vac != 4 || own.Batt != 64 {
			t.Errorf("alice's own location from this post: %+v (found %v)", own, ok)
		}
		if _, ok := findItem(items, "location", "owntracks/alice/phone"); !ok {
			t.Errorf("alice's other phone missing from %+v", items)
		}
		if c, ok := findItem(items, "card", "al"); !ok || c.Name != "Alice Liddell" || c.Face != "" {
			t.Errorf("alice's card: %+v (found %v)", c, ok)
		}
		if _, ok := findItem(items, "card", "bt"); ok {
			t.Errorf("a card for bob, who has no name")
		}

		if got := p.log.Head(); got != head+1 {
			t.Fatalf("log head %d, want %d (one event)", got, head+1)
		}
		e := p.lastEvent(t)
		if e.Topic != "owntracks/alice/iphone" || e.Source != events.SourceHTTP || e.QoS != 1 || !e.Received.Equal(clockNow) {
			t.Errorf("logged as %q from %q, QoS %d, at %s", e.Topic, e.Source, e.QoS, e.Received)
		}
		if !bytes.Equal(e.Payload, payload) {
			t.Errorf("payload rewritten:\n got: %s\nwant: %s", e.Payload, payload)
		}
		res, body := get(t, http.DefaultClient, p.locked.URL+"/api/v1/friends", "Authorization", basic("alice"))
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `"id":"alice/iphone"`) {
			t.Errorf("friends after the post: %s %s", res.Status, body)
		}
	})

	t.Run("identity comes from the login", func(t *testing.T) {
		// alice claims to be bob in the header, the query and the body.
		payload := iosLocation("bt", fix, "owntracks/bob/tablet")
		hdr := []string{"Authorization", basic("alice"), "X-Limit-U", "bob", "X-Limit-D", "iphone"}
		postAnswer(t, pub+"?u=bob&d=tablet", payload, hdr...)
		if e := p.lastEvent(t); e.Topic != "owntracks/alice/iphone" {
			t.Errorf("logged on %q, want owntracks/alice/iphone", e.Topic)
		}
		// The device comes from the query when there is no header.
		postAnswer(t, pub+"?d=ipad", iosLocation("ap", fix, ""), "Authorization", basic("alice"))
		if e := p.lastEvent(t); e.Topic != "owntracks/alice/ipad" {
			t.Errorf("logged on %q, want owntracks/alice/ipad", e.Topic)
		}
		res, body := postPub(t, pub+"?d=a%2Bb", iosLocation("ap", fix, ""), "Authorization", basic("alice"))
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("device a+b: %s %s, want 400", res.Status, body)
		}
	})

	t.Run("carol sees only bob and herself", func(t *testing.T) {
		res, body := postPub(t, pub, iosLocation("ca", fix, ""), "Authorization", basic("carol"))
		items := answer(t, res, body)
		if strings.Contains(strings.ToLower(string(body)), "alice") || strings.Contains(string(body), `"al"`) {
			t.Errorf("carol's answer mentions alice: %s", body)
		}
		for _, it := range items {
			if it.Type == "location" && it.Topic != "owntracks/bob/tablet" && it.Topic != "owntracks/carol/phone" {
				t.Errorf("carol sees %s", it.Topic)
			}
		}
		if _, ok := findItem(items, "location", "owntracks/bob/tablet"); !ok {
			t.Errorf("carol does not see bob: %s", body)
		}
		if _, ok := findItem(items, "location", "owntracks/carol/phone"); !ok {
			t.Errorf("carol's own location missing: %s", body)
		}
	})

	t.Run("cards carry the face", func(t *testing.T) {
		face := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nnot really an image"))
		p.appendAll(t, ev("owntracks/bob/tablet/info", clockNow, `{"_type":"card","tid":"bt","name":"Bob","face":"`+face+`"}`))
		items := postAnswer(t, pub, iosLocation("ca", fix, ""), "Authorization", basic("carol"))
		if c, ok := findItem(items, "card", "bt"); !ok || c.Name != "Bob" || c.Face != face {
			t.Errorf("bob's card: %+v (found %v)", c, ok)
		}
	})

	t.Run("kinds go to their topics", func(t *testing.T) {
		for _, c := range []struct{ name, payload, topic string }{
			{"transition", fmt.Sprintf(`{"_type":"transition","event":"leave","desc":"Home","rid":"home1","wtst":%d,"tst":%d,"lat":51.5,"lon":-0.12,"acc":10,"t":"c","tid":"ai"}`, wtst.Unix(), fix), "/event"},
			{"card", `{"_type":"card","tid":"ai","name":"Alice's iPhone"}`, "/info"},
			{"waypoint", fmt.Sprintf(`{"_type":"waypoint","desc":"Gym","lat":51.51,"lon":-0.13,"rad":75,"tst":%d,"rid":"gym1"}`, wtst.Unix()), "/waypoint"},
			{"waypoints", `{"_type":"waypoints","waypoints":[]}`, "/waypoints"},
			{"status", `{"_type":"status","iOS":{"version":"18.1"}}`, "/status"},
			{"steps", fmt.Sprintf(`{"_type":"steps","tst":%d,"steps":1234,"from":%d,"to":%d}`, fix, fix-3600, fix), "/step"},
			{"lwt", fmt.Sprintf(`{"_type":"lwt","tst":%d}`, fix), ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				postAnswer(t, pub, []byte(c.payload), alice...)
				e := p.lastEvent(t)
				if want := "owntracks/alice/iphone" + c.topic; e.Topic != want {
					t.Errorf("logged on %q, want %q", e.Topic, want)
				}
				if l := p.eventLine(t, e.Seq); l.Invalid != "" || l.Kind != c.name {
					t.Errorf("logged as kind %q, invalid %q", l.Kind, l.Invalid)
				}
			})
		}
	})

	t.Run("bad JSON is logged and answered with nothing", func(t *testing.T) {
		payload := []byte(`{"_type":"location","lat":51.5,"lon":`)
		res, body := postPub(t, pub, payload, alice...)
		if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
			t.Fatalf("bad JSON: %s %s, want 200 []", res.Status, body)
		}
		e := p.lastEvent(t)
		if e.Topic != "owntracks/alice/iphone" || !bytes.Equal(e.Payload, payload) {
			t.Errorf("logged as %q: %s", e.Topic, e.Payload)
		}
		if l := p.eventLine(t, e.Seq); l.Invalid == "" || l.Source != events.SourceHTTP {
			t.Errorf("event line %+v: want an invalid reason and source http", l)
		}
	})

	t.Run("empty body clears", func(t *testing.T) {
		postAnswer(t, pub, iosLocation("ap", fix, ""), "Authorization", basic("alice"), "X-Limit-D", "ipad")
		res, body := postPub(t, pub, nil, "Authorization", basic("alice"), "X-Limit-D", "ipad")
		if res.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
			t.Fatalf("empty body: %s %s, want 200 []", res.Status, body)
		}
		e := p.lastEvent(t)
		if e.Topic != "owntracks/alice/ipad" || len(e.Payload) != 0 {
			t.Errorf("logged as %q: %q", e.Topic, e.Payload)
		}
		if l := p.eventLine(t, e.Seq); l.Kind != "clear" || l.Invalid != "" {
			t.Errorf("logged as kind %q, invalid %q; want a valid clear", l.Kind, l.Invalid)
		}
		// The cleared phone no longer shows.
		items := postAnswer(t, pub, iosLocation("ai", fix, ""), alice...)
		if _, ok := findItem(items, "location", "owntracks/alice/ipad"); ok {
			t.Errorf("cleared phone still in the answer")
		}
	})

	t.Run("too large", func(t *testing.T) {
		head := p.log.Head()
		big := append([]byte(`{"_type":"location","junk":"`), bytes.Repeat([]byte("x"), 1<<20)...)
		big = append(big, `"}`...)
		res, body := postPub(t, pub, big, alice...)
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("1 MB body: %s, want 413", res.Status)
		}
		checkErrorBody(t, res, body, "message is larger than the limit of 512 KiB; it was not recorded", "")
		if got := p.log.Head(); got != head {
			t.Errorf("log head moved from %d to %d", head, got)
		}
	})

	t.Run("queued command is delivered once", func(t *testing.T) {
		cmd := `{"_type":"cmd","action":"reportLocation"}`
		p.phoneSite.QueueCommand(projections.DeviceID("alice/iphone"), []byte(cmd))
		p.phoneSite.QueueCommand(projections.DeviceID("alice/phone"), []byte(`{"_type":"cmd","action":"dump"}`))
		count := func(items []pubItem) (n int) {
			for _, it := range items {
				if it.Type == "cmd" {
					if it.Action != "reportLocation" || string(it.raw) != cmd {
						t.Errorf("delivered %s, want %s", it.raw, cmd)
					}
					n++
				}
			}
			return n
		}
		items := postAnswer(t, pub, iosLocation("ai", fix, ""), alice...)
		if n := count(items); n != 1 || items[len(items)-1].Type != "cmd" {
			t.Errorf("first answer has %d commands (want 1, last): %+v", n, items)
		}
		if n := count(postAnswer(t, pub, iosLocation("ai", fix, ""), alice...)); n != 0 {
			t.Errorf("second answer has %d commands, want none", n)
		}
		// Commands expire after a day.
		p.phoneSite.QueueCommand(projections.DeviceID("alice/iphone"), []byte(cmd))
		p.clock.Add(int64((25 * time.Hour).Seconds()))
		defer p.clock.Store(clockNow.Unix())
		if n := count(postAnswer(t, pub, iosLocation("ai", fix, ""), alice...)); n != 0 {
			t.Errorf("answer after 25 h has %d commands, want none", n)
		}
	})
}

func TestHTTPModeAuth(t *testing.T) {
	p := newPubStack(t)
	pub := p.phoneSrv.URL + "/pub"
	head := p.log.Head()
	body := iosLocation("ai", clockNow.Unix(), "")
	wrong := func() string {
		req, _ := http.NewRequest(http.MethodPost, "/", nil)
		req.SetBasicAuth("alice", "not the password")
		return req.Header.Get("Authorization")
	}()

	res, msg := postPub(t, pub+"?u=alice&d=iphone", body)
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), `Basic realm="tracker"`) {
		t.Errorf("no credentials: %s %q %s, want 401 with a Basic challenge", res.Status, res.Header.Get("WWW-Authenticate"), msg)
	}
	res, msg = postPub(t, pub, body, "Authorization", wrong, "X-Limit-D", "iphone")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %s %s, want 401", res.Status, msg)
	}
	for range 4 {
		postPub(t, pub, body, "Authorization", wrong)
	}
	res, msg = postPub(t, pub, body, "Authorization", basic("alice"))
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Errorf("after 5 failures: %s %s, want 429 with Retry-After", res.Status, msg)
	}
	if got := p.log.Head(); got != head {
		t.Errorf("refused posts were logged: head %d, want %d", got, head)
	}
}

func TestHTTPModeOpen(t *testing.T) {
	st := newStack(t)
	pub := st.srv.URL + "/pub"
	items := postAnswer(t, pub+"?u=zoe&d=p", iosLocation("zp", clockNow.Add(-time.Minute).Unix(), ""))
	e, err := st.log.Get(st.log.Head())
	if err != nil {
		t.Fatal(err)
	}
	if e.Topic != "owntracks/zoe/p" || e.Source != events.SourceHTTP {
		t.Errorf("logged as %q from %q", e.Topic, e.Source)
	}
	for _, topic := range []string{"owntracks/zoe/p", "owntracks/alice/phone", "owntracks/bob/tablet"} {
		if _, ok := findItem(items, "location", topic); !ok {
			t.Errorf("open mode answer misses %s", topic)
		}
	}
	// Headers win over the query; the defaults are owntracks/phone.
	postAnswer(t, pub+"?u=zoe&d=p", []byte(`{"_type":"lwt","tst":1}`), "X-Limit-U", "yan", "X-Limit-D", "tab")
	postAnswer(t, pub, []byte(`{"_type":"lwt","tst":1}`))
	var topics []string
	if err := st.log.Scan(t.Context(), st.log.Head()-1, func(e events.Event) error {
		topics = append(topics, e.Topic)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(topics, " ") != "owntracks/yan/tab owntracks/owntracks/phone" {
		t.Errorf("logged on %v", topics)
	}
	if res, msg := postPub(t, pub+"?u=a%2Fb", nil); res.StatusCode != http.StatusBadRequest {
		t.Errorf("user a/b: %s %s, want 400", res.Status, msg)
	}
}
