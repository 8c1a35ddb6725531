package dynamomirror

import "github.com/prometheus/client_golang/prometheus"

var (
	descWritten = prometheus.NewDesc("tracker_mirror_dynamodb_items_written_total",
		"Items put to the DynamoDB mirror table (a rewrite after a lost reply counts again).", nil, nil)
	descFailures = prometheus.NewDesc("tracker_mirror_dynamodb_errors_total",
		"Failed attempts to write to or check the DynamoDB mirror table.", nil, nil)
	descSkipped = prometheus.NewDesc("tracker_mirror_dynamodb_skipped_total",
		"Events DynamoDB refused as invalid items, left out of the mirror table.", nil, nil)
	descCheckpoint = prometheus.NewDesc("tracker_mirror_dynamodb_checkpoint_sequence",
		"Sequence number up to which every event is in the DynamoDB mirror table.", nil, nil)
	descLag = prometheus.NewDesc("tracker_mirror_dynamodb_lag_events",
		"Events in the log not yet in the DynamoDB mirror table.", nil, nil)
	descUp = prometheus.NewDesc("tracker_mirror_dynamodb_up",
		"1 when the last call to DynamoDB succeeded.", nil, nil)
)

// Collector returns a Prometheus collector reading the mirror's progress
// at scrape time; register it with the server's registry.
func (m *Mirror) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Mirror }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWritten, descFailures, descSkipped, descCheckpoint, descLag, descUp} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.Stats()
	up := 0.0
	if s.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descWritten, prometheus.CounterValue, float64(s.Written))
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.Failures))
	ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(s.Skipped))
	ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(s.Checkpoint))
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(c.m.behind()))
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up)
}
