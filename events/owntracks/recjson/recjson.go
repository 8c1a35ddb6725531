// Package recjson writes OwnTracks location payloads the way the OwnTracks
// Recorder stores and serves them: the phone's JSON object with its
// members in the phone's order, lat, lon and tst as numbers, and the
// members the Recorder adds (ghash, isotst, ...) set in place or after.
//
// Stored makes a payload's stored form, without encoding/json for the
// payloads phones send (already in that form); the Recorder-compatible
// answers then splice their members onto it. The stored form is exactly
// what decoding the payload into an ordered object and encoding it again
// gives (keys through encoding/json, values compacted), so that answers
// made from it are byte for byte those made from the payload.
package recjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Object is a JSON object that keeps its members in order. Keys are held
// quoted and escaped as encoding/json writes them (see Key), values
// compact: an Object is written by concatenation.
type Object []Member

// Member is one member of an Object.
type Member struct {
	Key   string // quoted, as Key returns it
	Value []byte // compact JSON
}

// Key is name as an Object holds it: encoded by encoding/json.
func Key(name string) string { return string(AppendString(nil, name)) }

// Stored returns the stored form of a location payload (the plaintext of
// an encrypted one), which the decoder accepted: the object's members in
// order, a repeated member keeping its last value in its first place,
// lat, lon and tst replaced by the decoded values where the phone sent
// strings or none (as the Recorder stores them). The result may share
// payload's memory. ok is false when payload is not an object.
func Stored(payload []byte, lat, lon float64, tst int64) (stored []byte, ok bool) {
	if end, fast := canonical(payload); fast {
		return payload[:end], true
	}
	o, err := parseSlow(payload)
	if err != nil {
		return nil, false
	}
	o.normalize(lat, lon, tst)
	return o.Append(nil), true
}

// parseSlow reads a JSON object with encoding/json: keys decoded and
// encoded again, values compacted, a repeated member keeping its last
// value (as JavaScript's JSON.parse does). Bytes after the object are
// ignored.
func parseSlow(b []byte) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var o Object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		var c bytes.Buffer
		if err := json.Compact(&c, v); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
		o.SetRaw(Key(key), c.Bytes())
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return o, nil
}

var (
	keyLat = Key("lat")
	keyLon = Key("lon")
	keyTst = Key("tst")
)

// normalize turns lat, lon and tst into numbers where the phone sent
// strings (or no tst).
func (o *Object) normalize(lat, lon float64, tst int64) {
	for _, m := range []struct {
		key string
		v   []byte
	}{{keyLat, Float(lat)}, {keyLon, Float(lon)}, {keyTst, strconv.AppendInt(nil, tst, 10)}} {
		if v, ok := o.Get(m.key); !ok || len(v) == 0 || v[0] == '"' {
			o.SetRaw(m.key, m.v)
		}
	}
}

// Float is a coordinate as the Recorder writes one.
func Float(v float64) []byte { return strconv.AppendFloat(nil, v, 'f', -1, 64) }

// canonical reports whether a payload the decoder accepted is its own
// stored form, and where its object ends: an object with no whitespace
// between tokens, top-level keys that encoding/json writes as they are,
// no repeated key, and lat, lon and tst present as numbers. What follows
// the object can only be whitespace (the decoder accepted it).
func canonical(p []byte) (end int, ok bool) {
	if len(p) < 2 || p[0] != '{' {
		return 0, false
	}
	var keys [32][]byte
	nkeys := 0
	var have [3]bool // lat, lon, tst
	i := 1
	if p[i] == '}' {
		return 0, false // no lat: normalize appends
	}
	for {
		// A key.
		if i >= len(p) || p[i] != '"' {
			return 0, false
		}
		ks := i + 1
		i = ks
		for i < len(p) && p[i] != '"' {
			c := p[i]
			if c < 0x20 || c > 0x7e || c == '\\' || c == '<' || c == '>' || c == '&' {
				return 0, false
			}
			i++
		}
		if i >= len(p) {
			return 0, false
		}
		key := p[ks:i]
		for _, k := range keys[:min(nkeys, len(keys))] {
			if bytes.Equal(k, key) {
				return 0, false
			}
		}
		if nkeys >= len(keys) {
			return 0, false // too many members to check cheaply
		}
		keys[nkeys] = key
		nkeys++
		i++
		if i >= len(p) || p[i] != ':' {
			return 0, false
		}
		i++
		if i >= len(p) {
			return 0, false
		}
		slot := -1
		switch string(key) {
		case "lat":
			slot = 0
		case "lon":
			slot = 1
		case "tst":
			slot = 2
		}
		if slot >= 0 {
			if p[i] == '"' {
				return 0, false
			}
			have[slot] = true
		}
		// The value: skip it, refusing whitespace outside strings.
		var ok bool
		if i, ok = skipValue(p, i, true); !ok {
			return 0, false
		}
		if i >= len(p) {
			return 0, false
		}
		if p[i] == '}' {
			if !have[0] || !have[1] || !have[2] {
				return 0, false
			}
			return i + 1, true
		}
		if p[i] != ',' {
			return 0, false
		}
		i++
	}
}

// Parse reads a stored form (as Stored returns it) into o's members,
// reusing o. The members share s's memory.
func Parse(o Object, s []byte) (Object, error) {
	if o == nil {
		o = make(Object, 0, 24) // a phone's location has about 15 members; the answers add some
	}
	o = o[:0]
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return o, errors.New("recjson: not a stored object")
	}
	i := 1
	if s[i] == '}' {
		return o, nil
	}
	for {
		if s[i] != '"' {
			return o, errors.New("recjson: bad stored object")
		}
		ks := i
		i++
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		i++
		if i >= len(s) || s[i] != ':' {
			return o, errors.New("recjson: bad stored object")
		}
		key := s[ks:i]
		i++
		vs := i
		i, _ = skipValue(s, i, false)
		if i >= len(s) || vs == i {
			return o, errors.New("recjson: bad stored object")
		}
		o = append(o, Member{Key: string(key), Value: s[vs:i]})
		if s[i] == '}' {
			if i != len(s)-1 {
				return o, errors.New("recjson: bad stored object")
			}
			return o, nil
		}
		i++
	}
}

// Get returns the value of key (quoted, see Key).
func (o Object) Get(key string) ([]byte, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// SetRaw replaces key's value in place, or appends the member. v must be
// compact JSON.
func (o *Object) SetRaw(key string, v []byte) {
	for i := range *o {
		if (*o)[i].Key == key {
			(*o)[i].Value = v
			return
		}
	}
	*o = append(*o, Member{key, v})
}

// Set sets key to v encoded by encoding/json (strings and numbers).
func (o *Object) Set(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return // only strings and numbers are set
	}
	o.SetRaw(key, b)
}

// SetString sets key to the JSON string s, as encoding/json writes it.
func (o *Object) SetString(key, s string) { o.SetRaw(key, AppendString(nil, s)) }

// AppendString appends s as encoding/json writes a string (HTML
// characters escaped); plain ASCII without them is copied as it is.
func AppendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// SetDefault sets key only when the object has none.
func (o *Object) SetDefault(key string, v any) {
	if _, ok := o.Get(key); !ok {
		o.Set(key, v)
	}
}

// Pick returns the members named in keys (quoted), in that order, each
// once.
func (o Object) Pick(keys []string) Object {
	out := Object{}
	for _, k := range keys {
		if v, ok := o.Get(k); ok {
			out.SetRaw(k, v)
		}
	}
	return out
}

// Float returns key's value as a number, as encoding/json reads it.
func (o Object) Float(key string) (float64, bool) {
	v, ok := o.Get(key)
	if !ok {
		return 0, false
	}
	var f float64
	return f, json.Unmarshal(v, &f) == nil
}

// String returns key's value as a string, as encoding/json reads it.
func (o Object) String(key string) (string, bool) {
	v, ok := o.Get(key)
	if !ok {
		return "", false
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

// Append appends the object's JSON to dst.
func (o Object) Append(dst []byte) []byte {
	dst = append(dst, '{')
	for i, m := range o {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, m.Key...)
		dst = append(dst, ':')
		dst = append(dst, m.Value...)
	}
	return append(dst, '}')
}

// MarshalJSON writes the members in order.
func (o Object) MarshalJSON() ([]byte, error) { return o.Append(nil), nil }

// skipValue returns the index of the ',' or closing bracket that ends the
// JSON value starting at i (len(s) when none does). With noSpace,
// whitespace outside strings is refused (ok false), as in a payload that is
// its own stored form.
func skipValue[T ~string | ~[]byte](s T, i int, noSpace bool) (end int, ok bool) {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '"':
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
		case ',':
			if depth == 0 {
				return i, true
			}
		case ' ', '\t', '\n', '\r':
			if noSpace {
				return 0, false
			}
		}
	}
	return i, true
}
