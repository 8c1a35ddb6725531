package views

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestFormatTime(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 3, 15, 0, 0, 0, la)
	tests := []struct {
		t      time.Time
		format string
		want   string
	}{
		{now.Add(-4 * time.Minute), FmtAgo, "4 min ago"},
		{time.Date(2026, 3, 3, 22, 5, 0, 0, time.UTC), FmtWhen, "14:05"}, // UTC evening is LA's afternoon
		{time.Date(2026, 3, 2, 14, 5, 0, 0, la), FmtWhen, "Mon 2 Mar 14:05"},
		{time.Date(2025, 3, 2, 14, 5, 0, 0, la), FmtWhen, "2 Mar 2025 14:05"},
		{time.Date(2025, 3, 2, 14, 5, 9, 0, la), FmtFull, "Sun 2 Mar 2025 14:05:09"},
		{time.Date(2025, 3, 2, 14, 5, 9, 0, la), FmtDay, "Sun 2 Mar 2025"},
		{time.Date(2025, 3, 2, 14, 5, 9, 0, la), FmtClock, "14:05:09"},
		{time.Date(2025, 3, 2, 14, 5, 9, 0, la), FmtHM, "14:05"},
		{time.Time{}, FmtWhen, "never"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.t, now, tt.format); got != tt.want {
			t.Errorf("FormatTime(%v, %q) = %q, want %q", tt.t, tt.format, got, tt.want)
		}
	}
}

func TestViewerLocation(t *testing.T) {
	for _, tt := range []struct{ cookie, want string }{
		{"", "UTC"},
		{"America/Los_Angeles", "America/Los_Angeles"},
		{"Not/AZone", "UTC"},
		{"../../etc/passwd", "UTC"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.cookie != "" {
			r.Header.Set("Cookie", TZCookie+"="+tt.cookie)
		}
		if got := ViewerLocation(r, time.UTC).String(); got != tt.want {
			t.Errorf("cookie %q: zone %q, want %q", tt.cookie, got, tt.want)
		}
	}
}
