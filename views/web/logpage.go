package web

import "github.com/go-chi/chi/v5"

// logPageRoutes: the event log page.
func (s *Server) logPageRoutes(r chi.Router) {}
