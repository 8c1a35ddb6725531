package erasure

import (
	"testing"
	"time"

	"tracker/events"
)

func TestParseKeep(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"365d", 365 * 24 * time.Hour, false},
		{"52w", 52 * 7 * 24 * time.Hour, false},
		{"36h", 36 * time.Hour, false},
		{"forever", 0, false},
		{"", 0, false},
		{"0d", 0, true},
		{"-3d", 0, true},
		{"soon", 0, true},
		{"-1h", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseKeep(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseKeep(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.bad)
		}
		if err == nil && tt.want > 0 {
			if back, _ := ParseKeep(FormatKeep(got)); back != got {
				t.Errorf("FormatKeep(%v) = %q does not read back", got, FormatKeep(got))
			}
		}
	}
}

func TestRuleMatches(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ev := func(topic, source string, received time.Time) *events.Event {
		return &events.Event{Topic: topic, Source: source, Received: received}
	}
	tests := []struct {
		name string
		rule Rule
		e    *events.Event
		want bool
	}{
		{"the user's location", Rule{User: "alice"}, ev("owntracks/alice/phone", events.SourceEmbedded, at), true},
		{"another root, other case", Rule{User: "alice"}, ev("home/Alice/phone/event", events.SourceHTTP, at), true},
		{"the server's command to her phone", Rule{User: "alice"}, ev("owntracks/alice/phone/cmd", events.SourceServer, at), true},
		{"another user", Rule{User: "alice"}, ev("owntracks/alicia/phone", events.SourceEmbedded, at), false},
		{"a definition", Rule{User: "alice"}, ev("owntracks/alice/phone", events.SourceAdmin, at), false},
		{"a placeholder", Rule{User: "alice"}, ev("", events.SourceErased, at), false},
		{"another device", Rule{User: "alice", Device: "tablet"}, ev("owntracks/alice/phone", events.SourceEmbedded, at), false},
		{"before", Rule{User: "alice", Before: at.Add(time.Second)}, ev("owntracks/alice/phone", events.SourceEmbedded, at), true},
		{"not before", Rule{User: "alice", Before: at}, ev("owntracks/alice/phone", events.SourceEmbedded, at), false},
	}
	for _, tt := range tests {
		if got := tt.rule.Matches(tt.e); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, r := range []Rule{{}, {User: "a/b"}, {User: "a", Device: "#"}} {
		if r.Validate() == nil {
			t.Errorf("rule %+v validated", r)
		}
	}
}

func TestPolicyRoundTrip(t *testing.T) {
	e, p, err := NewPolicy("anna", "12w", "adm", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePolicy(e.Payload)
	if err != nil || back.Keep != "84d" || back.User != "anna" || p.ID == "" || e.Topic != RetentionTopic {
		t.Errorf("policy %+v read back as %+v, %v", p, back, err)
	}
	if _, _, err := NewPolicy("anna", "later", "adm", time.Now()); err == nil {
		t.Error("a nonsense period was taken")
	}
}
