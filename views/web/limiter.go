package web

import (
	"net/netip"
	"sync"
	"time"
)

// Login limits, shared by HTTP (login form, Basic auth, /pub) and MQTT
// (the broker checks logins through Auth.Check). Failures are counted
// over failWindow under three keys:
//
//   - one user from one address: pairFails (a mistyped password, or a
//     guesser at one address aiming at one user);
//   - one address, any users: addrFails (a guesser trying many names; a
//     household behind one NAT still has room for its own typos);
//   - one user, from any address: userFails (guessers spread over many
//     addresses). This lock does not apply at addresses where the user
//     logged in successfully within knownFor: someone who knows the user
//     name cannot lock the user's own phone out from elsewhere, while the
//     phone at its usual address keeps posting. A phone that moves to a
//     new address during an attack waits out the window (at most
//     failWindow); the per-pair and per-address limits still bind known
//     addresses.
//
// A success clears only the pair's count: clearing the user's or the
// address's would let a guesser who also holds a valid login (or the
// victim's own phone, posting every minute) reset the budget forever.
const (
	pairFails  = 5
	addrFails  = 20
	userFails  = 5
	failWindow = 5 * time.Minute
	// knownFor is how long a successful login exempts its address from
	// the per-user lock; knownPerUser caps the addresses remembered.
	knownFor     = 30 * 24 * time.Hour
	knownPerUser = 32
	// sweepAt is the number of keys above which expired ones are dropped,
	// so the limiter's memory stays bounded under a spread-out attack.
	sweepAt = 10000
)

// limiter counts failed logins. Keys are built by limitKeys.
type limiter struct {
	mu    sync.Mutex
	now   func() time.Time
	fails map[string][]time.Time          // key -> recent failure times, oldest first
	known map[string]map[string]time.Time // user -> address -> last success
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, fails: map[string][]time.Time{}, known: map[string]map[string]time.Time{}}
}

// addrKey is the address a limit is kept for: an IPv4 address, or the
// /64 of an IPv6 one (one subscriber usually holds a whole /64, so
// counting single IPv6 addresses would give a guesser billions of fresh
// budgets).
func addrKey(ip string) string {
	a, err := netip.ParseAddr(hostOnly(ip))
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

type limitKeys struct{ user, addr, pair string }

func keysFor(name, ip string) limitKeys {
	addr := addrKey(ip)
	return limitKeys{user: "u\x00" + name, addr: "a\x00" + addr, pair: "p\x00" + name + "\x00" + addr}
}

// recent drops key's failures older than the window and returns the rest.
func (l *limiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= failWindow {
		i++
	}
	if i == len(ts) {
		delete(l.fails, key)
		return nil
	}
	if i > 0 {
		ts = ts[i:]
		l.fails[key] = ts
	}
	return ts
}

// wait returns how long a login for name from ip must wait, 0 when it
// may be tried now.
func (l *limiter) wait(name, ip string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := keysFor(name, ip)
	limits := []struct {
		key string
		max int
	}{{k.pair, pairFails}, {k.addr, addrFails}}
	if !l.isKnown(name, addrKey(ip), now) {
		limits = append(limits, struct {
			key string
			max int
		}{k.user, userFails})
	}
	var wait time.Duration
	for _, lim := range limits {
		ts := l.recent(lim.key, now)
		if len(ts) >= lim.max {
			// Free again when the failure that filled the budget ages out.
			wait = max(wait, failWindow-now.Sub(ts[len(ts)-lim.max]))
		}
	}
	return wait
}

func (l *limiter) isKnown(name, addr string, now time.Time) bool {
	t, ok := l.known[name][addr]
	return ok && now.Sub(t) < knownFor
}

// fail counts a failed login under all three keys.
func (l *limiter) fail(name, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) > sweepAt {
		for key := range l.fails {
			l.recent(key, now)
		}
	}
	k := keysFor(name, ip)
	for _, key := range []string{k.pair, k.addr, k.user} {
		ts := append(l.recent(key, now), now)
		if len(ts) > addrFails { // no limit looks further back than this
			ts = ts[len(ts)-addrFails:]
		}
		l.fails[key] = ts
	}
}

// ok records a successful login: the pair's failures are forgotten and
// the address becomes known for the user.
func (l *limiter) ok(name, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	delete(l.fails, keysFor(name, ip).pair)
	addrs := l.known[name]
	if addrs == nil {
		addrs = map[string]time.Time{}
		l.known[name] = addrs
	}
	addrs[addrKey(ip)] = now
	if len(addrs) > knownPerUser {
		var oldest string
		for a, t := range addrs {
			if oldest == "" || t.Before(addrs[oldest]) {
				oldest = a
			}
		}
		delete(addrs, oldest)
	}
}
