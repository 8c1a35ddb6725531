package main

import (
	"flag"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tracker/events/broker"
)

// brokerLimits are the embedded broker's limits (--mqtt-max-…); 0 turns
// one off.
type brokerLimits struct {
	MaxPacketSize   int
	ConnectTimeout  time.Duration
	MaxConnsPerAddr int
	MaxQueued       int
	SessionExpiry   time.Duration
}

func (l *brokerLimits) flags(fs *flag.FlagSet) {
	fs.IntVar(&l.MaxPacketSize, "mqtt-max-packet-size", broker.DefaultMaxPacketSize, "largest MQTT packet the embedded broker accepts, in `bytes` (default: the OwnTracks payload cap plus headers); a bigger one closes the connection; 0 for no limit")
	fs.DurationVar(&l.ConnectTimeout, "mqtt-connect-timeout", broker.DefaultConnectTimeout, "time a new MQTT connection has to send CONNECT; 0 for no limit")
	fs.IntVar(&l.MaxConnsPerAddr, "mqtt-max-conns-per-address", broker.DefaultMaxConnsPerAddr, "at most `N` simultaneous MQTT connections from one address (IPv4 address or IPv6 /64); 0 for no cap (e.g. behind a TCP proxy on the same machine)")
	fs.IntVar(&l.MaxQueued, "mqtt-max-queued", broker.DefaultMaxQueued, "at most `N` QoS 1/2 messages held by an offline phone's MQTT session (queued while offline, or left unacknowledged), oldest dropped first; 0 leaves the broker's own 8192")
	fs.DurationVar(&l.SessionExpiry, "mqtt-session-expiry", broker.DefaultSessionExpiry, "how long an offline phone's MQTT session (subscriptions, queued messages) is kept; 0 keeps it forever")
}

// apply sets the limits on cfg (where a negative value turns one off).
func (l brokerLimits) apply(cfg *broker.Config) {
	off := func(n int) int {
		if n <= 0 {
			return -1
		}
		return n
	}
	offDur := func(d time.Duration) time.Duration {
		if d <= 0 {
			return -1
		}
		return d
	}
	cfg.MaxPacketSize = off(l.MaxPacketSize)
	cfg.ConnectTimeout = offDur(l.ConnectTimeout)
	cfg.MaxConnsPerAddr = off(l.MaxConnsPerAddr)
	cfg.MaxQueued = off(l.MaxQueued)
	cfg.SessionExpiry = offDur(l.SessionExpiry)
}

// brokerCollector exports the embedded broker's refusals on /metrics.
type brokerCollector struct{ b *broker.Broker }

var (
	descMQTTRefused = prometheus.NewDesc("tracker_mqtt_refused_total",
		"MQTT connections, logins and publishes the embedded broker refused, by reason (packet_too_large, no_connect, address_cap, login, takeover, publish).",
		[]string{"reason"}, nil)
	descMQTTDropped = prometheus.NewDesc("tracker_mqtt_queued_dropped_total",
		"Messages not queued for an MQTT session (full: --mqtt-max-queued) or dropped from one (no longer visible to its user).", nil, nil)
	descMQTTExpired = prometheus.NewDesc("tracker_mqtt_sessions_expired_total",
		"Offline MQTT sessions dropped after --mqtt-session-expiry.", nil, nil)
	descMQTTRevoked = prometheus.NewDesc("tracker_mqtt_revoked_total",
		"MQTT connections closed because their user was removed or changed password.", nil, nil)
	descMQTTUnshared = prometheus.NewDesc("tracker_mqtt_unshared_total",
		"Friends phones were told to forget (an empty message on the friend's topic) because sharing changed.", nil, nil)
)

func (brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMQTTRefused, descMQTTDropped, descMQTTExpired, descMQTTRevoked, descMQTTUnshared} {
		ch <- d
	}
}

func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	for reason, n := range map[string]uint64{
		"packet_too_large": s.TooLarge, "no_connect": s.ConnectTimeouts, "address_cap": s.AddrCapRefused,
		"login": s.LoginsRefused, "takeover": s.TakeoversRefused, "publish": s.PublishesRefused,
	} {
		ch <- prometheus.MustNewConstMetric(descMQTTRefused, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(descMQTTDropped, prometheus.CounterValue, float64(s.QueuedDropped))
	ch <- prometheus.MustNewConstMetric(descMQTTExpired, prometheus.CounterValue, float64(s.SessionsExpired))
	ch <- prometheus.MustNewConstMetric(descMQTTRevoked, prometheus.CounterValue, float64(s.Revoked))
	ch <- prometheus.MustNewConstMetric(descMQTTUnshared, prometheus.CounterValue, float64(s.Unshared))
}
