package web

import "github.com/go-chi/chi/v5"

// historyRoutes: the per-friend history page and its downloads.
func (s *Server) historyRoutes(r chi.Router) {}
