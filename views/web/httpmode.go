package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/views/visible"
	"tracker/views/web/internal/httpx"
)

// OwnTracks HTTP mode (protocol §3, §4): the phone POSTs each message to
// /pub with HTTP Basic credentials, and the answer carries what it would
// otherwise have read from the broker: its friends' cards and locations,
// and commands waiting for it.

const (
	// pubMaxBytes caps one posted message: the decoder's payload cap, so
	// whatever is accepted here can also be decoded.
	pubMaxBytes = owntracks.DefaultMaxPayload
	// pubWait bounds how long an answer waits for the projections to
	// include the message just posted (so the caller's own location in the
	// answer is the one it sent).
	pubWait = 2 * time.Second
	// cmdTTL is how long a queued command waits for its phone to post.
	cmdTTL = 24 * time.Hour
	// maxQueuedCmds bounds the commands waiting per device; the oldest
	// goes first.
	maxQueuedCmds = 16
	// Defaults for the identity in open mode and for the device (protocol §3).
	pubDefaultUser   = "owntracks"
	pubDefaultDevice = "phone"
)

// pub records one message posted by a phone in HTTP mode and answers with
// what the phone should show. The message is durably in the log before
// the answer; only a failure to store it is an error (503, the phone
// retries), so a malformed message is kept, with its reason visible in the
// log, and answered 200 [] rather than retried forever.
func (s *Server) pub(w http.ResponseWriter, r *http.Request) {
	v, bound, ok := s.pubViewer(w, r)
	if !ok {
		return
	}
	device := firstSet(r.Header.Get("X-Limit-D"), r.URL.Query().Get("d"), pubDefaultDevice)
	if bound != "" {
		// A device credential posts as its own device only.
		if given := firstSet(r.Header.Get("X-Limit-D"), r.URL.Query().Get("d")); given != "" && given != bound {
			s.Logger.Warn("owntracks http post refused: device credential used for another device",
				"user", v.Name, "device", bound, "claimed", clip(given), "client", s.Auth.ClientIP(r))
			s.httpError(w, r, http.StatusForbidden, fmt.Sprintf("this credential is for device %q", bound), nil)
			return
		}
		device = bound
	}
	if err := validDeviceName(device); err != nil {
		s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, pubMaxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.httpError(w, r, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("message is larger than the limit of %d KiB; it was not recorded", pubMaxBytes>>10), nil)
			return
		}
		s.httpError(w, r, http.StatusBadRequest, "could not read the message body", nil)
		return
	}

	now := s.now()
	dec := s.decoder()
	base := httpx.PubRoot(dec) + "/" + v.Name + "/" + device
	m, decErr := dec.DecodeAt(base, body, now)
	kind := messageKind(m, decErr)
	topic := base + topicSuffix(kind)
	seq, err := s.Appender.Append(r.Context(), events.Event{
		Topic: topic, Payload: body, QoS: 1, Source: events.SourceHTTP, Received: now,
	})
	if err != nil {
		s.httpError(w, r, http.StatusServiceUnavailable, "could not record the message; try again", err)
		return
	}
	attrs := []any{"user", v.Name, "device", device, "bytes", len(body), "kind", kind, "seq", seq}
	if decErr != nil {
		attrs = append(attrs, "invalid", decErr.Error())
	}
	s.Logger.Debug("owntracks http post", attrs...)

	if len(body) == 0 || decErr != nil {
		// A cleared or unusable message: nothing to show for it.
		httpx.WriteJSON(w, http.StatusOK, []json.RawMessage{})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pubWait)
	err = s.projector.WaitFor(ctx, seq)
	cancel()
	if err != nil && r.Context().Err() == nil {
		s.Logger.Debug("owntracks http answer without the post just made: projections are catching up", "seq", seq)
	}
	r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
	view := s.proj(r)
	answer := s.friendsAnswer(view, view.Friends(), httpx.PubRoot(dec))
	answer = append(answer, s.Commands.take(projections.MakeDeviceID(v.Name, device), now)...)
	answer = append(answer, s.phoneNotices(projections.MakeDeviceID(v.Name, device))...)
	httpx.WriteJSON(w, http.StatusOK, answer)
}

// pubViewer works out who is posting, like the auth middleware does for
// pages: HTTP Basic credentials once a user exists (the authenticated
// name is the identity, whatever X-Limit-U or the body say), else open
// mode with the identity the phone gives. It writes the 400, 401 or 429
// and returns false when the request may not go on. With a device
// credential, device is the one device the phone may post as.
func (s *Server) pubViewer(w http.ResponseWriter, r *http.Request) (v Viewer, device string, ok bool) {
	if s.Auth.IsOpen() {
		name := firstSet(r.Header.Get("X-Limit-U"), r.URL.Query().Get("u"), pubDefaultUser)
		if err := projections.ValidUserName(name); err != nil {
			s.httpError(w, r, http.StatusBadRequest, err.Error(), nil)
			return Viewer{}, "", false
		}
		return Viewer{Name: name, Admin: true, Open: true}, "", true
	}
	name, password, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="tracker", charset="UTF-8"`)
		http.Error(w, "login required: use HTTP Basic authentication", http.StatusUnauthorized)
		return Viewer{}, "", false
	}
	l, err := s.Auth.CheckPhone(name, password, s.Auth.ClientIP(r))
	if err != nil {
		var tooMany errTooMany
		if errors.As(err, &tooMany) {
			w.Header().Set("Retry-After", fmt.Sprint(int(tooMany.wait.Seconds())+1))
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return Viewer{}, "", false
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="tracker", charset="UTF-8"`)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return Viewer{}, "", false
	}
	u := l.User
	return Viewer{Name: u.Name, Admin: u.Admin, user: u}, l.Device, true
}

// clip shortens what a client chose for the log.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// validDeviceName checks a device name: it is an MQTT topic level.
func validDeviceName(name string) error {
	switch {
	case !utf8.ValidString(name):
		return fmt.Errorf("device name is not valid UTF-8")
	case strings.ContainsAny(name, "/+#\x00"):
		return fmt.Errorf("device name %q may not contain / + # (it is an MQTT topic level)", name)
	}
	return nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func (s *Server) decoder() *owntracks.Decoder {
	if s.Decoder == nil {
		return &owntracks.Decoder{}
	}
	return s.Decoder
}

// messageKind is what the message turned out to be, as far as decoding
// got; "invalid" when not even that is known.
func messageKind(m owntracks.Message, err error) owntracks.Kind {
	if m.Kind != "" {
		return m.Kind
	}
	var inv *owntracks.Invalid
	if errors.As(err, &inv) && inv.Kind != "" {
		return inv.Kind
	}
	if err != nil {
		return "invalid"
	}
	return owntracks.KindUnknown
}

// topicSuffix is the topic level the apps publish a kind under over MQTT
// (protocol §1); locations, LWTs and anything unknown go to the base topic.
func topicSuffix(k owntracks.Kind) string {
	switch k {
	case owntracks.KindTransition:
		return "/event"
	case owntracks.KindCard:
		return "/info"
	case owntracks.KindWaypoint:
		return "/waypoint"
	case owntracks.KindWaypoints:
		return "/waypoints"
	case owntracks.KindStatus:
		return "/status"
	case owntracks.KindSteps:
		return "/step"
	case owntracks.KindConfiguration:
		return "/dump"
	case owntracks.KindBeacon:
		return "/beacon"
	case owntracks.KindRequest:
		return "/request"
	}
	return ""
}

// pubCard is a friend's card in an HTTP-mode answer.
type pubCard struct {
	Type string `json:"_type"` // "card"
	TID  string `json:"tid"`
	Name string `json:"name"`
	Face string `json:"face,omitempty"` // base64 PNG or JPEG, as the card carried it
}

// pubLocation is a friend's current location in an HTTP-mode answer; the
// app files it under Topic.
type pubLocation struct {
	Type  string  `json:"_type"` // "location"
	TID   string  `json:"tid"`
	Lat   float64 `json:"lat"`
	Lon   float64 `json:"lon"`
	Tst   int64   `json:"tst"`
	Vel   int     `json:"vel"`
	Alt   int     `json:"alt"`
	Cog   int     `json:"cog"`
	Acc   int     `json:"acc"`
	Vac   *int    `json:"vac,omitempty"` // only in the event; absent when it cannot be read
	Batt  int     `json:"batt,omitempty"`
	Topic string  `json:"topic"`
}

// friendsAnswer lists, per friend (the caller's own devices included, so
// they show in the app's list), a card when the friend has a name and its
// current location when it has one.
func (s *Server) friendsAnswer(view visible.Reader, friends []projections.FriendView, root string) []json.RawMessage {
	out := []json.RawMessage{}
	add := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			s.Logger.Error("owntracks http answer: encoding a friend failed", "err", err)
			return
		}
		out = append(out, b)
	}
	for _, f := range friends {
		tid := f.TID
		if tid == "" {
			tid = firstRunes(f.Device, 2) // the app needs one to file the friend under
		}
		if tid == "" {
			continue
		}
		if f.Name != "" {
			add(pubCard{Type: "card", TID: tid, Name: f.Name, Face: s.face64(view, f)})
		}
		if p := f.Location; p != nil && !f.Hidden {
			add(pubLocation{
				Type: "location", TID: tid, Lat: p.Lat, Lon: p.Lon, Tst: p.Tst,
				Vel: p.Vel, Alt: p.Alt, Cog: p.Cog, Acc: p.Acc, Vac: vac(f), Batt: p.Batt,
				Topic: root + "/" + f.User + "/" + f.Device,
			})
		}
	}
	return out
}

// face64 is dev's card face (base64), "" when none.
func (s *Server) face64(view visible.Reader, f projections.FriendView) string {
	if f.FaceSeq == 0 {
		return ""
	}
	face, err := view.Face(f.ID)
	if err != nil {
		s.Logger.Warn("owntracks http answer: reading a card's face failed", "device", f.ID, "err", err)
		return ""
	}
	return face
}

// vac is the vertical accuracy of f's location (history points do not
// keep it), nil when its payload is not at hand.
func vac(f projections.FriendView) *int {
	if f.Sent == nil {
		return nil
	}
	v := f.Sent.Vac
	return &v
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// QueueCommand queues a cmd payload for a phone in HTTP mode at the
// server's clock (Deps.Now), as Commands.Queue does at the wall clock.
func (s *Server) QueueCommand(dev projections.DeviceID, payload []byte) {
	s.Commands.queue(dev, payload, s.now())
}

// Commands hold cmd payloads ({"_type":"cmd","action":...}) for phones
// that reach us only when they post (HTTP mode): each is delivered once,
// in the answer to the phone's next post, and dropped if the phone does
// not post within 24 hours. Serve makes them before the live hub, which
// queues reportLocation, and the server, which delivers. Safe for
// concurrent use.
type Commands struct {
	logger *slog.Logger
	mu     sync.Mutex
	m      map[projections.DeviceID][]queuedCmd
}

// NewCommands returns an empty queue.
func NewCommands(logger *slog.Logger) *Commands {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Commands{logger: logger}
}

// Queue queues payload for dev.
func (q *Commands) Queue(dev projections.DeviceID, payload []byte) {
	q.queue(dev, payload, time.Now())
}

func (q *Commands) queue(dev projections.DeviceID, payload []byte, now time.Time) {
	if !json.Valid(payload) {
		q.logger.Warn("command not queued: payload is not JSON", "device", dev)
		return
	}
	q.add(dev, payload, now)
	q.logger.Debug("command queued for an HTTP-mode phone", "device", dev, "bytes", len(payload))
}

type queuedCmd struct {
	payload json.RawMessage
	at      time.Time
}

func (q *Commands) add(dev projections.DeviceID, payload []byte, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = map[projections.DeviceID][]queuedCmd{}
	}
	for d := range q.m { // forget commands for phones that never came back
		q.m[d] = fresh(q.m[d], now)
		if len(q.m[d]) == 0 {
			delete(q.m, d)
		}
	}
	cmds := append(q.m[dev], queuedCmd{payload: append(json.RawMessage(nil), payload...), at: now})
	if len(cmds) > maxQueuedCmds {
		cmds = cmds[len(cmds)-maxQueuedCmds:]
	}
	q.m[dev] = cmds
}

// take removes and returns dev's commands that have not expired.
func (q *Commands) take(dev projections.DeviceID, now time.Time) []json.RawMessage {
	q.mu.Lock()
	cmds := fresh(q.m[dev], now)
	delete(q.m, dev)
	q.mu.Unlock()
	out := make([]json.RawMessage, len(cmds))
	for i, c := range cmds {
		out[i] = c.payload
	}
	return out
}

func fresh(cmds []queuedCmd, now time.Time) []queuedCmd {
	out := cmds[:0]
	for _, c := range cmds {
		if now.Sub(c.at) < cmdTTL {
			out = append(out, c)
		}
	}
	return out
}
