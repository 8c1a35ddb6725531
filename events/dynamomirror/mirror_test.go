package dynamomirror_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/dynamomirror"
	"tracker/events/dynamomirror/dynamotest"
	"tracker/events/eventstest"
)

// logBuffer collects the mirror's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fixture is a log, a dynalite server and what a mirror between them needs.
type fixture struct {
	log    *badgerlog.Log
	dyn    *dynamotest.Server
	client *dynamodb.Client
	table  string
	cpFile string
	logs   *logBuffer
}

func newFixture(t *testing.T, persistent bool) *fixture {
	t.Helper()
	dyn := dynamotest.Start(t, persistent)
	l := eventstest.OpenLog(t)
	return &fixture{log: l, dyn: dyn, client: dyn.Client(t), table: "tracker-events",
		cpFile: filepath.Join(t.TempDir(), "mirror-dynamodb.json"), logs: &logBuffer{}}
}

// mirror returns a new mirror from the fixture's checkpoint file, with
// short backoffs so tests recover quickly.
func (f *fixture) mirror(t *testing.T, edit ...func(*dynamomirror.Config)) *dynamomirror.Mirror {
	t.Helper()
	cfg := dynamomirror.Config{
		Client: f.client, Table: f.table, CheckpointFile: f.cpFile, CreateTable: true,
		Logger:     slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Linger: 5 * time.Millisecond,
		CheckpointEvery: 50 * time.Millisecond,
	}
	for _, e := range edit {
		e(&cfg)
	}
	m, err := dynamomirror.New(f.log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// run runs m until the returned stop is called (or the test ends), and
// checks that Run returned nil.
func run(t *testing.T, m *dynamomirror.Mirror) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("Run did not return within 20s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// caughtUp waits until the mirror has written everything up to the log's
// head.
func caughtUp(t *testing.T, f *fixture, m *dynamomirror.Mirror, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for m.Stats().Checkpoint < f.log.Head() {
		if time.Now().After(deadline) {
			t.Fatalf("mirror at %d, log head %d after %v; stats %+v\n%s", m.Stats().Checkpoint, f.log.Head(), within, m.Stats(), f.logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func appendEvent(t testing.TB, l events.Appender, e events.Event) uint64 {
	t.Helper()
	seq, err := l.Append(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// exactlyOnce checks that the table holds one item per event 1..head.
func exactlyOnce(t *testing.T, f *fixture) {
	t.Helper()
	items := dynamotest.Items(t, f.client, f.table)
	seen := map[uint64]int{}
	for _, it := range items {
		seen[dynamotest.Seq(t, it)]++
	}
	head := f.log.Head()
	var missing, twice []uint64
	for seq := uint64(1); seq <= head; seq++ {
		switch seen[seq] {
		case 0:
			missing = append(missing, seq)
		case 1:
		default:
			twice = append(twice, seq)
		}
	}
	if len(items) != int(head) || len(missing) > 0 || len(twice) > 0 {
		t.Fatalf("table has %d items for %d events; missing %v; more than once %v", len(items), head, short(missing), short(twice))
	}
}

func short(s []uint64) string {
	if len(s) > 20 {
		return fmt.Sprint(s[:20]) + fmt.Sprintf("... (%d)", len(s))
	}
	return fmt.Sprint(s)
}

var received = time.Date(2026, 11, 25, 8, 0, 0, 123456789, time.UTC)

// TestMirrorItems appends one event of each sort, valid or not, and checks
// its item: key, every attribute, the payload byte for byte.
func TestMirrorItems(t *testing.T) {
	f := newFixture(t, false)
	big := bytes.Repeat([]byte("x"), 450<<10) // over DynamoDB's 400 KB item limit
	cases := []struct {
		name      string
		e         events.Event
		device    string
		kind      string
		invalid   bool
		omitted   bool
		duplicate bool
	}{
		{name: "location", e: events.Event{Topic: "owntracks/anna/phone", Payload: []byte(`{"_type":"location","lat":50.85,"lon":4.35,"tst":1795000000,"tid":"an"}`), QoS: 1, Source: events.SourceEmbedded, Client: "anna-phone", PacketID: 3},
			device: "anna/phone", kind: "location"},
		{name: "redelivered location", e: events.Event{Topic: "owntracks/anna/phone", Payload: []byte(`{"_type":"location","lat":50.85,"lon":4.35,"tst":1795000000,"tid":"an"}`), QoS: 1, Dup: true, Source: events.SourceEmbedded, Client: "anna-phone", PacketID: 3},
			device: "anna/phone", kind: "location", duplicate: true},
		{name: "card on a suffix topic", e: events.Event{Topic: "owntracks/Anna M/ipad/info", Payload: []byte(`{"_type":"card","name":"Anna"}`), Retained: true, Source: "mqtt:tcp://broker:1883"},
			device: "Anna M/ipad", kind: "card"},
		{name: "encrypted, no key", e: events.Event{Topic: "owntracks/ben/phone", Payload: []byte(`{"_type":"encrypted","data":"AAAA"}`), Source: events.SourceHTTP},
			device: "ben/phone", kind: "encrypted", invalid: true},
		{name: "lat out of range", e: events.Event{Topic: "owntracks/ben/phone", Payload: []byte(`{"_type":"location","lat":91.2,"lon":2,"tst":1795000000}`), Source: events.SourceEmbedded},
			device: "ben/phone", kind: "location", invalid: true},
		{name: "malformed JSON", e: events.Event{Topic: "owntracks/ben/phone", Payload: []byte(`{"_type":"loc`), Source: events.SourceEmbedded},
			device: "ben/phone", kind: "invalid", invalid: true},
		{name: "not UTF-8", e: events.Event{Topic: "owntracks/ben/phone", Payload: []byte{'{', 0xff, 0xfe, '}', 0}, Source: events.SourceEmbedded},
			device: "ben/phone", kind: "invalid", invalid: true},
		{name: "unknown type", e: events.Event{Topic: "owntracks/ben/phone", Payload: []byte(`{"_type":"msg"}`), Source: events.SourceEmbedded},
			device: "ben/phone", kind: "unknown", invalid: true},
		{name: "empty retained payload", e: events.Event{Topic: "owntracks/ben/phone", Payload: []byte{}, Retained: true, Source: events.SourceEmbedded},
			device: "ben/phone", kind: "clear"},
		{name: "topic outside owntracks", e: events.Event{Topic: "foo/ben/phone", Payload: []byte(`{"_type":"location"}`), Source: events.SourceEmbedded},
			device: dynamomirror.PartitionOther, kind: "invalid", invalid: true},
		{name: "two topic levels", e: events.Event{Topic: "owntracks/ben", Payload: []byte(`{}`), Source: events.SourceEmbedded},
			device: dynamomirror.PartitionOther, kind: "invalid", invalid: true},
		{name: "wildcard in topic", e: events.Event{Topic: "owntracks/+/phone", Payload: []byte(`{}`), Source: events.SourceHTTP},
			device: dynamomirror.PartitionOther, kind: "invalid", invalid: true},
		{name: "empty topic", e: events.Event{Topic: "", Payload: []byte(`x`), Source: events.SourceHTTP},
			device: dynamomirror.PartitionOther, kind: "invalid", invalid: true},
		{name: "server's own area event", e: events.Event{Topic: "tracker/admin/area", Payload: []byte(`{"_type":"area","action":"define","name":"Gym"}`), Source: events.SourceAdmin},
			device: dynamomirror.PartitionAdmin, kind: "admin"},
		{name: "payload over the item limit", e: events.Event{Topic: "owntracks/ben/phone", Payload: big, Source: events.SourceEmbedded},
			device: "ben/phone", kind: "invalid", invalid: true, omitted: true},
	}
	seqs := make([]uint64, len(cases))
	for i, c := range cases {
		c.e.Received = received.Add(time.Duration(i) * time.Second)
		seqs[i] = appendEvent(t, f.log, c.e)
	}
	m := f.mirror(t)
	run(t, m)
	caughtUp(t, f, m, 30*time.Second)
	exactlyOnce(t, f)

	items := map[uint64]map[string]types.AttributeValue{}
	for _, it := range dynamotest.Items(t, f.client, f.table) {
		items[dynamotest.Seq(t, it)] = it
	}
	for i, c := range cases {
		seq := seqs[i]
		t.Run(c.name, func(t *testing.T) {
			it := items[seq]
			rcv := received.Add(time.Duration(i) * time.Second)
			checks := []struct{ attr, got, want string }{
				{"device", dynamotest.S(it, "device"), c.device},
				{"ts", dynamotest.S(it, "ts"), rcv.Format("2006-01-02T15:04:05.000000000Z") + "#" + fmt.Sprintf("%020d", seq)},
				{"seq", dynamotest.N(it, "seq"), strconv.FormatUint(seq, 10)},
				{"topic", dynamotest.S(it, "topic"), c.e.Topic},
				{"kind", dynamotest.S(it, "kind"), c.kind},
				{"received", dynamotest.S(it, "received"), rcv.Format(time.RFC3339Nano)},
				{"source", dynamotest.S(it, "source"), c.e.Source},
				{"qos", dynamotest.N(it, "qos"), strconv.Itoa(int(c.e.QoS))},
				{"retained", strconv.FormatBool(dynamotest.Bool(it, "retained")), strconv.FormatBool(c.e.Retained)},
				{"payload_size", dynamotest.N(it, "payload_size"), strconv.Itoa(len(c.e.Payload))},
				{"payload_omitted", strconv.FormatBool(dynamotest.Bool(it, "payload_omitted")), strconv.FormatBool(c.omitted)},
				{"has invalid", strconv.FormatBool(dynamotest.S(it, "invalid") != ""), strconv.FormatBool(c.invalid)},
				{"has duplicate_of", strconv.FormatBool(dynamotest.N(it, "duplicate_of") != ""), strconv.FormatBool(c.duplicate)},
				{"client", dynamotest.S(it, "client"), c.e.Client},
				{"packet_id", dynamotest.N(it, "packet_id"), map[bool]string{true: strconv.Itoa(int(c.e.PacketID))}[c.e.PacketID != 0]},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("%s = %q, want %q", ch.attr, ch.got, ch.want)
				}
			}
			_, hasPayload := it["payload"]
			switch {
			case c.omitted && hasPayload:
				t.Errorf("payload present in an item over the limit")
			case !c.omitted && !bytes.Equal(dynamotest.B(it, "payload"), c.e.Payload):
				t.Errorf("payload = %q, want %q", dynamotest.B(it, "payload"), c.e.Payload)
			}
		})
	}
	if s := m.Stats(); s.Skipped != 0 || s.Failures != 0 || s.Written != uint64(len(cases)) {
		t.Errorf("stats %+v, want %d written, no failures, none skipped", s, len(cases))
	}
}

// TestMirrorSortKeyOrder checks that the sort key orders by time, then
// sequence, as strings.
func TestMirrorSortKeyOrder(t *testing.T) {
	keys := []string{
		dynamomirror.SortKey(time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC), 9),
		dynamomirror.SortKey(time.Date(2026, 1, 1, 0, 0, 0, 5, time.FixedZone("CET", 3600)), 2), // 2025-12-31T23:00 UTC
		dynamomirror.SortKey(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 1),
		dynamomirror.SortKey(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10),
		dynamomirror.SortKey(time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC), 3),
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Errorf("%q sorts after %q", keys[i-1], keys[i])
		}
	}
	if got, want := keys[2], "2026-01-01T00:00:00.000000000Z#00000000000000000001"; got != want {
		t.Errorf("SortKey = %q, want %q", got, want)
	}
}

// TestMirrorOutageLosesNothing stops DynamoDB (SIGKILL) while events keep
// being appended, restarts it on the same port with the same data, and
// checks that afterwards the table holds exactly one item per event.
func TestMirrorOutageLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("outage test takes a few seconds")
	}
	f := newFixture(t, true)
	m := f.mirror(t)
	run(t, m)

	var appended atomic.Int64
	stopAppending := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopAppending:
					return
				default:
				}
				appendEvent(t, f.log, events.Event{Topic: fmt.Sprintf("owntracks/user%d/phone", w),
					Payload: fmt.Appendf(nil, `{"_type":"location","lat":50.8,"lon":4.3,"tst":%d}`, 1795000000+i), Source: events.SourceEmbedded})
				appended.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stats %+v\n%s", what, m.Stats(), f.logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitUntil("the mirror to write 200 events", func() bool { return m.Stats().Checkpoint >= 200 })

	f.dyn.Stop(t)
	before := appended.Load()
	waitUntil("failed attempts", func() bool { return m.Stats().Failures >= 3 })
	waitUntil("more appends during the outage", func() bool { return appended.Load() >= before+200 })
	if s := m.Stats(); s.Up {
		t.Errorf("mirror says up while DynamoDB is stopped: %+v", s)
	}
	f.dyn.Restart(t)
	waitUntil("writes after the restart", func() bool { return m.Stats().Up })
	time.Sleep(200 * time.Millisecond) // appends go on after the restart too
	close(stopAppending)
	wg.Wait()
	caughtUp(t, f, m, 30*time.Second)
	exactlyOnce(t, f)

	logs := f.logs.String()
	if n := strings.Count(logs, "cannot write to DynamoDB"); n != 1 {
		t.Errorf("outage logged %d times, want once:\n%s", n, logs)
	}
	if n := strings.Count(logs, "DynamoDB answers again"); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, logs)
	}
	t.Logf("%d events, %d during the outage; %+v", f.log.Head(), appended.Load()-before, m.Stats())
}

// TestMirrorResumesFromCheckpoint stops the mirror and starts a new one:
// it writes only the events after the checkpoint. A checkpoint of another
// table counts for nothing.
func TestMirrorResumesFromCheckpoint(t *testing.T) {
	f := newFixture(t, false)
	add := func(n int) {
		for i := range n {
			appendEvent(t, f.log, events.Event{Topic: "owntracks/anna/phone",
				Payload: fmt.Appendf(nil, `{"_type":"location","lat":50.8,"lon":4.3,"tst":%d}`, 1795000000+int(f.log.Head())+i), Source: events.SourceEmbedded})
		}
	}
	cases := []struct {
		name        string
		table       string
		add         int
		wantFrom    uint64 // checkpoint the new mirror starts from
		wantWritten uint64
	}{
		{name: "first run", table: "tracker-events", add: 120, wantFrom: 0, wantWritten: 120},
		{name: "restart resumes", table: "tracker-events", add: 30, wantFrom: 120, wantWritten: 30},
		{name: "restart with nothing new", table: "tracker-events", add: 0, wantFrom: 150, wantWritten: 0},
		{name: "another table gets everything", table: "tracker-events-2", add: 5, wantFrom: 0, wantWritten: 155},
		{name: "and resumes too", table: "tracker-events-2", add: 1, wantFrom: 155, wantWritten: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			add(c.add)
			f.table = c.table
			m := f.mirror(t)
			if got := m.Stats().Checkpoint; got != c.wantFrom {
				t.Fatalf("new mirror starts at %d, want %d", got, c.wantFrom)
			}
			stop := run(t, m)
			caughtUp(t, f, m, 30*time.Second)
			time.Sleep(50 * time.Millisecond) // nothing more may be written
			stop()
			if got := m.Stats().Written; got != c.wantWritten {
				t.Errorf("wrote %d items, want %d", got, c.wantWritten)
			}
			exactlyOnce(t, f)
		})
	}
}

// TestMirrorWaitsForMissingTable: without CreateTable a missing table is
// an outage, logged once; once someone creates it, the mirror catches up.
func TestMirrorWaitsForMissingTable(t *testing.T) {
	f := newFixture(t, false)
	for i := range 10 {
		appendEvent(t, f.log, events.Event{Topic: "owntracks/anna/phone", Payload: fmt.Appendf(nil, `{"n":%d}`, i), Source: events.SourceEmbedded})
	}
	m := f.mirror(t, func(c *dynamomirror.Config) { c.CreateTable = false })
	run(t, m)
	deadline := time.Now().Add(10 * time.Second)
	for m.Stats().Failures < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no failures reported for a missing table: %+v", m.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if logs := f.logs.String(); strings.Count(logs, "does not exist") != 1 {
		t.Errorf("missing table not logged exactly once:\n%s", logs)
	}
	other := f.mirror(t, func(c *dynamomirror.Config) { c.CheckpointFile = filepath.Join(t.TempDir(), "other.json") })
	stop := run(t, other) // creates the table
	caughtUp(t, f, other, 30*time.Second)
	stop()
	caughtUp(t, f, m, 30*time.Second)
	exactlyOnce(t, f)
}
