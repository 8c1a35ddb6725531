package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"

	"tracker/views/web"
)

// readConfigFile reads a TOML or YAML file whose keys are flag names into
// flag values (a list becomes several values). An empty name reads nothing.
func readConfigFile(name string) (map[string][]string, error) {
	out := map[string][]string{}
	if name == "" {
		return out, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	raw := map[string]any{}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".toml":
		if _, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&raw); err != nil {
			return nil, fmt.Errorf("configuration %s: %w", name, err)
		}
	case ".yaml", ".yml":
		if err := yaml.Unmarshal(b, &raw); err != nil {
			return nil, fmt.Errorf("configuration %s: %w", name, err)
		}
	default:
		return nil, fmt.Errorf("configuration %s: want a .toml, .yaml or .yml file", name)
	}
	for k, v := range raw {
		switch v := v.(type) {
		case []any:
			for _, item := range v {
				out[k] = append(out[k], fmt.Sprint(item))
			}
		case map[string]any:
			return nil, fmt.Errorf("configuration %s: %s is a table; settings are flat (flag names)", name, k)
		default:
			out[k] = []string{fmt.Sprint(v)}
		}
	}
	return out, nil
}

// secretSettings are masked when the configuration is printed.
var secretSettings = map[string]bool{"broker-password": true, "secret": true, "secret-for": true, "mqtt-user": true}

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stdout, "Usage: tracker config check [--config FILE] [serve flags...]\n\nValidates the configuration serve would run with (file, environment and\nflags together) and prints the effective settings, secrets masked.")
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return nil
		}
		return fmt.Errorf("config: unknown subcommand %q (want check)", args[0])
	}
	var cfg serveConfig
	fs := newFlagSet("config check", "Validates the configuration serve would run with (file, environment and\nflags together) and prints the effective settings, secrets masked. Takes\nserve's flags:", stderr)
	cfg.flags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if _, err := newLogger(io.Discard, cfg.LogLevel, cfg.LogFormat); err != nil {
		return err
	}
	if _, err := cfg.secrets(); err != nil {
		return err
	}
	if _, err := cfg.mqttUsers(); err != nil {
		return err
	}
	if _, err := web.ParseTrustedProxies(cfg.TrustedProxies); err != nil {
		return err
	}
	if _, err := cfg.resolveTLS(); err != nil {
		return err
	}
	if err := cfg.mirrorFlags.check(); err != nil {
		return err
	}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		v := f.Value.String()
		if secretSettings[f.Name] && v != "" {
			v = "****"
		}
		lines = append(lines, fmt.Sprintf("%s = %q", f.Name, v))
	})
	sort.Strings(lines)
	fmt.Fprintln(stdout, "# effective configuration of tracker serve (secrets masked)")
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return errors.Join(ctx.Err())
}
