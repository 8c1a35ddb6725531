package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// runVersion prints what this binary is: the module version the go
// command stamped (a tag, or a pseudo-version from the commit), the
// commit and its time, whether the tree had local changes, and the Go
// that built it.
func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 && args[0] != "--help" && args[0] != "-h" {
		return fmt.Errorf("version: takes no arguments (got %q)", args[0])
	}
	fmt.Fprintln(stdout, versionText(debug.ReadBuildInfo()))
	return nil
}

func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "tracker (version unknown: built without module information) " + runtime.Version()
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var about []string
	if rev != "" {
		c := "commit " + rev[:min(12, len(rev))]
		if at != "" {
			c += " of " + at
		}
		if modified {
			c += ", with local changes"
		}
		about = append(about, c)
	}
	about = append(about, bi.GoVersion+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return "tracker " + v + " (" + strings.Join(about, ", ") + ")"
}
