package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/eventstest"
)

// TestNotifyOwnTracksApp: rules with the owntracks channel, over the
// embedded broker with real MQTT clients as the phones. When ben's phone
// crosses into Home, anna's phone (subscribed as anna, connected) gets
// the OwnTracks cmd whose notification the iOS app shows, on its own
// command topic; anna's tablet in HTTP mode gets ben's transition in the
// answer to its next post, which the apps show as ben's event. dora made
// the same rule while she could see ben; once sharing hides him, neither
// her phone nor her HTTP answers hear of him.
func TestNotifyOwnTracksApp(t *testing.T) {
	const pw = "a password of the test"
	const homeLat, homeLon = 50.8466, 4.3528
	data := filepath.Join(t.TempDir(), "data")
	for _, u := range [][]string{{"add", "root", "--admin"}, {"add", "anna"}, {"add", "ben"}, {"add", "dora"}} {
		var out, errOut bytes.Buffer
		if err := runUserWith(t.Context(), append(u, "--password-stdin", "--data", data), strings.NewReader(pw+"\n"), &out, &errOut); err != nil {
			t.Fatalf("tracker user %s: %v\n%s", strings.Join(u, " "), err, errOut.String())
		}
	}
	if out, err := tracker(t, data, "area", "add", "Home", "--circle", fmt.Sprintf("%v,%v,150", homeLat, homeLon)); err != nil {
		t.Fatalf("area add: %v\n%s", err, out)
	}
	for _, owner := range []string{"anna", "dora"} {
		if out, err := tracker(t, data, "notify", "add", "--for", owner, "--arrives", "ben/phone", "--place", "Home", "--channel", "owntracks"); err != nil {
			t.Fatalf("tracker notify add --for %s --channel owntracks: %v\n%s", owner, err, out)
		}
	}
	if out, err := tracker(t, data, "user", "share", "dora", "--sees", "dora"); err != nil {
		t.Fatalf("user share: %v\n%s", err, out)
	}
	s := startServer(t, data, "--tiles", "")
	base := "http://" + s.http

	login := func(user string) func(*paho.ClientOptions) {
		return func(o *paho.ClientOptions) { o.SetUsername(user).SetPassword(pw) }
	}
	now := time.Now().Unix()
	annaPhone := eventstest.Connect(t, s.mqtt, "anna-phone", login("anna"))
	annaCmds := eventstest.Subscribe(t, annaPhone, "owntracks/anna/phone/cmd", 1)
	publishLocation(t, annaPhone, "anna/phone", location{Lat: 50.80, Lon: 4.30, Tst: now - 60, TID: "an"})
	doraPhone := eventstest.Connect(t, s.mqtt, "dora-phone", login("dora"))
	doraAll := eventstest.Subscribe(t, doraPhone, "owntracks/#", 1)
	publishLocation(t, doraPhone, "dora/phone", location{Lat: 50.81, Lon: 4.31, Tst: now - 60, TID: "do"})
	post := func(user, device string, l location) []map[string]any {
		t.Helper()
		l.Type = "location"
		b, _ := json.Marshal(l)
		req, _ := http.NewRequest(http.MethodPost, base+"/pub", bytes.NewReader(b))
		req.SetBasicAuth(user, pw)
		req.Header.Set("X-Limit-D", device)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var answer []map[string]any
		if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &answer) != nil {
			t.Fatalf("POST /pub as %s/%s: %s %s", user, device, resp.Status, body)
		}
		return answer
	}
	post("anna", "tablet", location{Lat: 50.80, Lon: 4.30, Tst: now - 50, TID: "at"})
	post("dora", "tablet", location{Lat: 50.81, Lon: 4.31, Tst: now - 50, TID: "dt"})
	for _, c := range []<-chan eventstest.Received{doraAll} {
		for len(c) > 0 {
			<-c // dora's own location, echoed
		}
	}

	ben := eventstest.Connect(t, s.mqtt, "ben-phone", login("ben"))
	publishLocation(t, ben, "ben/phone", location{Lat: homeLat + 0.01, Lon: homeLon, Tst: now - 120, Acc: 10, TID: "bb"})
	time.Sleep(100 * time.Millisecond)
	crossed := time.Now()
	publishLocation(t, ben, "ben/phone", location{Lat: homeLat, Lon: homeLon, Tst: now, Acc: 10, TID: "bb"})

	select {
	case m := <-annaCmds:
		var cmd map[string]any
		if err := json.Unmarshal(m.Payload, &cmd); err != nil || cmd["_type"] != "cmd" || cmd["action"] != "action" {
			t.Fatalf("anna's phone got %s on %s", m.Payload, m.Topic)
		}
		text, _ := cmd["notification"].(string)
		if !strings.Contains(text, "Home") {
			t.Errorf("the notification says %q, want the place", text)
		}
		t.Logf("ben's fix at Home to anna's phone's command: %v (%q)", time.Since(crossed).Round(time.Millisecond), text)
	case <-time.After(5 * time.Second):
		t.Fatal("anna's phone got no command within 5 s of ben's arrival")
	}

	var tr map[string]any
	for _, item := range post("anna", "tablet", location{Lat: 50.80, Lon: 4.30, Tst: now + 1, TID: "at"}) {
		if item["_type"] == "transition" {
			tr = item
		}
	}
	if tr == nil || tr["event"] != "enter" || tr["desc"] != "Home" || tr["tid"] != "bb" {
		t.Errorf("anna's tablet's answer carries transition %v, want ben's (tid bb) entering Home", tr)
	}

	time.Sleep(time.Second) // dora's, if it were sent, would be here by now
	for len(doraAll) > 0 {
		if m := <-doraAll; strings.Contains(string(m.Payload), "Home") || strings.Contains(m.Topic, "ben") {
			t.Errorf("dora's phone heard of ben: %s on %s", m.Payload, m.Topic)
		}
	}
	for _, item := range post("dora", "tablet", location{Lat: 50.81, Lon: 4.31, Tst: now + 1, TID: "dt"}) {
		if item["_type"] == "transition" || item["_type"] == "cmd" || item["tid"] == "bb" {
			t.Errorf("dora's tablet's answer tells of ben: %v", item)
		}
	}
}
