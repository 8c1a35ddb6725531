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
