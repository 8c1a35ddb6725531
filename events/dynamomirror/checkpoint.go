package dynamomirror

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkpoint is the content of the checkpoint file: the table it is for
// and the last sequence number written to it, with every one before it.
type checkpoint struct {
	Table string `json:"table"`
	Seq   uint64 `json:"seq"`
}

// loadCheckpoint reads the checkpoint file; a missing file is sequence 0.
func loadCheckpoint(path string) (checkpoint, error) {
	var c checkpoint
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("dynamomirror: read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("dynamomirror: checkpoint %s is damaged (%v); delete it to copy the whole log again", path, err)
	}
	return c, nil
}

// saveCheckpoint replaces the checkpoint file atomically: a temporary
// file beside it, synced, then renamed over it, then the directory synced.
func saveCheckpoint(path string, c checkpoint) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("dynamomirror: save checkpoint: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("dynamomirror: save checkpoint: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: the rename is already atomic
		_ = d.Close()
	}
	return nil
}
