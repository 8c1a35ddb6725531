package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventjson"
)

// TestLogThroughServerReadsLargeEvents: `tracker log` through a running
// server prints an event however large its line is. This one is posted
// as a 10 MB import line of "<", which the server's JSON escapes to
// \u003c: a 60 MB line (a line scanner stopped at 16 MB).
func TestLogThroughServerReadsLargeEvents(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, data)
	// 3 MiB of "<" is 19 MB once escaped as \u003c: over the old 16 MB line limit.
	payload := `{"_type":"card","name":"` + strings.Repeat("<", 3<<20) + `"}`
	line := eventjson.Stored(events.Event{Received: time.Now().UTC(), Topic: "owntracks/zoe/phone/info",
		Source: events.SourceImportPrefix + "test", Payload: []byte(payload)})
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(line); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+s.http+"/api/v1/admin/import", "application/x-ndjson", &body)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import: %s %s", resp.Status, answer)
	}

	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"log", "--json", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("tracker log: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "reading through") {
		t.Errorf("tracker log did not read through the server: %s", errOut.String())
	}
	dec := json.NewDecoder(&out)
	var found bool
	for {
		var l eventjson.Line
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if l.Topic == "owntracks/zoe/phone/info" && l.Payload != nil && *l.Payload == payload {
			found = true
		}
	}
	if !found {
		t.Error("the large event is not in tracker log's output")
	}
}
