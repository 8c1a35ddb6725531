package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"tracker/events/dynamomirror/dynamotest"
	"tracker/events/eventstest"
)

// TestServeMirrorsToDynamoDB runs the server with the mirror on (table
// from the environment, as TRACKER_MIRROR_DYNAMODB) against dynalite,
// sends it every sort of bad input, and checks that each event is in the
// table with its payload byte for byte; then restarts the server and
// checks that only the new event is written.
func TestServeMirrorsToDynamoDB(t *testing.T) {
	dyn := dynamotest.Start(t, false)
	dyn.Env(t)
	t.Setenv("TRACKER_MIRROR_DYNAMODB", "tracker-mirror")
	client := dyn.Client(t)
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"--mirror-dynamodb-endpoint", dyn.Endpoint, "--mirror-dynamodb-create"}

	s := startServer(t, data, args...)
	c := eventstest.Connect(t, s.mqtt, "mirror-test")
	for _, in := range badInputs {
		eventstest.Publish(t, c, in.topic, 1, in.retain, in.payload)
	}
	items := waitItems(t, dyn, "tracker-mirror", len(badInputs), s.stderr)
	bySeq := map[uint64]int{}
	for i, it := range items {
		bySeq[dynamotest.Seq(t, it)] = i
	}
	for i, in := range badInputs {
		t.Run(in.name, func(t *testing.T) {
			it := items[bySeq[uint64(i+1)]]
			kind := in.kind
			if kind == "" {
				kind = "invalid"
			}
			if got := dynamotest.S(it, "topic"); got != in.topic {
				t.Errorf("topic %q, want %q", got, in.topic)
			}
			if got := dynamotest.S(it, "kind"); got != kind {
				t.Errorf("kind %q, want %q", got, kind)
			}
			if dynamotest.Bool(it, "payload_omitted") {
				if len(in.payload) < 400<<10 {
					t.Errorf("payload of %d bytes omitted", len(in.payload))
				}
			} else if got := dynamotest.B(it, "payload"); !bytes.Equal(got, in.payload) {
				t.Errorf("payload %q, want %q", got, in.payload)
			}
		})
	}
	// The items are in the table a moment before the mirror counts the
	// batch that wrote them.
	var m string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m = scrape(t, "http://"+s.http+"/metrics"); strings.Contains(m, "tracker_mirror_dynamodb_items_written_total 13\n") {
			break
		}
	}
	if !strings.Contains(m, "tracker_mirror_dynamodb_items_written_total 13\n") {
		t.Errorf("metrics do not count 13 items written:\n%s", grepLines(m, "tracker_mirror"))
	}
	s.stop(t)
	cp, err := os.ReadFile(filepath.Join(data, "mirror-dynamodb.json"))
	if err != nil || !strings.Contains(string(cp), `"seq":13`) {
		t.Fatalf("checkpoint after shutdown: %s (%v)", cp, err)
	}

	// A restart resumes from the checkpoint: one new event, one write.
	s = startServer(t, data, args...)
	c = eventstest.Connect(t, s.mqtt, "mirror-test-2")
	eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":52.54,"lon":13.42,"tst":1718000120}`))
	waitItems(t, dyn, "tracker-mirror", len(badInputs)+1, s.stderr)
	time.Sleep(100 * time.Millisecond)
	if m := scrape(t, "http://"+s.http+"/metrics"); !strings.Contains(m, "tracker_mirror_dynamodb_items_written_total 1\n") {
		t.Errorf("after a restart the mirror wrote more than the new event:\n%s", grepLines(m, "tracker_mirror"))
	}
	if n := len(dynamotest.Items(t, client, "tracker-mirror")); n != len(badInputs)+1 {
		t.Errorf("table has %d items, want %d", n, len(badInputs)+1)
	}
}

// TestMirrorFlagsChecked: mirror settings without a table, or a bad
// endpoint, are refused by serve and by config check.
func TestMirrorFlagsChecked(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"endpoint without table", []string{"--mirror-dynamodb-endpoint", "http://127.0.0.1:4567"}, "need --mirror-dynamodb TABLE"},
		{"create without table", []string{"--mirror-dynamodb-create"}, "need --mirror-dynamodb TABLE"},
		{"endpoint not a URL", []string{"--mirror-dynamodb", "t", "--mirror-dynamodb-endpoint", "127.0.0.1:4567"}, "want an http:// or https:// URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runFails(t, c.want, append([]string{"config", "check"}, c.args...)...)
			runFails(t, c.want, append([]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0"}, c.args...)...)
		})
	}
}

// waitItems waits until table holds n items and returns them.
func waitItems(t *testing.T, dyn *dynamotest.Server, table string, n int, serverLog interface{ String() string }) []map[string]types.AttributeValue {
	t.Helper()
	client := dyn.Client(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		items := dynamotest.Items(t, client, table)
		if len(items) >= n {
			if len(items) > n {
				t.Fatalf("table has %d items, want %d", len(items), n)
			}
			return items
		}
		if time.Now().After(deadline) {
			t.Fatalf("table has %d items after 30s, want %d\n%s", len(items), n, serverLog)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}
