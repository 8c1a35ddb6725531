// Share link page script (/s/{token}): one friend on a map, their trail
// since the link started, moved by the link's own event stream. The
// stream ends with "end" when the link expires or is revoked; then the
// page says so and stops listening. No other request leaves the page
// but the tiles.
(function () {
  "use strict";

  var el = document.getElementById("share-map");
  var state = document.getElementById("share-state");
  var fixTime = document.querySelector('[data-testid="share-fix-time"]');
  if (!el || typeof L === "undefined") return;

  var map = L.map(el, { worldCopyJump: true }).setView([20, 0], 2);
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "", referrerPolicy: "no-referrer" }).addTo(map);
  }
  el.trackerMap = map; // for the browser tests

  var trail = L.polyline([], { weight: 3, className: "track-line" }).addTo(map);
  var marker = null, accuracy = null, framed = false, ended = false;
  el.shareFixes = 0; // fixes drawn, for the browser tests

  function clock(tst) {
    var d = new Date(tst * 1000), now = new Date();
    var t = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    return d.toDateString() === now.toDateString() ? t : d.toLocaleDateString([], { day: "numeric", month: "short" }) + " " + t;
  }

  function place(fix, fromTrail) {
    var ll = [fix.lat, fix.lon];
    if (!marker) {
      marker = L.circleMarker(ll, { radius: 9, weight: 3, color: "#ffffff", fillColor: "#0b63c5", fillOpacity: 1, className: "share-marker" }).addTo(map);
      marker.bindTooltip(el.dataset.name || "");
      accuracy = L.circle(ll, { radius: fix.acc || 0, weight: 1, fillOpacity: 0.1, interactive: false }).addTo(map);
    } else {
      marker.setLatLng(ll);
      accuracy.setLatLng(ll).setRadius(fix.acc || 0);
    }
    var pts = trail.getLatLngs();
    var lastPt = pts.length ? pts[pts.length - 1] : null;
    if (!lastPt || lastPt.lat !== fix.lat || lastPt.lng !== fix.lon) trail.addLatLng(ll);
    if (!fromTrail) {
      el.dataset.lat = fix.lat;
      el.dataset.lon = fix.lon;
      el.dataset.tst = fix.tst;
      el.shareFixes++;
      if (fixTime) fixTime.textContent = "Last position " + clock(fix.tst);
    }
    if (!framed) {
      framed = true;
      map.setView(ll, 15);
    } else if (!fromTrail && !map.getBounds().pad(-0.1).contains(ll)) {
      map.panTo(ll);
    }
  }

  function end(text) {
    if (ended) return;
    ended = true;
    el.dataset.ended = "1";
    if (state) state.textContent = text;
    document.body.classList.add("share-ended");
  }

  // The server wrote its times in its own zone: show them in the viewer's.
  document.querySelectorAll("time[data-share-clock]").forEach(function (t) {
    var ms = Date.parse(t.getAttribute("datetime"));
    if (!isNaN(ms)) t.textContent = clock(ms / 1000);
  });

  if (el.dataset.lat) {
    place({ lat: +el.dataset.lat, lon: +el.dataset.lon, acc: +el.dataset.acc, tst: +el.dataset.tst }, true);
  }

  fetch(el.dataset.track, { credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" }).then(function (r) {
    if (r.status === 410) { end("This link has ended"); return null; }
    return r.ok ? r.json() : null;
  }).then(function (data) {
    if (!data || !data.points || ended) return;
    var pts = data.points.map(function (p) { return [p.lat, p.lon]; });
    var cur = trail.getLatLngs();
    trail.setLatLngs(pts.concat(cur.filter(function (ll) {
      return !pts.length || ll.lat !== pts[pts.length - 1][0] || ll.lng !== pts[pts.length - 1][1];
    })));
    if (!framed && pts.length) place({ lat: pts[pts.length - 1][0], lon: pts[pts.length - 1][1] }, true);
  }).catch(function () { /* the stream still moves the marker */ });

  var es = new EventSource(el.dataset.stream);
  el.shareStream = es;
  es.addEventListener("fix", function (ev) {
    place(JSON.parse(ev.data), false);
  });
  es.addEventListener("end", function (ev) {
    var why = "";
    try { why = JSON.parse(ev.data).reason; } catch (e) { /* plain end */ }
    es.close();
    end(why === "revoked" ? "This link was revoked" : why === "arrived" ? "They have arrived: the link has ended" : "This link has ended");
  });
  es.addEventListener("hello", function () {
    if (state && !ended) state.textContent = "Live";
  });
  es.onerror = function () {
    if (ended) return;
    // EventSource retries by itself; a link that ended answers 410, which
    // closes it for good.
    if (es.readyState === EventSource.CLOSED) {
      fetch(el.dataset.track, { credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" }).then(function (r) {
        end(r.status === 410 ? "This link has ended" : "Not connected: reload the page");
      }, function () { end("Not connected: reload the page"); });
    } else if (state) {
      state.textContent = "Reconnecting…";
    }
  };
})();
