package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/projections"
	"tracker/projections/projector"
	"tracker/views/web"
)

const notifyUsage = `Notification rules: "tell USER when …", each USER's own, seeing only the
friends USER may see.

  tracker notify add --for USER --arrives USER/DEVICE --place PLACE [where]
  tracker notify add --for USER --leaves USER/DEVICE --place PLACE [where]
  tracker notify add --for USER --arrives '*' --place PLACE [where]    (anyone)
  tracker notify add --for USER --silent USER/DEVICE --after 2h [where]
  tracker notify add --for USER --battery USER/DEVICE --below 20 [where]
  tracker notify list [--for USER | --all] [--json]
  tracker notify remove ID

where: --webhook URL [--webhook-secret S] (a signed JSON POST), --browser
(USER's open dashboards), --channel NAME (another channel the server runs,
repeatable); without any, --browser. --quiet 10m sets the quiet period
against flapping (default 5m).

For example:
  tracker notify add --for anna --arrives ben/phone --place Home --webhook https://example.org/hook --webhook-secret S

Adding and removing are events in the log (source admin). While a server
runs on --data, the command goes through its API (as an admin:
TRACKER_LOGIN, TRACKER_LOGIN_PASSWORD; a user may manage their own rules).`

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runNotify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, notifyUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	var id string
	if sub == "remove" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	var t target
	var q web.NotifyRequest
	var arrives, leaves, silent, battery string
	var browser, asJSON, all bool
	var channels multiFlag
	fs := newFlagSet("notify "+sub, notifyUsage, stderr)
	t.flags(fs, "data `directory`", serverUsage)
	fs.StringVar(&q.For, "for", "", "the `USER` the rule is for (through a server: default the login)")
	switch sub {
	case "add":
		fs.StringVar(&arrives, "arrives", "", "tell when `USER/DEVICE` (or '*': anyone) arrives at --place")
		fs.StringVar(&leaves, "leaves", "", "tell when `USER/DEVICE` (or '*': anyone) leaves --place")
		fs.StringVar(&silent, "silent", "", "tell when `USER/DEVICE` has sent nothing for --after")
		fs.StringVar(&battery, "battery", "", "tell when `USER/DEVICE`'s battery drops below --below")
		fs.StringVar(&q.Place, "place", "", "the place's `name` (a server area or a phone's region)")
		fs.StringVar(&q.After, "after", "", "with --silent: the `duration` (2h, 90m; at least 1m)")
		fs.IntVar(&q.Below, "below", 0, "with --battery: the `percent`age")
		fs.StringVar(&q.Quiet, "quiet", "", "quiet period against flapping, a `duration` (default 5m)")
		fs.StringVar(&q.Webhook, "webhook", "", "POST the notification as JSON to `URL`")
		fs.StringVar(&q.WebhookSecret, "webhook-secret", "", "sign the webhook's body with HMAC-SHA256 under this `secret` (X-Tracker-Signature)")
		fs.BoolVar(&browser, "browser", false, "show it on the user's open dashboards (the default without another channel)")
		fs.Var(&channels, "channel", "also deliver through the server's channel `NAME` (webpush, owntracks …), repeatable")
	case "list":
		fs.BoolVar(&all, "all", false, "every user's rules (an admin)")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	case "remove":
	default:
		return fmt.Errorf("notify: unknown subcommand %q (want add, list or remove)", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if id == "" && sub == "remove" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if err := parseFlags(fs, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		return err
	}
	switch sub {
	case "list":
		if all {
			q.For = "*"
		}
		return listRules(ctx, t, q.For, asJSON, stdout, stderr)
	case "remove":
		if id == "" {
			return errors.New("notify remove: name the rule's ID (tracker notify list shows them)")
		}
		return removeRule(ctx, t, id, stdout, stderr)
	}
	kinds := 0
	for on, dev := range map[string]string{projections.NotifyArrive: arrives, projections.NotifyLeave: leaves,
		projections.NotifySilent: silent, projections.NotifyBattery: battery} {
		if dev != "" {
			q.On, q.Device = on, dev
			kinds++
		}
	}
	if kinds != 1 {
		return errors.New("notify add: give exactly one of --arrives, --leaves, --silent, --battery")
	}
	if browser {
		q.Channels = append(q.Channels, projections.ChannelBrowser)
	}
	q.Channels = append(q.Channels, channels...)
	return addRule(ctx, t, q, stdout, stderr)
}

func addRule(ctx context.Context, t target, q web.NotifyRequest, stdout, stderr io.Writer) error {
	if _, err := q.Rule(cmpOr(q.For, "someone"), "check"); err != nil {
		return fmt.Errorf("notify add: %w", err)
	}
	log, api, err := t.reach(false, badgerlog.Options{}, "going", nil, stderr)
	if err != nil {
		return err
	}
	if api != nil {
		var v web.NotifyRuleView
		if err := api.call(ctx, http.MethodPost, "/api/v1/notifications", q, &v); err != nil {
			return fmt.Errorf("notify through server: %w", err)
		}
		fmt.Fprintf(stdout, "rule %s added for %s (event %d): %s\n", v.ID, v.Owner, v.Seq, v.Text)
		return nil
	}
	defer log.Close()
	if q.For == "" {
		return errors.New("notify add: name the user with --for (no server is running to tell who you are)")
	}
	rule, err := q.Rule(q.For, web.NewRuleID())
	if err != nil {
		return fmt.Errorf("notify add: %w", err)
	}
	p, err := t.projections(ctx, log)
	if err != nil {
		return err
	}
	u, ok := p.User(q.For)
	p.Close()
	switch {
	case !ok:
		return fmt.Errorf("notify add: no user named %q", q.For)
	case rule.Device != "" && !u.MaySee(rule.Device):
		return fmt.Errorf("notify add: %s may not see %s: a rule sees only the friends its user may see", q.For, rule.Device)
	case len(u.Notify) >= projections.MaxNotifyRules:
		return fmt.Errorf("notify add: %s has %d rules already, the most one user may have", q.For, projections.MaxNotifyRules)
	}
	seq, err := appendNotify(ctx, log, projections.NotifyCommand{Type: "notify", Action: projections.NotifyAdd, Owner: q.For, Rule: &rule})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rule %s added for %s (event %d): %s\n", rule.ID, q.For, seq, rule.Describe())
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// appendNotify records c in the log with a fresh identity.
func appendNotify(ctx context.Context, log *badgerlog.Log, c projections.NotifyCommand) (uint64, error) {
	c.Issue = projections.NewIssue(projections.CLIIssuer(), time.Now())
	payload, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	seq, err := log.Append(ctx, events.Event{Topic: projections.NotifyTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now()})
	if err != nil {
		return 0, fmt.Errorf("notify: record: %w", err)
	}
	return seq, nil
}

func removeRule(ctx context.Context, t target, id string, stdout, stderr io.Writer) error {
	log, api, err := t.reach(false, badgerlog.Options{}, "going", nil, stderr)
	if err != nil {
		return err
	}
	if api != nil {
		var res struct{ Removed, Owner, Text string }
		if err := api.call(ctx, http.MethodDelete, "/api/v1/notifications/"+url.PathEscape(id), nil, &res); err != nil {
			return fmt.Errorf("notify through server: %w", err)
		}
		fmt.Fprintf(stdout, "rule %s of %s removed: %s\n", res.Removed, res.Owner, res.Text)
		return nil
	}
	defer log.Close()
	p, err := t.projections(ctx, log)
	if err != nil {
		return err
	}
	var rule projections.NotifyRule
	found := false
	for _, u := range p.Users() {
		if r, ok := u.NotifyRule(id); ok {
			rule, found = r, true
		}
	}
	p.Close()
	if !found {
		return fmt.Errorf("notify remove: no rule %q (tracker notify list --all shows them)", id)
	}
	seq, err := appendNotify(ctx, log, projections.NotifyCommand{Type: "notify", Action: projections.NotifyRemove, Owner: rule.Owner, RuleID: id})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rule %s of %s removed (event %d): %s\n", id, rule.Owner, seq, rule.Describe())
	return nil
}

func listRules(ctx context.Context, t target, owner string, asJSON bool, stdout, stderr io.Writer) error {
	var rules []web.NotifyRuleView
	log, api, err := t.reach(false, badgerlog.Options{}, "going", nil, stderr)
	switch {
	case err != nil:
		return err
	case api != nil:
		path := "/api/v1/notifications"
		if owner != "" {
			path += "?for=" + url.QueryEscape(owner)
		}
		if err := api.call(ctx, http.MethodGet, path, nil, &rules); err != nil {
			return fmt.Errorf("notify through server: %w", err)
		}
	default:
		defer log.Close()
		p, err := t.projections(ctx, log)
		if err != nil {
			return err
		}
		rules = offlineRules(p, owner)
		p.Close()
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(rules)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFOR\tWHEN\tCHANNELS\tSENT\tFAILED\tLAST ERROR")
	for _, r := range rules {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.Owner, r.Text, strings.Join(r.Channels, ","), r.Sent, r.Failed, r.LastError)
	}
	return tw.Flush()
}

// offlineRules are the rules of owner ("" or "*": everybody), from the
// projections; no deliveries (those are the running server's).
func offlineRules(p *projector.Projector, owner string) []web.NotifyRuleView {
	out := []web.NotifyRuleView{}
	for _, u := range p.Users() {
		if owner != "" && owner != "*" && u.Name != owner {
			continue
		}
		for _, r := range u.Notify {
			out = append(out, web.NotifyRuleOf(r, nil))
		}
	}
	return out
}
