package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tracker/events/eventjson"
	"tracker/events/eventstest"
	"tracker/projections"
)

// `serve --demo` fills an empty server within seconds, through the embedded
// broker and through an external one: five friends with cards and
// positions, their shared regions with people in them, transitions in the
// log, and nothing invalid. With users present (logins required) the
// demo's phones log in with the server's own per-run login, and the log
// stays quiet: no refused logins, no warnings.
func TestServeDemo(t *testing.T) {
	tests := []struct {
		name     string
		external bool
		users    bool
	}{
		{"embedded broker", false, false},
		{"embedded broker with users", false, true},
		{"external broker", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			var login []string
			if tt.users {
				addUsers(t, data, map[string]string{"root": "root-pass-1", "alice": "alice-pass-1"})
				login = []string{"root", "root-pass-1"}
				t.Setenv("TRACKER_LOGIN", "root") // for tracker log, through the server
				t.Setenv("TRACKER_LOGIN_PASSWORD", "root-pass-1")
			}
			args := []string{"--demo"}
			if tt.external {
				m := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{})
				args = append(args, "--broker", m.URL, "--broker-client-id", "tracker-demo-test")
			}
			start := time.Now()
			s := startServer(t, data, args...)
			base := "http://" + s.http

			var missing string
			deadline := start.Add(15 * time.Second)
			for {
				missing = demoMissing(t, base, data, login...)
				if missing == "" || time.Now().After(deadline) {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			if missing != "" {
				t.Fatalf("after 15 s: %s\n%s", missing, s.stderr)
			}
			t.Logf("demo complete after %s", time.Since(start).Round(100*time.Millisecond))
			logs := s.stderr.String()
			if !strings.Contains(logs, "demo: simulating five friends") {
				t.Errorf("serve did not log the demo start:\n%s", logs)
			}
			var noisy []string
			for l := range strings.Lines(logs) {
				if strings.Contains(l, "no user exists") {
					continue // open mode, said once at start
				}
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "refused") {
					noisy = append(noisy, l)
				}
			}
			if len(noisy) > 0 {
				t.Errorf("%d warnings or refusals in the log:\n%s", len(noisy), strings.Join(noisy, ""))
			}
		})
	}
}

// demoMissing says what the demo has not shown yet; "" when it has shown
// everything. Invalid events fail the test at once.
func demoMissing(t *testing.T, base, data string, login ...string) string {
	t.Helper()
	friends, err := demoGet[[]projections.FriendView](base+"/api/v1/friends", login...)
	if err != nil {
		return fmt.Sprintf("friends: %v", err)
	}
	withLoc, withName, withFace := 0, 0, 0
	for _, f := range friends {
		if f.Location != nil {
			withLoc++
		}
		if f.Name != "" {
			withName++
		}
		if f.FaceSeq != 0 {
			withFace++
		}
	}
	if len(friends) != 5 || withLoc != 5 || withName != 5 || withFace != 2 {
		return fmt.Sprintf("%d friends, %d with a location, %d with a name, %d with a face; want 5, 5, 5, 2",
			len(friends), withLoc, withName, withFace)
	}

	areas, err := demoGet[[]projections.AreaView](base+"/api/v1/areas", login...)
	if err != nil {
		return fmt.Sprintf("areas: %v", err)
	}
	owners := map[string][]projections.DeviceID{} // shared area name -> phones defining it
	occupied := 0                                 // shared areas somebody is in
	for _, a := range areas {
		if a.Name != "Office" && a.Name != "Gym" && a.Name != "Park" {
			continue
		}
		if a.Origin != projections.OriginPhone || !a.HasGeometry() {
			t.Errorf("area %s from %s without geometry: %+v", a.Name, a.Origin, a.Area)
		}
		owners[a.Name] = append(owners[a.Name], a.Owner)
		if slices.ContainsFunc(a.Members, projections.Presence.In) {
			occupied++
		}
	}
	for _, name := range []string{"Office", "Gym", "Park"} {
		if len(owners[name]) < 2 {
			return fmt.Sprintf("area %s defined by %v, want at least two phones", name, owners[name])
		}
	}
	if occupied == 0 {
		return "nobody in any shared area"
	}

	lines, _ := logLines(t, "--data", data)
	kinds := map[string]int{}
	enter, leave := false, false
	for _, l := range lines {
		if l.Invalid != "" {
			t.Fatalf("invalid event %d on %s: %s: %s", l.Seq, l.Topic, l.Invalid, demoPayload(l))
		}
		if (l.Source == "server" || l.Source == "admin") && strings.HasPrefix(l.Topic, "owntracks/") {
			t.Fatalf("event %d from %s: the demo must publish as phones do", l.Seq, l.Source)
		}
		kinds[l.Kind]++
		if l.Kind == "transition" {
			p := demoPayload(l)
			enter = enter || strings.Contains(p, `"event":"enter"`)
			leave = leave || strings.Contains(p, `"event":"leave"`)
		}
	}
	if !enter || !leave || kinds["location"] == 0 || kinds["card"] != 5 || kinds["waypoints"] != 5 {
		return fmt.Sprintf("log kinds %v, enter %v, leave %v; want locations, 5 cards, 5 waypoints, enters and leaves", kinds, enter, leave)
	}
	return ""
}

func demoPayload(l eventjson.Line) string {
	if l.Payload != nil {
		return *l.Payload
	}
	return l.PayloadB64
}

// The flag is documented.
func TestServeDemoFlagInHelp(t *testing.T) {
	var out strings.Builder
	if err := run(t.Context(), []string{"serve", "--help"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "-demo") {
		t.Errorf("serve --help does not mention --demo:\n%s", out.String())
	}
}

// demoGet reads url as JSON, with login (user, password) when given.
func demoGet[T any](url string, login ...string) (T, error) {
	var v T
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return v, err
	}
	if len(login) == 2 {
		req.SetBasicAuth(login[0], login[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return v, json.NewDecoder(resp.Body).Decode(&v)
}
