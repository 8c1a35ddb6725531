package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"tracker/events/owntracks"
)

const defaultData = "./tracker-data"

// newFlagSet returns a flag set whose usage explains the command.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: tracker %s\n\n%s\n\nFlags (each also read from TRACKER_<FLAG>):\n",
			name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, then fills every flag not given on the command
// line from its environment variable: --mqtt-listen <- TRACKER_MQTT_LISTEN.
// List flags take comma-separated values from the environment.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (flags start with --)", fs.Name(), fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if l, isList := f.Value.(*listFlag); isList {
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					*l = append(*l, item)
				}
			}
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s=%q: %w", name, v, e)
		}
	})
	return err
}

func envName(flagName string) string {
	return "TRACKER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// secretFlags are the OwnTracks encryption secrets, used by every command
// that decodes payloads.
type secretFlags struct {
	Secret    string   // for every phone
	SecretFor listFlag // "user=secret" or "user/device=secret"
}

func (c *secretFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Secret, "secret", "", "OwnTracks payload encryption `passphrase` for every phone")
	fs.Var(&c.SecretFor, "secret-for", "per-phone encryption secret as `user=secret` or user/device=secret, repeatable")
}

// secrets turns the secret flags into the decoder's key set.
func (c *secretFlags) secrets() (owntracks.Secrets, error) {
	s := owntracks.Secrets{Default: c.Secret, PerUser: map[string]string{}}
	for _, kv := range c.SecretFor {
		who, secret, ok := strings.Cut(kv, "=")
		if !ok || who == "" || secret == "" {
			return s, fmt.Errorf("--secret-for %q: want user=secret or user/device=secret", kv)
		}
		s.PerUser[who] = secret
	}
	return s, nil
}

// logDir is where the event log's Badger database lives inside --data;
// projections get their own directory beside it, so a rebuild can build a
// fresh one and swap it in.
func logDir(data string) string { return filepath.Join(data, "log") }
