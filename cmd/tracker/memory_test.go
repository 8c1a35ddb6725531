package main

import (
	"context"
	"math"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

// projectorAt stands for the projector's checkpoint, moved by the test.
type projectorAt struct {
	mu sync.Mutex
	cp uint64
	ch chan struct{}
}

func (p *projectorAt) Checkpoint() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cp
}

func (p *projectorAt) WaitFor(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		done, ch := p.cp >= seq, p.ch
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (p *projectorAt) advance(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cp = seq
	close(p.ch)
	p.ch = make(chan struct{})
}

// TestMemoryLimitWhileCatchingUp: serve's start holds Go's memory to the
// batch commands' soft limit while the projections are rebuilt or catch
// up, and lifts it once they reach the log's head; projections already
// caught up set no limit.
func TestMemoryLimitWhileCatchingUp(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "") // the environment would override it
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	before := limit()
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	debug.SetMemoryLimit(math.MaxInt64)

	upToDate := &projectorAt{cp: 10, ch: make(chan struct{})}
	wait := limitMemoryWhileCatchingUp(t.Context(), upToDate, 10)
	if got := limit(); got != math.MaxInt64 {
		t.Errorf("caught up: memory limit %d, want none", got)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	behind := &projectorAt{ch: make(chan struct{})}
	wait = limitMemoryWhileCatchingUp(t.Context(), behind, 1_000_000)
	if got := limit(); got != batchMemoryLimit {
		t.Errorf("rebuilding: memory limit %d, want %d", got, batchMemoryLimit)
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()
	behind.advance(999_999)
	select {
	case <-done:
		t.Fatal("limit lifted before the projections reached the head")
	case <-time.After(50 * time.Millisecond):
	}
	if got := limit(); got != batchMemoryLimit {
		t.Errorf("still rebuilding: memory limit %d, want %d", got, batchMemoryLimit)
	}
	behind.advance(1_000_000)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := limit(); got != math.MaxInt64 {
		t.Errorf("rebuilt: memory limit %d, want the one before (none)", got)
	}

	// Shutdown during the rebuild lifts it too.
	ctx, cancel := context.WithCancel(t.Context())
	wait = limitMemoryWhileCatchingUp(ctx, &projectorAt{ch: make(chan struct{})}, 5)
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if got := limit(); got != math.MaxInt64 {
		t.Errorf("after cancel: memory limit %d, want none", got)
	}
}
