// Heatmap layer (leaflet.heat) from the server's grid of a friend's
// points (GET /api/v1/friends/{user}/{device}/heatmap): drawn on the
// stats page's map at once, and on the history page's map when the
// viewer turns "Heatmap" on.
(function () {
  "use strict";
  if (typeof L === "undefined" || typeof L.heatLayer !== "function") return;

  function load(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("heatmap: " + r.status);
      return r.json();
    });
  }

  // layerOf scales counts by their logarithm, so a night at home does not
  // drown every place passed through.
  function layerOf(a) {
    var top = Math.log(1 + (a.max || 1));
    var pts = (a.cells || []).map(function (c) { return [c[0], c[1], Math.log(1 + c[2]) / top]; });
    return { layer: L.heatLayer(pts, { radius: 18, blur: 14, max: 1, minOpacity: 0.35 }), pts: pts };
  }

  function mark(el, a) {
    el.dataset.heatPoints = String(a.points || 0);
    el.dataset.heatCells = String((a.cells || []).length);
  }

  // The stats page: a map of its own.
  var statsEl = document.querySelector('#map[data-map="stats"]');
  if (statsEl && statsEl.dataset.heatmap) {
    var map = L.map(statsEl, { worldCopyJump: true }).setView([20, 0], 2);
    if (statsEl.dataset.tiles) {
      L.tileLayer(statsEl.dataset.tiles, { maxZoom: 19, attribution: statsEl.dataset.attribution || "" }).addTo(map);
    }
    statsEl.trackerMap = map;
    load(statsEl.dataset.heatmap).then(function (a) {
      var h = layerOf(a);
      h.layer.addTo(map);
      if (h.pts.length === 1) map.setView([h.pts[0][0], h.pts[0][1]], 14);
      else if (h.pts.length > 1) map.fitBounds(L.latLngBounds(h.pts.map(function (p) { return [p[0], p[1]]; })), { padding: [24, 24], maxZoom: 16 });
      mark(statsEl, a);
      statsEl.dataset.heat = "drawn";
    }).catch(function () { statsEl.dataset.heat = "failed"; });
  }

  // The history page: a toggle over its map.
  var toggle = document.getElementById("heatmap-toggle");
  var histEl = document.querySelector('#map[data-map="history"]');
  if (toggle && histEl && histEl.trackerMap) {
    var layer = null;
    toggle.addEventListener("change", function () {
      var hm = histEl.trackerMap;
      if (!toggle.checked) {
        if (layer) hm.removeLayer(layer);
        histEl.dataset.heat = "off";
        return;
      }
      if (layer) {
        layer.addTo(hm);
        histEl.dataset.heat = "drawn";
        return;
      }
      load(toggle.dataset.heatmap).then(function (a) {
        layer = layerOf(a).layer;
        if (toggle.checked) layer.addTo(hm);
        mark(histEl, a);
        histEl.dataset.heat = toggle.checked ? "drawn" : "off";
      }).catch(function () { histEl.dataset.heat = "failed"; });
    });
  }
})();
