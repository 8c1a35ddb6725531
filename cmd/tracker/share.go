package main

import (
	"context"
	"encoding/json"
	"errors"
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

const shareUsage = `Share links show one friend live on a map to whoever holds the link, with
no login, until the link expires, is revoked, or the friend arrives at a place.

  tracker share create --friend USER/DEVICE --for 1h
  tracker share create --friend USER/DEVICE --until 2026-12-06T18:30 [--place Home]
  tracker share create --friend USER/DEVICE --place Home        (at most 24 h)
  tracker share list [--json]
  tracker share revoke ID

create prints the link: the only time it is shown (the log keeps the
token's SHA-256). Making and revoking are events in the log. While a server
runs on --data the command goes through its API as TRACKER_LOGIN (a viewer
shares their own devices, an admin anyone's); the link then starts with the
server's --public-url (or --public-host). Without a server, the link starts
with --public-url here.`

// shareViewsFile keeps the share links' view counts (web.ShareViews).
func (d dataDir) shareViewsFile() string { return d.path("share-views.json") }

func runShare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, shareUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	var id string
	if sub == "revoke" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	var t target
	var req web.ShareRequest
	var publicURL string
	var asJSON bool
	fs := newFlagSet("share "+sub, shareUsage, stderr)
	t.flags(fs, "data `directory`", serverUsage)
	switch sub {
	case "create":
		fs.StringVar(&req.Friend, "friend", "", "whose location: `USER/DEVICE`")
		fs.StringVar(&req.For, "for", "", "how long the link lives: `duration` such as 1h, 90m or 2d (at most 7d; 1h when neither --for nor --until is given)")
		fs.StringVar(&req.Until, "until", "", "or until this `time` (2026-12-06T18:30 in this machine's zone, or RFC 3339)")
		fs.StringVar(&req.Place, "place", "", "and until the friend arrives at this `area`")
		fs.StringVar(&publicURL, "public-url", "", "base `URL` the link starts with when no server is running (e.g. https://tracker.example.org)")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	case "revoke":
	default:
		return fmt.Errorf("share: unknown subcommand %q (want create, list or revoke)", sub)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if sub == "revoke" && id == "" {
		return errors.New("share revoke: give the link's ID (tracker share list shows them)")
	}
	if sub == "create" {
		if err := projections.ValidDeviceID(projections.DeviceID(req.Friend)); err != nil {
			return fmt.Errorf("share create --friend: %w", err)
		}
		if _, err := shareExpiryCheck(req); err != nil {
			return fmt.Errorf("share create: %w", err)
		}
	}
	log, api, err := t.reach(false, badgerlog.Options{}, "going", nil, stderr)
	if err != nil {
		return err
	}
	if api != nil {
		return shareThroughServer(ctx, api, sub, req, id, asJSON, stdout)
	}
	defer log.Close()
	p, err := t.projections(ctx, log)
	if err != nil {
		return err
	}
	defer p.Close()
	views, err := web.OpenShareViews(t.data.shareViewsFile())
	if err != nil {
		return err
	}
	switch sub {
	case "create":
		made, err := shareCreateOffline(ctx, t, log, p, req, publicURL, views)
		if err != nil {
			return err
		}
		printShareMade(stdout, made)
		return nil
	case "revoke":
		info, err := shareRevokeOffline(ctx, log, p, id, views)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, describeShare(info))
		return nil
	}
	now := time.Now()
	areas := p.Areas()
	var list []web.ShareInfo
	for _, l := range p.Shares() {
		list = append(list, web.ShareInfoOf(l, p, areas, views.Get(l.ID), now))
	}
	return printShares(stdout, list, asJSON)
}

// shareExpiryCheck checks --for and --until before anything is opened
// (the server or the offline path decides the expiry itself).
func shareExpiryCheck(req web.ShareRequest) (time.Time, error) {
	return web.ShareExpiry(req, time.Now(), time.Local)
}

func shareThroughServer(ctx context.Context, api *adminClient, sub string, req web.ShareRequest, id string, asJSON bool, stdout io.Writer) error {
	switch sub {
	case "create":
		if req.Until != "" {
			// A local time means this machine's zone, not the server's.
			if t, err := time.ParseInLocation("2006-01-02T15:04", req.Until, time.Local); err == nil {
				req.Until = t.Format(time.RFC3339)
			}
		}
		var made web.ShareMade
		if err := api.call(ctx, http.MethodPost, "/api/v1/shares", req, &made); err != nil {
			return err
		}
		printShareMade(stdout, made)
		return nil
	case "revoke":
		var info web.ShareInfo
		if err := api.call(ctx, http.MethodDelete, "/api/v1/shares/"+url.PathEscape(id), nil, &info); err != nil {
			return err
		}
		fmt.Fprintln(stdout, describeShare(info))
		return nil
	}
	var list []web.ShareInfo
	if err := api.call(ctx, http.MethodGet, "/api/v1/shares", nil, &list); err != nil {
		return err
	}
	return printShares(stdout, list, asJSON)
}

// shareCreateOffline records a link on the data directory: its owner is
// nobody (whoever runs tracker on the data directory is its admin).
func shareCreateOffline(ctx context.Context, t target, log *badgerlog.Log, p *projector.Projector, req web.ShareRequest, publicURL string, views *web.ShareViews) (web.ShareMade, error) {
	dev := projections.DeviceID(req.Friend)
	if _, ok := p.Friend(dev); !ok {
		return web.ShareMade{}, fmt.Errorf("share create: no friend %q has reported (tracker log shows what was received)", dev)
	}
	now := time.Now()
	expires, err := web.ShareExpiry(req, now, time.Local)
	if err != nil {
		return web.ShareMade{}, fmt.Errorf("share create: %w", err)
	}
	var area string
	if req.Place != "" {
		for _, a := range p.Areas() {
			if a.AppliesTo(dev) && strings.EqualFold(strings.TrimSpace(a.Name), strings.TrimSpace(req.Place)) {
				area = a.ID
			}
		}
		if area == "" {
			return web.ShareMade{}, fmt.Errorf("share create: no place %q for %s (tracker area list)", req.Place, dev)
		}
	}
	token, hash, id := projections.NewShareToken()
	c := projections.ShareCommand{Type: "share", Action: projections.ShareCreate, Link: id, Device: dev, Hash: hash, Expires: expires,
		UntilArea: area, Issue: projections.NewIssue(projections.CLIIssuer(), now)}
	if err := appendShareOffline(ctx, log, p, c); err != nil {
		return web.ShareMade{}, err
	}
	l, ok := p.Share(id)
	if !ok {
		return web.ShareMade{}, fmt.Errorf("share create: link %s is not in the projections after recording it (more than %d links?)", id, projections.MaxSharesPerOwner)
	}
	base := strings.TrimSuffix(publicURL, "/")
	if base == "" {
		base = "http://127.0.0.1:8080"
		if info, err := t.data.readServerInfo(); err == nil && info.HTTP != "" {
			base = info.HTTP
		}
	}
	return web.ShareMade{Link: web.ShareInfoOf(l, p, p.Areas(), views.Get(id), now), URL: base + "/s/" + token, Token: token}, nil
}

func shareRevokeOffline(ctx context.Context, log *badgerlog.Log, p *projector.Projector, id string, views *web.ShareViews) (web.ShareInfo, error) {
	l, ok := p.Share(id)
	if !ok {
		return web.ShareInfo{}, fmt.Errorf("share revoke: no share link %q (tracker share list)", id)
	}
	now := time.Now()
	if l.Active(now) {
		c := projections.ShareCommand{Type: "share", Action: projections.ShareRevoke, Link: id, Issue: projections.NewIssue(projections.CLIIssuer(), now)}
		if err := appendShareOffline(ctx, log, p, c); err != nil {
			return web.ShareInfo{}, err
		}
		l, _ = p.Share(id)
	}
	return web.ShareInfoOf(l, p, p.Areas(), views.Get(id), now), nil
}

func appendShareOffline(ctx context.Context, log *badgerlog.Log, p *projector.Projector, c projections.ShareCommand) error {
	if err := c.Validate(); err != nil {
		return err
	}
	payload, _ := json.Marshal(c)
	if _, err := log.Append(ctx, events.Event{Topic: projections.ShareTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now()}); err != nil {
		return fmt.Errorf("record the share link: %w", err)
	}
	return p.CatchUp(ctx)
}

func printShareMade(w io.Writer, m web.ShareMade) {
	fmt.Fprintln(w, m.URL)
	fmt.Fprintln(w, describeShare(m.Link))
}

func describeShare(i web.ShareInfo) string {
	s := fmt.Sprintf("share link %s for %s (event %d): %s", i.ID, i.Device, i.Seq, i.Status)
	if i.Live {
		s += ", until " + i.Expires.Local().Format("2006-01-02 15:04 MST")
	} else if !i.Ended.IsZero() {
		s += " " + i.Ended.Local().Format("2006-01-02 15:04 MST")
	}
	if i.Place != "" {
		s += ", or until arriving at " + i.Place
	}
	return s + fmt.Sprintf(", %d views", i.Views)
}

func printShares(w io.Writer, list []web.ShareInfo, asJSON bool) error {
	if list == nil {
		list = []web.ShareInfo{}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(list)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFRIEND\tSTATUS\tUNTIL\tPLACE\tVIEWS\tOWNER")
	for _, i := range list {
		until := i.Expires
		if !i.Ended.IsZero() {
			until = i.Ended
		}
		owner := i.Owner
		if owner == "" {
			owner = "(" + i.By + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", i.ID, i.Device, i.Status, until.Local().Format("2006-01-02 15:04"), i.Place, i.Views, owner)
	}
	return tw.Flush()
}
