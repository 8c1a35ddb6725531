package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tracker/events/badgerlog"
	"tracker/projections/visits/visitstest"
)

// TestVisitsAfterRebuild: a synthetic day in the log (jitter, a silent
// phone in the office, a drive with stops at lights) and the Office area,
// served by the real program on Badger: the visits are within a minute of
// the truth, the time in the office is the stays' (the 46 silent minutes
// are not credited, as they were), and after `tracker rebuild` the
// answers are the same, byte for byte.
func TestVisitsAfterRebuild(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	dayStart := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	day := visitstest.SyntheticDay(dayStart, 5)
	l, err := badgerlog.Open(dataDir(data).logDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	for _, e := range day.Events("ivy", "phone") {
		wg.Add(1)
		l.AppendAsync(e, func(_ uint64, err error) {
			if err != nil {
				failed.Store(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	circle := fmt.Sprintf("%g,%g,%g", visitstest.Office.Lat, visitstest.Office.Lon, visitstest.OfficeRadius)
	if err := run(t.Context(), []string{"area", "add", "Office", "--circle", circle, "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("area add: %v\n%s", err, errOut.String())
	}

	q := fmt.Sprintf("?from=%d&to=%d", dayStart.Unix(), dayStart.AddDate(0, 0, 1).Unix())
	read := func() (visitsBody, locationsBody string) {
		t.Helper()
		s := startServer(t, data)
		defer s.stop(t)
		base := "http://" + s.http + "/api/v1/friends/ivy/phone/"
		return getOK(t, base+"visits"+q), getOK(t, base+"locations"+q)
	}
	v1, l1 := read()

	vis, err := decodeJSON[struct {
		Segments []struct {
			Kind  string    `json:"kind"`
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
			Place *struct {
				Name string `json:"name"`
			} `json:"place"`
		} `json:"segments"`
	}](v1)
	if err != nil {
		t.Fatal(err)
	}
	if len(vis.Segments) != len(day.Truth) {
		t.Fatalf("%d segments, want %d: %s", len(vis.Segments), len(day.Truth), v1)
	}
	var inOffice time.Duration
	for i, s := range vis.Segments {
		w := day.Truth[i]
		if (s.Kind == "stay") != w.Stay || s.Start.Sub(w.Start).Abs() > time.Minute || s.End.Sub(w.End).Abs() > time.Minute {
			t.Errorf("segment %d: %s %s-%s, want %s %s-%s", i, s.Kind, s.Start.Format("15:04:05"), s.End.Format("15:04:05"),
				w.Name, w.Start.Format("15:04:05"), w.End.Format("15:04:05"))
		}
		if w.Name == "office" {
			if s.Place == nil || s.Place.Name != "Office" {
				t.Errorf("segment %d, in the office, has place %+v", i, s.Place)
			}
			inOffice += w.End.Sub(w.Start)
		}
	}
	loc, err := decodeJSON[struct {
		TimeInAreas []struct {
			Name    string  `json:"name"`
			Seconds float64 `json:"seconds"`
		} `json:"time_in_areas"`
	}](l1)
	if err != nil {
		t.Fatal(err)
	}
	if len(loc.TimeInAreas) != 1 || loc.TimeInAreas[0].Name != "Office" {
		t.Fatalf("time in areas: %s", l1)
	}
	// The office stays add up to 6 h 33 min. The area's time is a few
	// minutes less (a wild fix off by 250 m is outside the area for a
	// minute; the crossings add half an interval at each end) and the 46
	// silent minutes add nothing (they added all 46 before issue 16).
	got := time.Duration(loc.TimeInAreas[0].Seconds) * time.Second
	if d := got - inOffice; d < -8*time.Minute || d > 3*time.Minute {
		t.Errorf("time in the office: %s, the stays there %s", got, inOffice)
	}
	t.Logf("in the office: stays %s, time in area %s", inOffice, got)

	if err := run(t.Context(), []string{"rebuild", "--data", data}, &out, &errOut); err != nil {
		t.Fatalf("rebuild: %v\n%s", err, errOut.String())
	}
	v2, l2 := read()
	if v2 != v1 {
		t.Errorf("visits after rebuild differ:\nbefore %s\nafter  %s", v1, v2)
	}
	if l2 != l1 {
		t.Errorf("locations after rebuild differ")
	}
}

func getOK(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v %s", u, res.Status, err, b)
	}
	return string(b)
}

func decodeJSON[T any](s string) (T, error) {
	var v T
	err := json.Unmarshal([]byte(s), &v)
	return v, err
}
