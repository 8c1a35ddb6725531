package mqttingest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"tracker/events/eventstest"
)

func TestTmpInflight(t *testing.T) {
	for _, inflight := range []int{20, 100} {
		broker := eventstest.StartMosquitto(t, eventstest.MosquittoOptions{MaxInflightMessages: inflight})
		var got atomic.Int64
		sub := connectClient(t, broker.URL, fmt.Sprintf("noack-%d", inflight), func(o *mqtt.ClientOptions) {
			o.SetAutoAckDisabled(true).SetCleanSession(false).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got.Add(1) })
		})
		if tok := sub.Subscribe("x/#", 1, nil); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		pub := connectClient(t, broker.URL, fmt.Sprintf("p-%d", inflight), nil)
		for i := range 500 {
			pub.Publish("x/y", 1, false, fmt.Sprint(i)).Wait()
		}
		time.Sleep(500 * time.Millisecond)
		t.Logf("inflight %d: received %d without acking", inflight, got.Load())
	}
}
