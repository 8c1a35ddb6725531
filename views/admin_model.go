package views

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"time"

	"tracker/projections"
	"tracker/projections/health"
)

// AdminOps is the operations page (/admin): rebuild, import, export and
// what the data takes on disk.
type AdminOps struct {
	Page
	Storage AdminStorage
	Jobs    AdminJobs
	Devices []projections.DeviceID // for the import's device field and the exports
}

// AdminStorage is the data directory's figures.
type AdminStorage struct {
	Events                                 uint64
	LogBytes, ProjectionsBytes, OtherBytes int64
	FreeBytes, MinFreeBytes                uint64
	DiskLow                                bool
	Error                                  string
}

// AdminJob is a rebuild or an import as the page shows it on load.
type AdminJob struct {
	Running           bool
	Done, Total       uint64
	What              string
	Started, Finished time.Time
	Error             string
}

// State is the job's state for the page's script: idle, running, done or
// failed.
func (j AdminJob) State() string {
	switch {
	case j.Running:
		return "running"
	case j.Error != "":
		return "failed"
	case !j.Finished.IsZero():
		return "done"
	}
	return "idle"
}

// AdminJobs are the running or last rebuild and import.
type AdminJobs struct {
	Rebuild, Import               AdminJob
	RebuildEvents, RebuildInvalid uint64
	ImportText                    string // the last import's summary
}

// ExportRangeDays is the range of the per-device export links.
const ExportRangeDays = 30

// ExportURL is the download of dev's last ExportRangeDays days in format
// ext (gpx, geojson, csv).
func (m AdminOps) ExportURL(dev projections.DeviceID, ext string) string {
	return fmt.Sprintf("%s/export.%s?from=%d&to=%d", DeviceURL(dev), ext, m.Now.AddDate(0, 0, -ExportRangeDays).Unix(), m.Now.Add(time.Hour).Unix())
}

// DeviceURL is the device's history page.
func DeviceURL(dev projections.DeviceID) string {
	user, device := dev.Split()
	return "/friends/" + url.PathEscape(user) + "/" + url.PathEscape(device)
}

// Bytes shows a size in binary units, as the flags take them.
func Bytes[T int64 | uint64](n T) string {
	v := float64(n)
	for _, u := range []string{"B", "KB", "MB", "GB"} {
		if v < 1024 {
			if u == "B" {
				return strconv.FormatFloat(v, 'f', 0, 64) + " " + u
			}
			return strconv.FormatFloat(v, 'f', 1, 64) + " " + u
		}
		v /= 1024
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " TB"
}

// DevicesHealth is the device health page (/admin/devices).
type DevicesHealth struct {
	Page
	Kept       bool // the server keeps device health
	Applied    uint64
	LogHead    uint64
	Untracked  uint64
	MaxDevices int
	Devices    []DeviceHealthRow
}

// CatchingUp reports whether the figures do not include the whole log yet.
func (m DevicesHealth) CatchingUp() bool { return m.Applied < m.LogHead }

// QuietCount is how many devices are quiet.
func (m DevicesHealth) QuietCount() int {
	n := 0
	for _, d := range m.Devices {
		if d.Quiet {
			n++
		}
	}
	return n
}

// DeviceHealthRow is one device on the page.
type DeviceHealthRow struct {
	health.Device
	Name string // the card's name, when known
}

// DomID is the row's element id.
func (d DeviceHealthRow) DomID() string { return domID("dev-", string(d.ID)) }

// Title is the name to show first.
func (d DeviceHealthRow) Title() string {
	if d.Name != "" {
		return d.Name
	}
	return d.User
}

// Seconds shows a delay in seconds, minutes or hours.
func Seconds(s float64) string {
	return Duration(time.Duration(s * float64(time.Second)))
}

// Duration shows a duration briefly: "45 s", "12 min", "3.5 h", "2.1 days".
func Duration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		s = strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		s = strconv.FormatFloat(math.Round(d.Hours()*10)/10, 'f', -1, 64) + " h"
	default:
		s = strconv.FormatFloat(math.Round(d.Hours()/24*10)/10, 'f', -1, 64) + " days"
	}
	if neg {
		return "−" + s
	}
	return s
}

// TrendText shows a battery trend: "−6.0 %/h", "+12.5 %/h", "steady".
func TrendText(perHour float64) string {
	if math.Abs(perHour) < 0.05 {
		return "steady"
	}
	sign := "+"
	if perHour < 0 {
		sign = "−"
	}
	return sign + strconv.FormatFloat(math.Abs(perHour), 'f', 1, 64) + " %/h"
}

// Sparkline is an SVG polyline's points for the battery samples, in a
// 100×24 box, scaled to their range (at least 10 points, so a steady
// battery draws a flat line, not noise).
func Sparkline(s []health.BatterySample) string {
	if len(s) < 2 {
		return ""
	}
	t0, t1 := s[0].Tst, s[len(s)-1].Tst
	span := float64(max(t1-t0, 1))
	lo, hi := s[0].Level, s[0].Level
	for _, b := range s {
		lo, hi = min(lo, b.Level), max(hi, b.Level)
	}
	if hi-lo < 10 {
		mid := (hi + lo) / 2
		lo, hi = max(mid-5, 0), min(mid+5, 100)
		if hi-lo < 10 {
			lo, hi = min(lo, hi-10), max(hi, lo+10)
		}
	}
	out := make([]byte, 0, len(s)*12)
	for i, b := range s {
		if i > 0 {
			out = append(out, ' ')
		}
		x := float64(b.Tst-t0) / span * 100
		y := 22 - float64(b.Level-lo)/float64(hi-lo)*20
		out = strconv.AppendFloat(out, math.Round(x*10)/10, 'f', -1, 64)
		out = append(out, ',')
		out = strconv.AppendFloat(out, math.Round(y*10)/10, 'f', -1, 64)
	}
	return string(out)
}

// TransportName is how the page names a transport.
func TransportName(tr string) string {
	switch tr {
	case health.TransportEmbedded:
		return "MQTT (embedded)"
	case health.TransportMQTT:
		return "MQTT (external)"
	case health.TransportHTTP:
		return "HTTP"
	case health.TransportImport:
		return "Import"
	}
	return tr
}

// healthTransports are the transports that carried a message of d, in
// display order.
func healthTransports(d health.Device) []string {
	var out []string
	for _, tr := range health.Transports {
		if _, ok := d.Transports[tr]; ok {
			out = append(out, tr)
		}
	}
	return out
}

// adminUsers are the users of devs, once each, in order.
func adminUsers(devs []projections.DeviceID) []string {
	var out []string
	for _, d := range devs {
		u, _ := d.Split()
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// adminDeviceNames are the device names of devs, once each, in order.
func adminDeviceNames(devs []projections.DeviceID) []string {
	var out []string
	for _, d := range devs {
		_, n := d.Split()
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// AdminSection reports whether the page named active is one of the admin
// pages, which the main navigation's one Admin link stands for.
func AdminSection(active string) bool {
	switch active {
	case "admin", "devices", "users", "log", "erase":
		return true
	}
	return false
}
