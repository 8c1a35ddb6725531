// Package live pushes what changed to open dashboards, over a websocket
// (/live, htmx ws extension) or server-sent events (/live/sse). One Hub
// hears every projection change; each client keeps only a set of what is
// dirty, so a burst of changes costs a client one message, memory per
// client is bounded by the number of friends and areas, and a slow client
// never slows ingest or other clients: the hub only marks and signals.
// Each client's writer sends at most one message per MinInterval;
// a client whose writes stall is dropped and reconnects to a fresh state.
//
// What a client may see is decided again for every message from the
// viewer's current rights (Access.Rights), never from a snapshot taken at
// connect: a sharing change applies from the next message on, and a
// change to the viewer's account (Notify) or an ended session (Recheck)
// wakes the client at once, so a revoked viewer's stream closes within
// MinInterval plus one render.
package live

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"tracker/projections"
	"tracker/views"
	"tracker/views/visible"
)

// Source is what the hub reads to render.
type Source interface {
	Friends() []projections.FriendView
	Friend(id projections.DeviceID) (projections.FriendView, bool)
	Areas() []projections.AreaView
	RecentAreaEvents(n int) []projections.AreaEvent
}

// Locator sends a friend's phone the OwnTracks reportLocation command.
type Locator func(ctx context.Context, dev projections.DeviceID) error

const (
	// MinInterval spaces one client's messages: at most about 10 a second.
	MinInterval = 100 * time.Millisecond
	// WriteTimeout drops a client whose socket does not take a message.
	WriteTimeout = 5 * time.Second
	// FeedLines is how many recent enter/leave lines a full state carries.
	FeedLines = 30
	// maxPendingFeed bounds a client's queued feed lines; beyond it the
	// client gets a full state instead.
	maxPendingFeed = 50
)

// Hub fans projection changes out to clients.
type Hub struct {
	src    Source
	locate Locator
	page   func() views.Page
	logger *slog.Logger

	mu       sync.Mutex
	clients  map[*client]struct{}
	watchers map[*watcher]struct{}

	rows rowCache
}

// watcher is a stream outside the hub (/ws/last) that wants to hear when
// a user's rights may have changed.
type watcher struct {
	user string
	wake func()
}

// rowCache shares rendered friend rows between clients within one
// generation of changes (each Notify starts a new one): with a thousand
// pages open, a changed row is rendered once, not a thousand times.
type rowCache struct {
	mu    sync.Mutex
	gen   uint64
	m     map[string][]byte
	views map[string]views.Viewing // per client key (client.key)
}

func (rc *rowCache) reset() {
	rc.mu.Lock()
	rc.gen++
	clear(rc.m)
	clear(rc.views)
	rc.mu.Unlock()
}

// get returns the cached rendering of key, rendering it when missing. A
// rendering started before a reset is not kept: it may be stale.
func (rc *rowCache) get(key string, render func() ([]byte, error)) ([]byte, error) {
	rc.mu.Lock()
	if b, ok := rc.m[key]; ok {
		rc.mu.Unlock()
		return b, nil
	}
	gen := rc.gen
	rc.mu.Unlock()
	b, err := render()
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	if rc.gen == gen {
		if rc.m == nil {
			rc.m = map[string][]byte{}
		}
		rc.m[key] = b
	}
	rc.mu.Unlock()
	return b, nil
}

// New returns a hub reading from src. page supplies the page settings
// used when rendering (assets, clock); locate may be nil (no button).
func New(src Source, page func() views.Page, locate Locator, logger *slog.Logger) *Hub {
	return &Hub{src: src, page: page, locate: locate, logger: logger,
		clients: map[*client]struct{}{}, watchers: map[*watcher]struct{}{}}
}

// Clients is the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// Notify takes what one projection save changed (nil: everything, after
// a rebuild). It never blocks: it marks each client dirty and signals it.
// A client whose viewer's account changed (sharing, password, removal)
// gets a full state under its current rights, or is closed when they
// have ended.
func (h *Hub) Notify(ch *projections.Changes) {
	var friends []projections.DeviceID
	var areas []string
	var feed []projections.AreaEvent
	if ch != nil {
		for id := range ch.Friends {
			friends = append(friends, id)
		}
		areaSet := map[string]bool{}
		for id := range ch.Areas {
			areaSet[id] = true
		}
		for k := range ch.Members {
			areaSet[k.Area] = true
			friends = append(friends, k.Device) // a friend's area chips change with membership
		}
		for id := range areaSet {
			areas = append(areas, id)
		}
		feed = append(feed, ch.AreaEvents...)
	}
	h.rows.reset()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Any change to accounts wakes every stream to ask its rights again
	// (cheap: nothing is sent when nothing else is dirty); the viewer
	// whose account changed gets a full state under the new rule, so a
	// friend newly hidden leaves the page and one newly shared appears.
	accounts := ch == nil || len(ch.Users) > 0
	for c := range h.clients {
		c.mark(ch == nil || ch.Users[c.access.User], friends, areas, feed)
	}
	if accounts {
		for w := range h.watchers {
			w.wake()
		}
	}
}

// Recheck wakes every stream of user to ask its rights again now: a
// session of that user has ended (logout), so the streams it opened must
// close. Streams of the user's other sessions carry on. It never blocks.
func (h *Hub) Recheck(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if c.access.User == user {
			c.signal()
		}
	}
	for w := range h.watchers {
		if w.user == user {
			w.wake()
		}
	}
}

// Watch calls wake whenever user's rights may have changed (a change to
// the user's account, Recheck, a rebuild) until stop is called. wake must
// not block. It serves streams that follow the log themselves (/ws/last).
func (h *Hub) Watch(user string, wake func()) (stop func()) {
	w := &watcher{user: user, wake: wake}
	h.mu.Lock()
	h.watchers[w] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.watchers, w)
		h.mu.Unlock()
	}
}

func (h *Hub) add(c *client) {
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
}

func (h *Hub) remove(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// Rights are what a viewer may see and do at one moment.
type Rights struct {
	May   visible.Rule // the sharing rule; nil: everything
	Admin bool         // may press "Locate now"
}

func (r Rights) may(dev projections.DeviceID) bool { return r.May.MaySee(dev) }

var (
	// ErrRevoked is what Access.Rights returns once the viewer's access
	// has ended (logout, password change, removal): the stream closes
	// with CloseRevoked.
	ErrRevoked = errors.New("live: access revoked")
	// errHidden ends a stream that follows one friend once the viewer
	// may no longer see that friend (CloseHidden).
	errHidden = errors.New("live: the friend followed is no longer shared with the viewer")
)

// Websocket close codes (the application range) that tell the page why
// the stream ended; the htmx ws extension does not reconnect after them.
const (
	// CloseRevoked: the viewer's session has ended; the page goes to the
	// login page.
	CloseRevoked = 4401
	// CloseHidden: the friend the page follows is no longer shared with
	// the viewer; the page reloads (and finds it gone).
	CloseHidden = 4403
)

// Access is who one client is and how to learn, at each message, what
// they may see and do.
type Access struct {
	// User is the viewer's account name: Notify with a change to it, or
	// Recheck(User), asks Rights again at once.
	User string
	// Rights returns the viewer's rights now, or ErrRevoked once they
	// have ended. Asked for every message. nil: everything, always (an
	// admin whose login never ends).
	Rights func() (Rights, error)
	// Friend, when set, narrows the stream to that friend's row (a
	// history page follows one friend and has no area cards or feed).
	Friend projections.DeviceID
}

// rights returns what the client may see now; a stream that follows one
// friend sees only that friend, and ends when it may no longer.
func (a Access) rights() (Rights, error) {
	r := Rights{Admin: true}
	if a.Rights != nil {
		var err error
		if r, err = a.Rights(); err != nil {
			return Rights{}, err
		}
	}
	if a.Friend != "" {
		if !r.may(a.Friend) {
			return Rights{}, errHidden
		}
		only := a.Friend
		r.May = func(d projections.DeviceID) bool { return d == only }
	}
	return r, nil
}

// client is one connected page: what it has been sent and what is dirty.
type client struct {
	wake   chan struct{} // capacity 1: "something is dirty"
	access Access
	loc    *time.Location    // the viewer's zone (the tz cookie); nil: the page's
	list   views.ListOptions // the page's friends list (?q=, ?show=)

	mu      sync.Mutex
	full    bool
	friends map[projections.DeviceID]bool
	areas   map[string]bool
	feed    []projections.AreaEvent
	notes   []views.Note
	notices []views.Notice  // the viewer's notifications to show (Tell)
	known   map[string]bool // element ids the page has (rows, off-list markers)
	paged   bool            // the page's list leaves friends out: those get markers only
	locates map[projections.DeviceID]*locateState
}

// locateState is one "Locate now" the viewer pressed: shown again after
// every swap of the friend's row, until locateShown after the request.
type locateState struct {
	requested time.Time
	seq       uint64 // the friend's fix when asked: a newer one is the answer
	answered  time.Time
}

// locateShown is how long a locate request and its answer stay on a row.
const locateShown = 5 * time.Minute

func newClient(a Access) *client {
	return &client{
		access: a,
		wake:   make(chan struct{}, 1), full: true,
		friends: map[projections.DeviceID]bool{}, areas: map[string]bool{}, known: map[string]bool{},
		locates: map[projections.DeviceID]*locateState{},
	}
}

// located records that the viewer asked dev's phone for its position.
func (c *client) located(dev projections.DeviceID, at time.Time, seq uint64) {
	c.mu.Lock()
	c.locates[dev] = &locateState{requested: at, seq: seq}
	c.mu.Unlock()
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *client) mark(full bool, friends []projections.DeviceID, areas []string, feed []projections.AreaEvent) {
	c.mu.Lock()
	if full || len(c.feed)+len(feed) > maxPendingFeed {
		c.full = true
	}
	if !c.full {
		for _, f := range friends {
			c.friends[f] = true
		}
		for _, a := range areas {
			c.areas[a] = true
		}
		c.feed = append(c.feed, feed...)
	}
	c.mu.Unlock()
	c.signal()
}

func (c *client) note(n views.Note) {
	c.mu.Lock()
	c.notes = append(c.notes, n)
	c.mu.Unlock()
	c.signal()
}

// key names what the client may see and do, for sharing renderings
// between clients within one generation of changes: clients of the same
// viewer following the same thing, in the same zone, see the same.
func (c *client) key(r Rights, loc *time.Location) string {
	admin := "v"
	if r.Admin {
		admin = "a"
	}
	return c.access.User + "\x00" + string(c.access.Friend) + "\x00" + admin + "\x00" + loc.String()
}

// viewing returns the rows' context for a client with key: who sees whose
// name twice is worked out once per generation, not per client.
func (h *Hub) viewing(key string, page views.Page, rights Rights) views.Viewing {
	h.rows.mu.Lock()
	v, ok := h.rows.views[key]
	gen := h.rows.gen
	h.rows.mu.Unlock()
	if !ok {
		v = views.NewViewing(page, rights.May.Friends(h.src.Friends()), rights.May.Areas(h.src.Areas()))
		h.rows.mu.Lock()
		if h.rows.gen == gen {
			if h.rows.views == nil {
				h.rows.views = map[string]views.Viewing{}
			}
			h.rows.views[key] = v
		}
		h.rows.mu.Unlock()
	}
	v.Now, v.StaleAfter, v.CanLocate = page.Now, page.StaleAfter, page.Admin
	return v
}

// next renders what is dirty into one message; nil when nothing is.
func (h *Hub) next(c *client) ([]byte, error) {
	rights, err := c.access.rights()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	full, friends, areas, feed, notes, notices := c.full, c.friends, c.areas, c.feed, c.notes, c.notices
	c.full, c.friends, c.areas, c.feed, c.notes, c.notices = false, map[projections.DeviceID]bool{}, map[string]bool{}, nil, nil, nil
	c.mu.Unlock()
	page := h.page()
	if c.loc != nil {
		page.Now = page.Now.In(c.loc)
	}
	page.Admin = rights.Admin && h.locate != nil
	key := c.key(rights, page.Now.Location())
	var buf bytes.Buffer
	ctx := context.Background()
	if full {
		m := views.BuildDashboard(page, c.list, rights.May.Friends(h.src.Friends()), rights.May.Areas(h.src.Areas()), recentEvents(rights, h.src.RecentAreaEvents(FeedLines*4)))
		clear(c.known)
		c.paged = m.Paged()
		for _, f := range m.Friends {
			c.known[f.DOMID()] = true
		}
		state := views.FullState(m)
		if c.access.Friend != "" {
			state = views.FriendRows(m)
		}
		if err := state.Render(ctx, &buf); err != nil {
			return nil, err
		}
		if err := renderNotices(ctx, &buf, notices); err != nil {
			return nil, err
		}
		notes = append(notes, h.locateNotes(c, nil, page.Now)...)
		if len(notes) > 0 {
			err := views.LiveUpdate(views.Update{Notes: notes}).Render(ctx, &buf)
			return buf.Bytes(), err
		}
		return buf.Bytes(), nil
	}
	if err := renderNotices(ctx, &buf, notices); err != nil {
		return nil, err
	}
	if len(friends)+len(areas)+len(feed)+len(notes) == 0 {
		if buf.Len() == 0 {
			return nil, nil
		}
		return buf.Bytes(), nil // notices only
	}
	u := views.Update{Notes: notes}
	var v views.Viewing
	if len(friends) > 0 {
		v = h.viewing(key, page, rights)
	}
	shown := map[projections.DeviceID]bool{}
	for id := range friends {
		fv, ok := h.src.Friend(id)
		if !ok || !rights.may(id) {
			continue
		}
		row := v.Row(fv)
		swap := "true"
		switch {
		case c.known[row.DOMID()]:
		case c.paged || !c.list.Match(&fv):
			// Not in the page's list: its marker only, for the map.
			swap = "marker"
			if !c.known[row.MarkerID()] {
				swap = "marker-new"
				c.known[row.MarkerID()] = true
			}
		default:
			swap = "beforeend:#friends"
			c.known[row.DOMID()] = true
		}
		if swap == "true" || swap == "beforeend:#friends" {
			shown[id] = true
		}
		b, err := h.rows.get(string(id)+"\x00"+swap+"\x00"+key, func() ([]byte, error) {
			var rb bytes.Buffer
			err := views.LiveUpdate(views.Update{Friends: []views.FriendSwap{{Row: row, Swap: swap}}}).Render(ctx, &rb)
			return rb.Bytes(), err
		})
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	// A swapped row has an empty locate status: fill it again.
	u.Notes = append(u.Notes, h.locateNotes(c, shown, page.Now)...)
	if (len(areas) > 0 || len(feed) > 0) && c.access.Friend == "" {
		// Places merge areas by name and the feed merges an enter's
		// origins into one line, so both are rendered whole: a few kB,
		// shared by every client with the same key.
		b, err := h.rows.get("places\x00"+key, func() ([]byte, error) {
			fs := rights.May.Friends(h.src.Friends())
			names := views.NamesOf(fs)
			areas := rights.May.Areas(h.src.Areas())
			m := views.Dashboard{Page: page, Places: views.BuildPlaces(areas, names, page.Now)}
			m.Feed = views.FeedLines(recentEvents(rights, h.src.RecentAreaEvents(FeedLines*4)), names, views.PlaceNamesOf(areas), page.Now, views.FeedMax)
			var rb bytes.Buffer
			err := views.PlacesAndFeed(m).Render(ctx, &rb)
			return rb.Bytes(), err
		})
		if err != nil {
			return nil, err
		}
		buf.Write(b)
	}
	if len(u.Notes) > 0 {
		if err := views.LiveUpdate(u).Render(ctx, &buf); err != nil {
			return nil, err
		}
	}
	if buf.Len() == 0 {
		return nil, nil
	}
	return buf.Bytes(), nil
}

// locateNotes are the locate statuses to show again on the rows in only
// (nil: every row), each turned into "answered" once a newer fix of that
// friend is in; requests older than locateShown are forgotten.
func (h *Hub) locateNotes(c *client, only map[projections.DeviceID]bool, now time.Time) []views.Note {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []views.Note
	wall := time.Now()
	for dev, st := range c.locates {
		if wall.Sub(st.requested) > locateShown {
			delete(c.locates, dev)
			continue
		}
		if only != nil && !only[dev] {
			continue
		}
		fv, ok := h.src.Friend(dev)
		if !ok {
			continue
		}
		if st.answered.IsZero() && fv.Location != nil && fv.Location.Seq > st.seq {
			st.answered = wall
		}
		n := views.Note{ID: views.FriendRow{FriendView: fv}.LocateStatusID(), Text: "request sent", Requested: st.requested,
			Answered: st.answered, Now: now}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b views.Note) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// serve runs one client's writer until ctx ends, a write fails or the
// viewer's rights end (ErrRevoked, errHidden): wait for something dirty
// or a recheck, keep MinInterval since the last message, render, send.
func (h *Hub) serve(ctx context.Context, c *client, send func([]byte) error) error {
	h.add(c)
	defer h.remove(c)
	c.signal() // the full state goes out at once
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		}
		if wait := MinInterval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		msg, err := h.next(c)
		if errors.Is(err, ErrRevoked) || errors.Is(err, errHidden) {
			return err
		}
		if err != nil {
			h.logger.Error("rendering a live update failed", "err", err)
			continue
		}
		if msg == nil {
			continue
		}
		last = time.Now()
		if err := send(msg); err != nil {
			return err
		}
	}
}

// recentEvents are the newest FeedLines events the client may see, so a
// viewer never receives a fragment about a friend it may not see.
func recentEvents(r Rights, in []projections.AreaEvent) []projections.AreaEvent {
	out := r.May.Events(in)
	if len(out) > FeedLines {
		out = out[len(out)-FeedLines:]
	}
	return out
}
