package owntracks

import (
	"encoding/json"
	"strings"
	"testing"
)

// The scanner must accept exactly what encoding/json accepts.
func TestWalkAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{
		`{}`, ` { } `, `[]`, `[ ]`, `0`, `-0`, `-`, `01`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E+2`, `1e-07`, `-1.5e3`,
		`+1`, `1_000`, `0x10`, `Infinity`, `NaN`, `true`, `tru`, `truex`, `false`, `null`, `nul`, `""`, `"`,
		`"\u00e9"`, `"\u00e"`, `"\u00eZ"`, `"\x"`, `"\/\b\f\n\r\t\"\\"`, "\"a\tb\"", "\"a\x7fb\"", "\"\x1f\"",
		`{"a":1,}`, `{"a":1,,"b":2}`, `{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `{"a":}`, `{,}`, `[1,]`, `[,1]`, `[1 2]`,
		`{"a":[1,{"b":[]}],"c":{"d":null}}`, `{"a":1}}`, `{"a":1}]`, `{"a":1} {"b":2}`, `{"a":1}` + "\n\r\t ",
		"\v{}", "{}\x00", `{"":""}`, `{"a\"b":"c\\"}`, `["\\\\\""]`, `[[[]]]`, `[[[]]`, `{"a":[}`, `{"a":{]}`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
		`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
		`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
		`{"a":` + strings.Repeat(`{"b":`, 9999) + `1` + strings.Repeat("}", 9999) + `}`,
		`{"a":` + strings.Repeat(`{"b":`, 10000) + `1` + strings.Repeat("}", 10000) + `}`,
	}
	for _, in := range inputs {
		_, got := walk([]byte(in), func(_, _ []byte) {})
		if want := json.Valid([]byte(in)); got != want {
			t.Errorf("walk(%.40q) = %v, json.Valid = %v", in, got, want)
		}
	}
}

func TestWalkMembers(t *testing.T) {
	var keys, vals []string
	_, ok := walk([]byte(` {"a" : 1 ,"b\u0063":[1, {"x":"}"}],"d":"q\"}" }`), func(k, v []byte) {
		keys, vals = append(keys, string(k)), append(vals, string(v))
	})
	if !ok || strings.Join(keys, "|") != "a|bc|d" || strings.Join(vals, "|") != `1|[1, {"x":"}"}]|"q\"}"` {
		t.Errorf("ok %v keys %q vals %q", ok, keys, vals)
	}
}
