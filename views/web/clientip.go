package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the address a request came from: the direct peer, or, when
// the peer is a trusted proxy, the right-most X-Forwarded-For entry that
// is not itself a trusted proxy. Entries to the left of that one were
// written by the client and prove nothing (a client sending
// "X-Forwarded-For: 127.0.0.1" must not look like loopback, and one
// rotating the header must not get a fresh login budget each time).
func (a *Auth) ClientIP(r *http.Request) string {
	peer := hostOnly(r.RemoteAddr)
	if !a.fromTrustedProxy(r) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		ip, err := parseHop(hop)
		if err != nil {
			// A trusted proxy wrote something that is not an address;
			// whoever sent it is unknown, and must neither pass for the
			// proxy (often loopback) nor choose a fresh name per request.
			return invalidForwarded
		}
		client = ip.String()
		if !a.trusted(ip) {
			return client
		}
	}
	return client // every hop is a trusted proxy: the left-most is the client
}

// invalidForwarded is the client address of a request whose
// X-Forwarded-For has garbage where a trusted proxy's entry should be.
const invalidForwarded = "invalid-x-forwarded-for"

// fromTrustedProxy reports whether the request's direct peer is one of
// TrustedProxies, so its X-Forwarded-* headers may be believed.
func (a *Auth) fromTrustedProxy(r *http.Request) bool {
	if len(a.TrustedProxies) == 0 {
		return false
	}
	ip, err := netip.ParseAddr(hostOnly(r.RemoteAddr))
	return err == nil && a.trusted(ip)
}

func (a *Auth) trusted(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range a.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("203.0.113.7:4711", "[2001:db8::1]:4711").
func parseHop(hop string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(hop); err == nil {
		return ip.Unmap().WithZone(""), nil
	}
	ap, err := netip.ParseAddrPort(hop)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap().WithZone(""), nil
}

// hostOnly drops the port from a "host:port" address, if it has one.
func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// ParseTrustedProxies parses --trusted-proxy values: CIDRs or single
// addresses, repeatable or comma-separated. For configurations written
// when the flag was a switch, "true" means a proxy on this machine
// (loopback) and "false" means none.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range list {
		for _, item := range strings.Split(v, ",") {
			switch item = strings.TrimSpace(item); strings.ToLower(item) {
			case "", "false":
				continue
			case "true":
				out = append(out, netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
				continue
			}
			p, err := parsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("--trusted-proxy %q: want the proxy's address or network, such as 127.0.0.1 or 10.0.0.0/8", item)
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// parsePrefix reads a CIDR or a single address (as a one-address prefix).
func parsePrefix(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
