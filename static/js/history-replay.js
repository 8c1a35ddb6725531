// Replay on a friend's history page: plays the range shown (up to now)
// in place, with player.js's controls: a marker moves along the track
// history.js drew, and the point being played is marked in the table of
// points and the comings and goings (each scrolled to it when it scrolls
// on its own; the page itself never moves). The data are the dashboard
// replay's (GET /api/v1/replay?friend=), loaded on the first use of a
// control. Needs Leaflet, history.js (the map) and player.js.
(function () {
  "use strict";

  var P = window.TrackerPlayer;
  var root = document.querySelector('[data-testid="history-player"]');
  var mapEl = document.querySelector('#map[data-map="history"]');
  if (!P || !root || !mapEl || !mapEl.trackerMap || typeof L === "undefined") return;
  var map = mapEl.trackerMap;
  var from = Number(root.dataset.from), to = Number(root.dataset.to);
  if (!(from < to)) return;
  root.hidden = false;
  var note = root.querySelector('[data-testid="replay-note"]');
  var data = null, points = [], marker = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }

  // The friend's marker as on the dashboard: face or initials on the
  // friend's colour (the page heading's), above the track's ends.
  function markerAt(m, ll) {
    var div = el("div", "marker " + (root.dataset.colour || ""));
    div.dataset.testid = "replay-marker";
    if (m.face) {
      var img = el("img");
      img.src = m.face;
      img.alt = "";
      div.appendChild(img);
    } else {
      var ini = el("span", "", m.initials || m.tid || "?");
      ini.setAttribute("aria-hidden", "true");
      div.appendChild(ini);
    }
    div.appendChild(el("span", "vh", (m.label || m.name || "") + ", replayed"));
    var icon = L.divIcon({ html: div, className: "marker-icon hr-marker-icon", iconSize: [34, 34], iconAnchor: [17, 17] });
    return L.marker(ll, { icon: icon, interactive: false, keyboard: false, zIndexOffset: 1000 }).addTo(map);
  }

  // marks are the rows to mark as the replay passes them, by time: the
  // table's points in use and the comings and goings.
  function marksOf(sel, tstOf) {
    var out = [];
    document.querySelectorAll(sel).forEach(function (e) {
      var s = tstOf(e);
      if (!isNaN(s)) out.push({ tst: s, el: e, on: false });
    });
    return out.sort(function (a, b) { return a.tst - b.tst; });
  }
  var marks = [
    marksOf('[data-testid="point-row"]:not(.point-hidden)', function (e) { return Number(e.dataset.tst); }),
    marksOf('[data-testid="timeline-item"]', function (e) {
      var tm = e.querySelector("time[datetime]");
      return tm ? Date.parse(tm.getAttribute("datetime")) / 1000 : NaN;
    })
  ];

  // scrollTo brings e into view inside the nearest box that scrolls on
  // its own (a side panel on a wide screen); never the page.
  function scrollTo(e) {
    for (var box = e.parentElement; box && box !== document.body && box !== document.documentElement; box = box.parentElement) {
      var y = getComputedStyle(box).overflowY;
      if ((y !== "auto" && y !== "scroll") || box.scrollHeight <= box.clientHeight) continue;
      var b = box.getBoundingClientRect(), r = e.getBoundingClientRect();
      if (r.top < b.top) box.scrollTop += r.top - b.top - 8;
      else if (r.bottom > b.bottom) box.scrollTop += r.bottom - b.bottom + 8;
      return;
    }
  }

  // mark marks, in each list, the last row at or before t.
  function mark(t) {
    marks.forEach(function (list) {
      var cur = -1;
      for (var i = 0; i < list.length && list[i].tst <= t; i++) cur = i;
      list.forEach(function (m, i) {
        var on = i === cur;
        if (on === m.on) return;
        m.on = on;
        m.el.classList.toggle("is-playing", on);
        if (on) {
          m.el.setAttribute("aria-current", "time");
          scrollTo(m.el);
        } else {
          m.el.removeAttribute("aria-current");
        }
      });
    });
  }

  function draw(t) {
    var at = P.position(points, t);
    if (!at) return;
    var ll = L.latLng(at.lat, at.lon);
    if (!marker) marker = markerAt(data.friends[0].marker, ll);
    else marker.setLatLng(ll);
    // The marker stays in view: the map follows it only when it would
    // leave the view.
    if (!map.getBounds().contains(ll)) map.panInside(ll, { padding: [40, 40], animate: false });
    root.dataset.at = at.lat + "," + at.lon;
    root.dataset.tst = String(at.tst);
    mark(t);
  }

  function prepare() {
    note.textContent = "loading…";
    var u = "/api/v1/replay?from=" + from + "&to=" + to + "&friend=" + encodeURIComponent(root.dataset.friend);
    return fetch(u, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) return r.text().then(function (s) { throw new Error(s || r.statusText); });
      return r.json();
    }).then(function (d) {
      data = d;
      points = d.friends.length ? d.friends[0].points : [];
      note.textContent = points.length ? (d.sampled ? "track thinned" : "") : "No points to replay.";
      root.classList.add("is-loaded");
    }, function (e) {
      note.textContent = "Could not load the replay: " + e.message;
      throw e;
    });
  }

  P.create({
    root: root, from: from, to: to, speed: Number(root.querySelector('[data-testid="replay-speed"]').value) || 600,
    draw: function (t) { if (data) draw(t); },
    next: function (t) { return data ? P.nextStop(data, t) : to; },
    prepare: prepare
  });
})();
