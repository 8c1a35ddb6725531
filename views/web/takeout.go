package web

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"tracker/events"
	"tracker/events/google"
)

// Google Takeout archives (.zip or .tgz, as Takeout makes them, or a zip
// of the phone's Timeline.json) uploaded on /admin. They are told from a
// Recorder archive by their entries (google.IsTakeoutEntry: Records.json,
// a Semantic Location History month, Timeline.json …), and every JSON
// file in them is read by the Google reader as `tracker import google`
// reads a Takeout folder (google.Files), straight from the archive:
// nothing is unpacked to disk. The limits of other archives hold: the
// entries are counted, what is read is capped at the unpack limit
// (newUnpacker), and entries with unsafe names, links and a name seen
// before are reported and not read.

// takeoutFormat reads Google Takeout archives; it comes before
// "recorder", which takes any archive.
var takeoutFormat = uploadFormat{Name: "takeout", NeedsDevice: true, Sniff: sniffArchive, Confirm: isTakeout, Read: readTakeoutUpload}

func sniffArchive(head []byte, zipped bool, _ string) bool { return zipped || isTar(head) }

// takeoutEntry says what to do with an archive entry: read it (ok), skip
// it quietly, or skip it with a reason.
func takeoutEntry(name string, regular, dir bool, seen map[string]bool) (ok bool, problem string) {
	elems, safe := entryElems(name)
	switch {
	case !safe:
		return false, reasonUnsafeName
	case dir || !google.IsHistoryFile(name):
		return false, ""
	case !regular:
		return false, reasonLink
	}
	clean := strings.Join(elems, "/")
	if seen[clean] {
		return false, reasonDuplicate
	}
	seen[clean] = true
	return true, ""
}

// isTakeout looks at the archive's entries up to the first that decides:
// a Recorder store's file (then it is not Takeout) or a location history
// file of Google's. A zip's names are in its directory; a tar's are
// read in turn, within the limits on entries and unpacked bytes (past
// them, the Recorder reader says why).
func isTakeout(in uploadInput, zipped bool) bool {
	decide := func(name string) (takeout, decided bool) {
		if rel, _ := entryPath(name); rel != "" {
			return false, true
		}
		if _, safe := entryElems(name); safe && google.IsTakeoutEntry(name) {
			return true, true
		}
		return false, false
	}
	if zipped {
		zr, err := zip.NewReader(in.File, in.Size)
		if err != nil || len(zr.File) > in.Limits.MaxFiles {
			return false
		}
		for _, zf := range zr.File {
			if takeout, decided := decide(zf.Name); decided {
				return takeout
			}
		}
		return false
	}
	if in.newUnpacker == nil {
		return false
	}
	r, err := in.Open()
	if err != nil {
		return false
	}
	u := in.newUnpacker(nil)
	budget := &budgetReader{r: r, u: u}
	tr := tar.NewReader(budget)
	for range in.Limits.MaxFiles {
		h, err := tr.Next()
		if err != nil {
			return false
		}
		if takeout, decided := decide(h.Name); decided {
			return takeout
		}
	}
	return false
}

// budgetReader counts what is read against the unpacker's cap on
// unpacked bytes.
type budgetReader struct {
	r io.Reader
	u *unpacker
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.u.left < 0 {
		return 0, b.u.takeoutTooLarge()
	}
	n, err := b.r.Read(p)
	b.u.left -= int64(n)
	if b.u.left < 0 {
		return n, b.u.takeoutTooLarge()
	}
	return n, err
}

func (u *unpacker) takeoutTooLarge() error {
	return &unpackError{fmt.Sprintf("the archive unpacks to more than %d MB (the limit: 50 times its size, at most 16 GB and the free space of the data volume); unpack it and use tracker import google on the server", u.limit>>20)}
}

// readTakeoutUpload imports every location history file of a Takeout
// zip or tar(.gz) for the device of the upload.
func readTakeoutUpload(ctx context.Context, in uploadInput, add func(events.Event, int64) error, problem func(string, string)) ([]string, error) {
	if in.newUnpacker == nil {
		return nil, errors.New("no limits for archives")
	}
	u := in.newUnpacker(problem)
	files := &google.Files{Device: google.Device{User: in.User, Device: in.Device, TID: in.TID}, Several: true}
	seen := map[string]bool{}
	onProblem := func(p google.Problem) { problem(p.Reason, p.Where) }
	head := make([]byte, 4)
	if _, err := in.File.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var err error
	if string(head) == "PK\x03\x04" {
		err = readTakeoutZip(ctx, u, in, files, seen, add, onProblem)
	} else {
		err = readTakeoutTar(ctx, u, in, files, seen, add, onProblem)
	}
	if err == nil && files.History() == 0 {
		err = errors.New("the archive holds no Google location history (no Records.json, Semantic Location History month or Timeline export in it)")
	}
	return files.Notes(), err
}

func readTakeoutZip(ctx context.Context, u *unpacker, in uploadInput, files *google.Files, seen map[string]bool,
	add func(events.Event, int64) error, problem func(google.Problem)) error {
	zr, err := zip.NewReader(in.File, in.Size)
	if err != nil {
		return fmt.Errorf("the zip archive is damaged: %w", err)
	}
	if len(zr.File) > u.max {
		return &unpackError{fmt.Sprintf("the archive holds more than %d entries", u.max)}
	}
	var (
		list     []google.File
		declared uint64
	)
	for _, zf := range zr.File {
		if err := u.entry(); err != nil {
			return err
		}
		mode := zf.Mode()
		ok, why := takeoutEntry(zf.Name, mode.IsRegular(), mode.IsDir(), seen)
		if why != "" {
			u.problem(why, zf.Name)
		}
		if !ok {
			continue
		}
		declared += zf.UncompressedSize64
		list = append(list, google.File{Name: zf.Name, Size: int64(zf.UncompressedSize64), Open: func() (io.ReadCloser, error) {
			rc, err := zf.Open()
			if err != nil {
				return nil, err
			}
			return struct {
				io.Reader
				io.Closer
			}{&budgetReader{r: rc, u: u}, rc}, nil
		}})
	}
	// What the archive says it unpacks to is checked first (and the bytes
	// read are counted anyway: the sizes may lie).
	if declared > uint64(u.limit) {
		return u.takeoutTooLarge()
	}
	// Progress: the uncompressed bytes read, in the upload's size.
	scale := float64(in.Size) / float64(max(declared, 1))
	return files.ReadAll(ctx, list, func(r google.Record) error { return add(r.Event, int64(float64(r.Done)*scale)) }, problem)
}

func readTakeoutTar(ctx context.Context, u *unpacker, in uploadInput, files *google.Files, seen map[string]bool,
	add func(events.Event, int64) error, problem func(google.Problem)) error {
	if _, err := in.File.Seek(0, io.SeekStart); err != nil {
		return err
	}
	raw := &countReader{r: in.File} // progress: the upload's bytes read
	br := bufio.NewReaderSize(raw, 64<<10)
	var r io.Reader = br
	if isGzip(br) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		r = gz
	}
	tr := tar.NewReader(&budgetReader{r: r, u: u})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			if errors.As(err, new(*unpackError)) {
				return err
			}
			return fmt.Errorf("the tar archive is damaged: %w", err)
		}
		if err := u.entry(); err != nil {
			return err
		}
		ok, why := takeoutEntry(h.Name, h.Typeflag == tar.TypeReg, h.Typeflag == tar.TypeDir, seen)
		if why != "" {
			u.problem(why, h.Name)
		}
		if !ok {
			continue
		}
		if err := files.Read(ctx, h.Name, h.Size, tr, func(rec google.Record) error { return add(rec.Event, raw.n.Load()) }, problem); err != nil {
			return err
		}
	}
}
