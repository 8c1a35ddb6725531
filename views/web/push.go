package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/projections"
	"tracker/static"
	"tracker/views"
	"tracker/views/notify/webpush"
	"tracker/views/web/internal/httpx"
)

// Web Push (RFC 8030/8291/8292): the server's public key for browsers to
// subscribe with, the viewer's own subscriptions (events in the log,
// projections/push.go) and the service worker that shows what is pushed.
// Every route acts on the logged-in viewer only; the cross-origin
// protection of Routes covers the POST and DELETE like any other.

// WebPush is the web side's part of Web Push.
type WebPush struct {
	Keys *webpush.Keys
	// Policy says which push endpoints a browser may subscribe with
	// (webpush.Policy: https to public hosts; loopback in tests).
	Policy webpush.Policy
}

// PhoneNotices hand over what waits for a phone in HTTP mode
// (views/notify/phones.Phones).
type PhoneNotices interface {
	Take(dev projections.DeviceID) []json.RawMessage
}

func (s *Server) phoneNotices(dev projections.DeviceID) []json.RawMessage {
	if s.PhoneNotices == nil {
		return nil
	}
	return s.PhoneNotices.Take(dev)
}

// pushEnable is the "Enable notifications on this browser" control for
// /me/notifications; nil when Web Push is off.
func (s *Server) pushEnable() templ.Component {
	if s.WebPush == nil || s.WebPush.Keys == nil || s.Assets == nil {
		return nil
	}
	return views.PushEnable(s.Assets)
}

// serviceWorkerRoute serves /sw.js (no login: it holds nothing secret,
// and a browser checks it for updates whether or not it is logged in).
func (s *Server) serviceWorkerRoute(r chi.Router) {
	r.Get("/sw.js", s.serviceWorker)
}

// pushAPIRoutes: under /api/v1, logged in.
func (s *Server) pushAPIRoutes(r chi.Router) {
	r.Get("/push/key", s.pushKey)
	r.Get("/push/subscriptions", s.pushList)
	r.Post("/push/subscriptions", s.pushSubscribe)
	r.Delete("/push/subscriptions", s.pushUnsubscribe)
}

// serviceWorker serves the worker at the site's root, so its scope is
// the whole site without a Service-Worker-Allowed header. It is not
// cached for long: a changed worker reaches browsers on their next visit.
func (s *Server) serviceWorker(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(static.ServiceWorker())
}

func (s *Server) pushOff(w http.ResponseWriter, r *http.Request) bool {
	if s.WebPush == nil || s.WebPush.Keys == nil {
		s.httpError(w, r, http.StatusNotFound, "Web Push is not set up on this server", nil)
		return true
	}
	return false
}

// pushKey answers the VAPID public key (base64url), the
// applicationServerKey browsers subscribe with.
func (s *Server) pushKey(w http.ResponseWriter, r *http.Request) {
	if s.pushOff(w, r) {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		PublicKey string `json:"public_key"`
	}{s.WebPush.Keys.PublicKey()})
}

// pushLine is a subscription as the API shows it: never its endpoint
// path or keys (a capability), only where it goes and which browser.
type pushLine struct {
	ID      string    `json:"id"`
	Service string    `json:"service"` // the push service's origin
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
}

func pushLineOf(p projections.PushSubscription) pushLine {
	return pushLine{ID: p.ID, Service: webpush.Origin(p.Endpoint), Label: p.Label, Created: time.Unix(p.Created, 0).UTC()}
}

// pushList answers the viewer's subscribed browsers.
func (s *Server) pushList(w http.ResponseWriter, r *http.Request) {
	if s.pushOff(w, r) {
		return
	}
	out := []pushLine{}
	if u, ok := s.Auth.Users.User(ViewerFrom(r.Context()).Name); ok {
		for _, p := range u.Push {
			out = append(out, pushLineOf(p))
		}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// pushSubscribe records the browser's subscription (the body is its
// PushSubscription.toJSON()): 201 when new, 200 when it renews one.
func (s *Server) pushSubscribe(w http.ResponseWriter, r *http.Request) {
	if s.pushOff(w, r) {
		return
	}
	v := ViewerFrom(r.Context())
	if v.Name == "" {
		s.httpError(w, r, http.StatusConflict, errNoAccount.Error(), nil)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webpush.MaxSubscriptionBytes))
	if err != nil {
		s.httpError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("a subscription is at most %d bytes", webpush.MaxSubscriptionBytes), nil)
		return
	}
	sub, err := webpush.ParseSubscription(body, s.WebPush.Policy)
	if err != nil {
		s.httpError(w, r, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "webpush: "), nil)
		return
	}
	u, ok := s.Auth.Users.User(v.Name)
	if !ok {
		s.httpError(w, r, http.StatusConflict, "your account no longer exists", nil)
		return
	}
	id := projections.PushSubscriptionID(sub.Endpoint)
	_, renew := u.PushSubscriptionFor(id)
	if !renew && len(u.Push) >= projections.MaxPushSubscriptions {
		s.httpError(w, r, http.StatusConflict, fmt.Sprintf("%d browsers already get your notifications, the most allowed: remove one first", len(u.Push)), nil)
		return
	}
	p256dh, auth := sub.Keys()
	seq, err := s.appendPush(r, v, projections.PushCommand{Action: projections.PushSubscribe, Endpoint: sub.Endpoint,
		P256DH: p256dh, Auth: auth, Label: browserLabel(r.UserAgent())})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.Logger.Info("push subscription recorded", "user", v.Name, "subscription", id, "service", webpush.Origin(sub.Endpoint), "renewed", renew, "seq", seq)
	code := http.StatusCreated
	if renew {
		code = http.StatusOK
	}
	line := pushLine{ID: id, Service: webpush.Origin(sub.Endpoint), Label: browserLabel(r.UserAgent()), Created: s.now().UTC()}
	if u, ok := s.Auth.Users.User(v.Name); ok {
		if p, ok := u.PushSubscriptionFor(id); ok {
			line = pushLineOf(p)
		}
	}
	httpx.WriteJSON(w, code, line)
}

// pushUnsubscribe removes one of the viewer's subscriptions, named by
// ?id= (the list's) or by the body {"endpoint": …} (the browser's own,
// when it unsubscribes): 204, or 404 when the viewer has no such one.
func (s *Server) pushUnsubscribe(w http.ResponseWriter, r *http.Request) {
	if s.pushOff(w, r) {
		return
	}
	v := ViewerFrom(r.Context())
	id := r.URL.Query().Get("id")
	if id == "" {
		var b struct {
			Endpoint string `json:"endpoint"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, webpush.MaxSubscriptionBytes)).Decode(&b); err != nil || b.Endpoint == "" {
			s.httpError(w, r, http.StatusBadRequest, `name the subscription: ?id=ID or a body {"endpoint": URL}`, nil)
			return
		}
		id = projections.PushSubscriptionID(b.Endpoint)
	}
	u, _ := s.Auth.Users.User(v.Name)
	if _, ok := u.PushSubscriptionFor(id); !ok || v.Name == "" {
		s.httpError(w, r, http.StatusNotFound, "no such subscription of yours", nil)
		return
	}
	seq, err := s.appendPush(r, v, projections.PushCommand{Action: projections.PushUnsubscribe, SubID: id, Reason: "removed by " + issuer(v)})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.Logger.Info("push subscription removed", "user", v.Name, "subscription", id, "seq", seq)
	w.WriteHeader(http.StatusNoContent)
}

// appendPush records a push command for the viewer and waits until the
// projections hold it.
func (s *Server) appendPush(r *http.Request, v Viewer, c projections.PushCommand) (uint64, error) {
	c.Type, c.Name = "push", v.Name
	c.Issue = projections.NewIssue(issuer(v), s.now())
	if err := c.Validate(); err != nil {
		return 0, requestError{http.StatusBadRequest, err.Error()}
	}
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(r.Context(), events.Event{
		Topic: projections.PushTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		if errors.Is(err, events.ErrDiskFull) {
			return 0, requestError{http.StatusServiceUnavailable, "the server's disk is nearly full; try again later"}
		}
		return 0, fmt.Errorf("record the subscription: %w", err)
	}
	if err := s.projector.WaitFor(r.Context(), seq); err != nil {
		return seq, fmt.Errorf("recorded; projections are catching up: %w", err)
	}
	return seq, nil
}

// browserLabel names the browser and system of a User-Agent, for the
// user to tell their subscriptions apart ("Firefox on Android").
func browserLabel(ua string) string {
	browser := "A browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"}, {"Firefox/", "Firefox"},
		{"Chrome/", "Chrome"}, {"Chromium/", "Chromium"}, {"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}
