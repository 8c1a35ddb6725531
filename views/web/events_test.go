package web_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// lineJSON is one line of the event stream (`tracker log --json`).
type lineJSON struct {
	Seq         uint64    `json:"seq"`
	ReceivedAt  time.Time `json:"received_at"`
	Topic       string    `json:"topic"`
	Source      string    `json:"source"`
	QoS         byte      `json:"qos"`
	Retained    bool      `json:"retained"`
	Dup         bool      `json:"dup"`
	DuplicateOf uint64    `json:"duplicate_of"`
	Kind        string    `json:"kind"`
	User        string    `json:"user"`
	Device      string    `json:"device"`
	Invalid     string    `json:"invalid"`
	Payload     *string   `json:"payload"`
	PayloadB64  string    `json:"payload_b64"`
}

// parseLines reads a JSON-lines body; every line must be one object with
// the documented fields.
func parseLines(t *testing.T, body []byte) []lineJSON {
	t.Helper()
	var out []lineJSON
	for i, l := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			if len(body) == 0 {
				break
			}
			t.Fatalf("line %d is empty", i+1)
		}
		requireKeys(t, fmt.Sprintf("line %d", i+1), l, "seq", "received_at", "topic", "source", "qos", "retained", "dup", "kind", "user", "device", "invalid", "payload")
		out = append(out, decode[lineJSON](t, l))
	}
	return out
}

func seqsOf(ls []lineJSON) []uint64 {
	out := []uint64{}
	for _, l := range ls {
		out = append(out, l.Seq)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	out := []uint64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// wantSeqs checks that the stream holds exactly the events from..to
// (to 0: the head) and that X-Log-Head names the head.
func wantSeqs(from, to uint64) func(*testing.T, *stack, *http.Response, []byte) {
	return func(t *testing.T, st *stack, res *http.Response, body []byte) {
		t.Helper()
		head := st.log.Head()
		if to == 0 {
			to = head
		}
		if got := res.Header.Get("X-Log-Head"); got != strconv.FormatUint(head, 10) {
			t.Errorf("X-Log-Head = %q, want %d", got, head)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("Content-Type = %q", ct)
		}
		if got, want := seqsOf(parseLines(t, body)), seqRange(from, to); !slices.Equal(got, want) {
			t.Errorf("seqs %v, want %v", got, want)
		}
	}
}

// eventCases read the event log of an unchanged fixture.
var eventCases = []reqCase{
	{
		name: "events: the whole log, each event described", method: "GET", path: "/api/v1/events", code: 200,
		check: func(t *testing.T, st *stack, res *http.Response, body []byte) {
			wantSeqs(1, 0)(t, st, res, body)
			ls := parseLines(t, body)
			fix := fixtureEvents()
			if len(ls) != len(fix)+1 {
				t.Fatalf("%d lines, want %d fixture events and HQ", len(ls), len(fix)+1)
			}
			for i, e := range fix {
				l := ls[i]
				if l.Topic != e.Topic || l.Payload == nil || *l.Payload != string(e.Payload) || !l.ReceivedAt.Equal(e.Received) ||
					l.Source != "embedded" || l.QoS != 1 || l.User == "" || l.Device == "" || l.Kind == "" {
					t.Errorf("line %d = %+v, want event %+v", i+1, l, e)
				}
			}
			first := ls[0]
			if first.Kind != "location" || first.User != "alice" || first.Device != "phone" || first.Invalid != "" {
				t.Errorf("first line = %+v", first)
			}
			var bad []string
			for _, l := range ls {
				if l.Invalid != "" && l.Source != "admin" {
					bad = append(bad, l.Kind+": "+l.Invalid)
				}
			}
			if want := []string{"location: lat out of range: 91.2"}; !slices.Equal(bad, want) {
				t.Errorf("invalid phone events %q, want %q", bad, want)
			}
			if last := ls[len(ls)-1]; last.Source != "admin" || last.Topic != "tracker/admin/area" || !last.ReceivedAt.Equal(clockNow) {
				t.Errorf("last line = %+v, want the admin event defining HQ at the clock's time", last)
			}
		},
	},
	{name: "events: from and limit", method: "GET", path: "/api/v1/events?from=3&limit=2", code: 200, check: wantSeqs(3, 4)},
	{name: "events: limit alone", method: "GET", path: "/api/v1/events?limit=1", code: 200, check: wantSeqs(1, 1)},
	{name: "events: limit 0 means no limit", method: "GET", path: "/api/v1/events?from=70&limit=0", code: 200, check: wantSeqs(70, 0)},
	{name: "events: from 0 is from the start", method: "GET", path: "/api/v1/events?from=0&limit=3", code: 200, check: wantSeqs(1, 3)},
	{name: "events: from beyond the head is empty", method: "GET", path: "/api/v1/events?from=100000", code: 200, check: wantSeqs(100000, 99999)},
	{name: "events: from is not a number", method: "GET", path: "/api/v1/events?from=abc", code: 400,
		errMsg: `from: "abc" is not a non-negative whole number`},
	{name: "events: from is negative", method: "GET", path: "/api/v1/events?from=-1", code: 400,
		errMsg: `from: "-1" is not a non-negative whole number`},
	{name: "events: limit is not a number", method: "GET", path: "/api/v1/events?from=1&limit=ten", code: 400,
		errMsg: `limit: "ten" is not a non-negative whole number`},
}

func TestEventsAPI(t *testing.T) {
	st := newStack(t)
	for _, c := range eventCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, st) })
	}
}

// followCase is the streaming request TestFollow makes (with &from=).
var followCase = reqCase{name: "events: follow", method: "GET", path: "/api/v1/events?follow=1", code: 200}

// TestFollow: ?follow=1 sends what is there, then each new event as it is
// appended, until the client goes away.
func TestFollow(t *testing.T) {
	st := newStack(t)
	head := st.log.Head()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, followCase.method, fmt.Sprintf("%s%s&from=%d", st.srv.URL, followCase.path, head), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != followCase.code || res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
	}
	lines := make(chan []byte)
	readerDone := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			select {
			case lines <- bytes.Clone(sc.Bytes()):
			case <-ctx.Done():
			}
		}
		readerDone <- sc.Err()
	}()
	next := func() lineJSON {
		t.Helper()
		select {
		case l := <-lines:
			return decode[lineJSON](t, l)
		case err := <-readerDone:
			t.Fatalf("stream ended: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no line within 10 s")
		}
		return lineJSON{}
	}
	if l := next(); l.Seq != head {
		t.Fatalf("first line is seq %d, want %d (the head)", l.Seq, head)
	}
	e := ev("owntracks/bob/tablet", clockNow.Add(time.Minute), string(locationPayload("bt", home, clockNow.Unix())))
	seq, err := st.log.Append(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if l := next(); l.Seq != seq || l.Topic != e.Topic || l.Payload == nil || *l.Payload != string(e.Payload) || l.Kind != "location" {
		t.Fatalf("streamed %+v, want the appended event %d", l, seq)
	}
	// The client goes away: the handler must end, so the server can close
	// at once (httptest.Server.Close waits for running handlers).
	cancel()
	<-readerDone
	start := time.Now()
	st.srv.Close()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("server took %v to close after the client left: the follow handler kept running", took)
	}
}

// healthCases: health and what the auditor counted.
var healthCases = []reqCase{
	{
		name: "healthz: ok with the log head", method: "GET", path: "/healthz", code: 200,
		check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
			requireKeys(t, "health", body, "status", "ingest", "connected", "log_head")
			got := decode[struct {
				Status    string `json:"status"`
				Ingest    string `json:"ingest"`
				Connected bool   `json:"connected"`
				Head      uint64 `json:"log_head"`
			}](t, body)
			if got.Status != "ok" || got.Ingest != "test" || !got.Connected || got.Head != st.log.Head() || got.Head == 0 {
				t.Errorf("health = %+v, want ok, connected, head %d", got, st.log.Head())
			}
		},
	},
	{
		name: "healthz: 503 while ingest is disconnected", method: "GET", path: "/healthz", code: 503,
		before: func(t *testing.T, st *stack) {
			st.ingest.down.Store(true)
			t.Cleanup(func() { st.ingest.down.Store(false) })
		},
		check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
			got := decode[struct {
				Status    string `json:"status"`
				Connected bool   `json:"connected"`
				Head      uint64 `json:"log_head"`
			}](t, body)
			if got.Status != "ingest disconnected" || got.Connected || got.Head != st.log.Head() {
				t.Errorf("health = %+v", got)
			}
		},
	},
	{
		name: "stats: counts by kind and invalid by reason", method: "GET", path: "/api/v1/stats", code: 200,
		check: func(t *testing.T, st *stack, _ *http.Response, body []byte) {
			requireKeys(t, "stats", body, "events", "invalid", "duplicates", "by_kind", "invalid_by_reason", "last_seq")
			got := decode[struct {
				Events     uint64            `json:"events"`
				Invalid    uint64            `json:"invalid"`
				Duplicates uint64            `json:"duplicates"`
				ByKind     map[string]uint64 `json:"by_kind"`
				ByReason   map[string]uint64 `json:"invalid_by_reason"`
				LastSeq    uint64            `json:"last_seq"`
			}](t, body)
			head := st.log.Head()
			// 49 fixes of alice (one yesterday, one late), 20 of bob, one of
			// the odd friend, one broken.
			wantKinds := map[string]uint64{"location": 71, "transition": 3, "waypoint": 2, "card": 1}
			for k, n := range wantKinds {
				if got.ByKind[k] != n {
					t.Errorf("by_kind[%s] = %d, want %d (all: %v)", k, got.ByKind[k], n, got.ByKind)
				}
			}
			if got.Events != head || got.LastSeq != head || got.Duplicates != 0 || got.ByReason["lat out of range"] != 1 {
				t.Errorf("stats = %+v, want %d events, no duplicates, one \"lat out of range\"", got, head)
			}
			// The admin event defining HQ is decoded as if it were an
			// OwnTracks message and so also counted as invalid (see the
			// report); only the phone's broken fix is asserted here.
		},
	},
}

func TestHealthAndStats(t *testing.T) {
	st := newStack(t)
	// The auditor follows the log on its own; wait until it has seen it all.
	deadline := time.Now().Add(10 * time.Second)
	for st.audit.Counts().LastSeq < st.log.Head() {
		if time.Now().After(deadline) {
			t.Fatalf("auditor at %d, log at %d", st.audit.Counts().LastSeq, st.log.Head())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, c := range healthCases {
		t.Run(c.name, func(t *testing.T) { c.run(t, st) })
	}
}
