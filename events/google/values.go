package google

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The JSON values Google writes in more than one way. Each decodes from
// anything without failing and says what it found, so a bad value is a
// reason in the summary, never a crash or a silently wrong number.

// num is a number written as a JSON number or as a string holding one
// (the iOS export writes "0.785181"; old files "timestampMs":"…").
type num struct {
	v        float64
	set, bad bool
	raw      string
}

func (n *num) UnmarshalJSON(b []byte) error {
	*n = num{}
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			n.bad, n.raw = true, string(b)
			return nil
		}
	}
	n.raw = s
	v, ok := parseNumber(strings.TrimSpace(s))
	n.v, n.set, n.bad = v, ok, !ok
	return nil
}

// parseNumber reads a decimal number; NaN, infinities, hex and empty
// strings are not numbers here.
func parseNumber(s string) (float64, bool) {
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789.+-eE", r) }) >= 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// int returns n rounded, when it is set and within [lo, hi].
func (n num) int(lo, hi float64) (int64, bool) {
	if !n.set || n.v < lo || n.v > hi {
		return 0, false
	}
	return int64(math.Round(n.v)), true
}

// when is a time: an RFC 3339 string (with or without fractions, "Z" or
// an offset), or epoch milliseconds (or seconds) as a number or a string.
type when struct {
	t   time.Time
	set bool
	raw string // what the file said, for the summary; "" when absent
}

func (w *when) UnmarshalJSON(b []byte) error {
	*w = when{}
	if string(b) == "null" {
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			w.raw = string(b)
			return nil
		}
	}
	s = strings.TrimSpace(s)
	w.raw = s
	if s == "" {
		w.raw = `""`
		return nil
	}
	w.t, w.set = parseTime(s)
	return nil
}

func parseTime(s string) (time.Time, bool) {
	if strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		if len(s) > 18 {
			return time.Time{}, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		if n > 1e11 { // milliseconds (1e11 s is the year 5138)
			return time.UnixMilli(n).UTC(), true
		}
		return time.Unix(n, 0).UTC(), true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, true // no zone: UTC, as Google writes its times
	}
	return time.Time{}, false
}

// first returns the first of ws that the file had.
func first(ws ...when) when {
	for _, w := range ws {
		if w.set || w.raw != "" {
			return w
		}
	}
	return when{}
}

// place is a position read from the file; set is false when it had none
// (detail empty) or a bad one (detail says why).
type place struct {
	lat, lon float64
	set      bool
	detail   string
	wrapped  bool
}

// e7 reads a position given as two integers of 1e-7 degrees. Old
// exports wrote negative values as unsigned 32-bit numbers (4294967295
// for -1): a value that is out of range but in range less 2^32 is read
// that way.
func e7(lat, lon num) place {
	if !lat.set && !lon.set && !lat.bad && !lon.bad {
		return place{}
	}
	if !lat.set || !lon.set {
		return place{detail: fmt.Sprintf("E7 values %s, %s", orMissing(lat.raw), orMissing(lon.raw))}
	}
	la, w1 := unwrap(lat.v, 90)
	lo, w2 := unwrap(lon.v, 180)
	p := degrees(la/1e7, lo/1e7)
	if !p.set && p.detail != "" {
		p.detail = fmt.Sprintf("E7 values %s, %s: %s", lat.raw, lon.raw, p.detail)
	}
	p.wrapped = w1 || w2
	return p
}

func orMissing(s string) string {
	if s == "" {
		return "(missing)"
	}
	return quoteShort(s)
}

func unwrap(v, limit float64) (float64, bool) {
	if v > limit*1e7 && v-(1<<32) >= -limit*1e7 && v < 1<<32 {
		return v - (1 << 32), true
	}
	return v, false
}

// degrees checks a position in degrees.
func degrees(lat, lon float64) place {
	switch {
	case lat < -90 || lat > 90 || lon < -180 || lon > 180:
		return place{detail: fmt.Sprintf("%g, %g is out of range", lat, lon)}
	case lat == 0 && lon == 0:
		return place{detail: "0, 0 (no position)"}
	}
	return place{lat: lat, lon: lon, set: true}
}

// latLng is a position written as text: "50.0506312°, 14.3439906°"
// (Android), "geo:50.85,4.35" (iOS), "48.8566, 2.3522", or an object
// {"latLng": "…"} holding such a text.
type latLng struct{ place }

func (l *latLng) UnmarshalJSON(b []byte) error {
	l.place = place{}
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			l.detail = "not a string"
			return nil
		}
		l.place = parseLatLng(s)
	case len(b) > 0 && b[0] == '{':
		var o struct {
			LatLng *string `json:"latLng"`
		}
		if err := json.Unmarshal(b, &o); err != nil || o.LatLng == nil {
			l.detail = "an object without latLng"
			return nil
		}
		l.place = parseLatLng(*o.LatLng)
	default:
		l.detail = fmt.Sprintf("%s, want a text like \"50.85°, 4.35°\"", quoteShort(string(b)))
	}
	return nil
}

func parseLatLng(s string) place {
	bad := place{detail: fmt.Sprintf("%s is not a position", quoteShort(s))}
	t := strings.TrimSpace(s)
	if len(t) >= 4 && strings.EqualFold(t[:4], "geo:") {
		t = t[4:]
		t, _, _ = strings.Cut(t, ";") // geo URI parameters (;u=accuracy)
	}
	a, b, ok := strings.Cut(t, ",")
	if !ok || strings.Contains(b, ",") {
		return bad
	}
	lat, ok1 := parseNumber(trimDegrees(a))
	lon, ok2 := parseNumber(trimDegrees(b))
	if !ok1 || !ok2 {
		return bad
	}
	p := degrees(lat, lon)
	if !p.set {
		p.detail = fmt.Sprintf("%s: %s", quoteShort(s), p.detail)
	}
	return p
}

// trimDegrees drops spaces and a degree sign (also as the mis-decoded
// bytes some exports carry) around a number.
func trimDegrees(s string) string {
	s = strings.TrimSpace(s)
	for s != "" {
		r, size := utf8.DecodeLastRuneInString(s)
		if r < utf8.RuneSelf && r != ' ' {
			break
		}
		s = s[:len(s)-size]
	}
	return s
}
