package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tracker/projections"
	"tracker/views/notify"
)

// TestWebhookAnswers: how each answer of a receiver started by the test
// counts: 2xx delivered; 5xx, 429 and a stalled receiver retried; other
// 4xx and redirects refused for good; a non-admin's webhook on loopback
// refused for good unless private addresses are allowed; a huge answer
// is read only up to the cap.
func TestWebhookAnswers(t *testing.T) {
	huge := strings.Repeat("x", 10<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // read: the server then notices a client that leaves
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(huge))
		case "/busy":
			http.Error(w, "try later", http.StatusServiceUnavailable)
		case "/slow-down":
			w.WriteHeader(http.StatusTooManyRequests)
		case "/gone":
			http.Error(w, "no such hook", http.StatusNotFound)
		case "/moved":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
		case "/stall":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
	}))
	defer srv.Close()
	n := func(owner, path string) notify.Notification {
		return notify.Notification{ID: "r-1", Event: projections.NotifyArrive, Device: "ben/phone", Friend: "Ben", Text: "Ben arrived at Home",
			Rule: projections.NotifyRule{ID: "r", Owner: owner, On: projections.NotifyArrive, Webhook: srv.URL + path}}
	}
	admin := func(owner string) bool { return owner == "root" }
	strict := notify.NewWebhook(notify.Webhook{Admin: admin})
	open := notify.NewWebhook(notify.Webhook{AllowPrivate: true})
	for _, tc := range []struct {
		name      string
		w         *notify.Webhook
		n         notify.Notification
		wantErr   bool
		permanent bool
		contains  string
	}{
		{"2xx with a huge answer", open, n("anna", "/ok"), false, false, ""},
		{"admin may post to loopback", strict, n("root", "/ok"), false, false, ""},
		{"5xx is retried", open, n("anna", "/busy"), true, false, "503"},
		{"429 is retried", open, n("anna", "/slow-down"), true, false, "429"},
		{"404 is final", open, n("anna", "/gone"), true, true, "no such hook"},
		{"redirects are not followed", open, n("anna", "/moved"), true, true, "redirects are not followed"},
		{"a viewer may not post to loopback", strict, n("anna", "/ok"), true, true, "loopback"},
		{"a stalled receiver times out", open, n("anna", "/stall"), true, false, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			err := tc.w.Deliver(ctx, tc.n)
			if (err != nil) != tc.wantErr || notify.IsPermanent(err) != tc.permanent {
				t.Fatalf("err %v (permanent %v), want error %v, permanent %v", err, notify.IsPermanent(err), tc.wantErr, tc.permanent)
			}
			if err != nil && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err %q, want it to say %q", err, tc.contains)
			}
		})
	}
}

// TestFollowNeverBlocks: with the evaluator not running, Follow takes
// any number of changes at once; past its queue they are dropped and
// counted.
func TestFollowNeverBlocks(t *testing.T) {
	d := notify.New(notify.Options{})
	ch := projections.NewChanges()
	ch.AreaEvents = append(ch.AreaEvents, projections.AreaEvent{Seq: 1, Device: "ben/phone", AreaName: "Home", Event: "enter"})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 5000 {
			d.Follow(ch)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Follow blocked")
	}
	if s := d.Stats(); s.EvalDropped == 0 || s.EvalDropped > 5000 {
		t.Errorf("dropped %d changes, want some and at most 5000", s.EvalDropped)
	}
}
