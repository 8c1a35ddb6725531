package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"tracker/projections/geo"
	"tracker/projections/visits"
	"tracker/projections/visits/visitstest"
)

// visitDay is the synthetic day ann/phone lives in these tests, a week
// before the stack's clock.
var visitDay = day.AddDate(0, 0, -7)

// newVisitStack is the auth stack with ann's synthetic days (visitDay and
// the two before), the server area Office round her office, and a
// geocoder that knows only the café's neighbourhood.
func newVisitStack(t *testing.T) (*authStack, *httptest.Server) {
	t.Helper()
	a := newAuthStack(t)
	for i := range 3 {
		a.appendAll(t, visitstest.SyntheticDay(visitDay.AddDate(0, 0, -i), uint64(i)).Events("ann", "phone")...)
	}
	body := fmt.Sprintf(`{"name":"Office","center":{"lat":%g,"lon":%g},"radius":%g}`, visitstest.Office.Lat, visitstest.Office.Lon, visitstest.OfficeRadius)
	if res, b := a.do(t, http.MethodPost, "/api/v1/areas", body); res.StatusCode != http.StatusCreated {
		t.Fatalf("define Office: %s %s", res.Status, b)
	}
	site := *a.site
	site.PlaceAddress = func(p geo.Point) (string, string, bool) {
		if geo.Distance(p, visitstest.Cafe) < 500 {
			return "Schaerbeek", "BE", true
		}
		return "", "", false
	}
	srv := httptest.NewServer(site.Routes())
	t.Cleanup(srv.Close)
	return a, srv
}

type visitsJSON struct {
	Device string `json:"device"`
	Config struct {
		RadiusM  float64 `json:"radius_m"`
		MinStayS float64 `json:"min_stay_s"`
		MaxGapS  float64 `json:"max_gap_s"`
	} `json:"config"`
	Segments []visits.Segment `json:"segments"`
}

func visitsPath(from, to time.Time) string {
	return "/api/v1/friends/ann/phone/visits?" + url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}.Encode()
}

// TestFriendVisits: the synthetic day through the API, as the history
// reads it: stays and journeys within a minute of the truth, the office
// named by its server area, the café by the geocoder, home by nothing;
// a viewer the sharing matrix keeps from ann learns nothing; hidden
// fixes are left out; ranges are bounded.
func TestFriendVisits(t *testing.T) {
	a, srv := newVisitStack(t)
	day := visitstest.SyntheticDay(visitDay, 0)
	fetch := func(t *testing.T, user, path string, code int) visitsJSON {
		t.Helper()
		res, body := get(t, http.DefaultClient, srv.URL+path, "Authorization", basic(user))
		if res.StatusCode != code {
			t.Fatalf("GET %s as %s: %s %s, want %d", path, user, res.Status, body, code)
		}
		var v visitsJSON
		if code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatal(err)
			}
		}
		return v
	}
	v := fetch(t, "root", visitsPath(visitDay, visitDay.AddDate(0, 0, 1)), http.StatusOK)
	if v.Device != "ann/phone" || v.Config.RadiusM != 100 || v.Config.MinStayS != 300 || v.Config.MaxGapS != 1800 {
		t.Errorf("answer: %+v", v)
	}
	if len(v.Segments) != len(day.Truth) {
		t.Fatalf("%d segments, want %d: %+v", len(v.Segments), len(day.Truth), v.Segments)
	}
	for i, s := range v.Segments {
		w := day.Truth[i]
		if (s.Kind == visits.KindStay) != w.Stay || s.Start.Sub(w.Start).Abs() > time.Minute || s.End.Sub(w.End).Abs() > time.Minute {
			t.Errorf("segment %d: %s %s-%s, want %s %s-%s", i, s.Kind, s.Start.Format("15:04:05"), s.End.Format("15:04:05"), w.Name, w.Start.Format("15:04:05"), w.End.Format("15:04:05"))
		}
		var want *visits.Place
		switch w.Name {
		case "office":
			want = &visits.Place{Kind: visits.PlaceArea, Area: "s:office", Name: "Office"}
		case "cafe":
			want = &visits.Place{Kind: visits.PlaceAddress, Name: "Schaerbeek", CC: "BE"}
		}
		if got := s.Place; (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("segment %d (%s): place %+v, want %+v", i, w.Name, got, want)
		}
	}

	t.Run("a viewer who may not see ann", func(t *testing.T) {
		fetch(t, "carol", visitsPath(visitDay, visitDay.AddDate(0, 0, 1)), http.StatusNotFound)
	})
	t.Run("bounded range", func(t *testing.T) {
		res, body := get(t, http.DefaultClient, srv.URL+visitsPath(visitDay.AddDate(0, 0, -40), visitDay), "Authorization", basic("root"))
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "at most 31 days") {
			t.Errorf("40 days: %s %s", res.Status, body)
		}
		fetch(t, "root", visitsPath(visitDay.AddDate(0, 0, -31), visitDay), http.StatusOK)
	})
	t.Run("hidden fixes are left out", func(t *testing.T) {
		// The owner of the history hides the café stay's fixes.
		cafe := day.Truth[5]
		if cafe.Name != "cafe" {
			t.Fatalf("truth 5 is %+v", cafe)
		}
		body := fmt.Sprintf(`{"from":%d,"to":%d,"reason":"test"}`, cafe.Start.Unix(), cafe.End.Unix())
		if res, b := a.do(t, http.MethodPost, "/api/v1/friends/ann/phone/hide", body); res.StatusCode != http.StatusOK {
			t.Fatalf("hide: %s %s", res.Status, b)
		}
		v := fetch(t, "root", visitsPath(visitDay, visitDay.AddDate(0, 0, 1)), http.StatusOK)
		for _, s := range v.Segments {
			if s.Kind == visits.KindStay && geo.Distance(*s.Centre, visitstest.Cafe) < 200 {
				t.Errorf("the café stay is still there: %+v", s)
			}
		}
	})
}

// TestSuggestedPlaces: admins are offered home (four stays: the nights
// join the evening to the next morning) and the café (three), over the
// three days; the office is an area already; viewers are
// refused; naming the café through the areas API takes it off the list.
func TestSuggestedPlaces(t *testing.T) {
	a, srv := newVisitStack(t)
	type answer struct {
		Days        int                 `json:"days"`
		Suggestions []visits.Suggestion `json:"suggestions"`
	}
	fetch := func(t *testing.T) answer {
		t.Helper()
		res, body := get(t, http.DefaultClient, srv.URL+"/api/v1/places/suggested", "Authorization", basic("root"))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("suggested: %s %s", res.Status, body)
		}
		var v answer
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := fetch(t)
	if v.Days != 30 || len(v.Suggestions) != 2 {
		t.Fatalf("suggestions: %+v, want home and the café", v)
	}
	home, cafe := v.Suggestions[0], v.Suggestions[1]
	if geo.Distance(home.Centre, visitstest.Home) > 20 || home.Stays != 4 || len(home.Devices) != 1 || home.Devices[0] != "ann/phone" {
		t.Errorf("home: %+v", home)
	}
	if geo.Distance(cafe.Centre, visitstest.Cafe) > 20 || cafe.Stays != 3 || cafe.Address != "Schaerbeek" {
		t.Errorf("café: %+v", cafe)
	}

	for _, c := range []struct{ user, path string }{{"carol", "/api/v1/places/suggested"}, {"alice", "/api/v1/places/suggested"}} {
		if res, body := get(t, http.DefaultClient, srv.URL+c.path, "Authorization", basic(c.user)); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s %s, want 403", c.user, res.Status, body)
		}
	}
	if res, body := get(t, http.DefaultClient, srv.URL+"/api/v1/places/suggested?device=bob/tablet", "Authorization", basic("root")); res.StatusCode != http.StatusOK || !strings.Contains(body, `"suggestions":[]`) {
		t.Errorf("only bob's tablet: %s %s", res.Status, body)
	}
	if res, _ := get(t, http.DefaultClient, srv.URL+"/api/v1/places/suggested?device=nobody/x", "Authorization", basic("root")); res.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown device: %s, want 404", res.Status)
	}
	for _, q := range []string{"0", "91", "x"} {
		if res, _ := get(t, http.DefaultClient, srv.URL+"/api/v1/places/suggested?days="+q, "Authorization", basic("root")); res.StatusCode != http.StatusBadRequest {
			t.Errorf("days=%s: %s, want 400", q, res.Status)
		}
	}

	body := fmt.Sprintf(`{"name":"Café","center":{"lat":%g,"lon":%g},"radius":%g}`, cafe.Centre.Lat, cafe.Centre.Lon, cafe.Radius)
	if res, b := a.do(t, http.MethodPost, "/api/v1/areas", body); res.StatusCode != http.StatusCreated {
		t.Fatalf("name the café: %s %s", res.Status, b)
	}
	if v := fetch(t); len(v.Suggestions) != 1 || geo.Distance(v.Suggestions[0].Centre, visitstest.Home) > 20 {
		t.Errorf("after naming the café: %+v", v.Suggestions)
	}
}
