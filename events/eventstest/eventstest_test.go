package eventstest

import (
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"tracker/events"
)

func TestOpenLog(t *testing.T) {
	l := OpenLog(t)
	seq, err := l.Append(t.Context(), events.Event{Topic: "owntracks/a/b", Payload: []byte("{}")})
	if err != nil || seq != 1 {
		t.Fatalf("Append = %d, %v; want 1, nil", seq, err)
	}
}

// TestMosquittoRestart: a retained message and a persistent session's
// queued message survive Stop and Start; the config carries the limits.
func TestMosquittoRestart(t *testing.T) {
	m := StartMosquitto(t, MosquittoOptions{MaxInflightMessages: 7})
	got := make(chan string, 10)
	handler := func(_ mqtt.Client, msg mqtt.Message) { got <- msg.Topic() + "=" + string(msg.Payload()) }
	connect := func(id string, clean bool) mqtt.Client {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL).SetClientID(id).
			SetCleanSession(clean).SetAutoReconnect(false).SetDefaultPublishHandler(handler))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("connect %s: %v", id, tok.Error())
		}
		return c
	}
	wait := func(tok mqtt.Token) {
		t.Helper()
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("%v", tok.Error())
		}
	}
	sub := connect("sub", false)
	wait(sub.Subscribe("q/#", 1, nil))
	sub.Disconnect(100)
	pub := connect("pub", true)
	wait(pub.Publish("r", 1, true, "kept"))
	wait(pub.Publish("q/1", 1, false, "queued"))
	pub.Disconnect(100)

	m.Stop(t)
	m.Start(t)

	sub = connect("sub", false) // the session delivers the queued message
	defer sub.Disconnect(100)
	wait(sub.Subscribe("r", 1, nil))
	want := map[string]bool{"q/1=queued": true, "r=kept": true}
	for len(want) > 0 {
		select {
		case s := <-got:
			if !want[s] {
				t.Fatalf("unexpected message %s", s)
			}
			delete(want, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("still waiting for %v", want)
		}
	}
	if conf, err := os.ReadFile(m.conf); err != nil || !strings.Contains(string(conf), "max_inflight_messages 7\n") ||
		!strings.Contains(string(conf), "max_queued_messages 100000\n") {
		t.Errorf("config (%v):\n%s", err, conf)
	}
	if log := m.Log(); !strings.Contains(log, "Saving in-memory database") {
		t.Errorf("Stop did not save persistence; log:\n%s", log)
	}
}
