// Package health folds the event log into each device's health: when it
// was last heard on each transport, how late its fixes arrive (the delay
// between the phone's tst and the server's arrival time), its usual
// interval between messages and the gaps longer than that, duplicates,
// invalid messages, its battery trend and its app version.
//
// Like the projections, it is a pure fold (Apply; time comes from the
// events, the reader's clock only decides whether a device is quiet now),
// so folding the whole log again gives the same figures. Memory is
// bounded: every device keeps fixed-size windows of its newest samples,
// and at most MaxDevices devices are tracked.
package health

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
)

// Transports a message can arrive by, as the health figures name them.
const (
	TransportEmbedded = "embedded" // the embedded MQTT broker
	TransportMQTT     = "mqtt"     // an external MQTT broker
	TransportHTTP     = "http"     // OwnTracks HTTP mode
	TransportImport   = "import"   // an import (Recorder, GPX, Google, …)
)

// Transports lists the transports in display order.
var Transports = []string{TransportEmbedded, TransportMQTT, TransportHTTP, TransportImport}

// Limits of what is kept.
const (
	// Window is how many of a device's newest delays and intervals are
	// kept: the median and p95 are those of this window (exact for it),
	// so they follow how the phone behaves now, not years ago.
	Window = 256
	// MaxDevices bounds the devices tracked; messages of further devices
	// are counted in Untracked only.
	MaxDevices = 2000
	// batterySamples bounds a device's battery history, one sample at
	// most every batteryEvery of fix time.
	batterySamples = 48
	batteryEvery   = 10 * 60 // s
	// recentFixes is how many of a device's newest fix times are kept to
	// recognise a fix that arrives again (repeated).
	recentFixes = 64
	// minIntervals is how many intervals a device needs before its usual
	// interval is trusted; before that DefaultQuietAfter applies.
	minIntervals = 8
)

// Quiet thresholds: a device is quiet (and a silence between two of its
// messages is a gap) when it is silent longer than twice its usual
// interval (the p95 of its recent intervals), never less than MinQuiet;
// DefaultQuietAfter while its usual interval is not known yet.
const (
	MinQuiet          = 15 * time.Minute
	DefaultQuietAfter = 6 * time.Hour
)

// ring keeps the newest Window values.
type ring struct {
	v    [Window]int32
	n    int // values held, up to Window
	next int // where the next value goes
}

func (r *ring) add(x int32) {
	r.v[r.next] = x
	r.next = (r.next + 1) % Window
	r.n = min(r.n+1, Window)
}

// quantiles returns the values at fractions qs of the sorted window.
func (r *ring) quantiles(qs ...float64) []int32 {
	if r.n == 0 {
		return nil
	}
	s := slices.Clone(r.v[:r.n])
	slices.Sort(s)
	out := make([]int32, len(qs))
	for i, q := range qs {
		k := int(q*float64(r.n-1) + 0.5) // nearest rank
		out[i] = s[min(k, r.n-1)]
	}
	return out
}

// BatterySample is one battery reading.
type BatterySample struct {
	Tst   int64 `json:"tst"`
	Level int   `json:"level"` // %
}

// device is one device's running figures.
type device struct {
	last      [4]time.Time // per transport (index in Transports): arrival of the newest message
	lastLive  time.Time    // newest arrival over a live transport
	messages  uint64       // live messages
	imported  uint64
	delays    ring // s, arrival - tst of live fixes
	intervals ring // s, between consecutive live arrivals
	gaps      uint64
	longest   time.Duration
	gapFrom   time.Time // the newest gap
	gapTo     time.Time

	redelivered uint64 // the transport delivered the same message again
	repeated    uint64 // a fix with a tst the device sent already
	fixes       [recentFixes]int64
	nfix        int

	invalid       uint64
	invalidReason string
	invalidAt     time.Time

	battery  []BatterySample // oldest first, at most batterySamples, one every batteryEvery at most
	battNow  BatterySample   // the newest fix's level
	charging bool            // as of battNow

	app      App
	tid      string
	lastFix  int64 // newest tst
	untilSeq uint64
}

// App is what the phone said about itself (a status message: the iOS app
// sends its version, model and system; Android only its settings).
type App struct {
	Platform string    `json:"platform,omitempty"` // "iOS", "Android"
	Version  string    `json:"version,omitempty"`  // the app's version (iOS)
	System   string    `json:"system,omitempty"`   // the OS version (iOS)
	Model    string    `json:"model,omitempty"`    // device model (iOS)
	At       time.Time `json:"at,omitzero"`        // when it said so
}

// Health is the fold's state. It is not safe for concurrent use: Tracker
// guards it.
type Health struct {
	devices   map[projections.DeviceID]*device
	untracked uint64 // messages of devices past MaxDevices
	applied   uint64 // newest event folded
}

// New returns an empty state.
func New() *Health { return &Health{devices: map[projections.DeviceID]*device{}} }

// Applied is the sequence number of the newest event folded.
func (h *Health) Applied() uint64 { return h.applied }

// transportOf names the transport of a source; "" for events no phone
// sent (the server's own commands, admin definitions).
func transportOf(source string) string {
	switch {
	case source == events.SourceEmbedded:
		return TransportEmbedded
	case source == events.SourceHTTP:
		return TransportHTTP
	case source == events.SourceMQTT || strings.HasPrefix(source, events.SourceMQTT+":"):
		return TransportMQTT
	case events.IsImport(source):
		return TransportImport
	}
	return ""
}

// Apply folds one event, as decoded (msg and err from
// owntracks.Decoder.DecodeAt at the event's arrival).
func (h *Health) Apply(e events.Event, msg owntracks.Message, err error) {
	h.applied = max(h.applied, e.Seq)
	tr := transportOf(e.Source)
	if tr == "" {
		return
	}
	topic := msg.Topic
	if err != nil || topic.User == "" {
		t, terr := owntracks.ParseTopic(e.Topic)
		if terr != nil {
			return // not a device's topic: nobody's health
		}
		topic = t
	}
	id := projections.MakeDeviceID(topic.User, topic.Device)
	d := h.devices[id]
	if d == nil {
		if len(h.devices) >= MaxDevices {
			h.untracked++
			return
		}
		d = &device{}
		h.devices[id] = d
	}
	d.untilSeq = e.Seq
	ti := slices.Index(Transports, tr)
	if e.Received.After(d.last[ti]) {
		d.last[ti] = e.Received
	}
	if tr == TransportImport {
		d.imported++
		d.applyFix(msg, err, e, false)
		return
	}
	if e.Redelivery() {
		d.redelivered++
		return
	}
	if msg.Kind != owntracks.KindLWT || err != nil { // a will is the broker's, not the phone's
		d.heard(e.Received)
	}
	d.messages++
	if err != nil {
		d.invalid++
		d.invalidReason, d.invalidAt = err.Error(), e.Received
		return
	}
	d.applyFix(msg, nil, e, true)
	if msg.Status != nil {
		d.app = appOf(msg.Status, e.Received)
	}
}

// heard records a live arrival: the interval since the previous one, and
// a gap when it was longer than the device's quiet threshold then.
func (d *device) heard(at time.Time) {
	if !d.lastLive.IsZero() && at.After(d.lastLive) {
		gap := at.Sub(d.lastLive)
		if gap > MinQuiet && gap > d.quietAfter() { // the threshold (a sort of the window) only when it can matter
			d.gaps++
			d.longest = max(d.longest, gap)
			d.gapFrom, d.gapTo = d.lastLive, at
		}
		d.intervals.add(int32(min(gap/time.Second, 1<<31-1)))
	}
	if at.After(d.lastLive) {
		d.lastLive = at
	}
}

// applyFix takes what a location tells: its delay (live only), a repeat,
// the battery, the tracker id.
func (d *device) applyFix(msg owntracks.Message, err error, e events.Event, live bool) {
	if err != nil || msg.Location == nil {
		return
	}
	l := msg.Location
	if slices.Contains(d.fixes[:d.nfix], l.Tst) {
		d.repeated++
		return
	}
	if d.nfix < recentFixes {
		d.nfix++
	} else {
		copy(d.fixes[:], d.fixes[1:])
	}
	d.fixes[d.nfix-1] = l.Tst
	if live {
		delay := e.Received.Unix() - l.Tst
		d.delays.add(int32(max(min(delay, 1<<31-1), -1<<31)))
	}
	if l.TID != "" {
		d.tid = l.TID
	}
	d.lastFix = max(d.lastFix, l.Tst)
	if l.Absent&owntracks.FieldBatt == 0 && l.Batt >= 0 && l.Batt <= 100 && l.Tst >= d.battNow.Tst {
		d.battNow, d.charging = BatterySample{Tst: l.Tst, Level: l.Batt}, l.BS == 2 || l.BS == 3
		n := len(d.battery)
		if n == 0 || l.Tst >= d.battery[n-1].Tst+batteryEvery {
			if n == batterySamples {
				d.battery = append(d.battery[:0], d.battery[1:]...)
			}
			d.battery = append(d.battery, d.battNow)
		}
	}
}

// appOf reads the app's self-description from a status message.
func appOf(s *owntracks.Status, at time.Time) App {
	a := App{At: at}
	switch {
	case len(s.IOS) > 0:
		var v struct {
			Version string `json:"version"`
			System  string `json:"deviceSystemVersion"`
			Model   string `json:"deviceModel"`
		}
		_ = json.Unmarshal(s.IOS, &v) // informational: what parses is shown
		a.Platform, a.Version, a.System, a.Model = "iOS", v.Version, v.System, v.Model
	case len(s.Android) > 0:
		a.Platform = "Android"
	}
	return a
}

// usual is the device's usual interval between messages (the p95 of its
// recent intervals), 0 while fewer than minIntervals are known.
func (d *device) usual() time.Duration {
	if d.intervals.n < minIntervals {
		return 0
	}
	return time.Duration(d.intervals.quantiles(0.95)[0]) * time.Second
}

// quietAfter is how long the device may be silent before it counts as
// quiet: twice its usual interval, at least MinQuiet.
func (d *device) quietAfter() time.Duration {
	u := d.usual()
	if u == 0 {
		return DefaultQuietAfter
	}
	return max(2*u, MinQuiet)
}
