package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// ShareViews counts the views of share links in memory and keeps them
// in a file (a disposable place: a lost file loses counts, nothing else),
// never in the log, so anonymous viewers cannot make the log grow. Only
// links that exist are counted (the web side finds the link first), so
// memory and file are bounded by the number of links.
type ShareViews struct {
	file string

	mu    sync.Mutex
	m     map[string]ShareViewCount
	dirty bool
}

// ShareViewCount is one link's views.
type ShareViewCount struct {
	Views int64     `json:"views"`
	Last  time.Time `json:"last,omitzero"` // the last view
}

// OpenShareViews loads the counts in file (missing is fine; "" keeps
// them in memory only).
func OpenShareViews(file string) (*ShareViews, error) {
	v := &ShareViews{file: file, m: map[string]ShareViewCount{}}
	if file == "" {
		return v, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return v, nil
	}
	if err != nil {
		return nil, fmt.Errorf("share views: %w", err)
	}
	if err := json.Unmarshal(b, &v.m); err != nil {
		// The counts are disposable: start again rather than refuse to start.
		v.m = map[string]ShareViewCount{}
	}
	return v, nil
}

// Add counts a view of link id at.
func (v *ShareViews) Add(id string, at time.Time) {
	if v == nil {
		return
	}
	v.mu.Lock()
	c := v.m[id]
	c.Views++
	c.Last = at.UTC()
	v.m[id] = c
	v.dirty = true
	v.mu.Unlock()
}

// Get returns link id's count.
func (v *ShareViews) Get(id string) ShareViewCount {
	if v == nil {
		return ShareViewCount{}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[id]
}

// Save writes the counts of the links keep wants (others are forgotten)
// when any changed since the last save.
func (v *ShareViews) Save(keep func(id string) bool) error {
	if v == nil {
		return nil
	}
	v.mu.Lock()
	for id := range v.m {
		if !keep(id) {
			delete(v.m, id)
		}
	}
	if !v.dirty || v.file == "" {
		v.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(v.m)
	v.dirty = false
	v.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := v.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		v.markDirty()
		return fmt.Errorf("share views: %w", err)
	}
	if err := os.Rename(tmp, v.file); err != nil {
		v.markDirty()
		return fmt.Errorf("share views: %w", err)
	}
	return nil
}

func (v *ShareViews) markDirty() {
	v.mu.Lock()
	v.dirty = true
	v.mu.Unlock()
}
