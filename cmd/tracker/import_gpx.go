package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"tracker/events"
	"tracker/events/gpx"
)

// runImportGPX: tracker import gpx FILE --user U --device D [--data DIR].
func runImportGPX(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		to  target
		dev gpx.Device
	)
	fs := newFlagSet("import gpx FILE --user U --device D [--data DIR]",
		`Imports the track and route points of a GPX file as OwnTracks locations of one
device: each point becomes an event on owntracks/<user>/<device> at the point's
time, with source import:gpx. Points without a time or with coordinates out of
range are reported and skipped; waypoints (wpt) are places, not positions, and
are not imported. Running it again adds nothing the second time. When a server
holds the data directory, the events go through its API.`, stderr)
	importFlags(&to, fs)
	fs.StringVar(&dev.User, "user", "", "`name` of the user whose points they are (the topic's user level)")
	fs.StringVar(&dev.Device, "device", "", "`name` of the device (the topic's device level)")
	fs.StringVar(&dev.TID, "tid", "", "tracker `id` in each location (default: the device's last two characters)")
	pos, flags := splitArgs(fs, args)
	if err := parseFlags(fs, flags); err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("import gpx: name one GPX file: tracker import gpx FILE --user U --device D")
	}
	for _, l := range []struct{ flag, v string }{{"user", dev.User}, {"device", dev.Device}} {
		switch {
		case l.v == "":
			return fmt.Errorf("import gpx: give --%s (the points go to owntracks/<user>/<device>)", l.flag)
		case strings.ContainsAny(l.v, "/+#"):
			return fmt.Errorf("import gpx: --%s %q: a topic level cannot hold / + or #", l.flag, l.v)
		}
	}
	name := pos[0]
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("import gpx: %w", err)
	}
	defer f.Close()
	var st gpx.Stats
	job := importJob{
		what:  name,
		bytes: fileSize(name),
		read: func(ctx context.Context, add func(events.Event, int64) error, problem func(reason, where string)) error {
			var err error
			st, err = gpx.Read(ctx, f, dev,
				func(r gpx.Record) error { return add(r.Event, r.Done) },
				func(p gpx.Problem) { problem(p.Reason, fmt.Sprintf("%s:%d", name, p.Line)) })
			return err
		},
		notes: func() []string {
			notes := []string{fmt.Sprintf("%d tracks in %d segments, %d routes, %d points", st.Tracks, st.Segments, st.Routes, st.Points)}
			if st.Waypoints > 0 {
				notes = append(notes, fmt.Sprintf("%d waypoints (wpt) not imported", st.Waypoints))
			}
			return notes
		},
	}
	return runImportJob(ctx, to, job, stdout, stderr)
}
