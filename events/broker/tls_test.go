package broker_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/badgerlog"
	"tracker/events/broker"
	"tracker/events/eventstest"
)

// serverTLS is a TLS configuration serving the PKI's server certificate.
func serverTLS(t *testing.T, pki eventstest.PKI) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// trusting is a client TLS configuration trusting only the CA in caFile.
func trusting(t *testing.T, caFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// The TLS listener serves MQTT over TLS beside the plain listener, and
// speaks only TLS.
func TestTLSListener(t *testing.T) {
	pki := eventstest.NewPKI(t)
	f := startBroker(t, broker.Config{TLSListen: "127.0.0.1:0", TLS: serverTLS(t, pki)}, badgerlog.Options{})
	tlsAddr := f.broker.TLSAddr()
	if tlsAddr == "" || tlsAddr == f.addr {
		t.Fatalf("TLSAddr = %q beside plain %q", tlsAddr, f.addr)
	}

	t.Run("publish over TLS", func(t *testing.T) {
		head := f.log.Head()
		c := eventstest.Connect(t, tlsAddr, "phone-tls", func(o *paho.ClientOptions) {
			o.Servers = nil
			o.AddBroker("ssl://" + tlsAddr).SetTLSConfig(trusting(t, pki.CAFile))
		})
		eventstest.Publish(t, c, "owntracks/alice/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`))
		if h := f.log.Head(); h != head+1 {
			t.Errorf("log head %d after the PUBACK, want %d", h, head+1)
		}
	})
	t.Run("plain listener stays plain", func(t *testing.T) {
		c := eventstest.Connect(t, f.addr, "phone-plain")
		eventstest.Publish(t, c, "owntracks/bob/phone", 1, false, []byte(`{"_type":"location","lat":1,"lon":2,"tst":1718000000}`))
	})
	t.Run("plain MQTT to the TLS port fails", func(t *testing.T) {
		c, err := eventstest.TryConnect(tlsAddr, "phone-no-tls")
		if err == nil {
			c.Disconnect(0)
			t.Fatal("plain MQTT connected to the TLS listener")
		}
	})
	t.Run("untrusted CA fails", func(t *testing.T) {
		c, err := eventstest.TryConnect(tlsAddr, "phone-other-ca", func(o *paho.ClientOptions) {
			o.Servers = nil
			o.AddBroker("ssl://" + tlsAddr).SetTLSConfig(trusting(t, pki.OtherCAFile))
		})
		if err == nil {
			c.Disconnect(0)
			t.Fatal("connected while trusting another CA")
		}
	})
}

func TestTLSListenerRefusals(t *testing.T) {
	pki := eventstest.NewPKI(t)
	for _, tc := range []struct {
		name string
		cfg  broker.Config
		want string
	}{
		{name: "no TLS configuration", cfg: broker.Config{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0"}, want: "without a TLS configuration"},
		{name: "anonymous beyond loopback", cfg: broker.Config{Listen: "127.0.0.1:0", TLSListen: "0.0.0.0:0", TLS: serverTLS(t, pki)}, want: "anonymous access is only allowed on loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := broker.New(tc.cfg, nil, testLogger(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}
