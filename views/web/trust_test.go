package web_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"tracker/projections"
	"tracker/views/web"
)

// trustStack is the auth stack's data served by a site behind a reverse
// proxy on loopback (--trusted-proxy 127.0.0.1), so requests can say
// which client they come from with X-Forwarded-For.
type trustStack struct {
	*authStack
	srv *httptest.Server
}

func newTrustStack(t *testing.T, allowedHosts ...string) *trustStack {
	t.Helper()
	a := newAuthStack(t)
	site := *a.site
	proxies, err := web.ParseTrustedProxies([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	site.Auth = &web.Auth{Users: a.proj, Sessions: a.sessions, Logger: slog.New(slog.DiscardHandler), TrustedProxies: proxies}
	site.AllowedHosts = allowedHosts
	ts := &trustStack{authStack: a, srv: httptest.NewServer(site.Routes())}
	t.Cleanup(ts.srv.Close)
	return ts
}

// req sends method path with the given header pairs and returns the status.
func (ts *trustStack) req(t *testing.T, method, path string, body []byte, header ...string) (int, string) {
	t.Helper()
	res, b := postPubMethod(t, method, ts.srv.URL+path, body, header...)
	return res.StatusCode, string(b)
}

func postPubMethod(t *testing.T, method, u string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	return send(t, req)
}

func basicWith(user, password string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

func TestClientIPBehindTrustedProxy(t *testing.T) {
	proxies, err := web.ParseTrustedProxies([]string{"127.0.0.1, 10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	a := &web.Auth{TrustedProxies: proxies}
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy: the peer", "203.0.113.7:4000", nil, "203.0.113.7"},
		{"untrusted peer: header ignored", "203.0.113.7:4000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted peer: its entry", "127.0.0.1:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"spoofed left-most entry ignored", "127.0.0.1:4000", []string{"127.0.0.1, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies skipped", "127.0.0.1:4000", []string{"6.6.6.6, 198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"several headers are one list", "[::1]:4000", []string{"6.6.6.6", "198.51.100.1", "10.1.2.3"}, "198.51.100.1"},
		{"entries with ports", "127.0.0.1:4000", []string{"[2001:db8::5]:1234"}, "2001:db8::5"},
		{"every hop trusted: the left-most", "127.0.0.1:4000", []string{"10.0.0.9, 10.0.0.8"}, "10.0.0.9"},
		{"no header: the proxy", "127.0.0.1:4000", nil, "127.0.0.1"},
		{"garbage from the proxy", "127.0.0.1:4000", []string{"1.2.3.4, not-an-address"}, "invalid-x-forwarded-for"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
			req.RemoteAddr = c.remote
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := a.ClientIP(req); got != c.want {
				t.Errorf("ClientIP = %q, want %q", got, c.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, c := range []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{[]string{"10.0.0.0/8", "192.0.2.1"}, []string{"10.0.0.0/8", "192.0.2.1/32"}, false},
		{[]string{"10.0.0.0/8,2001:db8::/32"}, []string{"10.0.0.0/8", "2001:db8::/32"}, false},
		{[]string{"true"}, []string{"127.0.0.0/8", "::1/128"}, false}, // the old switch: a proxy on this machine
		{[]string{"false"}, nil, false},
		{[]string{"proxy.example"}, nil, true},
		{[]string{"10.0.0.0/33"}, nil, true},
	} {
		got, err := web.ParseTrustedProxies(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseTrustedProxies(%q) error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if fmt.Sprint(s) != fmt.Sprint(c.want) {
			t.Errorf("ParseTrustedProxies(%q) = %v, want %v", c.in, s, c.want)
		}
	}
}

// TestForwardedForSpoofRefused: a client behind the trusted proxy cannot
// pass for loopback (to read /metrics) nor get a fresh login budget by
// rotating the left-most X-Forwarded-For entry.
func TestForwardedForSpoofRefused(t *testing.T) {
	ts := newTrustStack(t)
	const proxyAdds = ", 198.51.100.7" // what the proxy appends: the real client
	for _, path := range []string{"/metrics", "/readyz"} {
		if code, _ := ts.req(t, http.MethodGet, path, nil, "X-Forwarded-For", "127.0.0.1"+proxyAdds); code != http.StatusUnauthorized {
			t.Errorf("%s with X-Forwarded-For: 127.0.0.1%s: %d, want 401", path, proxyAdds, code)
		}
	}
	if code, _ := ts.req(t, http.MethodGet, "/metrics", nil); code != http.StatusOK {
		t.Errorf("/metrics from the loopback proxy itself: %d, want 200", code)
	}
	for i := range 6 {
		code, body := ts.req(t, http.MethodGet, "/api/v1/friends", nil,
			"Authorization", basicWith("carol", "guess"), "X-Forwarded-For", fmt.Sprintf("10.9.8.%d%s", i, proxyAdds))
		if i == 5 && code != http.StatusTooManyRequests {
			t.Errorf("6th guess with a rotated X-Forwarded-For: %d %s, want 429", code, body)
		}
	}
}

// TestGuesserCannotLockOutPhone: someone who knows alice's name and
// guesses her password from elsewhere does not stop her phone (HTTP mode,
// Basic auth, at the address it has been posting from) from posting; a
// login from a new address waits, and the guesser's address is limited.
func TestGuesserCannotLockOutPhone(t *testing.T) {
	ts := newTrustStack(t)
	const phone = "192.0.2.10"
	post := func(password, from string) int {
		t.Helper()
		code, _ := ts.req(t, http.MethodPost, "/pub", iosLocation("al", clockNow.Unix(), ""),
			"Authorization", basicWith("alice", password), "X-Limit-D", "phone", "Content-Type", "application/json",
			"X-Forwarded-For", from)
		return code
	}
	if code := post(pw, phone); code != http.StatusOK {
		t.Fatalf("phone's first post: %d", code)
	}
	// Five wrong passwords from five addresses, then five more from one.
	for i := range 5 {
		if code := post("guess", fmt.Sprintf("203.0.113.%d", i)); code != http.StatusUnauthorized {
			t.Errorf("guess %d: %d, want 401", i, code)
		}
	}
	for range 5 {
		post("guess", "198.51.100.66")
	}
	if code := post(pw, phone); code != http.StatusOK {
		t.Errorf("phone's post with the right password after 10 guesses from elsewhere: %d, want 200", code)
	}
	if code := post(pw, "198.51.100.200"); code != http.StatusTooManyRequests {
		t.Errorf("right password from an address never used by alice, during the guessing: %d, want 429", code)
	}
	if code := post("guess", "198.51.100.66"); code != http.StatusTooManyRequests {
		t.Errorf("guesser's address: %d, want 429", code)
	}
	// Known addresses still have their own budget: five wrong passwords
	// from the phone's address block it.
	for range 5 {
		post("wrong", phone)
	}
	if code := post(pw, phone); code != http.StatusTooManyRequests {
		t.Errorf("after 5 failures from the phone's own address: %d, want 429", code)
	}
}

// TestLoginLimiterShared: the limits hold across HTTP and Auth.Check's
// other callers (the MQTT broker), and per address across user names.
func TestLoginLimiterShared(t *testing.T) {
	a := newAuthStack(t)
	now := clockNow
	auth := &web.Auth{Users: a.proj, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	// Per address: 20 failures over any names, then refused.
	for i := range 20 {
		if _, err := auth.Check(fmt.Sprintf("nobody%d", i), "x", "198.51.100.9:1883"); err == nil || strings.Contains(err.Error(), "too many") {
			t.Fatalf("failure %d: %v", i, err)
		}
	}
	if _, err := auth.Check("root", pw, "198.51.100.9"); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Errorf("21st login from one address: %v, want too many", err)
	}
	// An IPv6 address's whole /64 counts as one address.
	for i := range 20 {
		auth.Check(fmt.Sprintf("nobody%d", i), "x", fmt.Sprintf("[2001:db8:1:2::%x]:1883", i+1))
	}
	if _, err := auth.Check("root", pw, "2001:db8:1:2::ffff"); err == nil || !strings.Contains(err.Error(), "too many") {
		t.Errorf("login from the same /64 after 20 failures there: %v, want too many", err)
	}
	// After the window, allowed again.
	now = now.Add(5*time.Minute + time.Second)
	if _, err := auth.Check("root", pw, "198.51.100.9"); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

// TestFailedLoginCostsTheSame: a wrong password for an unknown user goes
// through bcrypt like one for a real user, so the answer's timing does
// not reveal who exists. Measured as memory allocated (bcrypt's key setup
// allocates its tables), which is deterministic; BenchmarkFailedLogin
// gives the times.
func TestFailedLoginCostsTheSame(t *testing.T) {
	users := costUsers(t, bcrypt.MinCost)
	allocated := func(name string) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range 4 {
			auth := &web.Auth{Users: users, Logger: slog.New(slog.DiscardHandler)}
			if _, err := auth.Check(name, "wrong", fmt.Sprintf("192.0.2.%d", i)); err == nil {
				t.Fatal("wrong password accepted")
			}
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	known, unknown := allocated("anna"), allocated("nobody")
	if unknown < known/2 {
		t.Errorf("failed login for an unknown user allocates %d bytes, a known user's %d: the unknown one skips bcrypt", unknown, known)
	}
}

// BenchmarkFailedLogin reports how long a failed login takes for a known
// and an unknown user, with passwords hashed at the server's cost.
func BenchmarkFailedLogin(b *testing.B) {
	users := costUsers(b, bcrypt.DefaultCost)
	for _, name := range []string{"anna", "nobody"} {
		b.Run(name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				auth := &web.Auth{Users: users, Logger: slog.New(slog.DiscardHandler)}
				auth.Check(name, "wrong", fmt.Sprintf("192.0.2.%d", i%250))
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/login")
		})
	}
}

// userMap is a fixed set of accounts.
type userMap map[string]projections.User

func (m userMap) User(name string) (projections.User, bool) { u, ok := m[name]; return u, ok }
func (m userMap) HasUsers() bool                            { return len(m) > 0 }

// costUsers holds one user, anna, with a password hashed at cost.
func costUsers(tb testing.TB, cost int) userMap {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		tb.Fatal(err)
	}
	return userMap{"anna": {Name: "anna", Hash: string(h)}}
}

// TestHostCheck: a request whose Host is not one of the server's names is
// refused (DNS rebinding); the server's names, loopback and addresses are
// served.
func TestHostCheck(t *testing.T) {
	ts := newTrustStack(t, "where.example.org", "tracker.lan:8080")
	for _, c := range []struct {
		host, path string
		want       int
	}{
		{"rebind.attacker.example", "/api/v1/friends", http.StatusMisdirectedRequest},
		{"rebind.attacker.example:8080", "/metrics", http.StatusMisdirectedRequest},
		{"rebind.attacker.example", "/login", http.StatusMisdirectedRequest},
		{"where.example.org.evil", "/login", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", "/login", http.StatusMisdirectedRequest},
		{"where.example.org", "/login", http.StatusOK},
		{"WHERE.example.org.:443", "/login", http.StatusOK},
		{"tracker.lan", "/login", http.StatusOK},
		{"localhost:8080", "/login", http.StatusOK},
		{"app.localhost", "/login", http.StatusOK},
		{"127.0.0.1:8080", "/login", http.StatusOK},
		{"[::1]:8080", "/login", http.StatusOK},
		{"192.168.1.20", "/login", http.StatusOK},
		{"rebind.attacker.example", "/healthz", http.StatusOK}, // health checks by container name
	} {
		code, body := ts.req(t, http.MethodGet, c.path, nil, "Host", c.host)
		if code != c.want {
			t.Errorf("GET %s with Host %s: %d, want %d", c.path, c.host, code, c.want)
		}
		if code == http.StatusMisdirectedRequest && !strings.Contains(body, "--allowed-host") {
			t.Errorf("421 body %q does not say how to allow the name", body)
		}
	}
}

// TestSessionsBoundedAndPruned: a user has at most MaxSessionsPerUser
// sessions (the oldest end), and expired sessions leave memory and the
// file without waiting for a login.
func TestSessionsBoundedAndPruned(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sessions.json")
	s, err := web.OpenSessions(file)
	if err != nil {
		t.Fatal(err)
	}
	now := clockNow
	s.Now = func() time.Time { return now }
	users := userMap{"anna": {Name: "anna"}, "ben": {Name: "ben"}}
	first, _ := s.New(users["anna"])
	var last string
	for range web.MaxSessionsPerUser + 10 {
		now = now.Add(time.Second)
		if last, err = s.New(users["anna"]); err != nil {
			t.Fatal(err)
		}
	}
	ben, _ := s.New(users["ben"])
	if n := s.Len(); n != web.MaxSessionsPerUser+1 {
		t.Errorf("%d sessions after %d logins of anna and one of ben, want %d", n, web.MaxSessionsPerUser+11, web.MaxSessionsPerUser+1)
	}
	if _, ok := s.Lookup(first, users); ok {
		t.Error("anna's oldest session still valid")
	}
	if _, ok := s.Lookup(last, users); !ok {
		t.Error("anna's newest session ended")
	}
	if _, ok := s.Lookup(ben, users); !ok {
		t.Error("ben's session ended by anna's logins")
	}
	// Expired: meeting one prunes every expired session, in memory and
	// in the file.
	now = now.Add(31 * 24 * time.Hour)
	if _, ok := s.Lookup(ben, users); ok {
		t.Error("expired session valid")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var held map[string]json.RawMessage
	if err := json.Unmarshal(b, &held); err != nil || len(held) != 0 {
		t.Errorf("sessions file a month later holds %d sessions (%v), want 0", len(held), err)
	}
}

// FuzzClientIP: whatever X-Forwarded-For a client or proxy sends, the
// client address is an IP address (or the marker for garbage), and from
// an untrusted peer it is the peer.
func FuzzClientIP(f *testing.F) {
	for _, seed := range []struct{ remote, xff string }{
		{"127.0.0.1:1", "127.0.0.1, 198.51.100.1"},
		{"127.0.0.1:1", "[2001:db8::5]:1234, 10.0.0.1"},
		{"203.0.113.7:4000", "127.0.0.1"},
		{"[::1]:9", ",,, ,"},
		{"127.0.0.1:1", "unknown, 1.2.3.4%eth0, ::ffff:10.0.0.1"},
	} {
		f.Add(seed.remote, seed.xff)
	}
	proxies, _ := web.ParseTrustedProxies([]string{"127.0.0.0/8", "10.0.0.0/8", "::1"})
	a := &web.Auth{TrustedProxies: proxies}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		req := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		got := a.ClientIP(req)
		peer := remote
		if h, _, err := net.SplitHostPort(remote); err == nil {
			peer = h
		}
		ip, err := netip.ParseAddr(peer)
		trustedPeer := err == nil && slices.ContainsFunc(proxies, func(p netip.Prefix) bool { return p.Contains(ip.Unmap().WithZone("")) })
		if !trustedPeer {
			if got != peer {
				t.Fatalf("untrusted peer %q with X-Forwarded-For %q: client %q, want the peer", remote, xff, got)
			}
			return
		}
		if _, err := netip.ParseAddr(got); err != nil && got != "invalid-x-forwarded-for" {
			t.Fatalf("X-Forwarded-For %q via %q: client %q is not an address", xff, remote, got)
		}
	})
}
