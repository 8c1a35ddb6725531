package main

// Browser test of the replay on a friend's history page
// (static/js/history-replay.js with the player shared with the
// dashboard, static/js/player.js): it plays the range shown in place, a
// marker moving along the track, with Play/Pause, Step, a seek bar and a
// speed select reached by keyboard. Real server, real broker, real
// Chromium.

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"tracker/events/eventstest"
)

// The history player's parts, by test id.
const (
	hrPlayJS   = `document.querySelector('[data-testid="history-player"] [data-testid="replay-play"]')`
	hrStepJS   = `document.querySelector('[data-testid="history-player"] [data-testid="replay-step"]')`
	hrSeekJS   = `document.querySelector('[data-testid="history-player"] [data-testid="replay-seek"]')`
	hrAtJS     = `(document.querySelector('[data-testid="history-player"]').dataset.at || "")`
	hrTstJS    = `(document.querySelector('[data-testid="history-player"]').dataset.tst || "")`
	hrIconJS   = `(function(){var i=document.querySelector(".hr-marker-icon"); return i ? i.style.transform : "";})()`
	hrMarkedJS = `JSON.stringify(Array.from(document.querySelectorAll('[data-testid="point-row"].is-playing')).map(function(r){return r.dataset.tst + ":" + r.getAttribute("aria-current");}))`
)

func TestBrowserHistoryReplay(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, filepath.Join(t.TempDir(), "data"), "--tiles", "")
	base := "http://" + s.http
	const id = "rita/phone"
	phone := eventstest.Connect(t, s.mqtt, "history-replay-rita")
	// Rita walks from the park to her desk in the Office, a fix every 8
	// minutes over the last hour.
	now := time.Now().Truncate(time.Minute)
	type fix struct {
		lat, lon float64
		tst      int64
	}
	var fixes []fix
	const n = 6
	for i := range n {
		k := float64(i) / float64(n-1)
		f := fix{parkLat + (deskLat-parkLat)*k, parkLon + (deskLon-parkLon)*k, now.Add(time.Duration(i*8-50) * time.Minute).Unix()}
		fixes = append(fixes, f)
		publishLocation(t, phone, id, location{Lat: f.lat, Lon: f.lon, Tst: f.tst, Acc: 10, T: "p", TID: "ri"})
	}
	waitFix(t, base, id, fixes[n-1].tst)
	defineArea(t, base, "Office", officeLat, officeLon, 200)
	from, to := now.Add(-time.Hour), now.Add(-5*time.Minute)
	page := historyURL(base, id, from, to)

	b.do(t, 15*time.Second, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(page))
	b.mustWaitJS(t, 5*time.Second, "track drawn", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n))
	b.mustWaitJS(t, 3*time.Second, "the replay player shown", `(function(){var p=document.querySelector('[data-testid="history-player"]'); return !!p && !p.hidden;})()`)
	// Every control is labelled: the buttons by their text, the seek bar
	// and the speed select by a label.
	if msg := eval[string](t, b, `(function(){var p=document.querySelector('[data-testid="history-player"]'), bad=[];
		p.querySelectorAll("button").forEach(function(e){ if(!e.textContent.trim()) bad.push("a button"); });
		p.querySelectorAll("input, select").forEach(function(e){ if(!e.labels.length || !e.labels[0].textContent.trim()) bad.push(e.dataset.testid); });
		return bad.join(", ");})()`); msg != "" {
		t.Errorf("unlabelled replay controls: %s", msg)
	}
	if got := eval[string](t, b, `document.querySelector('[data-testid="history-player"] [data-testid="replay-speed"]').value`); got != "600" {
		t.Errorf("speed select starts at %q, want 600 (55 minutes in ~5 s)", got)
	}
	if got := eval[[]string](t, b, `Array.from(document.querySelectorAll('[data-testid="history-player"] [data-testid="replay-speed"] option')).map(function(o){return o.value;})`); fmt.Sprint(got) != "[1 10 60 600 3600]" {
		t.Errorf("speeds offered: %v", got)
	}

	// Play by keyboard: the marker appears and moves along the track.
	_ = eval[bool](t, b, hrPlayJS+`.focus() || true`)
	b.do(t, 5*time.Second, chromedp.KeyEvent(kb.Enter))
	b.mustWaitJS(t, 5*time.Second, "the replay's marker on the map", hrIconJS+` !== "" && `+hrAtJS+` !== ""`)
	b.mustWaitJS(t, 2*time.Second, "playing", hrPlayJS+`.textContent === "Pause"`)
	icon0, at0 := eval[string](t, b, hrIconJS), eval[string](t, b, hrAtJS)
	b.mustWaitJS(t, 5*time.Second, "the marker moves", fmt.Sprintf(`%s !== %s && %s !== %s`, hrAtJS, jsString(at0), hrIconJS, jsString(icon0)))
	// The keyboard reaches the rest in order: Step, then the seek bar.
	b.do(t, 5*time.Second, chromedp.KeyEvent(kb.Tab))
	if !eval[bool](t, b, `document.activeElement === `+hrStepJS) {
		t.Error("Tab from Play does not reach Step")
	}
	b.do(t, 5*time.Second, chromedp.KeyEvent(kb.Tab))
	if !eval[bool](t, b, `document.activeElement === `+hrSeekJS) {
		t.Error("Tab from Step does not reach the seek bar")
	}

	// Pause: the marker stays where it is.
	b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="history-player"] [data-testid="replay-play"]`)))
	b.mustWaitJS(t, 2*time.Second, "paused", hrPlayJS+`.textContent === "Play"`)
	paused := eval[string](t, b, hrAtJS)
	b.do(t, 5*time.Second, chromedp.Sleep(400*time.Millisecond))
	if got := eval[string](t, b, hrAtJS); got != paused {
		t.Errorf("paused, the marker still moved: %s → %s", paused, got)
	}

	// Seek to the start: the marker at the first fix, nothing marked.
	_ = eval[bool](t, b, `(function(){var s=`+hrSeekJS+`; s.value="0"; s.dispatchEvent(new Event("input")); return true;})()`)
	b.mustWaitJS(t, 2*time.Second, "seeking to the start puts the marker at the first fix", hrAtJS+` === `+jsString(latLon(fixes[0].lat, fixes[0].lon)))
	if got := eval[string](t, b, hrMarkedJS); got != "[]" {
		t.Errorf("before the first fix, rows marked: %s", got)
	}
	// Step twice: the first fix, then the second, paused, its row marked.
	for i := range 2 {
		b.do(t, 5*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="history-player"] [data-testid="replay-step"]`)))
		b.mustWaitJS(t, 2*time.Second, fmt.Sprintf("step %d: at fix %d", i+1, i), hrTstJS+` === `+jsString(fmt.Sprint(fixes[i].tst)))
	}
	if got := eval[string](t, b, hrAtJS); got != latLon(fixes[1].lat, fixes[1].lon) {
		t.Errorf("after two steps the marker is at %s, want the second fix %s", got, latLon(fixes[1].lat, fixes[1].lon))
	}
	if got, want := eval[string](t, b, hrMarkedJS), fmt.Sprintf(`["%d:time"]`, fixes[1].tst); got != want {
		t.Errorf("after two steps rows marked %s, want %s", got, want)
	}
	if got := eval[string](t, b, hrPlayJS+`.textContent`); got != "Play" {
		t.Errorf("stepping left the player %q, want paused", got)
	}
	// Seek by keyboard to the end: the last fix, in the Office, the
	// arrival marked among the comings and goings.
	_ = eval[bool](t, b, hrSeekJS+`.focus() || true`)
	b.do(t, 5*time.Second, chromedp.KeyEvent(kb.End))
	b.mustWaitJS(t, 2*time.Second, "seeking to the end puts the marker at the last fix", hrAtJS+` === `+jsString(latLon(fixes[n-1].lat, fixes[n-1].lon)))
	if got, want := eval[string](t, b, hrMarkedJS), fmt.Sprintf(`["%d:time"]`, fixes[n-1].tst); got != want {
		t.Errorf("at the end rows marked %s, want %s", got, want)
	}
	if got := eval[string](t, b, `Array.from(document.querySelectorAll('[data-testid="timeline-item"].is-playing')).map(function(e){return e.textContent.replace(/\s+/g, " ").trim();}).join("|")`); got == "" {
		t.Errorf("at the end no coming or going is marked; the timeline reads %q", eval[string](t, b, `(document.querySelector('[data-testid="timeline"]')||{}).textContent || "(none)"`))
	}
	// The dashboard's replay of the same range is one link away.
	if href := eval[string](t, b, `document.querySelector('[data-testid="history-replay"]').getAttribute("href")`); href == "" {
		t.Error("no link to the dashboard's replay")
	}

	// For a person to look at: testout/screenshots/history-replay-*.png.
	if os.Getenv("HISTORY_REPLAY_SCREENSHOTS") != "" {
		for _, w := range []int64{390, 1280} {
			for _, scheme := range []string{"light", "dark"} {
				b.do(t, 15*time.Second, chromedp.EmulateViewport(w, 900), setColorScheme(scheme), chromedp.Navigate(page))
				b.mustWaitJS(t, 5*time.Second, "track drawn", fmt.Sprintf(`document.getElementById("track").dataset.points === "%d"`, n))
				b.do(t, 10*time.Second, chromedp.Click(chromedp.CSS(`[data-testid="history-player"] [data-testid="replay-play"]`)), chromedp.Sleep(2500*time.Millisecond),
					chromedp.Click(chromedp.CSS(`[data-testid="history-player"] [data-testid="replay-play"]`)))
				png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(screenshotDir(t), fmt.Sprintf("history-replay-%d-%s.png", w, scheme)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
