package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"tracker/events"
	"tracker/projections"
	"tracker/views/live"
)

// /ws/last is the Recorder's live websocket, which the OwnTracks Frontend
// opens: a client that sends "LAST" gets every visible device's newest
// location, one message each, then its "LAST" back (the Recorder echoes
// whatever a client sends; "exit" also ends the connection). Each new
// location, from the moment the socket opened, is pushed as the phone sent
// it plus topic, username, device and ghash. ?user= and ?device= (or
// X-Limit-User/X-Limit-Device) narrow both to one user or device, and the
// viewer's sharing rule applies to both.
//
// Each connection follows the log on its own goroutine and hands messages
// to its writer through a bounded queue without waiting: a client that
// does not keep up is dropped (the Frontend reconnects), never waited for,
// so neither ingest nor other clients slow down.

const (
	wsLastPing        = 30 * time.Second
	wsLastReadTimeout = 75 * time.Second // more than two pings
	wsLastMaxMessage  = 4 << 10          // what a client may send ("LAST")
	wsLastQueue       = 256              // messages waiting for the writer; more drops the client
	// wsLastProjectionWait bounds how long a new location waits for the
	// projections to include it (the Frontend re-reads /api/0/last when
	// told of a location, so it should find it there).
	wsLastProjectionWait = 5 * time.Second
)

// wsLastFields are the members of the answer to "LAST", as the Recorder's
// send_last copies them from its last/ file and the card.
var wsLastFields = []string{"_type", "lat", "lon", "tst", "tid", "addr", "topic", "ghash", "name", "face"}

var errSlowClient = errors.New("client is not reading; its queue is full")

func (s *Server) recorderWS(w http.ResponseWriter, r *http.Request) {
	user, device := recorderParam(r, "user"), recorderParam(r, "device")
	v := ViewerFrom(r.Context())
	may := v.MaySee
	if v.Open || v.Admin {
		may = func(projections.DeviceID) bool { return true }
	}
	from := s.Log.Head() + 1 // what arrives from now on
	up := websocket.Upgrader{CheckOrigin: live.SameOrigin, ReadBufferSize: 1024, WriteBufferSize: 8192}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered with the reason
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := make(chan []byte, wsLastQueue)

	var wg sync.WaitGroup
	wg.Go(func() { // reader: "LAST", echoes, pongs
		if !s.wsLastRead(ctx, r, conn, out, user, device) {
			cancel()
		}
	})
	wg.Go(func() { // writer: the only goroutine writing data frames; pings
		defer cancel()
		wsLastWrite(ctx, conn, out)
	})
	wg.Go(func() { // follower: new locations from the log
		defer cancel()
		err := s.wsLastFollow(ctx, from, out, may, user, device)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errSlowClient):
			s.Logger.Info("dropped a /ws/last client that stopped reading; it will reconnect", "remote", r.RemoteAddr)
		case err != nil:
			s.Logger.Error("/ws/last: following the log failed", "err", err)
		}
	})
	<-ctx.Done()
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
	_ = conn.Close() // ends the reader's ReadMessage
	wg.Wait()
}

// wsLastRead answers what the client sends until it goes away (false) or
// says "exit" (true: the writer closes the connection once it has sent
// what is queued).
func (s *Server) wsLastRead(ctx context.Context, r *http.Request, conn *websocket.Conn, out chan<- []byte, user, device string) bool {
	conn.SetReadLimit(wsLastMaxMessage)
	_ = conn.SetReadDeadline(time.Now().Add(wsLastReadTimeout))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsLastReadTimeout)) })
	queue := func(msg []byte) bool {
		select {
		case out <- msg:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) && ctx.Err() == nil &&
				!errors.Is(err, net.ErrClosed) {
				s.Logger.Debug("/ws/last socket closed", "err", err)
			}
			return false
		}
		_ = conn.SetReadDeadline(time.Now().Add(wsLastReadTimeout))
		if string(msg) == "LAST" {
			for _, f := range s.recorderFriends(r, user, device) {
				if f.Hidden {
					continue
				}
				b, err := s.lastObject(f).pick(wsLastFields).MarshalJSON()
				if err != nil {
					continue
				}
				if !queue(b) {
					return false
				}
			}
		}
		if !queue(msg) { // the Recorder echoes every message
			return false
		}
		if string(msg) == "exit" {
			return queue(nil) // after the echo, close
		}
	}
}

// wsLastWrite sends what is queued, and a ping when idle, until ctx ends,
// a write fails (a client that takes longer than live.WriteTimeout for
// one frame is dropped) or a nil message asks it to close.
func wsLastWrite(ctx context.Context, conn *websocket.Conn, out <-chan []byte) {
	ping := time.NewTicker(wsLastPing)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(live.WriteTimeout)); err != nil {
				return
			}
		case msg := <-out:
			if msg == nil {
				return
			}
			_ = conn.SetWriteDeadline(time.Now().Add(live.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		}
	}
}

// wsLastFollow queues each new visible location from seq from onwards.
func (s *Server) wsLastFollow(ctx context.Context, from uint64, out chan<- []byte, may func(projections.DeviceID) bool, user, device string) error {
	return events.Follow(ctx, s.Log, from, func(e events.Event) error {
		msg, seq := s.wsLocation(e, may, user, device)
		if msg == nil {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, wsLastProjectionWait)
		_ = s.Projections.WaitFor(wctx, seq) // late is better than never: send anyway
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case out <- msg:
			return nil
		default:
			return errSlowClient
		}
	})
}

// wsLocation is the message for a new location event, as the Recorder
// pushes it (the payload plus topic, username, device and ghash), or nil
// when e is no location the viewer may see.
func (s *Server) wsLocation(e events.Event, may func(projections.DeviceID) bool, user, device string) ([]byte, uint64) {
	if e.Redelivery() {
		return nil, 0 // a redelivery: pushed the first time
	}
	m, err := s.decoder().DecodeAt(e.Topic, e.Payload, e.Received)
	if err != nil || m.Location == nil {
		return nil, 0
	}
	u, d := m.Topic.User, m.Topic.Device
	if !may(projections.MakeDeviceID(u, d)) || (user != "" && !strings.EqualFold(u, user)) || (device != "" && !strings.EqualFold(d, device)) {
		return nil, 0
	}
	payload := e.Payload
	if m.Decrypted {
		payload = m.Plaintext
	}
	o, err := parseObject(payload)
	if err != nil {
		return nil, 0
	}
	o.normalize(m.Location)
	o.set("topic", e.Topic)
	o.set("username", u)
	o.set("device", d)
	o.set("ghash", geohash(m.Location.Lat, m.Location.Lon, geohashPrecision))
	b, err := o.MarshalJSON()
	if err != nil {
		return nil, 0
	}
	return b, e.Seq
}
