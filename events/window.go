package events

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// AppendWindow appends events with up to a window of them in flight, so
// the log writes them in large group commits (an import, an upload), and
// counts each append's outcome. The first failure stops further appends.
type AppendWindow struct {
	app     Appender
	slots   chan struct{}
	wg      sync.WaitGroup
	stored  *atomic.Uint64
	present *atomic.Uint64

	mu  sync.Mutex
	err error
}

// NewAppendWindow appends to app with up to n events in flight, adding
// one to stored for each event logged and to present for each the log
// already held (an import key seen before).
func NewAppendWindow(app Appender, n int, stored, present *atomic.Uint64) *AppendWindow {
	return &AppendWindow{app: app, slots: make(chan struct{}, n), stored: stored, present: present}
}

// Err is the first append's failure, if any.
func (w *AppendWindow) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Add hands e to the log, waiting while the window is full.
func (w *AppendWindow) Add(ctx context.Context, e Event) error {
	if err := w.Err(); err != nil {
		return err
	}
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.wg.Add(1)
	w.app.AppendAsync(e, func(_ uint64, err error) {
		defer func() { <-w.slots; w.wg.Done() }()
		switch {
		case err == nil:
			w.stored.Add(1)
		case IsAlreadyLogged(err):
			w.present.Add(1)
		default:
			w.mu.Lock()
			if w.err == nil {
				w.err = err
			}
			w.mu.Unlock()
		}
	})
	return nil
}

// Wait waits for every event handed over and returns the first failure.
func (w *AppendWindow) Wait() error {
	w.wg.Wait()
	return w.Err()
}

// IsAlreadyLogged reports whether err says the log already held the event
// (an import key seen before: badgerlog.ErrAlreadyLogged), recognised by
// behaviour so that packages need not import the log's.
func IsAlreadyLogged(err error) bool {
	var al interface{ AlreadyLogged() bool }
	return errors.As(err, &al) && al.AlreadyLogged()
}
