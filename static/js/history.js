// History page script: draws one friend's track over the range from the
// range's GeoJSON export, frames it once, and (when the range includes
// now) redraws it as the live stream reports the friend. A live redraw
// never moves the map unless the viewer turned "Follow" on: someone
// reading the track keeps the view they chose.
(function () {
  "use strict";

  var el = document.querySelector('#map[data-map="history"]');
  var track = document.getElementById("track");
  if (!el || !track || typeof L === "undefined") return;

  var map = L.map(el, { worldCopyJump: true }).setView([20, 0], 2);
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
  }
  // For the browser tests and the console: the page's map.
  el.trackerMap = map;

  // textOf wraps text in a DOM element: handed a string, Leaflet's
  // tooltips set it as HTML.
  function textOf(s) {
    var span = document.createElement("span");
    span.textContent = s;
    return span;
  }

  var follow = document.getElementById("follow");
  var layer = null, framed = false, seq = 0;

  // frame shows the whole track: once after load, and again only when
  // the viewer asks ("Fit track").
  function frame(line) {
    if (line.length === 0) return;
    map.invalidateSize();
    if (line.length === 1) map.setView(line[0], 15);
    else map.fitBounds(L.latLngBounds(line), { padding: [24, 24] });
  }

  function draw(live) {
    var n = ++seq, src = track.dataset.geojson;
    if (live) src += (src.indexOf("?") < 0 ? "?" : "&") + "_=" + Date.now();
    fetch(src, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (gj) {
      if (n !== seq) return; // a newer redraw is on its way
      var line = [], times = [];
      (gj.features || []).forEach(function (f) {
        if (f.geometry && f.geometry.type === "Point") {
          line.push([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
          times.push(f.properties ? f.properties.tst : 0);
        }
      });
      if (layer) map.removeLayer(layer);
      layer = L.featureGroup();
      if (line.length > 0) {
        L.polyline(line, { weight: 3, className: "track-line" }).addTo(layer);
        L.circleMarker(line[0], { radius: 6, color: "#1d7a3a", fillOpacity: 1 }).bindTooltip(textOf("start")).addTo(layer);
        L.circleMarker(line[line.length - 1], { radius: 6, color: "#b3261e", fillOpacity: 1 }).bindTooltip(textOf("latest")).addTo(layer);
      }
      layer.addTo(map);
      track.line = line;
      track.times = times;
      if (!framed) {
        framed = true;
        frame(line);
      } else if (follow && follow.checked && line.length > 0) {
        map.panTo(line[line.length - 1]);
      }
      track.dataset.points = String(line.length);
      track.dispatchEvent(new CustomEvent("track-drawn", { bubbles: true }));
    }).catch(function () { /* the table still lists the points */ });
  }

  var fitButton = document.getElementById("fit-track");
  if (fitButton) fitButton.addEventListener("click", function () { frame(track.line || []); });
  if (follow) follow.addEventListener("change", function () {
    var line = track.line || [];
    if (follow.checked && line.length > 0) map.panTo(line[line.length - 1]);
  });

  // A range that includes now: the page listens on the live stream, which
  // carries this friend's row whenever it reports; fetch the track again.
  var page = document.querySelector("[data-live-friend]");
  if (page) {
    document.addEventListener("htmx:wsAfterMessage", function (ev) {
      if (!ev.detail || typeof ev.detail.message !== "string") return;
      var t = document.createElement("template");
      t.innerHTML = ev.detail.message;
      var rows = t.content.querySelectorAll("[data-friend]");
      for (var i = 0; i < rows.length; i++) {
        if (rows[i].dataset.friend === page.dataset.liveFriend) { draw(true); return; }
      }
    });
  }
  draw(false);

  // ------------------------------------------------------------ the story
  // Clicking a stay's button (or Enter on it) circles it on the map and
  // frames it; a journey is drawn over the track from its start to its
  // end and framed. Clicking it again lets go.
  var story = document.querySelector('[data-testid="story"]');
  var highlight = null, selected = null;

  function clearHighlight() {
    if (highlight) map.removeLayer(highlight);
    highlight = null;
    if (selected) selected.setAttribute("aria-pressed", "false");
    selected = null;
  }

  function show(item) {
    if (selected === item) { clearHighlight(); return; }
    clearHighlight();
    selected = item;
    item.setAttribute("aria-pressed", "true");
    highlight = L.featureGroup();
    var label = textOf(item.title || "");
    if (item.closest(".story-item").classList.contains("stay")) {
      var r = Math.max(Number(story.dataset.stayRadius) || 100, Number(item.dataset.acc) || 0);
      var c = L.circle([Number(item.dataset.lat), Number(item.dataset.lon)], { radius: r, weight: 3, className: "story-highlight stay-highlight" });
      c.bindTooltip(label).addTo(highlight);
      highlight.addTo(map);
      map.invalidateSize();
      map.fitBounds(c.getBounds(), { padding: [24, 24], maxZoom: 17 });
    } else {
      var from = Number(item.dataset.start), to = Number(item.dataset.end), part = [];
      var line = track.line || [], times = track.times || [];
      for (var i = 0; i < line.length; i++) {
        if (times[i] >= from && times[i] <= to) part.push(line[i]);
      }
      if (part.length > 0) {
        L.polyline(part, { weight: 6, className: "story-highlight journey-highlight" }).bindTooltip(label).addTo(highlight);
        highlight.addTo(map);
        map.invalidateSize();
        if (part.length === 1) map.setView(part[0], 16);
        else map.fitBounds(L.latLngBounds(part), { padding: [24, 24] });
      }
    }
    // On a phone the map is above the story: bring it into view.
    var box = el.getBoundingClientRect();
    if (box.bottom < 0 || box.top > window.innerHeight) el.scrollIntoView({ behavior: "smooth", block: "center" });
    story.dispatchEvent(new CustomEvent("story-shown", { bubbles: true }));
  }

  if (story) {
    story.addEventListener("click", function (e) {
      var li = e.target.closest(".story-item");
      var item = li && li.querySelector(".story-btn");
      if (item) show(item);
    });
  }

  // ------------------------------------------------- suggested places
  // For admins: places this friend stays often that no area covers, each
  // offered to name; naming one defines a circle area through the areas
  // API (the areas page's own path), then the page reloads to tell the
  // story with it.
  var sugg = document.getElementById("suggested");
  if (sugg) {
    var list = sugg.querySelector(".suggested-list"), errorBox = sugg.querySelector(".error");
    var send = function (method, url, body) {
      var opts = { method: method, credentials: "same-origin", cache: "no-store",
        headers: { "X-Requested-With": "fetch", "Accept": "application/json" } };
      if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
      return fetch(url, opts).then(function (r) {
        return r.text().then(function (t) {
          if (!r.ok) throw new Error((t || r.statusText).trim());
          return t ? JSON.parse(t) : null;
        });
      });
    };
    var hours = function (s) {
      return s < 3600 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
    };
    send("GET", "/api/v1/places/suggested?device=" + encodeURIComponent(sugg.dataset.device)).then(function (a) {
      var ss = (a && a.suggestions) || [];
      if (ss.length === 0) return;
      ss.forEach(function (sg, i) {
        var li = document.createElement("li");
        li.dataset.testid = "suggestion";
        var what = document.createElement("span");
        what.className = "what";
        what.textContent = (sg.address ? sg.address + ": " : "") + sg.stays + " stays, " + hours(sg.seconds);
        var form = document.createElement("form");
        var name = document.createElement("input");
        name.type = "text"; name.required = true; name.maxLength = 100;
        name.placeholder = "Name, e.g. Home";
        name.setAttribute("aria-label", "Name of the place " + (i + 1));
        name.dataset.testid = "suggestion-name";
        var btn = document.createElement("button");
        btn.type = "submit"; btn.className = "small"; btn.textContent = "Add area";
        btn.dataset.testid = "suggestion-add";
        var look = document.createElement("button");
        look.type = "button"; look.className = "small quiet"; look.textContent = "Show";
        look.addEventListener("click", function () {
          clearHighlight();
          highlight = L.featureGroup();
          var c = L.circle([sg.centre.lat, sg.centre.lon], { radius: sg.radius, weight: 3, dashArray: "6 4", className: "story-highlight" });
          c.addTo(highlight);
          highlight.addTo(map);
          map.fitBounds(c.getBounds(), { padding: [24, 24], maxZoom: 17 });
        });
        form.appendChild(name); form.appendChild(btn); form.appendChild(look);
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          errorBox.textContent = "";
          var n = name.value.trim();
          if (!n) { name.focus(); return; }
          btn.disabled = true;
          send("POST", "/api/v1/areas", { name: n, center: { lat: sg.centre.lat, lon: sg.centre.lon }, radius: sg.radius })
            .then(function () { location.reload(); })
            .catch(function (err) { btn.disabled = false; errorBox.textContent = err.message; });
        });
        li.appendChild(what); li.appendChild(form);
        list.appendChild(li);
      });
      sugg.hidden = false;
    }).catch(function () { /* suggestions are a nicety */ });
  }
})();
