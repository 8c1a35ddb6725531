package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/projections"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// correctionAPIRoutes (under /api/v1): a device's corrections. The owner
// of the device or an admin may change them; the threshold for all
// devices is an admin's.
func (s *Server) correctionAPIRoutes(r chi.Router) {
	r.Get("/friends/{user}/{device}/corrections", s.listCorrections)
	r.Post("/friends/{user}/{device}/hide", s.correctionAPI(projections.CorrectHide))
	r.Post("/friends/{user}/{device}/unhide", s.correctionAPI(projections.CorrectUnhide))
	r.Put("/friends/{user}/{device}/accuracy", s.correctionAPI(projections.CorrectAccuracy))
	r.Delete("/friends/{user}/{device}/accuracy", s.correctionAPI(projections.CorrectAccuracy))
	r.With(s.requireAdmin).Put("/accuracy", s.correctionAPI(projections.CorrectAccuracy))
	r.With(s.requireAdmin).Delete("/accuracy", s.correctionAPI(projections.CorrectAccuracy))
}

// correctionPageRoutes: the history page's form.
func (s *Server) correctionPageRoutes(r chi.Router) {
	r.Post("/friends/{user}/{device}/corrections", s.correctFromPage)
}

// CorrectionRequest is the body of the correction API: a point (seq) or
// a range of fix times (from, to: RFC 3339 or Unix seconds, both
// included) to hide or unhide, or an accuracy threshold in metres.
type CorrectionRequest struct {
	Seq    uint64  `json:"seq,omitempty"`
	From   TimeArg `json:"from,omitempty"`
	To     TimeArg `json:"to,omitempty"`
	MaxM   int     `json:"max_m,omitempty"`
	Reason string  `json:"reason,omitempty"`
}

// TimeArg is a time given as RFC 3339 text or Unix seconds (a JSON
// string or number).
type TimeArg string

// UnmarshalJSON takes a string or a number.
func (t *TimeArg) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = TimeArg(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("a time is RFC 3339 text or Unix seconds, got %s", b)
	}
	*t = TimeArg(n.String())
	return nil
}

// CorrectionResult answers a correction: whether it changed anything
// (when not, Note says why and nothing was recorded), the device's
// corrections and position now.
type CorrectionResult struct {
	Event       uint64                  `json:"event,omitempty"` // the correction's event; 0 when none was recorded
	CommandID   string                  `json:"command_id,omitempty"`
	Changed     bool                    `json:"changed"`
	Note        string                  `json:"note,omitempty"`
	Corrections projections.Corrections `json:"corrections"`
	Location    *projections.Point      `json:"location"` // the device's position now; null for all devices or none
}

// correctionError is a refused correction: the status and why.
type correctionError struct {
	code int
	msg  string
	err  error // a server-side failure, logged
}

func (e *correctionError) Error() string { return e.msg }

func refuse(code int, format string, a ...any) *correctionError {
	return &correctionError{code: code, msg: fmt.Sprintf(format, a...)}
}

// mayCorrect is the rule: an admin (or the open mode's anonymous admin),
// or the owner of the device.
func mayCorrect(v Viewer, dev projections.DeviceID) bool {
	user, _ := dev.Split()
	return v.Open || v.Admin || (dev != "" && v.Name == user)
}

// correctionTarget is the device a request names; "" for /api/v1/accuracy.
// It refuses with 404 a device the viewer does not see, and 403 one the
// viewer may not correct.
func (s *Server) correctionTarget(r *http.Request) (projections.DeviceID, *correctionError) {
	user, device := pathParam(r, "user"), pathParam(r, "device")
	if user == "" && device == "" {
		return "", nil
	}
	id := projections.MakeDeviceID(user, device)
	if _, ok := s.proj(r).Friend(id); !ok {
		return "", refuse(http.StatusNotFound, "no friend %q with device %q", user, device)
	}
	if !mayCorrect(ViewerFrom(r.Context()), id) {
		return "", refuse(http.StatusForbidden, "only %s or an admin may correct %s's points", user, id)
	}
	return id, nil
}

func (s *Server) listCorrections(w http.ResponseWriter, r *http.Request) {
	id, ok := s.friendParam(w, r)
	if !ok {
		return
	}
	httpx.WriteJSON(w, http.StatusOK, s.proj(r).Corrections(id))
}

// correctionAPI handles one action; DELETE of an accuracy clears it.
func (s *Server) correctionAPI(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		dev, cerr := s.correctionTarget(r)
		if cerr != nil {
			s.httpError(w, r, cerr.code, cerr.msg, nil)
			return
		}
		var req CorrectionRequest
		if r.Method != http.MethodDelete {
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
				s.httpError(w, r, http.StatusBadRequest, "correction: body is not valid JSON: "+err.Error(), nil)
				return
			}
		}
		c, cerr := commandOf(action, dev, req)
		if cerr == nil && action == projections.CorrectAccuracy && r.Method == http.MethodPut && c.Max == 0 {
			cerr = refuse(http.StatusBadRequest, "correction: give max_m (metres, more than 0); DELETE clears the threshold")
		}
		if cerr != nil {
			s.httpError(w, r, cerr.code, cerr.msg, nil)
			return
		}
		res, cerr := s.correct(r, c)
		if cerr != nil {
			s.httpError(w, r, cerr.code, cerr.msg, cerr.err)
			return
		}
		httpx.WriteJSON(w, http.StatusOK, res)
	}
}

// commandOf makes the command a request asks for.
func commandOf(action string, dev projections.DeviceID, req CorrectionRequest) (projections.CorrectionCommand, *correctionError) {
	c := projections.CorrectionCommand{Type: "correction", Action: action, Seq: req.Seq, Max: req.MaxM, Reason: req.Reason, All: dev == ""}
	if dev != "" {
		c.User, c.Device = dev.Split()
	}
	for _, a := range []struct {
		name string
		v    TimeArg
		dst  *int64
	}{{"from", req.From, &c.From}, {"to", req.To, &c.To}} {
		if a.v == "" {
			continue
		}
		t, err := parseTime(string(a.v))
		if err != nil {
			return c, refuse(http.StatusBadRequest, "correction: %s: %v", a.name, err)
		}
		*a.dst = t.Unix()
	}
	if action != projections.CorrectAccuracy && c.Seq == 0 && (req.From == "" || req.To == "") {
		return c, refuse(http.StatusBadRequest, "correction: give a point (seq) or a range (from and to)")
	}
	if err := c.Validate(); err != nil {
		return c, refuse(http.StatusBadRequest, "%s", err.Error())
	}
	return c, nil
}

// correct checks c against the log and the corrections now, records it
// when it changes anything, and answers with the outcome.
func (s *Server) correct(r *http.Request, c projections.CorrectionCommand) (CorrectionResult, *correctionError) {
	dev := c.DeviceID()
	if c.Seq != 0 {
		e, err := eventAt(r.Context(), s.Log, c.Seq)
		if err != nil {
			return CorrectionResult{}, refuse(http.StatusBadRequest, "correction: there is no event %d in the log", c.Seq)
		}
		tst, err := projections.CheckPointOf(*s.Decoder, e, dev)
		if err != nil {
			return CorrectionResult{}, refuse(http.StatusBadRequest, "correction: nothing changed: %v", err)
		}
		c.Tst = tst
	}
	res := CorrectionResult{Corrections: s.proj(r).Corrections(dev)}
	changes, note, err := res.Corrections.Check(c)
	if err != nil {
		return res, refuse(http.StatusConflict, "%s", err.Error())
	}
	if changes {
		c.Issue = projections.NewIssue(issuer(ViewerFrom(r.Context())), s.now())
		payload, _ := json.Marshal(c)
		seq, err := s.Appender.Append(r.Context(), events.Event{
			Topic: projections.CorrectionTopic, Payload: payload, QoS: 1,
			Source: events.SourceAdmin, Received: s.now(),
		})
		if err != nil {
			return res, &correctionError{code: http.StatusServiceUnavailable, msg: "could not record the correction; try again", err: err}
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := s.projector.WaitFor(ctx, seq); err != nil {
			return res, refuse(http.StatusAccepted, "correction recorded as event %d; projections are catching up", seq)
		}
		res.Event, res.CommandID, res.Changed = seq, c.ID, true
		res.Corrections = s.proj(r).Corrections(dev)
	} else {
		res.Note = note
	}
	if dev != "" {
		if f, ok := s.proj(r).Friend(dev); ok {
			res.Location = f.Location
		}
	}
	return res, nil
}

// correctFromPage takes the history page's form: a row's button
// ("point" = hide:SEQ, unhide:SEQ or unhide-range:FROM:TO) or the form's
// own (op = hide-range, unhide-range, accuracy, accuracy-clear), then
// goes back to the page. Times of the form are the viewer's local times;
// "to" includes its whole minute.
func (s *Server) correctFromPage(w http.ResponseWriter, r *http.Request) {
	dev, cerr := s.correctionTarget(r)
	if cerr == nil && dev == "" {
		cerr = refuse(http.StatusNotFound, "no friend")
	}
	if cerr != nil {
		s.pageError(w, r, "history", cerr.code, cerr.msg, nil)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.pageError(w, r, "history", http.StatusBadRequest, "The form could not be read: "+err.Error(), nil)
		return
	}
	c, cerr := s.pageCommand(r, dev)
	if cerr == nil {
		_, cerr = s.correct(r, c)
	}
	if cerr != nil {
		s.pageError(w, r, "history", cerr.code, cerr.msg, cerr.err)
		return
	}
	home := historyURL(dev)
	back := r.PostForm.Get("back")
	if back != home && !strings.HasPrefix(back, home+"?") {
		back = home // only back to this page: never a redirect elsewhere
	}
	http.Redirect(w, r, back+"#corrections", http.StatusSeeOther)
}

func (s *Server) pageCommand(r *http.Request, dev projections.DeviceID) (projections.CorrectionCommand, *correctionError) {
	f := r.PostForm
	req := CorrectionRequest{Reason: strings.TrimSpace(f.Get("reason"))}
	if v := f.Get("point"); v != "" {
		op, arg, _ := strings.Cut(v, ":")
		switch op {
		case "hide", "unhide":
			n, err := strconv.ParseUint(arg, 10, 64)
			if err != nil || n == 0 {
				return projections.CorrectionCommand{}, refuse(http.StatusBadRequest, "%q does not name a point", v)
			}
			req.Seq = n
			return commandOf(op, dev, req)
		case "unhide-range":
			from, to, _ := strings.Cut(arg, ":")
			req.From, req.To = TimeArg(from), TimeArg(to)
			return commandOf(projections.CorrectUnhide, dev, req)
		}
		return projections.CorrectionCommand{}, refuse(http.StatusBadRequest, "%q is not a correction", v)
	}
	loc := views.ViewerLocation(r, s.now().Location())
	switch op := f.Get("op"); op {
	case "hide-range", "unhide-range":
		from, err1 := localTime(f.Get("hide_from"), loc)
		to, err2 := localTime(f.Get("hide_to"), loc)
		if err := errors.Join(err1, err2); err != nil {
			return projections.CorrectionCommand{}, refuse(http.StatusBadRequest, "Give the range to %s as a date and time: %v", strings.TrimSuffix(op, "-range"), err)
		}
		req.From, req.To = TimeArg(strconv.FormatInt(from.Unix(), 10)), TimeArg(strconv.FormatInt(to.Unix()+59, 10))
		return commandOf(strings.TrimSuffix(op, "-range"), dev, req)
	case "accuracy":
		n, err := strconv.Atoi(strings.TrimSpace(f.Get("max")))
		if err != nil || n <= 0 {
			return projections.CorrectionCommand{}, refuse(http.StatusBadRequest, "The accuracy limit is a number of metres, more than 0 (got %q)", f.Get("max"))
		}
		req.MaxM = n
		return commandOf(projections.CorrectAccuracy, dev, req)
	case "accuracy-clear":
		return commandOf(projections.CorrectAccuracy, dev, req)
	default:
		return projections.CorrectionCommand{}, refuse(http.StatusBadRequest, "%q is not a correction", op)
	}
}

// localTime reads a datetime-local value in loc.
func localTime(v string, loc *time.Location) (time.Time, error) {
	for _, layout := range localLayouts {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date and time", v)
}

// historyURL is dev's history page.
func historyURL(dev projections.DeviceID) string {
	user, device := dev.Split()
	return "/friends/" + url.PathEscape(user) + "/" + url.PathEscape(device)
}

// marked reads history with the hidden points (httpx.History): the
// history page shows them.
type marked struct {
	r interface {
		HistoryMarked(dev projections.DeviceID, from, to int64, fn func(projections.Point, *projections.Hidden) error) error
	}
}

func (m marked) History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	return m.r.HistoryMarked(dev, from, to, func(p projections.Point, _ *projections.Hidden) error { return fn(p) })
}

var errStop = errors.New("stop")

// eventAt reads event seq from the log.
func eventAt(ctx context.Context, log events.Reader, seq uint64) (events.Event, error) {
	var found *events.Event
	if seq > log.Head() {
		return events.Event{}, fmt.Errorf("event %d: past the end of the log", seq)
	}
	err := log.Scan(ctx, seq, func(e events.Event) error {
		if e.Seq == seq {
			found = &e
		}
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return events.Event{}, err
	}
	if found == nil {
		return events.Event{}, fmt.Errorf("event %d: not in the log", seq)
	}
	return *found, nil
}
