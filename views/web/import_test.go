package web_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventjson"
	"tracker/views/web"
)

func importBody(t *testing.T, gz bool, lines ...string) string {
	t.Helper()
	body := strings.Join(lines, "\n") + "\n"
	if !gz {
		return body
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func importLineJSON(t *testing.T, e events.Event) string {
	t.Helper()
	b, err := json.Marshal(eventjson.Stored(e))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestImportEndpoint: POST /api/v1/admin/import appends import events
// through the log (a second post stores nothing), refuses events that are
// not imports, and stops at a bad line keeping what came before.
func TestImportEndpoint(t *testing.T) {
	st := newStack(t)
	at := time.Date(2019, 3, 1, 12, 0, 0, 0, time.UTC)
	loc := func(i int) events.Event {
		tst := at.Add(time.Duration(i) * time.Minute)
		return events.Event{
			Received: tst, Topic: "owntracks/zoe/phone", Source: events.SourceRecorder,
			Payload: []byte(`{"_type":"location","lat":50.85,"lon":4.35,"tst":` + jsonInt(tst.Unix()) + `,"tid":"zo"}`),
		}
	}
	var lines []string
	for i := range 3 {
		lines = append(lines, importLineJSON(t, loc(i)))
	}
	post := func(body string) (int, web.ImportResult) {
		t.Helper()
		res, b := st.do(t, http.MethodPost, "/api/v1/admin/import", body)
		var r web.ImportResult
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("answer %s: %q", res.Status, b)
		}
		return res.StatusCode, r
	}
	head := st.log.Head()

	tests := []struct {
		name string
		body string
		code int
		want web.ImportResult
	}{
		{"gzip, new", importBody(t, true, lines...), 200, web.ImportResult{Events: 3, Stored: 3, FirstSeq: head + 1, LastSeq: head + 3}},
		{"again: already present", importBody(t, true, lines...), 200, web.ImportResult{Events: 3, AlreadyPresent: 3}},
		{"plain, one new", importBody(t, false, lines[0], importLineJSON(t, loc(3))), 200,
			web.ImportResult{Events: 2, Stored: 1, AlreadyPresent: 1, FirstSeq: head + 4, LastSeq: head + 4}},
		{"not an import", importBody(t, true, importLineJSON(t, loc(4)), strings.Replace(importLineJSON(t, loc(5)), `"import:recorder"`, `"embedded"`, 1)), 400,
			web.ImportResult{Events: 1, Stored: 1, FirstSeq: head + 5, LastSeq: head + 5, Error: `line 2: source "embedded": only imports (import:…) may be posted here`}},
		{"not JSON", importBody(t, false, "{"), 400, web.ImportResult{Error: "line 1: not an event line: unexpected end of JSON input"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, got := post(tc.body)
			if code != tc.code || got != tc.want {
				t.Errorf("answer %d %+v\nwant   %d %+v", code, got, tc.code, tc.want)
			}
		})
	}
	if h := st.log.Head(); h != head+5 {
		t.Errorf("log head %d, want %d", h, head+5)
	}
	e, err := st.log.Get(head + 1)
	if err != nil || !e.Received.Equal(at) || e.Source != events.SourceRecorder || e.Topic != "owntracks/zoe/phone" {
		t.Errorf("stored event %+v, %v", e, err)
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
