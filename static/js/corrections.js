// Corrections on the history page. "Show hidden points" (a CSS switch)
// is kept across the reload that follows a correction, and while it is
// on, this page's hidden points are drawn on the map, hollow, with why
// they are hidden.
(function () {
  "use strict";

  var box = document.getElementById("show-hidden");
  var mapEl = document.querySelector('#map[data-map="history"]');
  var key = "tracker.showHidden";
  var layer = null;

  function draw() {
    var map = mapEl && mapEl.trackerMap;
    if (!map || typeof L === "undefined") return;
    if (layer) {
      map.removeLayer(layer);
      layer = null;
    }
    var n = 0;
    if (box && box.checked) {
      layer = L.layerGroup();
      document.querySelectorAll("tr.point-hidden[data-lat]").forEach(function (tr) {
        var lat = parseFloat(tr.dataset.lat), lon = parseFloat(tr.dataset.lon);
        if (isNaN(lat) || isNaN(lon)) return;
        // Text, never HTML: the reason is whatever somebody typed.
        var tip = document.createElement("span");
        var why = tr.querySelector(".hidden-why");
        tip.textContent = why ? why.textContent : "hidden";
        L.circleMarker([lat, lon], { radius: 6, weight: 2, dashArray: "3 3", fillOpacity: 0, className: "hidden-fix" })
          .bindTooltip(tip).addTo(layer);
        n++;
      });
      layer.addTo(map);
    }
    mapEl.dataset.hiddenShown = String(n);
  }

  if (box) {
    try { box.checked = sessionStorage.getItem(key) === "1"; } catch (e) { /* storage off: starts folded */ }
    box.addEventListener("change", function () {
      try { sessionStorage.setItem(key, box.checked ? "1" : "0"); } catch (e) { /* not kept */ }
      draw();
    });
  }
  if (mapEl) draw();
})();
