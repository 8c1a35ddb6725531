package projections_test

import (
	"strings"
	"testing"
	"time"

	"tracker/projections"
)

// FuzzParseShareToken: whatever a URL holds, the parser accepts only
// 26 characters of A–Z and 2–7, and never panics.
func FuzzParseShareToken(f *testing.F) {
	for _, s := range []string{"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXY1", "../../../../etc/passwd....."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := projections.ParseShareToken(s)
		if err != nil {
			return
		}
		if tok != s || len(tok) != projections.ShareTokenLen || strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
			t.Fatalf("accepted %q", s)
		}
	})
}

// FuzzParseShareFor: a duration is accepted only within the limits.
func FuzzParseShareFor(f *testing.F) {
	for _, s := range []string{"1h", "90m", "2d", "7d", "8d", "0s", "-1h", "1h30m", "99999999999999h", "d", "1.5d", " 1h "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := projections.ParseShareFor(s)
		if err != nil {
			return
		}
		if d < projections.MinShareFor || d > projections.MaxShareFor || d%time.Nanosecond != 0 {
			t.Fatalf("%q gave %v", s, d)
		}
	})
}

func TestParseShareFor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1h", time.Hour, true}, {"90m", 90 * time.Minute, true}, {"2d", 48 * time.Hour, true}, {"7d", 7 * 24 * time.Hour, true},
		{"8d", 0, false}, {"30s", 0, false}, {"-1h", 0, false}, {"", 0, false}, {"1w", 0, false}, {"1h;rm", 0, false}, {"169h", 0, false},
	} {
		got, err := projections.ParseShareFor(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShareFor(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
