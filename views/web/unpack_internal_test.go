package web

import (
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzEntryPath: whatever an archive names an entry, what is unpacked
// stays under the unpack directory and under a Recorder directory.
func FuzzEntryPath(f *testing.F) {
	for _, s := range []string{"rec/a/b/2026-01.rec", "store/rec/a/b/x.rec", "../rec/a/b/c.rec", "/rec/a/b/c.rec",
		`rec\..\..\x.rec`, "rec/../../../x.rec", "rec/a/./b/c.json", "cards/a/a.json", "rec//a//b//c.rec", "rec/a/b/..rec",
		"waypoints/a/b/c.otrw", "config/a/b/c.otrc", "rec/a/b/c.rec/", "rec/a\x00/b/c.rec"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		rel, _ := entryPath(name)
		if rel == "" {
			return
		}
		if !filepath.IsLocal(filepath.FromSlash(rel)) || path.Clean(rel) != rel {
			t.Fatalf("%q unpacks to %q, not a clean local path", name, rel)
		}
		top, _, _ := strings.Cut(rel, "/")
		if !slices.Contains(recorderTops, top) {
			t.Fatalf("%q unpacks to %q, outside rec/, cards/ and waypoints/", name, rel)
		}
	})
}

// TestUnpackCap: an archive may unpack to 50 times its size, at least
// 256 MB, at most the limit and the free space above the minimum.
func TestUnpackCap(t *testing.T) {
	for _, tc := range []struct {
		name       string
		size, max  int64
		free, keep uint64 // 0: no disk guard
		want       int64
	}{
		{"a 20 KB bomb", 20 << 10, 16 << 30, 0, 0, 256 << 20},
		{"a 1 GB archive", 1 << 30, 16 << 30, 0, 0, 16 << 30},
		{"a 100 MB archive", 100 << 20, 16 << 30, 0, 0, 50 * 100 << 20},
		{"the free space", 1 << 30, 16 << 30, 3 << 30, 1 << 30, 2 << 30},
		{"a full disk", 1 << 30, 16 << 30, 1 << 30, 2 << 30, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{}
			if tc.free > 0 {
				s.Disk = fixedDisk{free: tc.free, min: tc.keep}
			}
			u := s.newUnpacker(uploadInput{Size: tc.size, Limits: UploadLimits{MaxUnpacked: tc.max}}, "/x", nil)
			if u.limit != tc.want {
				t.Errorf("cap %d MB, want %d MB", u.limit>>20, tc.want>>20)
			}
		})
	}
}

// fixedDisk is a data volume with fixed free space.
type fixedDisk struct{ free, min uint64 }

func (fixedDisk) Check() error   { return nil }
func (d fixedDisk) Low() bool    { return d.free < d.min }
func (d fixedDisk) Free() uint64 { return d.free }
func (d fixedDisk) Min() uint64  { return d.min }
