package broker

import (
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// A phone keeps showing every friend it was ever sent, until told to
// forget one: the OwnTracks apps remove a contact when a message with an
// empty payload arrives on its topic. When sharing changes so that a user
// may no longer see a friend, each of that user's phones that was sent
// the friend's location is sent such an empty message, on that topic and
// to that phone only (the retained location stays for those who may see
// it). Only friends a phone was actually shown are cleared: clearing every
// hidden device would tell the phone which devices exist.
//
// What each phone was shown is kept by client id in memory: a phone that
// is away when sharing changes is told when it next connects; after a
// restart of the server, phones keep friends they were shown before it.

// maxShownClients and maxShownPerClient bound the memory this takes; a
// client beyond them is not tracked (its phone keeps what it was shown).
const (
	maxShownClients   = 10_000
	maxShownPerClient = 4096
)

// shownFriends records, per client id, which friends' location topics
// were delivered to it, and as which user.
type shownFriends struct {
	mu       sync.Mutex
	byClient map[string]*shownSet
}

type shownSet struct {
	user   string
	topics map[string]bool
}

func newShownFriends() *shownFriends { return &shownFriends{byClient: map[string]*shownSet{}} }

// friendLocationTopic reports whether topic is another user's location
// topic (owntracks/USER/DEVICE, no wildcard) as seen by user.
// It runs on every delivery, so it does not allocate.
func friendLocationTopic(user, topic string) bool {
	rest, ok := strings.CutPrefix(topic, "owntracks/")
	if !ok || strings.Count(rest, "/") != 1 || strings.ContainsAny(rest, "+#") {
		return false
	}
	owner, device, _ := strings.Cut(rest, "/")
	return owner != "" && device != "" && owner != user
}

// add records that topic was delivered to client id logged in as user.
func (s *shownFriends) add(id, user, topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.byClient[id]
	if set == nil || set.user != user {
		if set == nil && len(s.byClient) >= maxShownClients {
			return
		}
		set = &shownSet{user: user, topics: map[string]bool{}}
		s.byClient[id] = set
	}
	if !set.topics[topic] && len(set.topics) < maxShownPerClient {
		set.topics[topic] = true
	}
}

// hidden removes and returns the topics shown to client id (as user) that
// may no longer be delivered to it.
func (s *shownFriends) hidden(id, user string, may func(topic string) bool) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.byClient[id]
	if set == nil || set.user != user {
		return nil
	}
	var out []string
	for topic := range set.topics {
		if !may(topic) {
			delete(set.topics, topic)
			out = append(out, topic)
		}
	}
	return out
}

// forgetUser drops what was recorded for user's clients (a removed user).
func (s *shownFriends) forgetUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, set := range s.byClient {
		if set.user == user {
			delete(s.byClient, id)
		}
	}
}

// noteDelivery records a delivery the ACL allowed (OnACLCheck).
func (h *hook) noteDelivery(cl *mqtt.Client, topic string) {
	// A message queued for a session that is away is noted when it is
	// resent on reconnecting (OnSessionEstablish), if it still may be.
	if !h.locked() || cl.Net.Inline || cl.Closed() || h.accounts == nil {
		return
	}
	name := string(cl.Properties.Username)
	if name == "" || h.isInternal(name) || h.service(name) || !friendLocationTopic(name, topic) {
		return
	}
	h.shown.add(cl.ID, name, topic)
}

// clearHidden sends cl an empty message on each friend topic it was shown
// and may no longer see. It runs in the background, never on the caller.
func (b *Broker) clearHidden(cl *mqtt.Client) {
	if cl.Closed() {
		return // told when it next connects (OnSessionEstablished)
	}
	h := b.hook
	topics := h.shown.hidden(cl.ID, string(cl.Properties.Username), func(topic string) bool { return h.mayReceive(cl, topic) })
	if len(topics) == 0 {
		return
	}
	b.bg.Go(func() {
		for i, topic := range topics {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: []byte{}}
			if err := cl.WritePacket(pk); err != nil {
				// Gone meanwhile: told when it next connects.
				for _, t := range topics[i:] {
					h.shown.add(cl.ID, string(cl.Properties.Username), t)
				}
				return
			}
		}
		b.stats.unshared.Add(uint64(len(topics)))
		b.logger.Info("told a phone to forget friends it may no longer see", "user", string(cl.Properties.Username), "client", cl.ID, "friends", len(topics))
	})
}

// clearHiddenAll applies clearHidden to every connected client (sharing
// may have changed for anyone: a user changed or was removed).
func (b *Broker) clearHiddenAll() {
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Net.Inline {
			b.clearHidden(cl)
		}
	}
}
