package web_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events"
	"tracker/projections"
	"tracker/views/web"
)

// TestFarFutureDatesAre400: a date beyond what the API can answer about
// (after 9999-12-31, before 1970, huge Unix numbers) is a 400 with the
// reason, on every read that takes a range, never a recovered panic or a
// 200 with an empty or cut-off body.
func TestFarFutureDatesAre400(t *testing.T) {
	a := newAuthStack(t)
	loc := "/api/v1/friends/alice/phone/locations"
	areas := "/api/v1/friends/alice/phone/areas"
	hist := "/friends/alice/phone"
	rec := "/api/0/locations?user=alice&device=phone"
	for _, path := range []string{
		loc + "?from=99999-01-01",
		loc + "?from=9999-12-31T23:00:00Z",
		loc + "?from=9999-12-31T00:00:00Z",
		loc + "?to=99999999999",
		loc + "?from=-1",
		areas + "?from=9999-12-31T23:00:00Z",
		hist + "?from=9999-12-31",
		hist + "?from=99999-01-01",
		hist + "/export.gpx?from=9999-12-31",
		hist + "/export.geojson?from=9999-12-31T23:30:00Z",
		hist + "/export.csv?from=9999-12-31",
		rec + "&to=9223372036854775807",
		rec + "&from=9223372036854775000&to=9223372036854775807",
		rec + "&from=0000-01-01&to=9999-12-31",
		rec + "&to=9223372036854775807&limit=5",
		"/api/0/list?user=alice&device=phone&to=9223372036854775807",
	} {
		res, body := get(t, http.DefaultClient, a.locked.URL+path, "Authorization", basic("root"))
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %s %.200q, want 400", path, res.Status, body)
			continue
		}
		if !strings.Contains(body, "9999") && !strings.Contains(body, "days") && !strings.Contains(body, "plausible") {
			t.Errorf("GET %s: 400 without a reason: %.200q", path, body)
		}
	}
}

// TestReadRangeCaps: every read of a range is bounded (README, "Limits
// of the read API"); a longer one is a 400 saying how long it may be.
func TestReadRangeCaps(t *testing.T) {
	a := newAuthStack(t)
	long := "from=2024-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"
	for _, path := range []string{
		"/api/v1/friends/alice/phone/locations?" + long,
		"/api/v1/friends/alice/phone/areas?" + long,
		"/friends/alice/phone/export.gpx?" + long,
		"/api/0/locations?user=alice&device=phone&" + long,
	} {
		res, body := get(t, http.DefaultClient, a.locked.URL+path, "Authorization", basic("root"))
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "366 days") {
			t.Errorf("GET %s: %s %.200q, want 400 naming the 366-day cap", path, res.Status, body)
		}
	}
	// The Recorder's ?limit= reads back from ?to= whatever the range.
	res, body := get(t, http.DefaultClient, a.locked.URL+"/api/0/locations?user=alice&device=phone&limit=3&"+long, "Authorization", basic("root"))
	if res.StatusCode != http.StatusOK {
		t.Errorf("Recorder ?limit=3 with a long range: %s %.200q", res.Status, body)
	}
}

// failingProjections is the real projector, whose history reads fail
// after `after` points, as a garbled block found mid-read would.
type failingProjections struct {
	web.Projections
	after int
	n     *atomic.Int64 // points passed on so far, over all reads
}

var errGarbled = errors.New("garbled block (injected)")

func (f failingProjections) History(dev projections.DeviceID, from, to int64, fn func(projections.Point) error) error {
	return f.Projections.History(dev, from, to, func(p projections.Point) error {
		if f.n.Add(1) > int64(f.after) {
			return errGarbled
		}
		return fn(p)
	})
}

// failingLog is the real log, whose scans fail after `after` events.
type failingLog struct {
	events.Reader
	after int
}

func (f failingLog) Scan(ctx context.Context, from uint64, fn func(events.Event) error) error {
	n := 0
	return f.Reader.Scan(ctx, from, func(e events.Event) error {
		if n == f.after {
			return errGarbled
		}
		n++
		return fn(e)
	})
}

// TestReadFailureMidResponseIsAnError: when a read fails while the answer
// is being streamed, the client sees an error (a 500 when nothing was
// sent yet, else a transfer cut off without its last chunk), never a 200
// whose body merely ends early.
func TestReadFailureMidResponseIsAnError(t *testing.T) {
	st := newStack(t)
	// A long day for alice: one fix every 10 s from 00:00, so the answers
	// outgrow the write buffers before the read fails.
	var evs []events.Event
	for i := range 3000 {
		tst := day.Add(time.Duration(i) * 10 * time.Second).Unix()
		evs = append(evs, ev("owntracks/alice/phone", time.Unix(tst+1, 0), string(locationPayload("al", home, tst))))
	}
	st.appendAll(t, evs...)

	serve := func(after int) *httptest.Server {
		deps := st.site.Deps
		deps.Projections = failingProjections{Projections: st.proj, after: after, n: new(atomic.Int64)}
		deps.Log = failingLog{Reader: st.log, after: after}
		deps.Metrics = nil // a registry of its own
		srv := httptest.NewServer(web.New(deps).Routes())
		t.Cleanup(srv.Close)
		return srv
	}
	q := "from=2026-03-10T00:00:00Z&to=2026-03-11T00:00:00Z"
	paths := []string{
		"/api/v1/friends/alice/phone/locations?" + q,
		"/friends/alice/phone/export.gpx?" + q,
		"/friends/alice/phone/export.geojson?" + q,
		"/friends/alice/phone/export.csv?" + q,
		"/api/0/locations?user=alice&device=phone&" + q,
		"/api/0/locations?user=alice&device=phone&format=gpx&" + q,
		"/api/v1/events",
		"/api/v1/export",
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			late, early := serve(2500), serve(0)
			// Failing late: the status is out; the transfer must break.
			res, err := http.Get(late.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && err == nil {
				t.Errorf("read failed after 2500 items: 200 with a complete-looking body of %d bytes, want a broken transfer", len(body))
			} else {
				t.Logf("late failure: %s, %d bytes, read error %v", res.Status, len(body), err)
			}
			// Failing at once: a plain 500.
			res, err = http.Get(early.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusInternalServerError || res.Header.Get("Content-Disposition") != "" {
				t.Errorf("read failed at once: %s (Content-Disposition %q) %.100q, want 500 without a download", res.Status, res.Header.Get("Content-Disposition"), body)
			}
		})
	}
}
