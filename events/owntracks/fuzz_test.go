package owntracks

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxSeed keeps huge fixtures (the 1 MB and 100k-deep payloads) out of the
// fuzz seeds, where they would only slow mutation; the fixture test covers
// them.
const maxSeed = 16 << 10

func FuzzParseTopic(f *testing.F) {
	for _, fx := range fixtures {
		f.Add(fx.topic)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		for _, root := range []string{"", AnyRoot} {
			tp, err := Decoder{Root: root}.ParseTopic(topic)
			if err != nil {
				if reasonOf(t, err) == "" || tp != (Topic{}) {
					t.Fatalf("root %q: error %v with topic %+v", root, err, tp)
				}
				continue
			}
			if tp.Root == "" || tp.User == "" || tp.Device == "" {
				t.Fatalf("root %q: empty part in %+v", root, tp)
			}
			if got := strings.TrimPrefix(topic, "/"); tp.String() != got {
				t.Fatalf("root %q: %q reassembles as %q", root, got, tp.String())
			}
			if strings.ContainsAny(tp.User+tp.Device, "/+#\x00") {
				t.Fatalf("root %q: separator or wildcard in %+v", root, tp)
			}
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures {
		if len(fx.payload) <= maxSeed {
			f.Add(fx.topic, fx.payload)
		}
	}
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		if utf8.Valid(payload) {
			if _, ok := walk(payload, func(_, _ []byte) {}); ok != json.Valid(payload) {
				t.Fatalf("walk says valid %v, json.Valid %v", ok, !ok)
			}
		}
		m, err := testDecoder.Decode(topic, payload)
		if problem := invariants(topic, m, err); problem != "" {
			t.Fatal(problem)
		}
		if m.Topic.User == "" || len(payload) == 0 || len(payload) > maxSeed || m.Kind == KindEncrypted || m.Decrypted {
			return
		}
		// Sealed, the same payload must decode to the same result
		// (§2.9: process the plaintext as if it arrived on the topic).
		d := testDecoder
		d.Keys = Secrets{Default: "fuzz"}
		m2, err2 := d.Decode(topic, sealed("fuzz", string(payload)))
		want := ""
		if err != nil {
			want = "decrypted payload: " + reasonOf(t, err)
		}
		if got := reasonOf(t, err2); got != want || m2.Kind != m.Kind || !m2.Decrypted {
			t.Fatalf("sealed: kind %q reason %q; plain: kind %q reason %q", m2.Kind, got, m.Kind, want)
		}
	})
}
