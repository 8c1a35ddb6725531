package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections/projector"
)

// readLog returns every event of data's log (the server must be stopped).
func readLog(t *testing.T, data string) []events.Event {
	t.Helper()
	log, err := target{data: dataDir(data)}.openLog(false, badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	var evs []events.Event
	if err := log.Scan(t.Context(), 1, func(e events.Event) error {
		evs = append(evs, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return evs
}

// gunzip returns the decompressed contents of an export file.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), args, &out, &errOut); err != nil {
		t.Fatalf("tracker %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

func runFails(t *testing.T, want string, args ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("tracker %s: err = %v, want it to mention %q", strings.Join(args, " "), err, want)
	}
}

// openProjections opens data's log and projections (catching up); the
// caller closes them with the function it returns, so that the data
// directory is free again for the commands a test runs next.
func openProjections(t *testing.T, data string) (*projector.Projector, func()) {
	t.Helper()
	log, err := target{data: dataDir(data)}.openLog(false, badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := projector.Open(t.Context(), data, log, owntracks.Decoder{}, slog.New(slog.DiscardHandler), projector.Options{})
	if err != nil {
		log.Close()
		t.Fatal(err)
	}
	return p, func() { p.Close(); log.Close() }
}

// projectionState is what the friends and areas API would answer.
func projectionState(t *testing.T, data string) string {
	t.Helper()
	p, done := openProjections(t, data)
	defer done()
	b, err := json.Marshal(map[string]any{"friends": p.Friends(), "areas": p.Areas()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExportImport(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := startServer(t, data)
	base := "http://" + s.http

	binary := []byte{0x00, 0xff, 0xfe, '{', 0x80, '"', '\n', 0xc3}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<15) // 512 KiB, the most the broker takes
	loc := []byte(`{"_type":"location","lat":52.52,"lon":13.4,"tst":1718000000,"tid":"al","acc":5}`)
	c := eventstest.Connect(t, s.mqtt, "export-test")
	rawPublish(t, s.mqtt, "export-raw", "owntracks/alice/phone", 1, false, false, loc)
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":52.5`))
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, binary)
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, big)
	eventstest.Publish(t, c, "owntracks/bob/tab/info", 1, true, []byte(`{"_type":"card","tid":"bo","name":"Bob <&> \u2028"}`))
	eventstest.Publish(t, c, "owntracks/bob/tab", 1, true, []byte{})
	rawPublish(t, s.mqtt, "export-raw", "owntracks/alice/phone", 1, true, false, loc) // a redelivery (DUP, same packet): duplicate_of 1
	defineArea(t, base, "home", 52.52, 13.4, 300)
	eventstest.Publish(t, c, "owntracks/bob/tab", 1, false, []byte(`{"_type":"location","lat":52.5201,"lon":13.4001,"tst":1718000100,"tid":"bo"}`))
	const total = 9

	deadline := time.Now().Add(10 * time.Second)
	for {
		lines, _ := logLines(t, "--data", data)
		if len(lines) == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log has %d events, want %d", len(lines), total)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// While the server holds the database, export goes through its API.
	viaServer := filepath.Join(dir, "via-server.jsonl.gz")
	_, stderr := runOK(t, "export", "--data", data, "--out", viaServer)
	if !strings.Contains(stderr, "exporting through http://") || !strings.Contains(stderr, "exported 9 events") {
		t.Errorf("export through the server said %q", stderr)
	}
	runFails(t, "in use by a running server", "import", "log", viaServer, "--data", data)
	s.stop(t)

	// Stopped: directly, to a file and to stdout.
	direct := filepath.Join(dir, "direct.jsonl.gz")
	_, stderr = runOK(t, "export", "--data", data, "--out", direct)
	if strings.Contains(stderr, "through") || !strings.Contains(stderr, "exported 9 events") {
		t.Errorf("direct export said %q", stderr)
	}
	stdout, _ := runOK(t, "export", "--data", data, "--out", "-")
	a, _ := os.ReadFile(viaServer)
	b, _ := os.ReadFile(direct)
	plain := gunzip(t, b)
	if !bytes.Equal(gunzip(t, a), plain) || !bytes.Equal(gunzip(t, []byte(stdout)), plain) {
		t.Errorf("exports differ:\nserver: %s\ndirect: %s", gunzip(t, a), plain)
	}
	if n := bytes.Count(plain, []byte("\n")); n != total {
		t.Errorf("export has %d lines, want %d", n, total)
	}

	orig := readLog(t, data)
	check := func(t *testing.T, got []events.Event) {
		t.Helper()
		if len(got) != len(orig) {
			t.Fatalf("%d events, want %d", len(got), len(orig))
		}
		for i, w := range orig {
			g := got[i]
			if g.Seq != w.Seq || !g.Received.Equal(w.Received) || g.Topic != w.Topic || g.Source != w.Source ||
				g.QoS != w.QoS || g.Retained != w.Retained || g.Dup != w.Dup || g.DuplicateOf != w.DuplicateOf ||
				g.Client != w.Client || g.PacketID != w.PacketID {
				t.Errorf("event %d = %+v\nwant %+v", w.Seq, brief(g), brief(w))
			}
			if !bytes.Equal(g.Payload, w.Payload) {
				t.Errorf("event %d: payload differs (%d bytes, want %d)", w.Seq, len(g.Payload), len(w.Payload))
			}
		}
	}
	// The inputs are all there, as sent.
	if !bytes.Equal(orig[2].Payload, binary) || !bytes.Equal(orig[3].Payload, big) || len(orig[5].Payload) != 0 ||
		!orig[5].Retained || orig[6].DuplicateOf != 1 || orig[7].Source != events.SourceAdmin {
		t.Fatalf("the test log is not what the test meant to write: %+v", briefs(orig))
	}

	for _, src := range []string{viaServer, direct} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			restored := filepath.Join(t.TempDir(), "restored")
			stdout, _ := runOK(t, "import", "log", src, "--data", restored)
			if !strings.Contains(stdout, "imported 9 events") || !strings.Contains(stdout, "tracker rebuild") {
				t.Errorf("import said %q", stdout)
			}
			check(t, readLog(t, restored))

			// Only into an empty log.
			runFails(t, "already holds 9 events", "import", "log", src, "--data", restored)

			// The projections built from the copy equal the original's.
			runOK(t, "rebuild", "--data", restored)
			runOK(t, "rebuild", "--data", data)
			if got, want := projectionState(t, restored), projectionState(t, data); got != want {
				t.Errorf("projections differ:\nrestored: %s\noriginal: %s", got, want)
			}
			if !strings.Contains(projectionState(t, restored), `"home"`) {
				t.Errorf("the area did not survive: %s", projectionState(t, restored))
			}
		})
	}

	// Plain (not gzipped) lines import too; flags may come first.
	plainFile := filepath.Join(dir, "plain.jsonl")
	if err := os.WriteFile(plainFile, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(dir, "plain-restored")
	runOK(t, "import", "log", "--data", restored, plainFile)
	check(t, readLog(t, restored))

	// A bad line stops the import and names its line.
	lines := strings.SplitAfter(string(plain), "\n")
	for _, bad := range []struct{ name, line, want string }{
		{"not JSON", "{\"seq\":3,\n", "line 3: not an export line"},
		{"gap", strings.Replace(lines[2], `"seq":3`, `"seq":4`, 1), "line 3: seq 4 where 3 belongs"},
		{"bad base64", strings.Replace(lines[2], `"payload_b64":"`, `"payload_b64":"!`, 1), "line 3: seq 3: payload_b64"},
		{"no payload", `{"seq":3,"received_at":"2024-06-10T06:13:20Z","topic":"a/b/c","source":"embedded"}` + "\n", "line 3: seq 3: no payload"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "bad.jsonl")
			broken := lines[0] + lines[1] + bad.line + strings.Join(lines[3:], "")
			if err := os.WriteFile(f, []byte(broken), 0o600); err != nil {
				t.Fatal(err)
			}
			runFails(t, bad.want, "import", "log", f, "--data", filepath.Join(t.TempDir(), "d"))
		})
	}

	runFails(t, "unknown import source", "import", "kml", direct)
	runFails(t, "--out", "export", "--data", data)
}

// brief is an event without its payload, for messages.
func brief(e events.Event) events.Event {
	e.Payload = nil
	return e
}

// briefs is events without their payloads, for messages.
func briefs(es []events.Event) []events.Event {
	out := make([]events.Event, len(es))
	for i, e := range es {
		out[i] = brief(e)
	}
	return out
}
