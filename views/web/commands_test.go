package web_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"tracker/projections"
	"tracker/views/web"
)

// commandCycles is how often each command sequence is repeated;
// TRACKER_CYCLES raises it for the figures in the report.
func commandCycles(t *testing.T) int {
	if n, err := strconv.Atoi(os.Getenv("TRACKER_CYCLES")); err == nil && n > 0 {
		return n
	}
	return 3
}

// userAnswer is the API's answer to a user command.
type userAnswer struct {
	Seq       uint64 `json:"seq"`
	CommandID string `json:"command_id"`
	Name      string `json:"name"`
	Exists    bool   `json:"exists"`
	User      *struct {
		Admin      bool     `json:"admin"`
		Restricted bool     `json:"restricted"`
		Sees       []string `json:"sees"`
	} `json:"user"`
}

// userCommand posts c to the users API as root and returns the status
// and the decoded answer.
func (a *authStack) userCommand(t *testing.T, c projections.UserCommand) (int, userAnswer, string) {
	t.Helper()
	if c.Action == projections.UserAdd && c.Hash == "" {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		c.Hash = string(h)
	}
	b, _ := json.Marshal(c)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, a.locked.URL+"/api/v1/users", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("root", pw)
	res, body := send(t, req)
	var ans userAnswer
	if res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatalf("answer %s: %v", body, err)
		}
	}
	return res.StatusCode, ans, string(body)
}

// TestRepeatedUserCommandsApply: share carol with alice, with everybody,
// with alice again; remove, add, remove her. Every command applies, and
// each answer says what carol now is.
func TestRepeatedUserCommandsApply(t *testing.T) {
	a := newAuthStack(t)
	share := func(sees ...string) projections.UserCommand {
		return projections.UserCommand{Action: projections.UserShare, Name: "carol", Sees: sees, Everyone: len(sees) == 0}
	}
	ids := map[string]bool{}
	applied := 0
	step := func(c projections.UserCommand, exists bool, restricted bool, sees []string) {
		t.Helper()
		code, ans, body := a.userCommand(t, c)
		if code != http.StatusOK {
			t.Fatalf("%s carol: %d %s", c.Action, code, body)
		}
		if ans.Name != "carol" || ans.Exists != exists || ans.Seq == 0 || ans.CommandID == "" || ids[ans.CommandID] {
			t.Fatalf("%s carol answered %s; want exists=%v, a seq and a new command id", c.Action, body, exists)
		}
		ids[ans.CommandID] = true
		if exists && (ans.User == nil || ans.User.Restricted != restricted || !slices.Equal(ans.User.Sees, sees)) {
			t.Fatalf("%s carol answered %s; want restricted=%v sees %v", c.Action, body, restricted, sees)
		}
		u, ok := a.proj.User("carol")
		if ok != exists || (ok && (u.Restricted != restricted || !slices.Equal(u.Sees, sees))) {
			t.Fatalf("after %s: projections hold %+v (exists %v)", c.Action, u, ok)
		}
		applied++
	}
	n := commandCycles(t)
	for range n {
		step(share("alice"), true, true, []string{"alice"})
		step(share(), true, false, nil)
		step(share("alice"), true, true, []string{"alice"})
		step(projections.UserCommand{Action: projections.UserRemove, Name: "carol"}, false, false, nil)
		step(projections.UserCommand{Action: projections.UserAdd, Name: "carol"}, true, false, nil)
		step(projections.UserCommand{Action: projections.UserRemove, Name: "carol"}, false, false, nil)
		// 401, or 429 once the login limiter counts her failures.
		if res, _ := get(t, http.DefaultClient, a.locked.URL+"/api/v1/friends", "Authorization", basic("carol")); res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("removed carol logs in: %s", res.Status)
		}
		step(projections.UserCommand{Action: projections.UserAdd, Name: "carol"}, true, false, nil)
	}
	step(projections.UserCommand{Action: projections.UserRemove, Name: "carol"}, false, false, nil)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, a.locked.URL+"/api/v1/admin/rebuild", nil)
	req.SetBasicAuth("root", pw)
	if res, body := send(t, req); res.StatusCode != http.StatusOK {
		t.Fatalf("rebuild: %s %s", res.Status, body)
	}
	if _, ok := a.proj.User("carol"); ok {
		t.Fatal("carol is back after a rebuild")
	}
	t.Logf("%d user commands in %d cycles, all applied, also after a rebuild", applied, n)
}

// areaAnswer is the API's answer to an area command.
type areaAnswer struct {
	Name      string `json:"name"`
	Seq       uint64 `json:"seq"`
	CommandID string `json:"command_id"`
	Exists    bool   `json:"exists"`
	Removed   string `json:"removed"`
	Radius    float64
}

// TestRepeatedAreaCommandsApply: define Gym, remove it, define it again
// with the same definition, many times: every command applies, each
// answer says whether Gym exists, and a rebuild agrees.
func TestRepeatedAreaCommandsApply(t *testing.T) {
	st := newStack(t)
	const gym = `{"name":"Gym","center":{"lat":51.5,"lon":-0.12},"radius":75}`
	exists := func() bool {
		for _, ar := range st.proj.Areas() {
			if ar.ID == projections.ServerAreaID("Gym") {
				return true
			}
		}
		return false
	}
	ids := map[string]bool{}
	step := func(method, path, body string, wantCode int, want bool) {
		t.Helper()
		res, b := st.do(t, method, path, body)
		if res.StatusCode != wantCode {
			t.Fatalf("%s %s: %s %s", method, path, res.Status, b)
		}
		ans := decode[areaAnswer](t, b)
		if ans.Exists != want || ans.Seq == 0 || ans.CommandID == "" || ids[ans.CommandID] {
			t.Fatalf("%s %s answered %s, want exists=%v with a new command id", method, path, b, want)
		}
		ids[ans.CommandID] = true
		if want && (ans.Name != "Gym" || ans.Radius != 75) || !want && ans.Removed != "Gym" {
			t.Fatalf("%s %s answered %s", method, path, b)
		}
		if exists() != want {
			t.Fatalf("after %s %s: Gym exists = %v, want %v", method, path, !want, want)
		}
	}
	n := commandCycles(t)
	for range n {
		step(http.MethodPost, "/api/v1/areas", gym, http.StatusCreated, true)
		step(http.MethodDelete, "/api/v1/areas/Gym", "", http.StatusOK, false)
		step(http.MethodPost, "/api/v1/areas", gym, http.StatusCreated, true)
		step(http.MethodDelete, "/api/v1/areas/Gym", "", http.StatusOK, false)
	}
	step(http.MethodPost, "/api/v1/areas", gym, http.StatusCreated, true)
	if res, b := st.do(t, http.MethodPost, "/api/v1/admin/rebuild", ""); res.StatusCode != http.StatusOK {
		t.Fatalf("rebuild: %s %s", res.Status, b)
	}
	if !exists() {
		t.Fatal("Gym gone after a rebuild")
	}
	t.Logf("%d area commands in %d cycles, all applied, also after a rebuild", 4*n+1, n)
}

// TestLastAdminRefused: the API refuses to remove the only admin, or to
// re-add it as a viewer, with 409; with a second admin it may go.
func TestLastAdminRefused(t *testing.T) {
	a := newAuthStack(t)
	for _, c := range []projections.UserCommand{
		{Action: projections.UserRemove, Name: "root"},
		{Action: projections.UserAdd, Name: "root"},
	} {
		code, _, body := a.userCommand(t, c)
		if code != http.StatusConflict || !bytes.Contains([]byte(body), []byte("last admin")) {
			t.Errorf("%s root (the only admin): %d %s, want 409 naming the last admin", c.Action, code, body)
		}
	}
	if u, ok := a.proj.User("root"); !ok || !u.Admin {
		t.Fatalf("root after refused commands: %+v %v", u, ok)
	}
	if code, _, body := a.userCommand(t, projections.UserCommand{Action: projections.UserAdd, Name: "alice", Admin: true}); code != http.StatusOK {
		t.Fatalf("make alice admin: %d %s", code, body)
	}
	if code, ans, body := a.userCommand(t, projections.UserCommand{Action: projections.UserRemove, Name: "root"}); code != http.StatusOK || ans.Exists {
		t.Fatalf("remove root with alice as admin: %d %s", code, body)
	}
}

// TestNoUserLeftStaysLocked: a server started with users stays locked when
// the last one goes (here through events, as an old log or another tool
// could write them); a server started open locks for good at the first
// user.
func TestNoUserLeftStaysLocked(t *testing.T) {
	a := newAuthStack(t)
	for _, name := range []string{"alice", "carol", "root"} {
		a.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserRemove, Name: name}))
	}
	if a.proj.HasUsers() {
		t.Fatal("users left")
	}
	for _, path := range []string{"/api/v1/friends", "/api/v1/users"} {
		if res, body := get(t, http.DefaultClient, a.locked.URL+path); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous %s with no user left: %s %s, want 401", path, res.Status, body)
		}
	}
	if res, _ := get(t, client(), a.locked.URL+"/", "Accept", "text/html"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("anonymous page with no user left: %s, want a redirect to the login", res.Status)
	}
	res, _ := doURL(t, http.MethodPost, a.locked.URL+"/pub", `{"_type":"location","lat":1,"lon":2,"tst":1718000000}`)
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous /pub with no user left: %s, want 401", res.Status)
	}

	// Started open (no user, loopback): open until the first user.
	st := newStack(t)
	site := *st.site
	site.Auth = &web.Auth{Users: st.proj, Logger: site.Logger, Open: true}
	site.UserAdmin = st.proj
	open := httptest.NewServer(site.Routes())
	t.Cleanup(open.Close)
	if res, _ := get(t, http.DefaultClient, open.URL+"/api/v1/users"); res.StatusCode != http.StatusOK {
		t.Fatalf("open server: %s", res.Status)
	}
	st.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserAdd, Name: "root", Admin: true}))
	if res, _ := get(t, http.DefaultClient, open.URL+"/api/v1/users"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("open server after the first user: %s, want 401", res.Status)
	}
	st.appendAll(t, userEvent(t, projections.UserCommand{Action: projections.UserRemove, Name: "root"}))
	if res, _ := get(t, http.DefaultClient, open.URL+"/api/v1/users"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("open server after its only user was removed: %s, want 401 (never open again)", res.Status)
	}
}
