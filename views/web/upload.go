package web

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
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"tracker/events"
	"tracker/events/gpx"
	"tracker/events/recorder"
	"tracker/views/web/internal/httpx"
)

// Uploads (POST /api/v1/admin/upload?name=FILE[&user=U&device=D], admins
// only): the browser sends one file as the request body (so it can show
// the upload's progress), the server keeps it in a temporary file, tells
// its format from its first bytes (uploadFormats) and imports it as
// `tracker import …` does, with the same summary. The events go through
// the log, so its import keys apply: uploading a file again stores
// nothing new.

// UploadLimits bound one upload; zero fields take the defaults.
type UploadLimits struct {
	MaxBytes    int64 // the upload itself (default 8 GB)
	MaxUnpacked int64 // what an archive may unpack to (default 16 GB; never past the free space)
	MaxFiles    int   // entries an archive may hold, read or not (default 200,000)
}

const (
	defaultMaxUpload   = 8 << 30
	defaultMaxUnpacked = 16 << 30
	defaultMaxFiles    = 200_000
	// uploadIdle is how long an upload may send nothing before it is cut
	// (the server's read timeout is for whole requests: too short here).
	uploadIdle = 60 * time.Second
)

func (l UploadLimits) withDefaults() UploadLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = defaultMaxUpload
	}
	if l.MaxUnpacked <= 0 {
		l.MaxUnpacked = defaultMaxUnpacked
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = defaultMaxFiles
	}
	return l
}

// ImportProblem is one reason lines or files were skipped.
type ImportProblem struct {
	Reason   string   `json:"reason"`
	Count    int      `json:"count"`
	Examples []string `json:"examples"` // the first few file:line
}

// ImportSummary answers an upload: what `tracker import` prints, as
// figures and as its text.
type ImportSummary struct {
	Format         string          `json:"format,omitempty"` // recorder, gpx, events, …
	What           string          `json:"what"`
	Read           uint64          `json:"read"` // records read
	Stored         uint64          `json:"stored"`
	AlreadyPresent uint64          `json:"already_present"`
	Problems       []ImportProblem `json:"problems"`
	Notes          []string        `json:"notes,omitempty"`
	Took           time.Duration   `json:"took_ns"`
	Error          string          `json:"error,omitempty"` // why it stopped early or did not start
	// Text is the command line's summary, line for line.
	Text string `json:"text"`
}

// uploadInput is an uploaded file, for the format that reads it.
type uploadInput struct {
	File    *os.File
	Size    int64
	Name    string // as the browser named it (its base name only)
	User    string // whose points, for formats that do not say (?user=)
	Device  string
	TID     string
	TempDir string // where to unpack an archive
	Limits  UploadLimits
	// unpack writes the Recorder files of an archive under dir, within
	// the limits and the free space (unpack.go).
	unpack func(ctx context.Context, dir string, problem func(reason, where string)) error
	// newUnpacker gives the limits of an archive read where it is
	// (takeout.go).
	newUnpacker func(problem func(reason, where string)) *unpacker
}

// Open returns the file's content from its start, decompressed when it
// is gzip.
func (in uploadInput) Open() (io.Reader, error) {
	if _, err := in.File.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(in.File, 64<<10)
	if isGzip(br) {
		return gzip.NewReader(br)
	}
	return br, nil
}

func isGzip(br *bufio.Reader) bool {
	m, _ := br.Peek(2)
	return len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b
}

// uploadFormat is a kind of file the upload reads. The first in
// uploadFormats whose Sniff says yes reads the file.
type uploadFormat struct {
	Name string
	// NeedsDevice: the file does not say whose points it holds, so the
	// upload names the user and device.
	NeedsDevice bool
	// Sniff looks at the file's first bytes (decompressed when it is
	// gzip; zipped says it is a zip archive) and its name.
	Sniff func(head []byte, zipped bool, name string) bool
	// Confirm, when set, looks further into a file Sniff took (an
	// archive's entries) before the format is chosen.
	Confirm func(in uploadInput, zipped bool) bool
	// Read calls add for each event (done: input bytes read so far) and
	// problem for each line or file skipped; it returns notes for the
	// summary.
	Read func(ctx context.Context, in uploadInput, add func(e events.Event, done int64) error, problem func(reason, where string)) ([]string, error)
}

// uploadFormats, in the order they are tried. A new reader adds its
// entry here, before the ones its files could be taken for.
var uploadFormats = []uploadFormat{
	takeoutFormat,
	{Name: "recorder", Sniff: sniffRecorder, Read: readRecorderUpload},
	{Name: "gpx", NeedsDevice: true, Sniff: sniffGPX, Read: readGPXUpload},
	{Name: "events", Sniff: sniffEvents, Read: readEventsUpload},
}

// errUnknownFormat is an upload no format recognised.
var errUnknownFormat = errors.New("not a file this server can import: upload an OwnTracks Recorder directory as .tar.gz or .zip, a GPX file, Google location history (a Takeout .zip or .tgz, or its JSON files), or an event export (JSON lines)")

func sniffRecorder(head []byte, zipped bool, _ string) bool {
	return zipped || isTar(head)
}

// isTar: a POSIX or GNU tar header's magic at offset 257.
func isTar(head []byte) bool {
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}

func sniffGPX(head []byte, _ bool, name string) bool {
	h := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	return bytes.Contains(h[:min(len(h), 1024)], []byte("<gpx")) ||
		(bytes.HasPrefix(h, []byte("<?xml")) && strings.HasSuffix(strings.ToLower(name), ".gpx"))
}

func sniffEvents(head []byte, _ bool, _ string) bool {
	h := bytes.TrimLeft(head, " \t\r\n")
	line, _, _ := bytes.Cut(h, []byte{'\n'})
	return bytes.HasPrefix(line, []byte("{")) && bytes.Contains(line, []byte(`"received_at"`)) && bytes.Contains(line, []byte(`"topic"`))
}

func readGPXUpload(ctx context.Context, in uploadInput, add func(events.Event, int64) error, problem func(string, string)) ([]string, error) {
	r, err := in.Open()
	if err != nil {
		return nil, err
	}
	st, err := gpx.Read(ctx, r, gpx.Device{User: in.User, Device: in.Device, TID: in.TID},
		func(rec gpx.Record) error { return add(rec.Event, rec.Done) },
		func(p gpx.Problem) { problem(p.Reason, fmt.Sprintf("%s:%d", in.Name, p.Line)) })
	notes := []string{fmt.Sprintf("%d tracks in %d segments, %d routes, %d points", st.Tracks, st.Segments, st.Routes, st.Points)}
	if st.Waypoints > 0 {
		notes = append(notes, fmt.Sprintf("%d waypoints (wpt) not imported", st.Waypoints))
	}
	return notes, err
}

// readEventsUpload reads JSON lines in the log export's format, as
// POST /api/v1/admin/import does (only imports: events whose source
// starts with "import:"); a bad line is reported and skipped.
func readEventsUpload(ctx context.Context, in uploadInput, add func(events.Event, int64) error, problem func(string, string)) ([]string, error) {
	if _, err := in.File.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	counted := &countReader{r: in.File}
	br := bufio.NewReaderSize(counted, 64<<10)
	var r io.Reader = br
	if isGzip(br) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		r = gz
	}
	lines := bufio.NewReaderSize(r, 256<<10)
	for lineNo := 1; ; lineNo++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b, rerr := readLine(lines, maxImportLine)
		if errors.Is(rerr, errImportTooLarge) {
			return nil, fmt.Errorf("line %d is over %d MB", lineNo, maxImportLine>>20)
		}
		if rerr != nil && rerr != io.EOF {
			return nil, fmt.Errorf("line %d: %w", lineNo, rerr)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			e, err := importLine(b)
			if err != nil {
				problem(err.Error(), fmt.Sprintf("%s:%d", in.Name, lineNo))
			} else if err := add(e, counted.n.Load()); err != nil {
				return nil, err
			}
		}
		if rerr == io.EOF {
			return nil, nil
		}
	}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// readRecorderUpload unpacks a Recorder storage directory (tar, tar.gz or
// zip) into a temporary directory and imports it as
// `tracker import recorder` does.
func readRecorderUpload(ctx context.Context, in uploadInput, add func(events.Event, int64) error, problem func(string, string)) ([]string, error) {
	if in.unpack == nil {
		return nil, errors.New("no place to unpack archives")
	}
	dir, err := os.MkdirTemp(in.TempDir, "upload-unpacked-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := in.unpack(ctx, dir, problem); err != nil {
		return nil, err
	}
	d, err := recorder.Open(dir)
	if errors.Is(err, recorder.ErrNotRecorder) {
		return nil, errors.New("the archive holds no OwnTracks Recorder storage directory (no rec/, cards/ or waypoints/ in it)")
	}
	if err != nil {
		return nil, err
	}
	// Progress counts the unpacked bytes read; the job's total is the
	// unpacked size from here on.
	st, err := d.Read(ctx,
		func(r recorder.Record) error {
			return add(r.Event, int64(float64(r.Done)/float64(max(d.Size, 1))*float64(in.Size)))
		},
		func(p recorder.Problem) {
			where := p.File
			if p.Line > 0 {
				where = fmt.Sprintf("%s:%d", p.File, p.Line)
			}
			problem(p.Reason, where)
		})
	var notes []string
	if st.WaypointFilesInRec > 0 {
		notes = append(notes, fmt.Sprintf("%d waypoint files were not read: the same regions are lines of the .rec files", st.WaypointFilesInRec))
	}
	return notes, err
}

// upload receives one file and imports it.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	lim := s.Uploads.withDefaults()
	q := r.URL.Query()
	name := path.Base(strings.ReplaceAll(q.Get("name"), `\`, "/"))
	if name == "." || name == "/" {
		name = "upload"
	}
	in := uploadInput{Name: name, User: strings.TrimSpace(q.Get("user")), Device: strings.TrimSpace(q.Get("device")),
		TID: strings.TrimSpace(q.Get("tid")), TempDir: s.UploadDir, Limits: lim}
	fail := func(code int, msg string) {
		httpx.WriteJSON(w, code, ImportSummary{What: name, Problems: []ImportProblem{}, Error: msg})
	}
	for _, l := range []struct{ what, v string }{{"user", in.User}, {"device", in.Device}} {
		if strings.ContainsAny(l.v, "/+#") {
			fail(http.StatusBadRequest, fmt.Sprintf("%s %q: a topic level cannot hold / + or #", l.what, l.v))
			return
		}
	}
	if r.ContentLength > lim.MaxBytes {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the file (%d MB) is more than the %d MB an upload may hold; import larger files with tracker import on the server", r.ContentLength>>20, lim.MaxBytes>>20))
		return
	}
	if msg := s.roomFor(r.ContentLength); msg != "" {
		fail(http.StatusInsufficientStorage, msg)
		return
	}
	job := &s.ops.imp
	if !s.ops.start(job, name, s.now()) {
		fail(http.StatusConflict, "an import is already running; wait for it to finish (its progress is on /admin)")
		return
	}
	sum := ImportSummary{What: name, Problems: []ImportProblem{}}
	code := http.StatusOK
	defer func() {
		s.ops.update(job, func(j *Job) {
			j.Running, j.Finished, j.Error, j.Result = false, s.now(), sum.Error, sum
		})
		httpx.WriteJSON(w, code, sum)
	}()

	f, err := os.CreateTemp(s.UploadDir, "upload-*")
	if err != nil {
		code, sum.Error = http.StatusInternalServerError, "could not store the upload"
		s.Logger.Error("upload: temporary file", "err", err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	body := &keepReading{r: http.MaxBytesReader(w, r.Body, lim.MaxBytes), rc: http.NewResponseController(w)}
	n, err := io.Copy(f, body)
	if tooBig, ok := errors.AsType[*http.MaxBytesError](err); ok {
		code, sum.Error = http.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is over %d MB; import larger files with tracker import on the server", tooBig.Limit>>20)
		return
	}
	if err != nil {
		code, sum.Error = http.StatusBadRequest, "the upload was cut short: "+err.Error()
		return
	}
	in.File, in.Size = f, n
	in.unpack = func(ctx context.Context, dir string, problem func(string, string)) error {
		return unpack(ctx, s, in, dir, problem)
	}
	in.newUnpacker = func(problem func(string, string)) *unpacker { return s.newUnpacker(in, "", problem) }
	s.ops.update(job, func(j *Job) { j.Total = uint64(n) })

	format, err := detectUpload(in)
	if errors.Is(err, errUnknownFormat) && in.looksJSON() {
		// Other JSON (Google location history): what the import endpoint
		// takes, it reads (import.go decides by the content too).
		sum, code = s.importThroughEndpoint(r, in)
		return
	}
	if err != nil {
		code, sum.Error = http.StatusUnsupportedMediaType, err.Error()
		return
	}
	sum.Format = format.Name
	if format.NeedsDevice && (in.User == "" || in.Device == "") {
		code, sum.Error = http.StatusBadRequest, format.Name+" files do not say whose points they hold: give a user and a device"
		return
	}
	sum, code = s.importUpload(format, in)
}

// detectUpload finds the format of the uploaded file.
func detectUpload(in uploadInput) (uploadFormat, error) {
	head := make([]byte, 4096)
	if _, err := in.File.Seek(0, io.SeekStart); err != nil {
		return uploadFormat{}, err
	}
	n, _ := io.ReadFull(in.File, head)
	head = head[:n]
	zipped := bytes.HasPrefix(head, []byte("PK\x03\x04"))
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		r, err := in.Open()
		if err != nil {
			return uploadFormat{}, fmt.Errorf("gzip: %w", err)
		}
		head = make([]byte, 4096)
		n, _ := io.ReadFull(r, head)
		head = head[:n]
	}
	for _, f := range uploadFormats {
		if f.Sniff(head, zipped, in.Name) && (f.Confirm == nil || f.Confirm(in, zipped)) {
			return f, nil
		}
	}
	return uploadFormat{}, errUnknownFormat
}

// importUpload reads the file with its format into the log and sums up.
func (s *Server) importUpload(format uploadFormat, in uploadInput) (ImportSummary, int) {
	job := &s.ops.imp
	ctx := s.ops.ctx
	sum := ImportSummary{Format: format.Name, What: in.Name, Problems: []ImportProblem{}}
	sink := newUploadSink(s.Appender)
	problems := map[string]*ImportProblem{}
	start := time.Now()
	var read uint64
	notes, err := format.Read(ctx, in,
		func(e events.Event, done int64) error {
			read++
			if read%256 == 0 {
				s.ops.update(job, func(j *Job) { j.Records, j.Done = read, uint64(max(done, 0)) })
			}
			return sink.Add(ctx, e)
		},
		func(reason, where string) {
			p := problems[reason]
			if p == nil {
				p = &ImportProblem{Reason: reason, Examples: []string{}}
				problems[reason] = p
			}
			p.Count++
			if len(p.Examples) < 3 {
				p.Examples = append(p.Examples, where)
			}
		})
	closeErr := sink.Wait()
	sum.Took = time.Since(start)
	sum.Read, sum.Stored, sum.AlreadyPresent, sum.Notes = read, sink.stored.Load(), sink.present.Load(), notes
	for _, p := range problems {
		sum.Problems = append(sum.Problems, *p)
	}
	slices.SortFunc(sum.Problems, func(a, b ImportProblem) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	code := http.StatusOK
	var tooBig *unpackError
	switch {
	case errors.As(err, &tooBig):
		code, sum.Error = http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, context.Canceled):
		code, sum.Error = http.StatusServiceUnavailable, "the server is stopping; upload the file again to finish (what was imported is recognised and skipped)"
	case err != nil:
		code, sum.Error = http.StatusUnprocessableEntity, err.Error()
	case closeErr != nil:
		code, sum.Error = http.StatusServiceUnavailable, "the event log cannot write: "+closeErr.Error()
		s.Logger.Error("upload import failed", "file", in.Name, "stored", sum.Stored, "err", closeErr)
	}
	sum.Text = summaryText(sum)
	s.ops.update(job, func(j *Job) { j.Records, j.Done = read, j.Total })
	s.Logger.Info("upload imported", "file", in.Name, "format", format.Name, "read", sum.Read, "stored", sum.Stored,
		"already_present", sum.AlreadyPresent, "err", sum.Error)
	return sum, code
}

// summaryText is what `tracker import` prints after an import.
func summaryText(s ImportSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d records from %s in %s (%.0f records/s)\n", s.Read, s.What, s.Took.Round(time.Millisecond),
		float64(s.Read)/max(s.Took.Seconds(), 1e-9))
	fmt.Fprintf(&b, "stored %d new events, %d already present\n", s.Stored, s.AlreadyPresent)
	total := 0
	for _, p := range s.Problems {
		total += p.Count
	}
	if total > 0 {
		fmt.Fprintf(&b, "skipped %d bad lines or files:\n", total)
		for _, p := range s.Problems {
			more := ""
			if p.Count > len(p.Examples) {
				more = ", …"
			}
			fmt.Fprintf(&b, "  %8d  %s (%s%s)\n", p.Count, p.Reason, strings.Join(p.Examples, ", "), more)
		}
	}
	for _, n := range s.Notes {
		fmt.Fprintln(&b, n)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "stopped: %s\n", s.Error)
	}
	return b.String()
}

// roomFor says why an upload of n bytes (-1: unknown) does not fit on the
// data volume, "" when it does.
func (s *Server) roomFor(n int64) string {
	if s.Disk == nil {
		return ""
	}
	_ = s.Disk.Check()
	if s.Disk.Low() {
		return "the data volume is nearly full: free some space before importing"
	}
	if n > 0 && uint64(n) > s.Disk.Free()-min(s.Disk.Free(), s.Disk.Min()) {
		return fmt.Sprintf("the upload (%d MB) does not fit in the free space of the data volume (%d MB, of which %d MB are kept free)", n>>20, s.Disk.Free()>>20, s.Disk.Min()>>20)
	}
	return ""
}

// keepReading pushes the connection's read deadline on while the body
// keeps coming, so a long upload is not cut by the server's timeout for
// whole requests, and a stalled one is.
type keepReading struct {
	r    io.Reader
	rc   *http.ResponseController
	last time.Time
}

func (i *keepReading) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(i.last) > time.Second {
		i.last = now
		_ = i.rc.SetReadDeadline(now.Add(uploadIdle)) // not every writer supports it; then the server's timeout holds
	}
	return i.r.Read(p)
}

// uploadSink appends events with many in flight and counts the outcome.
type uploadSink struct {
	*events.AppendWindow
	stored, present atomic.Uint64
}

func newUploadSink(app events.Appender) *uploadSink {
	s := &uploadSink{}
	s.AppendWindow = events.NewAppendWindow(app, importWindow, &s.stored, &s.present)
	return s
}

// looksJSON reports whether the upload starts (decompressed) like JSON.
func (in uploadInput) looksJSON() bool {
	r, err := in.Open()
	if err != nil {
		return false
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(r, head)
	h := bytes.TrimLeft(bytes.TrimPrefix(head[:n], []byte("\xef\xbb\xbf")), " \t\r\n")
	return len(h) > 0 && (h[0] == '{' || h[0] == '[')
}

// importThroughEndpoint hands the upload to POST /api/v1/admin/import's
// handler, as the command line would post it, with the upload's query
// (user, device, tid), and turns its answer into the summary. What that
// endpoint reads, the upload reads, as it learns new formats.
func (s *Server) importThroughEndpoint(r *http.Request, in uploadInput) (ImportSummary, int) {
	sum := ImportSummary{Format: "import", What: in.Name, Problems: []ImportProblem{}}
	if _, err := in.File.Seek(0, io.SeekStart); err != nil {
		sum.Error = err.Error()
		return sum, http.StatusInternalServerError
	}
	q := r.URL.Query()
	q.Del("name")
	body := &countReader{r: in.File}
	req, err := http.NewRequestWithContext(s.ops.ctx, http.MethodPost, "/api/v1/admin/import?"+q.Encode(), body)
	if err != nil {
		sum.Error = err.Error()
		return sum, http.StatusInternalServerError
	}
	req.ContentLength = in.Size
	job := &s.ops.imp
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the job's progress: the bytes the endpoint has read
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				s.ops.update(job, func(j *Job) { j.Done = uint64(body.n.Load()) })
			}
		}
	}()
	rec := &answer{header: http.Header{}, code: http.StatusOK}
	start := time.Now()
	s.importEvents(rec, req)
	sum.Took = time.Since(start)
	if !rec.wrote { // it stopped with the server
		rec.code = http.StatusServiceUnavailable
		rec.body.WriteString(`{"error":"the server is stopping; upload the file again to finish (what was imported is recognised and skipped)"}`)
	}
	var a struct {
		Events         uint64          `json:"events"`
		Records        uint64          `json:"records"`
		Stored         uint64          `json:"stored"`
		AlreadyPresent uint64          `json:"already_present"`
		Format         string          `json:"format"`
		Problems       []ImportProblem `json:"problems"`
		Notes          []string        `json:"notes"`
		Error          string          `json:"error"`
	}
	if err := json.Unmarshal(rec.body.Bytes(), &a); err != nil {
		a.Error = strings.TrimSpace(rec.body.String())
	}
	sum.Read, sum.Stored, sum.AlreadyPresent, sum.Notes, sum.Error = max(a.Records, a.Events), a.Stored, a.AlreadyPresent, a.Notes, a.Error
	if a.Format != "" {
		sum.Format = a.Format
	}
	if a.Problems != nil {
		sum.Problems = a.Problems
	}
	sum.Text = summaryText(sum)
	s.ops.update(job, func(j *Job) { j.Records, j.Done = sum.Read, j.Total })
	return sum, rec.code
}

// answer keeps a handler's answer in memory.
type answer struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }
func (a *answer) WriteHeader(code int) {
	if !a.wrote {
		a.code, a.wrote = code, true
	}
}
func (a *answer) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(p)
}
