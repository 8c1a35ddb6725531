package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"tracker/events"
	"tracker/events/erasure"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// Eraser erases events for good and sets retention policies (serve's
// erasure.Eraser and the log).
type Eraser interface {
	Erase(ctx context.Context, req erasure.Request) (erasure.Result, error)
	SetRetention(ctx context.Context, user, keep, by string) (erasure.Policy, uint64, error)
	DefaultRetention() time.Duration
}

// eraseAPIRoutes are the admin API's erase and retention calls (inside
// the requireAdmin group of /api/v1).
func (s *Server) eraseAPIRoutes(r chi.Router) {
	r.Post("/admin/erase", s.eraseAPI)
	r.Post("/admin/retention", s.retentionAPI)
}

// erasePageRoutes are the admin erase page (inside a requireAdmin group).
func (s *Server) erasePageRoutes(r chi.Router) {
	r.Get("/admin/erase", s.erasePage)
	r.Post("/admin/erase", s.erasePagePost)
	r.Post("/admin/erase/retention", s.retentionPagePost)
}

// eraseBody is the body of POST /api/v1/admin/erase.
type eraseBody struct {
	User   string    `json:"user"`
	Device string    `json:"device,omitempty"`
	Before time.Time `json:"before,omitzero"`
}

func (s *Server) eraseAPI(w http.ResponseWriter, r *http.Request) {
	if s.Eraser == nil {
		s.httpError(w, r, http.StatusNotFound, "erasing is not available on this server", nil)
		return
	}
	var b eraseBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&b); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "want JSON {\"user\", \"device\", \"before\"}: "+err.Error(), nil)
		return
	}
	res, code, err := s.erase(r, erasure.Rule{User: strings.TrimSpace(b.User), Device: strings.TrimSpace(b.Device), Before: b.Before})
	if err != nil {
		s.httpError(w, r, code, err.Error(), err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}

// erase runs one rule for the request's admin; on failure it returns the
// status to answer.
func (s *Server) erase(r *http.Request, rule erasure.Rule) (erasure.Result, int, error) {
	if err := rule.Validate(); err != nil {
		return erasure.Result{}, http.StatusBadRequest, err
	}
	res, err := s.Eraser.Erase(r.Context(), erasure.Request{Rules: []erasure.Rule{rule}, By: issuer(ViewerFrom(r.Context()))})
	switch {
	case errors.Is(err, events.ErrDiskFull):
		return res, http.StatusServiceUnavailable, err
	case err != nil:
		return res, http.StatusInternalServerError, err
	}
	return res, http.StatusOK, nil
}

func (s *Server) retentionAPI(w http.ResponseWriter, r *http.Request) {
	if s.Eraser == nil {
		s.httpError(w, r, http.StatusNotFound, "retention is not available on this server", nil)
		return
	}
	var b struct {
		User string `json:"user"`
		Keep string `json:"keep"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&b); err != nil {
		s.httpError(w, r, http.StatusBadRequest, "want JSON {\"user\", \"keep\"}: "+err.Error(), nil)
		return
	}
	p, seq, err := s.Eraser.SetRetention(r.Context(), b.User, b.Keep, issuer(ViewerFrom(r.Context())))
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, events.ErrDiskFull) {
			code = http.StatusServiceUnavailable
		}
		s.httpError(w, r, code, err.Error(), nil)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, struct {
		erasure.Policy
		Seq uint64 `json:"seq"`
	}{p, seq})
}

func (s *Server) erasePageModel(r *http.Request) views.ErasePage {
	m := views.ErasePage{Page: s.pageFor(r, "Erase", "erase")}
	if s.Eraser != nil {
		m.DefaultRetention = erasure.FormatKeep(s.Eraser.DefaultRetention())
		m.Available = true
	}
	return m
}

func (s *Server) erasePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, views.ErasePageView(s.erasePageModel(r)))
}

// erasePagePost erases from the page's form and shows the outcome.
func (s *Server) erasePagePost(w http.ResponseWriter, r *http.Request) {
	m := s.erasePageModel(r)
	if err := r.ParseForm(); err != nil || !m.Available {
		s.pageError(w, r, "erase", http.StatusBadRequest, "The form could not be read.", err)
		return
	}
	m.Form = views.EraseForm{User: r.PostFormValue("user"), Device: r.PostFormValue("device"), Before: r.PostFormValue("before")}
	rule := erasure.Rule{User: strings.TrimSpace(m.Form.User), Device: strings.TrimSpace(m.Form.Device)}
	code := http.StatusOK
	if before := strings.TrimSpace(m.Form.Before); before != "" {
		t, err := time.ParseInLocation("2006-01-02T15:04", before, m.Now.Location())
		if err != nil {
			t, err = time.ParseInLocation(time.DateOnly, before, m.Now.Location())
		}
		if err != nil {
			m.Error, code = "The date is not one: use the date picker.", http.StatusBadRequest
		}
		rule.Before = t
	}
	if m.Error == "" && r.PostFormValue("confirm") != "yes" {
		m.Error, code = "Tick the box to confirm: an erasure cannot be undone.", http.StatusBadRequest
	}
	if m.Error == "" {
		res, c, err := s.erase(r, rule)
		if err != nil {
			m.Error, code = err.Error(), c
			if c >= 500 {
				s.Logger.Error("erase from the admin page failed", "err", err)
			}
		} else {
			m.Done = &res
			m.Form = views.EraseForm{}
		}
	}
	w.WriteHeader(code)
	s.render(w, r, views.ErasePageView(m))
}

// retentionPagePost sets a user's retention from the page's form.
func (s *Server) retentionPagePost(w http.ResponseWriter, r *http.Request) {
	m := s.erasePageModel(r)
	if err := r.ParseForm(); err != nil || !m.Available {
		s.pageError(w, r, "erase", http.StatusBadRequest, "The form could not be read.", err)
		return
	}
	user, keep := r.PostFormValue("user"), r.PostFormValue("keep")
	p, seq, err := s.Eraser.SetRetention(r.Context(), user, keep, issuer(ViewerFrom(r.Context())))
	code := http.StatusOK
	if err != nil {
		m.RetentionError, code = err.Error(), http.StatusBadRequest
		m.RetentionForm = views.RetentionForm{User: user, Keep: keep}
	} else {
		m.RetentionSet = &views.RetentionSet{User: p.User, Keep: p.Keep, Seq: seq}
	}
	w.WriteHeader(code)
	s.render(w, r, views.ErasePageView(m))
}
