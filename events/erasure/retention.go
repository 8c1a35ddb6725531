package erasure

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"tracker/events"
)

// KeepDefault in a Policy returns the user to the server's
// --retain-history.
const KeepDefault = "default"

// Policy is the payload of a retention event: how long the log keeps a
// user's history. The newest policy event for a user wins.
type Policy struct {
	Type string `json:"type"` // "retention"
	User string `json:"user"`
	// Keep is a period as ParseKeep reads it ("90d"; "forever" keeps
	// everything) or KeepDefault.
	Keep   string    `json:"keep"`
	ID     string    `json:"id"`
	Issued time.Time `json:"issued"`
	By     string    `json:"by"`
}

// Validate checks a policy given from outside.
func (p Policy) Validate() error {
	if err := (Rule{User: p.User}).Validate(); err != nil {
		return errors.New("retention: " + strings.TrimPrefix(err.Error(), "erase: "))
	}
	if p.Keep == KeepDefault {
		return nil
	}
	_, err := ParseKeep(p.Keep)
	return err
}

// ParsePolicy reads a retention event's payload.
func ParsePolicy(b []byte) (Policy, error) {
	var p Policy
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("retention policy: %w", err)
	}
	if p.Type != "retention" {
		return p, fmt.Errorf("retention policy: type %q, want retention", p.Type)
	}
	return p, p.Validate()
}

// NewPolicy returns the event that sets user's retention to keep.
func NewPolicy(user, keep, by string, now time.Time) (events.Event, Policy, error) {
	p := Policy{Type: "retention", User: strings.TrimSpace(user), Keep: strings.TrimSpace(keep), By: by, Issued: now.UTC()}
	if p.Keep != KeepDefault {
		d, err := ParseKeep(p.Keep)
		if err != nil {
			return events.Event{}, p, err
		}
		p.Keep = FormatKeep(d)
	}
	if err := p.Validate(); err != nil {
		return events.Event{}, p, err
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	p.ID = fmt.Sprintf("%x", id)
	b, err := json.Marshal(p)
	return events.Event{Topic: RetentionTopic, Payload: b, QoS: 1, Source: events.SourceAdmin, Received: now}, p, err
}

// Retention applies the retention policy every Every: each user's events
// received longer ago than the user's period (a policy event, else
// Default) are erased, in one erasure with a rule per user.
type Retention struct {
	Eraser  *Eraser
	Default time.Duration // --retain-history; 0 keeps everything unless a user's policy says otherwise
	Every   time.Duration // how often it is applied; 1 h when 0
	Logger  *slog.Logger

	// What the log said up to seen: each run reads only the events since
	// the last (a whole log every hour was a second of CPU per million
	// events, and its garbage, even with no policy at all). Forgotten
	// after any erasure, which changes every user's oldest event.
	mu       sync.Mutex
	seen     uint64
	policies map[string]time.Duration // lower-cased user -> period; absent: Default
	oldest   map[string]time.Time
	names    map[string]string
}

// Run applies the policy every Every (the first time after at most five
// minutes) until ctx ends. A failed run is logged and tried again at the
// next.
func (r *Retention) Run(ctx context.Context) error {
	every := r.Every
	if every <= 0 {
		every = time.Hour
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	wait := min(every, 5*time.Minute)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = every
		if _, err := r.Once(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			logger.Error("retention: erasing old history failed; trying again later", "err", err, "next", every)
		}
	}
}

// Once applies the policy now.
func (r *Retention) Once(ctx context.Context) (Result, error) {
	now := r.Eraser.now()
	rules, err := r.Rules(ctx, now)
	if err != nil || len(rules) == 0 {
		return Result{}, err
	}
	res, err := r.Eraser.Erase(ctx, Request{Rules: rules, Reason: ReasonRetention, By: ReasonRetention, Quiet: true})
	r.forget()
	return res, err
}

// forget drops what was read, so the next run reads the log from the start.
func (r *Retention) forget() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen, r.policies, r.oldest, r.names = 0, nil, nil, nil
}

// read brings policies and oldest up to the log's head, reading from
// the start when nothing is known or when an erasure by command came
// since the last run.
func (r *Retention) read(ctx context.Context) error {
	for {
		if r.policies == nil {
			r.seen = 0
			r.policies, r.oldest, r.names = map[string]time.Duration{}, map[string]time.Time{}, map[string]string{}
		}
		from, erased := r.seen, false
		err := r.Eraser.Log.Scan(ctx, from+1, func(e events.Event) error {
			r.seen = e.Seq
			switch {
			case e.Source == events.SourceAdmin && e.Topic == Topic:
				erased = true // the oldest events may be gone
			case e.Source == events.SourceAdmin && e.Topic == RetentionTopic:
				p, err := ParsePolicy(e.Payload)
				if err != nil {
					return nil // kept in the log with its reason; the fold reports it
				}
				key := strings.ToLower(p.User)
				if p.Keep == KeepDefault {
					delete(r.policies, key)
				} else {
					d, _ := ParseKeep(p.Keep)
					r.policies[key] = d
				}
			default:
				user, _, ok := Owner(&e)
				if !ok {
					return nil
				}
				key := strings.ToLower(user)
				if o, seen := r.oldest[key]; !seen || e.Received.Before(o) {
					r.oldest[key], r.names[key] = e.Received, user
				}
			}
			return nil
		})
		if err != nil || !erased || from == 0 {
			return err
		}
		r.policies = nil // read from the start once more
	}
}

// Rules reads the policies and the users' oldest events from the log and
// returns a rule for each user who has events older than the user's
// period.
func (r *Retention) Rules(ctx context.Context, now time.Time) ([]Rule, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.read(ctx); err != nil {
		r.policies = nil
		return nil, fmt.Errorf("retention: read the log: %w", err)
	}
	policies, oldest, names := r.policies, r.oldest, r.names
	var rules []Rule
	for key, o := range oldest {
		keep, ok := policies[key]
		if !ok {
			keep = r.Default
		}
		if keep <= 0 {
			continue
		}
		if cutoff := now.Add(-keep); o.Before(cutoff) {
			rules = append(rules, Rule{User: names[key], Before: cutoff.UTC()})
		}
	}
	slices.SortFunc(rules, func(a, b Rule) int { return strings.Compare(a.User, b.User) })
	return rules, nil
}
