package views

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"tracker/events/eventjson"
	"tracker/projections"
)

func TestLogFilterMatch(t *testing.T) {
	loc := eventjson.Line{User: "bob", Kind: "location"}
	bad := eventjson.Line{User: "bob", Kind: "location", Invalid: "lat: 91.2 is out of range"}
	tests := []struct {
		name   string
		filter LogFilter
		line   eventjson.Line
		want   bool
	}{
		{"no filter", LogFilter{}, loc, true},
		{"user", LogFilter{User: "bob"}, loc, true},
		{"other user", LogFilter{User: "bo"}, loc, false},
		{"kind", LogFilter{Kind: "location"}, loc, true},
		{"other kind", LogFilter{Kind: "card"}, loc, false},
		{"invalid: valid event", LogFilter{Kind: "invalid"}, loc, false},
		{"invalid: any kind", LogFilter{Kind: "invalid"}, bad, true},
		{"user and kind", LogFilter{User: "bob", Kind: "invalid"}, bad, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.filter.Match(&tc.line); got != tc.want {
				t.Errorf("Match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMakeLogRowPayload(t *testing.T) {
	text := func(s string) eventjson.Line { return eventjson.Line{Payload: &s} }
	bin := func(b []byte) eventjson.Line { return eventjson.Line{PayloadB64: base64.StdEncoding.EncodeToString(b)} }
	big := strings.Repeat("a", LogPayloadMax-1) + "é" + "tail" // é straddles the cut
	tests := []struct {
		name      string
		line      eventjson.Line
		payload   string
		base64    bool
		size      int
		truncated bool
	}{
		{"text", text(`{"_type":"location"}`), `{"_type":"location"}`, false, 20, false},
		{"empty", text(""), "", false, 0, false},
		{"text at the limit", text(strings.Repeat("a", LogPayloadMax)), strings.Repeat("a", LogPayloadMax), false, LogPayloadMax, false},
		{"text cut at a rune boundary", text(big), strings.Repeat("a", LogPayloadMax-1), false, len(big), true},
		{"binary", bin([]byte{0xff, 0, 0xfe}), "/wD+", true, 3, false},
		{"binary cut", bin(make([]byte, LogPayloadMax+10)), base64.StdEncoding.EncodeToString(make([]byte, LogPayloadMax)), true, LogPayloadMax + 10, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := MakeLogRow(tc.line)
			if r.Payload != tc.payload || r.Base64 != tc.base64 || r.Size != tc.size || r.Truncated != tc.truncated {
				t.Errorf("got %d bytes base64=%v size=%d truncated=%v; want %d bytes base64=%v size=%d truncated=%v",
					len(r.Payload), r.Base64, r.Size, r.Truncated, len(tc.payload), tc.base64, tc.size, tc.truncated)
			}
		})
	}
}

func TestHistoryPaging(t *testing.T) {
	now := time.Date(2026, 3, 10, 18, 0, 0, 0, time.UTC)
	from := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		page, n, rows, pages, first int
	}{
		{1, 0, 0, 1, 1},
		{1, 250, 100, 3, 1},
		{2, 250, 100, 3, 101},
		{3, 250, 50, 3, 201},
		{4, 250, 0, 3, 301},
		{1, 100, 100, 1, 1},
	} {
		h := BuildHistory(Page{Now: now}, projections.FriendView{}, from, from.AddDate(0, 0, 1))
		h.PageNo = tc.page
		for i := range tc.n {
			h.AddPoint(projections.Point{Tst: from.Unix() + int64(i)}, nil)
		}
		if len(h.Points) != tc.rows || h.Pages() != tc.pages || h.FirstRow() != tc.first || h.Count != tc.n {
			t.Errorf("page %d of %d points: %d rows, %d pages, first row %d", tc.page, tc.n, len(h.Points), h.Pages(), h.FirstRow())
		}
		if tc.rows > 0 && h.Points[0].Tst != from.Unix()+int64(tc.first-1) {
			t.Errorf("page %d starts at tst %d", tc.page, h.Points[0].Tst)
		}
		if !h.Live() {
			t.Error("today includes now")
		}
	}
}

func TestAreaTimeText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		20 * time.Second:              "under a minute",
		40 * time.Second:              "1 min",
		59 * time.Minute:              "59 min",
		3*time.Hour + 5*time.Minute:   "3 h 05 min",
		26*time.Hour + 30*time.Minute: "26 h 30 min",
	} {
		if got := AreaTimeText(d); got != want {
			t.Errorf("AreaTimeText(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestAreaTimeRowsOnePlace: the server's Home and a phone's " home " are
// one place in the stats, credited with the longer of their times.
func TestAreaTimeRowsOnePlace(t *testing.T) {
	h := History{TimeInAreas: []projections.AreaTime{
		{Area: "srv:1", Name: "Home", Time: 6 * time.Minute},
		{Area: "phone:a/p:home", Name: " home ", Time: 9 * time.Minute},
		{Area: "srv:2", Name: "Office", Time: 2 * time.Minute},
	}}
	got := h.AreaTimeRows()
	want := []NameValue{{"Home", AreaTimeText(9 * time.Minute)}, {"Office", AreaTimeText(2 * time.Minute)}}
	if !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// TestNamesOfTwins: two friends called Boss are told apart wherever
// places and the feed name them; a unique name stays as it is.
func TestNamesOfTwins(t *testing.T) {
	fs := []projections.FriendView{
		{Friend: projections.Friend{ID: "dan/phone", User: "dan", Device: "phone", Name: "Boss"}},
		{Friend: projections.Friend{ID: "eve/phone", User: "eve", Device: "phone", Name: "boss"}},
		{Friend: projections.Friend{ID: "ann/phone", User: "ann", Device: "phone", Name: "Ann"}},
	}
	got := NamesOf(fs)
	want := map[projections.DeviceID]string{"dan/phone": "Boss (dan/phone)", "eve/phone": "boss (eve/phone)", "ann/phone": "Ann"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
}
