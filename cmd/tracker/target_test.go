package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tracker/events/badgerlog"
)

// TestTargetReach: a command opens the log of --data itself, or goes
// through the server that holds it (recorded in server.json, or named by
// --server), and says so; without a log, or a held log without a known
// server, it says what to do.
func TestTargetReach(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, d dataDir) // may hold the log until the test ends
		server     string
		create     bool
		wantLog    bool
		wantServer string // base URL of the client, "" for none
		wantErr    string
		wantSaid   string
	}{
		{name: "no log", wantErr: "no event log in"},
		{name: "no log, created", create: true, wantLog: true},
		{name: "log", setup: func(t *testing.T, d dataDir) { closeLog(t, openTestLog(t, d)) }, wantLog: true},
		{name: "--server", server: "http://127.0.0.1:1/", wantServer: "http://127.0.0.1:1"},
		{name: "held, server recorded", setup: func(t *testing.T, d dataDir) {
			holdLog(t, d)
			if err := d.writeServerInfo(serverInfo{HTTP: "http://127.0.0.1:2", PID: 42}); err != nil {
				t.Fatal(err)
			}
		}, wantServer: "http://127.0.0.1:2", wantSaid: "in use by a running server (pid 42); reading through http://127.0.0.1:2"},
		{name: "held, no server recorded", setup: holdLog, wantErr: "no running server is recorded there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := dataDir(filepath.Join(t.TempDir(), "data"))
			if tt.setup != nil {
				tt.setup(t, d)
			}
			var said bytes.Buffer
			log, api, err := target{data: d, server: tt.server}.reach(tt.create, badgerlog.Options{}, "reading", nil, &said)
			if log != nil {
				closeLog(t, log)
			}
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if (log != nil) != tt.wantLog {
				t.Errorf("log opened: %v, want %v", log != nil, tt.wantLog)
			}
			if base := clientBase(api); base != tt.wantServer {
				t.Errorf("through server %q, want %q", base, tt.wantServer)
			}
			if !strings.Contains(said.String(), tt.wantSaid) {
				t.Errorf("said %q, want %q", said.String(), tt.wantSaid)
			}
		})
	}
}

func clientBase(c *adminClient) string {
	if c == nil {
		return ""
	}
	return c.base
}

func openTestLog(t *testing.T, d dataDir) *badgerlog.Log {
	t.Helper()
	if err := os.MkdirAll(string(d), 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := badgerlog.Open(d.logDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func closeLog(t *testing.T, l *badgerlog.Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// holdLog keeps d's log open until the test ends, as a running server does.
func holdLog(t *testing.T, d dataDir) {
	l := openTestLog(t, d)
	t.Cleanup(func() { closeLog(t, l) })
}

// TestLogClosesItsDatabase: closing the log releases its database, so
// the next command opens the directory again (no one closes a database
// beside the log).
func TestLogClosesItsDatabase(t *testing.T) {
	d := dataDir(t.TempDir())
	for range 2 {
		l, err := target{data: d}.openLog(true, badgerlog.Options{})
		if errors.Is(err, badgerlog.ErrLocked) {
			t.Fatal("the log's database is still held after Close")
		}
		if err != nil {
			t.Fatal(err)
		}
		closeLog(t, l)
	}
}
