// Command tracker is a self-hosted location server for OwnTracks phones.
// main only wires: each subcommand parses its flags into a config struct
// and assembles the parts from the packages below.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracker:", err)
		os.Exit(1)
	}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the server: MQTT ingest (embedded broker or --broker), event log, web", runServe},
		{"log", "print events from the log (works while a server runs)", runLog},
		{"rebuild", "replay the log into fresh projections", runRebuild},
		{"export", "write the whole event log to a file (works while a server runs)", runExport},
		{"import", "import history: import recorder DIR, import gpx FILE, import google FILE, import log FILE (restore an export)", runImport},
		{"area", "define, rename, remove and list server areas (add|rename|remove|list)", runArea},
		{"user", "manage users: add, passwd, role, remove, share, list", runUser},
		{"hide", "hide a device's point (--seq) or range (--from --to) from every answer", runHide},
		{"unhide", "show hidden points again (same arguments as hide)", runUnhide},
		{"accuracy", "set or clear the accuracy limit above which fixes are not used (--max 200m, --clear; --all)", runAccuracy},
		{"share", "share a friend's live location by a link that expires: create, list, revoke", runShare},
		{"erase", "erase a user's events from the log for good (--user, --device, --before)", runErase},
		{"retention", "set how long a user's history is kept (retention --user U 90d)", runRetention},
		{"notify", "notification rules: tell a user when a friend arrives, leaves, goes silent (add|list|remove)", runNotify},
		{"config", "check a configuration and print the effective settings", runConfig},
		{"version", "print the version (also tracker --version)", runVersion},
		{"help", "explain the commands", nil},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		usage(stdout)
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		args[0] = "version"
	}
	for _, c := range commands() {
		if c.name == args[0] && c.run != nil {
			err := c.run(ctx, args[1:], stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `tracker: where your friends are, from their OwnTracks phones.

Usage: tracker COMMAND [flags]

Commands:`)
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-*s %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w, `
Run "tracker COMMAND --help" for a command's flags. Every flag can also be
set with an environment variable TRACKER_<FLAG>, e.g. TRACKER_DATA=/var/lib/tracker
for --data, or in a TOML/YAML file given with --config (flags win over the
environment, which wins over the file). --data means the same for every command.`)
}
