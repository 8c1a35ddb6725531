package notify_test

import (
	"fmt"
	"testing"
	"time"

	"tracker/events"
	"tracker/events/eventstest"
	"tracker/projections"
	"tracker/views/notify"
)

// webhookRule is anna's "tell me when ben/phone arrives at Home" to rc.
func webhookRule(id string, rc *receiver, mod func(*projections.NotifyRule)) projections.NotifyRule {
	r := projections.NotifyRule{ID: id, Owner: "anna", On: projections.NotifyArrive, Device: "ben/phone", Place: "Home",
		Channels: []string{projections.ChannelWebhook}, Webhook: rc.URL(), Secret: rc.secret}
	if mod != nil {
		mod(&r)
	}
	return r
}

func webhookOnly(rc *receiver) notify.Options {
	return notify.Options{Channels: []notify.Channel{notify.NewWebhook(notify.Webhook{AllowPrivate: true})}, Backoff: 100 * time.Millisecond}
}

// transition appends ben's phone's own word on Home.
func (r *rig) transition(t *testing.T, event string, tst int64) uint64 {
	t.Helper()
	payload := fmt.Sprintf(`{"_type":"transition","event":%q,"desc":"Home","tst":%d,"wtst":1700000000,"lat":%v,"lon":%v,"acc":10,"t":"c"}`,
		event, tst, home.lat, home.lon)
	return r.append(t, events.Event{Topic: "owntracks/ben/phone/event", Payload: []byte(payload), Source: events.SourceEmbedded, QoS: 1})
}

// TestCrossingPostsOnce: ben arriving at Home, told by the geometry of
// his fix and by his phone's transition a few seconds apart, makes
// exactly one signed POST to anna's webhook within 2 s.
func TestCrossingPostsOnce(t *testing.T) {
	rc := newReceiver(t, "anna's secret", false)
	r := newRig(t, webhookOnly(rc))
	r.user(t, "anna")
	r.user(t, "ben")
	r.area(t, "Home")
	// A quiet period of 1 s: only merging the two origins into one
	// crossing keeps the phone's word from notifying again.
	r.rule(t, webhookRule("r1", rc, func(r *projections.NotifyRule) { r.QuietS = 1 }))
	now := time.Now().Unix()
	r.fix(t, "ben/phone", away, now-60, events.SourceEmbedded, time.Time{})
	start := time.Now()
	r.fix(t, "ben/phone", home, now, events.SourceEmbedded, time.Time{})
	r.transition(t, "enter", now-3)
	eventstest.WaitFor(t, 2*time.Second, "a POST to the webhook", func() bool { return len(rc.posts()) > 0 })
	took := time.Since(start)
	time.Sleep(500 * time.Millisecond) // a second POST would come now
	got := rc.posts()
	if len(got) != 1 {
		t.Fatalf("%d POSTs, want exactly 1: %+v", len(got), got)
	}
	p := got[0]
	if !p.ok {
		t.Errorf("the POST's signature or timestamp did not check: %s (signature %q)", p.raw, p.sig)
	}
	if p.body.Event != projections.NotifyArrive || p.body.Device != "ben/phone" || p.body.Place != "Home" || p.body.Rule.ID != "r1" ||
		p.body.Text != "ben arrived at Home" {
		t.Errorf("body %s", p.raw)
	}
	t.Logf("crossing to signed POST: %s", took)
	if d := r.disp.Deliveries("r1"); len(d) != 1 || d[0].Status != "sent" {
		t.Errorf("delivery log %+v, want one sent", d)
	}
}

// TestReceiverDownThenUp: the receiver's port is closed when ben
// arrives; the delivery is retried with backoff, shows as retrying on
// the rule meanwhile, and arrives once the receiver is up.
func TestReceiverDownThenUp(t *testing.T) {
	rc := newReceiver(t, "anna's secret", true)
	r := newRig(t, webhookOnly(rc))
	r.user(t, "anna")
	r.user(t, "ben")
	r.area(t, "Home")
	r.rule(t, webhookRule("r1", rc, nil))
	now := time.Now().Unix()
	r.fix(t, "ben/phone", away, now-60, events.SourceEmbedded, time.Time{})
	r.fix(t, "ben/phone", home, now, events.SourceEmbedded, time.Time{})
	eventstest.WaitFor(t, 5*time.Second, "a failed attempt on the rule", func() bool {
		d := r.disp.Deliveries("r1")
		return len(d) == 1 && d[0].Status == "retrying" && r.disp.Status("r1").LastError != ""
	})
	t.Logf("while down: %+v", r.disp.Deliveries("r1")[0])
	rc.up(t)
	eventstest.WaitFor(t, 10*time.Second, "the retried POST", func() bool { return len(rc.posts()) > 0 })
	eventstest.WaitFor(t, 5*time.Second, "the delivery logged as sent", func() bool {
		d := r.disp.Deliveries("r1")
		return len(d) == 1 && d[0].Status == "sent"
	})
	got := rc.posts()
	if len(got) != 1 || !got[0].ok {
		t.Fatalf("POSTs %+v, want one signed", got)
	}
	d := r.disp.Deliveries("r1")[0]
	if d.Attempts < 2 {
		t.Errorf("delivered after %d attempts, want at least 2", d.Attempts)
	}
	if st := r.disp.Status("r1"); st.Sent != 1 || st.LastError != "" || r.disp.Stats().Retried == 0 {
		t.Errorf("status %+v, stats %+v: want one sent, the error cleared, retries counted", st, r.disp.Stats())
	}
}
