package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// checkHost refuses requests whose Host is not one of the server's names,
// so a page on another site cannot reach this server through DNS
// rebinding (its name re-pointed at 127.0.0.1 or a LAN address: the
// browser then sends that page's name as Host, and treats the answers as
// same-origin). Allowed: AllowedHosts (the public URL's name, ACME
// domains, listen addresses, --allowed-host), loopback names, and any IP
// address (a rebinding page is always reached by a name, never by an
// address). /healthz answers any Host, for container health checks.
func (s *Server) checkHost(next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, h := range s.AllowedHosts {
		if h = normalHost(h); h != "" {
			allowed[h] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := normalHost(r.Host)
		if allowed[host] || hostAlwaysAllowed(host) || r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		s.Logger.Warn("request refused: unknown Host (DNS rebinding, or a name missing from --allowed-host)",
			"host", r.Host, "uri", r.URL.RequestURI(), "remote", r.RemoteAddr)
		http.Error(w, "this server does not answer to the name "+quoteHost(r.Host)+
			"; if it is one of its names, start it with --allowed-host NAME", http.StatusMisdirectedRequest)
	})
}

// normalHost is the name part of a Host header or listen address, lower
// case, without port or trailing dot. Bare IPv6 addresses keep their colons.
func normalHost(h string) string {
	h = strings.TrimSpace(h)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

func hostAlwaysAllowed(host string) bool {
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// quoteHost shows a Host value in an error, cut short and without
// control characters.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, `"`+h+`"`)
}
