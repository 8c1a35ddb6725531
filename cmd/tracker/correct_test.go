package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
)

// TestCorrectionCommands: tracker hide, unhide and accuracy, on the data
// directory and through a running server; a rebuild keeps what they did;
// a seq that is not the device's location changes nothing and says why.
func TestCorrectionCommands(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	expect(t, data, `user "adm"`, "user", "add", "adm", "--admin") // event 1
	log, err := badgerlog.Open(dataDir(data).logDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC).Unix()
	for i, acc := range []int{10, 10, 500} { // events 2, 3, 4
		appendAll(t, log, events.Event{Topic: "owntracks/una/phone", Source: events.SourceEmbedded, Received: time.Unix(base+int64(i)*60+5, 0),
			Payload: fmt.Appendf(nil, `{"_type":"location","lat":48.8%d,"lon":2.3,"tst":%d,"acc":%d}`, i, base+int64(i)*60, acc)})
	}
	appendAll(t, log, events.Event{Topic: "owntracks/una/phone/info", Source: events.SourceEmbedded, Received: time.Unix(base+500, 0),
		Payload: []byte(`{"_type":"card","name":"Una"}`)}) // event 5
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	at := func(seq int) string { return fmt.Sprintf("(event %d)", seq) }
	expect(t, data, "hid point 4 of una/phone (event 6); una/phone is now shown at 48.81000,2.30000 as of 2026-05-01T08:01:00Z "+at(3),
		"hide", "--user", "una", "--device", "phone", "--seq", "4", "--reason", "jump")
	expect(t, data, "nothing changed: point 4 is already hidden (correction 6)", "hide", "--user", "una", "--device", "phone", "--seq", "4")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"hide", "--user", "una", "--device", "phone", "--seq", "5"}, "event 5 is a card message, not a location"},
		{[]string{"hide", "--user", "una", "--device", "phone", "--seq", "1"}, "event 1 is a server command"},
		{[]string{"hide", "--user", "una", "--device", "tablet", "--seq", "2"}, "event 2 is from una/phone, not una/tablet"},
		{[]string{"hide", "--user", "una", "--device", "phone", "--seq", "99"}, "no event 99"},
		{[]string{"hide", "--user", "una", "--device", "phone", "--from", "0", "--to", "99999999999"}, "at most 366 days"},
		{[]string{"hide", "--user", "una", "--device", "phone"}, "give --seq N, or --from T and --to T"},
		{[]string{"accuracy", "--user", "una", "--device", "phone"}, "give --max METRES or --clear"},
		{[]string{"accuracy", "--all", "--max", "lots"}, "want metres above 0"},
	} {
		out, err := tracker(t, data, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("tracker %s: %q, %v; want an error saying %q", strings.Join(c.args, " "), out, err, c.says)
		}
	}
	expect(t, data, "rebuilt projections from 6 events", "rebuild")
	expect(t, data, "nothing changed: point 4 is already hidden (correction 6)", "hide", "--user", "una", "--device", "phone", "--seq", "4")
	expect(t, data, "showed again point 4 of una/phone (event 7); una/phone is now shown at 48.82000,2.30000", "unhide", "--user", "una", "--device", "phone", "--seq", "4")
	expect(t, data, "fixes of una/phone less accurate than 200 m are not used (event 8); una/phone is now shown at 48.81000", "accuracy", "--user", "una", "--device", "phone", "--max", "200m")
	expect(t, data, "hid the points of una/phone from 2026-05-01T08:00:00Z to 2026-05-01T08:01:00Z (event 9); una/phone has no position in use",
		"hide", "--user", "una", "--device", "phone", "--from", "2026-05-01T08:00:00Z", "--to", fmt.Sprint(base+60))

	// Through a running server (which holds the log), as an admin.
	t.Setenv("TRACKER_LOGIN", "adm")
	t.Setenv("TRACKER_LOGIN_PASSWORD", cmdPassword)
	s := startServer(t, data)
	expect(t, data, "showed again the points of una/phone from 2026-05-01T08:00:00Z to 2026-05-01T08:01:00Z (event 10); una/phone is now shown at 48.81000",
		"unhide", "--user", "una", "--device", "phone", "--from", fmt.Sprint(base), "--to", fmt.Sprint(base+60), "--server", "http://"+s.http)
	expect(t, data, "accuracy limit of una/phone cleared (event 11); una/phone is now shown at 48.82000", "accuracy", "--user", "una", "--device", "phone", "--clear", "--server", "http://"+s.http)
	expect(t, data, "fixes of all devices less accurate than 100 m are not used (event 12)", "accuracy", "--all", "--max", "100", "--server", "http://"+s.http)
	expect(t, data, "nothing changed: the accuracy threshold is already 100 m", "accuracy", "--all", "--max", "100m", "--server", "http://"+s.http)
	expect(t, data, "accuracy limit of all devices cleared (event 13)", "accuracy", "--all", "--clear", "--server", "http://"+s.http)
	out, err := tracker(t, data, "hide", "--user", "una", "--device", "phone", "--seq", "5", "--server", "http://"+s.http)
	if err == nil || !strings.Contains(err.Error(), "card message, not a location") {
		t.Errorf("hide of a card through the server: %q, %v", out, err)
	}
}

func appendAll(t *testing.T, log *badgerlog.Log, evs ...events.Event) {
	t.Helper()
	for _, e := range evs {
		if _, err := log.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
}
