package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/eventjson"
)

// The log backup: `tracker export` writes the whole event log as
// gzip-compressed JSON lines (eventjson.Stored), `tracker import log`
// appends such a file to an empty data directory, giving every event its
// original sequence number, time, flags and payload.

type exportConfig struct {
	target
	Out string
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg exportConfig
	fs := newFlagSet("export --out FILE [--data DIR]",
		"Writes the whole event log as gzip-compressed JSON lines (one event each, payloads\nbyte for byte), to restore with tracker import log. Works while a server runs: it\nthen downloads the log from the server's /api/v1/export (as an admin: set\nTRACKER_LOGIN and TRACKER_LOGIN_PASSWORD) and says so.", stderr)
	cfg.target.flags(fs, "data `directory`", "base `URL` of a running server to export from (default: the one using --data, when it holds the log)")
	fs.StringVar(&cfg.Out, "out", "", "output `file` (- for stdout)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.Out == "" {
		return errors.New("export: give the output file with --out FILE (or --out - for stdout)")
	}

	log, api, err := cfg.reach(false, badgerlog.Options{}, "exporting", nil, stderr)
	if err != nil {
		return err
	}
	write := func(w io.Writer) (uint64, error) { return exportFromServer(ctx, api, w) }
	if log != nil {
		defer log.Close()
		write = func(w io.Writer) (uint64, error) {
			gz := gzip.NewWriter(w)
			n, err := eventjson.WriteStored(ctx, gz, log)
			if err != nil {
				return n, err
			}
			return n, gz.Close()
		}
	}

	var n uint64
	cw := &countingWriter{}
	if cfg.Out == "-" {
		bw := bufio.NewWriterSize(stdout, 256<<10)
		cw.w = bw
		var err error
		if n, err = write(cw); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	} else {
		// Written beside the target and renamed at the end: a failed export
		// never leaves a short file that looks like a backup.
		f, err := os.CreateTemp(filepath.Dir(cfg.Out), "."+filepath.Base(cfg.Out)+".*.tmp")
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer os.Remove(f.Name())
		bw := bufio.NewWriterSize(f, 256<<10)
		cw.w = bw
		n, err = write(cw)
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), cfg.Out)
		}
		if err != nil {
			return fmt.Errorf("export to %s: %w", cfg.Out, err)
		}
	}
	where := cfg.Out
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(stderr, "exported %d events (%d bytes, gzip) to %s\n", n, cw.n, where)
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// exportFromServer copies a running server's export to w, decompressing it
// on the way to count the events and to notice a truncated download.
func exportFromServer(ctx context.Context, api *adminClient, w io.Writer) (uint64, error) {
	resp, err := api.do(ctx, http.MethodGet, "/api/v1/export", "", nil)
	if err != nil {
		return 0, fmt.Errorf("export from server: %w", err)
	}
	defer resp.Body.Close()
	gz, err := gzip.NewReader(io.TeeReader(resp.Body, w))
	if err != nil {
		return 0, fmt.Errorf("export from server: %w", err)
	}
	var n uint64
	buf := make([]byte, 64<<10)
	for {
		k, err := gz.Read(buf)
		n += uint64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("export from server: download broke off after %d events: %w", n, err)
		}
	}
}

func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = `Usage: tracker import log FILE [--data DIR]
       tracker import recorder DIR [--data DIR]
       tracker import gpx FILE --user U --device D [--data DIR]
       tracker import google FILE|DIR|ZIP --user U --device D [--data DIR]

log:      restores an export (tracker export) into an empty data directory:
          every event gets its original sequence number, time, topic, flags
          and payload. Stops at the first bad line; then run tracker rebuild
          (or start the server).
recorder: imports an OwnTracks Recorder storage directory (rec/, cards/,
          waypoints/), each record at its original time.
gpx:      imports the track points of a GPX file as one device's locations.
google:   imports Google location history (Takeout Records.json, Semantic
          Location History, the phone's Timeline export) as one device's.

recorder, gpx and google report bad lines and go on, add nothing when run again, and
go through the running server when it holds the data directory.
Run tracker import SOURCE --help for the flags.`
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	switch args[0] {
	case "log":
		return runImportLog(ctx, args[1:], stdout, stderr)
	case "recorder":
		return runImportRecorder(ctx, args[1:], stdout, stderr)
	case "gpx":
		return runImportGPX(ctx, args[1:], stdout, stderr)
	case "google":
		return runImportGoogle(ctx, args[1:], stdout, stderr)
	default:
		return fmt.Errorf("import: unknown import source %q (known: log, recorder, gpx, google)", args[0])
	}
}

func runImportLog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	fs := newFlagSet("import log FILE [--data DIR]",
		"Restores an export made by tracker export (gzip or plain JSON lines; - reads\nstdin) into an empty data directory, keeping every sequence number.", stderr)
	t.flags(fs, "data `directory` (its event log must be empty)", "")
	// The file may come before or after the flags.
	var file string
	rest := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--data" || a == "-data" || a == "--config" || a == "-config":
			rest = append(rest, a)
			if i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
		case a == "-" || !strings.HasPrefix(a, "-"):
			if file != "" {
				return fmt.Errorf("import log: unexpected argument %q (one file at a time)", a)
			}
			file = a
		default:
			rest = append(rest, a)
		}
	}
	if err := parseFlags(fs, rest); err != nil {
		return err
	}
	if file == "" {
		return errors.New("import log: name the export file: tracker import log FILE")
	}
	var in io.Reader
	if file == "-" {
		in = os.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("import log: %w", err)
		}
		defer f.Close()
		in = f
	}
	br := bufio.NewReaderSize(in, 256<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("import log: %s: %w", file, err)
		}
		br = bufio.NewReaderSize(gz, 256<<10)
	}

	log, err := t.openLog(true, badgerlog.Options{})
	if errors.Is(err, badgerlog.ErrLocked) {
		return fmt.Errorf("import log: %s is in use by a running server; stop it (import only goes into an empty data directory)", t.data)
	}
	if err != nil {
		return fmt.Errorf("import log: %w", err)
	}
	if h := log.Head(); h != 0 {
		log.Close()
		return fmt.Errorf("import log: the event log in %s already holds %d events; import only into an empty data directory", t.data, h)
	}

	n, dropped, err := importLines(ctx, br, log, file)
	if cerr := log.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if n > 0 {
			err = fmt.Errorf("%w\n%d events were stored before that: remove %s before importing again", err, n, t.data.logDir())
		}
		return err
	}
	if dropped > 0 {
		fmt.Fprintf(stderr, "%d events the export marks as duplicates were sent again on purpose (no DUP redelivery on the same MQTT packet); they are no longer marked and will apply\n", dropped)
	}
	fmt.Fprintf(stderr, "imported %d events into %s\n", n, t.data)
	fmt.Fprintf(stdout, "imported %d events; run tracker rebuild --data %s (or start the server) to build the projections\n", n, t.data)
	return nil
}

// importLines appends every line of r to the empty log l and checks that
// each event gets the sequence number (and the duplicate mark) it had.
// It returns how many events were stored, and how many duplicate marks of
// an export from before redeliveries were decided by the transport were
// dropped: lines without an MQTT packet identity that the log, deciding
// again, does not consider redeliveries.
func importLines(ctx context.Context, r *bufio.Reader, l *badgerlog.Log, name string) (stored uint64, dropped int, err error) {
	var (
		mu       sync.Mutex
		firstErr error
		nStored  atomic.Uint64
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	dupOf := map[uint64]uint64{} // seq -> duplicate_of, where not 0
	var want uint64
	for lineNo := 1; ; lineNo++ {
		if err := failed(); err != nil {
			break
		}
		if err := ctx.Err(); err != nil {
			fail(fmt.Errorf("import log: interrupted: %w", err))
			break
		}
		b, rerr := r.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			fail(fmt.Errorf("import log: %s: line %d: %w", name, lineNo, rerr))
			break
		}
		if len(bytes.TrimSpace(b)) == 0 {
			if rerr == io.EOF {
				break
			}
			continue
		}
		want++
		e, dup, err := parseExportLine(b, want)
		if err != nil {
			fail(fmt.Errorf("import log: %s: line %d: %w", name, lineNo, err))
			break
		}
		if dup != 0 {
			dupOf[e.Seq] = dup
		}
		ln := lineNo
		wg.Add(1)
		l.AppendAsync(e, func(seq uint64, err error) {
			defer wg.Done()
			switch {
			case err != nil:
				fail(fmt.Errorf("import log: line %d (seq %d): %w", ln, e.Seq, err))
			case seq != e.Seq:
				fail(fmt.Errorf("import log: line %d: event seq %d was stored as seq %d; the log does not match the export", ln, e.Seq, seq))
			default:
				nStored.Add(1)
			}
		})
		if rerr == io.EOF {
			break
		}
	}
	wg.Wait()
	if err := failed(); err != nil {
		return nStored.Load(), 0, err
	}
	// The log marks redeliveries itself; they must come out as exported.
	err = l.Scan(ctx, 1, func(e events.Event) error {
		if e.DuplicateOf != dupOf[e.Seq] {
			if e.DuplicateOf == 0 && e.Client == "" && e.PacketID == 0 {
				dropped++ // an earlier version's content-only mark
				return nil
			}
			return fmt.Errorf("import log: event %d was marked as a duplicate of %d, the export says %d", e.Seq, e.DuplicateOf, dupOf[e.Seq])
		}
		return nil
	})
	return nStored.Load(), dropped, err
}

// parseExportLine turns one export line into the event to append. want is
// the sequence number the line must carry (the export is dense from 1).
func parseExportLine(b []byte, want uint64) (events.Event, uint64, error) {
	var l eventjson.Line
	if err := json.Unmarshal(b, &l); err != nil {
		return events.Event{}, 0, fmt.Errorf("not an export line: %w", err)
	}
	if l.Seq != want {
		return events.Event{}, 0, fmt.Errorf("seq %d where %d belongs (the export must hold the whole log, in order)", l.Seq, want)
	}
	if l.ReceivedAt.IsZero() {
		return events.Event{}, 0, fmt.Errorf("seq %d: no received_at", l.Seq)
	}
	if l.Topic == "" || l.Source == "" {
		return events.Event{}, 0, fmt.Errorf("seq %d: no topic or source", l.Seq)
	}
	if l.QoS > 2 {
		return events.Event{}, 0, fmt.Errorf("seq %d: qos %d", l.Seq, l.QoS)
	}
	if l.DuplicateOf >= l.Seq {
		return events.Event{}, 0, fmt.Errorf("seq %d: duplicate_of %d is not earlier", l.Seq, l.DuplicateOf)
	}
	e := events.Event{
		Seq: l.Seq, Received: l.ReceivedAt, Topic: l.Topic, Source: l.Source,
		QoS: l.QoS, Retained: l.Retained, Dup: l.Dup, Client: l.Client, PacketID: l.PacketID,
	}
	if l.Payload == nil && l.PayloadB64 == "" {
		return e, 0, fmt.Errorf("seq %d: no payload or payload_b64", l.Seq)
	}
	p, err := l.RawPayload()
	if err != nil {
		return e, 0, fmt.Errorf("seq %d: %w", l.Seq, err)
	}
	e.Payload = p
	return e, l.DuplicateOf, nil
}
