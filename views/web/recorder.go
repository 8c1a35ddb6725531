package web

import (
	"context"
	"net/http"

	"tracker/views/web/recorder"
)

// AddressBook names street addresses (views/nominatim): Deps.Addresses.
type AddressBook = recorder.AddressBook

// recorderAPI is the OwnTracks Recorder-compatible /api/0 and /ws/last
// (views/web/recorder), reading the projections as each viewer may see
// them.
func (s *Server) recorderAPI() *recorder.API {
	a := &recorder.API{
		Read: func(r *http.Request) recorder.Reader { return s.proj(r) },
		Current: func(r *http.Request) (string, func() (recorder.Reader, bool)) {
			v := ViewerFrom(r.Context())
			return v.Name, func() (recorder.Reader, bool) {
				cur, err := s.Auth.current(v)
				if err != nil {
					return nil, false
				}
				return s.projAs(cur), true
			}
		},
		Log:     s.Log,
		Events:  s.Events,
		WaitFor: func(ctx context.Context, seq uint64) error { return s.projector.WaitFor(ctx, seq) },
		Decoder: s.decoder(),
		Logger:  s.Logger,
		Now:     s.now,
	}
	if s.Addresses != nil {
		a.Addresses = s.Addresses
	}
	if s.Hub != nil { // the hub hears account changes and logouts
		a.Watch = s.Hub.Watch
	}
	return a
}
