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
	"text/tabwriter"
	"time"

	"tracker/events/badgerlog"
	"tracker/projections"
	"tracker/projections/geo"
)

const areaUsage = `Server areas are named circles or polygons that apply to everybody.

  tracker area add NAME --circle LAT,LON,RADIUS_M
  tracker area add NAME --polygon "LAT,LON LAT,LON LAT,LON ..."
  tracker area rename NAME NEW_NAME [--circle … | --polygon …]
  tracker area remove NAME
  tracker area list [--json]

A definition or removal is an event in the log (source admin), with its own
command id, so a rebuild reproduces it and a repeated command applies; the
answer is the area as now defined. A rename is one event: who is inside
stays inside, and a shape given with it replaces the old one at once. While a server runs on --data, the
command goes through its API.`

func runArea(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, areaUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	var name, to string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if sub == "rename" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		to, args = args[0], args[1:]
	}
	var t target
	var circle, polygon string
	var asJSON bool
	fs := newFlagSet("area "+sub, areaUsage, stderr)
	t.flags(fs, "data `directory`", serverUsage)
	switch sub {
	case "add", "rename":
		fs.StringVar(&circle, "circle", "", "centre and radius as `LAT,LON,RADIUS_M`")
		fs.StringVar(&polygon, "polygon", "", "corners as `\"LAT,LON LAT,LON ...\"`")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	case "remove":
	default:
		return fmt.Errorf("area: unknown subcommand %q (want add, rename, remove or list)", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if sub == "rename" && to == "" && len(rest) > 0 {
		to = rest[0]
	}
	if err := parseFlags(fs, nil); err != nil && !errors.Is(err, flag.ErrHelp) {
		return err
	}
	if sub == "list" {
		return listAreas(ctx, t, asJSON, stdout, stderr)
	}
	cmd := projections.AreaCommand{Type: "area", Action: projections.AreaRemove, Name: name}
	switch {
	case sub == "add":
		cmd.Action = projections.AreaDefine
		if err := parseShape(&cmd, circle, polygon); err != nil {
			return err
		}
	case sub == "rename":
		cmd.Action, cmd.To = projections.AreaRename, to
		if circle != "" || polygon != "" {
			if err := parseShape(&cmd, circle, polygon); err != nil {
				return err
			}
		}
	}
	if err := cmd.Validate(); err != nil {
		return err
	}
	log, api, err := t.reach(false, badgerlog.Options{}, "going", nil, stderr)
	if err != nil {
		return err
	}
	if api != nil {
		return areaThroughServer(ctx, api, cmd, stdout)
	}
	defer log.Close()
	cmd.Issue = projections.NewIssue(projections.CLIIssuer(), time.Now())
	res, err := areaOffline(ctx, t, log, cmd)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.describe())
	return nil
}

// areaOffline records c and returns the area as the log now defines it.
func areaOffline(ctx context.Context, t target, log *badgerlog.Log, c projections.AreaCommand) (areaResult, error) {
	if c.Action == projections.AreaRename {
		if err := checkRename(ctx, t, log, c); err != nil {
			return areaResult{}, err
		}
	}
	seq, err := appendArea(ctx, log, c)
	if err != nil {
		return areaResult{}, err
	}
	p, err := t.projections(ctx, log)
	if err != nil {
		return areaResult{}, err
	}
	defer p.Close()
	res := areaResult{Seq: seq, CommandID: c.ID, Removed: strings.TrimSpace(c.Name)}
	if c.Action == projections.AreaRename {
		res.from = c.Name
	}
	for _, a := range p.Areas() {
		if a.ID == projections.ServerAreaID(c.Target()) {
			res.AreaView, res.Exists, res.Removed = a, true, ""
		}
	}
	return res, nil
}

// checkRename refuses, as the server's API does, a rename of an area that
// does not exist or onto another area's name: the fold would ignore it.
func checkRename(ctx context.Context, t target, log *badgerlog.Log, c projections.AreaCommand) error {
	p, err := t.projections(ctx, log)
	if err != nil {
		return err
	}
	defer p.Close()
	from, to := projections.ServerAreaID(c.Name), projections.ServerAreaID(c.To)
	var found, taken bool
	for _, a := range p.Areas() {
		found = found || a.ID == from
		taken = taken || (a.ID == to && to != from)
	}
	switch {
	case !found:
		return fmt.Errorf("area rename: no server area named %q", c.Name)
	case taken:
		return fmt.Errorf("area rename: there is already an area named %q; pick another name or remove that one first", strings.TrimSpace(c.To))
	}
	return nil
}

// areaResult is the outcome of an area command, as the server's API
// answers it: the area as now defined, or Exists false after a removal.
type areaResult struct {
	projections.AreaView
	Seq       uint64 `json:"seq"`
	CommandID string `json:"command_id"`
	Exists    bool   `json:"exists"`
	Removed   string `json:"removed,omitempty"`
	from      string // the old name, for a rename
}

func (r areaResult) describe() string {
	switch {
	case !r.Exists:
		return fmt.Sprintf("area %q removed (event %d): it no longer exists", r.Removed, r.Seq)
	case r.from != "":
		return fmt.Sprintf("area %q renamed to %q (event %d): %s", strings.TrimSpace(r.from), r.Name, r.Seq, shapeText(r.AreaView))
	}
	return fmt.Sprintf("area %q added (event %d): %s", r.Name, r.Seq, shapeText(r.AreaView))
}

// shapeText describes an area's geometry.
func shapeText(a projections.AreaView) string {
	switch {
	case len(a.Polygon) > 0:
		return fmt.Sprintf("polygon, %d corners", len(a.Polygon))
	case a.Center != nil:
		return fmt.Sprintf("circle %.5f,%.5f r=%gm", a.Center.Lat, a.Center.Lon, a.Radius)
	}
	return "none"
}

func parseShape(c *projections.AreaCommand, circle, polygon string) error {
	switch {
	case circle != "" && polygon != "":
		return errors.New("area add: give --circle or --polygon, not both")
	case circle != "":
		f, err := floats(circle, 3)
		if err != nil {
			return fmt.Errorf("--circle %q: %w (want LAT,LON,RADIUS_M)", circle, err)
		}
		c.Center, c.Radius = &geo.Point{Lat: f[0], Lon: f[1]}, f[2]
	case polygon != "":
		for _, corner := range strings.Fields(polygon) {
			f, err := floats(corner, 2)
			if err != nil {
				return fmt.Errorf("--polygon corner %q: %w (want LAT,LON)", corner, err)
			}
			c.Polygon = append(c.Polygon, geo.Point{Lat: f[0], Lon: f[1]})
		}
	default:
		return errors.New("area add: give the shape with --circle LAT,LON,RADIUS_M or --polygon \"LAT,LON ...\"")
	}
	return nil
}

func floats(s string, n int) ([]float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("%d numbers separated by commas expected, got %d", n, len(parts))
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		out[i] = v
	}
	return out, nil
}

func areaThroughServer(ctx context.Context, api *adminClient, c projections.AreaCommand, stdout io.Writer) error {
	var res areaResult
	var err error
	switch c.Action {
	case projections.AreaDefine:
		err = api.call(ctx, http.MethodPost, "/api/v1/areas", c, &res)
	case projections.AreaRename:
		err = api.call(ctx, http.MethodPost, "/api/v1/areas/"+url.PathEscape(c.Name)+"/rename", c, &res)
		res.from = c.Name
	default:
		err = api.call(ctx, http.MethodDelete, "/api/v1/areas/"+url.PathEscape(c.Name), nil, &res)
	}
	if err != nil {
		return fmt.Errorf("area through server: %w", err)
	}
	if res.Exists != (c.Action != projections.AreaRemove) {
		return fmt.Errorf("area %s %q: the server recorded it as event %d, but the area %s", c.Action, c.Name, res.Seq,
			map[bool]string{true: "still exists", false: "does not exist"}[res.Exists])
	}
	fmt.Fprintln(stdout, res.describe())
	return nil
}

func listAreas(ctx context.Context, t target, asJSON bool, stdout, stderr io.Writer) error {
	var areas []projections.AreaView
	log, api, err := t.reach(false, badgerlog.Options{}, "going", nil, stderr)
	switch {
	case err != nil:
		return err
	case api != nil:
		if err := api.call(ctx, http.MethodGet, "/api/v1/areas", nil, &areas); err != nil {
			return err
		}
	default:
		defer log.Close()
		p, err := t.projections(ctx, log)
		if err != nil {
			return err
		}
		defer p.Close()
		areas = p.Areas()
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(areas)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tORIGIN\tSHAPE\tIN IT NOW")
	for _, a := range areas {
		shape := shapeText(a)
		var who []string
		for _, m := range a.Members {
			who = append(who, string(m.Device))
		}
		origin := a.Origin
		if a.Owner != "" {
			origin += " (" + string(a.Owner) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strconv.QuoteToGraphic(a.Name), origin, shape, strings.Join(who, ", "))
	}
	return tw.Flush()
}
