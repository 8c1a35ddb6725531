package main

import (
	"archive/zip"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tracker/events"
	"tracker/events/google"
)

// runImportGoogle: tracker import google FILE|DIR|ZIP --user U --device D [--data DIR].
func runImportGoogle(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		to  target
		dev google.Device
	)
	fs := newFlagSet("import google FILE --user U --device D [--data DIR]",
		`Imports Google location history as OwnTracks locations of one device: Records.json
of a Takeout archive, Semantic Location History month files (2019_MARCH.json), or
the Timeline export made on the phone (Timeline.json on Android,
location-history.json on iOS). FILE may also be a directory (a Takeout folder:
every .json file in it is read, others are listed and skipped), a Takeout .zip,
or a gzip-compressed file. Each position becomes an event on
owntracks/<user>/<device> at its own time, with source import:google; place
visits also become events on owntracks/<user>/<device>/visit. Records that
cannot be used are reported by reason and skipped. Running it again adds
nothing the second time. When a server holds the data directory, the events
go through its API.`, stderr)
	importFlags(&to, fs)
	fs.StringVar(&dev.User, "user", "", "`name` of the user whose history it is (the topic's user level)")
	fs.StringVar(&dev.Device, "device", "", "`name` of the device (the topic's device level)")
	fs.StringVar(&dev.TID, "tid", "", "tracker `id` in each location (default: the device's last two characters)")
	pos, flags := splitArgs(fs, args)
	if err := parseFlags(fs, flags); err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("import google: name one file, directory or .zip: tracker import google Records.json --user U --device D")
	}
	for _, l := range []struct{ flag, v string }{{"user", dev.User}, {"device", dev.Device}} {
		switch {
		case l.v == "":
			return fmt.Errorf("import google: give --%s (the points go to owntracks/<user>/<device>)", l.flag)
		case strings.ContainsAny(l.v, "/+#"):
			return fmt.Errorf("import google: --%s %q: a topic level cannot hold / + or #", l.flag, l.v)
		}
	}
	src, err := openGoogleSource(pos[0])
	if err != nil {
		return fmt.Errorf("import google: %w", err)
	}
	defer src.close()

	var (
		stats   []google.Stats
		skipped []string
	)
	job := importJob{
		what:  src.what,
		bytes: src.size,
		read: func(ctx context.Context, add func(events.Event, int64) error, problem func(reason, where string)) error {
			var before int64
			for _, f := range src.files {
				st, err := readGoogleFile(ctx, f, dev,
					func(r google.Record) error { return add(r.Event, before+r.Done) },
					func(p google.Problem) { problem(p.Reason, src.where(f, p.Where)) })
				before += f.size
				switch {
				case errors.Is(err, google.ErrNotGoogle) && len(src.files) > 1:
					skipped = append(skipped, f.name)
					continue
				case err != nil:
					return fmt.Errorf("%s: %w", f.name, err)
				}
				stats = append(stats, st)
			}
			return nil
		},
		notes: func() []string {
			notes := googleNotes(stats, dev)
			if len(skipped) > 0 {
				notes = append(notes, fmt.Sprintf("%d files are not location history and were not read: %s", len(skipped), listShort(skipped, 5)))
			}
			return notes
		},
	}
	return runImportJob(ctx, to, job, stdout, stderr)
}

// googleNotes adds the counts of several files' stats up, per format.
func googleNotes(stats []google.Stats, dev google.Device) []string {
	var (
		total  google.Stats
		byForm = map[google.Format]int{}
		order  []google.Format
	)
	total.DeviceTags = map[int64]int{}
	for _, s := range stats {
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
	notes := total.Notes(dev)
	if len(order) > 1 || len(stats) > 1 {
		var parts []string
		for _, f := range order {
			parts = append(parts, fmt.Sprintf("%d × %s", byForm[f], f))
		}
		notes = append([]string{"files read: " + strings.Join(parts, ", ")}, notes...)
	}
	return notes
}

func listShort(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", … (%d more)", len(names)-n)
}

// googleSource is what the command reads: one file, the .json files of a
// directory, or those of a zip archive.
type googleSource struct {
	what  string
	size  int64
	files []googleFile
	zip   *zip.ReadCloser
}

type googleFile struct {
	name string // as shown: relative to the directory or archive
	size int64
	open func() (io.ReadCloser, error)
}

func (s *googleSource) close() {
	if s.zip != nil {
		_ = s.zip.Close()
	}
}

func (s *googleSource) where(f googleFile, where string) string {
	return f.name + " " + where
}

// isGoogleJSON: the names worth reading in a directory or archive.
func isGoogleJSON(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".json.gz")
}

func openGoogleSource(path string) (*googleSource, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	src := &googleSource{what: path}
	switch {
	case fi.IsDir():
		err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !isGoogleJSON(d.Name()) || !d.Type().IsRegular() {
				return nil // links are not followed: only what is in the directory
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			src.files = append(src.files, googleFile{name: rel, size: info.Size(), open: func() (io.ReadCloser, error) { return os.Open(p) }})
			src.size += info.Size()
			return nil
		})
		if err != nil {
			return nil, err
		}
		src.what = fmt.Sprintf("%d files in %s", len(src.files), path)
	case strings.HasSuffix(strings.ToLower(path), ".zip"):
		z, err := zip.OpenReader(path)
		if err != nil {
			return nil, err
		}
		src.zip = z
		for _, zf := range z.File {
			if zf.FileInfo().IsDir() || !isGoogleJSON(zf.Name) {
				continue
			}
			src.files = append(src.files, googleFile{name: zf.Name, size: int64(zf.UncompressedSize64), open: zf.Open})
			src.size += int64(zf.UncompressedSize64)
		}
		src.what = fmt.Sprintf("%d files in %s", len(src.files), path)
	default:
		src.files = []googleFile{{name: filepath.Base(path), size: fi.Size(), open: func() (io.ReadCloser, error) { return os.Open(path) }}}
		src.size = fi.Size()
	}
	if len(src.files) == 0 {
		return nil, fmt.Errorf("%s: no .json files in it", path)
	}
	// Records.json first, then the months in order, as a person reads them.
	slices.SortStableFunc(src.files, func(a, b googleFile) int { return strings.Compare(a.name, b.name) })
	return src, nil
}

// readGoogleFile reads one file, gzip-compressed or not.
func readGoogleFile(ctx context.Context, f googleFile, dev google.Device, fn func(google.Record) error, problem func(google.Problem)) (google.Stats, error) {
	rc, err := f.open()
	if err != nil {
		return google.Stats{}, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return google.Stats{}, err
		}
		defer gz.Close()
		in = gz
	}
	return google.Read(ctx, in, dev, fn, problem)
}
