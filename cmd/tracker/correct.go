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
	"strconv"
	"strings"
	"time"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/views/web"
)

const hideUsage = `Hide a device's point, or every point in a range of fix times, from
every answer (map, history, figures, areas, exports, the Recorder API);
unhide shows them again.

  tracker hide   --user U --device D --seq N [--reason TEXT]
  tracker hide   --user U --device D --from T --to T [--reason TEXT]
  tracker unhide --user U --device D --seq N
  tracker unhide --user U --device D --from T --to T

T is RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds; both ends are
included, and a range spans at most 366 days. N is the point's event
number (tracker log, or the history page). Unhiding a range also shows
the single points hidden in it. Nothing is deleted: each correction is an
event in the log (who, when, why), so a rebuild reproduces it. While a
server runs on --data, the command goes through its API.`

const accuracyUsage = `Fixes less accurate than the limit are not used (kept in the log,
hidden from every answer); a device's own limit comes before the one
for all devices.

  tracker accuracy --user U --device D --max 200m [--reason TEXT]
  tracker accuracy --all --max 200m
  tracker accuracy --user U --device D --clear
  tracker accuracy --all --clear`

func runHide(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCorrection(ctx, projections.CorrectHide, args, stdout, stderr)
}

func runUnhide(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCorrection(ctx, projections.CorrectUnhide, args, stdout, stderr)
}

func runAccuracy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCorrection(ctx, projections.CorrectAccuracy, args, stdout, stderr)
}

func runCorrection(ctx context.Context, action string, args []string, stdout, stderr io.Writer) error {
	usage := hideUsage
	if action == projections.CorrectAccuracy {
		usage = accuracyUsage
	}
	var t target
	var user, device, from, to, reason, maxAcc string
	var seq uint64
	var all, clearMax bool
	fs := newFlagSet(action, usage, stderr)
	t.flags(fs, "data `directory`", serverUsage)
	fs.StringVar(&user, "user", "", "the device's `user`")
	fs.StringVar(&device, "device", "", "the `device`")
	fs.StringVar(&reason, "reason", "", "why, as `text` kept in the log")
	if action == projections.CorrectAccuracy {
		fs.StringVar(&maxAcc, "max", "", "the limit in metres (`200m`)")
		fs.BoolVar(&all, "all", false, "the limit for all devices")
		fs.BoolVar(&clearMax, "clear", false, "clear the limit")
	} else {
		fs.Uint64Var(&seq, "seq", 0, "the point's event `number`")
		fs.StringVar(&from, "from", "", "first fix `time` of the range (RFC 3339 or Unix seconds)")
		fs.StringVar(&to, "to", "", "last fix `time` of the range (included)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if err := parseFlags(fs, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		return err
	}
	var dev projections.DeviceID
	if !all {
		if user == "" || device == "" {
			return fmt.Errorf("%s: give --user and --device%s", action, map[bool]string{true: ", or --all", false: ""}[action == projections.CorrectAccuracy])
		}
		dev = projections.MakeDeviceID(user, device)
	}
	req := web.CorrectionRequest{Seq: seq, From: web.TimeArg(from), To: web.TimeArg(to), Reason: reason}
	if action == projections.CorrectAccuracy {
		switch {
		case clearMax == (maxAcc != ""):
			return errors.New("accuracy: give --max METRES or --clear")
		case maxAcc != "":
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(maxAcc), "m"))
			if err != nil || n <= 0 {
				return fmt.Errorf("accuracy: --max %q: want metres above 0, like 200m", maxAcc)
			}
			req.MaxM = n
		}
	} else if (seq == 0) == (from == "" && to == "") || (seq == 0 && (from == "" || to == "")) {
		return fmt.Errorf("%s: give --seq N, or --from T and --to T", action)
	}
	c, err := cliCommand(action, dev, req)
	if err != nil {
		return err
	}
	log, api, err := t.reach(false, badgerlog.Options{}, "correcting", nil, stderr)
	if err != nil {
		return err
	}
	var res web.CorrectionResult
	if api != nil {
		res, err = correctThroughServer(ctx, api, c, req)
	} else {
		defer log.Close()
		res, err = correctOffline(ctx, t, log, c)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, describeCorrection(c, res))
	return nil
}

// cliCommand makes and checks the command (as the API does).
func cliCommand(action string, dev projections.DeviceID, req web.CorrectionRequest) (projections.CorrectionCommand, error) {
	c := projections.CorrectionCommand{Type: "correction", Action: action, Seq: req.Seq, Max: req.MaxM, Reason: req.Reason, All: dev == ""}
	if dev != "" {
		c.User, c.Device = dev.Split()
	}
	for _, a := range []struct {
		name string
		v    web.TimeArg
		dst  *int64
	}{{"from", req.From, &c.From}, {"to", req.To, &c.To}} {
		if a.v == "" {
			continue
		}
		t, err := cliTime(string(a.v))
		if err != nil {
			return c, fmt.Errorf("%s: --%s: %w", action, a.name, err)
		}
		*a.dst = t
		// The API gets Unix seconds: no zone to guess.
	}
	return c, c.Validate()
}

func cliTime(v string) (int64, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return 0, fmt.Errorf("want RFC 3339 (2026-11-25T08:00:00Z) or Unix seconds, got %q", v)
	}
	return t.Unix(), nil
}

func correctThroughServer(ctx context.Context, api *adminClient, c projections.CorrectionCommand, req web.CorrectionRequest) (web.CorrectionResult, error) {
	var res web.CorrectionResult
	if c.From != 0 || c.To != 0 {
		req.From, req.To = web.TimeArg(strconv.FormatInt(c.From, 10)), web.TimeArg(strconv.FormatInt(c.To, 10))
	}
	path := "/api/v1/accuracy"
	if !c.All {
		path = "/api/v1/friends/" + url.PathEscape(c.User) + "/" + url.PathEscape(c.Device) + "/" + c.Action
	}
	method := http.MethodPost
	if c.Action == projections.CorrectAccuracy {
		method = http.MethodPut
		if c.Max == 0 {
			method = http.MethodDelete
		}
	}
	var body any = req
	if method == http.MethodDelete {
		body = nil
	}
	if err := api.call(ctx, method, path, body, &res); err != nil {
		return res, fmt.Errorf("%s through server: %w", c.Action, err)
	}
	return res, nil
}

// correctOffline checks c against the log and the projections, records
// it when it changes anything, and brings the projections up to it.
func correctOffline(ctx context.Context, t target, log *badgerlog.Log, c projections.CorrectionCommand) (web.CorrectionResult, error) {
	dev := c.DeviceID()
	if c.Seq != 0 {
		e, err := log.Get(c.Seq)
		if err != nil {
			return web.CorrectionResult{}, fmt.Errorf("%s: there is no event %d in the log", c.Action, c.Seq)
		}
		tst, err := projections.CheckPointOf(owntracks.Decoder{}, e, dev)
		if err != nil {
			return web.CorrectionResult{}, fmt.Errorf("%s: nothing changed: %w", c.Action, err)
		}
		c.Tst = tst
	}
	p, err := t.projections(ctx, log)
	if err != nil {
		return web.CorrectionResult{}, err
	}
	defer p.Close()
	if dev != "" {
		if _, ok := p.Friend(dev); !ok {
			return web.CorrectionResult{}, fmt.Errorf("%s: no device %s in the log", c.Action, dev)
		}
	}
	res := web.CorrectionResult{Corrections: p.Corrections(dev)}
	changes, note, err := res.Corrections.Check(c)
	if err != nil {
		return res, err
	}
	if changes {
		c.Issue = projections.NewIssue(projections.CLIIssuer(), time.Now())
		seq, err := appendCorrection(ctx, log, c)
		if err != nil {
			return res, err
		}
		if err := p.CatchUp(ctx); err != nil {
			return res, err
		}
		res.Event, res.CommandID, res.Changed = seq, c.ID, true
		res.Corrections = p.Corrections(dev)
	} else {
		res.Note = note
	}
	if f, ok := p.Friend(dev); ok && dev != "" {
		res.Location = f.Location
	}
	return res, nil
}

func appendCorrection(ctx context.Context, log events.Appender, c projections.CorrectionCommand) (uint64, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	seq, err := log.Append(ctx, events.Event{
		Topic: projections.CorrectionTopic, Payload: payload, QoS: 1,
		Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		return 0, fmt.Errorf("record the correction: %w", err)
	}
	return seq, nil
}

// describeCorrection is the command's answer for a person.
func describeCorrection(c projections.CorrectionCommand, res web.CorrectionResult) string {
	what := "all devices"
	if !c.All {
		what = string(c.DeviceID())
	}
	var b strings.Builder
	switch {
	case !res.Changed:
		fmt.Fprintf(&b, "nothing changed: %s", res.Note)
	case c.Action == projections.CorrectAccuracy && c.Max == 0:
		fmt.Fprintf(&b, "accuracy limit of %s cleared (event %d)", what, res.Event)
	case c.Action == projections.CorrectAccuracy:
		fmt.Fprintf(&b, "fixes of %s less accurate than %d m are not used (event %d)", what, c.Max, res.Event)
	case c.Seq != 0:
		fmt.Fprintf(&b, "%s point %d of %s (event %d)", map[string]string{projections.CorrectHide: "hid", projections.CorrectUnhide: "showed again"}[c.Action], c.Seq, what, res.Event)
	default:
		fmt.Fprintf(&b, "%s the points of %s from %s to %s (event %d)", map[string]string{projections.CorrectHide: "hid", projections.CorrectUnhide: "showed again"}[c.Action],
			what, time.Unix(c.From, 0).UTC().Format(time.RFC3339), time.Unix(c.To, 0).UTC().Format(time.RFC3339), res.Event)
	}
	if !c.All {
		if l := res.Location; l != nil {
			fmt.Fprintf(&b, "; %s is now shown at %.5f,%.5f as of %s (event %d)", what, l.Lat, l.Lon, l.Time().Format(time.RFC3339), l.Seq)
		} else {
			fmt.Fprintf(&b, "; %s has no position in use", what)
		}
	}
	return b.String()
}
