package projector

import (
	"context"
	"errors"
	"fmt"

	"tracker/events"
	"tracker/projections"
)

// newestFunc finds a device's newest point that hides lets through, in
// the history written so far (store.Store.Newest, store.Bulk.Newest).
type newestFunc func(projections.DeviceID, func(projections.Point) bool) (projections.Point, bool, error)

var errFound = errors.New("found")

// reposition gives each device a correction asked to reposition
// (ch.Reposition) its newest fix the rules let through, found in history,
// which must hold every point before the correction. The fold stays pure:
// the position comes from the location event itself, read again from the
// log, and the same search runs live and in a rebuild.
func (p *Projector) reposition(ctx context.Context, state *projections.State, ch *projections.Changes, newest newestFunc) error {
	devs := ch.Reposition
	ch.Reposition = nil
	for _, dev := range devs {
		f := state.Friends[dev]
		if f == nil {
			continue
		}
		filter := state.FilterFor(dev)
		pt, ok, err := newest(dev, filter.Hides)
		if err != nil {
			return fmt.Errorf("projector: reposition %s after a correction: %w", dev, err)
		}
		if !ok {
			projections.Reposition(state, dev, nil, ch)
			continue
		}
		if f.Location != nil && f.Location.Seq == pt.Seq {
			continue
		}
		var in *projections.Input
		err = p.log.Scan(ctx, pt.Seq, func(e events.Event) error {
			if e.Seq == pt.Seq {
				d := projections.Decode(p.decoder, e)
				in = &d
			}
			return errFound
		})
		if err != nil && !errors.Is(err, errFound) {
			return fmt.Errorf("projector: read event %d to reposition %s: %w", pt.Seq, dev, err)
		}
		if in == nil {
			// Gone from the log (erased): the history still has the point,
			// but not what the phone sent; keep what is known.
			p.logger.Warn("the newest usable fix after a correction is not in the log", "device", dev, "seq", pt.Seq)
			continue
		}
		projections.Reposition(state, dev, in, ch)
	}
	return nil
}

// filter returns dev's filter now. Rules are replaced, never changed, so
// it stays valid after the lock.
func (p *Projector) filter(dev projections.DeviceID) projections.Filter {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state == nil {
		return projections.Filter{}
	}
	return p.state.FilterFor(dev)
}

// rulesNow returns a function giving each device's filter as of now, for
// reads of events of many devices.
func (p *Projector) rulesNow() func(projections.DeviceID) projections.Filter {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state == nil || len(p.state.Rules) == 0 {
		return func(projections.DeviceID) projections.Filter { return projections.Filter{} }
	}
	rules := make(map[projections.DeviceID]*projections.Rules, len(p.state.Rules))
	for k, v := range p.state.Rules {
		rules[k] = v
	}
	snap := &projections.State{Rules: rules}
	return snap.FilterFor
}

// HistoryMarked calls fn for every point of dev with from <= tst < to,
// hidden ones too, with why they are hidden (nil when they are used): the
// history page shows them so that they can be restored.
func (p *Projector) HistoryMarked(dev projections.DeviceID, from, to int64, fn func(projections.Point, *projections.Hidden) error) error {
	f := p.filter(dev)
	return p.history(dev, from, to, func(pt projections.Point) error { return fn(pt, f.Why(pt)) })
}

// Corrections lists dev's corrections.
func (p *Projector) Corrections(dev projections.DeviceID) projections.Corrections {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state.CorrectionsOf(dev)
}
