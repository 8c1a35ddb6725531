package web

import (
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tracker/projections/health"
	"tracker/views"
	"tracker/views/web/internal/httpx"
)

// Device health (/admin/devices, GET /api/v1/devices/health, admins only,
// and a bounded part of /metrics): each device's figures from the health
// fold (projections/health).

// DeviceHealth is the health fold as the server reads it.
type DeviceHealth interface {
	Report(now time.Time) health.Report
}

// HealthReport answers GET /api/v1/devices/health.
type HealthReport struct {
	health.Report
	LogHead uint64 `json:"log_head"` // the figures include events up to Applied of LogHead
}

func (s *Server) healthReport() (HealthReport, bool) {
	if s.Health == nil {
		return HealthReport{}, false
	}
	return HealthReport{Report: s.Health.Report(s.now()), LogHead: s.Log.Head()}, true
}

func (s *Server) devicesHealth(w http.ResponseWriter, r *http.Request) {
	rep, ok := s.healthReport()
	if !ok {
		s.httpError(w, r, http.StatusNotFound, "device health is not kept by this server", nil)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, rep)
}

// devicesPage shows every device's health.
func (s *Server) devicesPage(w http.ResponseWriter, r *http.Request) {
	p := s.pageFor(r, "Devices", "admin")
	rep, ok := s.healthReport()
	m := views.DevicesHealth{Page: p, Kept: ok, Applied: rep.Applied, LogHead: rep.LogHead, Untracked: rep.Untracked, MaxDevices: health.MaxDevices}
	names := map[string]string{}
	for _, f := range s.proj(r).Friends() {
		names[string(f.ID)] = f.DisplayName()
	}
	for _, d := range rep.Devices {
		m.Devices = append(m.Devices, views.DeviceHealthRow{Device: d, Name: names[string(d.ID)]})
	}
	s.render(w, r, views.DevicesHealthPage(m))
}

// MetricsMaxDevices bounds the devices whose health /metrics exports
// (those heard from most recently), so the label sets stay bounded;
// tracker_device_health_devices says how many there are in all.
const MetricsMaxDevices = 50

var (
	descHealthDevices  = prometheus.NewDesc("tracker_device_health_devices", "Devices whose health is kept (all of them, exported or not).", nil, nil)
	descHealthExported = prometheus.NewDesc("tracker_device_health_exported", "Devices whose health is exported below: at most 50, those heard from most recently.", nil, nil)
	descDeviceLast     = prometheus.NewDesc("tracker_device_last_message_timestamp_seconds", "Arrival of the device's newest message, by transport (embedded, mqtt, http, import).", []string{"device", "transport"}, nil)
	descDeviceDelay    = prometheus.NewDesc("tracker_device_delay_seconds", "Arrival time minus the phone's tst over the device's newest 256 fixes, by quantile (0.5, 0.95).", []string{"device", "quantile"}, nil)
	descDeviceGaps     = prometheus.NewDesc("tracker_device_gaps_total", "Silences longer than twice the device's usual interval.", []string{"device"}, nil)
	descDeviceDup      = prometheus.NewDesc("tracker_device_duplicates_total", "Messages that told nothing new, by kind (redelivered, repeated).", []string{"device", "kind"}, nil)
	descDeviceInvalid  = prometheus.NewDesc("tracker_device_invalid_total", "Messages of the device the server could not use.", []string{"device"}, nil)
	descDeviceBattery  = prometheus.NewDesc("tracker_device_battery_percent", "The device's newest battery level.", []string{"device"}, nil)
	descDeviceQuiet    = prometheus.NewDesc("tracker_device_quiet", "1 when the device has been silent for longer than twice its usual interval.", []string{"device"}, nil)
)

// healthCollector exports the health of at most MetricsMaxDevices devices.
type healthCollector struct {
	h   DeviceHealth
	now func() time.Time
}

func (healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHealthDevices, descHealthExported, descDeviceLast, descDeviceDelay, descDeviceGaps, descDeviceDup, descDeviceInvalid, descDeviceBattery, descDeviceQuiet} {
		ch <- d
	}
}

func (c healthCollector) Collect(ch chan<- prometheus.Metric) {
	devs := c.h.Report(c.now()).Devices
	ch <- prometheus.MustNewConstMetric(descHealthDevices, prometheus.GaugeValue, float64(len(devs)))
	slices.SortStableFunc(devs, func(a, b health.Device) int { return b.LastSeen.Compare(a.LastSeen) })
	devs = devs[:min(len(devs), MetricsMaxDevices)]
	ch <- prometheus.MustNewConstMetric(descHealthExported, prometheus.GaugeValue, float64(len(devs)))
	for _, d := range devs {
		id := string(d.ID)
		for tr, t := range d.Transports {
			ch <- prometheus.MustNewConstMetric(descDeviceLast, prometheus.GaugeValue, float64(t.Unix()), id, tr)
		}
		if d.Delay.Samples > 0 {
			ch <- prometheus.MustNewConstMetric(descDeviceDelay, prometheus.GaugeValue, d.Delay.Median, id, "0.5")
			ch <- prometheus.MustNewConstMetric(descDeviceDelay, prometheus.GaugeValue, d.Delay.P95, id, "0.95")
		}
		ch <- prometheus.MustNewConstMetric(descDeviceGaps, prometheus.CounterValue, float64(d.Gaps.Count), id)
		ch <- prometheus.MustNewConstMetric(descDeviceDup, prometheus.CounterValue, float64(d.Duplicates.Redelivered), id, "redelivered")
		ch <- prometheus.MustNewConstMetric(descDeviceDup, prometheus.CounterValue, float64(d.Duplicates.Repeated), id, "repeated")
		ch <- prometheus.MustNewConstMetric(descDeviceInvalid, prometheus.CounterValue, float64(d.Invalid.Count), id)
		if d.Battery != nil {
			ch <- prometheus.MustNewConstMetric(descDeviceBattery, prometheus.GaugeValue, float64(d.Battery.Level), id)
		}
		ch <- prometheus.MustNewConstMetric(descDeviceQuiet, prometheus.GaugeValue, b2f(d.Quiet), id)
	}
}
