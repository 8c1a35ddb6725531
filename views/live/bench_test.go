package live_test

// BenchmarkPublishToBrowser measures what a person watching the dashboard
// waits for: from a phone's MQTT publish to the websocket message with the
// friend's new position, over the real stack in this process: paho →
// embedded broker → Badger log (synced) → projector (Badger save) → hub →
// one writer per client → gorilla websocket clients on loopback. Run once:
//
//	go test -run '^$' -bench PublishToBrowser -benchtime 1x ./views/live/
//
// One op publishes 50 locations, one every 150 ms (slower than the hub's
// MinInterval, so no message waits for pacing). Metrics, over every
// client × message: p50-ms, p99-ms and max-ms latency; missed counts
// messages a client never saw within 5 s. The machine's cores are shared
// by the broker, Badger, the projector, the hub and all clients.

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"tracker/events"
	"tracker/events/broker"
	"tracker/events/eventstest"
	"tracker/events/owntracks"
	"tracker/projections"
	"tracker/projections/projector"
	"tracker/static"
	"tracker/views"
	"tracker/views/live"
)

const (
	benchMessages = 50 // per op
	benchMaxOps   = 10
	benchSpacing  = 150 * time.Millisecond
	benchLat0     = 10.0 // message k puts the friend at benchLat0 + k/10000
)

func BenchmarkPublishToBrowser(b *testing.B) {
	for _, clients := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchPublishToBrowser(b, clients)
		})
	}
}

func benchPublishToBrowser(b *testing.B, clients int) {
	logger := slog.New(slog.DiscardHandler)
	log := eventstest.OpenLog(b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	changes := projections.NewFeed()
	proj, err := projector.Open(ctx, b.TempDir(), log, owntracks.Decoder{}, logger, projector.Options{OnChange: changes.Send})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = proj.Close() })
	assets := static.New()
	hub := live.New(proj, func() views.Page { return views.Page{Assets: assets, Now: time.Now()} }, nil, logger)
	wg.Go(func() { changes.Run(ctx, hub.Notify) })
	wg.Go(func() { _ = proj.Run(ctx) })

	br, err := broker.New(broker.Config{Listen: "127.0.0.1:0"}, log, logger)
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { _ = br.Run(ctx) })

	mux := http.NewServeMux()
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, r *http.Request) { hub.ServeWSFor(w, r, live.Access{}) })
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	b.Cleanup(srv.Close)

	phone := benchConnect(b, br.Addr())
	// A realistic page: 20 friends and 5 areas besides the one we watch.
	for i := range 20 {
		benchPublish(b, phone, fmt.Sprintf("owntracks/friend%02d/phone", i), 50+float64(i)/100, 4, time.Now().Unix())
	}
	for i := range 5 {
		body := fmt.Sprintf(`{"_type":"area","action":"define","name":"Area %d","center":{"lat":%g,"lon":4},"radius":800}`, i, 50+float64(i)/50)
		if _, err := log.Append(ctx, events.Event{Topic: projections.AreaTopic, Payload: []byte(body), QoS: 1,
			Source: events.SourceAdmin, Received: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	const watched = "owntracks/watched/phone"
	benchPublish(b, phone, watched, benchLat0-1, 4, time.Now().Unix()-2*benchMessages*benchMaxOps) // known to every page before the run

	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
	if err := proj.WaitFor(waitCtx, log.Head()); err != nil {
		b.Fatalf("projections did not catch up: %v", err)
	}
	waitCancel()

	// The clients: each reads continuously and notes when each message
	// index first showed up.
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/live"
	const maxIdx = benchMessages * benchMaxOps
	seen := make([][maxIdx]time.Time, clients)
	var readers sync.WaitGroup
	conns := make([]*websocket.Conn, clients)
	for c := range clients {
		conn, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, http.Header{"Origin": {srv.URL}})
		if err != nil {
			b.Fatalf("dial client %d: %v", c, err)
		}
		resp.Body.Close()
		if _, _, err := conn.ReadMessage(); err != nil { // full state
			b.Fatalf("client %d: no full state: %v", c, err)
		}
		conns[c] = conn
		readers.Go(func() {
			for {
				_, msg, err := conn.ReadMessage()
				if err != nil {
					return
				}
				at := time.Now()
				for _, i := range benchIndexes(msg) {
					if seen[c][i].IsZero() {
						seen[c][i] = at
					}
				}
			}
		})
	}
	b.Cleanup(func() {
		for _, conn := range conns {
			_ = conn.Close()
		}
		readers.Wait()
	})
	time.Sleep(live.MinInterval)

	var published [maxIdx]time.Time
	sent := 0
	// Each fix one second newer than the last: a fix no newer than the
	// current one does not move the friend.
	tst0 := time.Now().Unix() - maxIdx
	for b.Loop() {
		if sent+benchMessages > maxIdx {
			continue // run it once; more ops only repeat the measurement
		}
		for range benchMessages {
			next := time.Now().Add(benchSpacing)
			published[sent] = time.Now()
			benchPublish(b, phone, watched, benchLat0+float64(sent)/10000, 4, tst0+int64(sent))
			sent++
			time.Sleep(time.Until(next))
		}
		time.Sleep(time.Second) // stragglers
	}
	b.StopTimer()
	for _, conn := range conns {
		_ = conn.Close()
	}
	readers.Wait()

	var lat []float64
	missed := 0
	for c := range clients {
		for i := range sent {
			if seen[c][i].IsZero() {
				missed++
				continue
			}
			lat = append(lat, float64(seen[c][i].Sub(published[i]))/float64(time.Millisecond))
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return math.NaN()
		}
		return lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)]
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(missed), "missed")
	b.ReportMetric(float64(len(lat)), "samples")
}

// benchIndexes finds the watched friend's positions in a message: the
// message indexes encoded in the latitudes of data-marker attributes.
func benchIndexes(msg []byte) []int {
	var out []int
	s := string(msg)
	const key = "&#34;lat&#34;:"
	for {
		at := strings.Index(s, key)
		if at < 0 {
			return out
		}
		s = s[at+len(key):]
		end := strings.IndexAny(s, ",}&")
		if end < 0 {
			return out
		}
		v, err := strconv.ParseFloat(s[:end], 64)
		k := int(math.Round((v - benchLat0) * 10000))
		if err != nil || v < benchLat0-0.00005 || k < 0 || k >= benchMessages*benchMaxOps {
			continue
		}
		out = append(out, k)
	}
}

func benchConnect(b *testing.B, addr string) paho.Client {
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("bench-phone").
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	b.Cleanup(func() { c.Disconnect(100) })
	return c
}

func benchPublish(b *testing.B, c paho.Client, topic string, lat, lon float64, tst int64) {
	benchPublishRaw(b, c, topic, fmt.Appendf(nil, `{"_type":"location","lat":%g,"lon":%g,"tst":%d,"acc":10,"batt":80,"t":"p"}`, lat, lon, tst))
}

func benchPublishRaw(b *testing.B, c paho.Client, topic string, payload []byte) {
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("publish %s: %v", topic, tok.Error())
	}
}
