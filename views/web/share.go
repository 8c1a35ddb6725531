package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// Share links (issue 17): a link that shows one friend live to whoever
// holds it, with no login, until it expires, is revoked, or (optionally)
// the friend arrives at a chosen place.
//
//   - Making and revoking are events (projections.ShareTopic); the log
//     keeps the token's SHA-256, the link page (and the API answer that
//     made it) is the only place the token is shown.
//   - /s/{token} and what it reaches (/s/{token}/stream, its live stream;
//     /s/{token}/track.json, the trail since the link started) read the
//     projections through a gate that lets through only the link's
//     device, so no other friend can appear there, whatever the code
//     above the gate does. The page names no area: the place a link
//     ends at is not shown to its viewers (they need to know it ends, not
//     where the friend is going), nor are the areas the friend is in.
//   - A link works while its owner may share its friend: a viewer their
//     own devices, an admin anyone; the check is made again at every
//     request and stream message, so a demoted or removed owner's links
//     stop at once.
//   - Unknown or malformed tokens count as failures per client address
//     (the login limiter's rules: 5 in 5 minutes), after which every
//     token from that address is refused for a while, found or not.
//   - Views are counted in memory and saved to a file in the data
//     directory every shareSaveEvery, not in the log: anonymous viewers
//     cannot make the log grow. The count is at most shareSaveEvery
//     behind after a crash.

// ShareLinks is what the share pages read of the links.
type ShareLinks interface {
	Shares() []projections.ShareLink
	Share(id string) (projections.ShareLink, bool)
	ShareByToken(token string) (projections.ShareLink, bool)
}

const (
	// shareStreamsPerLink caps the open streams of one link, so a leaked
	// link cannot tie up the server with sockets.
	shareStreamsPerLink = 50
	// shareSaveEvery spaces the saves of the view counts (and the sweeps
	// for arrivals the live feed may have missed).
	shareSaveEvery = 30 * time.Second
	// shareTrailMax bounds the trail the page draws.
	shareTrailMax = 5000
	// shareHeartbeat keeps a quiet stream's proxies from closing it and
	// finds dead clients.
	shareHeartbeat = 25 * time.Second
	// shareWriteTimeout drops a client whose socket does not take a message.
	shareWriteTimeout = 5 * time.Second
	// shareDefaultPlaceFor is how long a link "until I arrive" lives when
	// no time is given.
	shareDefaultPlaceFor = 24 * time.Hour
)

// shareHub is the share links' live side: the open streams, the
// arrivals to check, the token guesses.
type shareHub struct {
	guesses  *limiter
	arrivals chan projections.AreaEvent

	mu      sync.Mutex
	streams map[*shareStream]struct{}
	ending  map[string]bool // links whose end event was written by this process
}

func newShareHub(now func() time.Time) *shareHub {
	return &shareHub{guesses: newLimiter(now), arrivals: make(chan projections.AreaEvent, 256),
		streams: map[*shareStream]struct{}{}, ending: map[string]bool{}}
}

// shareStream is one open /s/{token}/stream.
type shareStream struct {
	link string
	dev  projections.DeviceID
	wake chan struct{} // 1 slot: a pending "look again"
}

func (st *shareStream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// ShareChanges takes what one projection save changed (nil: everything):
// it wakes the streams it may concern and notes arrivals for links that
// end there. It never blocks (a feed follower).
func (s *Server) ShareChanges(ch *projections.Changes) {
	h := s.share
	h.mu.Lock()
	for st := range h.streams {
		if ch == nil || ch.Shares[st.link] || ch.Friends[st.dev] || len(ch.Users) > 0 || len(ch.Rules) > 0 {
			st.signal()
		}
	}
	h.mu.Unlock()
	if ch == nil {
		return // the periodic sweep looks for arrivals
	}
	for _, e := range ch.AreaEvents {
		if e.Event != "enter" {
			continue
		}
		select {
		case h.arrivals <- e:
		default: // full: the periodic sweep finds it
		}
	}
}

// shareRoutes: the public link page and what it reaches (no login).
func (s *Server) shareRoutes(r chi.Router) {
	r.Get("/s/{token}", s.sharePage)
	r.Get("/s/{token}/stream", s.shareStreamHandler)
	r.Get("/s/{token}/track.json", s.shareTrack)
}

// shareManageRoutes: /share (logged in).
func (s *Server) shareManageRoutes(r chi.Router) {
	r.Get("/share", s.shareManagePage)
	r.Post("/share", s.shareManageCreate)
	r.Post("/share/revoke", s.shareManageRevoke)
}

// shareAPIRoutes: under /api/v1, logged in.
func (s *Server) shareAPIRoutes(r chi.Router) {
	r.Get("/shares", s.shareList)
	r.Post("/shares", s.shareCreateAPI)
	r.Delete("/shares/{id}", s.shareRevokeAPI)
}

// mayShare reports whether user u may make a link for dev: their own
// devices; an admin's, anyone's.
func mayShare(u projections.User, dev projections.DeviceID) bool {
	user, _ := dev.Split()
	return u.Admin || user == u.Name
}

// ShareStatus is what link l is at now: "live", "expired", "revoked",
// "arrived" or "not allowed" (its owner, looked up in users, may no
// longer share its friend).
func ShareStatus(l projections.ShareLink, users Users, now time.Time) (string, bool) {
	switch {
	case !l.Ended.IsZero():
		return l.EndReason, false
	case !now.Before(l.Expires):
		return "expired", false
	case l.Owner != "":
		u, ok := users.User(l.Owner)
		if !ok || !mayShare(u, l.Device) {
			return "not allowed", false
		}
	}
	return "live", true
}

func (s *Server) shareStatus(l projections.ShareLink, now time.Time) (string, bool) {
	return ShareStatus(l, s.Auth.Users, now)
}

// shareHeaders are every public share answer's: the token is in the URL,
// so no Referer leaves with it, nothing is cached, nothing indexed.
func shareHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex, nofollow")
}

// shareLookup finds the link of the request's token and answers for it
// when it cannot be used: 429 while the address is over its guesses,
// 404 for an unknown token (a guess), 410 for a link that has ended.
func (s *Server) shareLookup(w http.ResponseWriter, r *http.Request) (projections.ShareLink, bool) {
	shareHeaders(w)
	ip := s.Auth.ClientIP(r)
	key := addrKey(ip)
	if wait := s.share.guesses.wait(key, ip); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.shareGone(w, r, http.StatusTooManyRequests, "Too many tries", "Too many wrong links from your address. Try again in "+wait.Round(time.Second).String()+".")
		return projections.ShareLink{}, false
	}
	var l projections.ShareLink
	tok, err := projections.ParseShareToken(chi.URLParam(r, "token"))
	found := false
	if err == nil && s.Shares != nil {
		l, found = s.Shares.ShareByToken(tok)
	}
	if !found {
		if s.Checkpoint != nil && s.Checkpoint() == 0 && s.Log.Head() > 0 {
			s.shareGone(w, r, http.StatusServiceUnavailable, "Starting", "The server is starting; try again in a minute.")
			return l, false
		}
		s.share.guesses.fail(key, ip)
		s.Logger.Info("share link refused: unknown token", "remote", ip)
		s.shareGone(w, r, http.StatusNotFound, "No such link", "This link does not exist. Check that it was copied whole.")
		return l, false
	}
	if status, live := s.shareStatus(l, s.now()); !live {
		msg := "This link has expired."
		switch status {
		case "revoked":
			msg = "This link was revoked by the person who shared it."
		case projections.ShareEndArrived:
			msg = "This link ended: they have arrived."
		case "not allowed":
			msg = "This link no longer works."
		}
		s.shareGone(w, r, http.StatusGone, "Link ended", msg)
		return l, false
	}
	return l, true
}

// shareGone answers a public share request that cannot be served: a
// minimal page for a browser's page request, plain text otherwise.
func (s *Server) shareGone(w http.ResponseWriter, r *http.Request, code int, title, msg string) {
	if r.Method != http.MethodGet || strings.Count(r.URL.Path, "/") > 2 || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Error(w, msg, code)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	s.render(w, r, views.ShareGoneView(views.ShareGonePage{Assets: s.Assets, Code: code, Title: title, Message: msg}))
}

// shareFix is dev's current position as the link shows it, read through
// the link's gate.
func (s *Server) shareFix(dev projections.DeviceID) *views.ShareFix {
	f, ok := s.projOne(dev).Friend(dev)
	if !ok || f.Location == nil || f.Hidden {
		return nil
	}
	return &views.ShareFix{Lat: f.Location.Lat, Lon: f.Location.Lon, Acc: max(f.Location.Acc, 0), At: f.Location.Time()}
}

// sharePage is /s/{token}: the friend on a map. Each page view counts.
func (s *Server) sharePage(w http.ResponseWriter, r *http.Request) {
	l, ok := s.shareLookup(w, r)
	if !ok {
		return
	}
	now := s.now()
	s.ShareViews.Add(l.ID, now)
	name := string(l.Device)
	if f, ok := s.projOne(l.Device).Friend(l.Device); ok {
		name = f.DisplayName()
	}
	base := "/s/" + chi.URLParam(r, "token")
	m := views.ShareViewPage{Assets: s.Assets, Tiles: s.Tiles, Now: now.In(views.ViewerLocation(r, now.Location())), Name: name,
		StreamURL: base + "/stream", TrackURL: base + "/track.json", Expires: l.Expires, UntilArrival: l.UntilArea != "",
		Views: s.ShareViews.Get(l.ID).Views, Fix: s.shareFix(l.Device)}
	s.render(w, r, views.ShareView(m))
}

// shareFixJSON is a position in the stream and the trail.
type shareFixJSON struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	Acc int     `json:"acc,omitempty"`
	Tst int64   `json:"tst"`
}

// shareTrack is the link's trail: the friend's points since the link
// started (at most shareTrailMax, the newest), nothing from before.
func (s *Server) shareTrack(w http.ResponseWriter, r *http.Request) {
	l, ok := s.shareLookup(w, r)
	if !ok {
		return
	}
	var pts []shareFixJSON
	err := s.projOne(l.Device).History(l.Device, l.Created.Unix(), l.Until().Unix()+1, func(p projections.Point) error {
		if len(pts) == shareTrailMax {
			pts = append(pts[:0], pts[1:]...)
		}
		pts = append(pts, shareFixJSON{Lat: p.Lat, Lon: p.Lon, Acc: max(p.Acc, 0), Tst: p.Tst})
		return nil
	})
	if errors.Is(err, projections.ErrRebuilding) {
		http.Error(w, "the server is rebuilding its projections; try again shortly", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		s.httpError(w, r, http.StatusInternalServerError, "could not read the trail", err)
		return
	}
	if pts == nil {
		pts = []shareFixJSON{}
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"points": pts, "until": l.Expires.Unix()})
}

// shareStreamHandler is /s/{token}/stream: server-sent events with the
// friend's position ("fix") whenever it changes, and "end" with the
// reason when the link expires, is revoked or ends, after which the
// stream closes. Each message is decided from the link and its owner's
// rights as they are then.
func (s *Server) shareStreamHandler(w http.ResponseWriter, r *http.Request) {
	l, ok := s.shareLookup(w, r)
	if !ok {
		return
	}
	key := "\x00share:" + l.ID // user names cannot hold \x00
	s.streams.mu.Lock()
	if s.streams.n[key] >= shareStreamsPerLink {
		s.streams.mu.Unlock()
		http.Error(w, "too many viewers of this link at once", http.StatusTooManyRequests)
		return
	}
	s.streams.n[key]++
	s.streams.open.Add(1)
	s.streams.mu.Unlock()
	defer func() {
		s.streams.mu.Lock()
		s.streams.n[key]--
		if s.streams.n[key] == 0 {
			delete(s.streams.n, key)
		}
		s.streams.mu.Unlock()
		s.streams.open.Done()
	}()

	st := &shareStream{link: l.ID, dev: l.Device, wake: make(chan struct{}, 1)}
	h := s.share
	h.mu.Lock()
	h.streams[st] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.streams, st)
		h.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(event string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_ = rc.SetWriteDeadline(time.Now().Add(shareWriteTimeout))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return err
		}
		return rc.Flush()
	}
	var last *views.ShareFix
	sendFix := func() error {
		f := s.shareFix(l.Device)
		if f == nil || (last != nil && *f == *last) {
			return nil
		}
		last = f
		return send("fix", shareFixJSON{Lat: f.Lat, Lon: f.Lon, Acc: f.Acc, Tst: f.At.Unix()})
	}
	if err := send("hello", map[string]int64{"until": l.Expires.Unix()}); err != nil {
		return
	}
	if err := sendFix(); err != nil {
		return
	}
	expiry := time.NewTimer(max(0, l.Expires.Sub(s.now())))
	defer expiry.Stop()
	beat := time.NewTicker(shareHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-expiry.C:
			_ = send("end", map[string]string{"reason": "expired"})
			return
		case <-beat.C:
			_ = rc.SetWriteDeadline(time.Now().Add(shareWriteTimeout))
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-st.wake:
			cur, ok := s.Shares.Share(l.ID)
			status, live := "revoked", false
			if ok {
				status, live = s.shareStatus(cur, s.now())
			}
			if !live {
				_ = send("end", map[string]string{"reason": status})
				return
			}
			if err := sendFix(); err != nil {
				return
			}
		}
	}
}

// RunShares saves the view counts every shareSaveEvery and at the end,
// and ends "until I arrive" links: from arrivals the feed reports
// (ShareChanges) and from a sweep of each such link's area events, at
// start and every shareSaveEvery, for those the feed missed (a restart,
// a full queue). It returns when ctx ends.
func (s *Server) RunShares(ctx context.Context) error {
	defer func() {
		if err := s.saveShareViews(); err != nil {
			s.Logger.Error("share links: saving the view counts at shutdown failed", "err", err)
		}
	}()
	if s.Shares == nil {
		<-ctx.Done()
		return nil
	}
	// Sweep once the projections hold what the log held at start, so
	// that an arrival recorded before a restart is not written again.
	if err := s.projector.WaitFor(ctx, s.Log.Head()); err != nil {
		return nil //nolint:nilerr // ctx ended, or the projections will say why
	}
	s.sweepArrivals(ctx)
	tick := time.NewTicker(shareSaveEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e := <-s.share.arrivals:
			for _, l := range s.Shares.Shares() {
				if l.UntilArea != "" && l.Device == e.Device && e.Tst >= l.Created.Unix() && s.sameArea(l, e.Area) {
					s.endShare(ctx, l)
				}
			}
		case <-tick.C:
			if err := s.saveShareViews(); err != nil {
				s.Logger.Warn("share links: saving the view counts failed; they are kept in memory", "err", err)
			}
			s.sweepArrivals(ctx)
		}
	}
}

// sweepArrivals ends the running "until I arrive" links whose friend
// has entered the place since the link started.
func (s *Server) sweepArrivals(ctx context.Context) {
	now := s.now()
	for _, l := range s.Shares.Shares() {
		if l.UntilArea == "" || !l.Active(now) {
			continue
		}
		arrived := false
		errStop := errors.New("found")
		err := s.projOne(l.Device).DeviceEvents(l.Device, l.Created.Unix(), now.Unix()+1, func(e projections.AreaEvent) error {
			if e.Event == "enter" && s.sameArea(l, e.Area) {
				arrived = true
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			if !errors.Is(err, projections.ErrRebuilding) {
				s.Logger.Warn("share links: reading a friend's arrivals failed", "link", l.ID, "err", err)
			}
			continue
		}
		if arrived {
			s.endShare(ctx, l)
		}
	}
}

// sameArea reports whether area id is the place l ends at: its id then,
// or the id a rename gave it since (Area.Formerly).
func (s *Server) sameArea(l projections.ShareLink, id string) bool {
	if id == l.UntilArea {
		return true
	}
	for _, a := range s.projOne(l.Device).Areas() {
		if a.ID == id {
			return slices.ContainsFunc(a.Formerly, func(f projections.FormerID) bool { return f.ID == l.UntilArea })
		}
	}
	return false
}

// endShare records that l's friend arrived, once per link and process.
func (s *Server) endShare(ctx context.Context, l projections.ShareLink) {
	if !l.Active(s.now()) {
		return
	}
	s.share.mu.Lock()
	done := s.share.ending[l.ID]
	s.share.ending[l.ID] = true
	s.share.mu.Unlock()
	if done {
		return
	}
	c := projections.ShareCommand{Action: projections.ShareEnd, Link: l.ID, Reason: projections.ShareEndArrived}
	seq, err := s.appendShare(ctx, "server", c)
	if err != nil {
		s.share.mu.Lock()
		delete(s.share.ending, l.ID) // try again at the next sweep
		s.share.mu.Unlock()
		s.Logger.Error("share links: recording an arrival failed; retried at the next sweep", "link", l.ID, "err", err)
		return
	}
	s.Logger.Info("share link ended: its friend arrived", "link", l.ID, "device", l.Device, "seq", seq)
}

// appendShare records a share command by who and waits until the
// projections hold it.
func (s *Server) appendShare(ctx context.Context, who string, c projections.ShareCommand) (uint64, error) {
	c.Type = "share"
	c.Issue = projections.NewIssue(who, s.now())
	if err := c.Validate(); err != nil {
		return 0, requestError{http.StatusBadRequest, err.Error()}
	}
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(ctx, events.Event{
		Topic: projections.ShareTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		return 0, fmt.Errorf("record the share link: %w", err)
	}
	if err := s.projector.WaitFor(ctx, seq); err != nil {
		return seq, fmt.Errorf("recorded; projections are catching up: %w", err)
	}
	return seq, nil
}

func (s *Server) saveShareViews() error {
	keep := map[string]bool{}
	if s.Shares != nil {
		for _, l := range s.Shares.Shares() {
			keep[l.ID] = true
		}
	}
	return s.ShareViews.Save(func(id string) bool { return keep[id] })
}
