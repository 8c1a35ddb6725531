package health

import (
	"slices"
	"strings"
	"time"

	"tracker/projections"
)

// Device is one device's figures as the API and the page show them.
type Device struct {
	ID     projections.DeviceID `json:"device"`
	User   string               `json:"user"`
	Device string               `json:"name"`
	TID    string               `json:"tid,omitempty"`
	// LastSeen is the newest arrival over a live transport (zero when the
	// device only ever came in imports).
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Transports holds the newest arrival per transport that carried any.
	Transports map[string]time.Time `json:"transports"`
	Messages   uint64               `json:"messages"` // live messages, redeliveries not counted
	Imported   uint64               `json:"imported"`

	Delay    Delay    `json:"delay"`
	Interval Interval `json:"interval"`
	// Quiet is set when the device has been silent for longer than
	// Interval.QuietAfter (QuietFor).
	Quiet    bool          `json:"quiet"`
	QuietFor time.Duration `json:"quiet_for_ns,omitempty"`
	Gaps     Gaps          `json:"gaps"`

	Duplicates Duplicates `json:"duplicates"`
	Invalid    Invalid    `json:"invalid"`
	Battery    *Battery   `json:"battery,omitempty"`
	App        *App       `json:"app,omitempty"`
}

// Delay is how late the device's fixes arrive: the arrival time minus the
// phone's tst, over the newest Window live fixes.
type Delay struct {
	Samples int     `json:"samples"`
	Median  float64 `json:"median_s"`
	P95     float64 `json:"p95_s"`
}

// Interval is the time between the device's messages.
type Interval struct {
	Samples int `json:"samples"`
	// Usual is the p95 of the newest Window intervals (0 while fewer than
	// 8 are known).
	Usual      time.Duration `json:"usual_ns"`
	Median     time.Duration `json:"median_ns"`
	QuietAfter time.Duration `json:"quiet_after_ns"`
}

// Gaps are silences longer than the device's quiet threshold at the time.
type Gaps struct {
	Count   uint64        `json:"count"`
	Longest time.Duration `json:"longest_ns,omitempty"`
	// LastFrom and LastTo bound the newest gap.
	LastFrom time.Time `json:"last_from,omitzero"`
	LastTo   time.Time `json:"last_to,omitzero"`
}

// Duplicates are messages that told nothing new.
type Duplicates struct {
	// Redelivered: the transport delivered a message again (MQTT DUP on
	// the same session and packet id); the projections skip them.
	Redelivered uint64 `json:"redelivered"`
	// Repeated: a fix with a tst the device had sent already (the app
	// sent it again, or by two transports).
	Repeated uint64 `json:"repeated"`
}

// Total is every duplicate.
func (d Duplicates) Total() uint64 { return d.Redelivered + d.Repeated }

// Invalid counts the device's messages the server could not use.
type Invalid struct {
	Count      uint64    `json:"count"`
	LastReason string    `json:"last_reason,omitempty"`
	LastAt     time.Time `json:"last_at,omitzero"`
}

// Battery is the newest level and how it moves.
type Battery struct {
	Level    int       `json:"level"`
	At       time.Time `json:"at"`
	Charging bool      `json:"charging"`
	// PerHour is the trend in % per hour over the samples of the last
	// day (least squares); 0 with fewer than two.
	PerHour float64         `json:"per_hour"`
	Samples []BatterySample `json:"samples"`
}

// Report is every device's figures.
type Report struct {
	AsOf    time.Time `json:"as_of"`
	Applied uint64    `json:"applied_seq"` // newest event folded
	// Untracked counts messages of devices beyond MaxDevices.
	Untracked uint64   `json:"untracked_messages"`
	Devices   []Device `json:"devices"`
}

// Report returns the figures as of now (which decides only whether a
// device is quiet), devices by user then device name.
func (h *Health) Report(now time.Time) Report {
	r := Report{AsOf: now.UTC(), Applied: h.applied, Untracked: h.untracked, Devices: make([]Device, 0, len(h.devices))}
	for id, d := range h.devices {
		r.Devices = append(r.Devices, d.view(id, now))
	}
	slices.SortFunc(r.Devices, func(a, b Device) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return r
}

func (d *device) view(id projections.DeviceID, now time.Time) Device {
	user, name := id.Split()
	v := Device{ID: id, User: user, Device: name, TID: d.tid, LastSeen: d.lastLive,
		Transports: map[string]time.Time{}, Messages: d.messages, Imported: d.imported,
		Duplicates: Duplicates{Redelivered: d.redelivered, Repeated: d.repeated},
		Invalid:    Invalid{Count: d.invalid, LastReason: d.invalidReason, LastAt: d.invalidAt},
		Gaps:       Gaps{Count: d.gaps, Longest: d.longest, LastFrom: d.gapFrom, LastTo: d.gapTo},
	}
	for i, t := range d.last {
		if !t.IsZero() {
			v.Transports[Transports[i]] = t
		}
	}
	if q := d.delays.quantiles(0.5, 0.95); q != nil {
		v.Delay = Delay{Samples: d.delays.n, Median: float64(q[0]), P95: float64(q[1])}
	}
	v.Interval = Interval{Samples: d.intervals.n, Usual: d.usual(), QuietAfter: d.quietAfter()}
	if q := d.intervals.quantiles(0.5); q != nil {
		v.Interval.Median = time.Duration(q[0]) * time.Second
	}
	if !d.lastLive.IsZero() && now.Sub(d.lastLive) > v.Interval.QuietAfter {
		v.Quiet, v.QuietFor = true, now.Sub(d.lastLive)
	}
	if len(d.battery) > 0 {
		last := d.battNow
		samples := slices.Clone(d.battery)
		if samples[len(samples)-1] != last {
			samples = append(samples, last)
		}
		v.Battery = &Battery{Level: last.Level, At: time.Unix(last.Tst, 0).UTC(), Charging: d.charging,
			Samples: samples, PerHour: trend(samples, last.Tst-24*3600)}
	}
	if !d.app.At.IsZero() {
		a := d.app
		v.App = &a
	}
	return v
}

// trend is the least-squares slope of the samples since from, in % per
// hour; 0 with fewer than two.
func trend(s []BatterySample, from int64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, b := range s {
		if b.Tst < from {
			continue
		}
		x := float64(b.Tst-from) / 3600
		y := float64(b.Level)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	den := n*sxx - sx*sx
	if n < 2 || den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}
