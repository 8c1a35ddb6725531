package main

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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

	files := &google.Files{Device: dev, Several: len(src.files) > 1}
	job := importJob{
		what:  src.what,
		bytes: src.size,
		read: func(ctx context.Context, add func(events.Event, int64) error, problem func(reason, where string)) error {
			return files.ReadAll(ctx, src.files,
				func(r google.Record) error { return add(r.Event, r.Done) },
				func(p google.Problem) { problem(p.Reason, p.Where) })
		},
		notes: files.Notes,
	}
	return runImportJob(ctx, to, job, stdout, stderr)
}

// googleSource is what the command reads: one file, the .json files of a
// directory, or those of a zip archive.
type googleSource struct {
	what  string
	size  int64
	files []google.File
	zip   *zip.ReadCloser
}

func (s *googleSource) close() {
	if s.zip != nil {
		_ = s.zip.Close()
	}
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
			if d.IsDir() || !google.IsHistoryFile(d.Name()) || !d.Type().IsRegular() {
				return nil // links are not followed: only what is in the directory
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			src.files = append(src.files, google.File{Name: rel, Size: info.Size(), Open: func() (io.ReadCloser, error) { return os.Open(p) }})
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
			if zf.FileInfo().IsDir() || !google.IsHistoryFile(zf.Name) {
				continue
			}
			src.files = append(src.files, google.File{Name: zf.Name, Size: int64(zf.UncompressedSize64), Open: zf.Open})
			src.size += int64(zf.UncompressedSize64)
		}
		src.what = fmt.Sprintf("%d files in %s", len(src.files), path)
	default:
		src.files = []google.File{{Name: filepath.Base(path), Size: fi.Size(), Open: func() (io.ReadCloser, error) { return os.Open(path) }}}
		src.size = fi.Size()
	}
	if len(src.files) == 0 {
		return nil, fmt.Errorf("%s: no .json files in it", path)
	}
	return src, nil
}
