package notify

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/views/visible"
)

// evaluator decides which rules fire. It runs on one goroutine (run) and
// owns everything it keeps: what crossings were seen lately, when each
// rule last fired for each friend, each battery rule's last level, the
// silence each silent rule last told of.
type evaluator struct {
	d       *Dispatcher
	started time.Time
	rules   []projections.NotifyRule // every user's rules
	places  map[string]bool          // the places arrive and leave rules watch (PlaceKey)

	recent  map[placeKey][]projections.AreaEvent // per device and place, the last hour's
	fired   map[quietKey]time.Time               // when each rule last fired for each friend
	batt    map[string]int                       // battery rule id -> last level seen (-1: none)
	silence map[string]time.Time                 // silent rule id -> the last report it told of
}

type placeKey struct {
	dev   projections.DeviceID
	place string
}

type quietKey struct {
	rule string
	dev  projections.DeviceID
}

// recentWindow is how long crossings are kept to merge a late origin's
// event into one crossing (projections.MergeCrossings); maxRecent bounds
// how many per device and place (a phone flapping at an edge).
const (
	recentWindow = 6 * projections.CrossingWindow
	maxRecent    = 32
)

func newEvaluator(d *Dispatcher) *evaluator {
	return &evaluator{d: d, recent: map[placeKey][]projections.AreaEvent{}, fired: map[quietKey]time.Time{},
		batt: map[string]int{}, silence: map[string]time.Time{}}
}

// run evaluates changes as they come and silences every Tick until ctx
// ends.
func (e *evaluator) run(ctx context.Context) {
	e.started = e.d.o.Now()
	e.reload()
	t := time.NewTicker(e.d.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-e.d.changes:
			if e.d.missed.Swap(false) || c.all {
				// What was dropped (or a rebuild) is not told: start
				// afresh from the projections as they are now.
				clear(e.recent)
				clear(e.batt)
				e.reload()
				if c.all {
					continue
				}
			}
			if c.users {
				e.reload()
			}
			e.crossings(ctx, c.crossing)
			e.batteries(ctx, c.friends)
		case <-t.C:
			e.silences()
		}
	}
}

// reload reads every user's rules.
func (e *evaluator) reload() {
	e.rules = e.rules[:0]
	e.places = map[string]bool{}
	live := map[string]bool{}
	for _, u := range e.d.o.Source.Users() {
		for _, r := range u.Notify {
			e.rules = append(e.rules, r)
			live[r.ID] = true
			if r.On == projections.NotifyArrive || r.On == projections.NotifyLeave {
				e.places[projections.PlaceKey(r.Place)] = true
			}
		}
	}
	for k := range e.recent {
		if !e.places[k.place] {
			delete(e.recent, k)
		}
	}
	for k := range e.fired {
		if !live[k.rule] {
			delete(e.fired, k)
		}
	}
	for id := range e.batt {
		if !live[id] {
			delete(e.batt, id)
		}
	}
	for id := range e.silence {
		if !live[id] {
			delete(e.silence, id)
		}
	}
}

// reader is the projections as the rule's owner may see them now; false
// when the owner is gone.
func (e *evaluator) reader(r projections.NotifyRule) (visible.Reader, bool) {
	u, ok := e.d.o.Source.User(r.Owner)
	if !ok {
		return visible.Reader{}, false
	}
	return e.d.o.Gate.For(viewerRule(u)), true
}

// viewerRule is what u may see (nil: everything, for an admin).
func viewerRule(u projections.User) visible.Rule {
	if u.Admin {
		return nil
	}
	return u.MaySee
}

// live reports whether log event seq is something happening now: not
// imported, not replayed (arrived more than MaxAge ago: a catch-up), not
// a phone's old backlog (tst more than MaxAge before its arrival).
func (e *evaluator) live(ctx context.Context, seq uint64, tst int64) bool {
	ev, err := e.d.event(ctx, seq)
	if err != nil {
		e.d.o.Logger.Warn("notification rules skip an event they cannot read", "seq", seq, "err", err)
		return false
	}
	maxAge := e.d.o.MaxAge
	switch {
	case events.IsImport(ev.Source):
		return false
	case e.d.o.Now().Sub(ev.Received) > maxAge:
		return false
	case ev.Received.Sub(time.Unix(tst, 0)) > maxAge:
		return false
	}
	return true
}

// crossings fires the arrive and leave rules for each new crossing: an
// event that joins a crossing already seen (the other origin's word on
// the same arrival) notifies nothing.
func (e *evaluator) crossings(ctx context.Context, evs []projections.AreaEvent) {
	for _, ev := range evs {
		k := placeKey{ev.Device, projections.PlaceKey(ev.AreaName)}
		if !e.places[k.place] {
			continue // no rule watches this place
		}
		prev := e.recent[k]
		for len(prev) > 0 && (ev.Tst-prev[0].Tst > recentWindow || len(prev) >= maxRecent) {
			prev = prev[1:]
		}
		before := len(projections.MergeCrossings(prev))
		next := append(prev[:len(prev):len(prev)], ev)
		after := projections.MergeCrossings(next)
		e.recent[k] = next
		if len(after) <= before {
			continue // the same crossing, told by its other origin
		}
		var c *projections.Crossing
		for i := range after {
			if after[i].Seq == ev.Seq {
				c = &after[i]
			}
		}
		if c == nil {
			continue
		}
		on := projections.NotifyArrive
		if c.Event == "leave" {
			on = projections.NotifyLeave
		}
		checked, fresh := false, false
		for _, r := range e.rules {
			if r.On != on || !r.Watches(ev.Device) || projections.PlaceKey(r.Place) != c.PlaceKey {
				continue
			}
			if !checked {
				checked, fresh = true, e.live(ctx, ev.Seq, ev.Tst)
			}
			if !fresh {
				break
			}
			n := Notification{Rule: r, Event: on, Device: ev.Device, Place: c.Place, At: time.Unix(c.Tst, 0), Seq: ev.Seq}
			e.fire(r, n)
		}
	}
	e.forgetOld()
}

// forgetOld drops crossings older than recentWindow before now.
func (e *evaluator) forgetOld() {
	if len(e.recent) < 1024 {
		return
	}
	cut := e.d.o.Now().Add(-recentWindow).Unix()
	for k, evs := range e.recent {
		if len(evs) == 0 || evs[len(evs)-1].Tst < cut {
			delete(e.recent, k)
		}
	}
}

// batteries fires battery rules whose friend's level went from at or
// above the rule's level to below it.
func (e *evaluator) batteries(ctx context.Context, friends []projections.DeviceID) {
	if len(friends) == 0 {
		return
	}
	changed := map[projections.DeviceID]bool{}
	for _, id := range friends {
		changed[id] = true
	}
	for _, r := range e.rules {
		if r.On != projections.NotifyBattery || !changed[r.Device] {
			continue
		}
		rd, ok := e.reader(r)
		if !ok {
			continue
		}
		fv, ok := rd.Friend(r.Device)
		if !ok || fv.Location == nil || fv.Location.Absent&owntracks.FieldBatt != 0 {
			continue // hidden from the owner, or no level
		}
		level := fv.Location.Batt
		prev, known := e.batt[r.ID]
		e.batt[r.ID] = level
		if !known || prev < r.Below || level >= r.Below {
			continue
		}
		if !e.live(ctx, fv.Location.Seq, fv.Location.Tst) {
			continue
		}
		n := Notification{Rule: r, Event: projections.NotifyBattery, Device: r.Device, At: time.Unix(fv.Location.Tst, 0),
			Battery: level, Seq: fv.Location.Seq}
		e.fire(r, n)
	}
}

// silences fires silent rules whose friend's last report is older than
// the rule allows, once per silence. A deadline that passed before the
// server started, or before the rule was made, is not told.
func (e *evaluator) silences() {
	now := e.d.o.Now()
	for _, r := range e.rules {
		if r.On != projections.NotifySilent {
			continue
		}
		rd, ok := e.reader(r)
		if !ok {
			continue
		}
		fv, ok := rd.Friend(r.Device)
		if !ok || fv.LastSeen.IsZero() {
			continue
		}
		deadline := fv.LastSeen.Add(r.After())
		if now.Before(deadline) || e.silence[r.ID].Equal(fv.LastSeen) {
			continue
		}
		e.silence[r.ID] = fv.LastSeen
		if deadline.Before(e.started) || deadline.Before(r.Created) {
			continue
		}
		n := Notification{Rule: r, Event: projections.NotifySilent, Device: r.Device, At: deadline,
			Silent: now.Sub(fv.LastSeen).Truncate(time.Second)}
		e.fire(r, n)
	}
}

// fire sends n unless the owner may not see the friend or the rule is in
// its quiet period for that friend (measured in the events' time, so a
// burst that arrives late is judged as it happened).
func (e *evaluator) fire(r projections.NotifyRule, n Notification) {
	rd, ok := e.reader(r)
	if !ok {
		return
	}
	fv, ok := rd.Friend(n.Device)
	if !ok {
		return // hidden from the rule's owner: the rule says nothing of it
	}
	k := quietKey{r.ID, n.Device}
	// A silence is told once per silence already: no quiet period.
	if last, ok := e.fired[k]; ok && r.On != projections.NotifySilent && n.At.Sub(last) < r.Quiet() && n.At.Sub(last) > -r.Quiet() {
		e.d.stats.suppressed.Add(1)
		return
	}
	e.fired[k] = n.At
	n.Friend = fv.DisplayName()
	n.ID = r.ID + "-" + strconv.FormatUint(n.Seq, 10)
	if n.Seq == 0 {
		n.ID = r.ID + "-t" + strconv.FormatInt(n.At.Unix(), 10)
	}
	n.Text = text(n)
	e.d.send(n)
}

// text says what happened, for a person.
func text(n Notification) string {
	switch n.Event {
	case projections.NotifyArrive:
		return fmt.Sprintf("%s arrived at %s", n.Friend, n.Place)
	case projections.NotifyLeave:
		return fmt.Sprintf("%s left %s", n.Friend, n.Place)
	case projections.NotifySilent:
		return fmt.Sprintf("%s has not reported for %s", n.Friend, projections.ShortDuration(n.Silent.Truncate(time.Minute)))
	case projections.NotifyBattery:
		return fmt.Sprintf("%s's battery is at %d %%", n.Friend, n.Battery)
	}
	return n.Friend + ": " + n.Event
}
