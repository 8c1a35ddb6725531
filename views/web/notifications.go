package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/projections"
	"tracker/views"
	"tracker/views/notify"
	"tracker/views/web/internal/httpx"
)

// Notification rules: the page /me/notifications and the API
// /api/v1/notifications. A rule belongs to one user and sees only what
// that user may see; a viewer lists, adds and removes their own rules,
// an admin also anybody's (?for=NAME, "for" in the body). Adding and
// removing are events in the log (projections.NotifyTopic).

// NotifyStatus is what the web side reads of the notification
// dispatcher (notify.Dispatcher): the channels it runs and each rule's
// deliveries since the server started.
type NotifyStatus interface {
	Channels() []string
	Deliveries(rule string) []notify.Delivery
	Status(rule string) notify.RuleStatus
}

// notifyPageRoutes: /me/notifications (pages, logged in).
func (s *Server) notifyPageRoutes(r chi.Router) {
	r.Get("/me/notifications", s.notificationsPage)
	r.Post("/me/notifications", s.notificationsAdd)
	r.Post("/me/notifications/remove", s.notificationsRemove)
}

// notifyAPIRoutes: under /api/v1, logged in.
func (s *Server) notifyAPIRoutes(r chi.Router) {
	r.Get("/notifications", s.listNotifications)
	r.Post("/notifications", s.addNotification)
	r.Delete("/notifications/{id}", s.removeNotification)
}

// NotifyRequest is a rule as POST /api/v1/notifications takes it (and
// `tracker notify add` sends it).
type NotifyRequest struct {
	// For is the user the rule is for; empty: the caller. Only admins
	// name another user.
	For string `json:"for,omitempty"`
	// On is arrive, leave, silent or battery.
	On string `json:"on"`
	// Device is the friend as USER/DEVICE; "" or "*" with arrive or
	// leave: anyone the rule's user may see.
	Device string `json:"device,omitempty"`
	Place  string `json:"place,omitempty"` // arrive, leave
	After  string `json:"after,omitempty"` // silent: a duration such as "2h" or "90m"
	Below  int    `json:"below,omitempty"` // battery: a percentage
	// Quiet is the quiet period against flapping ("10m"); empty: 5 min.
	Quiet string `json:"quiet,omitempty"`
	// Channels are where it goes (browser, webhook, …); empty: webhook
	// when a Webhook is given, else browser.
	Channels      []string `json:"channels,omitempty"`
	Webhook       string   `json:"webhook,omitempty"`
	WebhookSecret string   `json:"webhook_secret,omitempty"`
}

// Rule makes the rule id for owner from q, checked.
func (q NotifyRequest) Rule(owner, id string) (projections.NotifyRule, error) {
	r := projections.NotifyRule{ID: id, Owner: owner, On: strings.TrimSpace(q.On), Place: strings.TrimSpace(q.Place), Below: q.Below,
		Webhook: strings.TrimSpace(q.Webhook), Secret: q.WebhookSecret}
	if d := strings.TrimSpace(q.Device); d != "*" && d != "anyone" {
		r.Device = projections.DeviceID(d)
	}
	if q.After != "" {
		d, err := time.ParseDuration(strings.TrimSpace(q.After))
		if err != nil {
			return r, fmt.Errorf("after %q: want a duration such as 2h or 90m", q.After)
		}
		r.AfterS = int64(d / time.Second)
	}
	if q.Quiet != "" {
		d, err := time.ParseDuration(strings.TrimSpace(q.Quiet))
		if err != nil || d < 0 {
			return r, fmt.Errorf("quiet %q: want a duration such as 10m", q.Quiet)
		}
		r.QuietS = int64(d / time.Second)
	}
	for _, c := range q.Channels {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(r.Channels, c) {
			r.Channels = append(r.Channels, c)
		}
	}
	if r.Webhook != "" && !slices.Contains(r.Channels, projections.ChannelWebhook) {
		r.Channels = append(r.Channels, projections.ChannelWebhook)
	}
	if len(r.Channels) == 0 {
		r.Channels = []string{projections.ChannelBrowser}
	}
	return r, r.Validate()
}

// NewRuleID returns a fresh rule id (64 random bits, hex).
func NewRuleID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// NotifyRuleView is a rule as the API answers it: never its secret.
type NotifyRuleView struct {
	ID        string               `json:"id"`
	Owner     string               `json:"owner"`
	On        string               `json:"on"`
	Device    projections.DeviceID `json:"device,omitempty"` // empty: anyone
	Place     string               `json:"place,omitempty"`
	AfterS    int64                `json:"after_s,omitempty"`
	Below     int                  `json:"below,omitempty"`
	QuietS    int64                `json:"quiet_s"`
	Channels  []string             `json:"channels"`
	Webhook   string               `json:"webhook,omitempty"`
	HasSecret bool                 `json:"has_secret"`
	Text      string               `json:"text"`
	Created   time.Time            `json:"created"`
	Seq       uint64               `json:"seq"`
	// Since the server started:
	Sent        int               `json:"sent"`
	Failed      int               `json:"failed"`
	LastError   string            `json:"last_error,omitempty"`
	LastErrorAt time.Time         `json:"last_error_at,omitzero"`
	Deliveries  []notify.Delivery `json:"deliveries"`
}

// NotifyRuleOf is the API's view of r.
func NotifyRuleOf(r projections.NotifyRule, st NotifyStatus) NotifyRuleView {
	v := NotifyRuleView{ID: r.ID, Owner: r.Owner, On: r.On, Device: r.Device, Place: r.Place, AfterS: r.AfterS, Below: r.Below,
		QuietS: int64(r.Quiet() / time.Second), Channels: r.Channels, Webhook: r.Webhook, HasSecret: r.Secret != "",
		Text: r.Describe(), Created: r.Created, Seq: r.Seq, Deliveries: []notify.Delivery{}}
	if st != nil {
		s := st.Status(r.ID)
		v.Sent, v.Failed, v.LastError, v.LastErrorAt = s.Sent, s.Failed, s.LastError, s.LastErrorAt
		v.Deliveries = st.Deliveries(r.ID)
	}
	return v
}

// ruleOwner is whose rules the request acts on: the viewer, or for an
// admin the user named by for ("*": everybody, for listing).
func (s *Server) ruleOwner(v Viewer, for_ string) (string, error) {
	switch {
	case v.Name == "" && !v.Open:
		return "", requestError{http.StatusForbidden, "log in first"}
	case for_ == "" && v.Name == "":
		return "", requestError{http.StatusConflict, "rules belong to users, and none exists yet (tracker user add NAME --admin)"}
	case for_ == "" || for_ == v.Name:
		return v.Name, nil
	case !v.Admin && !v.Open:
		return "", requestError{http.StatusForbidden, "only an admin may manage another user's notification rules"}
	case for_ == "*":
		return for_, nil
	}
	if _, ok := s.Auth.Users.User(for_); !ok {
		return "", requestError{http.StatusNotFound, fmt.Sprintf("no user named %q", for_)}
	}
	return for_, nil
}

// rulesOf lists owner's rules ("*": everybody's), oldest first.
func (s *Server) rulesOf(owner string) []projections.NotifyRule {
	if owner != "*" {
		u, _ := s.Auth.Users.User(owner)
		return u.Notify
	}
	var out []projections.NotifyRule
	if s.UserAdmin != nil {
		for _, u := range s.UserAdmin.Users() {
			out = append(out, u.Notify...)
		}
	}
	return out
}

// listNotifications (GET /api/v1/notifications[?for=NAME|*]) answers the
// rules with their recent deliveries.
func (s *Server) listNotifications(w http.ResponseWriter, r *http.Request) {
	owner, err := s.ruleOwner(ViewerFrom(r.Context()), r.URL.Query().Get("for"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := []NotifyRuleView{}
	for _, rule := range s.rulesOf(owner) {
		out = append(out, NotifyRuleOf(rule, s.Notify))
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}

// addNotification (POST /api/v1/notifications) records a rule and
// answers it (201).
func (s *Server) addNotification(w http.ResponseWriter, r *http.Request) {
	var q NotifyRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&q); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "body: want a JSON rule ({\"on\":\"arrive\",\"device\":\"ben/phone\",\"place\":\"Home\",\"webhook\":\"https://…\"})", nil)
		return
	}
	rule, err := s.recordRule(r.Context(), ViewerFrom(r.Context()), q)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, NotifyRuleOf(rule, s.Notify))
}

// recordRule checks q as v asked it and records it; it returns the rule
// as the projections now hold it.
func (s *Server) recordRule(ctx context.Context, v Viewer, q NotifyRequest) (projections.NotifyRule, error) {
	owner, err := s.ruleOwner(v, q.For)
	if err != nil {
		return projections.NotifyRule{}, err
	}
	if owner == "*" {
		return projections.NotifyRule{}, requestError{http.StatusBadRequest, "for: name one user"}
	}
	rule, err := q.Rule(owner, NewRuleID())
	if err != nil {
		return rule, requestError{http.StatusBadRequest, err.Error()}
	}
	u, _ := s.Auth.Users.User(owner)
	if len(u.Notify) >= projections.MaxNotifyRules {
		return rule, requestError{http.StatusConflict, fmt.Sprintf("%s has %d rules already, the most one user may have", owner, projections.MaxNotifyRules)}
	}
	if rule.Device != "" && !u.MaySee(rule.Device) {
		// The sharing matrix, which the user knows: nothing about whether
		// the friend exists.
		return rule, requestError{http.StatusForbidden, fmt.Sprintf("%s may not see %s: a rule sees only the friends its user may see", owner, rule.Device)}
	}
	c := projections.NotifyCommand{Type: "notify", Action: projections.NotifyAdd, Owner: owner, Rule: &rule,
		Issue: projections.NewIssue(issuer(v), s.now())}
	if err := s.appendNotify(ctx, c); err != nil {
		return rule, err
	}
	u, _ = s.Auth.Users.User(owner)
	got, ok := u.NotifyRule(rule.ID)
	if !ok {
		return rule, fmt.Errorf("notification rule %s recorded, but the projections do not show it", rule.ID)
	}
	return got, nil
}

// appendNotify records c and waits until the projections have it.
func (s *Server) appendNotify(ctx context.Context, c projections.NotifyCommand) error {
	if s.Appender == nil {
		return requestError{http.StatusServiceUnavailable, "this server records no changes"}
	}
	payload, _ := json.Marshal(c)
	seq, err := s.Appender.Append(ctx, events.Event{
		Topic: projections.NotifyTopic, Payload: payload, QoS: 1, Source: events.SourceAdmin, Received: s.now(),
	})
	if err != nil {
		return fmt.Errorf("record the notification rule: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.projector.WaitFor(wctx, seq); err != nil {
		return requestError{http.StatusAccepted, fmt.Sprintf("recorded as event %d; projections are catching up", seq)}
	}
	return nil
}

// removeNotification (DELETE /api/v1/notifications/{id}) removes one of
// the caller's rules (an admin's: anybody's).
func (s *Server) removeNotification(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rule, err := s.dropRule(r.Context(), ViewerFrom(r.Context()), id)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"removed": rule.ID, "owner": rule.Owner, "text": rule.Describe()})
}

// dropRule removes rule id as v asked.
func (s *Server) dropRule(ctx context.Context, v Viewer, id string) (projections.NotifyRule, error) {
	owner, err := s.ruleOwner(v, "")
	if err != nil {
		return projections.NotifyRule{}, err
	}
	mayAll := v.Admin || v.Open
	var rule projections.NotifyRule
	found := false
	for _, r := range s.rulesOf(map[bool]string{true: "*", false: owner}[mayAll]) {
		if r.ID == id {
			rule, found = r, true
		}
	}
	if !found {
		return rule, requestError{http.StatusNotFound, fmt.Sprintf("no notification rule %q of yours", id)}
	}
	c := projections.NotifyCommand{Type: "notify", Action: projections.NotifyRemove, Owner: rule.Owner, RuleID: id,
		Issue: projections.NewIssue(issuer(v), s.now())}
	return rule, s.appendNotify(ctx, c)
}

// notifyDone are the messages the page shows after an action (?done=).
var notifyDone = map[string]string{
	"added":   "Rule added.",
	"removed": "Rule removed.",
}

func (s *Server) notificationsPage(w http.ResponseWriter, r *http.Request) {
	s.renderNotifications(w, r, http.StatusOK, notifyDone[r.URL.Query().Get("done")], "", views.NotifyForm{On: projections.NotifyArrive, Browser: true})
}

// notificationsAdd adds a rule from the page's form.
func (s *Server) notificationsAdd(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "bad form", nil)
		return
	}
	f := views.NotifyForm{On: r.PostFormValue("on"), Device: r.PostFormValue("device"), Place: r.PostFormValue("place"),
		After: r.PostFormValue("after"), Below: r.PostFormValue("below"), Quiet: r.PostFormValue("quiet"),
		Webhook: r.PostFormValue("webhook"), Browser: r.PostFormValue("browser") != ""}
	q := NotifyRequest{On: f.On, Device: f.Device, Place: f.Place, After: f.After, Quiet: f.Quiet, Webhook: f.Webhook,
		WebhookSecret: r.PostFormValue("webhook_secret")}
	if f.Below != "" {
		n, err := strconv.Atoi(strings.TrimSpace(f.Below))
		if err != nil {
			s.renderNotifications(w, r, http.StatusBadRequest, "", "The battery level must be a number from 1 to 100.", f)
			return
		}
		q.Below = n
	}
	if f.On != projections.NotifyBattery {
		q.Below = 0
	}
	if f.On != projections.NotifySilent {
		q.After = ""
	}
	if f.On == projections.NotifySilent || f.On == projections.NotifyBattery {
		q.Place = ""
	}
	if f.Browser {
		q.Channels = append(q.Channels, projections.ChannelBrowser)
	}
	q.Channels = append(q.Channels, r.PostForm["channel"]...)
	if len(q.Channels) == 0 && q.Webhook == "" {
		s.renderNotifications(w, r, http.StatusBadRequest, "", "Choose where to be told: this browser, a webhook, or both.", f)
		return
	}
	if _, err := s.recordRule(r.Context(), ViewerFrom(r.Context()), q); err != nil {
		var re requestError
		if errors.As(err, &re) && re.code != http.StatusAccepted {
			s.renderNotifications(w, r, re.code, "", re.msg, f)
			return
		}
		if !errors.As(err, &re) {
			s.httpError(w, r, http.StatusServiceUnavailable, "could not record the rule; try again", err)
			return
		}
	}
	http.Redirect(w, r, "/me/notifications?done=added", http.StatusSeeOther)
}

// notificationsRemove removes a rule from the page.
func (s *Server) notificationsRemove(w http.ResponseWriter, r *http.Request) {
	if !s.smallForm(w, r) {
		return
	}
	if _, err := s.dropRule(r.Context(), ViewerFrom(r.Context()), r.PostFormValue("id")); err != nil {
		var re requestError
		if errors.As(err, &re) && re.code != http.StatusAccepted {
			s.renderNotifications(w, r, re.code, "", re.msg, views.NotifyForm{On: projections.NotifyArrive, Browser: true})
			return
		}
		if !errors.As(err, &re) {
			s.httpError(w, r, http.StatusServiceUnavailable, "could not remove the rule; try again", err)
			return
		}
	}
	http.Redirect(w, r, "/me/notifications?done=removed", http.StatusSeeOther)
}

// renderNotifications renders the page: the viewer's rules with their
// deliveries, and the form (f, as last sent).
func (s *Server) renderNotifications(w http.ResponseWriter, r *http.Request, code int, done, msg string, f views.NotifyForm) {
	v := ViewerFrom(r.Context())
	m := views.NotificationsPage{Page: s.pageFor(r, "Notifications", "notifications"), NoAccount: v.Name == "", Done: done, Message: msg,
		Form: f, Push: s.pushControl(r)}
	if s.Notify != nil {
		m.Channels = s.Notify.Channels()
	}
	reader := s.proj(r)
	names := map[projections.DeviceID]string{}
	for _, fv := range reader.Friends() {
		names[fv.ID] = fv.DisplayName()
		m.Friends = append(m.Friends, views.NotifyFriend{ID: string(fv.ID), Name: fv.DisplayName()})
	}
	seen := map[string]bool{}
	for _, a := range reader.Areas() {
		if k := projections.PlaceKey(a.Name); !seen[k] {
			seen[k] = true
			m.Places = append(m.Places, strings.TrimSpace(a.Name))
		}
	}
	slices.Sort(m.Places)
	if v.Name != "" {
		u, _ := s.Auth.Users.User(v.Name)
		for _, rule := range u.Notify {
			m.Rules = append(m.Rules, ruleRow(rule, s.Notify, names))
		}
	}
	if code != http.StatusOK {
		w.WriteHeader(code)
	}
	s.render(w, r, views.NotificationsView(m))
}

// pushControl is the "enable push on this browser" control the Web Push
// channel shows on the page (nil: none on this server).
func (s *Server) pushControl(*http.Request) templ.Component { return s.pushEnable() }

// ruleRow is a rule as the page shows it. A friend the viewer may no
// longer see keeps its id only (names holds the visible ones).
func ruleRow(r projections.NotifyRule, st NotifyStatus, names map[projections.DeviceID]string) views.NotifyRuleRow {
	row := views.NotifyRuleRow{ID: r.ID, Text: r.Describe(), Channels: r.Channels, Webhook: redactURL(r.Webhook), HasSecret: r.Secret != "",
		Created: r.Created, Quiet: r.Quiet()}
	if n, ok := names[r.Device]; ok && n != string(r.Device) {
		row.Friend = n
	}
	if st == nil {
		return row
	}
	s := st.Status(r.ID)
	row.Sent, row.Failed, row.LastError, row.LastErrorAt, row.LastSent = s.Sent, s.Failed, s.LastError, s.LastErrorAt, s.LastSent
	for _, d := range st.Deliveries(r.ID) {
		row.Deliveries = append(row.Deliveries, views.NotifyDeliveryRow{At: d.At, Updated: d.Updated, Channel: d.Channel, Status: d.Status,
			Text: d.Text, Err: d.Err, Attempts: d.Attempts, Failed: d.Failed()})
	}
	return row
}

// redactURL hides a URL's password and query values (tokens live there)
// for showing it on a page.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || s == "" {
		return s
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}
