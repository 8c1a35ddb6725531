package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"tracker/projections"
	"tracker/views"
)

const (
	pingEvery   = 30 * time.Second
	readTimeout = 75 * time.Second // more than two pings
	maxMessage  = 4 << 10          // what a page may send (ws-send forms)
)

// SameOrigin accepts a websocket upgrade only from a page of this server:
// without it any web site a user visits could open a socket with the
// user's cookies.
func SameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// ServeWSFor upgrades to a websocket and streams updates to a viewer
// with access a; messages from the page (the "Locate now" form, sent by
// htmx's ws-send) are handled here. When the viewer's access ends the
// socket closes with CloseRevoked (or CloseHidden).
func (h *Hub) ServeWSFor(w http.ResponseWriter, r *http.Request, a Access) {
	up := websocket.Upgrader{CheckOrigin: SameOrigin, ReadBufferSize: 1024, WriteBufferSize: 8192}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader already answered with the reason
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	c := h.streamClient(r, a)
	var closeOnce sync.Once
	closeConn := func() { closeOnce.Do(func() { _ = conn.Close() }) }
	defer closeConn()

	var wg sync.WaitGroup
	wg.Go(func() { // reader: page messages and pongs
		defer cancel()
		conn.SetReadLimit(maxMessage)
		_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(readTimeout)) })
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) && ctx.Err() == nil &&
					!errors.Is(err, net.ErrClosed) {
					h.logger.Debug("live socket closed", "err", err)
				}
				return
			}
			_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
			h.handleMessage(ctx, c, msg)
		}
	})
	wg.Go(func() { // pings keep proxies from closing an idle socket
		t := time.NewTicker(pingEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(WriteTimeout)); err != nil {
					cancel()
					return
				}
			}
		}
	})
	var writeMu sync.Mutex // gorilla allows one writer at a time; pings use WriteControl, which is safe
	err = h.serve(ctx, c, func(msg []byte) error {
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
		return conn.WriteMessage(websocket.TextMessage, msg)
	})
	switch {
	case errors.Is(err, ErrRevoked):
		h.logger.Info("closed a live connection: the viewer's session has ended", "user", a.User, "remote", r.RemoteAddr)
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseRevoked, "session ended"), time.Now().Add(time.Second))
	case errors.Is(err, errHidden):
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(CloseHidden, "no longer shared"), time.Now().Add(time.Second))
	case err != nil:
		h.logger.Info("dropped a live client that stopped reading; it will reconnect", "remote", r.RemoteAddr, "err", err)
	default:
		// 1012, not 1001: the htmx ws extension reconnects only after 1006, 1011, 1012 or 1013.
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseServiceRestart, "server restarting"), time.Now().Add(time.Second))
	}
	cancel()
	closeConn()
	wg.Wait()
}

// handleMessage acts on one message a page sent.
func (h *Hub) handleMessage(ctx context.Context, c *client, msg []byte) {
	var m struct {
		Locate string `json:"locate"`
	}
	if err := json.Unmarshal(msg, &m); err != nil || m.Locate == "" {
		return
	}
	id := projections.DeviceID(m.Locate)
	rights, err := c.access.rights()
	if err != nil {
		c.signal() // the writer closes the stream
		return
	}
	fv, ok := h.src.Friend(id)
	if !ok || h.locate == nil || !rights.may(id) {
		return
	}
	row := views.FriendRow{FriendView: fv}
	if !rights.Admin { // the page shows no button; a hand-made message gets the rule
		c.note(views.Note{ID: row.LocateStatusID(), Text: "only admins may ask a phone for its location"})
		return
	}
	var seq uint64
	if fv.Location != nil {
		seq = fv.Location.Seq
	}
	at := time.Now()
	if err := h.locate(ctx, id); err != nil {
		h.logger.Warn("locate request failed", "device", id, "err", err)
		c.note(views.Note{ID: row.LocateStatusID(), Text: "could not send the request"})
		return
	}
	c.located(id, at, seq)
	c.note(views.Note{ID: row.LocateStatusID(), Text: "request sent", Requested: at, Now: h.page().Now})
}

// streamClient is a new client for the request r of a viewer with
// access a: it renders in the viewer's zone (the tz cookie) and lists the
// friends the page lists (?q=, ?show=).
func (h *Hub) streamClient(r *http.Request, a Access) *client {
	c := newClient(a)
	c.loc = views.ViewerLocation(r, nil)
	c.list = views.ParseListOptions(r.URL.Query())
	return c
}

var sseNewlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// ServeSSEFor streams the same updates as server-sent events, for
// clients that cannot use websockets (htmx sse extension, event
// "message"). When the viewer's access ends it sends the event "revoked"
// (or "hidden") and ends the response; a browser's EventSource then
// reconnects, gets 401 and stops.
func (h *Hub) ServeSSEFor(w http.ResponseWriter, r *http.Request, a Access) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming not supported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	c := h.streamClient(r, a)
	err := h.serve(r.Context(), c, func(msg []byte) error {
		_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := fmt.Fprint(w, "event: message\n"); err != nil {
			return err
		}
		// A browser ends an SSE line at CR, LF or CRLF: split on all three, or a CR
		// in a name would cut the rest of its line. (HTML reads them all as LF.)
		for _, line := range strings.Split(sseNewlines.Replace(string(msg)), "\n") {
			if _, err := fmt.Fprintf(w, "data: %s\n", line); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprint(w, "\n"); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	})
	switch {
	case errors.Is(err, ErrRevoked):
		h.logger.Info("closed a live SSE stream: the viewer's session has ended", "user", a.User, "remote", r.RemoteAddr)
		_, _ = fmt.Fprint(w, "event: revoked\ndata: session ended\n\n")
		flusher.Flush()
	case errors.Is(err, errHidden):
		_, _ = fmt.Fprint(w, "event: hidden\ndata: no longer shared\n\n")
		flusher.Flush()
	case err != nil:
		h.logger.Info("dropped an SSE client that stopped reading", "remote", r.RemoteAddr, "err", err)
	}
}
