package owntracks

import (
	"strings"
	"unicode/utf8"
)

// DefaultRoot is the first topic level the OwnTracks apps publish under
// unless reconfigured (pubTopicBase "owntracks/%u/%d").
const DefaultRoot = "owntracks"

// AnyRoot, as Decoder.Root, accepts any first topic level, like the MQTT
// single-level wildcard it is spelled as.
const AnyRoot = "+"

// Topic is an OwnTracks topic split into its parts.
//
// User and Device keep their case exactly as published: "Alice" and
// "alice" are different topics to the broker, and this package only
// reports what arrived. Whether to merge them (the Recorder lower-cases
// both for its file names) is a decision for the projections.
type Topic struct {
	Root   string // first level, normally "owntracks"
	User   string // second level
	Device string // third level
	Suffix string // the levels after the device joined with "/"; "" for the base topic
}

// String reassembles the topic (without any leading "/" it arrived with).
func (t Topic) String() string {
	s := t.Root + "/" + t.User + "/" + t.Device
	if t.Suffix != "" {
		s += "/" + t.Suffix
	}
	return s
}

// ParseTopic splits topic into root, user, device and suffix and requires
// the root "owntracks". Use Decoder.ParseTopic for another root. Errors
// are *Invalid.
func ParseTopic(topic string) (Topic, error) {
	return parseTopic(topic, DefaultRoot)
}

// ParseTopic is ParseTopic with the decoder's root (see Decoder.Root).
func (d Decoder) ParseTopic(topic string) (Topic, error) {
	root := d.Root
	if root == "" {
		root = DefaultRoot
	}
	return parseTopic(topic, root)
}

func parseTopic(topic, root string) (Topic, error) {
	var t Topic
	if topic == "" {
		return t, invalid("", "topic is empty")
	}
	if !utf8.ValidString(topic) {
		return t, invalid("", "topic is not valid UTF-8")
	}
	// MQTT forbids these in topic names; a broker would not have routed
	// such a publish, so whatever produced it (HTTP headers, an import)
	// is wrong, and a user called "+" would be a wildcard in every
	// subscription built from it.
	if i := strings.IndexAny(topic, "+#\x00"); i >= 0 {
		if topic[i] == 0 {
			return t, invalid("", "topic contains a NUL character")
		}
		return t, invalid("", "topic contains the wildcard %q", topic[i:i+1])
	}
	// The Recorder tolerates a leading "/" (some clients publish
	// "/owntracks/u/d"), so do we; only one, so "//x/u/d" still has an
	// empty root.
	s := strings.TrimPrefix(topic, "/")
	first, rest, ok1 := strings.Cut(s, "/")
	user, rest, ok2 := strings.Cut(rest, "/")
	if !ok2 {
		n := 1
		if ok1 {
			n = 2
		}
		return t, invalid("", "topic has %d %s, need at least 3", n, plural(n, "level", "levels"))
	}
	device, suffix, hasSuffix := strings.Cut(rest, "/")
	t = Topic{Root: first, User: user, Device: device, Suffix: suffix}
	if root != AnyRoot && t.Root != root {
		return Topic{}, invalid("", "topic root is %q, want %q", t.Root, root)
	}
	if t.Root == "" {
		return Topic{}, invalid("", "topic level 1 (root) is empty")
	}
	if t.User == "" {
		return Topic{}, invalid("", "topic level 2 (user) is empty")
	}
	if t.Device == "" {
		return Topic{}, invalid("", "topic level 3 (device) is empty")
	}
	// An empty level inside the suffix would make "a//b" and "a/b"
	// different suffixes nobody can tell apart when shown, and a trailing
	// "/" would make "owntracks/u/d/" look like the base topic.
	if hasSuffix {
		level := 3
		for part := range strings.SplitSeq(suffix, "/") {
			level++
			if part == "" {
				return Topic{}, invalid("", "topic level %d is empty", level)
			}
		}
	}
	return t, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
