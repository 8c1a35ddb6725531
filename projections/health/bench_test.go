package health_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections/health"
)

// BenchmarkFold folds decoded locations of 100 devices: the cost per
// event of keeping device health beside the projections (decoding not
// included: the tracker shares nothing with the projector, so a start
// decodes the log once more; see BenchmarkDecodeAndFold).
func BenchmarkFold(b *testing.B) {
	d := owntracks.Decoder{}
	const devices = 100
	evs := make([]events.Event, 10_000)
	msgs := make([]owntracks.Message, len(evs))
	for i := range evs {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		evs[i] = events.Event{Seq: uint64(i + 1), Received: at, Source: events.SourceEmbedded,
			Topic: fmt.Sprintf("owntracks/u%d/phone", i%devices), Payload: []byte(loc(at.Add(-2*time.Second), fmt.Sprintf(`,"batt":%d`, 100-i%100)))}
		msgs[i], _ = d.DecodeAt(evs[i].Topic, evs[i].Payload, evs[i].Received)
	}
	h := health.New()
	b.ResetTimer()
	for i := range b.N {
		k := i % len(evs)
		h.Apply(evs[k], msgs[k], nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkDecodeAndFold is what the tracker does per event at start.
func BenchmarkDecodeAndFold(b *testing.B) {
	d := owntracks.Decoder{}
	evs := make([]events.Event, 10_000)
	for i := range evs {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		evs[i] = events.Event{Seq: uint64(i + 1), Received: at, Source: events.SourceEmbedded,
			Topic: fmt.Sprintf("owntracks/u%d/phone", i%100), Payload: []byte(loc(at.Add(-2*time.Second), `,"batt":50,"acc":12,"alt":40,"vel":3,"conn":"w"`))}
	}
	h := health.New()
	b.ResetTimer()
	for i := range b.N {
		e := evs[i%len(evs)]
		m, err := d.DecodeAt(e.Topic, e.Payload, e.Received)
		h.Apply(e, m, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMemoryPerDevice measures the heap one device's figures take
// once every window is full, at the MaxDevices cap.
func BenchmarkMemoryPerDevice(b *testing.B) {
	d := owntracks.Decoder{}
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		h := health.New()
		for i := range health.Window + 50 {
			at := t0.Add(time.Duration(i) * 11 * time.Minute)
			for dev := range health.MaxDevices {
				e := events.Event{Seq: 1, Received: at, Source: events.SourceEmbedded, Topic: fmt.Sprintf("owntracks/u%d/phone", dev)}
				e.Payload = []byte(loc(at.Add(-time.Second), `,"batt":50`))
				m, err := d.DecodeAt(e.Topic, e.Payload, e.Received)
				h.Apply(e, m, err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/health.MaxDevices, "B/device")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MB/2000devices")
		runtime.KeepAlive(h)
	}
}
