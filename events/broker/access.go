package broker

import (
	"crypto/subtle"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"tracker/events/lograte"
)

// Who may connect, publish and receive. Every decision is taken from the
// accounts' current state at the moment it is needed: a login is checked
// again (is the user still there, with the same password?) on every
// publish and every delivery, and a sharing change applies from the next
// message on.

type hook struct {
	mqtt.HookBase
	b        *Broker
	users    map[string]string
	internal *Internal
	accounts Accounts
	phones   Phones      // device credentials (phones.go); nil: passwords only
	open     atomic.Bool // anonymous access: no user at start, until one appears

	// logins holds what each connected account client logged in with
	// (*mqtt.Client -> login).
	logins sync.Map
	// principals holds whom each account session belongs to, by client
	// id (string -> "user" or "user/device"), while the session lasts.
	principals sync.Map

	// pending holds clients between a successful login and mochi adding
	// them to its client list, by client id, so two users connecting with
	// one id at the same moment cannot both pass the takeover check.
	pendingMu sync.Mutex
	pending   map[string]*mqtt.Client

	// shown records which friends each phone was sent (unshare.go).
	shown *shownFriends

	// refusals keeps a client that retries a bad login every second (a
	// misconfigured phone) to one log line a minute.
	refusals *lograte.Limiter
}

// locked reports whether logins are required: unless the broker started
// open, always; once a user appears, for good (removing the last user
// never opens a running broker).
func (h *hook) locked() bool {
	if !h.open.Load() {
		return true
	}
	if len(h.users) > 0 || (h.accounts != nil && h.accounts.HasUsers()) {
		h.open.Store(false)
		return true
	}
	return false
}

func (h *hook) ID() string { return "tracker-log" }

func (h *hook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished,
		mqtt.OnACLCheck, mqtt.OnPublish, mqtt.OnWillSent, mqtt.OnDisconnect, mqtt.OnClientExpired,
		mqtt.OnPacketEncode:
		return true
	}
	return false
}

// service reports whether name is a configured service account (trusted
// on every topic) or the internal login (trusted on its own topics).
func (h *hook) service(name string) bool {
	_, ok := h.users[name]
	return ok || h.isInternal(name)
}

func (h *hook) isInternal(name string) bool {
	return h.internal != nil && name == h.internal.Name
}

// internalTopic reports whether topic (or filter) is under one of the
// internal login's users: owntracks/<user>/…, and with cmdOnly a
// device's command topic owntracks/<user>/<device>/cmd.
func (h *hook) internalTopic(topic string, cmdOnly bool) bool {
	parts := strings.Split(topic, "/")
	if len(parts) < 3 || parts[0] != "owntracks" || !slices.Contains(h.internal.Users, parts[1]) {
		return false
	}
	if cmdOnly {
		return len(parts) == 4 && parts[3] == "cmd" && parts[2] != "+" && parts[2] != "#"
	}
	return !strings.ContainsAny(topic, "+#")
}

// OnConnectAuthenticate checks the login, the last will's topic, and that
// the client id is not another user's: a session (and the messages queued
// in it) is only ever handed to the user it belongs to.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if !h.locked() {
		return true // no user exists; New refused non-loopback listeners then
	}
	name := string(pk.Connect.Username)
	l, ok := h.authenticate(name, pk.Connect.Password, cl.Net.Remote)
	if !ok {
		h.b.stats.loginsRefused.Add(1)
		if ok, n := h.refusals.Allow(hostOf(cl.Net.Remote)); ok {
			h.b.logger.Info("MQTT login refused (repeats from this address are logged once a minute)",
				"user", name, "client", cl.ID, "remote", cl.Net.Remote, "refused_since_last_line", n)
		}
		return false // mochi answers "bad user name or password"
	}
	if pk.Connect.WillFlag && !h.mayPublish(name, l, pk.Connect.WillTopic) {
		h.refuseConnect(cl, "last will on a topic the user may not publish to", "user", name, "device", l.device, "topic", clip(pk.Connect.WillTopic))
		return false
	}
	principal := l.principal(name)
	if owner := h.claim(cl, principal); owner != "" {
		h.b.stats.takeoversRefused.Add(1)
		h.refuseConnect(cl, "client id belongs to another user's or device's session", "user", name, "device", l.device, "owner", owner)
		return false
	}
	if !h.service(name) {
		h.logins.Store(cl, l)
		h.principals.Store(cl.ID, principal)
	}
	return true
}

// authenticate checks a service account or an account user, within the
// login limits.
func (h *hook) authenticate(name string, pw []byte, remote string) (l login, ok bool) {
	want, service := h.users[name]
	if h.isInternal(name) {
		want, service = h.internal.Password, true
	}
	if service {
		verify := func() bool { return subtle.ConstantTimeCompare([]byte(want), pw) == 1 }
		if h.accounts == nil {
			return login{}, verify()
		}
		return login{}, h.accounts.Guard(name, remote, verify)
	}
	if h.accounts == nil || name == "" {
		return login{}, false
	}
	if h.phones != nil {
		version, device, credential, ok := h.phones.CheckPhone(name, string(pw), remote)
		return login{version: version, device: device, credential: credential}, ok
	}
	version, ok := h.accounts.Check(name, string(pw), remote)
	return login{version: version}, ok
}

// refuseConnect answers CONNECT with "not authorized" and closes the
// connection; mochi's own answer (bad user name or password) then finds
// it closed and is not sent.
func (h *hook) refuseConnect(cl *mqtt.Client, reason string, attrs ...any) {
	h.b.logger.Warn("MQTT connection refused: "+reason,
		append([]any{"client", cl.ID, "remote", cl.Net.Remote}, attrs...)...)
	code := packets.ErrNotAuthorized
	if cl.Properties.ProtocolVersion < 5 {
		code = packets.Err3NotAuthorized // mochi maps only some codes to 3.1.1's
	}
	_ = h.b.srv.SendConnack(cl, code, false, nil)
	cl.Stop(packets.ErrNotAuthorized)
}

// claim reserves cl's client id for principal (a user, or a user's
// device: phones.go) until mochi has added the client, or returns whom
// the id already belongs to.
func (h *hook) claim(cl *mqtt.Client, principal string) (owner string) {
	h.pendingMu.Lock()
	defer h.pendingMu.Unlock()
	if p, ok := h.pending[cl.ID]; ok && p != cl && !p.Closed() {
		if o, _ := h.logins.Load(p); o != nil {
			if owner := o.(login).principal(string(p.Properties.Username)); !mayTakeOver(principal, owner) {
				return owner
			}
		} else if owner := string(p.Properties.Username); !mayTakeOver(principal, owner) {
			return owner
		}
	}
	// A session outlives its connection (until SessionExpiry), so an
	// offline phone's id is as much its own as a connected one's.
	if existing, ok := h.b.srv.Clients.Get(cl.ID); ok && !mayTakeOver(principal, h.owner(existing)) {
		return h.owner(existing)
	}
	h.pending[cl.ID] = cl
	return ""
}

func (h *hook) unclaim(cl *mqtt.Client) {
	h.pendingMu.Lock()
	defer h.pendingMu.Unlock()
	if h.pending[cl.ID] == cl {
		delete(h.pending, cl.ID)
	}
}

// OnSessionEstablish runs before mochi hands a reconnecting client the
// session it had: queued messages its user may no longer see (sharing
// changed while it was away) are dropped, so the resend on reconnect goes
// through the same rule as every live delivery.
func (h *hook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if !h.locked() || pk.Connect.Clean {
		return
	}
	existing, ok := h.b.srv.Clients.Get(cl.ID)
	if !ok || existing == cl {
		return
	}
	for _, m := range existing.State.Inflight.GetAll(false) {
		if m.FixedHeader.Type != packets.Publish {
			continue
		}
		if h.mayReceive(cl, m.TopicName) {
			h.noteDelivery(cl, m.TopicName) // resent once the session is established
			continue
		}
		if existing.State.Inflight.Delete(m.PacketID) {
			atomic.AddInt64(&h.b.srv.Info.Inflight, -1)
			h.b.stats.queuedDropped.Add(1)
		}
	}
}

// OnSessionEstablished: mochi has the client in its list now.
// A phone that was away while sharing changed forgets the friends it may
// no longer see (unshare.go).
func (h *hook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.unclaim(cl)
	if h.locked() && h.accounts != nil {
		h.b.clearHidden(cl)
	}
}

// ended forgets a client whose connection ended (from OnDisconnect) and
// cuts the queue of a session that stays.
func (h *hook) ended(cl *mqtt.Client, err error, expire bool) {
	h.unclaim(cl)
	h.logins.Delete(cl)
	h.b.reportTooLarge(cl, err)
	if !expire {
		h.b.trimQueue(cl)
	}
}

// OnClientExpired drops what mochi leaves behind of an expired session
// (its subscriptions stay in the topic index otherwise).
func (h *hook) OnClientExpired(cl *mqtt.Client) {
	h.b.stats.sessionsExpired.Add(1)
	h.unclaim(cl)
	h.principals.CompareAndDelete(cl.ID, h.owner(cl))
	cl.ClearInflights()
	h.b.srv.UnsubscribeClient(cl)
}

// OnACLCheck decides subscriptions (with the filter) and deliveries (with
// the topic, once per message and subscriber). Publishes are decided in
// OnPublish (publishRefusal), which can refuse one with a short log line.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if write {
		return true
	}
	if !h.mayReceive(cl, topic) {
		return false
	}
	// A full offline session takes no more (limits.go).
	if h.b.limits.maxQueued > 0 && cl.Closed() && cl.State.Inflight.Len() >= h.b.limits.maxQueued {
		h.b.stats.queuedDropped.Add(1)
		return false
	}
	h.noteDelivery(cl, topic)
	return true
}

// mayReceive applies the OwnTracks rule to a delivery (or a subscription
// filter) for cl, from the accounts' current state.
func (h *hook) mayReceive(cl *mqtt.Client, topic string) bool {
	if !h.locked() {
		return true
	}
	name := string(cl.Properties.Username)
	if h.isInternal(name) {
		return h.internalTopic(topic, true)
	}
	if h.service(name) || h.accounts == nil {
		return true
	}
	if !h.current(cl, name) {
		return false
	}
	parts := strings.Split(topic, "/")
	if len(parts) < 2 || parts[0] != "owntracks" {
		return false
	}
	owner := parts[1]
	isCmd := len(parts) == 4 && parts[3] == "cmd"
	if owner == name {
		// A device credential receives its own device's commands only.
		l, _ := h.loginOf(cl)
		return l.device == "" || !isCmd || parts[2] == l.device || parts[2] == "+" || parts[2] == "#"
	}
	if isCmd {
		return false // commands are for the phone they are addressed to
	}
	if owner == "+" || owner == "#" {
		return true // a filter: each message is checked on delivery
	}
	return h.accounts.MaySee(name, owner)
}

// current reports whether name still exists and, for a connected client,
// still has the password it logged in with. An offline session has no
// login; it logs in again to receive what is queued.
func (h *hook) current(cl *mqtt.Client, name string) bool {
	version, exists := h.accounts.Version(name)
	if !exists {
		return false
	}
	l, ok := h.loginOf(cl)
	return !ok || h.valid(name, l, version)
}

// valid reports whether a login still holds for name, whose password
// version is version: the same password, or a credential not revoked.
func (h *hook) valid(name string, l login, version uint64) bool {
	if l.credential != "" {
		return h.phones != nil && h.phones.CredentialActive(name, l.credential)
	}
	return l.version == version
}

// mayPublish applies the OwnTracks rule to a topic name may publish to,
// logged in with l: with a device credential, its own device's topics
// only (no commands to other phones, even for an admin).
func (h *hook) mayPublish(name string, l login, topic string) bool {
	if h.locked() && h.isInternal(name) {
		return h.internalTopic(topic, false)
	}
	if !h.locked() || h.service(name) || h.accounts == nil {
		return true
	}
	if l.device != "" {
		return deviceTopic(topic, name, l.device)
	}
	parts := strings.Split(topic, "/")
	if len(parts) < 2 || parts[0] != "owntracks" {
		return false
	}
	if parts[1] == name {
		return true
	}
	isCmd := len(parts) == 4 && parts[3] == "cmd"
	return isCmd && h.accounts.IsAdmin(name)
}

// publishRefusal returns why cl may not publish to topic, or "".
func (h *hook) publishRefusal(cl *mqtt.Client, topic string) string {
	if !h.locked() {
		return ""
	}
	name := string(cl.Properties.Username)
	if h.accounts != nil && !h.service(name) && !h.current(cl, name) {
		return "login no longer valid (user removed, password changed or device credential revoked)"
	}
	l, _ := h.loginOf(cl)
	if !h.mayPublish(name, l, topic) {
		if l.device != "" {
			return "topic not allowed for this device credential"
		}
		return "topic not allowed for this user"
	}
	if l.credential != "" && h.phones != nil {
		h.phones.Used(l.credential)
	}
	return ""
}

// refusePublish logs a refused publish in one line, without its payload,
// and disconnects the client (MQTT 3.1.1 has no negative PUBACK; the
// disconnect also bounds the log to one line per connection).
func (h *hook) refusePublish(cl *mqtt.Client, pk packets.Packet, reason string) {
	h.b.stats.publishesRefused.Add(1)
	h.b.logger.Warn("MQTT publish refused: "+reason, "user", string(cl.Properties.Username),
		"client", cl.ID, "remote", cl.Net.Remote, "topic", clip(pk.TopicName), "bytes", len(pk.Payload))
	h.b.disconnect(cl, packets.ErrNotAuthorized)
}

// hostOf is the address part of a client's host:port.
func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// clip shortens what a client chose (a topic may be 64 KB) for the log.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// disconnect ends cl's connection: MQTT 5 clients first get DISCONNECT
// with code; MQTT 3.1.1 has no server DISCONNECT, the connection closes.
func (b *Broker) disconnect(cl *mqtt.Client, code packets.Code) {
	if cl.Properties.ProtocolVersion == 5 {
		_ = b.srv.DisconnectClient(cl, code)
		return
	}
	cl.Stop(code)
}

// Revoke applies a change to user: connections that logged in with a
// password that is no longer the user's (changed, or the user removed)
// are disconnected, and a removed user's offline sessions are dropped
// with what is queued in them. Sharing changes need nothing here (every
// delivery is checked). It returns the number of connections ended and
// never waits on a client: the disconnects run in the background.
func (b *Broker) Revoke(user string) int {
	h := b.hook
	// A user changed, so one exists or did: open mode ends here for good,
	// not only when the next client happens to ask (a user added and
	// removed with no MQTT client in between must not leave it open).
	h.locked()
	if h.accounts == nil || h.service(user) || user == "" {
		return 0
	}
	version, exists := h.accounts.Version(user)
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if cl.Net.Inline || string(cl.Properties.Username) != user {
			continue
		}
		if !cl.Closed() {
			if l, ok := h.loginOf(cl); exists && ok && h.valid(user, l, version) {
				continue
			}
			n++
			b.bg.Go(func() { b.disconnect(cl, packets.ErrNotAuthorized) })
		}
		if !exists {
			b.dropSession(cl)
		}
	}
	if !exists {
		h.shown.forgetUser(user)
	}
	// A changed user may see fewer friends, and a removed one is no
	// longer anyone's friend: phones forget what they may no longer see.
	b.clearHiddenAll()
	if n > 0 {
		b.stats.revoked.Add(uint64(n))
		b.logger.Info("MQTT connections of a changed user closed", "user", user, "removed", !exists, "connections", n)
	}
	return n
}

// RevokeAll applies Revoke to every user with a session (after a rebuild
// of the users, when what changed is not known).
func (b *Broker) RevokeAll() int {
	b.hook.locked() // as in Revoke
	users := map[string]bool{}
	for _, cl := range b.srv.Clients.GetAll() {
		users[string(cl.Properties.Username)] = true
	}
	n := 0
	for u := range users {
		n += b.Revoke(u)
	}
	return n
}

// dropSession forgets cl's session: subscriptions, queued messages, and
// its place in mochi's client list.
func (b *Broker) dropSession(cl *mqtt.Client) {
	cl.ClearInflights()
	b.srv.UnsubscribeClient(cl)
	if cur, ok := b.srv.Clients.Get(cl.ID); ok && cur == cl {
		b.srv.Clients.Delete(cl.ID)
		b.hook.principals.Delete(cl.ID)
	}
}
