package owntracks

import (
	"testing"
)

func TestParseTopic(t *testing.T) {
	tests := []struct {
		name, topic string
		root        string // Decoder.Root
		want        Topic
		reason      string
	}{
		{"base", "owntracks/alice/phone", "", Topic{"owntracks", "alice", "phone", ""}, ""},
		{"event", "owntracks/alice/phone/event", "", Topic{"owntracks", "alice", "phone", "event"}, ""},
		{"extra levels", "owntracks/alice/phone/a/b", "", Topic{"owntracks", "alice", "phone", "a/b"}, ""},
		{"leading slash", "/owntracks/alice/phone/info", "", Topic{"owntracks", "alice", "phone", "info"}, ""},
		{"case kept", "owntracks/Alice/iPhone", "", Topic{"owntracks", "Alice", "iPhone", ""}, ""},
		{"spaces and unicode", "owntracks/Zoë M/Pixel 8 ☎", "", Topic{"owntracks", "Zoë M", "Pixel 8 ☎", ""}, ""},
		{"markup", `owntracks/<b onmouseover="x">/'&`, "", Topic{"owntracks", `<b onmouseover="x">`, "'&", ""}, ""},
		{"other root", "tracks/alice/phone", "tracks", Topic{"tracks", "alice", "phone", ""}, ""},
		{"any root", "x/alice/phone", AnyRoot, Topic{"x", "alice", "phone", ""}, ""},
		{"root case matters", "OwnTracks/alice/phone", "", Topic{}, `topic root is "OwnTracks", want "owntracks"`},
		{"foreign root", "foo/alice/phone", "", Topic{}, `topic root is "foo", want "owntracks"`},
		{"two leading slashes", "//owntracks/alice/phone", "", Topic{}, `topic root is "", want "owntracks"`},
		{"empty root, any root", "//alice/phone", AnyRoot, Topic{}, "topic level 1 (root) is empty"},
		{"empty", "", "", Topic{}, "topic is empty"},
		{"slash", "/", "", Topic{}, "topic has 1 level, need at least 3"},
		{"two levels", "owntracks/alice", "", Topic{}, "topic has 2 levels, need at least 3"},
		{"two levels slash", "/owntracks/alice", "", Topic{}, "topic has 2 levels, need at least 3"},
		{"empty user", "owntracks//phone", "", Topic{}, "topic level 2 (user) is empty"},
		{"empty device", "owntracks/alice/", "", Topic{}, "topic level 3 (device) is empty"},
		{"empty level 4", "owntracks/alice/phone/", "", Topic{}, "topic level 4 is empty"},
		{"empty level 6", "owntracks/alice/phone/a/b/", "", Topic{}, "topic level 6 is empty"},
		{"plus", "owntracks/alice/+", "", Topic{}, `topic contains the wildcard "+"`},
		{"hash", "owntracks/#", "", Topic{}, `topic contains the wildcard "#"`},
		{"NUL", "owntracks/a\x00/b", "", Topic{}, "topic contains a NUL character"},
		{"invalid UTF-8", "owntracks/\xc3/b", "", Topic{}, "topic is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decoder{Root: tt.root}.ParseTopic(tt.topic)
			if reason := reasonOf(t, err); reason != tt.reason {
				t.Errorf("reason = %q, want %q", reason, tt.reason)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if tt.root == "" {
				got2, err2 := ParseTopic(tt.topic)
				if got2 != got || reasonOf(t, err2) != tt.reason {
					t.Errorf("ParseTopic differs from Decoder{}.ParseTopic")
				}
			}
		})
	}
}

func TestTopicString(t *testing.T) {
	for _, s := range []string{"owntracks/a/b", "owntracks/a/b/event", "owntracks/a/b/c/d"} {
		tp, err := ParseTopic("/" + s)
		if err != nil || tp.String() != s {
			t.Errorf("%q: %q %v", s, tp.String(), err)
		}
	}
}
