package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	qr "github.com/piglig/go-qr"

	"tracker/events"
	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// Connecting phones (/connect, /api/v1/me/otrc) and the viewer's own
// account (/me). Every route here acts on the logged-in viewer only:
// there is no parameter naming another user, so a viewer can connect
// their own phones and nobody else's.
//
// A device credential is minted only by a POST (the /connect form, or
// POST /api/v1/me/otrc): its secret is random, the log keeps its hash,
// so the secret exists only in that one answer. GET /api/v1/me/otrc
// reads: it returns the configuration of the device's current credential
// without the secret, and never mints.

// PhoneEndpoints are where phones reach this server, for the
// configurations /connect makes.
type PhoneEndpoints struct {
	// PublicHost is the name (or name:port for HTTP mode) phones reach
	// this server at (serve --public-host); empty: the name the browser
	// used.
	PublicHost string
	// MQTT and MQTTTLS are the embedded broker's plain and TLS listener
	// addresses; both empty with an external broker, whose logins are
	// its own (then phones get HTTP mode).
	MQTT, MQTTTLS string
}

// accountRoutes: /connect and /me (pages, logged in).
func (s *Server) accountRoutes(r chi.Router) {
	r.Get("/connect", s.connectPage)
	r.Post("/connect", s.connectMake)
	r.Get("/me", s.mePage)
	r.Post("/me/password", s.mePassword)
	r.Post("/me/zone", s.meZone)
	r.Post("/me/signout", s.meSignOut)
	r.Post("/me/devices/revoke", s.meRevoke)
}

// meAPIRoutes: under /api/v1, logged in.
func (s *Server) meAPIRoutes(r chi.Router) {
	r.Get("/me/otrc", s.otrcRead)
	r.Post("/me/otrc", s.otrcMake)
}

// Modes a configuration is made for (OwnTracks "mode": 0 MQTT, 3 HTTP).
const (
	modeMQTT = "mqtt"
	modeHTTP = "http"
)

// OTRC is an OwnTracks configuration (_type configuration, the .otrc
// file's content), with the settings a phone needs to reach us.
type OTRC struct {
	Type         string `json:"_type"` // "configuration"
	Mode         int    `json:"mode"`  // 0 MQTT, 3 HTTP
	Host         string `json:"host,omitempty"`
	Port         int    `json:"port,omitempty"`
	TLS          *bool  `json:"tls,omitempty"`
	URL          string `json:"url,omitempty"`
	Auth         bool   `json:"auth"`
	Username     string `json:"username"`
	Password     string `json:"password,omitempty"` // the device secret; only in the answer that made it
	DeviceID     string `json:"deviceId"`
	TID          string `json:"tid"`
	PubTopicBase string `json:"pubTopicBase,omitempty"`
}

// errNoAccount: open mode has no user to connect a phone for.
var errNoAccount = errors.New("no user exists: phones connect without a login on this machine; add a user first (tracker user add NAME --admin)")

// requestError is a mistake in what the viewer asked for (400/409).
type requestError struct {
	code int
	msg  string
}

func (e requestError) Error() string { return e.msg }

// phoneRequest is what a configuration is made from.
type phoneRequest struct{ device, mode, tid string }

func (s *Server) parsePhoneRequest(v Viewer, vals url.Values) (phoneRequest, error) {
	p := phoneRequest{device: strings.TrimSpace(vals.Get("device")), mode: vals.Get("mode"), tid: strings.TrimSpace(vals.Get("tid"))}
	if v.Name == "" {
		return p, requestError{http.StatusConflict, errNoAccount.Error()}
	}
	if err := projections.ValidDeviceName(p.device); err != nil {
		return p, requestError{http.StatusBadRequest, err.Error()}
	}
	switch {
	case p.mode == "":
		p.mode = modeMQTT
		if !s.mqttForPhones() {
			p.mode = modeHTTP
		}
	case p.mode != modeMQTT && p.mode != modeHTTP:
		return p, requestError{http.StatusBadRequest, fmt.Sprintf("mode %q: want mqtt or http", p.mode)}
	}
	if p.mode == modeMQTT && !s.mqttForPhones() {
		return p, requestError{http.StatusConflict, "this server uses an external MQTT broker, which does not know device credentials: use HTTP mode"}
	}
	if utf8.RuneCountInString(p.tid) > 2 || strings.ContainsAny(p.tid, "/+#") {
		return p, requestError{http.StatusBadRequest, "tid: at most 2 characters"}
	}
	if p.tid == "" {
		p.tid = defaultTID(v.Name)
	}
	return p, nil
}

func (s *Server) mqttForPhones() bool { return s.Phones.MQTT != "" || s.Phones.MQTTTLS != "" }

// defaultTID is the two letters a friend's marker shows: the user's
// initials by default.
func defaultTID(user string) string {
	return strings.ToLower(firstRunes(user, 2))
}

// mint records a new credential for the viewer's device (replacing the
// one it had, whose phone is disconnected) and returns its secret.
func (s *Server) mint(ctx context.Context, v Viewer, p phoneRequest) (string, error) {
	u, ok := s.Auth.Users.User(v.Name)
	if !ok {
		return "", requestError{http.StatusConflict, "your account no longer exists"}
	}
	if _, has := u.Credential(p.device); !has && len(u.Devices) >= projections.MaxDeviceCredentials {
		return "", requestError{http.StatusConflict, fmt.Sprintf("you have %d phones connected, the most allowed: revoke one first", len(u.Devices))}
	}
	secret, hash, id := projections.NewDeviceSecret()
	seq, err := s.appendAccount(ctx, v, projections.AccountCommand{Action: projections.AccountCredential,
		Device: p.device, Credential: id, Hash: hash, Mode: p.mode})
	if err != nil {
		return "", err
	}
	s.Logger.Info("device credential made", "user", v.Name, "device", p.device, "mode", p.mode, "credential", id, "seq", seq)
	return secret, nil
}

// appendAccount records an account command for the viewer and waits
// until the projections hold it.
func (s *Server) appendAccount(ctx context.Context, v Viewer, c projections.AccountCommand) (uint64, error) {
	c.Type, c.Name = "account", v.Name
	c.Issue = projections.NewIssue(issuer(v), s.now())
	if err := c.Validate(); err != nil {
		return 0, requestError{http.StatusBadRequest, err.Error()}
	}
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(ctx, events.Event{
		Topic: projections.AccountTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		return 0, fmt.Errorf("record the change: %w", err)
	}
	if err := s.projector.WaitFor(ctx, seq); err != nil {
		return seq, fmt.Errorf("recorded; projections are catching up: %w", err)
	}
	return seq, nil
}

// otrc is the configuration for the viewer's device, with secret ("" to
// leave it out).
func (s *Server) otrc(r *http.Request, v Viewer, p phoneRequest, secret string) OTRC {
	c := OTRC{Type: "configuration", Auth: true, Username: v.Name, Password: secret, DeviceID: p.device, TID: p.tid}
	host := s.Phones.PublicHost
	if host == "" {
		host = r.Host
	}
	switch p.mode {
	case modeHTTP:
		scheme := "http"
		if s.secure(r) {
			scheme = "https"
		}
		c.Mode, c.URL = 3, scheme+"://"+host+"/pub"
	default:
		name := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			name = h
		}
		addr, tls := s.Phones.MQTT, false
		if s.Phones.MQTTTLS != "" {
			addr, tls = s.Phones.MQTTTLS, true
		}
		_, port, _ := net.SplitHostPort(addr)
		c.Mode, c.Host, c.TLS = 0, strings.Trim(name, "[]"), &tls
		c.Port, _ = strconv.Atoi(port)
		c.PubTopicBase = "owntracks/%u/%d"
	}
	return c
}

// ConfigLink is the link that configures the OwnTracks app: its
// owntracks:///config?inline= scheme with the configuration in standard
// base64, percent-encoded (so '+', '/' and '=' survive both apps' query
// parsing: iOS decodes standard base64 only, Android either).
func ConfigLink(b []byte) string {
	return "owntracks:///config?inline=" + url.QueryEscape(base64.StdEncoding.EncodeToString(b))
}

// QRPNG is the QR code of text as a PNG about 300 pixels wide, with
// whole pixels per module, and its width.
func QRPNG(text string) ([]byte, int, error) {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return nil, 0, fmt.Errorf("qr code: %w", err)
	}
	const border = 4 // modules of quiet zone, as the standard asks
	scale := max(2, 300/(code.Size()+2*border))
	png, err := code.ToPNGBytes(qr.NewQrCodeImgConfig(scale, border))
	return png, (code.Size() + 2*border) * scale, err
}

// phoneConfig is the configuration in the forms the page offers.
func phoneConfig(c OTRC) (views.PhoneConfig, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return views.PhoneConfig{}, err
	}
	link := ConfigLink(b)
	png, size, err := QRPNG(link)
	if err != nil {
		return views.PhoneConfig{}, err
	}
	mode := modeMQTT
	summary := []views.ConfigField{}
	if c.Mode == 3 {
		mode = modeHTTP
		summary = append(summary, views.ConfigField{Name: "Mode", Value: "HTTP"}, views.ConfigField{Name: "URL", Value: c.URL})
	} else {
		summary = append(summary, views.ConfigField{Name: "Mode", Value: "MQTT"}, views.ConfigField{Name: "Host", Value: c.Host},
			views.ConfigField{Name: "Port", Value: strconv.Itoa(c.Port)}, views.ConfigField{Name: "TLS", Value: map[bool]string{true: "on", false: "off"}[*c.TLS]})
	}
	summary = append(summary, views.ConfigField{Name: "User", Value: c.Username}, views.ConfigField{Name: "Password (device secret)", Value: c.Password},
		views.ConfigField{Name: "Device ID", Value: c.DeviceID}, views.ConfigField{Name: "Tracker ID", Value: c.TID})
	return views.PhoneConfig{
		Device: c.DeviceID, Mode: mode, Summary: summary, Link: link,
		QR:       "data:image/png;base64," + base64.StdEncoding.EncodeToString(png),
		QRSize:   size,
		OTRC:     "data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(b),
		OTRCName: fileName(c.DeviceID) + ".otrc",
	}, nil
}

// fileName keeps a device name's letters and digits for a file name.
func fileName(device string) string {
	var b strings.Builder
	for _, r := range device {
		switch {
		case r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	if b.Len() == 0 {
		return "owntracks"
	}
	return b.String()
}

// connectModel is /connect's model for the viewer.
func (s *Server) connectModel(r *http.Request) views.ConnectPage {
	v := ViewerFrom(r.Context())
	m := views.ConnectPage{Page: s.pageFor(r, "Connect a phone", "connect"), MQTT: s.mqttForPhones(), NoAccount: v.Name == ""}
	m.Devices = s.deviceRows(v)
	switch {
	case !m.MQTT:
		m.Warning = "The server uses an external MQTT broker: phones connect in HTTP mode."
	case s.Phones.MQTTTLS == "" && loopbackOnly(s.Phones.MQTT):
		m.Warning = "The MQTT broker listens on this machine only (" + s.Phones.MQTT + "): a phone cannot reach it in MQTT mode. Use HTTP mode, or start the server with --mqtt-listen 0.0.0.0:1883."
	}
	return m
}

func (s *Server) deviceRows(v Viewer) []views.DeviceRow {
	u, ok := s.Auth.Users.User(v.Name)
	if !ok {
		return nil
	}
	rows := make([]views.DeviceRow, 0, len(u.Devices))
	for _, d := range u.Devices {
		rows = append(rows, views.DeviceRow{Device: d.Device, Credential: d.ID, Mode: d.Mode,
			Created: time.Unix(d.Created, 0), LastUse: s.Auth.LastUse(d.ID)})
	}
	slices.SortFunc(rows, func(a, b views.DeviceRow) int { return strings.Compare(a.Device, b.Device) })
	return rows
}

func (s *Server) connectPage(w http.ResponseWriter, r *http.Request) {
	m := s.connectModel(r)
	m.Device, m.Mode = r.URL.Query().Get("device"), r.URL.Query().Get("mode")
	s.render(w, r, views.ConnectView(m))
}

// connectMake mints a credential from the form and shows its
// configuration, in this one answer only (not stored, not cached).
func (s *Server) connectMake(w http.ResponseWriter, r *http.Request) {
	if !s.smallForm(w, r) {
		return
	}
	v := ViewerFrom(r.Context())
	m := s.connectModel(r)
	m.Device, m.Mode, m.TID = r.PostFormValue("device"), r.PostFormValue("mode"), r.PostFormValue("tid")
	fail := func(err error) {
		var re requestError
		code := http.StatusServiceUnavailable
		if errors.As(err, &re) {
			code = re.code
		} else {
			s.Logger.Error("making a device credential failed", "user", v.Name, "err", err)
		}
		m.Message = err.Error()
		w.WriteHeader(code)
		s.render(w, r, views.ConnectView(m))
	}
	p, err := s.parsePhoneRequest(v, r.PostForm)
	if err != nil {
		fail(err)
		return
	}
	secret, err := s.mint(r.Context(), v, p)
	if err != nil {
		fail(err)
		return
	}
	made, err := phoneConfig(s.otrc(r, v, p, secret))
	if err != nil {
		fail(err)
		return
	}
	m.Made, m.Devices, m.Device, m.TID = &made, s.deviceRows(v), "", ""
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, views.ConnectView(m))
}

// otrcMake (POST /api/v1/me/otrc?device=&mode=) mints a credential and
// answers its configuration with the secret: the only time the API
// shows it.
func (s *Server) otrcMake(w http.ResponseWriter, r *http.Request) {
	v := ViewerFrom(r.Context())
	p, err := s.parsePhoneRequest(v, r.URL.Query())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	secret, err := s.mint(r.Context(), v, p)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, s.otrc(r, v, p, secret))
}

// otrcRead (GET /api/v1/me/otrc?device=&mode=) answers the configuration
// of the device's current credential, without its secret (the log keeps
// only its hash); 404 when the device has none.
func (s *Server) otrcRead(w http.ResponseWriter, r *http.Request) {
	v := ViewerFrom(r.Context())
	p, err := s.parsePhoneRequest(v, r.URL.Query())
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	u, _ := s.Auth.Users.User(v.Name)
	if _, ok := u.Credential(p.device); !ok {
		s.httpError(w, r, http.StatusNotFound, fmt.Sprintf("device %q has no credential: make one with POST /api/v1/me/otrc?device=…&mode=… (its secret is shown only then)", p.device), nil)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.otrc(r, v, p, ""))
}

func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	var re requestError
	if errors.As(err, &re) {
		s.httpError(w, r, re.code, re.msg, nil)
		return
	}
	s.httpError(w, r, http.StatusServiceUnavailable, "could not record the change; try again", err)
}

// meDone are the messages /me shows after an action (?done=).
var meDone = map[string]string{
	"password": "Password changed. Your other browsers are logged out.",
	"zone":     "Time zone saved.",
	"revoked":  "The phone's credential is revoked; it was disconnected.",
}

func (s *Server) mePage(w http.ResponseWriter, r *http.Request) {
	s.renderMe(w, r, http.StatusOK, meDone[r.URL.Query().Get("done")], "")
}

func (s *Server) renderMe(w http.ResponseWriter, r *http.Request, code int, done, msg string) {
	v := ViewerFrom(r.Context())
	m := views.MePage{Page: s.pageFor(r, "My account", "me"), Admin: v.Admin, NoAccount: v.Name == "",
		Devices: s.deviceRows(v), Done: done, Message: msg}
	if u, ok := s.Auth.Users.User(v.Name); ok {
		m.Zone = u.Zone
	}
	if c, err := r.Cookie(views.TZCookie); err == nil && len(c.Value) <= 64 {
		if _, err := time.LoadLocation(c.Value); err == nil {
			m.BrowserZone = c.Value
		}
	}
	if code != http.StatusOK {
		w.WriteHeader(code)
	}
	s.render(w, r, views.MeView(m))
}

// mePassword changes the viewer's password, the current one required.
// Every session made before ends (PasswordSeq), so this browser gets a
// new one; the user's MQTT logins with the old password are disconnected
// (serve's onChange); device credentials stay.
func (s *Server) mePassword(w http.ResponseWriter, r *http.Request) {
	if !s.smallForm(w, r) {
		return
	}
	v := ViewerFrom(r.Context())
	if v.Name == "" {
		s.renderMe(w, r, http.StatusConflict, "", errNoAccount.Error())
		return
	}
	if _, err := s.Auth.Check(v.Name, r.PostFormValue("old"), s.Auth.ClientIP(r)); err != nil {
		code := http.StatusForbidden
		var tooMany errTooMany
		if errors.As(err, &tooMany) {
			code = http.StatusTooManyRequests
		}
		s.renderMe(w, r, code, "", "The current password is wrong; nothing changed.")
		return
	}
	pw := r.PostFormValue("new")
	if pw != r.PostFormValue("repeat") {
		s.renderMe(w, r, http.StatusBadRequest, "", "The new passwords differ; nothing changed.")
		return
	}
	hash, err := projections.HashPassword(pw)
	if err != nil {
		s.renderMe(w, r, http.StatusBadRequest, "", err.Error()+"; nothing changed.")
		return
	}
	c := projections.UserCommand{Type: "user", Action: projections.UserPasswd, Name: v.Name, Hash: hash,
		Issue: projections.NewIssue(issuer(v), s.now())}
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(r.Context(), events.Event{
		Topic: projections.UserTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: time.Now(),
	})
	if err == nil {
		err = s.projector.WaitFor(r.Context(), seq)
	}
	if err != nil {
		s.httpError(w, r, http.StatusServiceUnavailable, "could not record the change; try again", err)
		return
	}
	s.Logger.Info("password changed", "user", v.Name, "by", "self", "seq", seq)
	if v.session != "" {
		if u, ok := s.Auth.Users.User(v.Name); ok {
			if tok, err := s.Auth.Sessions.New(u); err == nil {
				s.setSession(w, r, tok)
			}
		}
	}
	if s.Hub != nil {
		s.Hub.Recheck(v.Name) // the other browsers' streams end
	}
	http.Redirect(w, r, "/me?done=password", http.StatusSeeOther)
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, tok string) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secure(r), MaxAge: int(sessionTTL.Seconds()),
	})
}

// meZone stores the viewer's time zone ("" for the browser's), and sets
// the tz cookie to it so this very page already shows it.
func (s *Server) meZone(w http.ResponseWriter, r *http.Request) {
	if !s.smallForm(w, r) {
		return
	}
	v := ViewerFrom(r.Context())
	zone := strings.TrimSpace(r.PostFormValue("zone"))
	if v.Name == "" {
		s.renderMe(w, r, http.StatusConflict, "", errNoAccount.Error())
		return
	}
	if zone != "" {
		if _, err := time.LoadLocation(zone); err != nil || len(zone) > 64 || zone == "Local" {
			s.renderMe(w, r, http.StatusBadRequest, "", fmt.Sprintf("%q is not a time zone this server knows (try Europe/Brussels or UTC).", zone))
			return
		}
	}
	if _, err := s.appendAccount(r.Context(), v, projections.AccountCommand{Action: projections.AccountZone, Zone: zone}); err != nil {
		s.apiError(w, r, err)
		return
	}
	if zone != "" {
		http.SetCookie(w, &http.Cookie{Name: views.TZCookie, Value: zone, Path: "/", SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, "/me?done=zone", http.StatusSeeOther)
}

// meSignOut ends every session of the viewer (sign out everywhere),
// this one included, and closes their live streams.
func (s *Server) meSignOut(w http.ResponseWriter, r *http.Request) {
	v := ViewerFrom(r.Context())
	if v.Name == "" {
		s.renderMe(w, r, http.StatusConflict, "", errNoAccount.Error())
		return
	}
	n, err := s.Auth.Sessions.EndUser(v.Name)
	if err != nil {
		s.Logger.Error("signing out everywhere: the sessions file was not written", "user", v.Name, "err", err)
	}
	if s.Hub != nil {
		s.Hub.Recheck(v.Name)
	}
	s.Logger.Info("signed out everywhere", "user", v.Name, "sessions", n)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// smallForm parses a page's form post, at most 16 KiB; on a bad form it
// answers 400 and reports false.
func (s *Server) smallForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "bad form", nil)
		return false
	}
	return true
}

// meRevoke revokes one of the viewer's device credentials. Its MQTT
// connections close (serve's onChange), its HTTP posts are refused from
// now on. Revoking one that is already gone changes nothing.
func (s *Server) meRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.smallForm(w, r) {
		return
	}
	v := ViewerFrom(r.Context())
	device, id := r.PostFormValue("device"), r.PostFormValue("credential")
	u, ok := s.Auth.Users.User(v.Name)
	if ok && u.HasCredential(id) {
		if _, err := s.appendAccount(r.Context(), v, projections.AccountCommand{Action: projections.AccountRevoke,
			Device: device, Credential: id}); err != nil {
			s.apiError(w, r, err)
			return
		}
		s.Auth.lastUse.Delete(id) // a revoked credential is never used again
		s.Logger.Info("device credential revoked", "user", v.Name, "device", device, "credential", id)
	}
	http.Redirect(w, r, "/me?done=revoked", http.StatusSeeOther)
}

// loopbackOnly reports whether a listen address takes local clients only.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}
