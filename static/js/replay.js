// Replay on the dashboard: plays a period for everyone the viewer sees
// (or one friend, ?friend=user/device) at 1×–3600×, moving the markers
// along their tracks and changing the place cards as they cross areas;
// pause, step and seek (the player is player.js's, shared with a friend's
// history page). The period is in the URL (/?at=FROM&replay=FROM-TO
// &speed=N), which shows the dashboard as of its start (no live stream),
// and its data come from /api/v1/replay. The markers are app.js's: this
// script changes the rows' data-marker and asks it to redraw
// ("tracker:sync"). No dependencies besides Leaflet, for the tracks.
(function () {
  "use strict";

  var P = window.TrackerPlayer;
  var data = null, placesSig = "", tracks = [];
  var els = {}; // friend id -> the element carrying its marker

  function q(sel) { return document.querySelector(sel); }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function localValue(s) {
    var d = new Date(s * 1000);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  // ------------------------------------------------------------- the form
  function onSubmit(ev) {
    ev.preventDefault();
    var f = ev.target;
    var from = Math.floor(new Date(f.from.value).getTime() / 1000), to = Math.floor(new Date(f.to.value).getTime() / 1000);
    var note = q('[data-testid="replay-note"]');
    if (!(from < to)) {
      q('[data-testid="replay-player"]').hidden = false;
      note.textContent = "The period must end after it starts.";
      return;
    }
    var u = new URLSearchParams(location.search), keep = u.get("friend");
    var next = new URLSearchParams();
    next.set("at", String(from));
    next.set("replay", from + "-" + to);
    next.set("speed", f.speed.value);
    if (keep) next.set("friend", keep);
    location.assign("/?" + next.toString());
  }

  // ------------------------------------------------------------ the data
  function elementOf(id) {
    var all = document.querySelectorAll("[data-friend]");
    for (var i = 0; i < all.length; i++) if (all[i].dataset.friend === id) return all[i];
    // Not on the dashboard at the start: a marker of its own.
    var box = document.getElementById("more-markers");
    if (!box) return null;
    var e = document.createElement("i");
    e.dataset.friend = id;
    box.appendChild(e);
    return e;
  }

  // members are, per place key, the friends in it at s: any of its
  // areas, by either origin (the phone's report or the position).
  function members(s) {
    var state = {};
    data.start.forEach(function (f) { state[f.device + "\u0000" + f.area + "\u0000" + f.origin] = f.in; });
    for (var i = 0; i < data.crossings.length && data.crossings[i].tst <= s; i++) {
      var c = data.crossings[i];
      state[c.device + "\u0000" + c.area + "\u0000" + c.origin] = c.in;
    }
    var areaPlace = {}, out = {};
    data.places.forEach(function (p) { (p.areas || []).forEach(function (a) { areaPlace[a] = p.key; }); out[p.key] = []; });
    Object.keys(state).forEach(function (k) {
      if (!state[k]) return;
      var parts = k.split("\u0000"), place = areaPlace[parts[1]];
      if (place !== undefined && out[place].indexOf(parts[0]) < 0) out[place].push(parts[0]);
    });
    return out;
  }

  function placeCard(p, who, names) {
    var art = document.createElement("article");
    art.className = "place";
    art.dataset.testid = "place";
    art.dataset.place = p.name;
    var h = document.createElement("h3");
    h.textContent = p.name;
    art.appendChild(h);
    if (!who.length) {
      var e = document.createElement("p");
      e.className = "empty";
      e.textContent = "Nobody here then.";
      art.appendChild(e);
      return art;
    }
    var ul = document.createElement("ul");
    ul.className = "members";
    ul.dataset.testid = "members";
    who.map(function (id) { return names[id] || id; }).sort().forEach(function (n) {
      var li = document.createElement("li");
      li.dataset.testid = "member";
      var sp = document.createElement("span");
      sp.className = "member";
      sp.textContent = n;
      li.appendChild(sp);
      ul.appendChild(li);
    });
    art.appendChild(ul);
    return art;
  }

  function drawPlaces(s) {
    var box = document.getElementById("places");
    if (!box) return;
    var m = members(s), sig = JSON.stringify(m);
    if (sig === placesSig) return;
    placesSig = sig;
    var names = {};
    data.friends.forEach(function (f) { names[f.marker.id] = f.marker.label || f.marker.name; });
    var full = data.places.filter(function (p) { return m[p.key].length; });
    var empty = data.places.filter(function (p) { return !m[p.key].length; });
    while (box.firstChild) box.removeChild(box.firstChild);
    full.forEach(function (p) { box.appendChild(placeCard(p, m[p.key], names)); });
    if (empty.length) {
      var d = document.createElement("details");
      d.className = "empty-places";
      d.dataset.testid = "empty-places";
      var sum = document.createElement("summary");
      sum.textContent = "Empty: " + empty.map(function (p) { return p.name; }).join(", ");
      d.appendChild(sum);
      empty.forEach(function (p) { d.appendChild(placeCard(p, [], names)); });
      box.appendChild(d);
    }
  }

  function draw(t) {
    var moved = false;
    data.friends.forEach(function (f) {
      var id = f.marker.id, e = els[id], at = P.position(f.points, t);
      if (!e || !at) return;
      var m = f.marker;
      if (m.lat === at.lat && m.lon === at.lon) return;
      m.lat = at.lat; m.lon = at.lon; m.tst = at.tst; m.time = new Date(at.tst * 1000).toISOString();
      m.places = [];
      e.dataset.marker = JSON.stringify(m);
      moved = true;
    });
    if (moved) document.dispatchEvent(new CustomEvent("tracker:sync"));
    drawPlaces(t);
  }

  function drawTracks() {
    var box = document.getElementById("map"), map = box && box.leafletMap;
    if (!map || typeof L === "undefined") return;
    tracks.forEach(function (l) { map.removeLayer(l); });
    tracks = [];
    data.friends.forEach(function (f) {
      if (f.points.length < 2) return;
      var e = els[f.marker.id], c = (e && e.style.getPropertyValue("--c")) || "#1565c0";
      tracks.push(L.polyline(f.points.map(function (p) { return [p[1], p[2]]; }), { color: c, weight: 3, opacity: 0.8, interactive: false }).addTo(map));
    });
    var all = [];
    data.friends.forEach(function (f) { f.points.forEach(function (p) { all.push([p[1], p[2]]); }); });
    if (all.length > 1) map.fitBounds(L.latLngBounds(all).pad(0.1));
  }

  function load(from, to, friend, speedSelect, speed) {
    var player = q('[data-testid="replay-player"]'), note = q('[data-testid="replay-note"]');
    var details = q('[data-testid="replay"]');
    details.hidden = false;
    details.open = true;
    player.hidden = false;
    note.textContent = "loading…";
    var u = "/api/v1/replay?from=" + from + "&to=" + to + (friend ? "&friend=" + encodeURIComponent(friend) : "");
    fetch(u, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (!r.ok) return r.text().then(function (s) { throw new Error(s || r.statusText); });
      return r.json();
    }).then(function (d) {
      data = d;
      d.friends.forEach(function (f) { els[f.marker.id] = elementOf(f.marker.id); if (!els[f.marker.id].dataset.marker) els[f.marker.id].dataset.marker = JSON.stringify(f.marker); });
      document.dispatchEvent(new CustomEvent("tracker:sync"));
      drawTracks();
      note.textContent = d.friends.length + (d.friends.length === 1 ? " friend" : " friends") + (d.sampled ? " · tracks thinned" : "");
      document.body.classList.add("replaying");
      P.create({
        root: player, speedSelect: speedSelect, speed: speed,
        from: d.from, to: d.to, draw: draw, next: function (t) { return P.nextStop(d, t); }, autoplay: true
      });
    }).catch(function (e) { note.textContent = "Could not load the replay: " + e.message; });
  }

  function start() {
    var form = q('[data-testid="replay-form"]');
    if (!form) return;
    form.addEventListener("submit", onSubmit);
    var u = new URLSearchParams(location.search), period = (u.get("replay") || "").split("-");
    if (period.length !== 2) return;
    var from = Number(period[0]), to = Number(period[1]);
    if (!(from < to)) return;
    form.from.value = localValue(from);
    form.to.value = localValue(to);
    form.speed.value = String(Number(u.get("speed")) || 60);
    load(from, to, u.get("friend"), form.speed, Number(form.speed.value) || 60);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
