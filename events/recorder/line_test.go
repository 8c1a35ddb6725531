package recorder

import (
	"errors"
	"testing"
	"time"

	"tracker/events"
)

// lineCases are real shapes of .rec lines (the Recorder's printf
// "%s\t%-18s\t%s\n"), good and bad; they also seed FuzzParseLine.
var lineCases = []struct {
	name    string
	line    string
	topic   string // want; "" when the line is bad
	payload string
	time    string
	reason  string
}{
	{
		name:    "location on the base topic",
		line:    "2015-11-23T07:48:04Z\t*                 \t{\"_type\":\"location\",\"lat\":52.52009,\"lon\":13.40495,\"tst\":1448264884,\"tid\":\"jp\"}",
		topic:   "owntracks/jane/phone",
		payload: `{"_type":"location","lat":52.52009,"lon":13.40495,"tst":1448264884,"tid":"jp"}`,
		time:    "2015-11-23T07:48:04Z",
	},
	{
		name:    "transition on event",
		line:    "2024-06-10T06:13:20Z\tevent             \t{\"_type\":\"transition\",\"event\":\"enter\",\"desc\":\"Home\",\"tst\":1718000000}",
		topic:   "owntracks/jane/phone/event",
		payload: `{"_type":"transition","event":"enter","desc":"Home","tst":1718000000}`,
		time:    "2024-06-10T06:13:20Z",
	},
	{
		name:    "lwt pseudo-topic is the base topic",
		line:    "2024-06-10T06:20:02Z\tlwt               \t{\"_type\":\"lwt\",\"tst\":1717990000}",
		topic:   "owntracks/jane/phone",
		payload: `{"_type":"lwt","tst":1717990000}`,
		time:    "2024-06-10T06:20:02Z",
	},
	{
		name:    "old files mark the lwt with -",
		line:    "2015-08-01T10:00:00Z\t-                 \t{\"_type\":\"lwt\",\"tst\":\"1438423200\"}",
		topic:   "owntracks/jane/phone",
		payload: `{"_type":"lwt","tst":"1438423200"}`,
		time:    "2015-08-01T10:00:00Z",
	},
	{
		name:    "encrypted payload is kept as it is",
		line:    "2024-06-11T08:00:00Z\t*                 \t{\"_type\":\"encrypted\",\"data\":\"c2VjcmV0\"}",
		topic:   "owntracks/jane/phone",
		payload: `{"_type":"encrypted","data":"c2VjcmV0"}`,
		time:    "2024-06-11T08:00:00Z",
	},
	{
		name:    "separated by spaces",
		line:    "2024-06-10T06:13:20Z *  {\"_type\":\"location\",\"lat\":1,\"lon\":2,\"tst\":1718000000}",
		topic:   "owntracks/jane/phone",
		payload: `{"_type":"location","lat":1,"lon":2,"tst":1718000000}`,
		time:    "2024-06-10T06:13:20Z",
	},
	{
		name:    "long relative topic without padding, windows line end",
		line:    "2024-06-10T06:13:20Z\tvery/long/sub/topic/x \t{\"_type\":\"status\"}\r",
		topic:   "owntracks/jane/phone/very/long/sub/topic/x",
		payload: `{"_type":"status"}`,
		time:    "2024-06-10T06:13:20Z",
	},
	{
		name:    "payload with spaces inside",
		line:    "2024-06-10T06:13:20Z\tcmd               \t{\"_type\":\"cmd\", \"action\": \"reportLocation\"}",
		topic:   "owntracks/jane/phone/cmd",
		payload: `{"_type":"cmd", "action": "reportLocation"}`,
		time:    "2024-06-10T06:13:20Z",
	},
	{name: "corrupt time", line: "2024-13-10T06:13:20Z\t*                 \t{}", reason: ReasonTime},
	{name: "not a time", line: "garbage\t*\t{}", reason: ReasonTime},
	{name: "31 February", line: "2024-02-31T06:13:20Z\t*\t{}", reason: ReasonTime},
	{name: "no payload", line: "2024-06-10T06:13:20Z\t*                 \t", reason: ReasonFields},
	{name: "time only", line: "2024-06-10T06:13:20Z", reason: ReasonFields},
	{name: "truncated JSON", line: "2024-06-10T06:13:20Z\t*                 \t{\"_type\":\"location\",\"lat\":52.5", reason: ReasonJSON},
	{name: "bindump of a non-JSON payload", line: "2024-06-10T06:13:20Z\tvoltage/batt      \t12.6 0A ", reason: ReasonJSON},
	{name: "binary junk", line: "\x00\xff\xfe\t\x01\t\x02", reason: ReasonTime},
}

func TestParseLine(t *testing.T) {
	for _, tc := range lineCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseLine([]byte(tc.line), "jane", "phone")
			if tc.reason != "" {
				var le *LineError
				if !errors.As(err, &le) || le.Reason != tc.reason {
					t.Fatalf("err = %v, want reason %q", err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := time.Parse(time.RFC3339, tc.time)
			if e.Topic != tc.topic || string(e.Payload) != tc.payload || !e.Received.Equal(want) || e.Source != events.SourceRecorder {
				t.Errorf("got topic %q payload %s time %s source %s", e.Topic, e.Payload, e.Received, e.Source)
			}
		})
	}
}

func TestAppendLineIsTheRecorderFormat(t *testing.T) {
	got := string(AppendLine(nil, time.Unix(1448264884, 0), "*", []byte(`{"_type":"location"}`)))
	want := "2015-11-23T07:48:04Z\t*                 \t{\"_type\":\"location\"}\n"
	if got != want {
		t.Errorf("AppendLine = %q, want %q", got, want)
	}
	e, err := ParseLine([]byte(got[:len(got)-1]), "jane", "phone")
	if err != nil || e.Received.Unix() != 1448264884 {
		t.Errorf("round trip: %+v, %v", e, err)
	}
}

func BenchmarkParseLine(b *testing.B) {
	line := []byte("2024-06-10T06:13:20Z\t*                 \t{\"_type\":\"location\",\"tid\":\"am\",\"lat\":52.52009,\"lon\":13.40495,\"tst\":1718000000,\"acc\":12,\"alt\":41,\"batt\":81,\"conn\":\"w\"}")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLine(line, "jane", "phone"); err != nil {
			b.Fatal(err)
		}
	}
}
