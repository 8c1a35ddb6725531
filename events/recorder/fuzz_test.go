package recorder

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzParseLine: any line either yields an event whose payload is JSON
// taken verbatim from the line, on the device's topic, at a sane time, or
// an error with one of the known reasons. Seeds: lineCases and the
// checked-in corpus in testdata/fuzz/FuzzParseLine.
func FuzzParseLine(f *testing.F) {
	for _, c := range lineCases {
		f.Add([]byte(c.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := ParseLine(line, "jane", "phone")
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("error %v is not a *LineError", err)
			}
			switch le.Reason {
			case ReasonTime, ReasonFields, ReasonJSON:
			default:
				t.Fatalf("unknown reason %q", le.Reason)
			}
			return
		}
		if !json.Valid(e.Payload) || len(e.Payload) == 0 {
			t.Fatalf("payload %q is not JSON", e.Payload)
		}
		if !bytes.Contains(line, e.Payload) {
			t.Fatalf("payload %q is not verbatim from %q", e.Payload, line)
		}
		if e.Topic != "owntracks/jane/phone" && !strings.HasPrefix(e.Topic, "owntracks/jane/phone/") {
			t.Fatalf("topic %q", e.Topic)
		}
		if y := e.Received.Year(); y < 1970 || y > 2201 || e.Received.Location().String() != "UTC" {
			t.Fatalf("time %v", e.Received)
		}
		// What AppendLine writes parses back to the same event.
		rel := strings.TrimPrefix(strings.TrimPrefix(e.Topic, "owntracks/jane/phone"), "/")
		if rel == "" {
			rel = "*"
		}
		if strings.ContainsAny(rel, " \t") || e.Received.Nanosecond() != 0 {
			return
		}
		out := AppendLine(nil, e.Received, rel, e.Payload)
		back, err := ParseLine(bytes.TrimSuffix(out, []byte("\n")), "jane", "phone")
		if err != nil || back.Topic != e.Topic || !bytes.Equal(back.Payload, e.Payload) || !back.Received.Equal(e.Received) {
			t.Fatalf("round trip of %q: %+v, %v", out, back, err)
		}
	})
}
