package google

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// Several files of one person's history: a Takeout folder or archive
// holds Records.json, a Semantic Location History month per file and
// other JSON that is not location history (Settings.json, Timeline
// Edits.json); a zip may hold the phone's Timeline.json. The command line
// (a folder or .zip) and the server's upload (a .zip or .tar.gz) read
// them the same way, through Files.

// IsHistoryFile reports whether a file of a folder or archive is worth
// reading: JSON, gzip-compressed or not. Which of them are location
// history, Read tells by their content.
func IsHistoryFile(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".json.gz")
}

// IsTakeoutEntry reports whether an archive entry's name is one Google
// gives location history: Records.json (or the older Location
// History.json), a Semantic Location History month, or the phone's
// export (Timeline.json on Android, location-history.json on iOS). An
// archive holding one is a Takeout archive.
func IsTakeoutEntry(name string) bool {
	n := strings.ToLower(strings.TrimSuffix(name, ".gz"))
	if path.Ext(n) != ".json" {
		return false
	}
	switch path.Base(n) {
	case "records.json", "location history.json", "timeline.json", "location-history.json":
		return true
	}
	return slices.Contains(strings.Split(path.Dir(n), "/"), "semantic location history")
}

// File is one file of a folder or archive.
type File struct {
	Name string // as shown: relative to the folder or archive
	Size int64  // uncompressed, for progress
	Open func() (io.ReadCloser, error)
}

// Files reads the files of one folder or archive in turn, for one
// device, and sums up what was in them.
type Files struct {
	Device Device
	// Several: the files are those of a folder or archive, so one that
	// is not location history is listed in the notes and skipped, not an
	// error.
	Several bool

	stats   []Stats
	skipped []string
	done    int64 // bytes of the files before the current one
}

// ReadAll reads files in the order of their names (Records.json, then
// the months in order, as a person reads them).
func (fs *Files) ReadAll(ctx context.Context, files []File, fn func(Record) error, problem func(Problem)) error {
	files = slices.Clone(files)
	slices.SortStableFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range files {
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		err = fs.Read(ctx, f.Name, f.Size, rc, fn, problem)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// Read reads one file (gzip-compressed or not) named name of size bytes.
// Record.Done counts the bytes of the files read before it too, and each
// Problem's Where starts with the file's name.
func (fs *Files) Read(ctx context.Context, name string, size int64, r io.Reader, fn func(Record) error, problem func(Problem)) error {
	before := fs.done
	fs.done += size
	br := bufio.NewReaderSize(r, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer gz.Close()
		in = gz
	}
	st, err := Read(ctx, in, fs.Device,
		func(rec Record) error { rec.Done += before; return fn(rec) },
		func(p Problem) { p.Where = name + " " + p.Where; problem(p) })
	switch {
	case errors.Is(err, ErrNotGoogle) && fs.Several:
		fs.skipped = append(fs.skipped, name)
		return nil
	case err != nil:
		return fmt.Errorf("%s: %w", name, err)
	}
	fs.stats = append(fs.stats, st)
	return nil
}

// History reports how many files were location history.
func (fs *Files) History() int { return len(fs.stats) }

// Notes sums the files' counts up, per format, as sentences for the
// summary.
func (fs *Files) Notes() []string {
	var (
		total  Stats
		byForm = map[Format]int{}
		order  []Format
	)
	total.DeviceTags = map[int64]int{}
	for _, s := range fs.stats {
		if byForm[s.Format] == 0 {
			order = append(order, s.Format)
		}
		byForm[s.Format]++
		total.Records += s.Records
		total.Points += s.Points
		total.Visits += s.Visits
		total.Activities += s.Activities
		total.Interpolate += s.Interpolate
		total.Wrapped += s.Wrapped
		total.Signals += s.Signals
		total.Frequent += s.Frequent
		total.Memories += s.Memories
		for k, v := range s.DeviceTags {
			total.DeviceTags[k] += v
		}
	}
	if len(order) == 1 {
		total.Format = order[0]
	}
	notes := total.Notes(fs.Device)
	if len(order) > 1 || len(fs.stats) > 1 {
		var parts []string
		for _, f := range order {
			parts = append(parts, fmt.Sprintf("%d × %s", byForm[f], f))
		}
		notes = append([]string{"files read: " + strings.Join(parts, ", ")}, notes...)
	}
	if len(fs.skipped) > 0 {
		notes = append(notes, fmt.Sprintf("%d files are not location history and were not read: %s", len(fs.skipped), listShort(fs.skipped, 5)))
	}
	return notes
}

func listShort(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", … (%d more)", len(names)-n)
}
