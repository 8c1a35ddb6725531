// Package erasure removes a person's events from the log for good: an
// erase command (tracker erase, the admin API and page) or the retention
// policy (serve --retain-history, per user with tracker retention) names
// what goes; the log (events.Erasable, badgerlog) takes the bytes out and
// leaves a tombstone event saying what was erased, by whom, when and how
// many; and the projections, which keep payloads too, are rebuilt from
// the erased log (Purger). It imports no storage engine.
//
// An event belongs to a user when its topic is owntracks/<user>/<device>[/…]
// (any first level; the user compared without regard to case, as the
// Recorder does) and it is not one of the server's own definitions
// (source admin: users, areas, earlier tombstones stay). "Before T" is by
// the time the server received the event (for imports, the original
// time), the time the log is ordered by.
package erasure

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
)

// Topics of the admin events this package writes.
const (
	Topic          = "tracker/admin/erase"     // the tombstone of an erasure
	RetentionTopic = "tracker/admin/retention" // a user's retention policy
)

// Reasons an erasure names.
const (
	ReasonCommand   = "command"   // tracker erase, the admin API or page
	ReasonRetention = "retention" // the retention policy
)

// Rule selects a user's events: of one device or all, received before a
// time or all.
type Rule struct {
	User   string    `json:"user"`
	Device string    `json:"device,omitempty"`
	Before time.Time `json:"before,omitzero"`
	// Erased is how many events the rule erased (in a tombstone).
	Erased uint64 `json:"erased"`
}

// Validate checks a rule given from outside.
func (r Rule) Validate() error {
	switch {
	case strings.TrimSpace(r.User) == "":
		return errors.New("erase: a user is required")
	case strings.ContainsAny(r.User, "/+#") || strings.ContainsAny(r.Device, "/+#"):
		return errors.New("erase: user and device names cannot hold /, + or #")
	}
	return nil
}

// String says what the rule selects.
func (r Rule) String() string {
	s := "user " + r.User
	if r.Device != "" {
		s += ", device " + r.Device
	}
	if !r.Before.IsZero() {
		s += ", received before " + r.Before.UTC().Format(time.RFC3339)
	}
	return s
}

var anyRoot = owntracks.Decoder{Root: owntracks.AnyRoot}

// Owner returns the user and device a phone's event belongs to; ok is
// false for the server's definitions and topics that are not a device's.
func Owner(e *events.Event) (user, device string, ok bool) {
	if e.Source == events.SourceAdmin || e.Erased() {
		return "", "", false
	}
	t, err := anyRoot.ParseTopic(e.Topic)
	if err != nil {
		return "", "", false
	}
	return t.User, t.Device, true
}

// Matches reports whether the rule selects e.
func (r Rule) Matches(e *events.Event) bool {
	user, device, ok := Owner(e)
	if !ok || !strings.EqualFold(user, r.User) || r.Device != "" && !strings.EqualFold(device, r.Device) {
		return false
	}
	return r.Before.IsZero() || e.Received.Before(r.Before)
}

// Tombstone is the payload of the event an erasure leaves in the log.
type Tombstone struct {
	Type   string `json:"type"`   // "erase"
	Reason string `json:"reason"` // ReasonCommand or ReasonRetention
	Rules  []Rule `json:"rules"`
	Erased uint64 `json:"erased"` // events erased, over all rules
	// FirstSeq and LastSeq are the lowest and highest erased sequence
	// numbers (0 when nothing was erased).
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// ID (random), Issued and By say who asked, when; the same fields as
	// every admin command's (projections.Issue).
	ID     string    `json:"id"`
	Issued time.Time `json:"issued"`
	By     string    `json:"by"`
}

// ParseTombstone reads a tombstone's payload.
func ParseTombstone(b []byte) (Tombstone, error) {
	var t Tombstone
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("erase tombstone: %w", err)
	}
	if t.Type != "erase" {
		return t, fmt.Errorf("erase tombstone: type %q, want erase", t.Type)
	}
	return t, nil
}

// Describe says what the tombstone records, for people.
func (t Tombstone) Describe() string {
	var rules []string
	for _, r := range t.Rules {
		rules = append(rules, fmt.Sprintf("%s: %d", r, r.Erased))
	}
	return fmt.Sprintf("erased %d events (%s) by %s at %s (%s)", t.Erased, strings.Join(rules, "; "),
		t.By, t.Issued.UTC().Format(time.RFC3339), t.Reason)
}

// Purger keeps the projections, which hold payloads too, free of what
// an erasure removed from the log.
type Purger interface {
	// Begin is called before the log is rewritten; it notes that the
	// projections must be rebuilt, so a crash before Purge finishes still
	// has them rebuilt at the next start.
	Begin() error
	// Purge rebuilds the projections from the erased log when it was
	// rewritten, and clears the note.
	Purge(ctx context.Context, rewritten bool) error
}

// errQuiet stops an erasure that matched nothing and records nothing.
var errQuiet = errors.New("nothing to erase")

// Eraser runs erasures on a log.
type Eraser struct {
	Log    events.Erasable
	Purger Purger // nil: nothing besides the log to purge
	Logger *slog.Logger
	Now    func() time.Time // time.Now when nil

	mu sync.Mutex // one erasure at a time, Purger calls included
}

// Request is one erasure.
type Request struct {
	Rules  []Rule
	Reason string // ReasonCommand when empty
	By     string // who asked: a user name, "cli:<OS user>", "retention"
	// Quiet records nothing when nothing matches (the retention policy's
	// periodic runs); otherwise a tombstone saying 0 is recorded.
	Quiet bool
}

// Result is what an erasure did.
type Result struct {
	Tombstone
	Seq  uint64        `json:"seq"` // the tombstone's event; 0 when nothing was recorded
	Took time.Duration `json:"took_ns"`
}

func (x *Eraser) now() time.Time {
	if x.Now != nil {
		return x.Now()
	}
	return time.Now()
}

func (x *Eraser) logger() *slog.Logger {
	if x.Logger != nil {
		return x.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Erase removes the events req's rules select (up to the head when the
// swap happens) and records the tombstone. When nothing matches, the log
// is not rewritten: the tombstone says 0 (or, Quiet, nothing is recorded).
func (x *Eraser) Erase(ctx context.Context, req Request) (Result, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	start := x.now()
	if len(req.Rules) == 0 {
		return Result{}, errors.New("erase: no rule")
	}
	for _, r := range req.Rules {
		if err := r.Validate(); err != nil {
			return Result{}, err
		}
	}
	if req.Reason == "" {
		req.Reason = ReasonCommand
	}
	rules := append([]Rule(nil), req.Rules...)
	for i := range rules {
		rules[i].Erased = 0
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	tomb := Tombstone{Type: "erase", Reason: req.Reason, Rules: rules, ID: hex.EncodeToString(id[:]),
		Issued: start.UTC(), By: req.By}
	match := func(e *events.Event) bool {
		for i := range rules {
			if rules[i].Matches(e) {
				rules[i].Erased++
				return true
			}
		}
		return false
	}
	spec := events.EraseSpec{Match: match, Tombstone: func(r events.EraseResult) (events.Event, error) {
		if r.Erased == 0 && req.Quiet {
			return events.Event{}, errQuiet
		}
		tomb.Erased, tomb.FirstSeq, tomb.LastSeq = r.Erased, r.First, r.Last
		tomb.Rules = rules
		b, err := json.Marshal(tomb)
		return events.Event{Topic: Topic, Payload: b, QoS: 1, Source: events.SourceAdmin, Received: x.now()}, err
	}}
	if x.Purger != nil {
		if err := x.Purger.Begin(); err != nil {
			return Result{}, err
		}
	}
	res, err := x.Log.Erase(ctx, spec)
	if x.Purger != nil && (err != nil || !res.Rewritten) {
		if perr := x.Purger.Purge(ctx, false); perr != nil {
			x.logger().Warn("erase: could not clear the note to purge the projections; the next start rebuilds them", "err", perr)
		}
	}
	if errors.Is(err, errQuiet) {
		return Result{Tombstone: Tombstone{Rules: req.Rules}}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("erase: %w", err)
	}
	if res.Rewritten && x.Purger != nil {
		if err := x.Purger.Purge(ctx, true); err != nil {
			return Result{}, fmt.Errorf("erase: the log is erased, but rebuilding the projections failed (they are rebuilt at the next start): %w", err)
		}
	}
	out := Result{Tombstone: tomb, Seq: res.Seq, Took: x.now().Sub(start)}
	x.logger().Info("events erased", "erased", tomb.Erased, "reason", tomb.Reason, "by", tomb.By,
		"rules", len(rules), "tombstone", res.Seq, "took", out.Took.Round(time.Millisecond))
	return out, nil
}

// ParseKeep reads a retention period: "365d", "52w", "36h" or any Go
// duration; "0", "forever" and "off" keep everything (0).
func ParseKeep(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "0", "forever", "off":
		return 0, nil
	}
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseUint(n, 10, 32)
			if err != nil || v == 0 {
				return 0, fmt.Errorf("retention %q: want a number of days (365d), weeks (52w) or a duration (36h)", s)
			}
			return time.Duration(v) * unit, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("retention %q: want a number of days (365d), weeks (52w) or a duration (36h)", s)
	}
	return d, nil
}

// FormatKeep writes a period as ParseKeep reads it.
func FormatKeep(d time.Duration) string {
	switch {
	case d <= 0:
		return "forever"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
