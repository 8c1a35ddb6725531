package main

import (
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// tracker --version and tracker version print the version, not the help.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		var out, errOut strings.Builder
		if err := run(t.Context(), args, &out, &errOut); err != nil {
			t.Fatalf("tracker %s: %v", args[0], err)
		}
		got := out.String()
		if !strings.HasPrefix(got, "tracker ") || strings.Count(got, "\n") != 1 || strings.Contains(got, "Usage") || errOut.Len() > 0 {
			t.Errorf("tracker %s printed %q (stderr %q), want one version line", args[0], got, errOut.String())
		}
	}
}

// The version line names the module version, the commit (short), its
// time, local changes and the Go release, from the build info the go
// command stamps.
func TestVersionText(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "tracker", Version: "v0.0.0-20261206054220-d09be2f2ad6c"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "d09be2f2ad6c87c98a6154bfd80228c2050c916d"},
			{Key: "vcs.time", Value: "2026-12-06T05:42:20Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := versionText(bi, true)
	for _, want := range []string{"tracker v0.0.0-20261206054220-d09be2f2ad6c", "commit d09be2f2ad6c of 2026-12-06T05:42:20Z, with local changes", "go1.26.8"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := versionText(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true); !strings.HasPrefix(got, "tracker devel (go1.26.8") {
		t.Errorf("a build without VCS information: %q", got)
	}
}

// Each changing command says in plain words what happened, the event
// that recorded it, and the state it left.
func TestCommandAnswers(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "adm", "--admin"}, `user "adm" added (event 1): admin, sees everybody`},
		{[]string{"user", "add", "v"}, `user "v" added (event 2): viewer, sees everybody`},
		{[]string{"user", "share", "v", "--sees", "adm"}, `user "v" sharing changed (event 3): viewer, sees own phones, adm`},
		{[]string{"user", "passwd", "v"}, `user "v" has a new password (event 4): viewer, sees own phones, adm`},
		{[]string{"user", "remove", "v"}, `user "v" removed (event 5): they no longer exist`},
		{[]string{"area", "add", "Gym", "--circle", "51.5,-0.12,75"}, `area "Gym" added (event 6): circle 51.50000,-0.12000 r=75m`},
		{[]string{"area", "remove", "Gym"}, `area "Gym" removed (event 7): it no longer exists`},
		{[]string{"area", "add", "Gym", "--circle", "51.5,-0.12,75"}, `area "Gym" added (event 8): circle 51.50000,-0.12000 r=75m`},
		{[]string{"area", "rename", "gym", "Fitness"}, `area "gym" renamed to "Fitness" (event 9): circle 51.50000,-0.12000 r=75m`},
		{[]string{"area", "rename", "Fitness", "Park", "--polygon", "51.46,-0.16 51.48,-0.16 51.48,-0.14"}, `area "Fitness" renamed to "Park" (event 10): polygon, 3 corners`},
	}
	for _, tt := range tests {
		out, err := tracker(t, data, tt.args...)
		if err != nil {
			t.Fatalf("tracker %s: %v", strings.Join(tt.args, " "), err)
		}
		if got := strings.TrimSpace(out); got != tt.want {
			t.Errorf("tracker %s answered\n  %s\nwant\n  %s", strings.Join(tt.args, " "), got, tt.want)
		}
	}
}

// A rename the fold would ignore is refused before it reaches the log:
// an unknown area, or another area's name.
func TestAreaRenameRefused(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{{"user", "add", "adm", "--admin"}, {"area", "add", "Gym", "--circle", "51.5,-0.12,75"}, {"area", "add", "Park", "--circle", "51.47,-0.15,100"}} {
		if _, err := tracker(t, data, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"rename", "Nowhere", "Somewhere"}, `area rename: no server area named "Nowhere"`},
		{[]string{"rename", "Gym", "PARK"}, `area rename: there is already an area named "PARK"; pick another name or remove that one first`},
		{[]string{"rename", "Gym"}, `area "Gym": rename needs the new name (to)`},
	} {
		_, err := tracker(t, data, append([]string{"area"}, tt.args...)...)
		if err == nil || err.Error() != tt.want {
			t.Errorf("tracker area %s: %v, want %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
	out, err := tracker(t, data, "log", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, `"seq":`); n != 3 {
		t.Errorf("the log holds %d events, want the user and the 2 definitions only:\n%s", n, out)
	}
}

// Every command's --help starts with its own usage, names each flag's
// value in words (not Go's "string", "int", "value"), and mentions only
// flags that exist.
func TestHelpTexts(t *testing.T) {
	cmds := [][]string{{"serve"}, {"log"}, {"rebuild"}, {"export"}, {"import", "log"}, {"import", "recorder"}, {"import", "gpx"},
		{"area", "add"}, {"area", "rename"}, {"area", "remove"}, {"area", "list"}, {"user", "add"}, {"user", "passwd"}, {"user", "remove"},
		{"user", "share"}, {"user", "role"}, {"user", "list"}, {"config", "check"}, {"hide"}, {"unhide"}, {"accuracy"}, {"erase"}, {"retention"},
		{"notify", "add"}, {"notify", "list"}, {"notify", "remove"}}
	texts := map[string]string{}
	defined := map[string]bool{"help": true}
	for _, c := range cmds {
		var out strings.Builder
		if err := run(t.Context(), append(c, "--help"), &out, &out); err != nil {
			t.Fatalf("tracker %s --help: %v", strings.Join(c, " "), err)
		}
		name := strings.Join(c, " ")
		texts[name] = out.String()
		for l := range strings.Lines(out.String()) {
			if f, ok := strings.CutPrefix(l, "  -"); ok && !strings.HasPrefix(f, " ") {
				fields := strings.Fields(f)
				defined[fields[0]] = true
				if len(fields) > 1 && (fields[1] == "string" || fields[1] == "int" || fields[1] == "uint" || fields[1] == "value") {
					t.Errorf("tracker %s --help: -%s takes a %q: name what it is", name, fields[0], fields[1])
				}
			}
		}
	}
	for name, text := range texts {
		if !strings.Contains(text, "tracker "+name) {
			t.Errorf("tracker %s --help does not name the command:\n%s", name, text)
		}
		for _, w := range strings.Fields(text) {
			i := strings.Index(w, "--")
			if i < 0 {
				continue
			}
			flag := strings.TrimRight(w[i+2:], ".,;:)]\"'")
			if flag, _, _ = strings.Cut(flag, "="); flag != "" && !defined[flag] {
				t.Errorf("tracker %s --help mentions --%s, which no command has", name, flag)
			}
		}
	}
}
