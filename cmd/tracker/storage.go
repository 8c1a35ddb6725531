package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"tracker/views/web"
)

// uploadsDir holds uploads while they are imported (the operations page):
// on the data volume, so the full-disk guard and the free space the page
// shows count them. What a crash left there is removed at start.
func (d dataDir) uploadsDir() (string, error) {
	dir := d.path("uploads")
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	return dir, nil
}

// storageUsage measures the data directory for the operations page, at
// most once every storageEvery (a walk of a large Badger directory is a
// few hundred stat calls).
type storageUsage struct {
	data dataDir

	mu   sync.Mutex
	at   time.Time
	last web.StorageUsage
	err  error
}

const storageEvery = 10 * time.Second

func (s *storageUsage) Usage() (web.StorageUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.at) < storageEvery {
		return s.last, s.err
	}
	s.at = time.Now()
	s.last, s.err = s.measure()
	return s.last, s.err
}

func (s *storageUsage) measure() (web.StorageUsage, error) {
	var u web.StorageUsage
	root := string(s.data)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile (an old generation, a finished upload)
				return nil
			}
			return err
		}
		if !e.Type().IsRegular() {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		size := info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			size = st.Blocks * 512 // on disk: Badger's value log files are sparse, far larger than what they hold
		}
		rel, _ := filepath.Rel(root, p)
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		switch {
		case top == "log":
			u.LogBytes += size
		case strings.HasPrefix(top, "projections"):
			u.ProjectionsBytes += size
		default:
			u.OtherBytes += size
		}
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("measure %s: %w", root, err)
	}
	return u, nil
}
