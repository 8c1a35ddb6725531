package audit

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
)

func TestSourceLabel(t *testing.T) {
	for in, want := range map[string]string{
		"embedded":                           "embedded",
		"mqtt":                               "mqtt",
		"mqtt:tcp://broker.example.org:1883": "mqtt",
		"mqtt:ssl://x-ats.iot.eu-west-1.amazonaws.com:8883": "mqtt",
		"http":            "http",
		"admin":           "admin",
		"import:recorder": "import:recorder",
		"import:gpx":      "import:gpx",
		"import:google":   "import:google",
		"server":          "server",
		"":                "other",
		"mqttx":           "other",
		"import:csv":      "other",
	} {
		if got := SourceLabel(in); got != want {
			t.Errorf("SourceLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCountsBySource(t *testing.T) {
	a := New(nil, &owntracks.Decoder{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	now := time.Unix(1_780_000_000, 0)
	loc := `{"_type":"location","lat":50.85,"lon":4.35,"tst":1780000000,"tid":"al"}`
	seq := uint64(0)
	add := func(source, topic, payload string) {
		seq++
		a.observe(events.Event{Seq: seq, Received: now, Topic: topic, Payload: []byte(payload), Source: source})
	}
	add("embedded", "owntracks/alice/phone", loc)
	add("embedded", "owntracks/alice/phone", loc)
	add("mqtt:tcp://broker.example.org:1883", "owntracks/bob/phone", loc)
	add("mqtt:tcp://other.example.org:1883", "owntracks/bob/phone", `{"_type":"location","lat":91.2,"lon":4.35,"tst":1780000000}`)
	add("http", "owntracks/carol/phone", loc)
	add("server", "owntracks/carol/phone/cmd", `{"_type":"cmd","action":"reportLocation"}`)
	add("admin", "tracker/areas", `{}`)

	c := a.Counts()
	want := map[string]map[string]uint64{
		"embedded": {"location": 2},
		"mqtt":     {"location": 2},
		"http":     {"location": 1},
		"server":   {"cmd": 1},
		"admin":    {"admin": 1},
	}
	if len(c.BySource) != len(want) {
		t.Errorf("BySource = %v, want %v", c.BySource, want)
	}
	for src, kinds := range want {
		for kind, n := range kinds {
			if got := c.BySource[src][kind]; got != n {
				t.Errorf("BySource[%s][%s] = %d, want %d (all: %v)", src, kind, got, n, c.BySource)
			}
		}
	}
	if c.Events != 7 || c.Invalid != 1 {
		t.Errorf("events %d invalid %d, want 7 and 1", c.Events, c.Invalid)
	}
	// Counts is a copy: changing it leaves the auditor's counts alone.
	c.BySource["embedded"]["location"] = 99
	if got := a.Counts().BySource["embedded"]["location"]; got != 2 {
		t.Errorf("Counts shares its maps with the auditor: %d", got)
	}
}
