package web

import "github.com/go-chi/chi/v5"

// areaPageRoutes: the areas page.
func (s *Server) areaPageRoutes(r chi.Router) {}
