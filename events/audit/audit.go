// Package audit follows the event log and tells people about what arrived:
// each new event is decoded, invalid ones are logged with their reason,
// and everything is counted by source, by kind and by reason. It reads the log after
// the fact, so bad input never slows ingest.
package audit

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"

	"tracker/events"
	"tracker/events/owntracks"
)

// Counts is a snapshot of what the auditor has seen since it started.
type Counts struct {
	Events     uint64            `json:"events"`
	Invalid    uint64            `json:"invalid"`
	Duplicates uint64            `json:"duplicates"`
	ByKind     map[string]uint64 `json:"by_kind"`
	ByReason   map[string]uint64 `json:"invalid_by_reason"`
	// BySource counts events by source (SourceLabel) and then by kind.
	BySource map[string]map[string]uint64 `json:"by_source_kind"`
	LastSeq  uint64                       `json:"last_seq"`
}

// Auditor follows a log. Create with New, run with Run.
type Auditor struct {
	log     events.Reader
	decoder *owntracks.Decoder
	logger  *slog.Logger

	mu     sync.Mutex
	counts Counts
}

// New returns an auditor for log.
func New(log events.Reader, d *owntracks.Decoder, logger *slog.Logger) *Auditor {
	return &Auditor{log: log, decoder: d, logger: logger, counts: Counts{
		ByKind: map[string]uint64{}, ByReason: map[string]uint64{}, BySource: map[string]map[string]uint64{},
	}}
}

// Run audits events appended after from-1 until ctx ends.
func (a *Auditor) Run(ctx context.Context, from uint64) error {
	err := events.Follow(ctx, a.log, from, func(e events.Event) error {
		a.observe(e)
		return nil
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (a *Auditor) observe(e events.Event) {
	if e.Source == events.SourceAdmin {
		// The server's own definitions (areas, users): checked by the
		// projections, not OwnTracks messages.
		a.mu.Lock()
		a.counts.Events++
		a.counts.LastSeq = e.Seq
		a.counts.ByKind["admin"]++
		a.countSource(e.Source, "admin")
		a.mu.Unlock()
		return
	}
	m, err := a.decoder.DecodeAt(e.Topic, e.Payload, e.Received)
	kind := string(m.Kind)
	var reason string
	if err != nil {
		reason = err.Error()
		var inv *owntracks.Invalid
		if kind == "" && errors.As(err, &inv) {
			kind = string(inv.Kind)
		}
		if kind == "" {
			kind = "invalid"
		}
		a.logger.Warn("message kept in the log but not usable",
			"seq", e.Seq, "topic", e.Topic, "source", e.Source, "bytes", len(e.Payload), "reason", reason)
	}
	if e.Redelivery() {
		a.logger.Debug("redelivered message recognised", "seq", e.Seq, "duplicate_of", e.DuplicateOf, "topic", e.Topic)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := &a.counts
	c.Events++
	c.LastSeq = e.Seq
	c.ByKind[kind]++
	a.countSource(e.Source, kind)
	if e.Redelivery() {
		c.Duplicates++
	}
	if err != nil {
		c.Invalid++
		c.ByReason[owntracks.Category(err)]++
	}
}

// countSource counts one event of kind from source; a.mu is held.
func (a *Auditor) countSource(source, kind string) {
	label := SourceLabel(source)
	m := a.counts.BySource[label]
	if m == nil {
		m = map[string]uint64{}
		a.counts.BySource[label] = m
	}
	m[kind]++
}

// Counts returns a copy of the counters.
func (a *Auditor) Counts() Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.counts
	c.ByKind = maps.Clone(c.ByKind)
	c.ByReason = maps.Clone(c.ByReason)
	c.BySource = make(map[string]map[string]uint64, len(a.counts.BySource))
	for src, kinds := range a.counts.BySource {
		c.BySource[src] = maps.Clone(kinds)
	}
	return c
}

// SourceLabel shortens an event's source to one of the few values the
// counters use: the Source constants, with an external broker's URL cut
// off ("mqtt:tcp://host:1883" -> "mqtt") so that counts stay few, and
// "other" for anything else (an unknown source in an imported log).
func SourceLabel(source string) string {
	switch source {
	case events.SourceEmbedded, events.SourceMQTT, events.SourceHTTP, events.SourceAdmin,
		events.SourceRecorder, events.SourceGPX, events.SourceGoogle, events.SourceServer:
		return source
	}
	if strings.HasPrefix(source, events.SourceMQTT+":") {
		return events.SourceMQTT
	}
	return "other"
}
