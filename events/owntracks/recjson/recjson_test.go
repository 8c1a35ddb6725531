package recjson

import (
	"encoding/json"
	"testing"
)

var seeds = []string{
	`{"_type":"location","tid":"bp","lat":52.52,"lon":13.405,"tst":1750000000,"acc":5,"SSID":"home<&>","inregions":["Home"],"m":1}`,
	`{ "_type" : "location", "lat" : "52.53", "lon":"13.41" , "tst":1, "desc":"caf\u00e9 \/ ünï \u2028" }`,
	`{"_type":"location","lat":52.54,"lon":13.42,"tst":1,"batt":50,"batt":51}`,
	`{"_type":"location","a<b":1,"k\u0041":2,"lat":52.56,"lon":13.44,"tst":1,"extra":{ "x" : [1, 2.50, {"y":null}] }}` + "\n  ",
	`{"_type":"location","lat":5.256e1,"lon":13.4500,"tst":1,"s":"a\"b,}]","n":[{"a":[]}],"e":{}}`,
	`{"_type":"location","lat":1,"lon":2}`,
	`{"lat":1,"lon":2,"tst":3}` + "\r\n",
	`{}`,
}

// TestStoredFastPathIsTheSlowPath: a payload taken as its own stored form
// is what parsing and encoding it again gives.
func TestStoredFastPathIsTheSlowPath(t *testing.T) {
	for _, s := range seeds {
		checkStored(t, []byte(s))
	}
}

func FuzzStored(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkStored)
}

func checkStored(t *testing.T, p []byte) {
	if !json.Valid(p) {
		return
	}
	o, err := parseSlow(p)
	if err != nil {
		return
	}
	o.normalize(1.5, 2.5, 3)
	slow := string(o.Append(nil))
	got, ok := Stored(p, 1.5, 2.5, 3)
	if !ok || string(got) != slow {
		t.Errorf("Stored(%q) = %q, %v; want %q", p, got, ok, slow)
	}
	back, err := Parse(nil, got)
	if err != nil || string(back.Append(nil)) != slow {
		t.Errorf("Parse(%q) = %q, %v", got, back.Append(nil), err)
	}
}

func TestAppendStringIsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "u33dc0c", "2025-10-01T08:00:00Z", "a\"b", "a\\b", "<&>", "ünï", "\u2028", "\x00", "\x7f", "a b"} {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	}
}
