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
      var line = [];
      (gj.features || []).forEach(function (f) {
        if (f.geometry && f.geometry.type === "Point") line.push([f.geometry.coordinates[1], f.geometry.coordinates[0]]);
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
})();
