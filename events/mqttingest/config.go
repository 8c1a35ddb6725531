package mqttingest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// ErrConfig is wrapped by every error New returns for a bad Config.
var ErrConfig = errors.New("invalid MQTT configuration")

// Config describes the external broker and how to subscribe to it. The zero
// value of every field except Broker is usable.
type Config struct {
	// Broker is the broker URL: tcp://host:1883, ssl://host:8883,
	// ws://host:8080/mqtt or wss://host/mqtt. The port defaults to 1883
	// (tcp) and 8883 (ssl). Credentials in the URL are used when Username
	// is empty and are never logged.
	Broker string
	// ClientID is sent on every connect so the broker keeps our persistent
	// session (subscriptions and queued QoS 1 messages) while we are away.
	// It must be unique on the broker. Default "tracker-<hostname>".
	ClientID string
	// Username and Password authenticate to the broker (optional).
	Username, Password string
	// CAFile is a PEM bundle of CAs trusted to sign the broker certificate.
	// Empty: the system roots.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mutual
	// TLS (AWS IoT Core, Mosquitto require_certificate). Both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify turns off broker certificate verification. For
	// tests only.
	InsecureSkipVerify bool
	// Topics are subscribed at QoS 1. Default ["owntracks/#"].
	Topics []string
	// KeepAlive is the MQTT keepalive; the broker drops us after 1.5 times
	// this without traffic. Whole seconds, at least 1s. Default 30s.
	KeepAlive time.Duration
	// MaxReconnectInterval caps the exponential backoff between connection
	// attempts (first connect and reconnects). Default 30s.
	MaxReconnectInterval time.Duration
}

const (
	defaultKeepAlive    = 30 * time.Second
	defaultMaxReconnect = 30 * time.Second
	connectTimeout      = 10 * time.Second
)

// settings is a validated Config with its defaults applied.
type settings struct {
	Config
	url *url.URL
	tls *tls.Config // nil for tcp:// and ws://
}

// validate checks cfg, applies defaults and loads the TLS material.
func validate(cfg Config) (settings, error) {
	s := settings{Config: cfg}
	if cfg.Broker == "" {
		return s, fmt.Errorf("mqttingest: broker URL is empty: %w", ErrConfig)
	}
	u, err := url.Parse(cfg.Broker)
	if err != nil {
		// url.Error repeats the URL, which may hold a password.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return s, fmt.Errorf("mqttingest: broker URL: %w: %w", err, ErrConfig)
	}
	safe := redact(u)
	var secure bool
	switch u.Scheme {
	case "tcp", "ws":
	case "ssl", "wss":
		secure = true
	default:
		return s, fmt.Errorf("mqttingest: broker %s: scheme %q not supported (want tcp, ssl, ws or wss): %w",
			safe, u.Scheme, ErrConfig)
	}
	if u.Hostname() == "" {
		return s, fmt.Errorf("mqttingest: broker %s: no host: %w", safe, ErrConfig)
	}
	s.url = u

	if s.ClientID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		s.ClientID = "tracker-" + host
	}
	if len(s.Topics) == 0 {
		s.Topics = []string{"owntracks/#"}
	}
	for _, t := range s.Topics {
		if err := checkFilter(t); err != nil {
			return s, fmt.Errorf("mqttingest: topic filter %q: %w: %w", t, err, ErrConfig)
		}
	}
	switch {
	case s.KeepAlive == 0:
		s.KeepAlive = defaultKeepAlive
	case s.KeepAlive < time.Second:
		return s, fmt.Errorf("mqttingest: keepalive %s is below 1s: %w", s.KeepAlive, ErrConfig)
	}
	switch {
	case s.MaxReconnectInterval == 0:
		s.MaxReconnectInterval = defaultMaxReconnect
	case s.MaxReconnectInterval < 0:
		return s, fmt.Errorf("mqttingest: max reconnect interval %s is negative: %w", s.MaxReconnectInterval, ErrConfig)
	}

	tlsWanted := cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" || cfg.InsecureSkipVerify
	if tlsWanted && !secure {
		return s, fmt.Errorf("mqttingest: broker %s: TLS settings given but scheme %q does not use TLS (use ssl:// or wss://): %w",
			safe, u.Scheme, ErrConfig)
	}
	if secure {
		if s.tls, err = tlsConfig(cfg); err != nil {
			return s, err
		}
	}
	return s, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc, err := ClientTLS(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	tc.InsecureSkipVerify = cfg.InsecureSkipVerify
	return tc, nil
}

// ClientTLS is the TLS configuration of an MQTT client from PEM files:
// the CA that signed the broker's certificate (none: the system's roots)
// and a client certificate with its key (none: no client certificate).
// Its errors wrap ErrConfig.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("mqttingest: CA file: %w: %w", err, ErrConfig)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqttingest: CA file %s: no PEM certificates in it: %w", caFile, ErrConfig)
		}
		tc.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("mqttingest: client certificate needs both a cert file and a key file: %w", ErrConfig)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("mqttingest: client certificate %s / %s: %w: %w", certFile, keyFile, err, ErrConfig)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// checkFilter validates an MQTT topic filter: "#" only as the whole last
// level, "+" only as a whole level.
func checkFilter(f string) error {
	if f == "" {
		return errors.New("empty")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New(`"#" must be the last level`)
		case l != "#" && strings.Contains(l, "#"):
			return errors.New(`"#" must be a whole level`)
		case l != "+" && strings.Contains(l, "+"):
			return errors.New(`"+" must be a whole level`)
		}
	}
	return nil
}

// redact returns u as a string without user info.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
