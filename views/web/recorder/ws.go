package recorder

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"tracker/events"
	"tracker/events/owntracks/recjson"
	"tracker/projections"
	"tracker/projections/geocode"
	"tracker/views/live"
)

// /ws/last is the Recorder's live websocket, which the OwnTracks Frontend
// opens: a client that sends "LAST" gets every visible device's newest
// location, one message each, then its "LAST" back (the Recorder echoes
// whatever a client sends; "exit" also ends the connection). Each new
// location, from the moment the socket opened, is pushed as the phone sent
// it plus topic, username, device and ghash. ?user= and ?device= (or
// X-Limit-User/X-Limit-Device) narrow both to one user or device, and the
// viewer's sharing rule applies to both, as it stands at each message: a
// sharing change applies from the next location on, and the socket closes
// (live.CloseRevoked) as soon as the viewer's login ends (logout, password
// change, removal).
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
)

// wsLastFields are the members of the answer to "LAST", as the Recorder's
// send_last copies them from its last/ file and the card.
var wsLastFields = fieldList("_type,lat,lon,tst,tid,addr,topic,ghash,name,face")

var errSlowClient = errors.New("client is not reading; its queue is full")

func (a *API) recorderWS(w http.ResponseWriter, r *http.Request) {
	user, device := recorderParam(r, "user"), recorderParam(r, "device")
	name, current := a.Current(r)
	from := a.Log.Head() + 1 // what arrives from now on
	up := websocket.Upgrader{CheckOrigin: live.SameOrigin, ReadBufferSize: 1024, WriteBufferSize: 8192}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered with the reason
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := make(chan []byte, wsLastQueue)
	// now is the viewer as of this moment; once their login has ended it
	// ends the connection and reports false.
	var revoked atomic.Bool
	now := func() (Reader, bool) {
		cur, ok := current()
		if !ok {
			revoked.Store(true)
			cancel()
			return nil, false
		}
		return cur, true
	}

	var wg sync.WaitGroup
	if a.Watch != nil {
		wake := make(chan struct{}, 1)
		stop := a.Watch(name, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		defer stop()
		wg.Go(func() { // guard: closes the socket once the login ends, even when nothing else is sent
			for {
				select {
				case <-ctx.Done():
					return
				case <-wake:
					now()
				}
			}
		})
	}
	wg.Go(func() { // reader: "LAST", echoes, pongs
		if !a.wsLastRead(ctx, r, conn, out, now, user, device) {
			cancel()
		}
	})
	wg.Go(func() { // writer: the only goroutine writing data frames; pings
		defer cancel()
		wsLastWrite(ctx, conn, out)
	})
	wg.Go(func() { // follower: new locations from the log
		defer cancel()
		_ = geocode.Load() // the pushes' places (the first connection ever builds the index: ~1 s)
		err := a.wsLastFollow(ctx, from, out, now, user, device)
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errSlowClient):
			a.Logger.Info("dropped a /ws/last client that stopped reading; it will reconnect", "remote", r.RemoteAddr)
		case err != nil:
			a.Logger.Error("/ws/last: following the log failed", "err", err)
		}
	})
	<-ctx.Done()
	code, reason := websocket.CloseGoingAway, ""
	if revoked.Load() {
		a.Logger.Info("closed a /ws/last connection: the viewer's session has ended", "user", name, "remote", r.RemoteAddr)
		code, reason = live.CloseRevoked, "session ended"
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	_ = conn.Close() // ends the reader's ReadMessage
	wg.Wait()
}

// wsLastRead answers what the client sends until it goes away (false) or
// says "exit" (true: the writer closes the connection once it has sent
// what is queued).
func (a *API) wsLastRead(ctx context.Context, r *http.Request, conn *websocket.Conn, out chan<- []byte, now func() (Reader, bool), user, device string) bool {
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
				a.Logger.Debug("/ws/last socket closed", "err", err)
			}
			return false
		}
		_ = conn.SetReadDeadline(time.Now().Add(wsLastReadTimeout))
		if string(msg) == "LAST" {
			cur, ok := now()
			if !ok {
				return false
			}
			var places placeCache
			for _, f := range recorderFriends(cur, user, device) {
				if f.Hidden {
					continue
				}
				b, err := a.lastObject(cur, f, &places).Pick(wsLastFields).MarshalJSON()
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
			if msg == nil || ctx.Err() != nil { // ended meanwhile (a revoked login): send nothing more
				return
			}
			_ = conn.SetWriteDeadline(time.Now().Add(live.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		}
	}
}

// wsLastFollow queues each new location from seq from onwards that the
// viewer may see when it arrives. A location waits until the projections
// include it: they hold the sharing rule in force at its place in the
// log, so a change recorded before it always applies to it.
func (a *API) wsLastFollow(ctx context.Context, from uint64, out chan<- []byte, now func() (Reader, bool), user, device string) error {
	return events.Follow(ctx, a.Log, from, func(e events.Event) error {
		msg, dev := a.wsLocation(e, user, device)
		if msg == nil {
			return nil
		}
		if err := a.WaitFor(ctx, e.Seq); err != nil {
			return err
		}
		cur, ok := now()
		if !ok {
			return ctx.Err()
		}
		if !cur.MaySee(dev) {
			return nil
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
// pushes it (the payload plus topic, username, device and ghash), and
// its device; nil when e is no location or not the user or device asked
// for. Whether the viewer may see it is the caller's to decide.
func (a *API) wsLocation(e events.Event, user, device string) ([]byte, projections.DeviceID) {
	if e.Redelivery() {
		return nil, "" // a redelivery: pushed the first time
	}
	m, err := a.decoder().DecodeAt(e.Topic, e.Payload, e.Received)
	if err != nil || m.Location == nil {
		return nil, ""
	}
	u, d := m.Topic.User, m.Topic.Device
	if (user != "" && !strings.EqualFold(u, user)) || (device != "" && !strings.EqualFold(d, device)) {
		return nil, ""
	}
	payload := e.Payload
	if m.Decrypted {
		payload = m.Plaintext
	}
	s, ok := recjson.Stored(payload, m.Location.Lat, m.Location.Lon, m.Location.Tst)
	if !ok {
		return nil, ""
	}
	o, err := recjson.Parse(nil, s)
	if err != nil {
		return nil, ""
	}
	o.Set(kTopic, e.Topic)
	o.Set(kUsername, u)
	o.Set(kDevice, d)
	o.Set(kGhash, geohash(m.Location.Lat, m.Location.Lon, geohashPrecision))
	if geocode.Ready() { // never wait for the index: the follower keeps up with the log
		a.setPlace(&o, nil, m.Location.Lat, m.Location.Lon)
	}
	b, err := o.MarshalJSON()
	if err != nil {
		return nil, ""
	}
	return b, projections.MakeDeviceID(u, d)
}
