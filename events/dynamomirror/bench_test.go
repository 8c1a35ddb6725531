package dynamomirror_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"tracker/events"
	"tracker/events/badgerlog"
	"tracker/events/dynamomirror"
	"tracker/events/dynamomirror/dynamotest"
	"tracker/events/eventstest"
)

var benchPayload = []byte(`{"_type":"location","tid":"am","lat":52.52009,"lon":13.40495,"tst":1718000000,"created_at":1718000004,"acc":12,"alt":41,"vac":3,"vel":4,"cog":270,"batt":81,"bs":1,"conn":"w","t":"u","m":1}`)

// BenchmarkIngestWithMirror measures durable appends/s to the log with 64
// concurrent appenders (as BenchmarkAppend in events/badgerlog does),
// without the mirror and with it copying meanwhile, in five pairs of runs
// (b.N appends each, on a fresh log; the order within a pair alternates)
// so that load from elsewhere on a shared machine hits both alike. It
// reports the median rates, the median of the pairs' ratios (on/off), our
// process's extra CPU time per event with the mirror on, and how long the
// mirror needed after the last append to have everything in the table
// (catchup_s, median).
//
// Where the table lives:
//
//   - dynamodb=null: an HTTP server in this process that accepts every
//     write at once. It stands for a DynamoDB on other machines: what is
//     left is the mirror's own cost (reading the log, building items, the
//     SDK's serialising and signing, HTTP).
//   - dynamodb=dynalite: dynalite on this machine. Its CPU use (Node.js,
//     several times ours per item) competes with the appenders, so on a
//     small machine this ratio measures dynalite as much as the mirror.
func BenchmarkIngestWithMirror(b *testing.B) {
	b.Run("dynamodb=null", func(b *testing.B) {
		srv := httptest.NewServer(nullDynamoDB())
		b.Cleanup(srv.Close)
		benchMirror(b, clientFor(b, srv.URL), 64)
	})
	b.Run("dynamodb=dynalite", func(b *testing.B) {
		dyn := dynamotest.Start(b, false)
		benchMirror(b, dyn.Client(b), 64)
	})
}

func benchMirror(b *testing.B, client *dynamodb.Client, appenders int) {
	b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
		const rounds = 5
		var offs, ons, ratios, catchups []float64
		var offCPU, onCPU time.Duration
		for round := range rounds {
			runOff := func() {
				cpu := cpuTime()
				offs = append(offs, appendRate(b, appenders, nil))
				offCPU += cpuTime() - cpu
			}
			if round%2 == 0 {
				runOff()
			}

			var catchup time.Duration
			var cpuOn time.Duration
			ons = append(ons, appendRate(b, appenders, func(l *badgerlog.Log) (done func()) {
				m, err := dynamomirror.New(l, dynamomirror.Config{
					Client: client, Table: fmt.Sprintf("bench-%d-%d-%d", appenders, b.N, round), CreateTable: true,
					CheckpointFile: filepath.Join(b.TempDir(), "cp.json"),
					Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
				})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				ran := make(chan error, 1)
				go func() { ran <- m.Run(ctx) }()
				for !m.Stats().Up { // table created and checked
					time.Sleep(5 * time.Millisecond)
				}
				cpu := cpuTime()
				return func() {
					cpuOn += cpuTime() - cpu
					start := time.Now()
					for m.Stats().Checkpoint < l.Head() {
						if time.Since(start) > 10*time.Minute {
							b.Fatalf("mirror still %d events behind after 10 minutes: %+v", l.Head()-m.Stats().Checkpoint, m.Stats())
						}
						time.Sleep(5 * time.Millisecond)
					}
					catchup = time.Since(start)
					cancel()
					if err := <-ran; err != nil {
						b.Error(err)
					}
				}
			}))
			onCPU += cpuOn
			catchups = append(catchups, catchup.Seconds())
			if round%2 == 1 {
				runOff()
			}
			ratios = append(ratios, ons[round]/offs[round])
		}
		off, on := median(offs), median(ons)
		b.ReportMetric(off, "off_events/s")
		b.ReportMetric(on, "on_events/s")
		b.ReportMetric(median(ratios), "on/off")
		b.ReportMetric(median(catchups), "catchup_s")
		// CPU up to the last append, on less off (the off figure includes
		// opening the log, which the on figure does not).
		b.ReportMetric(float64((onCPU-offCPU).Microseconds())/float64(rounds*b.N), "mirror_cpu_us/event")
		b.Logf("off %.0f, on %.0f events/s (pairs: off %.0f, on %.0f, ratio %.2f)", off, on, offs, ons, ratios)
	})
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// appendRate appends b.N events to a fresh log with the given number of
// appenders, each waiting for its append to be durable, and returns the
// rate. with, when not nil, is started on the log before the appends and
// its done called once they are over.
func appendRate(b *testing.B, appenders int, with func(*badgerlog.Log) (done func())) float64 {
	b.Helper()
	l := eventstest.OpenLog(b)
	var done func()
	if with != nil {
		done = with(l)
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range appenders {
		wg.Go(func() {
			topic := fmt.Sprintf("owntracks/user%d/phone", w)
			for next.Add(1) <= int64(b.N) {
				if _, err := l.Append(context.Background(), events.Event{Topic: topic, Payload: benchPayload, QoS: 1, Source: events.SourceEmbedded}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	if done != nil {
		done()
	}
	return rate
}

// cpuTime is the CPU time (user and system) this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nullDynamoDB answers DescribeTable with a table of the mirror's key
// schema and every BatchWriteItem with success, without looking further.
func nullDynamoDB() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		body := `{"UnprocessedItems":{}}`
		if r.Header.Get("X-Amz-Target") == "DynamoDB_20120810.DescribeTable" {
			body = `{"Table":{"TableName":"t","TableStatus":"ACTIVE",` +
				`"AttributeDefinitions":[{"AttributeName":"device","AttributeType":"S"},{"AttributeName":"ts","AttributeType":"S"}],` +
				`"KeySchema":[{"AttributeName":"device","KeyType":"HASH"},{"AttributeName":"ts","KeyType":"RANGE"}]}}`
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		_, _ = io.WriteString(w, body)
	})
}

// clientFor is an SDK client for endpoint with the test credentials.
func clientFor(b *testing.B, endpoint string) *dynamodb.Client {
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(dynamotest.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(dynamotest.AccessKey, dynamotest.SecretKey, "")))
	if err != nil {
		b.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
}
