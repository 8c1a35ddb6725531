package owntracks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestDecodeFixtures(t *testing.T) {
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			m, err := testDecoder.Decode(fx.topic, fx.payload)
			if reason := reasonOf(t, err); reason != fx.reason {
				t.Errorf("reason = %q, want %q", reason, fx.reason)
			}
			if m.Kind != fx.kind {
				t.Errorf("kind = %q, want %q", m.Kind, fx.kind)
			}
			if problem := invariants(fx.topic, m, err); problem != "" {
				t.Error(problem)
			}
		})
	}
}

// reasonOf returns the reason of an *Invalid, "" for nil.
func reasonOf(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var inv *Invalid
	if !errors.As(err, &inv) {
		t.Fatalf("error %v is a %T, want *Invalid", err, err)
	}
	return inv.Reason
}

// invariants checks what must hold for any input and returns the first
// violation, "" when none. The fuzz tests use it too.
func invariants(topic string, m Message, err error) string {
	if err != nil {
		inv, ok := err.(*Invalid)
		switch {
		case !ok:
			return fmt.Sprintf("error is a %T, want *Invalid", err)
		case inv.Reason == "":
			return "empty reason"
		case !utf8.ValidString(inv.Reason):
			return fmt.Sprintf("reason %q is not UTF-8", inv.Reason)
		case inv.Error() != inv.Reason:
			return "Error() differs from Reason"
		case inv.Kind != m.Kind:
			return fmt.Sprintf("Invalid.Kind %q, Message.Kind %q", inv.Kind, m.Kind)
		}
		if set := typedMembers(m); len(set) > 0 {
			return fmt.Sprintf("invalid message has %v set", set)
		}
		return ""
	}
	if m.Kind == "" {
		return "valid message without kind"
	}
	if m.Topic.User == "" || m.Topic.Device == "" {
		return fmt.Sprintf("valid message with topic %+v", m.Topic)
	}
	if got := strings.TrimPrefix(topic, "/"); m.Topic.String() != got {
		return fmt.Sprintf("topic %q reassembles as %q", got, m.Topic.String())
	}
	want := map[Kind]string{
		KindLocation: "Location", KindTransition: "Transition", KindWaypoint: "Waypoint",
		KindWaypoints: "Waypoints", KindCard: "Card", KindLWT: "LWT", KindStatus: "Status",
		KindCmd: "Cmd", KindSteps: "Steps", KindBeacon: "Beacon", KindRequest: "Request",
	}[m.Kind]
	set := typedMembers(m)
	if want == "" && len(set) > 0 || want != "" && (len(set) != 1 || set[0] != want) {
		return fmt.Sprintf("kind %q has typed members %v", m.Kind, set)
	}
	if l := m.Location; l != nil {
		if !(l.Lat >= -90 && l.Lat <= 90 && l.Lon >= -180 && l.Lon <= 180) {
			return fmt.Sprintf("location %v,%v out of range", l.Lat, l.Lon)
		}
		if l.Tst <= 0 || l.Tst >= maxSeconds {
			return fmt.Sprintf("location tst %d", l.Tst)
		}
	}
	if tr := m.Transition; tr != nil && tr.Event != "enter" && tr.Event != "leave" {
		return fmt.Sprintf("transition event %q", tr.Event)
	}
	if c := m.Card; c != nil && c.Face != "" && c.FaceInvalid != "" {
		return "card with both a face and FaceInvalid"
	}
	if m.Decrypted != (m.Plaintext != nil) {
		return "Decrypted and Plaintext disagree"
	}
	return ""
}

// typedMembers names the typed members of m that are set.
func typedMembers(m Message) []string {
	var set []string
	v := reflect.ValueOf(m)
	for _, name := range []string{"Location", "Transition", "Waypoint", "Waypoints", "Card", "LWT", "Status", "Cmd", "Steps", "Beacon", "Request"} {
		if !v.FieldByName(name).IsNil() {
			set = append(set, name)
		}
	}
	return set
}

func mustDecode(t *testing.T, topic, payload string) Message {
	t.Helper()
	m, err := testDecoder.Decode(topic, []byte(payload))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return m
}

func TestDecodeLocationMembers(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone", docLocation)
	want := &Location{
		Lat: 52.52009, Lon: 13.40495, Tst: 1718000000, CreatedAt: 1718000004,
		Acc: 12, Alt: 41, Vac: 3, Vel: 4, Cog: 270, Batt: 81, BS: 1, Mode: 1,
		Conn: "w", Trigger: "u", TID: "am",
		InRegions: []string{"Office"}, InRIDs: []string{"a1b2c3"},
		SSID: "corp", BSSID: "aa:bb:cc:dd:ee:01",
	}
	if !reflect.DeepEqual(m.Location, want) {
		t.Errorf("got  %+v\nwant %+v", m.Location, want)
	}
	if m.Type != "location" || m.Topic != (Topic{"owntracks", "alice", "phone", ""}) {
		t.Errorf("type %q topic %+v", m.Type, m.Topic)
	}
	if got := m.Location.Time(); !got.Equal(time.Date(2024, 6, 10, 6, 13, 20, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("Time() = %v", got)
	}
}

func TestDecodeLenientNumbers(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone", `{"_type":"location","lat":"52.5","lon":"13.4","tst":"1718000000.9","batt":57.0,"acc":12.5,"vel":-1,"p":"101.25","alt":null}`)
	l := m.Location
	if l.Lat != 52.5 || l.Tst != 1718000000 || l.Batt != 57 || l.Acc != 13 || l.Vel != -1 || l.Pressure != 101.25 || l.Alt != 0 {
		t.Errorf("got %+v", l)
	}
}

func TestDecodeEmptyLists(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone", `{"_type":"location","lat":1,"lon":2,"tst":3,"inregions":[],"inrids":null}`)
	if m.Location.InRegions == nil || len(m.Location.InRegions) != 0 || m.Location.InRIDs != nil {
		t.Errorf("inregions %#v inrids %#v: [] should stay an empty list, null absent", m.Location.InRegions, m.Location.InRIDs)
	}
}

func TestDecodeHostileKeptVerbatim(t *testing.T) {
	m := mustDecode(t, "owntracks/<img src=x onerror=alert(1)>/phone/info", `{"_type":"card","tid":"<b>","name":"<script>alert(1)</script>"}`)
	if m.Topic.User != "<img src=x onerror=alert(1)>" || m.Card.Name != "<script>alert(1)</script>" || m.Card.TID != "<b>" {
		t.Errorf("got %+v %+v", m.Topic, m.Card)
	}
}

func TestDecodeIdentityFromTopicOnly(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone", `{"_type":"location","lat":1,"lon":2,"tst":3,"tid":"mb","topic":"owntracks/mallory/phone"}`)
	if m.Topic.User != "alice" || m.Topic.Device != "phone" {
		t.Errorf("topic %+v", m.Topic)
	}
}

func TestDecodeTransitionMembers(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone/event", docTransition)
	want := &Transition{Event: "leave", Desc: "Home", RID: "9f3e21", Wtst: 1700000000, Tst: 1718003600,
		Lat: 48.1371, Lon: 11.5754, Acc: 20, Trigger: "c", TID: "bb"}
	if !reflect.DeepEqual(m.Transition, want) {
		t.Errorf("got  %+v\nwant %+v", m.Transition, want)
	}
	if m.Topic.Suffix != "event" {
		t.Errorf("suffix %q", m.Topic.Suffix)
	}
}

func TestDecodeWaypoints(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone/waypoints", `{"_type":"waypoints","waypoints":[`+docWaypoint+`,{"_type":"waypoint","desc":"Home","lat":52.3,"lon":4.9,"rad":"50","tst":"1700000000"}]}`)
	want := []Waypoint{
		{Desc: "Gym", Lat: 51.5072, Lon: -0.1276, Rad: 75, Tst: 1712000000, RID: "c0ffee"},
		{Desc: "Home", Lat: 52.3, Lon: 4.9, Rad: 50, Tst: 1700000000},
	}
	if !reflect.DeepEqual(m.Waypoints, want) {
		t.Errorf("got  %+v\nwant %+v", m.Waypoints, want)
	}
	m = mustDecode(t, "owntracks/alice/phone/waypoints", `{"_type":"waypoints","waypoints":[]}`)
	if m.Waypoints == nil || len(m.Waypoints) != 0 {
		t.Errorf("empty export: %#v", m.Waypoints)
	}
}

func TestDecodeCardFace(t *testing.T) {
	tests := []struct {
		name, face         string
		wantType, wantWhy  string
		wantFaceKeptAsSent bool
	}{
		{"png", pngFace, "image/png", "", true},
		{"jpeg", jpegFace, "image/jpeg", "", true},
		{"png unpadded", strings.TrimRight(pngFace, "="), "image/png", "", true},
		{"png wrapped", pngFace[:20] + `\n` + pngFace[20:], "image/png", "", true},
		{"none", "", "", "", false},
		{"not base64", "iVBO*w0KGgo=", "", "face is not base64: illegal byte 0x2a at offset 4", false},
		{"data URI", "data:image/png;base64," + pngFace, "", "face is not base64: illegal byte 0x3a at offset 4", false},
		{"svg", "PHN2Zz4=", "", "face is not a PNG or JPEG image", false},
		{"far too big", strings.Repeat("A", 700000), "", "face is about 525000 bytes, limit 262144", false},
		{"too big", "iVBORw0KGgo" + strings.Repeat("A", 400000) + "=", "", "face is 300008 bytes, limit 262144", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := `{"_type":"card","tid":"am","name":"Anna","face":"` + tt.face + `"}`
			d := testDecoder
			d.MaxPayload = -1
			m, err := d.Decode("owntracks/alice/phone/info", []byte(payload))
			if err != nil {
				t.Fatal(err)
			}
			c := m.Card
			if c.Name != "Anna" || c.FaceType != tt.wantType || c.FaceInvalid != tt.wantWhy {
				t.Errorf("got %q %q %q", c.Name, c.FaceType, c.FaceInvalid)
			}
			if tt.wantFaceKeptAsSent {
				var sent string
				_ = json.Unmarshal([]byte(`"`+tt.face+`"`), &sent)
				if c.Face != sent {
					t.Errorf("face not kept as sent")
				}
				if img := c.FaceBytes(); !bytes.HasPrefix(img, pngMagic) && !bytes.HasPrefix(img, jpegMagic) {
					t.Errorf("FaceBytes() = %.8q", img)
				}
			} else if c.Face != "" || c.FaceBytes() != nil {
				t.Errorf("face %q kept", c.Face)
			}
		})
	}
}

func TestDecodeRawMembers(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone/status", `{"_type":"status","_id":"6a4b","android":{"hib":1},"iOS":null}`)
	if m.Status.ID != "6a4b" || string(m.Status.Android) != `{"hib":1}` || m.Status.IOS != nil {
		t.Errorf("status %+v", m.Status)
	}
	m = mustDecode(t, "owntracks/alice/phone/cmd", " "+docCmd+"\n")
	if m.Cmd.Action != "setWaypoints" || string(m.Cmd.Raw) != docCmd {
		t.Errorf("cmd %+v", m.Cmd)
	}
	m = mustDecode(t, "owntracks/alice/phone/request", `{"_type":"request","request":"untour","uuid":"x-1"}`)
	if !reflect.DeepEqual(*m.Request, Request{Request: "untour", UUID: "x-1"}) {
		t.Errorf("request %+v", m.Request)
	}
}

// The raw members must not share memory between decodes, although the
// scratch struct they are decoded into is reused.
func TestDecodeRawMembersNotShared(t *testing.T) {
	a := mustDecode(t, "owntracks/alice/phone/status", `{"_type":"status","android":{"hib":1}}`)
	for range 100 {
		mustDecode(t, "owntracks/alice/phone/status", `{"_type":"status","android":{"hib":2}}`)
	}
	if string(a.Status.Android) != `{"hib":1}` {
		t.Errorf("first status now %s", a.Status.Android)
	}
}

func TestDecodeEncrypted(t *testing.T) {
	m := mustDecode(t, "owntracks/alice/phone", string(sealed("s3cr3t-alice", docLocation)))
	if !m.Decrypted || m.Kind != KindLocation || m.Type != "location" || string(m.Plaintext) != docLocation || m.Location.TID != "am" {
		t.Errorf("got %+v", m)
	}
	// Without keys, the message is known to be encrypted and no more.
	m, err := Decode("owntracks/alice/phone", sealed("s3cr3t-alice", docLocation), nil)
	if reasonOf(t, err) != "encrypted, no key for alice/phone" || m.Kind != KindEncrypted || m.Decrypted {
		t.Errorf("nil keys: %+v %v", m, err)
	}
}

func TestDecodeStandsInForClock(t *testing.T) {
	future := []byte(`{"_type":"location","lat":1,"lon":2,"tst":2000000000}`)
	// A zero now disables the future check (replays without a receive time).
	if _, err := testDecoder.DecodeAt("owntracks/a/b", future, time.Time{}); err != nil {
		t.Errorf("zero now: %v", err)
	}
	// Decode uses the wall clock when Now is nil: today is before 2033.
	if _, err := Decode("owntracks/a/b", future, nil); time.Now().Before(time.Unix(2000000000-86400, 0)) && err == nil {
		t.Error("year-2033 tst accepted by the wall clock")
	}
	if _, err := Decode("owntracks/a/b", []byte(minLocation), nil); err != nil {
		t.Errorf("wall clock: %v", err)
	}
}

func TestDecoderOptions(t *testing.T) {
	big := []byte(`{"_type":"lwt","pad":"` + strings.Repeat("x", 600<<10) + `"}`)
	if _, err := (Decoder{MaxPayload: -1}).Decode("owntracks/a/b", big); err != nil {
		t.Errorf("no limit: %v", err)
	}
	if _, err := (Decoder{MaxPayload: 10}).Decode("owntracks/a/b", []byte(docLWT)); reasonOf(t, err) != "payload is 32 bytes, limit 10" {
		t.Errorf("limit 10: %v", err)
	}
	if m, err := (Decoder{Root: AnyRoot}).Decode("tracks/a/b", []byte(docLWT)); err != nil || m.Topic.Root != "tracks" {
		t.Errorf("any root: %+v %v", m.Topic, err)
	}
	if _, err := (Decoder{Root: "tracks"}).Decode("owntracks/a/b", []byte(docLWT)); reasonOf(t, err) != `topic root is "owntracks", want "tracks"` {
		t.Errorf("root tracks: %v", err)
	}
}

func TestSecrets(t *testing.T) {
	s := Secrets{Default: "dflt", PerUser: map[string]string{
		"alice":       "alice-all",
		"Alice/Phone": "alice-phone",
		"bob":         "",
		"Carol":       "carol-upper",
		"carol":       "carol-lower",
	}}
	tests := []struct {
		user, device string
		want         string // "" for no key
	}{
		{"alice", "phone", "alice-phone"}, // device entry beats user entry, case-insensitively
		{"ALICE", "tablet", "alice-all"},
		{"bob", "phone", ""}, // explicit empty secret: no fallback to Default
		{"dave", "phone", "dflt"},
		{"CAROL", "x", "carol-upper"}, // ambiguous: the smallest key wins, not map order
		{"carol", "x", "carol-lower"}, // exact match first
	}
	for _, tt := range tests {
		key, ok := s.Key(tt.user, tt.device)
		switch {
		case tt.want == "" && (ok || key != nil):
			t.Errorf("%s/%s: got a key", tt.user, tt.device)
		case tt.want != "" && (!ok || *key != *KeyFromSecret(tt.want)):
			t.Errorf("%s/%s: want the key of %q", tt.user, tt.device, tt.want)
		}
	}
	if _, ok := (Secrets{}).Key("a", "b"); ok {
		t.Error("zero Secrets has a key")
	}
}

func TestKeyFromSecret(t *testing.T) {
	k := KeyFromSecret("abc")
	if string(k[:3]) != "abc" || *k != [32]byte{'a', 'b', 'c'} {
		t.Errorf("short secret: %q", k[:])
	}
	long := strings.Repeat("0123456789", 4)
	if *KeyFromSecret(long) != *KeyFromSecret(long[:32]) {
		t.Error("bytes after 32 counted")
	}
	// Multi-byte UTF-8 is copied byte for byte, even when cut at 32.
	if k := KeyFromSecret(strings.Repeat("é", 20)); string(k[:2]) != "é" || string(k[30:]) != "é" {
		t.Errorf("utf-8 secret: %x", k[:])
	}
	// A long secret works end to end when both sides use it.
	d := Decoder{Keys: Secrets{Default: long}}
	if m, err := d.Decode("owntracks/x/y", sealed(long, minLocation)); err != nil || !m.Decrypted {
		t.Errorf("long secret: %v", err)
	}
}

// TestInvalidCategory: an invalid message says its kind of problem
// itself, without the values, so counters group by it without parsing
// the reason; other errors are shortened the same way.
func TestInvalidCategory(t *testing.T) {
	tests := []struct {
		name, topic, payload, want string
	}{
		{"out of range", "owntracks/alice/phone", `{"_type":"location","lat":91.2,"lon":4,"tst":1700000000}`, "lat out of range"},
		{"unknown type", "owntracks/alice/phone", `{"_type":"weather"}`, "unknown _type"},
		{"oversize", "owntracks/alice/phone", `{"_type":"location","pad":"` + strings.Repeat("x", DefaultMaxPayload) + `"}`, "payload is"},
		{"topic", "owntracks/alice", `{}`, "topic has"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decoder{}.DecodeAt(tt.topic, []byte(tt.payload), time.Unix(1700000000, 0))
			inv, ok := errors.AsType[*Invalid](err)
			if !ok {
				t.Fatalf("error %v is not an *Invalid", err)
			}
			if got := inv.Category(); got != tt.want {
				t.Errorf("Category() = %q, want %q (reason %q)", got, tt.want, inv.Reason)
			}
			if got := Category(err); got != tt.want {
				t.Errorf("Category(err) = %q, want %q", got, tt.want)
			}
		})
	}
	if got := Category(fmt.Errorf("user command: name %q taken", "bob")); got != "user command" {
		t.Errorf("Category(other error) = %q, want %q", got, "user command")
	}
}
