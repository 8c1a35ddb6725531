package web

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Unpacking an uploaded Recorder archive. An archive is outside input:
// its names may lead out of the directory (../, absolute paths, links),
// it may unpack to far more than it weighs (a zip bomb) or hold millions
// of entries. So only regular files of a Recorder store are written (a
// .rec, .json or .otrw file under rec/, cards/ or waypoints/, at any
// depth), each under the temporary directory by a name checked here,
// never through a link; the bytes written and the entries read are
// capped (at 50 times the archive's size, at least 256 MB, at most
// UploadLimits.MaxUnpacked), and the cap never goes past the free space
// of the volume.
// The Recorder's other directories (config/ holds passwords) are not
// written at all.

// unpackError is an archive over the limits: it answers 413.
type unpackError struct{ msg string }

func (e *unpackError) Error() string { return e.msg }

// Reasons an archive entry is skipped (in the summary's problems).
const (
	reasonUnsafeName = "archive entry with an unsafe name (absolute, .. or \\), not unpacked"
	reasonLink       = "archive entry is a link or special file, not unpacked"
	reasonDuplicate  = "archive entry appears twice, the first one is read"
)

// recorderTops are the Recorder store's directories the import reads.
var recorderTops = []string{"rec", "cards", "waypoints"}

// entryPath is where an archive entry named name goes, relative to the
// unpack directory with slashes; "" when it is not unpacked, with a
// reason when that is a problem worth reporting.
func entryPath(name string) (rel, problem string) {
	elems, ok := entryElems(name)
	if !ok {
		return "", reasonUnsafeName
	}
	i := slices.IndexFunc(elems, func(e string) bool { return slices.Contains(recorderTops, e) })
	if i < 0 || len(elems)-i < 3 { // rec/<user>/<file> at the least (old cards/<user>.json is 3 too)
		return "", ""
	}
	rel = strings.Join(elems[i:], "/")
	switch path.Ext(rel) {
	case ".rec", ".json", ".otrw":
		return rel, ""
	}
	return "", ""
}

// entryElems splits an archive entry's name into its path elements
// (without empty ones and "."); not ok when the name is unsafe: absolute,
// with .., a backslash or a NUL.
func entryElems(name string) (elems []string, ok bool) {
	if strings.ContainsRune(name, '\\') || strings.ContainsRune(name, 0) || path.IsAbs(name) {
		return nil, false
	}
	elems = strings.Split(strings.TrimSuffix(name, "/"), "/")
	if slices.Contains(elems, "..") {
		return nil, false
	}
	return slices.DeleteFunc(elems, func(e string) bool { return e == "" || e == "." }), true
}

// unpacker writes the entries of one archive under dir.
type unpacker struct {
	dir     string
	left    int64 // bytes that may still be written
	limit   int64
	files   int
	max     int
	problem func(reason, where string)
}

// maxRatio bounds what an archive unpacks to by its own size: Recorder
// files compress about 10:1, a bomb a thousand times better; but small
// archives may always unpack to minRatioCap.
const (
	maxRatio    = 50
	minRatioCap = 256 << 20
)

func (s *Server) newUnpacker(in uploadInput, dir string, problem func(string, string)) *unpacker {
	limit := min(in.Limits.MaxUnpacked, max(maxRatio*in.Size, minRatioCap))
	if s.Disk != nil {
		free := s.Disk.Free() - min(s.Disk.Free(), s.Disk.Min())
		limit = min(limit, int64(min(free, 1<<62)))
	}
	return &unpacker{dir: dir, left: limit, limit: limit, max: in.Limits.MaxFiles, problem: problem}
}

func (u *unpacker) tooLarge() error {
	return &unpackError{fmt.Sprintf("the archive unpacks to more than %d MB (the limit: 50 times its size, at most 16 GB and the free space of the data volume); unpack it and use tracker import recorder on the server", u.limit>>20)}
}

// entry counts one entry against the cap on entries.
func (u *unpacker) entry() error {
	u.files++
	if u.files > u.max {
		return &unpackError{fmt.Sprintf("the archive holds more than %d entries", u.max)}
	}
	return nil
}

// write writes one regular file's content to rel.
func (u *unpacker) write(rel, name string, r io.Reader) error {
	target := filepath.Join(u.dir, filepath.FromSlash(rel))
	if !strings.HasPrefix(target, u.dir+string(filepath.Separator)) { // entryPath made sure; this is the last word
		u.problem(reasonUnsafeName, name)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		u.problem(reasonDuplicate, name)
		return nil
	}
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, u.left+1))
	u.left -= n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && u.left < 0 {
		err = u.tooLarge()
	}
	if err != nil {
		_ = os.Remove(target) // no half file is read
		if errors.As(err, new(*unpackError)) {
			return err
		}
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	return nil
}

// unpack writes the Recorder files of the uploaded tar, tar.gz or zip
// archive under dir.
func unpack(ctx context.Context, s *Server, in uploadInput, dir string, problem func(string, string)) error {
	u := s.newUnpacker(in, dir, problem)
	head := make([]byte, 4)
	if _, err := in.File.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if bytes.Equal(head, []byte("PK\x03\x04")) {
		return u.unzip(ctx, in.File, in.Size)
	}
	r, err := in.Open()
	if err != nil {
		return err
	}
	return u.untar(ctx, r)
}

func (u *unpacker) untar(ctx context.Context, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("the tar archive is damaged: %w", err)
		}
		if err := u.entry(); err != nil {
			return err
		}
		rel, why := entryPath(h.Name)
		switch {
		case why != "":
			u.problem(why, h.Name)
		case rel == "" || h.Typeflag == tar.TypeDir:
		case h.Typeflag != tar.TypeReg:
			u.problem(reasonLink, h.Name)
		default:
			if err := u.write(rel, h.Name, tr); err != nil {
				return err
			}
		}
	}
}

func (u *unpacker) unzip(ctx context.Context, f io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return fmt.Errorf("the zip archive is damaged: %w", err)
	}
	if len(zr.File) > u.max {
		return &unpackError{fmt.Sprintf("the archive holds more than %d entries", u.max)}
	}
	// What the archive says it unpacks to is checked first (and the
	// bytes written are counted anyway: the sizes may lie).
	var declared uint64
	for _, zf := range zr.File {
		if rel, _ := entryPath(zf.Name); rel != "" {
			declared += zf.UncompressedSize64
		}
	}
	if declared > uint64(u.limit) {
		return u.tooLarge()
	}
	for _, zf := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := u.entry(); err != nil {
			return err
		}
		rel, why := entryPath(zf.Name)
		mode := zf.Mode()
		switch {
		case why != "":
			u.problem(why, zf.Name)
		case rel == "" || mode.IsDir():
		case !mode.IsRegular():
			u.problem(reasonLink, zf.Name)
		default:
			rc, err := zf.Open()
			if err != nil {
				u.problem("archive entry cannot be read: "+err.Error(), zf.Name)
				continue
			}
			err = u.write(rel, zf.Name, rc)
			rc.Close()
			if errors.Is(err, zip.ErrChecksum) || errors.Is(err, zip.ErrFormat) {
				u.problem("archive entry is damaged", zf.Name)
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
