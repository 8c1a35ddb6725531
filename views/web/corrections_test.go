package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"net/http/httptest"

	"tracker/projections"
	"tracker/static"
	"tracker/views/web"
)

// bobRange is the fixture day, for every ranged read of bob.
var bobRange = "from=" + strconv.FormatInt(day.Unix(), 10) + "&to=" + strconv.FormatInt(day.Add(24*60*60*1e9).Unix(), 10)

// withPages serves st's site with its assets, for the pages.
func withPages(t *testing.T, st *stack) *stack {
	t.Helper()
	site := *st.site
	site.Assets = static.New()
	srv := httptest.NewServer(site.Routes())
	t.Cleanup(srv.Close)
	c := *st
	c.srv = srv
	return &c
}

// answers are every answer that tells where bob was or is, by name.
func answers(t *testing.T, st *stack) map[string]string {
	t.Helper()
	paths := map[string]string{
		"friends API":         "/api/v1/friends",
		"areas API":           "/api/v1/areas",
		"locations API":       "/api/v1/friends/bob/tablet/locations?" + bobRange,
		"area events API":     "/api/v1/friends/bob/tablet/areas?" + bobRange,
		"GPX":                 "/friends/bob/tablet/export.gpx?" + bobRange,
		"GeoJSON":             "/friends/bob/tablet/export.geojson?" + bobRange,
		"CSV":                 "/friends/bob/tablet/export.csv?" + bobRange,
		"/api/0/locations":    "/api/0/locations?user=bob&device=tablet&" + bobRange,
		"/api/0/last":         "/api/0/last",
		"dashboard":           "/",
		"history page":        "/friends/bob/tablet?" + bobRange,
		"HQ's comings/goings": "/areas",
	}
	out := map[string]string{}
	for name, p := range paths {
		res, body := st.do(t, http.MethodGet, p, "")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s: %s", name, res.Status, body)
		}
		out[name] = string(body)
	}
	return out
}

// bobPoints are bob's points as the locations API gives them.
func bobPoints(t *testing.T, st *stack) []projections.Point {
	t.Helper()
	_, body := st.do(t, http.MethodGet, "/api/v1/friends/bob/tablet/locations?"+bobRange, "")
	var got struct{ Points []projections.Point }
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	return got.Points
}

func correct(t *testing.T, st *stack, method, path, body string, wantCode int) web.CorrectionResult {
	t.Helper()
	res, b := st.do(t, method, path, body)
	if res.StatusCode != wantCode {
		t.Fatalf("%s %s %s: %s: %s, want %d", method, path, body, res.Status, b, wantCode)
	}
	var out web.CorrectionResult
	if wantCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestCorrectionsHideEverywhere: a hidden point is absent from every
// answer (the friends, areas and locations APIs, the history page's map
// and figures, the exports, the Recorder's /api/0/locations and
// /api/0/last, the areas), every answer is as before once it is shown
// again, and a rebuild gives the same projections.
func TestCorrectionsHideEverywhere(t *testing.T) {
	st := withPages(t, newStack(t))
	before := answers(t, st)
	pts := bobPoints(t, st)
	last := pts[len(pts)-1]
	if last.Tst != at(17, 30, 0) {
		t.Fatalf("bob's last point is at %d, want 17:30", last.Tst)
	}
	lastText, lastTime := strconv.FormatInt(last.Tst, 10), "2026-03-10T17:30:00"
	for name, body := range before {
		if name != "dashboard" && name != "HQ's comings/goings" && name != "areas API" && name != "area events API" && !strings.Contains(body, lastText) && !strings.Contains(body, lastTime) {
			t.Fatalf("%s does not show bob's 17:30 point before the test", name)
		}
	}

	// Hide bob's newest point: he is shown at 17:00 again.
	res := correct(t, st, http.MethodPost, "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d,"reason":"GPS jump"}`, last.Seq), http.StatusOK)
	if !res.Changed || res.Location == nil || res.Location.Tst != at(17, 0, 0) || len(res.Corrections.Points) != 1 || res.Corrections.Points[0].Reason != "GPS jump" {
		t.Fatalf("hide answered %+v, want changed, bob at 17:00, one hidden point with its reason", res)
	}
	hidden := answers(t, st)
	for name, body := range hidden {
		switch name {
		case "history page":
			// Listed, marked as hidden, for restoring; not on the map or in the figures.
			if !strings.Contains(body, `data-seq="`+strconv.FormatUint(last.Seq, 10)+`" class="point-hidden" data-hidden="point"`) {
				t.Errorf("history page does not mark the hidden point:\n%s", body)
			}
			if !strings.Contains(body, `data-testid="stat-points">19<`) {
				t.Errorf("history page still counts the hidden point")
			}
		case "dashboard", "HQ's comings/goings", "areas API":
		default:
			if strings.Contains(body, lastText) || strings.Contains(body, lastTime) {
				t.Errorf("%s still shows the hidden point:\n%s", name, body)
			}
		}
	}
	for _, name := range []string{"friends API", "/api/0/last"} {
		if !strings.Contains(hidden[name], strconv.FormatInt(at(17, 0, 0), 10)) {
			t.Errorf("%s does not show bob at 17:00 (the point before the hidden one):\n%s", name, hidden[name])
		}
	}

	// Hide his whole day: he has no position, HQ loses him, his
	// enter at HQ (made by a hidden fix) goes.
	res = correct(t, st, http.MethodPost, "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"from":"%d","to":%d}`, at(0, 0, 0), at(23, 59, 59)), http.StatusOK)
	if !res.Changed || res.Location != nil || len(res.Corrections.Ranges) != 1 {
		t.Fatalf("range hide answered %+v, want changed, no position", res)
	}
	all := answers(t, st)
	var areas []projections.AreaView
	if err := json.Unmarshal([]byte(all["areas API"]), &areas); err != nil {
		t.Fatal(err)
	}
	for _, a := range areas {
		for _, m := range a.Members {
			if m.Device == bobID && m.Geometry != nil {
				t.Errorf("area %s still has bob by his (hidden) position: %+v", a.Name, m)
			}
		}
	}
	if strings.Contains(all["area events API"], `"area":"s:hq"`) {
		t.Errorf("bob's HQ enter (made by a hidden fix) is still listed:\n%s", all["area events API"])
	}
	if strings.Contains(all["/api/0/last"], `"tablet"`) {
		t.Errorf("/api/0/last still has bob:\n%s", all["/api/0/last"])
	}
	for _, name := range []string{"GPX", "GeoJSON", "CSV", "/api/0/locations", "locations API"} {
		if strings.Contains(all[name], "2026-03-10T12:00:00") || strings.Contains(all[name], strconv.FormatInt(at(12, 0, 0), 10)) {
			t.Errorf("%s still has hidden points:\n%s", name, all[name])
		}
	}

	// Show everything again (the range unhide also shows the single
	// point in it): every answer is what it was.
	res = correct(t, st, http.MethodPost, "/api/v1/friends/bob/tablet/unhide", fmt.Sprintf(`{"from":%d,"to":%d}`, at(0, 0, 0), at(23, 59, 59)), http.StatusOK)
	if !res.Changed || res.Location == nil || res.Location.Tst != last.Tst || len(res.Corrections.Ranges)+len(res.Corrections.Points) != 0 {
		t.Fatalf("unhide answered %+v, want bob back at 17:30 and nothing hidden", res)
	}
	after := answers(t, st)
	for name, body := range before {
		if after[name] != body {
			t.Errorf("%s differs after unhide:\n%s", name, diffText(body, after[name]))
		}
	}

	// The same after a rebuild, at each step: hide again, rebuild.
	correct(t, st, http.MethodPost, "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d}`, last.Seq), http.StatusOK)
	hiddenAgain := answers(t, st)
	dump := func() string {
		var b bytes.Buffer
		if err := st.proj.Dump(func(k, v []byte) error { fmt.Fprintf(&b, "%q=%q\n", k, v); return nil }); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	live := dump()
	if r, body := st.do(t, http.MethodPost, "/api/v1/admin/rebuild", ""); r.StatusCode != http.StatusOK {
		t.Fatalf("rebuild: %s: %s", r.Status, body)
	}
	if rebuilt := dump(); rebuilt != live {
		t.Errorf("rebuilt projections differ from the live ones:\n%s", diffText(live, rebuilt))
	}
	for name, body := range answers(t, st) {
		if name == "history page" {
			continue // its corrections panel names the hide's event, which is the same; compared below
		}
		if hiddenAgain[name] != body {
			t.Errorf("%s differs after rebuild:\n%s", name, diffText(hiddenAgain[name], body))
		}
	}
}

// diffText shows the first differing line.
func diffText(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %.600s\n+ %.600s", i+1, x, y)
		}
	}
	return "(same)"
}

// TestCorrectionAttacks: only the owner or an admin corrects; a seq that
// is not the device's location changes nothing and says why; repeats
// change nothing; hostile reasons are escaped; huge ranges are refused.
func TestCorrectionAttacks(t *testing.T) {
	a := newAuthStack(t)
	pts := bobPoints(t, a.stack)
	bobSeq := pts[0].Seq
	var alicePts struct{ Points []projections.Point }
	_, body := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends/alice/phone/locations?"+bobRange, "Authorization", basic("root"))
	if err := json.Unmarshal([]byte(body), &alicePts); err != nil || len(alicePts.Points) == 0 {
		t.Fatalf("alice's points: %v %s", err, body)
	}
	aliceSeq := alicePts.Points[0].Seq
	send := func(user, method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, a.locked.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", basic(user))
		req.Header.Set("Content-Type", "application/json")
		res, b := sendReq(t, req)
		return res.StatusCode, string(b)
	}
	corrections := func(dev string) string {
		_, body := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends/"+dev+"/corrections", "Authorization", basic("root"))
		return body
	}
	clean := corrections("bob/tablet")
	cases := []struct {
		name, user, method, path, body string
		code                           int
		says                           string
	}{
		{"a viewer hides another's point", "carol", "POST", "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d}`, bobSeq), 403, "only bob or an admin"},
		{"a user hides another's point", "alice", "POST", "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d}`, bobSeq), 403, "only bob or an admin"},
		{"a user unhides another's range", "alice", "POST", "/api/v1/friends/bob/tablet/unhide", `{"from":1,"to":2}`, 403, "only bob"},
		{"a user sets another's threshold", "alice", "PUT", "/api/v1/friends/bob/tablet/accuracy", `{"max_m":5}`, 403, "only bob"},
		{"a user sets everyone's threshold", "alice", "PUT", "/api/v1/accuracy", `{"max_m":5}`, 403, ""},
		{"a viewer who cannot see the device", "carol", "POST", "/api/v1/friends/alice/phone/hide", fmt.Sprintf(`{"seq":%d}`, aliceSeq), 404, "no friend"},
		{"another device's point", "root", "POST", "/api/v1/friends/alice/phone/hide", fmt.Sprintf(`{"seq":%d}`, bobSeq), 400, "is from bob/tablet, not alice/phone"},
		{"a user event", "root", "POST", "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d}`, seqOfTopic(t, a.stack, projections.UserTopic)), 400, "server command, not a location"},
		{"a waypoint", "root", "POST", "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d}`, seqOfTopic(t, a.stack, "owntracks/bob/tablet/waypoint")), 400, "waypoint message, not a location"},
		{"a broken fix", "root", "POST", "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d}`, seqOfPayload(t, a.stack, `"lat":91.2`)), 400, "was not used"},
		{"past the log", "root", "POST", "/api/v1/friends/bob/tablet/hide", `{"seq":999999}`, 400, "no event 999999"},
		{"a huge range", "root", "POST", "/api/v1/friends/bob/tablet/hide", `{"from":0,"to":99999999999}`, 400, "at most 366 days"},
		{"an absurd range", "root", "POST", "/api/v1/friends/bob/tablet/hide", `{"from":"-5","to":"10"}`, 400, "plausible"},
		{"backwards", "root", "POST", "/api/v1/friends/bob/tablet/hide", `{"from":20,"to":10}`, 400, "after"},
		{"a point and a range", "root", "POST", "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d,"from":1,"to":2}`, bobSeq), 400, "not both"},
		{"nothing named", "root", "POST", "/api/v1/friends/bob/tablet/hide", `{}`, 400, "give a point"},
		{"a long reason", "root", "POST", "/api/v1/friends/bob/tablet/hide", fmt.Sprintf(`{"seq":%d,"reason":%q}`, bobSeq, strings.Repeat("x", 501)), 400, "at most 500"},
		{"a threshold out of range", "root", "PUT", "/api/v1/friends/bob/tablet/accuracy", `{"max_m":1000000}`, 400, "out of range"},
		{"a threshold of 0", "root", "PUT", "/api/v1/friends/bob/tablet/accuracy", `{"max_m":0}`, 400, "DELETE clears"},
		{"not JSON", "root", "POST", "/api/v1/friends/bob/tablet/hide", `{"seq":`, 400, "not valid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := send(c.user, c.method, c.path, c.body)
			if code != c.code || !strings.Contains(body, c.says) {
				t.Errorf("%s %s as %s: %d %q, want %d saying %q", c.method, c.path, c.user, code, body, c.code, c.says)
			}
		})
	}
	if got := corrections("bob/tablet"); got != clean {
		t.Errorf("refused corrections changed bob's: %s", got)
	}
	if got := corrections("alice/phone"); !strings.Contains(got, `"points":[]`) {
		t.Errorf("refused corrections changed alice's: %s", got)
	}

	// The owner may; repeats change nothing, and record nothing.
	hostile := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	head := a.log.Head()
	hide := fmt.Sprintf(`{"seq":%d,"reason":%q}`, aliceSeq, hostile)
	code, body := send("alice", "POST", "/api/v1/friends/alice/phone/hide", hide)
	if code != 200 || !strings.Contains(body, `"changed":true`) {
		t.Fatalf("alice hides her own point: %d %s", code, body)
	}
	once := corrections("alice/phone")
	for range 2 {
		code, body = send("alice", "POST", "/api/v1/friends/alice/phone/hide", hide)
		if code != 200 || !strings.Contains(body, `"changed":false`) || !strings.Contains(body, "already hidden") {
			t.Errorf("hiding again: %d %s, want 200, nothing changed, already hidden", code, body)
		}
	}
	if got := corrections("alice/phone"); got != once {
		t.Errorf("a repeated hide changed the corrections:\n%s\n%s", once, got)
	}
	if a.log.Head() != head+1 {
		t.Errorf("the log grew by %d events for one hide and two repeats, want 1", a.log.Head()-head)
	}
	// Its reason, on the history page, is text.
	_, page := get(t, http.DefaultClient, a.locked.URL+"/friends/alice/phone?"+bobRange, "Authorization", basic("alice"))
	if strings.Contains(page, hostile) || strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the hostile reason is not escaped on the history page")
	}
	// Root unhides it; twice is once.
	for i, want := range []string{`"changed":true`, `"changed":false`} {
		code, body = send("root", "POST", "/api/v1/friends/alice/phone/unhide", fmt.Sprintf(`{"seq":%d}`, aliceSeq))
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("unhide #%d: %d %s, want %s", i+1, code, body, want)
		}
	}
	if got := corrections("alice/phone"); !strings.Contains(got, `"points":[]`) {
		t.Errorf("after unhide alice still has hidden points: %s", got)
	}
	// Everyone's threshold is an admin's.
	if code, body := send("root", "PUT", "/api/v1/accuracy", `{"max_m":5,"reason":"tight"}`); code != 200 || !strings.Contains(body, `"changed":true`) {
		t.Errorf("root sets everyone's threshold: %d %s", code, body)
	}
	if got := corrections("bob/tablet"); !strings.Contains(got, `"all_max_acc":{"max":5`) {
		t.Errorf("everyone's threshold is not in bob's corrections: %s", got)
	}
	if code, body := send("root", "DELETE", "/api/v1/accuracy", ""); code != 200 || !strings.Contains(body, `"changed":true`) {
		t.Errorf("root clears everyone's threshold: %d %s", code, body)
	}
}

func sendReq(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	return send(t, req)
}

// seqOfTopic finds the first event on topic.
func seqOfTopic(t *testing.T, st *stack, topic string) uint64 {
	t.Helper()
	return seqWhere(t, st, func(topicOf string, _ []byte) bool { return topicOf == topic })
}

// seqOfPayload finds the first event whose payload holds s.
func seqOfPayload(t *testing.T, st *stack, s string) uint64 {
	t.Helper()
	return seqWhere(t, st, func(_ string, p []byte) bool { return bytes.Contains(p, []byte(s)) })
}

func seqWhere(t *testing.T, st *stack, match func(string, []byte) bool) uint64 {
	t.Helper()
	for seq := uint64(1); seq <= st.log.Head(); seq++ {
		e, err := st.log.Get(seq)
		if err != nil {
			t.Fatal(err)
		}
		if match(e.Topic, e.Payload) {
			return seq
		}
	}
	t.Fatal("no such event")
	return 0
}

// TestCorrectionThresholds: fixes less accurate than the device's limit,
// else the limit for all, are not used; clearing one gives them back.
func TestCorrectionThresholds(t *testing.T) {
	st := newStack(t)
	count := func() (int, *projections.Point) {
		t.Helper()
		f := friendOf(t, st, bobID)
		return len(bobPoints(t, st)), f.Location
	}
	n0, loc0 := count()
	if n0 != 20 || loc0 == nil {
		t.Fatalf("bob has %d points and position %v before, want 20 and one", n0, loc0)
	}
	steps := []struct {
		name, method, path, body string
		points                   int // bob's fixes have acc 12
	}{
		{"device limit below his fixes", "PUT", "/api/v1/friends/bob/tablet/accuracy", `{"max_m":10,"reason":"indoor"}`, 0},
		{"everyone's limit above, the device's first", "PUT", "/api/v1/accuracy", `{"max_m":20}`, 0},
		{"device limit cleared: everyone's applies", "DELETE", "/api/v1/friends/bob/tablet/accuracy", "", 20},
		{"everyone's below", "PUT", "/api/v1/accuracy", `{"max_m":5}`, 0},
		{"device limit above everyone's", "PUT", "/api/v1/friends/bob/tablet/accuracy", `{"max_m":50}`, 20},
		{"device limit cleared again", "DELETE", "/api/v1/friends/bob/tablet/accuracy", "", 0},
		{"everyone's cleared", "DELETE", "/api/v1/accuracy", "", 20},
	}
	for _, s := range steps {
		res := correct(t, st, s.method, s.path, s.body, http.StatusOK)
		n, loc := count()
		if !res.Changed || n != s.points || (n == 0) != (loc == nil) {
			t.Errorf("%s: changed %v, %d points, position %v; want %d points", s.name, res.Changed, n, loc, s.points)
		}
		if n == 20 && *loc != *loc0 {
			t.Errorf("%s: position %+v, want %+v as before", s.name, loc, loc0)
		}
	}
	// A poor fix arriving under a limit is kept in the log and not used.
	correct(t, st, "PUT", "/api/v1/friends/bob/tablet/accuracy", `{"max_m":200}`, http.StatusOK)
	poor := at(17, 45, 0)
	st.appendAll(t, ev("owntracks/bob/tablet", clockNow, fmt.Sprintf(`{"_type":"location","tid":"bt","lat":48.85,"lon":2.35,"tst":%d,"acc":5000}`, poor)))
	if n, loc := count(); n != 20 || loc.Tst == poor {
		t.Errorf("a fix of 5 km accuracy under a 200 m limit: %d points, position at %d", n, loc.Tst)
	}
	if _, body := st.do(t, "GET", "/api/0/last", ""); strings.Contains(string(body), "48.85") {
		t.Errorf("/api/0/last shows the poor fix: %s", body)
	}
	correct(t, st, "DELETE", "/api/v1/friends/bob/tablet/accuracy", "", http.StatusOK)
	if n, loc := count(); n != 21 || loc.Tst != poor {
		t.Errorf("limit cleared: %d points, position at %d; want 21 and the poor fix", n, loc.Tst)
	}
	// Clearing what is not set changes nothing, and says so.
	if res := correct(t, st, "DELETE", "/api/v1/friends/bob/tablet/accuracy", "", http.StatusOK); res.Changed || !strings.Contains(res.Note, "nothing to clear") {
		t.Errorf("clearing twice: %+v", res)
	}
}

func friendOf(t *testing.T, st *stack, id string) projections.FriendView {
	t.Helper()
	_, body := st.do(t, "GET", "/api/v1/friends", "")
	var fs []projections.FriendView
	if err := json.Unmarshal(body, &fs); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if string(f.ID) == id {
			return f
		}
	}
	t.Fatalf("no friend %s", id)
	return projections.FriendView{}
}

// TestCorrectionsFromThePage: the history page's form hides and restores
// a point, hides a range and sets a limit, for the owner; others get 403;
// it only ever goes back to the page.
func TestCorrectionsFromThePage(t *testing.T) {
	a := newAuthStack(t)
	var pts struct{ Points []projections.Point }
	_, body := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends/alice/phone/locations?"+bobRange, "Authorization", basic("root"))
	if err := json.Unmarshal([]byte(body), &pts); err != nil {
		t.Fatal(err)
	}
	seq := pts.Points[3].Seq
	page := "/friends/alice/phone?" + bobRange
	post := func(user string, form url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", a.locked.URL+"/friends/alice/phone/corrections", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basic(user))
		res, err := client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	history := func() string {
		t.Helper()
		_, body := get(t, http.DefaultClient, a.locked.URL+page, "Authorization", basic("alice"))
		return body
	}
	hiddenRow := `data-seq="` + strconv.FormatUint(seq, 10) + `" class="point-hidden"`
	if res := post("carol", url.Values{"point": {"hide:" + strconv.FormatUint(seq, 10)}}); res.StatusCode != http.StatusNotFound {
		t.Errorf("carol (who cannot see alice) posts: %s, want 404", res.Status)
	}
	if res := post("root", url.Values{"point": {"hide:" + strconv.FormatUint(seq, 10)}, "reason": {"bad fix"}, "back": {"https://evil.example/"}}); res.StatusCode != http.StatusSeeOther ||
		res.Header.Get("Location") != "/friends/alice/phone#corrections" {
		t.Errorf("hide from the page: %s to %q, want 303 to the page", res.Status, res.Header.Get("Location"))
	}
	if h := history(); !strings.Contains(h, hiddenRow) || !strings.Contains(h, "bad fix") || !strings.Contains(h, `data-testid="restore-point"`) {
		t.Errorf("the history page does not show the point as hidden, with its reason and Restore")
	}
	if res := post("alice", url.Values{"point": {"unhide:" + strconv.FormatUint(seq, 10)}, "back": {page}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page+"#corrections" {
		t.Errorf("restore from the page: %s to %q", res.Status, res.Header.Get("Location"))
	}
	if h := history(); strings.Contains(h, hiddenRow) || strings.Contains(h, `data-testid="show-hidden"`) {
		t.Errorf("the point is still hidden after Restore")
	}
	// A range in the viewer's local time (UTC here), "to" taking its whole minute.
	if res := post("alice", url.Values{"op": {"hide-range"}, "hide_from": {"2026-03-10T06:00"}, "hide_to": {"2026-03-10T06:30"}, "back": {page}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("hide a range from the page: %s", res.Status)
	}
	_, c := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends/alice/phone/corrections", "Authorization", basic("alice"))
	if want := fmt.Sprintf(`"from":%d,"to":%d`, at(6, 0, 0), at(6, 30, 59)); !strings.Contains(c, want) {
		t.Errorf("corrections after a page range hide: %s, want %s", c, want)
	}
	if h := history(); strings.Count(h, `data-hidden="range"`) != 3 || !strings.Contains(h, `data-testid="restore-range"`) {
		t.Errorf("the page does not show the range's three points as hidden")
	}
	for _, f := range []url.Values{
		{"op": {"accuracy"}, "max": {"abc"}},
		{"op": {"hide-range"}, "hide_from": {"yesterday"}, "hide_to": {"2026-03-10T06:30"}},
		{"point": {"hide:x"}},
		{"op": {"explode"}},
	} {
		if res := post("alice", f); res.StatusCode != http.StatusBadRequest {
			t.Errorf("form %v: %s, want 400", f, res.Status)
		}
	}
	if res := post("alice", url.Values{"op": {"accuracy"}, "max": {"5"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("set a limit from the page: %s", res.Status)
	}
	if h := history(); !strings.Contains(h, "less accurate than 5 m") || !strings.Contains(h, `data-testid="clear-accuracy"`) {
		t.Errorf("the page does not show the limit")
	}
	if res := post("alice", url.Values{"op": {"accuracy-clear"}}); res.StatusCode != http.StatusSeeOther {
		t.Errorf("clear the limit from the page: %s", res.Status)
	}
}
