package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"tracker/events/eventstest"
)

func TestRebuildAndAreasThroughAndWithoutServer(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, data)
	c := eventstest.Connect(t, s.mqtt, "rebuild-test")
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":51.5072,"lon":-0.1276,"tst":1718000000,"tid":"al"}`))
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":91,"lon":0,"tst":1718000001}`))

	var out, errOut bytes.Buffer
	// While the server runs, rebuild refuses and says how to do it instead.
	err := run(t.Context(), []string{"rebuild", "--data", data}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "running server") || !strings.Contains(err.Error(), "/api/v1/admin/rebuild") {
		t.Fatalf("rebuild with a running server: err = %v, want a refusal that names the admin rebuild", err)
	}

	// Areas go through the running server.
	out.Reset()
	errOut.Reset()
	if err := run(t.Context(), []string{"area", "add", "London Eye", "--circle", "51.5033,-0.1196,800", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("area add: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "going through http://") {
		t.Errorf("area add did not say it went through the server: %q", errOut.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"area", "list", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("area list: %v", err)
	}
	if !strings.Contains(out.String(), `"London Eye"`) || !strings.Contains(out.String(), "alice/phone") {
		t.Errorf("area list through server:\n%s\nwant London Eye with alice/phone in it", out.String())
	}
	s.stop(t)

	// Stopped: rebuild runs here, with a summary that counts the invalid event.
	out.Reset()
	errOut.Reset()
	if err := run(t.Context(), []string{"rebuild", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "rebuilt projections from 3 events") || !strings.Contains(out.String(), "invalid events skipped: 1") ||
		!strings.Contains(out.String(), "lat out of range") {
		t.Errorf("rebuild summary:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "replaying the log") {
		t.Errorf("no progress lines when not on a terminal: %q", errOut.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"area", "list", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("area list: %v", err)
	}
	if !strings.Contains(out.String(), "alice/phone") {
		t.Errorf("area list after rebuild:\n%s", out.String())
	}
	out.Reset()
	if err := run(t.Context(), []string{"area", "remove", "London Eye", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("area remove: %v", err)
	}
	for _, bad := range [][]string{
		{"area", "add", "X", "--circle", "1,2", "--data", data},
		{"area", "add", "X", "--circle", "91,0,10", "--data", data},
		{"area", "add", "X", "--polygon", "1,1 2,2", "--data", data},
		{"area", "add", "--circle", "1,1,10", "--data", data},
		{"area", "frob"},
	} {
		if err := run(t.Context(), bad, &out, &errOut); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}
