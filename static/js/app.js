// tracker page script: draws the map from what the server rendered.
// Friend rows carry data-marker, area cards data-shape; the live stream
// swaps those elements in, and this script redraws from them. There is no
// second channel: the map always shows what the lists show.
(function () {
  "use strict";

  var map = null, markers = {}, circles = {}, shapes = {}, fitted = false;

  function colorOf(cls) {
    var probe = document.createElement("span");
    probe.className = cls;
    probe.style.display = "none";
    document.body.appendChild(probe);
    var c = getComputedStyle(probe).getPropertyValue("--c").trim() || "#555";
    probe.remove();
    return c;
  }

  function initMap() {
    var el = document.getElementById("map");
    // A map with data-map belongs to its page's own script (history.js).
    if (!el || el.dataset.map || typeof L === "undefined" || map) return;
    map = L.map(el, { worldCopyJump: true }).setView([20, 0], 2);
    var tiles = el.dataset.tiles;
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
    }
    sync();
  }

  // textOf wraps a name in a DOM element for Leaflet: handed a string,
  // bindTooltip and bindPopup set it as HTML, and names come from phones
  // (a region named <meta http-equiv="refresh" ...> would navigate away).
  function textOf(s) {
    var span = document.createElement("span");
    span.textContent = s;
    return span;
  }

  function markerIcon(m) {
    var div = document.createElement("div");
    div.className = "marker " + m.color;
    if (m.face) {
      var img = document.createElement("img");
      img.src = m.face;
      img.alt = "";
      div.appendChild(img);
    } else {
      div.textContent = m.initials; // textContent: names are never HTML
    }
    return L.divIcon({ html: div, className: "", iconSize: [34, 34], iconAnchor: [17, 17] });
  }

  function syncFriends() {
    var seen = {};
    document.querySelectorAll("[data-marker]").forEach(function (el) {
      if (!el.dataset.marker) return;
      var m;
      try { m = JSON.parse(el.dataset.marker); } catch (e) { return; }
      seen[m.id] = true;
      var ll = [m.lat, m.lon];
      var key = JSON.stringify([m.initials, m.color, m.face]);
      if (!markers[m.id]) {
        markers[m.id] = L.marker(ll, { icon: markerIcon(m), title: m.name, keyboard: true }).addTo(map);
        markers[m.id].key = key;
        markers[m.id].on("click", function () { location.href = m.history; });
        circles[m.id] = L.circle(ll, { radius: m.acc || 0, weight: 1, color: colorOf(m.color), fillOpacity: 0.08 }).addTo(map);
      } else {
        markers[m.id].setLatLng(ll);
        if (markers[m.id].key !== key) { markers[m.id].setIcon(markerIcon(m)); markers[m.id].key = key; }
        circles[m.id].setLatLng(ll).setRadius(m.acc || 0);
      }
      markers[m.id].options.title = m.name;
    });
    Object.keys(markers).forEach(function (id) {
      if (!seen[id]) { map.removeLayer(markers[id]); map.removeLayer(circles[id]); delete markers[id]; delete circles[id]; }
    });
  }

  function syncAreas() {
    var seen = {};
    document.querySelectorAll("[data-shape]").forEach(function (el) {
      if (!el.dataset.shape) return;
      var a;
      try { a = JSON.parse(el.dataset.shape); } catch (e) { return; }
      seen[a.id] = true;
      var key = el.dataset.shape;
      if (shapes[a.id] && shapes[a.id].key === key) return;
      if (shapes[a.id]) map.removeLayer(shapes[a.id]);
      var style = { weight: 2, dashArray: a.origin === "phone" ? "4 4" : null, fillOpacity: 0.06 };
      var layer = a.polygon && a.polygon.length >= 3
        ? L.polygon(a.polygon.map(function (p) { return [p.lat, p.lon]; }), style)
        : L.circle([a.center.lat, a.center.lon], Object.assign({ radius: a.radius }, style));
      layer.bindTooltip(textOf(a.name));
      layer.key = key;
      shapes[a.id] = layer.addTo(map);
    });
    Object.keys(shapes).forEach(function (id) {
      if (!seen[id]) { map.removeLayer(shapes[id]); delete shapes[id]; }
    });
  }

  function fit() {
    if (fitted) return;
    var pts = Object.keys(markers).map(function (id) { return markers[id].getLatLng(); });
    if (pts.length === 0) {
      // Areas page: no friends on the map, so fit the outlines.
      var b = null;
      Object.keys(shapes).forEach(function (id) { var sb = shapes[id].getBounds(); b = b ? b.extend(sb) : L.latLngBounds(sb.getSouthWest(), sb.getNorthEast()); });
      if (!b) return;
      fitted = true;
      map.fitBounds(b.pad(0.2));
      return;
    }
    fitted = true;
    if (pts.length === 1) map.setView(pts[0], 15); else map.fitBounds(L.latLngBounds(pts).pad(0.2));
  }

  function sync() {
    if (!map) return;
    syncFriends();
    syncAreas();
    fit();
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-focus]");
    if (!b || !map) return;
    var m = markers[b.dataset.focus];
    if (m) { map.setView(m.getLatLng(), Math.max(map.getZoom(), 15)); m.openTooltip && m.openTooltip(); }
    document.getElementById("map").scrollIntoView({ behavior: "smooth", block: "nearest" });
  });

  function status(text, live) {
    var s = document.getElementById("live-status");
    if (!s) return;
    s.textContent = text;
    s.classList.toggle("live", !!live);
  }
  document.addEventListener("htmx:wsOpen", function () { status("live", true); });
  document.addEventListener("htmx:wsClose", function () { status("reconnecting…", false); });

  // When the viewer's login ends (logout in another tab, a password
  // change, removal), the server closes the stream with 4401: go to the
  // login page. 4403: the friend this page follows is no longer shared;
  // reload to find out. A close without a code (1006: the network, a
  // server restart, or a reconnect refused with 401, which a browser does
  // not tell a page) asks the server whether the login still holds, so a
  // logged-out page does not retry forever. Only a 401 leaves the page.
  function toLogin() {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }
  var checking = false;
  function checkLogin() {
    if (checking) return;
    checking = true;
    // X-Requested-With: the 401 comes without a Basic challenge, which
    // a browser would turn into a password dialog.
    fetch("/live", { credentials: "same-origin", cache: "no-store", headers: { "X-Requested-With": "fetch" } }).then(function (r) {
      if (r.status === 401) toLogin();
    }).catch(function () { /* server away: the extension keeps retrying */ }).then(function () { checking = false; });
  }
  document.addEventListener("htmx:wsClose", function (ev) {
    var code = ev.detail && ev.detail.event ? ev.detail.event.code : 0;
    if (code === 4401) toLogin();
    else if (code === 4403) location.reload();
    else if (code === 1006) checkLogin();
  });
  document.addEventListener("htmx:sseError", checkLogin);
  document.addEventListener("htmx:wsAfterMessage", sync);
  document.addEventListener("htmx:sseMessage", sync);
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("DOMContentLoaded", initMap);
  if (document.readyState !== "loading") initMap();
})();
