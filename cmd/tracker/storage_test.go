package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStorageUsage: the data directory's bytes on disk are counted by
// part: the log, every projections generation, the rest; leftovers of
// uploads are removed at start.
func TestStorageUsage(t *testing.T) {
	data := dataDir(t.TempDir())
	write := func(rel string, n int) {
		t.Helper()
		p := filepath.Join(string(data), rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("log/000001.vlog", 64<<10)
	write("log/MANIFEST", 100)
	write("projections-3/000001.sst", 32<<10)
	write("projections-2/000001.sst", 16<<10) // an old generation still takes space
	write("sessions.json", 4<<10)
	write("uploads/upload-123", 8<<10) // a crash's leftover
	if err := os.Symlink("projections-3", filepath.Join(string(data), "projections")); err != nil {
		t.Fatal(err)
	}
	dir, err := data.uploadsDir()
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("uploads left at start: %v", es)
	}
	u, err := (&storageUsage{data: data}).Usage()
	if err != nil {
		t.Fatal(err)
	}
	// Sizes on disk are whole blocks: at least what was written, at most a block more per file.
	within := func(what string, got, want int64, files int64) {
		if got < want || got > want+files*8192 {
			t.Errorf("%s: %d bytes on disk, want %d (+ a block per file)", what, got, want)
		}
	}
	within("log", u.LogBytes, 64<<10+100, 2)
	within("projections", u.ProjectionsBytes, 48<<10, 2)
	within("other", u.OtherBytes, 4<<10, 1)
}
