package owntracks

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The members of a payload land in one struct (fields) whose parts accept
// any JSON value: each records what it saw, and the validation of the
// message's kind decides what that means. So a member that belongs to
// another kind, or that a bridge fills with something odd, cannot abort the
// decoding, and every rejection names the member and the value.

type state uint8

const (
	absent state = iota // member not present
	null                // present as null
	good                // present with a usable value
	bad                 // present with the wrong JSON type or a non-numeric string
	huge                // numeric but beyond float64 ("1e400")
)

// number is a member that should be a number. OwnTracks publishers send
// numbers as JSON numbers, as floats ("batt":57.0) or as strings
// ("tst":"1718000000"); all are accepted.
type number struct {
	st  state
	v   float64
	raw string // the value as sent (shortened), kept only when st is bad or huge
}

// set records the raw JSON value b.
func (n *number) set(b []byte) {
	*n = number{}
	if len(b) == 0 {
		n.st = bad
		return
	}
	switch c := b[0]; {
	case c == 'n':
		n.st = null
	case c == '-' || '0' <= c && c <= '9':
		n.parse(b, b)
	case c == '"':
		s, ok := unquote(b)
		if !ok || !isDecimal(s) {
			n.st, n.raw = bad, shorten(b)
			return
		}
		n.parse(s, b)
	default:
		n.st, n.raw = bad, shorten(b)
	}
}

// parse sets n from the decimal text s; orig is the JSON value as sent.
func (n *number) parse(s, orig []byte) {
	// Most OwnTracks numbers are small integers (tst, acc, batt, ...);
	// converting those by hand skips strconv and its string conversion.
	if v, ok := smallInt(s); ok {
		n.st, n.v = good, v
		return
	}
	v, err := strconv.ParseFloat(string(s), 64)
	switch {
	case err == nil:
		n.st, n.v = good, v
	case isRangeErr(err) && v != 0: // overflow; underflow to 0 is fine
		n.st, n.raw = huge, shorten(orig)
	case isRangeErr(err):
		n.st, n.v = good, 0
	default:
		n.st, n.raw = bad, shorten(orig)
	}
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// smallInt parses an optionally negative run of at most 15 digits, which
// a float64 holds exactly.
func smallInt(s []byte) (float64, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || len(s) > 15 {
		return 0, false
	}
	var v int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return float64(v), true
}

// isDecimal reports whether a string member holds a plain decimal number:
// optional sign, digits with an optional fraction, optional exponent.
// strconv alone would also take "NaN", "Inf", hex and underscores, which
// no OwnTracks publisher means as a number.
func isDecimal(s []byte) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		exp := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// text is a member that should be a string.
type text struct {
	st   state
	s    string
	what string // the JSON type seen when st is null or bad: "null", "a number", ...
}

func (t *text) set(b []byte) {
	*t = text{}
	if len(b) > 0 && b[0] == 'n' {
		t.st, t.what = null, "null"
		return
	}
	if len(b) == 0 || b[0] != '"' {
		t.st, t.what = bad, jsonType(b)
		return
	}
	s, ok := unquote(b)
	if !ok {
		t.st, t.what = bad, "a malformed string"
		return
	}
	t.st, t.s = good, string(s)
}

// texts is a member that should be a list of strings.
type texts struct {
	st   state
	list []string
	what string // why it is bad
}

func (t *texts) set(b []byte) {
	*t = texts{}
	if len(b) > 0 && b[0] == 'n' {
		t.st = null
		return
	}
	if len(b) == 0 || b[0] != '[' {
		t.st, t.what = bad, "is "+jsonType(b)+", want a list of strings"
		return
	}
	list := []string{}
	eachElement(b, func(_ int, e []byte) {
		s, ok := unquote(e)
		if !ok {
			t.st, t.what = bad, "holds "+jsonType(e)+", want only strings"
			return
		}
		list = append(list, string(s))
	})
	if t.st != bad {
		t.st, t.list = good, list
	}
}

// unquote returns the contents of the JSON string literal b. Literals
// without escapes, the usual case, are sliced rather than decoded.
func unquote(b []byte) ([]byte, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	inner := b[1 : len(b)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// jsonType names the JSON type of the value b for error messages, with
// an article: "an object", "a number", "null".
func jsonType(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch noun := jsonNoun(b[0]); noun {
	case "null":
		return noun
	case "object", "array":
		return "an " + noun
	default:
		return "a " + noun
	}
}

// jsonNoun names the JSON type of a value starting with the byte c.
func jsonNoun(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// shorten copies a value for an error message, cut to about 40 bytes on a
// rune boundary so the reason stays readable and valid UTF-8.
func shorten(b []byte) string {
	const max = 40
	if len(b) <= max {
		return string(b)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…"
}
