package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/acme/autocert"
	"golang.org/x/net/idna"
	"golang.org/x/sync/errgroup"

	"tracker/views/web"
)

// tlsFlags are serve's TLS settings: where the certificate comes from
// (PEM files, or ACME) and the listeners that serve it.
type tlsFlags struct {
	TLSCert, TLSKey string // PEM files: HTTPS on --http, reloaded on SIGHUP

	ACMEDomains        listFlag // names to get certificates for; repeatable, comma-separated
	ACMEEmail          string   // contact for the ACME account (optional)
	HTTPSListen        string   // ACME: HTTPS address, default ":443"
	HTTPRedirectListen string   // ACME: HTTP-01 challenges and redirect to HTTPS, default ":80"

	MQTTTLSListen string // embedded broker MQTT over TLS, beside --mqtt-listen; off when empty
}

// Defaults of the ACME listeners.
const (
	defaultHTTPSListen    = ":443"
	defaultRedirectListen = ":80"
)

func (c *tlsFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.TLSCert, "tls-cert", "", "certificate chain PEM `file`: serve HTTPS on --http (reloaded on SIGHUP, e.g. after a renewal)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "private key PEM `file` for --tls-cert")
	fs.Var(&c.ACMEDomains, "acme-domain", "domain `name` to get certificates for automatically (ACME, Let's Encrypt), repeatable or comma-separated; serves HTTPS on --https-listen")
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "contact e-mail `address` for the ACME account (expiry notices)")
	fs.StringVar(&c.HTTPSListen, "https-listen", "", "HTTPS listen `address` with --acme-domain (default "+defaultHTTPSListen+")")
	fs.StringVar(&c.HTTPRedirectListen, "http-redirect-listen", "", "plain HTTP listen `address` with --acme-domain: answers ACME HTTP-01 challenges, redirects everything else to https (default "+defaultRedirectListen+")")
	fs.StringVar(&c.MQTTTLSListen, "mqtt-tls-listen", "", "embedded broker MQTT-over-TLS listen `address` (e.g. :8883), with the certificate of --tls-cert or --acme-domain (off when empty)")
}

// tlsSetup is what the TLS settings resolve to. The zero value is TLS
// off: plain HTTP on --http.
type tlsSetup struct {
	files *certFiles        // --tls-cert: HTTPS on --http
	acme  *autocert.Manager // --acme-domain: HTTPS on httpsAddr

	domains      []string // ACME names; redirects go to the first unless the request names another
	httpsAddr    string   // ACME HTTPS listener
	redirectAddr string   // ACME challenge and redirect listener
}

// resolveTLS checks the TLS settings and loads the certificate files or
// prepares the ACME manager (which caches under <data>/acme).
func (c *serveConfig) resolveTLS() (tlsSetup, error) {
	f := c.tlsFlags
	domains, err := acmeDomains(f.ACMEDomains)
	if err != nil {
		return tlsSetup{}, err
	}
	acme := len(domains) > 0
	switch {
	case f.TLSCert != "" && acme:
		return tlsSetup{}, errors.New("--tls-cert and --acme-domain are mutually exclusive: serve the certificate from files or get one automatically, not both")
	case (f.TLSCert == "") != (f.TLSKey == ""):
		return tlsSetup{}, errors.New("--tls-cert and --tls-key go together: give both PEM files")
	case !acme && f.ACMEEmail != "":
		return tlsSetup{}, errors.New("--acme-email needs --acme-domain")
	case !acme && (f.HTTPSListen != "" || f.HTTPRedirectListen != ""):
		return tlsSetup{}, errors.New("--https-listen and --http-redirect-listen need --acme-domain (with --tls-cert, --http itself serves HTTPS)")
	case f.MQTTTLSListen != "" && f.TLSCert == "" && !acme:
		return tlsSetup{}, errors.New("--mqtt-tls-listen needs a certificate: --tls-cert and --tls-key, or --acme-domain")
	case f.MQTTTLSListen != "" && c.Broker != "":
		return tlsSetup{}, errors.New("--mqtt-tls-listen is for the embedded broker; it cannot be used with --broker")
	}
	var s tlsSetup
	if f.TLSCert != "" {
		if s.files, err = loadCertFiles(f.TLSCert, f.TLSKey); err != nil {
			return tlsSetup{}, err
		}
	}
	if acme {
		s.acme = newACMEManager(domains, f.ACMEEmail, c.Data.acmeCache())
		s.domains = domains
		s.httpsAddr = cmp.Or(f.HTTPSListen, defaultHTTPSListen)
		s.redirectAddr = cmp.Or(f.HTTPRedirectListen, defaultRedirectListen)
	}
	return s, nil
}

// acmeDomains splits, trims and checks the --acme-domain values.
func acmeDomains(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
			if d == "" {
				continue
			}
			if _, err := idna.Lookup.ToASCII(d); err != nil || net.ParseIP(d) != nil {
				return nil, fmt.Errorf("--acme-domain %q: want a DNS name like tracker.example.org (no scheme, port or IP address)", d)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// newACMEManager gets and renews certificates for domains only, keeping
// the account and certificates in dir.
func newACMEManager(domains []string, email, dir string) *autocert.Manager {
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(domains...),
		Cache:      autocert.DirCache(dir),
		Email:      email,
	}
}

// publicAddrs are the listeners ACME adds, for the rule that nothing
// listens beyond loopback while no user exists.
func (s tlsSetup) publicAddrs() []string {
	if s.acme == nil {
		return nil
	}
	return []string{s.httpsAddr, s.redirectAddr}
}

// getCertificate is the certificate source, nil with TLS off.
func (s tlsSetup) getCertificate() func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	switch {
	case s.files != nil:
		return s.files.GetCertificate
	case s.acme != nil:
		return s.acme.GetCertificate
	}
	return nil
}

// mqttConfig is the embedded broker's TLS listener configuration, nil
// with TLS off. It offers no ALPN protocols, so MQTT clients asking for
// one ("mqtt") are not refused.
func (s tlsSetup) mqttConfig() *tls.Config {
	get := s.getCertificate()
	if get == nil {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: get}
}

// configureHTTP makes srv (the --http server) speak TLS with the
// certificate files; with ACME or TLS off, --http stays plain.
func (s tlsSetup) configureHTTP(srv *http.Server, logger *slog.Logger) {
	if s.files == nil {
		return
	}
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.files.GetCertificate}
	srv.ErrorLog = httpErrorLog(logger)
}

// scheme is the --http listener's URL scheme.
func (s tlsSetup) scheme() string {
	if s.files != nil {
		return "https"
	}
	return "http"
}

// httpErrorLog routes net/http's own messages (mostly failed TLS
// handshakes from scanners) into slog at debug level.
func httpErrorLog(logger *slog.Logger) *log.Logger {
	return slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelDebug)
}

// serveHTTP serves srv on ln, with TLS when srv has a TLS configuration.
func serveHTTP(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "") // the certificate comes from GetCertificate
	}
	return srv.Serve(ln)
}

// watchReloads reloads the certificate files on SIGHUP until ctx ends.
// It subscribes before returning, so from then on a SIGHUP reloads
// rather than ends the process.
func (s tlsSetup) watchReloads(ctx context.Context, g *errgroup.Group, logger *slog.Logger) {
	if s.files == nil {
		return
	}
	cert, _ := s.files.GetCertificate(nil)
	logger.Info("serving the TLS certificate from files; send SIGHUP to reload it", "cert", s.files.certFile, certAttrs(cert))
	warnExpired(cert, s.files.certFile, logger)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	g.Go(func() error {
		defer signal.Stop(hup)
		s.files.reloadOn(ctx, hup, logger)
		return nil
	})
}

// servePublic opens the ACME listeners and serves on them until ctx
// ends: h over HTTPS, and on plain HTTP the HTTP-01 challenges and a
// redirect to https. It does nothing without ACME. On error nothing is
// left open.
func (s tlsSetup) servePublic(ctx context.Context, g *errgroup.Group, h http.Handler, logger *slog.Logger) error {
	if s.acme == nil {
		return nil
	}
	httpsLn, err := net.Listen("tcp", s.httpsAddr)
	if err != nil {
		return portTaken(fmt.Errorf("HTTPS listen on %s: %w", s.httpsAddr, err), "HTTPS", s.httpsAddr, "https-listen")
	}
	redirectLn, err := net.Listen("tcp", s.redirectAddr)
	if err != nil {
		_ = httpsLn.Close()
		return portTaken(fmt.Errorf("HTTP redirect listen on %s: %w", s.redirectAddr, err), "HTTP", s.redirectAddr, "http-redirect-listen")
	}
	tlsConfig := s.acme.TLSConfig() // h2, http/1.1 and the tls-alpn-01 challenge
	tlsConfig.MinVersion = tls.VersionTLS12
	httpsSrv := web.NewHTTPServer(s.httpsAddr, h)
	httpsSrv.TLSConfig = tlsConfig
	redirectSrv := web.NewHTTPServer(s.redirectAddr, s.acme.HTTPHandler(http.HandlerFunc(s.redirect)))
	for _, srv := range []*http.Server{httpsSrv, redirectSrv} {
		srv.BaseContext = func(net.Listener) context.Context { return ctx }
		srv.ErrorLog = httpErrorLog(logger)
	}
	runHTTPServer(ctx, g, "HTTPS", httpsSrv, httpsLn)
	runHTTPServer(ctx, g, "HTTP redirect", redirectSrv, redirectLn)
	logger.Info("automatic certificates (ACME)", "domains", s.domains, "https", httpsLn.Addr().String(),
		"redirect", redirectLn.Addr().String(), "cache", s.acme.Cache)
	return nil
}

// runHTTPServer serves srv on ln in g, and shuts it down when ctx ends.
func runHTTPServer(ctx context.Context, g *errgroup.Group, what string, srv *http.Server, ln net.Listener) {
	g.Go(func() error {
		if err := serveHTTP(srv, ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("%s server: %w", what, err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
}

// redirect sends a plain HTTP request to the same path over https, on
// the host asked for when it is one of the ACME domains (the first one
// otherwise, so a Host header cannot point the redirect elsewhere).
func (s tlsSetup) redirect(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if s.acme.HostPolicy(r.Context(), host) != nil {
		host = s.domains[0]
	}
	http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
}

// certFiles serves the certificate in a pair of PEM files and reloads it
// on demand; a failed reload keeps the pair in use.
type certFiles struct {
	certFile, keyFile string

	mu   sync.RWMutex
	cert *tls.Certificate
}

func loadCertFiles(certFile, keyFile string) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile}
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.cert = cert
	return c, nil
}

func (c *certFiles) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s with key %s: %w", c.certFile, c.keyFile, err)
	}
	return &cert, nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (c *certFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cert, nil
}

// reload reads the files again and, if they hold a valid pair, serves it
// to new connections from now on.
func (c *certFiles) reload() (*tls.Certificate, error) {
	cert, err := c.load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cert = cert
	c.mu.Unlock()
	return cert, nil
}

// reloadOn reloads the certificate each time hup delivers, until ctx
// ends, and logs the outcome.
func (c *certFiles) reloadOn(ctx context.Context, hup <-chan os.Signal, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cert, err := c.reload()
		if err != nil {
			old, _ := c.GetCertificate(nil)
			logger.Error("TLS certificate not reloaded; still serving the previous one", "err", err, certAttrs(old))
			continue
		}
		logger.Info("TLS certificate reloaded", "cert", c.certFile, certAttrs(cert))
		warnExpired(cert, c.certFile, logger)
	}
}

// warnExpired warns when cert, read from file, has expired: clients will
// refuse it.
func warnExpired(cert *tls.Certificate, file string, logger *slog.Logger) {
	if cert != nil && cert.Leaf != nil && time.Now().After(cert.Leaf.NotAfter) {
		logger.Warn("the TLS certificate has expired; clients will refuse it", "cert", file, "not_after", cert.Leaf.NotAfter)
	}
}

// certAttrs describes a certificate for the log.
func certAttrs(cert *tls.Certificate) slog.Attr {
	if cert == nil || cert.Leaf == nil {
		return slog.Group("certificate")
	}
	l := cert.Leaf
	return slog.Group("certificate", "subject", l.Subject.CommonName, "names", l.DNSNames, "not_after", l.NotAfter)
}
