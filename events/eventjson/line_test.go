package eventjson

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"tracker/events"
)

// TestStoredRoundTrip: an export line carries the stored fields and the
// payload byte for byte, as text when it is UTF-8 and base64 otherwise,
// and nothing decoded.
func TestStoredRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		b64     bool
	}{
		{"text", []byte(`{"_type":"location","lat":1}`), false},
		{"binary", []byte{0xff, 0x00, 0x01}, true},
		{"empty", []byte{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := events.Event{Seq: 7, Received: time.Unix(1700000000, 5).UTC(), Topic: "owntracks/a/p", Source: events.SourceEmbedded,
				QoS: 1, Retained: true, Dup: true, DuplicateOf: 3, Client: "phone", PacketID: 9, Payload: tt.payload}
			b, err := json.Marshal(Stored(e))
			if err != nil {
				t.Fatal(err)
			}
			var l Line
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			if (l.PayloadB64 != "") != tt.b64 || l.Kind != "" || l.User != "" {
				t.Errorf("line %s: want base64 %v and nothing decoded", b, tt.b64)
			}
			p, err := l.RawPayload()
			if err != nil || !bytes.Equal(p, tt.payload) {
				t.Errorf("payload %q, %v; want %q", p, err, tt.payload)
			}
			if l.Seq != e.Seq || !l.ReceivedAt.Equal(e.Received) || l.Topic != e.Topic || l.Source != e.Source || l.QoS != e.QoS ||
				!l.Retained || !l.Dup || l.DuplicateOf != 3 || l.Client != "phone" || l.PacketID != 9 {
				t.Errorf("line %+v does not carry the stored fields of %+v", l, e)
			}
		})
	}
	both := Line{Payload: new(string), PayloadB64: "AA=="}
	if _, err := both.RawPayload(); err == nil {
		t.Error("a line with both payload and payload_b64 was accepted")
	}
}
