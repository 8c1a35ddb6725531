package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/erasure"
	"tracker/projections"
	"tracker/projections/projector"
)

const eraseSynopsis = `Erases a user's events from the event log for good: their payloads leave
every file of the data directory (the log is copied without them and the
projections rebuilt), their sequence numbers stay as placeholders, and a
tombstone event records what was erased, by whom, when and how many.

  tracker erase --user alice                        everything alice's phones sent
  tracker erase --user alice --device phone         one device
  tracker erase --user alice --before 2026-01-01    received before a date (UTC)
  tracker erase --user alice --before 90d           received more than 90 days ago

The server's own definitions (users, areas) stay. An erasure that matches
nothing records a tombstone saying 0. While a server runs on --data, the
command goes through its API (as an admin: TRACKER_LOGIN and
TRACKER_LOGIN_PASSWORD).`

func runErase(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	var rule erasure.Rule
	var before string
	fs := newFlagSet("erase --user USER [--device DEVICE] [--before TIME]", eraseSynopsis, stderr)
	t.flags(fs, "data `directory`", serverUsage)
	fs.StringVar(&rule.User, "user", "", "erase this `user`'s events (required)")
	fs.StringVar(&rule.Device, "device", "", "only this `device`'s")
	fs.StringVar(&before, "before", "", "only events received before `TIME`: RFC 3339, a date (YYYY-MM-DD, UTC) or an age (90d, 12h)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if rule.Before, err = parseBefore(before, time.Now()); err != nil {
		return err
	}
	if err := rule.Validate(); err != nil {
		return err
	}
	log, api, err := t.reach(false, badgerlog.Options{Space: badgerlog.NewSpace(string(t.data), badgerlog.DefaultMinFree, nil)}, "erasing", nil, stderr)
	if err != nil {
		return err
	}
	var res erasure.Result
	if api != nil {
		err = api.call(ctx, http.MethodPost, "/api/v1/admin/erase", eraseRequest{User: rule.User, Device: rule.Device, Before: rule.Before}, &res)
	} else {
		defer log.Close()
		x := &erasure.Eraser{Log: log, Purger: offlinePurger{t.data}}
		res, err = x.Erase(ctx, erasure.Request{Rules: []erasure.Rule{rule}, By: projections.CLIIssuer()})
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, describeErase(res))
	return nil
}

// eraseRequest is the body of POST /api/v1/admin/erase.
type eraseRequest struct {
	User   string    `json:"user"`
	Device string    `json:"device,omitempty"`
	Before time.Time `json:"before,omitzero"`
}

func describeErase(res erasure.Result) string {
	rules := make([]string, len(res.Rules))
	for i, r := range res.Rules {
		rules[i] = r.String()
	}
	if res.Erased == 0 {
		return fmt.Sprintf("nothing to erase for %s (recorded as event %d)", strings.Join(rules, "; "), res.Seq)
	}
	return fmt.Sprintf("erased %d events of %s (tombstone: event %d, in %s)", res.Erased, strings.Join(rules, "; "),
		res.Seq, res.Took.Round(time.Millisecond))
}

// parseBefore reads --before: RFC 3339, a date (UTC midnight) or an age.
func parseBefore(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := erasure.ParseKeep(s); err == nil && d > 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--before %q: want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or an age (90d, 12h)", s)
}

const retentionSynopsis = `Sets how long the log keeps a user's history: their events received longer
ago are erased (as by tracker erase) by the running server, which applies
the policy every --retain-check. The server's --retain-history is the
default for everybody; this sets one user's own period.

  tracker retention --user alice 90d        keep alice's last 90 days
  tracker retention --user alice forever    never erase alice's history
  tracker retention --user alice default    back to --retain-history

The policy is an event in the log (who set it, when).`

func runRetention(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t target
	var user string
	var keep string
	fs := newFlagSet("retention --user USER PERIOD", retentionSynopsis, stderr)
	t.flags(fs, "data `directory`", serverUsage)
	fs.StringVar(&user, "user", "", "the `user` whose history the policy is for (required)")
	fs.StringVar(&keep, "keep", "", "the `PERIOD` (also given after the flags): 90d, 52w, 36h, forever, or default for --retain-history")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 && keep == "" {
		keep = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil { // flags after the period
			return err
		}
	}
	if err := parseFlags(fs, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		return err
	}
	if keep == "" {
		fs.Usage()
		return errors.New("retention: give a period (90d, forever or default)")
	}
	log, api, err := t.reach(false, badgerlog.Options{}, "going", nil, stderr)
	if err != nil {
		return err
	}
	var res retentionResult
	if api != nil {
		err = api.call(ctx, http.MethodPost, "/api/v1/admin/retention", retentionRequest{User: user, Keep: keep}, &res)
	} else {
		defer log.Close()
		res, err = setRetention(ctx, log, user, keep, projections.CLIIssuer())
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "retention of %q (event %d): %s\n", res.User, res.Seq, res.describe())
	return nil
}

// retentionRequest is the body of POST /api/v1/admin/retention.
type retentionRequest struct {
	User string `json:"user"`
	Keep string `json:"keep"`
}

// retentionResult is its answer.
type retentionResult struct {
	erasure.Policy
	Seq uint64 `json:"seq"`
}

func (r retentionResult) describe() string {
	switch r.Keep {
	case erasure.KeepDefault:
		return "the server's --retain-history"
	case "forever":
		return "kept forever"
	}
	return "the last " + r.Keep
}

// setRetention records user's retention policy.
func setRetention(ctx context.Context, log events.Appender, user, keep, by string) (retentionResult, error) {
	e, p, err := erasure.NewPolicy(user, keep, by, time.Now())
	if err != nil {
		return retentionResult{}, err
	}
	seq, err := log.Append(ctx, e)
	if err != nil {
		return retentionResult{}, fmt.Errorf("record the retention policy: %w", err)
	}
	return retentionResult{Policy: p, Seq: seq}, nil
}

// The projections keep payloads (a friend's last message, history for the
// Recorder API), so an erasure must not leave them as they were. Before
// the log is rewritten, a note in the data directory says the projections
// are to be purged; it is removed once they are rebuilt from the erased
// log. A start (serve, or a command reading the projections) that finds
// it removes the projections, which are then rebuilt like missing ones.
const erasePendingFile = "erase-pending"

func (d dataDir) erasePending() string { return d.path(erasePendingFile) }

func (d dataDir) beginErase() error {
	f, err := os.OpenFile(d.erasePending(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("erase: note the projections to purge: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("erase: note the projections to purge: %w", err)
	}
	return syncDirOf(d.erasePending())
}

func (d dataDir) endErase() error {
	if err := os.Remove(d.erasePending()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("erase: %w", err)
	}
	return nil
}

// purgeAfterErase removes the projections when an erasure did not finish
// rebuilding them (a crash, or an erasure run offline), so they are
// rebuilt from the erased log.
func (d dataDir) purgeAfterErase(logger *slog.Logger) error {
	if _, err := os.Stat(d.erasePending()); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := d.removeProjections(); err != nil {
		return err
	}
	if logger != nil {
		logger.Warn("removed the projections after an erasure: they are rebuilt from the erased log")
	}
	return d.endErase()
}

// removeProjections removes every generation of the projections and the
// link to the current one.
func (d dataDir) removeProjections() error {
	matches, err := filepath.Glob(filepath.Join(d.projections(), "projections*"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.RemoveAll(m); err != nil {
			return fmt.Errorf("erase: remove the projections: %w", err)
		}
	}
	return syncDirOf(filepath.Join(d.projections(), "projections"))
}

func syncDirOf(path string) error {
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// offlinePurger purges the projections of an erasure run on the data
// directory: it removes them, and the next start rebuilds them with the
// server's secrets (a command here has none, and would fold encrypted
// phones as unreadable).
type offlinePurger struct{ data dataDir }

func (p offlinePurger) Begin() error { return p.data.beginErase() }

func (p offlinePurger) Purge(_ context.Context, rewritten bool) error {
	if !rewritten {
		return p.data.endErase()
	}
	return p.data.purgeAfterErase(nil)
}

// servingPurger rebuilds a running server's projections from the erased
// log (the old generation is removed when the new one takes over), and
// has the embedded broker forget retained messages whose events were
// erased (forget is nil with an external broker, which keeps its own).
type servingPurger struct {
	data   dataDir
	proj   *projector.Projector
	log    *badgerlog.Log
	forget func(topics []string)
	before map[string]uint64 // retained marks before the erasure
}

func newServingPurger(data dataDir, st stores, in intake) *servingPurger {
	p := &servingPurger{data: data, proj: st.proj, log: st.log}
	if b, ok := in.(*broker.Broker); ok {
		p.forget = b.ForgetRetained
	}
	return p
}

func (p *servingPurger) Begin() error {
	var err error
	if p.before, err = p.log.RetainedSeqs(); err != nil {
		return fmt.Errorf("erase: %w", err)
	}
	return p.data.beginErase()
}

func (p *servingPurger) Purge(ctx context.Context, rewritten bool) error {
	if !rewritten {
		return p.data.endErase()
	}
	if p.forget != nil {
		after, err := p.log.RetainedSeqs()
		if err != nil {
			return fmt.Errorf("erase: %w", err)
		}
		var gone []string
		for topic, seq := range p.before {
			if after[topic] != seq {
				gone = append(gone, topic)
			}
		}
		p.forget(gone)
	}
	// Not the request's context: a client that goes away must not leave
	// projections holding what the log no longer has.
	if _, err := p.proj.Rebuild(context.WithoutCancel(ctx), nil); err != nil {
		return err
	}
	return p.data.endErase()
}

// retentionFlags set the retention policy (serve).
type retentionFlags struct {
	RetainHistory string        // default period; "" or "forever" keeps everything
	RetainCheck   time.Duration // how often the policy is applied
}

func (c *retentionFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.RetainHistory, "retain-history", "", "erase phones' events received longer ago than `PERIOD` (365d, 52w, 36h; empty keeps everything), for every user without a policy of their own (tracker retention)")
	fs.DurationVar(&c.RetainCheck, "retain-check", time.Hour, "how often the retention policy is applied")
}

// eraseService is what the web side's erase page and API use.
type eraseService struct {
	eraser    *erasure.Eraser
	log       events.Appender
	retention *erasure.Retention
}

func (s eraseService) Erase(ctx context.Context, req erasure.Request) (erasure.Result, error) {
	return s.eraser.Erase(ctx, req)
}

func (s eraseService) SetRetention(ctx context.Context, user, keep, by string) (erasure.Policy, uint64, error) {
	res, err := setRetention(ctx, s.log, user, keep, by)
	return res.Policy, res.Seq, err
}

func (s eraseService) DefaultRetention() time.Duration { return s.retention.Default }
