package notify_test

import (
	"context"
	"testing"
	"time"

	"tracker/projections"
	"tracker/views/notify"
)

// BenchmarkFollow is what the notification rules cost the projector per
// save (a fix that changed one friend and crossed one area): Follow runs
// on the projector's goroutine, so this is all they add to ingest. The
// evaluator drains the queue meanwhile, as in serve.
func BenchmarkFollow(b *testing.B) {
	d := notify.New(notify.Options{Source: noUsers{}, Tick: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	ch := projections.NewChanges()
	ch.Friends["ben/phone"] = true
	ch.AreaEvents = append(ch.AreaEvents, projections.AreaEvent{Seq: 1, Tst: 1, Device: "ben/phone", Area: "s:home", AreaName: "Home",
		Event: "enter", Origin: projections.OriginGeometry})
	b.ReportAllocs()
	for b.Loop() {
		d.Follow(ch)
	}
	b.StopTimer()
	cancel()
	<-done
	// A flood far beyond any projector's pace: the evaluator keeps up
	// with a part, the rest is shed (and counted), never waited for.
	b.ReportMetric(100*float64(d.Stats().EvalDropped)/float64(b.N), "%shed")
}

// noUsers has no rules: the evaluator reads and drops each change.
type noUsers struct{}

func (noUsers) User(string) (projections.User, bool) { return projections.User{}, false }
func (noUsers) Users() []projections.User            { return nil }
