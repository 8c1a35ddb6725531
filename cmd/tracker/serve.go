package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"tracker/events"
	"tracker/events/audit"
	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/demo"
	"tracker/events/dynamomirror"
	"tracker/events/erasure"
	"tracker/events/mqttingest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/health"
	"tracker/projections/projector"
	"tracker/projections/visits"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
	"tracker/views/notify"
	"tracker/views/web"
)

// serveConfig is everything `tracker serve` is told.
type serveConfig struct {
	Data dataDir // data directory (event log and projections)
	HTTP string  // HTTP listen address

	// External broker; empty means run the embedded one.
	Broker         string
	BrokerClientID string
	BrokerUser     string
	BrokerPassword string
	BrokerCA       string
	BrokerCert     string
	BrokerKey      string
	BrokerTopics   listFlag

	// Embedded broker.
	MQTTListen   string
	MQTTWSListen string
	MQTTUsers    listFlag // "name:password"
	brokerLimits          // --mqtt-max-… (brokerlimits.go)

	secretFlags

	tlsFlags // HTTPS and MQTT over TLS: certificate files or ACME (tls.go)

	mirrorFlags // DynamoDB mirror of the log (mirror.go)

	diskFlags // --min-free-disk (disk.go)

	retentionFlags // --retain-history, --retain-check (erase.go)

	notifyFlags // --webhook-allow-private (notify.go)
	visitFlags  // --stay-radius, --stay-min, --stay-gap (visits.go)

	geocoderFlags // --geocoder-url (geocoder.go)

	pushFlags // --push-subject (webpush.go)

	Areas string // JSON file of areas to define when the log is new

	TrustedProxies listFlag // CIDRs of reverse proxies whose X-Forwarded-For is believed
	AllowedHosts   listFlag // names the server answers to besides its listen and ACME names
	PublicHost     string   // the name phones reach the server at, for /connect's configurations
	PublicURL      string   // the base URL share links start with (share.go)

	MetricsAllow listFlag // CIDRs that may read /metrics and /readyz without a login

	Tiles            string // map tile URL template
	TilesAttribution string

	StaleAfter time.Duration // a friend not heard from for longer looks stale on the dashboard

	LogLevel  string
	LogFormat string

	Demo bool // simulate five phones through the broker in use (events/demo)
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	c.Data.flag(fs, "data `directory` (event log and projections)")
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "web listen `address` (HTTP; HTTPS with --tls-cert)")
	fs.StringVar(&c.Broker, "broker", "", "external MQTT broker `URL` (tcp://, ssl://, ws://, wss://); empty runs the embedded broker")
	fs.StringVar(&c.BrokerClientID, "broker-client-id", "", "MQTT client `id` for the external broker; fixed so the broker keeps our session (default tracker-<hostname>)")
	fs.StringVar(&c.BrokerUser, "broker-user", "", "user `name` for the external broker")
	fs.StringVar(&c.BrokerPassword, "broker-password", "", "`password` for the external broker")
	fs.StringVar(&c.BrokerCA, "broker-ca", "", "PEM `file` with the CA that signed the external broker's certificate")
	fs.StringVar(&c.BrokerCert, "broker-cert", "", "client certificate PEM `file` for mutual TLS (e.g. AWS IoT Core)")
	fs.StringVar(&c.BrokerKey, "broker-key", "", "client key PEM `file` for mutual TLS")
	fs.Var(&c.BrokerTopics, "broker-topic", "topic `filter` to subscribe to on the external broker, repeatable (default owntracks/#)")
	fs.StringVar(&c.MQTTListen, "mqtt-listen", "127.0.0.1:1883", "embedded broker TCP listen `address`")
	fs.StringVar(&c.MQTTWSListen, "mqtt-ws-listen", "", "embedded broker MQTT-over-websocket listen `address` (off when empty)")
	fs.Var(&c.MQTTUsers, "mqtt-user", "embedded broker service account (a bridge, a script) as `name:password`, allowed on every topic, repeatable; for phones, add users (tracker user add)")
	c.brokerLimits.flags(fs)
	c.secretFlags.flags(fs)
	c.tlsFlags.flags(fs)
	c.mirrorFlags.flags(fs)
	c.diskFlags.flags(fs)
	c.retentionFlags.flags(fs)
	c.notifyFlags.flags(fs)
	c.visitFlags.flags(fs)
	c.geocoderFlags.flags(fs)
	c.pushFlags.flags(fs)
	fs.StringVar(&c.Areas, "areas", "", "JSON `file` with server areas to define at first start (a list of {\"name\", \"center\": {\"lat\", \"lon\"}, \"radius\"} or {\"name\", \"polygon\": [...]})")
	fs.Var(&c.MetricsAllow, "metrics-allow", "`CIDR` (or address) that may read /metrics and /readyz without an admin login, repeatable (loopback always may)")
	fs.Var(&c.TrustedProxies, "trusted-proxy", "`CIDR` (or address) of a reverse proxy in front of the server, repeatable or comma-separated: from it, the client address is the right-most X-Forwarded-For entry that is not a trusted proxy (otherwise forwarded headers are ignored); given alone, a proxy on loopback")
	fs.Var(&c.AllowedHosts, "allowed-host", "host `name` the web side answers to besides --acme-domain, the listen addresses, this machine's name, loopback and IP addresses, repeatable or comma-separated (other names get 421: DNS rebinding)")
	fs.StringVar(&c.PublicHost, "public-host", "", "host `name` phones reach this server at, put in the configurations /connect makes (name:port for HTTP mode behind a proxy on another port); default: the name the browser used")
	fs.StringVar(&c.PublicURL, "public-url", "", "base `URL` share links start with, e.g. https://tracker.example.org; default: https:// or http:// and --public-host, else the name the browser used")
	fs.StringVar(&c.Tiles, "tiles", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "map tile `URL` template ({z}/{x}/{y}); the only outside resource the pages load; empty for no map background")
	fs.StringVar(&c.TilesAttribution, "tiles-attribution", "© OpenStreetMap contributors", "attribution `text` shown on the map for the tiles")
	fs.DurationVar(&c.StaleAfter, "stale-after", views.DefaultStaleAfter, "a friend not heard from for longer is shown as stale on the dashboard (\"last seen 3 h ago\")")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log `format`: text or json")
	fs.BoolVar(&c.Demo, "demo", false, "simulate five friends' phones moving around Brussels, connected to the broker in use like real phones (with users present they log in with a login of their own, random per run)")
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := newFlagSet("serve [flags]", "Runs the server: takes every OwnTracks message (embedded MQTT broker by default,\nor --broker), appends it to the event log before acknowledging it, and serves HTTP.", stderr)
	cfg.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, logger, stdout)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func (c *serveConfig) mqttUsers() (map[string]string, error) {
	users := map[string]string{}
	for _, kv := range c.MQTTUsers {
		name, pw, ok := strings.Cut(kv, ":")
		if !ok || name == "" || pw == "" {
			return nil, fmt.Errorf("--mqtt-user for %q: want name:password", name) // never echo the password
		}
		users[name] = pw
	}
	return users, nil
}

// intake is what serve needs of either ingest path.
type intake interface {
	Run(ctx context.Context) error
	Connected() bool
	Source() string
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error
}

// serve builds the server's parts once, each with what it needs, in
// dependency order: the stores, the intake, the web side; then runs them.
func serve(ctx context.Context, cfg serveConfig, logger *slog.Logger, stdout io.Writer) error {
	tuneGC()
	opts, err := cfg.check()
	if err != nil {
		return err
	}
	metrics := web.NewMetrics()
	// The projector reports changes to the live hub and the broker, which
	// read the projections and so are built after it: the feed carries
	// them once everything runs.
	changes := projections.NewFeed()
	st, err := openStores(ctx, cfg, opts.decoder, metrics, changes, logger)
	if err != nil {
		return err
	}
	defer st.close(logger)

	listeners := append([]string{cfg.HTTP}, opts.tls.publicAddrs()...)
	auth := &web.Auth{Users: st.proj, Sessions: st.sessions, Logger: logger, TrustedProxies: opts.trustedProxies,
		Open: webOpenMode(st.proj.HasUsers(), listeners, logger)}
	accounts := accounts{p: st.proj, auth: auth} // the login limiter is the web side's, shared by MQTT logins
	if !accounts.HasUsers() && len(opts.mqttUsers) == 0 {
		for _, a := range listeners {
			if !broker.IsLoopback(a) {
				return fmt.Errorf("refusing to start: HTTP would listen on %s, beyond loopback, and no user exists; add one first with: tracker user add NAME --admin --data %s", a, cfg.Data)
			}
		}
	}
	in, err := openIntake(ctx, cfg, opts, st.log, accounts, metrics, logger)
	if err != nil {
		return err
	}

	push, err := setupPush(cfg, st, in, logger) // webpush.go
	if err != nil {
		return err
	}
	commands := web.NewCommands(logger)
	assets := static.New()
	tiles := views.Tiles{URL: cfg.Tiles, Attribution: cfg.TilesAttribution}
	pageFor := func() views.Page {
		return views.Page{Assets: assets, Tiles: tiles, Now: time.Now(), StaleAfter: cfg.StaleAfter}
	}
	hub := live.New(st.proj, pageFor, locator(in, commands, metrics, logger), logger) // the locator runs only once HTTP serves
	notifier := newNotifier(cfg.notifyFlags, st.proj, st.log, hub, metrics, logger, push.channels()...)
	auditor := audit.New(st.log, opts.decoder, logger)
	devHealth := health.NewTracker() // folded from the log in runServer, once asked for
	devHealth.OnCaughtUp = func() { debug.FreeOSMemory() }
	uploads, err := cfg.Data.uploadsDir()
	if err != nil {
		return err
	}
	shareViews, err := web.OpenShareViews(cfg.Data.shareViewsFile())
	if err != nil {
		return err
	}
	geo, err := newGeocoder(cfg.geocoderFlags, cfg.Data, logger)
	if err != nil {
		return err
	}
	eraser := &erasure.Eraser{Log: st.log, Purger: newServingPurger(cfg.Data, st, in), Logger: logger}
	retention := &erasure.Retention{Eraser: eraser, Default: opts.retainHistory, Every: cfg.RetainCheck, Logger: logger}
	site := web.New(web.Deps{
		Log: st.log, Events: st.log, Appender: st.log, Decoder: opts.decoder, Ingest: in, Stats: auditor,
		Projections: st.proj, Checkpoint: st.proj.Checkpoint, Logger: logger, Assets: assets, Tiles: tiles, StaleAfter: cfg.StaleAfter, Hub: hub,
		Auth: auth, UserAdmin: st.proj, Metrics: metrics, MetricsAllow: opts.metricsAllow, AllowedHosts: cfg.allowedHosts(),
		Disk: st.space, Commands: commands, Phones: phoneEndpoints(cfg.PublicHost, in),
		WebPush: push.web, PhoneNotices: push.phones,
		Health: devHealth, Storage: &storageUsage{data: cfg.Data}, UploadDir: uploads,
		Eraser:     eraseService{eraser: eraser, log: st.log, retention: retention},
		Summarizer: statsSummarizer(opts.visits), // stats.go
		Shares:     st.proj, ShareViews: shareViews, PublicURL: cfg.PublicURL,
		Visits: opts.visits, PlaceAddress: placeAddress, // visits.go
		Notify:    notifier,
		Addresses: geo.addresses(), // geocoder.go
	})
	return runServer(ctx, cfg, opts, running{stores: st, in: in, auditor: auditor, site: site, changes: changes,
		onChange: onChange(hub, in), health: devHealth, retention: retention, notifier: notifier, geocoder: geo}, logger, stdout)
}

// serveOptions are the flags turned into what the parts take, checked
// before anything is opened.
type serveOptions struct {
	visits         visits.Config
	decoder        *owntracks.Decoder
	metricsAllow   []netip.Prefix
	trustedProxies []netip.Prefix
	mqttUsers      map[string]string
	tls            tlsSetup
	demoLogin      *broker.Internal // --demo's phones on the embedded broker
	retainHistory  time.Duration    // --retain-history; 0 keeps everything
}

func (c *serveConfig) check() (serveOptions, error) {
	var o serveOptions
	secrets, err := c.secrets()
	if err != nil {
		return o, err
	}
	o.decoder = &owntracks.Decoder{Keys: secrets}
	if o.metricsAllow, err = web.ParseAllow(c.MetricsAllow); err != nil {
		return o, err
	}
	if o.trustedProxies, err = web.ParseTrustedProxies(c.TrustedProxies); err != nil {
		return o, err
	}
	if o.mqttUsers, err = c.mqttUsers(); err != nil {
		return o, err
	}
	if o.retainHistory, err = erasure.ParseKeep(c.RetainHistory); err != nil {
		return o, fmt.Errorf("--retain-history: %w", err)
	}
	if o.visits, err = c.visitFlags.config(); err != nil {
		return o, err
	}
	if c.Demo && c.Broker == "" {
		o.demoLogin = newDemoLogin()
	}
	o.tls, err = c.resolveTLS()
	return o, err
}

// newDemoLogin is the embedded broker's login for --demo's phones: with
// users present, a phone must log in, and the demo's are no exception.
// Its password is random per run and never printed or stored, so only
// this process has it; the broker also keeps it to the demo friends'
// topics. The name is not a valid user name, so it never shadows one.
func newDemoLogin() *broker.Internal {
	return &broker.Internal{Name: "#demo", Password: rand.Text(), Users: demo.Users()}
}

// stores are what serve keeps in the data directory: the event log, the
// projections folded from it, the web sessions and the log's mirror.
type stores struct {
	log      *badgerlog.Log
	space    *badgerlog.Space // the full-disk guard of the data volume
	proj     *projector.Projector
	sessions *web.Sessions
	mirror   *dynamomirror.Mirror // nil without --mirror-dynamodb
}

// openStores opens the log, then what depends on it. Projections open
// before the intake: they know the users, whom the broker and the web
// side ask. A rebuild (after an upgrade, or of broken projections) folds
// only the users here and runs in proj.Run, so phones are served
// meanwhile.
func openStores(ctx context.Context, cfg serveConfig, decoder *owntracks.Decoder, metrics *web.Metrics, changes *projections.Feed, logger *slog.Logger) (st stores, err error) {
	if err := cfg.Data.create(); err != nil {
		return st, err
	}
	st.space = badgerlog.NewSpace(string(cfg.Data), uint64(cfg.MinFreeDisk), logger)
	st.log, err = badgerlog.Open(cfg.Data.logDir(), badgerlog.Options{Logger: logger, OnBatch: metrics.Observe, Space: st.space})
	if errors.Is(err, badgerlog.ErrLocked) {
		return st, fmt.Errorf("%w: is another tracker serve running on %s?", err, cfg.Data)
	}
	if err != nil {
		return st, err
	}
	defer func() {
		if err != nil {
			st.close(logger)
		}
	}()
	logger.Info("event log open", "data", cfg.Data, "head", st.log.Head())
	if st.mirror, err = cfg.openMirror(ctx, cfg.Data, st.log, decoder, metrics, logger); err != nil {
		return st, err
	}
	if err = seedAreas(ctx, cfg.Areas, st.log, logger); err != nil {
		return st, err
	}
	if err = cfg.Data.purgeAfterErase(logger); err != nil {
		return st, err
	}
	st.proj, err = projector.OpenServing(ctx, cfg.Data.projections(), st.log, *decoder, logger,
		projector.Options{OnChange: changes.Send, Space: st.space})
	if err != nil {
		return st, err
	}
	logger.Info("projections open", "checkpoint", st.proj.Checkpoint())
	st.sessions, err = web.OpenSessions(cfg.Data.sessionsFile())
	return st, err
}

// close closes the projections, then the log; the log commits and syncs
// what is queued, after everything that appends has stopped.
func (st stores) close(logger *slog.Logger) {
	if st.proj != nil {
		if err := st.proj.Close(); err != nil {
			logger.Error("closing the projections", "err", err)
		}
	}
	if err := st.log.Close(); err != nil {
		logger.Error("closing the event log", "err", err)
	}
}

// openIntake makes the external broker's client (--broker) or the
// embedded broker, which checks phones' logins against accounts.
func openIntake(ctx context.Context, cfg serveConfig, opts serveOptions, log *badgerlog.Log, accounts accounts, metrics *web.Metrics, logger *slog.Logger) (intake, error) {
	if cfg.Broker != "" {
		mqttingest.RouteLogs(logger)
		return mqttingest.New(mqttingest.Config{
			Broker: cfg.Broker, ClientID: cfg.BrokerClientID,
			Username: cfg.BrokerUser, Password: cfg.BrokerPassword,
			CAFile: cfg.BrokerCA, CertFile: cfg.BrokerCert, KeyFile: cfg.BrokerKey,
			Topics: cfg.BrokerTopics,
		}, log, logger)
	}
	open := len(opts.mqttUsers) == 0 && !accounts.HasUsers()
	if open {
		for _, a := range []string{cfg.MQTTListen, cfg.MQTTWSListen, cfg.MQTTTLSListen} {
			if a != "" && !broker.IsLoopback(a) {
				return nil, fmt.Errorf("refusing to start: the embedded broker would listen on %s, beyond loopback, and no user exists; add one first with: tracker user add NAME --admin --data %s (or listen on 127.0.0.1)", a, cfg.Data)
			}
		}
	}
	bcfg := broker.Config{Listen: cfg.MQTTListen, WSListen: cfg.MQTTWSListen,
		TLSListen: cfg.MQTTTLSListen, TLS: opts.tls.mqttConfig(), Users: opts.mqttUsers, Accounts: accounts,
		Phones: accounts, Internal: opts.demoLogin}
	cfg.brokerLimits.apply(&bcfg)
	b, err := broker.New(bcfg, log, logger)
	if err != nil {
		return nil, brokerPortTaken(err)
	}
	metrics.Registry().MustRegister(brokerCollector{b})
	if err := restoreRetained(ctx, log, b); err != nil {
		return nil, err
	}
	if open {
		logger.Warn("no user exists: the server runs open (loopback only) and MQTT accepts anonymous clients; add one with tracker user add NAME --admin to require logins")
	}
	return b, nil
}

// onChange passes what the projections changed to the live hub, and ends
// the MQTT connections of a removed or re-passworded user.
func onChange(hub *live.Hub, in intake) func(*projections.Changes) {
	b, _ := in.(*broker.Broker)
	return func(ch *projections.Changes) {
		hub.Notify(ch)
		switch {
		case b == nil:
		case ch == nil: // a rebuild: any user may have changed
			b.RevokeAll()
		default:
			for name := range ch.Users {
				b.Revoke(name)
			}
		}
	}
}

// running is what run starts.
type running struct {
	stores
	in        intake
	auditor   *audit.Auditor
	site      *web.Server
	changes   *projections.Feed
	onChange  func(*projections.Changes)
	health    *health.Tracker
	retention *erasure.Retention
	notifier  *notify.Dispatcher
	geocoder  geocoder
}

// runServer runs every part in one group until ctx ends or one fails;
// then all stop, and serve closes the stores after them (the log last,
// syncing what the intake appended). The intake takes messages while
// proj.Run may still be rebuilding (see openStores).
func runServer(ctx context.Context, cfg serveConfig, opts serveOptions, p running, logger *slog.Logger, stdout io.Writer) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)
	opts.tls.watchReloads(gctx, g, logger)
	g.Go(func() error { return p.in.Run(gctx) })
	if cfg.Demo {
		sim := cfg.simulator(p.in, opts.demoLogin, logger)
		g.Go(func() error {
			// With an external broker, the demo phones' first messages
			// (waypoints are not retained) reach us only once we are
			// subscribed.
			if ext, ok := p.in.(interface{ Subscribed() <-chan struct{} }); ok {
				select {
				case <-ext.Subscribed():
				case <-gctx.Done():
					return nil
				}
			}
			return sim.Run(gctx)
		})
	}
	g.Go(func() error { return p.auditor.Run(gctx, p.log.Head()+1) })
	g.Go(func() error { return p.health.Run(gctx, p.log, *opts.decoder) })
	g.Go(func() error { p.changes.Run(gctx, p.onChange); return nil })
	g.Go(func() error { p.changes.Run(gctx, p.site.ShareChanges); return nil }) // share links' streams and arrivals
	runNotifier(gctx, g, p.notifier, p.changes)
	p.geocoder.run(gctx, g)

	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		cancel()
		return errors.Join(portTaken(fmt.Errorf("HTTP listen on %s: %w", cfg.HTTP, err), "HTTP", cfg.HTTP, "http"), g.Wait())
	}
	base := opts.tls.scheme() + "://" + ln.Addr().String()
	if err := cfg.Data.writeServerInfo(serverInfo{HTTP: base, PID: os.Getpid()}); err != nil {
		_ = ln.Close()
		cancel()
		return errors.Join(err, g.Wait())
	}
	defer cfg.Data.removeServerInfo()

	routes := p.site.Routes()
	httpSrv := web.NewHTTPServer(cfg.HTTP, routes)
	httpSrv.BaseContext = func(net.Listener) context.Context { return gctx }
	opts.tls.configureHTTP(httpSrv, logger)
	g.Go(func() error {
		if err := serveHTTP(httpSrv, ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("HTTP server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.site.StopJobs() // a rebuild or import in a request ends now
		return errors.Join(httpSrv.Shutdown(sctx), p.site.WaitStreams(sctx))
	})
	if err := opts.tls.servePublic(gctx, g, routes, logger); err != nil {
		cancel()
		return errors.Join(err, g.Wait())
	}
	g.Go(limitMemoryWhileCatchingUp(gctx, p.proj, p.log.Head()))
	g.Go(func() error { return p.proj.Run(gctx) })
	g.Go(func() error { p.log.RunGC(gctx, 10*time.Minute); return nil })
	g.Go(func() error { trimWhenIdle(gctx, p.log.Head, 10*time.Second); return nil })
	if p.mirror != nil {
		g.Go(func() error { return p.mirror.Run(gctx) }) // only reads the log
	}
	g.Go(func() error { return p.retention.Run(gctx) })
	g.Go(func() error { return p.site.RunShares(gctx) }) // share links' view counts and arrivals

	logger.Info("tracker serving", "http", base, "ingest", p.in.Source())
	fmt.Fprintf(stdout, "tracker: dashboard and API on %s, ingest %s\n", base, p.in.Source())
	err = g.Wait()
	logger.Info("shutting down: intake stopped, syncing the last batch")
	return err
}

// simulator makes --demo's phones: MQTT clients of the broker in use, so
// their messages are logged as a phone's, not as the server's.
// With an external broker they log in as the server does (--broker-user);
// with the embedded one, with the per-run login only they have.
func (c *serveConfig) simulator(in intake, login *broker.Internal, logger *slog.Logger) *demo.Simulator {
	sim := &demo.Simulator{Logger: logger, Broker: demo.Broker{URL: c.Broker, Username: c.BrokerUser,
		Password: c.BrokerPassword, CAFile: c.BrokerCA, CertFile: c.BrokerCert, KeyFile: c.BrokerKey}}
	if b, ok := in.(*broker.Broker); ok && login != nil {
		sim.Broker = demo.Broker{URL: "tcp://" + b.Addr(), Username: login.Name, Password: login.Password}
	}
	return sim
}

// allowedHosts are the names the web side answers to (see web.Server's
// AllowedHosts): --allowed-host, the ACME domains, the names in the
// listen addresses, and this machine's name.
func (c *serveConfig) allowedHosts() []string {
	var out []string
	for _, list := range [][]string{c.AllowedHosts, c.ACMEDomains} {
		for _, v := range list {
			out = append(out, strings.Split(v, ",")...)
		}
	}
	out = append(out, c.HTTP, c.HTTPSListen)
	if h, err := os.Hostname(); err == nil && h != "" {
		out = append(out, h, h+".local")
	}
	return out
}

// restoreRetained gives the embedded broker back the retained messages it
// held before the restart, from the log.
func restoreRetained(ctx context.Context, log *badgerlog.Log, b *broker.Broker) error {
	seqs, err := log.RetainedSeqs()
	if err != nil {
		return fmt.Errorf("read retained messages: %w", err)
	}
	msgs := make([]events.Event, 0, len(seqs))
	for _, seq := range seqs {
		e, err := log.Get(seq)
		if err != nil {
			return fmt.Errorf("read retained message: %w", err)
		}
		msgs = append(msgs, e)
	}
	b.RestoreRetained(msgs)
	return ctx.Err()
}

// seedAreas defines the areas in file when the log is new (first start).
func seedAreas(ctx context.Context, file string, log *badgerlog.Log, logger *slog.Logger) error {
	if file == "" || log.Head() > 0 {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("--areas: %w", err)
	}
	var areas []projections.AreaCommand
	if err := json.Unmarshal(b, &areas); err != nil {
		return fmt.Errorf("--areas %s: %w", file, err)
	}
	for _, a := range areas {
		a.Type, a.Action = "area", projections.AreaDefine
		if err := a.Validate(); err != nil {
			return fmt.Errorf("--areas %s: %w", file, err)
		}
	}
	for _, a := range areas {
		a.Issue = projections.NewIssue("--areas "+file, time.Now())
		if _, err := appendArea(ctx, log, a); err != nil {
			return err
		}
		logger.Info("area defined from seed file", "area", a.Name, "file", file)
	}
	return nil
}

// webOpenMode decides at start whether the web side runs open (anonymous
// admin): only while no user exists and every HTTP listener is on
// loopback. It is never reconsidered: a running server that had users
// stays locked when the last one is removed.
func webOpenMode(hasUsers bool, listeners []string, logger *slog.Logger) bool {
	if hasUsers {
		return false
	}
	for _, a := range listeners {
		if !broker.IsLoopback(a) {
			logger.Warn("no user exists and HTTP listens beyond loopback: the web side stays locked; stop the server and add one with tracker user add NAME --admin", "listen", a)
			return false
		}
	}
	return true
}

// appendArea records an area definition or removal as an admin event.
func appendArea(ctx context.Context, log events.Appender, a projections.AreaCommand) (uint64, error) {
	payload, err := json.Marshal(a)
	if err != nil {
		return 0, err
	}
	seq, err := log.Append(ctx, events.Event{
		Topic: projections.AreaTopic, Payload: payload, QoS: 1,
		Source: events.SourceAdmin, Received: time.Now(),
	})
	if err != nil {
		return 0, fmt.Errorf("record area %q: %w", a.Name, err)
	}
	return seq, nil
}

// locator sends the OwnTracks reportLocation command to a phone through
// the broker in use, and queues it for a phone in HTTP mode, which gets
// it with the answer to its next post; the phone answers with a fresh
// location (t: "r").
func locator(in intake, commands *web.Commands, metrics *web.Metrics, logger *slog.Logger) live.Locator {
	cmd := []byte(`{"_type":"cmd","action":"reportLocation"}`)
	return func(ctx context.Context, dev projections.DeviceID) error {
		user, device := dev.Split()
		topic := "owntracks/" + user + "/" + device + "/cmd"
		commands.Queue(dev, cmd)
		metrics.IncCommands()
		if err := in.Publish(ctx, topic, cmd, 1, false); err != nil {
			return fmt.Errorf("send reportLocation to %s: %w", dev, err)
		}
		logger.Info("asked a phone for its location", "device", dev, "topic", topic)
		return nil
	}
}

// accounts lets the broker check phone logins against the server's users,
// within the web side's login limits.
type accounts struct {
	p    *projector.Projector
	auth *web.Auth
}

func (a accounts) HasUsers() bool { return a.p.HasUsers() }

func (a accounts) Check(name, password, remote string) (uint64, bool) {
	u, err := a.auth.Check(name, password, remote)
	return u.PasswordSeq, err == nil
}

// CheckPhone checks a phone's login: a device secret or the password.
func (a accounts) CheckPhone(name, password, remote string) (version uint64, device, credential string, ok bool) {
	l, err := a.auth.CheckPhone(name, password, remote)
	return l.User.PasswordSeq, l.Device, l.Credential, err == nil
}

// CredentialActive reports whether name still holds the device credential.
func (a accounts) CredentialActive(name, credential string) bool {
	u, ok := a.p.User(name)
	return ok && u.HasCredential(credential)
}

// Used records a device credential's use, in memory (web.Auth.Used).
func (a accounts) Used(credential string) { a.auth.Used(credential) }

// phoneEndpoints are where /connect tells phones to go: the embedded
// broker's listeners (none with an external broker) and --public-host.
func phoneEndpoints(publicHost string, in intake) web.PhoneEndpoints {
	p := web.PhoneEndpoints{PublicHost: publicHost}
	if b, ok := in.(*broker.Broker); ok {
		p.MQTT, p.MQTTTLS = b.Addr(), b.TLSAddr()
	}
	return p
}

func (a accounts) Guard(name, remote string, verify func() bool) bool {
	return a.auth.Guard(name, remote, verify) == nil
}

// Version is the event that set the user's password: it changes with the
// password, and the user's removal ends it.
func (a accounts) Version(name string) (uint64, bool) {
	u, ok := a.p.User(name)
	return u.PasswordSeq, ok
}

func (a accounts) IsAdmin(name string) bool {
	u, ok := a.p.User(name)
	return ok && u.Admin
}

func (a accounts) MaySee(viewer, owner string) bool {
	u, ok := a.p.User(viewer)
	return ok && u.MaySee(projections.MakeDeviceID(owner, ""))
}
