package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"tracker/events"
	"tracker/events/recorder"
)

// runImportRecorder: tracker import recorder DIR [--data DIR] [--server URL].
func runImportRecorder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var to target
	fs := newFlagSet("import recorder DIR [--data DIR]",
		`Imports an OwnTracks Recorder storage directory (the one with rec/, cards/ and
waypoints/ in it): every line of rec/<user>/<device>/YYYY-MM.rec becomes an event
at the line's time on owntracks/<user>/<device>[/<subtopic>], with source
import:recorder and the payload as the Recorder stored it; cards and waypoints
files become events too. Bad lines are reported with file and line and skipped.
Running it again adds nothing the second time. When a server holds the data
directory, the events go through its API (as an admin: set TRACKER_LOGIN and
TRACKER_LOGIN_PASSWORD).`, stderr)
	importFlags(&to, fs)
	pos, flags := splitArgs(fs, args)
	if err := parseFlags(fs, flags); err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("import recorder: name the Recorder's storage directory: tracker import recorder DIR")
	}
	dir, err := recorder.Open(pos[0])
	if err != nil {
		return fmt.Errorf("import recorder: %w", err)
	}
	var st recorder.Stats
	job := importJob{
		what:  fmt.Sprintf("%d files in %s", len(dir.Files), pos[0]),
		bytes: dir.Size,
		read: func(ctx context.Context, add func(events.Event, int64) error, problem func(reason, where string)) error {
			var err error
			st, err = dir.Read(ctx,
				func(r recorder.Record) error { return add(r.Event, r.Done) },
				func(p recorder.Problem) { problem(p.Reason, problemWhere(p)) })
			return err
		},
		notes: func() []string {
			if st.WaypointFilesInRec == 0 {
				return nil
			}
			return []string{fmt.Sprintf("%d waypoint files were not read: the same regions are lines of the .rec files", st.WaypointFilesInRec)}
		},
	}
	return runImportJob(ctx, to, job, stdout, stderr)
}

func problemWhere(p recorder.Problem) string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return p.File
}
