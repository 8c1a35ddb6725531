package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

const defaultData = "./tracker-data"

// dataDir is the data directory (--data) and the one place that knows
// what lives in it:
//
//	log/                    the event log (Badger)
//	projections -> projections-<n>/   the projections, one generation each (the projector's)
//	sessions.json           web logins
//	server.json             the running server's address, for other commands
//	mirror-dynamodb.json    the DynamoDB mirror's checkpoint
//	acme/                   certificates from ACME
//	webpush-vapid.pem       the Web Push (VAPID) private key, 0600 (webpush.go)
type dataDir string

// flag declares --data.
func (d *dataDir) flag(fs *flag.FlagSet, usage string) {
	*d = defaultData
	fs.Var(d, "data", usage)
}

func (d *dataDir) String() string { return string(*d) }
func (d *dataDir) Set(v string) error {
	*d = dataDir(v)
	return nil
}

// create makes the directory (the first user may be added, or a first
// import made, before the server ever ran).
func (d dataDir) create() error {
	if err := os.MkdirAll(string(d), 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

func (d dataDir) path(name string) string { return filepath.Join(string(d), name) }

// logDir holds the event log's Badger database.
func (d dataDir) logDir() string { return d.path("log") }

// projections is the root under which the projector keeps its
// generations (beside the log, so a rebuild can build a fresh one and
// swap it in).
func (d dataDir) projections() string { return string(d) }

func (d dataDir) sessionsFile() string     { return d.path("sessions.json") }
func (d dataDir) mirrorCheckpoint() string { return d.path(mirrorCheckpointFile) }
func (d dataDir) acmeCache() string        { return d.path("acme") }
func (d dataDir) serverInfoFile() string   { return d.path(serverInfoFile) }

const (
	serverInfoFile       = "server.json"
	mirrorCheckpointFile = "mirror-dynamodb.json"
)

// serverInfo is written to the data directory so other commands can find
// the running server (e.g. `tracker log` when the database is locked).
type serverInfo struct {
	HTTP string `json:"http"` // base URL
	PID  int    `json:"pid"`
}

func (d dataDir) writeServerInfo(info serverInfo) error {
	b, _ := json.Marshal(info)
	if err := os.WriteFile(d.serverInfoFile(), b, 0o640); err != nil {
		return fmt.Errorf("write %s: %w", d.serverInfoFile(), err)
	}
	return nil
}

func (d dataDir) removeServerInfo() { _ = os.Remove(d.serverInfoFile()) }

func (d dataDir) readServerInfo() (serverInfo, error) {
	var info serverInfo
	b, err := os.ReadFile(d.serverInfoFile())
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("%s: %w", serverInfoFile, err)
	}
	return info, nil
}

// hasLog says whether an event log exists here (also one an erasure
// was swapping when it was interrupted: opening it finishes the swap).
func (d dataDir) hasLog() bool {
	for _, dir := range []string{d.logDir(), d.logDir() + ".erase-new", d.logDir() + ".erase-old"} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}
