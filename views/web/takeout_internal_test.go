package web

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzTakeoutEntry: whatever an archive names an entry, one that is read
// has a clean local name that is JSON, and a name with .. or an absolute
// path is reported, never read.
func FuzzTakeoutEntry(f *testing.F) {
	for _, s := range []string{"Takeout/Location History (Timeline)/Records.json", "../Takeout/Records.json", "/Records.json",
		`Takeout\..\Records.json`, "Takeout/./a/../Records.json", "Timeline.json", "a\x00/Records.json", "Takeout//x.json.gz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ok, problem := takeoutEntry(name, true, false, map[string]bool{})
		if ok && problem != "" {
			t.Fatalf("%q: read and reported (%s)", name, problem)
		}
		if !ok {
			return
		}
		clean := path.Clean(strings.ReplaceAll(name, "//", "/"))
		if !filepath.IsLocal(filepath.FromSlash(clean)) || strings.Contains(name, "..") && strings.Contains("/"+name+"/", "/../") {
			t.Fatalf("%q is read: not a local name", name)
		}
		if n := strings.ToLower(name); !strings.HasSuffix(n, ".json") && !strings.HasSuffix(n, ".json.gz") {
			t.Fatalf("%q is read: not JSON", name)
		}
	})
}
