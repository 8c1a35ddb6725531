package projections

import (
	"cmp"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"tracker/events"
)

// ShareTopic is the topic of the admin events (source events.SourceAdmin)
// that make, revoke and end share links: a link that shows one friend
// live to whoever holds it, with no login, until it expires. Like device
// credentials, the log keeps the token's SHA-256, never the token.
const ShareTopic = "tracker/admin/share"

// Share command actions.
const (
	// ShareCreate makes link Link for Device, valid until Expires (and,
	// with UntilArea, until Device arrives there).
	ShareCreate = "create"
	// ShareRevoke ends link Link now; a link already ended stays as it was.
	ShareRevoke = "revoke"
	// ShareEnd ends link Link because its condition was met (Reason
	// "arrived"): written by the server, at most once per link.
	ShareEnd = "end"
)

// Share link limits.
const (
	// MaxShareFor is the longest a link may live.
	MaxShareFor = 7 * 24 * time.Hour
	// MinShareFor is the shortest.
	MinShareFor = time.Minute
	// MaxSharesPerOwner bounds the links one owner keeps: creating one
	// more forgets the owner's oldest ended link, and is refused while
	// all of them are still running.
	MaxSharesPerOwner = 50
	// ShareTokenLen is the length of a token: 26 base32 characters, 130
	// random bits (crypto/rand.Text).
	ShareTokenLen = 26
)

// ShareEndArrived is the reason of a link ended by its friend's arrival.
const ShareEndArrived = "arrived"

// ShareCommand is the payload of a share event.
type ShareCommand struct {
	Type   string `json:"_type"` // "share"
	Action string `json:"action"`
	// Link is the link's id: random, not secret (shown in lists, used to
	// revoke).
	Link   string   `json:"link"`
	Device DeviceID `json:"device,omitempty"`
	// Owner is the user whose rights the link runs under: it works only
	// while that user exists and may share Device. Empty for a link made
	// on the server's data directory (tracker share create without a
	// server) or in open mode.
	Owner string `json:"owner,omitempty"`
	// Hash is "sha256:<hex>" of the token. The token is 130 random bits,
	// so a fast hash is enough, as for device secrets.
	Hash    string    `json:"hash,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// UntilArea ends the link when Device enters this area (its id).
	UntilArea string `json:"until_area,omitempty"`
	Reason    string `json:"reason,omitempty"` // for ShareEnd
	Issue
}

// ShareLink is one link as the fold knows it.
type ShareLink struct {
	ID        string    `json:"id"`
	Device    DeviceID  `json:"device"`
	Owner     string    `json:"owner,omitempty"`
	Hash      string    `json:"hash"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	UntilArea string    `json:"until_area,omitempty"`
	By        string    `json:"by,omitempty"` // who made it (Issue.By)
	// Ended is when the link was revoked or its condition met; zero
	// while it runs (until Expires).
	Ended     time.Time `json:"ended,omitzero"`
	EndReason string    `json:"end_reason,omitempty"` // "revoked" or ShareEndArrived
	EndedBy   string    `json:"ended_by,omitempty"`
	Seq       uint64    `json:"seq"` // the event that made it
}

// Active reports whether the link shows its friend at now (rights aside:
// see the web side, which also checks the owner's).
func (l *ShareLink) Active(now time.Time) bool {
	return l.Ended.IsZero() && now.Before(l.Expires)
}

// Until is when the link stopped or stops: its end or its expiry.
func (l *ShareLink) Until() time.Time {
	if !l.Ended.IsZero() && l.Ended.Before(l.Expires) {
		return l.Ended
	}
	return l.Expires
}

// NewShareToken returns a fresh token (130 random bits in base32), its
// hash as stored in the log, and a link id.
func NewShareToken() (token, hash, id string) {
	token = rand.Text()
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return token, HashShareToken(token), hex.EncodeToString(b[:])
}

// HashShareToken is the stored form of a token.
func HashShareToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ErrBadShareToken is why a string from outside is not a token.
var ErrBadShareToken = errors.New("not a share token")

// ParseShareToken checks a token from a URL: exactly ShareTokenLen
// characters of the base32 alphabet (A–Z, 2–7), nothing else.
func ParseShareToken(s string) (string, error) {
	if len(s) != ShareTokenLen {
		return "", ErrBadShareToken
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '2' && c <= '7') {
			return "", ErrBadShareToken
		}
	}
	return s, nil
}

// ParseShareFor reads how long a link lives: a Go duration ("90m",
// "1h30m") or whole days ("2d"), between MinShareFor and MaxShareFor.
func ParseShareFor(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return 0, fmt.Errorf("duration %q: want e.g. 1h, 90m or 2d", s)
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > int(MaxShareFor/(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q: want whole days from 1 to %d", s, int(MaxShareFor/(24*time.Hour)))
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("duration %q: want e.g. 1h, 90m or 2d", s)
		}
	}
	if d < MinShareFor || d > MaxShareFor {
		return 0, fmt.Errorf("duration %q: a link lives from %v to %v", s, MinShareFor, MaxShareFor)
	}
	return d, nil
}

// ParseShareCommand decodes and validates a share event's payload.
func ParseShareCommand(b []byte) (ShareCommand, error) {
	var c ShareCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("share command: not valid JSON: %w", err)
	}
	return c, c.Validate()
}

// Validate checks a share command.
func (c *ShareCommand) Validate() error {
	if c.Type != "share" {
		return fmt.Errorf("share command: _type is %q, want \"share\"", c.Type)
	}
	if len(c.Link) != 16 || strings.Trim(c.Link, "0123456789abcdef") != "" {
		return fmt.Errorf("share command: link id %q is not 16 hex digits", c.Link)
	}
	switch c.Action {
	case ShareCreate:
		if err := ValidDeviceID(c.Device); err != nil {
			return fmt.Errorf("share %s: %w", c.Link, err)
		}
		if c.Owner != "" {
			if err := ValidUserName(c.Owner); err != nil {
				return fmt.Errorf("share %s: owner: %w", c.Link, err)
			}
		}
		if !strings.HasPrefix(c.Hash, "sha256:") || len(c.Hash) != len("sha256:")+64 {
			return fmt.Errorf("share %s: hash is not a sha256 hash", c.Link)
		}
		if c.Expires.IsZero() {
			return fmt.Errorf("share %s: no expiry", c.Link)
		}
		if len(c.UntilArea) > 300 {
			return fmt.Errorf("share %s: area id too long", c.Link)
		}
	case ShareRevoke:
	case ShareEnd:
		if c.Reason != ShareEndArrived {
			return fmt.Errorf("share %s: end reason is %q, want %q", c.Link, c.Reason, ShareEndArrived)
		}
	default:
		return fmt.Errorf("share %s: action is %q, want create, revoke or end", c.Link, c.Action)
	}
	return nil
}

// ValidDeviceID checks a "user/device" id from outside.
func ValidDeviceID(id DeviceID) error {
	user, device, ok := strings.Cut(string(id), "/")
	if !ok {
		return fmt.Errorf("friend %q: want USER/DEVICE", string(id))
	}
	if err := ValidUserName(user); err != nil {
		return fmt.Errorf("friend %q: %w", string(id), err)
	}
	if err := ValidDeviceName(device); err != nil {
		return fmt.Errorf("friend %q: %w", string(id), err)
	}
	return nil
}

// ShareList lists the links, newest first.
func (s *State) ShareList() []ShareLink {
	out := make([]ShareLink, 0, len(s.Shares))
	for _, l := range s.Shares {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b ShareLink) int {
		return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID))
	})
	return out
}

// ShareByToken returns the link whose token is token. Every link's hash
// is compared, in constant time, so the answer's timing says nothing
// about how close a guess came.
func (s *State) ShareByToken(token string) (ShareLink, bool) {
	h := []byte(HashShareToken(token))
	var found *ShareLink
	for _, l := range s.Shares {
		if subtle.ConstantTimeCompare(h, []byte(l.Hash)) == 1 {
			found = l
		}
	}
	if found == nil {
		return ShareLink{}, false
	}
	return *found, true
}

// applyShare folds a share event. Links are replaced, never changed in
// place: readers hold copies.
func applyShare(s *State, e events.Event, c *ShareCommand, ch *Changes) {
	at := c.Issued
	if at.IsZero() {
		at = e.Received
	}
	at = at.UTC()
	switch c.Action {
	case ShareCreate:
		if _, ok := s.Shares[c.Link]; ok {
			return // an id is made once; a hand-made repeat changes nothing
		}
		if !makeRoomForShare(s, c.Owner, at, ch) {
			return // the server refuses more; a hand-made event gets no further
		}
		s.Shares[c.Link] = &ShareLink{ID: c.Link, Device: c.Device, Owner: c.Owner, Hash: c.Hash, Created: at,
			Expires: c.Expires.UTC(), UntilArea: c.UntilArea, By: c.By, Seq: e.Seq}
	case ShareRevoke, ShareEnd:
		old, ok := s.Shares[c.Link]
		if !ok || !old.Ended.IsZero() || !at.Before(old.Expires) {
			return
		}
		l := *old
		l.Ended, l.EndedBy, l.EndReason = at, c.By, "revoked"
		if c.Action == ShareEnd {
			l.EndReason = c.Reason
		}
		s.Shares[c.Link] = &l
	}
	ch.Shares[c.Link] = true
}

// makeRoomForShare reports whether owner may have one more link at
// time at, forgetting the owner's oldest link that is over when the
// owner has MaxSharesPerOwner.
func makeRoomForShare(s *State, owner string, at time.Time, ch *Changes) bool {
	var mine []*ShareLink
	for _, l := range s.Shares {
		if l.Owner == owner {
			mine = append(mine, l)
		}
	}
	if len(mine) < MaxSharesPerOwner {
		return true
	}
	var oldest *ShareLink
	for _, l := range mine {
		if l.Active(at) {
			continue
		}
		if oldest == nil || l.Until().Before(oldest.Until()) || (l.Until().Equal(oldest.Until()) && l.ID < oldest.ID) {
			oldest = l
		}
	}
	if oldest == nil {
		return false
	}
	delete(s.Shares, oldest.ID)
	ch.Shares[oldest.ID] = true
	return true
}
