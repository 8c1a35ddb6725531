// Package recorder reads the storage directory of the OwnTracks Recorder
// (ot-recorder) and turns what it kept into events for our log: every line
// of rec/<user>/<device>/YYYY-MM.rec, the cards, the waypoints. It only
// reads; appending the events is the importer's job.
package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"tracker/events"
)

// TopicRoot is the first level of the topics the Recorder's files stand
// for. The Recorder does not store it; OwnTracks apps default to it.
const TopicRoot = "owntracks"

// Reasons a line or file is skipped. They are short and fixed so an import
// can count them.
const (
	ReasonTime      = "bad time"                   // the first field is not an ISO 8601 time
	ReasonFields    = "missing fields"             // fewer than time, topic and payload
	ReasonJSON      = "payload is not JSON"        // includes JSON cut off in the middle
	ReasonTruncated = "truncated line"             // the file ends inside a line that is not complete JSON
	ReasonTooLong   = "line too long"              // longer than MaxLine
	ReasonFile      = "unreadable file"            // a card or waypoints file that cannot be used
	ReasonNoDevice  = "card without device"        // cards/<user>/<user>.json of a user with no device here
	ReasonOutside   = "link outside the directory" // a symbolic link (file or directory) that leads out of the storage directory
)

// MaxLine bounds a .rec line (payloads with a POI image can be a few
// hundred KB); longer lines are skipped.
const MaxLine = 8 << 20

// LineError says why a line cannot be imported.
type LineError struct {
	Reason string // one of the Reason constants
	Detail string
}

func (e *LineError) Error() string {
	if e.Detail == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Detail
}

// ParseLine turns one line of a .rec file of user's device (without its
// line end) into an event: the Recorder wrote it as
//
//	<ISO 8601 time>\t<relative topic, space-padded to 18>\t<payload>
//
// where the relative topic is "*" for the device's base topic
// owntracks/<user>/<device>, "lwt" for a last will (which the phone also
// registered on the base topic; very old files have "-"), or the rest of
// the topic ("event", "cmd", "info", ...). Lines separated by runs of
// spaces instead of tabs are read too. The event's time is the line's
// time, its payload the bytes after the topic, verbatim (a copy).
func ParseLine(line []byte, user, device string) (events.Event, error) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	ts, topic, payload, ok := splitLine(line)
	if !ok {
		if len(ts) > 0 {
			if _, err := parseTime(ts); err != nil {
				return events.Event{}, &LineError{Reason: ReasonTime, Detail: quote(ts)}
			}
		}
		return events.Event{}, &LineError{Reason: ReasonFields}
	}
	t, err := parseTime(ts)
	if err != nil {
		return events.Event{}, &LineError{Reason: ReasonTime, Detail: quote(ts)}
	}
	if !json.Valid(payload) {
		return events.Event{}, &LineError{Reason: ReasonJSON, Detail: quote(payload)}
	}
	return events.Event{
		Received: t,
		Topic:    Topic(user, device, string(topic)),
		Payload:  bytes.Clone(payload),
		Source:   events.SourceRecorder,
	}, nil
}

// AppendLine appends a .rec line as the Recorder writes it (printf
// "%s\t%-18s\t%s\n" of the UTC time, the relative topic and the payload):
// for tests, benchmarks and tools that make Recorder files.
func AppendLine(dst []byte, t time.Time, rel string, payload []byte) []byte {
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05Z")
	dst = append(dst, '\t')
	dst = append(dst, rel...)
	for i := len(rel); i < 18; i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, '\t')
	dst = append(dst, payload...)
	return append(dst, '\n')
}

// Topic is the full topic of a .rec line's relative topic.
func Topic(user, device, rel string) string {
	base := TopicRoot + "/" + user + "/" + device
	switch rel {
	case "*", "-", "lwt", "":
		return base
	}
	return base + "/" + rel
}

// splitLine cuts a line into its time, relative topic and payload. With
// two tabs the fields are what lies between them (the topic's padding
// trimmed); otherwise runs of spaces separate them.
func splitLine(line []byte) (ts, topic, payload []byte, ok bool) {
	if a := bytes.IndexByte(line, '\t'); a >= 0 {
		if b := bytes.IndexByte(line[a+1:], '\t'); b >= 0 {
			ts = bytes.TrimSpace(line[:a])
			topic = bytes.TrimSpace(line[a+1 : a+1+b])
			payload = bytes.TrimSpace(line[a+1+b+1:])
			return ts, topic, payload, len(ts) > 0 && len(topic) > 0 && len(payload) > 0
		}
	}
	rest := bytes.TrimLeft(line, " \t")
	ts, rest = cutField(rest)
	topic, rest = cutField(rest)
	payload = bytes.TrimSpace(rest)
	return ts, topic, payload, len(ts) > 0 && len(topic) > 0 && len(payload) > 0
}

// cutField returns the bytes up to the next space or tab, and what follows
// the run of blanks after them.
func cutField(b []byte) (field, rest []byte) {
	i := bytes.IndexAny(b, " \t")
	if i < 0 {
		return b, nil
	}
	return b[:i], bytes.TrimLeft(b[i:], " \t")
}

// parseTime reads the Recorder's time stamp: YYYY-MM-DDTHH:MM:SSZ (UTC),
// with a numeric offset or fractional seconds accepted too.
func parseTime(b []byte) (time.Time, error) {
	if len(b) == len("2006-01-02T15:04:05Z") && b[len(b)-1] == 'Z' {
		if t, ok := fastTime(b); ok {
			return t, nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return t, err
	}
	t = t.UTC()
	if y := t.Year(); y < 1970 || y > 2200 {
		return t, fmt.Errorf("year %d", y)
	}
	return t, nil
}

// fastTime parses the usual YYYY-MM-DDTHH:MM:SSZ without allocating.
func fastTime(b []byte) (time.Time, bool) {
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || y < 1970 || y > 2200 ||
		mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
	if t.Day() != d { // 31 February and the like
		return time.Time{}, false
	}
	return t, true
}

// quote shows the start of b in an error.
func quote(b []byte) string {
	const limit = 60
	if len(b) > limit {
		return fmt.Sprintf("%q…", b[:limit])
	}
	return fmt.Sprintf("%q", b)
}
