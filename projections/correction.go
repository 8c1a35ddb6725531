package projections

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"tracker/events"
	"tracker/events/owntracks"
)

// CorrectionTopic is the topic of the admin events that correct a
// device's track (source events.SourceAdmin): hide a point or every point
// in a range of fix times, show them again, or set an accuracy threshold
// above which fixes are not used.
//
// Corrections never touch the points themselves: history keeps every fix
// as it arrived, and the device's Rules (part of the small state) say
// which are not used. Reads of history and of enter/leave events leave the
// hidden ones out; the current position, which only the history can
// replace, is recomputed by the runner (NeedsPosition, Reposition).
const CorrectionTopic = "tracker/admin/correction"

// Correction actions.
const (
	CorrectHide     = "hide"     // hide the point Seq, or every point with From <= tst <= To
	CorrectUnhide   = "unhide"   // show them again (a range also shows the single points in it)
	CorrectAccuracy = "accuracy" // fixes with accuracy above Max metres are not used; Max 0 clears
)

// Limits on corrections: a device keeps at most this many hidden points
// and ranges (a command beyond them is refused, and a fold ignores it);
// one range spans at most MaxHideSpan.
const (
	MaxHiddenPoints  = 10_000
	MaxHiddenRanges  = 1_000
	MaxHideSpan      = 366 * 24 * time.Hour
	MaxReason        = 500     // characters
	MaxAccuracyLimit = 100_000 // m
)

// CorrectionCommand is the payload of a correction event.
type CorrectionCommand struct {
	Type   string `json:"_type"` // "correction"
	Action string `json:"action"`
	User   string `json:"user,omitempty"`
	Device string `json:"device,omitempty"`
	// All makes an accuracy threshold apply to every device (User and
	// Device empty); a device's own threshold comes first.
	All bool `json:"all,omitempty"`
	// Seq names one point (a location event of the device); Tst is its fix
	// time, so that unhiding a range finds it.
	Seq uint64 `json:"seq,omitempty"`
	Tst int64  `json:"tst,omitempty"`
	// From and To (Unix seconds, both included) name the fixes of a range.
	From int64 `json:"from,omitempty"`
	To   int64 `json:"to,omitempty"`
	// Max is the accuracy threshold in metres; 0 clears it.
	Max    int    `json:"max,omitempty"`
	Reason string `json:"reason,omitempty"`
	Issue         // id, issued, by
}

// DeviceID names the device the command corrects ("" for All).
func (c *CorrectionCommand) DeviceID() DeviceID {
	if c.All {
		return ""
	}
	return MakeDeviceID(c.User, c.Device)
}

// IsRange reports whether the command names a range rather than a point.
func (c *CorrectionCommand) IsRange() bool { return c.Seq == 0 }

// ParseCorrectionCommand decodes and validates a correction event's payload.
func ParseCorrectionCommand(b []byte) (CorrectionCommand, error) {
	var c CorrectionCommand
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("correction: not valid JSON: %w", err)
	}
	return c, c.Validate()
}

// Validate checks a command; its messages are for the person who typed it.
func (c *CorrectionCommand) Validate() error {
	if c.Type != "correction" {
		return fmt.Errorf("correction: _type is %q, want \"correction\"", c.Type)
	}
	if !utf8.ValidString(c.Reason) || utf8.RuneCountInString(c.Reason) > MaxReason {
		return fmt.Errorf("correction: the reason must be valid text of at most %d characters", MaxReason)
	}
	if c.All {
		if c.Action != CorrectAccuracy {
			return fmt.Errorf("correction: only an accuracy threshold applies to all devices; hide and unhide name one device")
		}
		if c.User != "" || c.Device != "" {
			return fmt.Errorf("correction: give either a user and device or all, not both")
		}
	} else {
		if err := ValidUserName(c.User); err != nil {
			return fmt.Errorf("correction: %w", err)
		}
		if err := ValidUserName(c.Device); err != nil {
			return fmt.Errorf("correction: device: %w", err)
		}
	}
	switch c.Action {
	case CorrectAccuracy:
		if c.Max < 0 || c.Max > MaxAccuracyLimit {
			return fmt.Errorf("correction: accuracy threshold %d m is out of range [0 (clear), %d]", c.Max, MaxAccuracyLimit)
		}
		return nil
	case CorrectHide, CorrectUnhide:
	default:
		return fmt.Errorf("correction: action is %q, want hide, unhide or accuracy", c.Action)
	}
	if c.Seq != 0 {
		if c.From != 0 || c.To != 0 {
			return fmt.Errorf("correction: give either a point (seq) or a range (from, to), not both")
		}
		return nil
	}
	switch {
	case c.From == 0 && c.To == 0:
		return fmt.Errorf("correction: give a point (seq) or a range (from, to)")
	case c.From < 0 || c.To > maxPlausibleTst:
		return fmt.Errorf("correction: range %d–%d is not a plausible range of Unix times", c.From, c.To)
	case c.From > c.To:
		return fmt.Errorf("correction: from (%s) is after to (%s)", unixText(c.From), unixText(c.To))
	case time.Duration(c.To-c.From)*time.Second > MaxHideSpan:
		return fmt.Errorf("correction: the range spans %s; at most %d days per command", (time.Duration(c.To-c.From) * time.Second).Round(time.Hour), int(MaxHideSpan.Hours()/24))
	}
	return nil
}

// maxPlausibleTst bounds fix times a range may name (the year 5138).
const maxPlausibleTst = 1e11

func unixText(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) }

// Correction is who made a correction, when and why.
type Correction struct {
	Event  uint64    `json:"event"` // the correction event
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// HiddenPoint is one point hidden by its event number.
type HiddenPoint struct {
	Seq uint64 `json:"seq"`
	Tst int64  `json:"tst"`
	Correction
}

// HiddenRange hides every fix with From <= tst <= To.
type HiddenRange struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
	Correction
}

// Threshold is an accuracy limit: fixes less accurate than Max metres
// are not used.
type Threshold struct {
	Max int `json:"max"`
	Correction
}

// Rules are the corrections of one device (Device "" holds the threshold
// for all). The fold replaces a device's Rules whole on every change, so
// a reader may keep the pointer it read and use it without a lock.
type Rules struct {
	Device DeviceID               `json:"device"`
	Points map[uint64]HiddenPoint `json:"points,omitempty"`
	Ranges []HiddenRange          `json:"ranges,omitempty"` // in the order they were made
	MaxAcc *Threshold             `json:"max_acc,omitempty"`
}

func (r *Rules) empty() bool {
	return r == nil || (len(r.Points) == 0 && len(r.Ranges) == 0 && r.MaxAcc == nil)
}

func (r *Rules) clone(dev DeviceID) *Rules {
	if r == nil {
		return &Rules{Device: dev}
	}
	c := &Rules{Device: dev, Points: maps.Clone(r.Points), Ranges: slices.Clone(r.Ranges)}
	if r.MaxAcc != nil {
		t := *r.MaxAcc
		c.MaxAcc = &t
	}
	return c
}

// Hidden says why a point is not used.
type Hidden struct {
	Kind string `json:"kind"` // "point", "range" or "accuracy"
	Correction
	From int64 `json:"from,omitempty"` // the range, for "range"
	To   int64 `json:"to,omitempty"`
	Max  int   `json:"max,omitempty"` // the threshold, for "accuracy"
	All  bool  `json:"all,omitempty"` // the threshold for all devices
}

// Text says in a few words why, for the pages and the CLI.
func (h *Hidden) Text() string {
	var s string
	switch h.Kind {
	case "point":
		s = "hidden"
	case "range":
		s = "in a hidden range"
	case "accuracy":
		scope := "this device's"
		if h.All {
			scope = "everyone's"
		}
		s = fmt.Sprintf("less accurate than %s limit of %d m", scope, h.Max)
	}
	if h.By != "" {
		s += " by " + h.By
	}
	if h.Reason != "" {
		s += ": " + h.Reason
	}
	return s
}

// Filter decides which points of one device are used: the device's rules
// and the threshold for all. The zero Filter hides nothing.
type Filter struct {
	dev, all *Rules
}

// Empty reports whether the filter hides nothing (the fast path).
func (f Filter) Empty() bool { return f.dev.empty() && f.all.empty() }

// Hides reports whether p is not used.
func (f Filter) Hides(p Point) bool {
	if f.dev != nil {
		if _, ok := f.dev.Points[p.Seq]; ok {
			return true
		}
		for i := range f.dev.Ranges {
			if r := &f.dev.Ranges[i]; p.Tst >= r.From && p.Tst <= r.To {
				return true
			}
		}
	}
	t := f.threshold()
	if t == nil {
		return false
	}
	acc, ok := p.Accuracy()
	return ok && acc > t.Max
}

func (f Filter) threshold() *Threshold {
	if f.dev != nil && f.dev.MaxAcc != nil {
		return f.dev.MaxAcc
	}
	if f.all != nil {
		return f.all.MaxAcc
	}
	return nil
}

// Why says why p is not used; nil when it is.
func (f Filter) Why(p Point) *Hidden {
	if f.dev != nil {
		if h, ok := f.dev.Points[p.Seq]; ok {
			return &Hidden{Kind: "point", Correction: h.Correction}
		}
		for i := range f.dev.Ranges {
			if r := &f.dev.Ranges[i]; p.Tst >= r.From && p.Tst <= r.To {
				return &Hidden{Kind: "range", Correction: r.Correction, From: r.From, To: r.To}
			}
		}
	}
	if t := f.threshold(); t != nil {
		if acc, ok := p.Accuracy(); ok && acc > t.Max {
			return &Hidden{Kind: "accuracy", Correction: t.Correction, Max: t.Max, All: t != f.dev.maxAcc()}
		}
	}
	return nil
}

func (r *Rules) maxAcc() *Threshold {
	if r == nil {
		return nil
	}
	return r.MaxAcc
}

// FilterFor returns dev's filter. It shares the rules with the state
// (which replaces them instead of changing them), so it stays valid
// after the caller's lock is released.
func (s *State) FilterFor(dev DeviceID) Filter {
	if len(s.Rules) == 0 {
		return Filter{}
	}
	return Filter{dev: s.Rules[dev], all: s.Rules[""]}
}

// Corrections lists dev's corrections and the threshold for all, for the
// pages and the API.
type Corrections struct {
	Device DeviceID      `json:"device"`
	Points []HiddenPoint `json:"points"` // by tst
	Ranges []HiddenRange `json:"ranges"` // by from
	MaxAcc *Threshold    `json:"max_acc,omitempty"`
	AllMax *Threshold    `json:"all_max_acc,omitempty"` // the threshold for all devices
}

// CorrectionsOf lists dev's corrections (copies).
func (s *State) CorrectionsOf(dev DeviceID) Corrections {
	c := Corrections{Device: dev, Points: []HiddenPoint{}, Ranges: []HiddenRange{}}
	if r := s.Rules[dev]; r != nil {
		c.Points = slices.SortedFunc(maps.Values(r.Points), func(a, b HiddenPoint) int {
			return cmp.Or(cmp.Compare(a.Tst, b.Tst), cmp.Compare(a.Seq, b.Seq))
		})
		c.Ranges = slices.SortedFunc(slices.Values(r.Ranges), func(a, b HiddenRange) int {
			return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
		})
		if r.MaxAcc != nil {
			t := *r.MaxAcc
			c.MaxAcc = &t
		}
	}
	if r := s.Rules[""]; r != nil && r.MaxAcc != nil {
		t := *r.MaxAcc
		c.AllMax = &t
	}
	return c
}

// Filter is the filter these corrections make (as FilterFor would).
func (cs Corrections) Filter() Filter {
	var f Filter
	if len(cs.Points) > 0 || len(cs.Ranges) > 0 || cs.MaxAcc != nil {
		f.dev = &Rules{Device: cs.Device, Points: map[uint64]HiddenPoint{}, Ranges: cs.Ranges, MaxAcc: cs.MaxAcc}
		for _, h := range cs.Points {
			f.dev.Points[h.Seq] = h
		}
	}
	if cs.AllMax != nil {
		f.all = &Rules{MaxAcc: cs.AllMax}
	}
	return f
}

// Check tells whether command c would change these corrections, and
// refuses what the fold would ignore (over the limits). A "nothing to
// do" answer (changes false, err nil) says why in note.
func (cs Corrections) Check(c CorrectionCommand) (changes bool, note string, err error) {
	dev := c.DeviceID()
	switch c.Action {
	case CorrectAccuracy:
		cur := cs.MaxAcc
		switch {
		case c.Max == 0 && cur == nil:
			return false, "no accuracy threshold is set; nothing to clear", nil
		case cur != nil && cur.Max == c.Max:
			return false, fmt.Sprintf("the accuracy threshold is already %d m", c.Max), nil
		}
		return true, "", nil
	case CorrectHide:
		if !c.IsRange() {
			for _, h := range cs.Points {
				if h.Seq == c.Seq {
					return false, fmt.Sprintf("point %d is already hidden (correction %d)", c.Seq, h.Event), nil
				}
			}
			if len(cs.Points) >= MaxHiddenPoints {
				return false, "", fmt.Errorf("correction: %s already has %d hidden points, the limit; hide a range instead", dev, MaxHiddenPoints)
			}
			return true, "", nil
		}
		for _, h := range cs.Ranges {
			if h.From == c.From && h.To == c.To {
				return false, fmt.Sprintf("this range is already hidden (correction %d)", h.Event), nil
			}
		}
		if len(cs.Ranges) >= MaxHiddenRanges {
			return false, "", fmt.Errorf("correction: %s already has %d hidden ranges, the limit; unhide some first", dev, MaxHiddenRanges)
		}
		return true, "", nil
	case CorrectUnhide:
		if !c.IsRange() {
			for _, h := range cs.Points {
				if h.Seq == c.Seq {
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("point %d is not hidden by itself (a hidden range or an accuracy threshold may hide it)", c.Seq), nil
		}
		for _, h := range cs.Ranges {
			if h.From <= c.To && h.To >= c.From {
				return true, "", nil
			}
		}
		for _, h := range cs.Points {
			if h.Tst >= c.From && h.Tst <= c.To {
				return true, "", nil
			}
		}
		return false, "nothing is hidden in this range", nil
	}
	return false, "", fmt.Errorf("correction: unknown action %q", c.Action)
}

// applyCorrection folds a correction into the device's rules (replacing
// them) and asks for the devices whose current position it may change to
// be repositioned (Changes.Reposition).
func applyCorrection(s *State, e events.Event, c *CorrectionCommand, ch *Changes) {
	dev := c.DeviceID()
	who := Correction{Event: e.Seq, By: c.By, At: e.Received.UTC(), Reason: c.Reason}
	old := s.Rules[dev]
	r := old.clone(dev)
	reveals := false // points may become visible: the position may move forward
	switch c.Action {
	case CorrectAccuracy:
		reveals = old.maxAcc() == nil || c.Max == 0 || c.Max > old.MaxAcc.Max
		r.MaxAcc = nil
		if c.Max > 0 {
			r.MaxAcc = &Threshold{Max: c.Max, Correction: who}
		}
	case CorrectHide:
		if !c.IsRange() {
			if _, ok := r.Points[c.Seq]; ok || len(r.Points) >= MaxHiddenPoints {
				return // already hidden (the first correction stands), or over the limit
			}
			if r.Points == nil {
				r.Points = map[uint64]HiddenPoint{}
			}
			r.Points[c.Seq] = HiddenPoint{Seq: c.Seq, Tst: c.Tst, Correction: who}
			break
		}
		for _, h := range r.Ranges {
			if h.From == c.From && h.To == c.To {
				return
			}
		}
		if len(r.Ranges) >= MaxHiddenRanges {
			return
		}
		r.Ranges = append(r.Ranges, HiddenRange{From: c.From, To: c.To, Correction: who})
	case CorrectUnhide:
		reveals = true
		if !c.IsRange() {
			if _, ok := r.Points[c.Seq]; !ok {
				return
			}
			delete(r.Points, c.Seq)
			break
		}
		// Take [From, To] out of every range (a range that reaches beyond
		// it keeps the rest), and show the single points in it.
		var kept []HiddenRange
		for _, h := range r.Ranges {
			if h.To < c.From || h.From > c.To {
				kept = append(kept, h)
				continue
			}
			if h.From < c.From {
				left := h
				left.To = c.From - 1
				kept = append(kept, left)
			}
			if h.To > c.To {
				right := h
				right.From = c.To + 1
				kept = append(kept, right)
			}
		}
		r.Ranges = kept
		maps.DeleteFunc(r.Points, func(_ uint64, h HiddenPoint) bool { return h.Tst >= c.From && h.Tst <= c.To })
	}
	if r.empty() {
		r = nil
	}
	if r == nil && old == nil {
		return
	}
	if r == nil {
		delete(s.Rules, dev)
	} else {
		s.Rules[dev] = r
	}
	ch.Rules[dev] = true
	// Which devices' positions may change: the one corrected, or every
	// device for the threshold for all.
	var devs []DeviceID
	if dev == "" {
		for id := range s.Friends {
			devs = append(devs, id)
		}
		slices.Sort(devs)
	} else if _, ok := s.Friends[dev]; ok {
		devs = []DeviceID{dev}
	}
	for _, d := range devs {
		f := s.Friends[d]
		if reveals || (f.Location != nil && s.FilterFor(d).Hides(*f.Location)) {
			ch.Reposition = append(ch.Reposition, d)
		}
	}
}

// Reposition makes the location event in (nil: none) dev's current
// position: the runner found it, after a correction, as the newest fix
// the device's rules let through. It does what a fix arriving does to
// the position, the location as sent and geometric membership, but adds
// no history and no enter/leave events: the timeline keeps the events
// the fixes made, and reads leave out those of hidden fixes.
func Reposition(s *State, dev DeviceID, in *Input, ch *Changes) {
	f := s.Friends[dev]
	if f == nil {
		return
	}
	if in == nil {
		if f.Location == nil {
			return
		}
		f.Location, f.Sent, f.InRegions = nil, nil, nil
		placeQuietly(s, dev, nil, ch)
		ch.Friends[dev] = true
		return
	}
	m := &in.Msg
	if in.Err != nil || m.Kind != owntracks.KindLocation {
		return
	}
	l := m.Location
	p := pointOf(in.Event, l)
	if f.Location != nil && *f.Location == p {
		return
	}
	f.Location = &p
	payload := in.Event.Payload
	if m.Decrypted {
		payload = m.Plaintext
	}
	f.Sent = &Sent{Payload: append([]byte(nil), payload...), Topic: in.Event.Topic, Received: in.Event.Received.Unix(), Vac: l.Vac}
	f.InRegions = slices.Clone(l.InRegions)
	placeQuietly(s, dev, &p, ch)
	ch.Friends[dev] = true
}

// placeQuietly sets dev's geometric membership to what position p says,
// without enter/leave events; with no position (nil) membership is kept
// as it was, unused (Presence reads geometry only with a position), so
// that showing the position again finds it unchanged.
func placeQuietly(s *State, dev DeviceID, p *Point, ch *Changes) {
	if p == nil {
		return
	}
	for _, id := range s.SortedAreas() {
		a := s.Areas[id]
		if !a.HasGeometry() || !a.AppliesTo(dev) {
			continue
		}
		k := MemberKey{dev, id, OriginGeometry}
		in := a.Contains(p.Geo())
		m, ok := s.Members[k]
		switch {
		case !ok && in:
			s.Members[k] = &Member{Device: dev, Area: id, Origin: OriginGeometry, In: true, Since: p.Tst, AsOf: p.Tst, Seq: p.Seq}
		case ok && m.In != in:
			m.In, m.Since, m.Seq = in, p.Tst, p.Seq
		default:
			continue
		}
		ch.Members[k] = true
	}
}

// FixRef is the location that made an enter/leave event, so that the
// event is left out when a correction hides that location.
type FixRef struct {
	Seq   uint64 `json:"seq"`
	Tst   int64  `json:"tst"`
	Acc   int    `json:"acc,omitempty"`
	NoAcc bool   `json:"no_acc,omitempty"` // the phone sent no accuracy
}

func fixOf(p Point) FixRef {
	acc, ok := p.Accuracy()
	return FixRef{Seq: p.Seq, Tst: p.Tst, Acc: acc, NoAcc: !ok}
}

func (r FixRef) point() Point {
	p := Point{Seq: r.Seq, Tst: r.Tst, Acc: r.Acc}
	if r.NoAcc {
		p.Absent = owntracks.FieldAcc
	}
	return p
}

// EventFilter leaves out, from enter/leave events read in tst order, those
// made by hidden fixes, and the events that only undid them: an outlier
// that entered an area makes an enter and, at the next fix, a leave; with
// the outlier hidden both go.
type EventFilter struct {
	filter func(DeviceID) Filter
	last   map[MemberKey]string // direction of the last event kept
	gap    map[MemberKey]bool   // an event was left out since
}

// NewEventFilter filters with the device filters filterOf gives.
func NewEventFilter(filterOf func(DeviceID) Filter) *EventFilter {
	return &EventFilter{filter: filterOf, last: map[MemberKey]string{}, gap: map[MemberKey]bool{}}
}

// Keep reports whether e is shown; call it for every event, in tst order.
func (ef *EventFilter) Keep(e AreaEvent) bool {
	f := ef.filter(e.Device)
	k := MemberKey{e.Device, e.Area, e.Origin}
	if f.Empty() && !ef.gap[k] {
		ef.last[k] = e.Event
		return true
	}
	if e.Fix.Seq != 0 && f.Hides(e.Fix.point()) {
		if _, ok := ef.last[k]; !ok {
			ef.last[k] = opposite(e.Event) // events alternate: before it, the other way
		}
		ef.gap[k] = true
		return false
	}
	if ef.gap[k] && ef.last[k] == e.Event {
		// It returns to where the device was before the hidden event.
		ef.gap[k] = false
		return false
	}
	ef.gap[k] = false
	ef.last[k] = e.Event
	return true
}

func opposite(ev string) string {
	if ev == "enter" {
		return "leave"
	}
	return "enter"
}

// FilterEvents keeps the events of evs (in tst order) that EventFilter
// keeps.
func FilterEvents(evs []AreaEvent, filterOf func(DeviceID) Filter) []AreaEvent {
	ef := NewEventFilter(filterOf)
	out := evs[:0:0]
	for _, e := range evs {
		if ef.Keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// CheckPointOf checks that event e is a location of dev that the server
// used (so hiding it means something), and returns its fix time. The
// error says why not, for the person who asked.
func CheckPointOf(d owntracks.Decoder, e events.Event, dev DeviceID) (int64, error) {
	if e.Source == events.SourceAdmin || e.Source == events.SourceServer {
		return 0, fmt.Errorf("event %d is a server command, not a location", e.Seq)
	}
	in := Decode(d, e)
	if in.Err != nil {
		return 0, fmt.Errorf("event %d was not used (%v); there is nothing to hide", e.Seq, in.Err)
	}
	m := &in.Msg
	if got := MakeDeviceID(m.Topic.User, m.Topic.Device); got != dev {
		return 0, fmt.Errorf("event %d is from %s, not %s", e.Seq, got, dev)
	}
	if m.Kind != owntracks.KindLocation {
		return 0, fmt.Errorf("event %d is a %s message, not a location", e.Seq, m.Kind)
	}
	if e.Redelivery() {
		return 0, fmt.Errorf("event %d is a redelivery of an earlier event; hide that one", e.Seq)
	}
	return m.Location.Tst, nil
}
