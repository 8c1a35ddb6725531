package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"tracker/events/owntracks"
)

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
// line from its environment variable (--mqtt-listen <- TRACKER_MQTT_LISTEN;
// list flags take comma-separated values), then from the configuration
// file named by --config or TRACKER_CONFIG. Precedence: flags, then the
// environment, then the file, then the defaults.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var configFile string
	if fs.Lookup("config") == nil {
		fs.StringVar(&configFile, "config", "", "configuration `file` (TOML or YAML; keys are the flag names)")
	}
	if err := fs.Parse(bareAsTrue(fs, args)); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (flags start with --)", fs.Name(), fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		configFile = os.Getenv("TRACKER_CONFIG")
	}
	file, err := readConfigFile(configFile)
	if err != nil {
		return err
	}
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil || f.Name == "config" {
			return
		}
		name := envName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			vals, inFile := file[f.Name]
			if !inFile {
				return
			}
			for _, v := range vals {
				if e := f.Value.Set(v); e != nil {
					err = fmt.Errorf("%s: %s = %q: %w", configFile, f.Name, v, e)
					return
				}
			}
			delete(file, f.Name)
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
		delete(file, f.Name)
	})
	if err != nil {
		return err
	}
	for k := range file {
		if fs.Lookup(k) == nil {
			return fmt.Errorf("%s: unknown setting %q for tracker %s (settings are the flag names; see tracker %s --help)", configFile, k, fs.Name(), strings.Fields(fs.Name())[0])
		}
	}
	return nil
}

// formerSwitches are flags that were on/off switches and now take values;
// given bare (as in configurations written for the switch), they get the
// value "true", which the flag reads as its old meaning.
var formerSwitches = map[string]bool{"trusted-proxy": true}

// bareAsTrue rewrites a bare former switch ("--trusted-proxy" at the end,
// or followed by another flag) to "--trusted-proxy=true".
func bareAsTrue(fs *flag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && formerSwitches[name] && fs.Lookup(name) != nil &&
			(i == len(args)-1 || strings.HasPrefix(args[i+1], "-")) {
			a += "=true"
		}
		out = append(out, a)
	}
	return out
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
