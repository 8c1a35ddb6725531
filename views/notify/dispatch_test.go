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
// exactly one signed POST to anna's webhook.
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
	// Within 2 s is shown over real MQTT (TestNotifyCrossingOverMQTT);
	// here the machine's load may not fail the count.
	eventstest.WaitFor(t, 10*time.Second, "a POST to the webhook", func() bool { return len(rc.posts()) > 0 })
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

// TestHiddenFriendNeverNotifies: a rule never tells its owner of a friend
// the sharing matrix hides from them: not when the friend was hidden
// from the start, not after the sharing changed, not through "anyone";
// and a delivery waiting for a retry when the sharing changes is
// withdrawn, never posted.
func TestHiddenFriendNeverNotifies(t *testing.T) {
	rc := newReceiver(t, "anna's secret", false)
	down := newReceiver(t, "anna's secret", true)
	r := newRig(t, webhookOnly(rc))
	r.user(t, "anna", "carl") // anna sees carl (and herself), not ben
	r.user(t, "ben")
	r.user(t, "carl")
	r.user(t, "dora", "ben") // dora sees ben until the sharing changes
	r.area(t, "Home")
	r.rule(t, webhookRule("hidden", rc, nil))
	r.rule(t, webhookRule("anyone", rc, func(r *projections.NotifyRule) { r.Device = "" }))
	r.rule(t, webhookRule("dora", down, func(r *projections.NotifyRule) { r.Owner = "dora" }))
	now := time.Now().Unix()
	for _, dev := range []string{"ben/phone", "carl/phone"} {
		r.fix(t, dev, away, now-60, events.SourceEmbedded, time.Time{})
		r.fix(t, dev, home, now, events.SourceEmbedded, time.Time{})
	}
	eventstest.WaitFor(t, 5*time.Second, "carl's arrival through anyone, and dora's try", func() bool {
		return len(rc.posts()) > 0 && len(r.disp.Deliveries("dora")) > 0
	})
	// dora's webhook is down: her delivery waits for a retry. Now dora
	// may no longer see ben.
	r.share(t, "dora")
	down.up(t)
	eventstest.WaitFor(t, 5*time.Second, "dora's delivery withdrawn", func() bool {
		d := r.disp.Deliveries("dora")
		return len(d) == 1 && d[0].Status == "withdrawn"
	})
	time.Sleep(300 * time.Millisecond)
	got := rc.posts()
	if len(got) != 1 || got[0].body.Device != "carl/phone" || got[0].body.Rule.ID != "anyone" {
		t.Fatalf("POSTs %+v, want only carl's arrival through the anyone rule", got)
	}
	if len(down.posts()) != 0 {
		t.Errorf("dora's webhook got %d POSTs after ben was hidden from her", len(down.posts()))
	}
	if d := r.disp.Deliveries("hidden"); len(d) != 0 {
		t.Errorf("the rule for a hidden friend logged %+v", d)
	}
	// Hidden after the rule was made: anna's rule for carl says nothing
	// once carl is hidden from her.
	r.rule(t, webhookRule("carl", rc, func(r *projections.NotifyRule) { r.Device = "carl/phone" }))
	r.share(t, "anna")
	r.fix(t, "carl/phone", away, now+600, events.SourceEmbedded, time.Time{})
	r.fix(t, "carl/phone", home, now+900, events.SourceEmbedded, time.Time{})
	time.Sleep(500 * time.Millisecond)
	if n := len(rc.posts()); n != 1 {
		t.Errorf("%d POSTs after carl was hidden from anna, want still 1", n)
	}
}

// TestFlappingOneNotificationPerQuietPeriod: ben's phone flapping at the
// edge of Home (in, out, in … every 5 s for a minute) notifies once per
// quiet period of the rule: once for the burst, again for a later one.
func TestFlappingOneNotificationPerQuietPeriod(t *testing.T) {
	rc := newReceiver(t, "anna's secret", false)
	r := newRig(t, webhookOnly(rc))
	r.user(t, "anna")
	r.user(t, "ben")
	r.area(t, "Home")
	r.rule(t, webhookRule("r1", rc, func(r *projections.NotifyRule) { r.QuietS = 120 }))
	t0 := time.Now().Unix() - 600
	burst := func(from int64) {
		for i := range 12 {
			p := away
			if i%2 == 1 {
				p = home
			}
			r.fix(t, "ben/phone", p, from+int64(i)*5, events.SourceEmbedded, time.Time{})
		}
	}
	burst(t0)       // 6 arrivals within a minute
	burst(t0 + 300) // 6 more, 5 minutes later: a new quiet period
	eventstest.WaitFor(t, 5*time.Second, "two POSTs", func() bool { return len(rc.posts()) >= 2 })
	time.Sleep(500 * time.Millisecond)
	got := rc.posts()
	if len(got) != 2 {
		t.Fatalf("%d POSTs for 12 arrivals in two bursts 5 min apart with a 2 min quiet period, want 2", len(got))
	}
	if at0, at1 := got[0].body.At.Unix(), got[1].body.At.Unix(); at0 != t0+5 || at1 != t0+305 {
		t.Errorf("notified arrivals at %d and %d, want the first of each burst (%d, %d)", at0, at1, t0+5, t0+305)
	}
	if s := r.disp.Stats(); s.Suppressed != 10 {
		t.Errorf("suppressed %d, want 10", s.Suppressed)
	}
}

// TestHistoryNeverNotifies: arrivals in imported history (whatever its
// age), in a phone's old backlog (a fix an hour older than its arrival),
// or in events that arrived long ago (a catch-up) notify nothing; the
// same arrival sent live does.
func TestHistoryNeverNotifies(t *testing.T) {
	now := time.Now()
	hour := time.Hour
	for _, tc := range []struct {
		name     string
		source   string
		received time.Time
		tst      time.Time
		want     int
	}{
		{"live", events.SourceEmbedded, now, now, 1},
		{"imported last year", events.SourceRecorder, now.Add(-365 * 24 * hour), now.Add(-365 * 24 * hour), 0},
		{"imported, recent", events.SourceGPX, now, now.Add(-2 * time.Minute), 0},
		{"a phone's backlog", events.SourceHTTP, now, now.Add(-hour), 0},
		{"arrived long ago", events.SourceEmbedded, now.Add(-2 * hour), now.Add(-2 * hour), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newReceiver(t, "anna's secret", false)
			r := newRig(t, webhookOnly(rc))
			r.user(t, "anna")
			r.user(t, "ben")
			r.area(t, "Home")
			r.rule(t, webhookRule("r1", rc, nil))
			r.fix(t, "ben/phone", away, tc.tst.Unix()-60, tc.source, tc.received.Add(-time.Minute))
			r.fix(t, "ben/phone", home, tc.tst.Unix(), tc.source, tc.received)
			if tc.want > 0 {
				eventstest.WaitFor(t, 5*time.Second, "the POST", func() bool { return len(rc.posts()) > 0 })
			}
			time.Sleep(300 * time.Millisecond)
			if n := len(rc.posts()); n != tc.want {
				t.Errorf("%d POSTs, want %d", n, tc.want)
			}
		})
	}
}

// TestSilenceAndBattery: a silent rule tells once when ben has sent
// nothing for its duration (its own timer, on the dispatcher's clock),
// and again only after he reported and fell silent again; a battery rule
// tells when the level drops below its mark, not while it stays below.
func TestSilenceAndBattery(t *testing.T) {
	rc := newReceiver(t, "anna's secret", false)
	opts := webhookOnly(rc)
	opts.Tick = 20 * time.Millisecond
	r := newRig(t, opts)
	r.user(t, "anna")
	r.user(t, "ben")
	r.rule(t, webhookRule("silent", rc, func(r *projections.NotifyRule) {
		r.On, r.Place, r.AfterS = projections.NotifySilent, "", 3600
	}))
	r.rule(t, webhookRule("batt", rc, func(r *projections.NotifyRule) {
		r.On, r.Place, r.Below, r.QuietS = projections.NotifyBattery, "", 20, 1
	}))
	batt := func(level int, tst int64) {
		payload := fmt.Sprintf(`{"_type":"location","lat":%v,"lon":%v,"tst":%d,"batt":%d}`, away.lat, away.lon, tst, level)
		r.append(t, events.Event{Topic: "owntracks/ben/phone", Payload: []byte(payload), Source: events.SourceEmbedded, QoS: 1})
	}
	now := time.Now().Unix()
	for i, level := range []int{50, 30, 15, 10, 60, 12} {
		batt(level, now+int64(i)*10)
	}
	eventstest.WaitFor(t, 5*time.Second, "two battery POSTs", func() bool { return len(rc.posts()) >= 2 })
	r.clock.Advance(59 * time.Minute)
	time.Sleep(200 * time.Millisecond)
	if n := len(rc.posts()); n != 2 {
		t.Fatalf("%d POSTs before the hour of silence is up, want the 2 battery ones: %+v", n, rc.posts())
	}
	r.clock.Advance(2 * time.Minute)
	eventstest.WaitFor(t, 5*time.Second, "the silence POST", func() bool { return len(rc.posts()) >= 3 })
	time.Sleep(200 * time.Millisecond) // many ticks: still one
	batt(70, time.Now().Unix())
	r.clock.Advance(61 * time.Minute)
	eventstest.WaitFor(t, 5*time.Second, "the second silence POST", func() bool { return len(rc.posts()) >= 4 })
	time.Sleep(200 * time.Millisecond)
	var kinds []string
	for _, p := range rc.posts() {
		kinds = append(kinds, fmt.Sprintf("%s:%d", p.body.Event, p.body.Battery))
	}
	want := []string{"battery:15", "battery:12", "silent:0", "silent:0"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("POSTs %v, want %v", kinds, want)
	}
	if p := rc.posts()[2]; p.body.SilentS < 3600 || p.body.Text == "" {
		t.Errorf("silence POST %s", p.raw)
	}
}
