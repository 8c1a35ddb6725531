// The replay player shared by the dashboard (replay.js) and a friend's
// history page (history-replay.js): a clock running over a period at
// 1×–3600×, Play/Pause, Step, a seek bar and a speed select, and the
// reading of a replay answer (GET /api/v1/replay): where a friend is at a
// moment, the next fix or crossing. What a moment looks like is the
// page's: it hands a draw(t) function. Also the time words of asof.js.
// No dependencies.
(function () {
  "use strict";

  var FRAME_MS = 100; // how often a playing replay is redrawn
  var WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // moment says a Unix time in the browser's zone: "Tue 1 Dec 14:05".
  function moment(s) {
    var t = new Date(s * 1000);
    return WEEKDAYS[t.getDay()] + " " + t.getDate() + " " + MONTHS[t.getMonth()] + " " + pad(t.getHours()) + ":" + pad(t.getMinutes());
  }

  // clock is moment with the seconds: "Tue 1 Dec 14:05:09".
  function clock(s) { return moment(s) + ":" + pad(new Date(s * 1000).getSeconds()); }

  // position is where a track ([tst, lat, lon] by tst) is at s: between
  // two fixes, or its first fix before it begins and its last after it
  // ends; tst is the time of the last fix reached. null for no points.
  function position(p, s) {
    if (!p.length) return null;
    var lo = 0, hi = p.length - 1;
    if (s <= p[0][0]) return { lat: p[0][1], lon: p[0][2], tst: p[0][0] };
    if (s >= p[hi][0]) return { lat: p[hi][1], lon: p[hi][2], tst: p[hi][0] };
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (p[mid][0] <= s) lo = mid; else hi = mid;
    }
    var a = p[lo], b = p[hi], k = b[0] > a[0] ? (s - a[0]) / (b[0] - a[0]) : 0;
    return { lat: a[1] + (b[1] - a[1]) * k, lon: a[2] + (b[2] - a[2]) * k, tst: a[0] };
  }

  // nextStop is the first fix or crossing of a replay answer after s, or
  // the end of its period.
  function nextStop(data, s) {
    var next = data.to;
    data.friends.forEach(function (f) {
      for (var i = 0; i < f.points.length; i++) if (f.points[i][0] > s) { next = Math.min(next, f.points[i][0]); break; }
    });
    data.crossings.forEach(function (c) { if (c.tst > s) next = Math.min(next, c.tst); });
    return next;
  }

  // create runs a player over o.from–o.to (Unix seconds) with the
  // controls found in o.root by data-testid (replay-play, replay-step,
  // replay-seek: 0–1000, replay-clock) and the speed select o.speedSelect
  // (or replay-speed in o.root). o.draw(t) shows moment t; o.next(t) is
  // the moment Step goes to; o.prepare(), if given, is called once before
  // the first use of a control and returns a promise (the page loads its
  // data then); o.autoplay starts at once.
  function create(o) {
    function q(id) { return o.root.querySelector('[data-testid="' + id + '"]'); }
    var play = q("replay-play"), stepButton = q("replay-step"), seek = q("replay-seek"), out = q("replay-clock");
    var speedSelect = o.speedSelect || q("replay-speed");
    var t = o.from, playing = false, speed = o.speed || 60, lastFrame = 0, lastDraw = 0, loop = 0, ready = null;

    function render() {
      o.draw(t);
      if (out) out.textContent = clock(t);
      if (!seek) return;
      if (document.activeElement !== seek) seek.value = String(Math.round((t - o.from) / (o.to - o.from) * 1000));
      seek.setAttribute("aria-valuetext", clock(t)); // not "417"
    }

    // The running frame loop; a new one ends the old.
    function frame(now, mine) {
      if (!playing || mine !== loop) return;
      if (lastFrame) t = Math.min(o.to, t + (now - lastFrame) / 1000 * speed);
      lastFrame = now;
      if (now - lastDraw >= FRAME_MS || t >= o.to) { lastDraw = now; render(); }
      if (t >= o.to) { setPlaying(false); return; }
      requestAnimationFrame(function (ts) { frame(ts, mine); });
    }

    function setPlaying(on) {
      playing = on;
      lastFrame = 0;
      play.textContent = on ? "Pause" : (t >= o.to ? "Play again" : "Play");
      if (on) {
        if (t >= o.to) t = o.from;
        var mine = ++loop;
        requestAnimationFrame(function (ts) { frame(ts, mine); });
      }
    }

    // step moves to the next stop after t, paused.
    function step() {
      var next = Math.min(o.to, o.next(t));
      setPlaying(false);
      t = next;
      render();
    }

    // seekTo shows moment s, paused, so what is shown is the moment sought.
    function seekTo(s) {
      if (playing) setPlaying(false);
      t = Math.max(o.from, Math.min(o.to, s));
      render();
    }

    // act runs a control's action once the page is ready (a failed
    // preparation is tried again on the next use).
    function act(fn) {
      return function (ev) {
        if (!ready) ready = o.prepare ? o.prepare() : Promise.resolve();
        ready.then(function () { fn(ev); }, function () { ready = null; });
      };
    }

    if (speedSelect) {
      speedSelect.addEventListener("change", function () { speed = Number(speedSelect.value) || speed; });
    }
    play.addEventListener("click", act(function () { setPlaying(!playing); }));
    if (stepButton) stepButton.addEventListener("click", act(step));
    if (seek) {
      seek.addEventListener("input", act(function () {
        seekTo(o.from + (o.to - o.from) * Number(seek.value) / 1000);
      }));
    }
    if (out) out.textContent = clock(t);
    if (o.autoplay) {
      ready = Promise.resolve();
      render();
      setPlaying(true);
    }
    return {
      time: function () { return t; },
      playing: function () { return playing; },
      seek: seekTo,
      step: step,
      setPlaying: setPlaying
    };
  }

  window.TrackerPlayer = { moment: moment, clock: clock, position: position, nextStop: nextStop, create: create };
})();
