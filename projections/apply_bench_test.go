package projections_test

import (
	"fmt"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/owntracks"
	"tracker/projections"
)

// applyInputs are n decoded locations of 200 devices, 10 s apart, after
// one server area.
func applyInputs(n int) []projections.Input {
	d := owntracks.Decoder{}
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Unix()
	ins := []projections.Input{projections.Decode(d, events.Event{Seq: 1, Topic: projections.AreaTopic, Source: events.SourceAdmin, Received: time.Unix(base, 0),
		Payload: []byte(`{"_type":"area","action":"define","name":"Park","center":{"lat":48.85,"lon":2.35},"radius":300}`)})}
	for i := range n {
		dev, k := i%200, i/200
		tst := base + int64(k)*10
		ins = append(ins, projections.Decode(d, events.Event{Seq: uint64(i + 2), Topic: fmt.Sprintf("owntracks/user%03d/phone", dev),
			Source: events.SourceEmbedded, Received: time.Unix(tst+1, 0),
			Payload: fmt.Appendf(nil, `{"_type":"location","lat":%.5f,"lon":2.35,"tst":%d,"acc":%d,"batt":80}`, 48.85+float64(k%40)*0.0002, tst, 5+k%30)}))
	}
	return ins
}

// BenchmarkApply is the fold alone over locations (what a rebuild's
// applying stage does per event), printing events/s.
func BenchmarkApply(b *testing.B) {
	ins := applyInputs(200_000)
	b.ResetTimer()
	for b.Loop() {
		s, ch := projections.NewState(), projections.NewChanges()
		for i, in := range ins {
			projections.Apply(s, in, ch)
			if i%2000 == 0 {
				ch.Reset()
			}
		}
	}
	b.ReportMetric(float64(len(ins))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkApplyCorrected is BenchmarkApply with corrections in force:
// every device has a hidden range and everyone a 25 m limit (a sixth of
// the fixes are over it), so each fix is checked against them.
func BenchmarkApplyCorrected(b *testing.B) {
	ins := applyInputs(200_000)
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).Unix()
	var pre []projections.Input
	for dev := range 200 {
		c := fmt.Appendf(nil, `{"_type":"correction","action":"hide","user":"user%03d","device":"phone","from":%d,"to":%d}`, dev, base+3600, base+7200)
		pre = append(pre, projections.Decode(owntracks.Decoder{}, events.Event{Seq: uint64(1_000_000 + dev), Topic: projections.CorrectionTopic, Source: events.SourceAdmin, Received: time.Unix(base, 0), Payload: c}))
	}
	pre = append(pre, projections.Decode(owntracks.Decoder{}, events.Event{Seq: 2_000_000, Topic: projections.CorrectionTopic, Source: events.SourceAdmin, Received: time.Unix(base, 0),
		Payload: []byte(`{"_type":"correction","action":"accuracy","all":true,"max":25}`)}))
	b.ResetTimer()
	for b.Loop() {
		s, ch := projections.NewState(), projections.NewChanges()
		for _, in := range pre {
			projections.Apply(s, in, ch)
		}
		for i, in := range ins {
			projections.Apply(s, in, ch)
			if i%2000 == 0 {
				ch.Reset()
			}
		}
	}
	b.ReportMetric(float64(len(ins))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
