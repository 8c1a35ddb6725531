// tracker page script. The server renders everything; this script adds
// what needs the browser: times in the browser's own zone (kept current),
// the map drawn from the rows (friend rows carry data-marker, area cards
// data-shape; the live stream swaps those elements in and the map is
// redrawn from them, so it always shows what the lists show), the map's
// controls and the friends filter, the live connection's state, and the
// "Locate now" status. No dependencies besides the vendored libraries.
(function () {
  "use strict";

  // ---------------------------------------------------------------- times
  // The same rules as views.FormatTime, in the browser's zone (Date's
  // local getters are the browser's zone, emulated zones included).
  var WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function hm(t) { return pad(t.getHours()) + ":" + pad(t.getMinutes()); }
  function clock(t) { return hm(t) + ":" + pad(t.getSeconds()); }
  function dayMonth(t) { return t.getDate() + " " + MONTHS[t.getMonth()]; }

  function ago(now, t) {
    var d = now - t; // ms
    if (d < 45e3) return "just now";
    if (d < 90 * 60e3) return Math.round(d / 60e3) + " min ago";
    if (d < 36 * 3600e3) return Math.round(d / 3600e3) + " h ago";
    return Math.floor(d / 86400e3) + " days ago";
  }

  function formatTime(t, now, fmt) {
    switch (fmt) {
      case "ago": return ago(now, t);
      case "full": return WEEKDAYS[t.getDay()] + " " + dayMonth(t) + " " + t.getFullYear() + " " + clock(t);
      case "day": return WEEKDAYS[t.getDay()] + " " + dayMonth(t) + " " + t.getFullYear();
      case "clock": return clock(t);
      case "hm": return hm(t);
    }
    if (t.getFullYear() === now.getFullYear() && t.getMonth() === now.getMonth() && t.getDate() === now.getDate()) return hm(t);
    if (t.getFullYear() === now.getFullYear()) return WEEKDAYS[t.getDay()] + " " + dayMonth(t) + " " + hm(t);
    return dayMonth(t) + " " + t.getFullYear() + " " + hm(t);
  }

  // A zone chosen on /me (html data-tz) is the server's to render in:
  // only "ago" texts, which read alike in every zone, are kept current.
  var fixedZone = document.documentElement.dataset.tz || "";

  function renderTime(el, now) {
    if (fixedZone && el.dataset.fmt !== "ago" && el.textContent) return;
    var ms = Date.parse(el.getAttribute("datetime"));
    if (isNaN(ms)) return;
    var t = new Date(ms);
    var text = formatTime(t, now, el.dataset.fmt), title = formatTime(t, now, "full");
    if (el.textContent !== text) el.textContent = text;
    if (el.title !== title && !(fixedZone && el.title)) el.title = title;
  }

  // pageNow is the moment the page shows: now, or the past moment of a
  // dashboard in time travel (data-at, Unix s; asof.js).
  function pageNow() {
    var at = document.querySelector("[data-at]");
    return at ? new Date(Number(at.dataset.at) * 1000) : new Date();
  }

  function renderTimes(root) {
    var now = pageNow();
    if (root.matches && root.matches("time[data-fmt]")) renderTime(root, now);
    root.querySelectorAll("time[data-fmt]").forEach(function (el) { renderTime(el, now); });
  }

  // timeEl makes a <time> like views.Time does.
  function timeEl(ms, fmt) {
    var el = document.createElement("time");
    el.setAttribute("datetime", new Date(ms).toISOString());
    el.dataset.fmt = fmt;
    renderTime(el, new Date());
    return el;
  }

  // The tz cookie lets the server render later pages in this zone from the
  // first byte (views.ViewerLocation); it lasts the browser session.
  function rememberZone() {
    var zone = "";
    try { zone = fixedZone || Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    if (!/^[A-Za-z0-9_\/+\-]{1,64}$/.test(zone)) return;
    if (document.cookie.split("; ").indexOf("tz=" + zone) >= 0) return;
    document.cookie = "tz=" + zone + "; Path=/; SameSite=Lax";
  }

  // ------------------------------------------------------------- helpers
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text; // names are never HTML
    return e;
  }

  // textOf wraps a name in a DOM element for Leaflet: handed a string,
  // bindTooltip and bindPopup set it as HTML, and names come from phones
  // (a region named <meta http-equiv="refresh" ...> would navigate away).
  function textOf(s) { return el("span", "", s); }

  function rowOf(id) {
    var rows = document.querySelectorAll("[data-friend]");
    for (var i = 0; i < rows.length; i++) if (rows[i].dataset.friend === id) return rows[i];
    return null;
  }

  function markerOf(row) {
    if (!row.dataset.marker) return null;
    try { return JSON.parse(row.dataset.marker); } catch (e) { return null; }
  }

  // secondsOf reads a time given as unix seconds or as a date string.
  function secondsOf(v) {
    if (typeof v === "number" && isFinite(v)) return v;
    if (typeof v === "string" && v !== "") {
      if (/^\d+$/.test(v)) return parseInt(v, 10);
      var ms = Date.parse(v);
      if (!isNaN(ms)) return Math.floor(ms / 1000);
    }
    return null;
  }

  // rowTst is the time of the fix a friend's row shows (unix s), or null.
  function rowTst(row) {
    if (!row) return null;
    var s = secondsOf(row.dataset.tst);
    if (s !== null) return s;
    var m = markerOf(row);
    if (m && (s = secondsOf(m.tst)) !== null) return s;
    if (m && (s = secondsOf(m.time)) !== null) return s;
    return null;
  }

  function placesOf(m) {
    if (!m || !m.places) return [];
    if (typeof m.places === "string") return [m.places];
    return m.places.map(function (p) { return typeof p === "string" ? p : (p && p.name) || ""; }).filter(Boolean);
  }

  // ------------------------------------------------------------- colours
  // Sixteen colours, distinct at a glance, each with white initials at
  // 4.5:1 or better; given out in list order, lowest free first, so no two
  // friends on the page share one until there are more than sixteen.
  var PALETTE = ["#c62828", "#1565c0", "#2e7d32", "#7b1fa2", "#b45309", "#00796b", "#ad1457", "#3949ab",
    "#5f6f00", "#00838f", "#6d4c41", "#455a64", "#8e24aa", "#0d47a1", "#33691e", "#880e4f"];
  var colourOf = {}; // friend id -> palette index

  function assignColours(ids) {
    var keep = {};
    ids.forEach(function (id) { keep[id] = true; });
    Object.keys(colourOf).forEach(function (id) { if (!keep[id]) delete colourOf[id]; });
    var used = {};
    Object.keys(colourOf).forEach(function (id) { used[colourOf[id]] = (used[colourOf[id]] || 0) + 1; });
    ids.forEach(function (id) {
      if (colourOf[id] !== undefined) return;
      var best = 0;
      for (var i = 0; i < PALETTE.length; i++) if ((used[i] || 0) < (used[best] || 0)) best = i;
      colourOf[id] = best;
      used[best] = (used[best] || 0) + 1;
    });
  }
  function colour(id) { return PALETTE[colourOf[id] || 0]; }

  // ----------------------------------------------------------------- map
  var map = null, cluster = null, clustering = false, markers = {}, circles = {}, info = {}, shapes = {}, fitted = false;
  var follow = "", filterText = "", followSelect = null;

  function initMap() {
    var box = document.getElementById("map");
    // A map with data-map belongs to its page's own script (history.js).
    if (!box || box.dataset.map || typeof L === "undefined" || map) return;
    map = L.map(box, { worldCopyJump: true, maxZoom: 19 }).setView([20, 0], 2);
    box.leafletMap = map; // for the replay's tracks (replay.js)
    var tiles = box.dataset.tiles;
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution: box.dataset.attribution || "" }).addTo(map);
    }
    // Friends at the same spot would hide each other: they cluster into
    // a disc with their number, and spread out at the closest zoom.
    cluster = L.markerClusterGroup
      ? L.markerClusterGroup({ maxClusterRadius: 40, showCoverageOnHover: false, spiderfyOnMaxZoom: true, chunkedLoading: true, iconCreateFunction: clusterIcon })
      : L.featureGroup();
    clustering = !!L.markerClusterGroup;
    cluster.addTo(map);
    if (document.querySelector(".dashboard")) addMapControls();
    map.on("dragstart", function () { setFollow(""); });
    map.on("zoomend", keepFollowed);
    sync();
  }

  // A cluster is a disc with the number of friends in it, ringed with
  // their colours.
  function clusterIcon(c) {
    var kids = c.getAllChildMarkers(), n = kids.length, stops = [];
    kids.slice(0, 12).forEach(function (mk, i, shown) {
      var a = (i / shown.length * 100).toFixed(1), b = ((i + 1) / shown.length * 100).toFixed(1);
      stops.push(colour(mk.options.friend) + " " + a + "% " + b + "%");
    });
    var div = el("div", "cluster");
    div.style.setProperty("--ring", "conic-gradient(" + stops.join(", ") + ")");
    var count = el("span", "", String(n));
    count.setAttribute("aria-hidden", "true");
    div.appendChild(count);
    // The marker's name, read out (an aria-label would not match the
    // visible number): who is in the cluster.
    div.appendChild(el("span", "vh", n + " friends here: " + kids.slice(0, 5).map(function (mk) { return mk.options.title; }).join(", ") + (n > 5 ? ", …" : "")));
    return L.divIcon({ html: div, className: "cluster-icon", iconSize: [40, 40] });
  }

  function markerIcon(id, m) {
    var div = el("div", "marker" + (m.stale || m.offline ? " old" : ""));
    div.style.setProperty("--c", colour(id));
    div.dataset.testid = "marker";
    div.dataset.for = id;
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
    // The name as the marker's content, read out: the initials alone say
    // little, and an aria-label would not match the visible initials.
    div.appendChild(el("span", "vh", describe(m) || id));
    return L.divIcon({ html: div, className: "marker-icon", iconSize: [34, 34], iconAnchor: [17, 17], popupAnchor: [0, -16] });
  }

  function describe(m) {
    var s = m.label || m.name || "";
    var pl = placesOf(m);
    if (pl.length) s += ", at " + pl.join(", ");
    return s;
  }

  // popupFor builds the popup from the friend's row as it is now.
  function popupFor(id) {
    var m = info[id] || {};
    var box = el("div", "popup");
    box.dataset.testid = "popup";
    box.appendChild(el("strong", "popup-name", m.name || id));
    if (m.user || m.device) box.appendChild(el("span", "popup-device", (m.user || "") + (m.device ? "/" + m.device : "")));
    var row = rowOf(id), tst = row ? rowTst(row) : secondsOf(m.tst);
    if (tst === null) tst = secondsOf(m.time);
    if (tst !== null) {
      var when = el("p", "popup-when");
      when.appendChild(timeEl(tst * 1000, "when"));
      when.appendChild(document.createTextNode(" · "));
      when.appendChild(timeEl(tst * 1000, "ago"));
      box.appendChild(when);
    }
    var pl = placesOf(m);
    if (pl.length) box.appendChild(el("p", "popup-places", "at " + pl.join(", ")));
    var facts = [], batt = typeof m.batt === "number" ? m.batt : m.battery;
    if (m.offline) facts.push(["offline", "off"]);
    else if (m.stale) facts.push(["not heard from lately", "off"]);
    if (typeof batt === "number" && batt > 0) facts.push(["battery " + batt + "%" + (batt < 15 ? " (low)" : ""), batt < 15 ? "low" : ""]);
    if (typeof m.acc === "number" && m.acc > 0) facts.push(["± " + Math.round(m.acc) + " m", ""]);
    if (typeof m.vel === "number" && m.vel >= 0) facts.push([m.vel + " km/h", ""]);
    if (facts.length) {
      var p = el("p", "popup-facts");
      facts.forEach(function (f) { p.appendChild(el("span", f[1], f[0])); });
      box.appendChild(p);
    }
    var actions = el("p", "popup-actions");
    if (m.history) {
      var a = el("a", "", "History");
      a.href = m.history;
      a.dataset.testid = "popup-history";
      actions.appendChild(a);
    }
    var locate = row && row.querySelector('[data-testid="locate"]');
    if (locate && m.locate !== false) {
      var lb = el("button", "small", "Locate now");
      lb.type = "button";
      lb.addEventListener("click", function () {
        var b = rowOf(id) && rowOf(id).querySelector('[data-testid="locate"]');
        if (b) b.click();
      });
      actions.appendChild(lb);
    }
    var fb = el("button", "small", follow === id ? "Stop following" : "Follow");
    fb.type = "button";
    fb.addEventListener("click", function () { setFollow(follow === id ? "" : id); map.closePopup(); });
    actions.appendChild(fb);
    box.appendChild(actions);
    return box;
  }

  function matches(id, m, row) {
    if (!filterText) return true;
    var name = row && row.querySelector(".name");
    var hay = [id, m && m.name, m && m.tid, m && m.user, m && m.device, name && name.textContent].concat(placesOf(m)).join(" ");
    return fold(hay).indexOf(filterText) >= 0;
  }
  function fold(s) {
    return String(s || "").toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "");
  }

  // entries lists every friend the page knows: rows of the list (and the
  // hidden marker-only elements of a paged list) from the DOM, then the
  // rest of everyone from data-markers-src; the DOM is newer and wins.
  function entries() {
    var out = [], at = {};
    document.querySelectorAll("[data-friend]").forEach(function (e) {
      var id = e.dataset.friend, isRow = e.matches('[data-testid="friend"]');
      if (at[id] !== undefined) {
        if (isRow) out[at[id]].row = e;
        return;
      }
      at[id] = out.length;
      out.push({ id: id, el: e, row: isRow ? e : null });
    });
    Object.keys(extra).forEach(function (id) {
      if (at[id] === undefined) out.push({ id: id, el: null, row: null, m: extra[id] });
    });
    return out;
  }

  function syncFriends() {
    var list = entries();
    assignColours(list.map(function (e) { return e.id; }));
    var seen = {}, shown = 0, rowsN = 0, add = [], drop = [], moved = false;
    list.forEach(function (e) {
      var id = e.id, m = e.el ? markerOf(e.el) : e.m;
      if (e.el) e.el.style.setProperty("--c", colour(id));
      var visible = matches(id, m, e.row);
      if (e.row) {
        rowsN++;
        if (e.row.hidden !== !visible) e.row.hidden = !visible;
        if (visible) shown++;
      }
      if (!m || !map) return;
      seen[id] = true;
      info[id] = m;
      var ll = [m.lat, m.lon];
      var key = JSON.stringify([m.initials, m.tid, m.face, !!m.stale, !!m.offline, describe(m), colour(id)]);
      var mk = markers[id];
      if (!mk) {
        mk = markers[id] = L.marker(ll, { icon: markerIcon(id, m), title: nameOf(m, id), keyboard: true, friend: id });
        mk.key = key;
        mk.bindPopup(function () { return popupFor(id); }, { autoPanPadding: [24, 24] });
      } else {
        if (!mk.getLatLng().equals(ll)) { mk.setLatLng(ll); moved = true; } // the cluster follows its markers' moves
        if (mk.key !== key) { mk.setIcon(markerIcon(id, m)); mk.key = key; }
        mk.options.title = nameOf(m, id);
        if (mk.isPopupOpen()) mk.setPopupContent(popupFor(id));
      }
      // Accuracy circles for the listed friends only: thousands of
      // circles would make the map crawl.
      var c = circles[id];
      if (e.row && visible && m.acc > 0) {
        if (!c) c = circles[id] = L.circle(ll, { radius: m.acc, weight: 1, color: colour(id), fillOpacity: 0.08, interactive: false }).addTo(map);
        else c.setLatLng(ll).setRadius(m.acc).setStyle({ color: colour(id) });
      } else if (c) {
        map.removeLayer(c);
        delete circles[id];
      }
      if (visible && !cluster.hasLayer(mk)) add.push(mk);
      if (!visible && cluster.hasLayer(mk)) drop.push(mk);
    });
    if (map) {
      Object.keys(markers).forEach(function (id) {
        if (seen[id]) return;
        drop.push(markers[id]);
        if (circles[id]) map.removeLayer(circles[id]);
        delete markers[id]; delete circles[id]; delete info[id];
      });
      if (drop.length) clustering ? cluster.removeLayers(drop) : drop.forEach(function (mk) { cluster.removeLayer(mk); });
      if (add.length) clustering ? cluster.addLayers(add) : add.forEach(function (mk) { cluster.addLayer(mk); });
    }
    filterCount(shown, rowsN);
    fillFollow(list);
    keepFollowed();
    if (map && clustering && (moved || add.length)) settleClusters();
  }

  // The cluster works out which markers to show when the map stops
  // moving, but not while it animates a zoom: a marker that moved (or the
  // map that followed it) then would stay hidden until the next pan. Once
  // things are still, it is asked again.
  var settleTimer = 0;
  function settleClusters() {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(function () { map.fire("moveend"); }, 400);
  }

  function nameOf(m, id) { return (m && (m.label || m.name)) || id; }

  // Everyone's markers for a paged list, fetched at start and after a
  // reconnect (the live stream then carries their changes).
  var extra = {};
  function loadMarkers() {
    var box = document.getElementById("map"), src = box && box.dataset.markersSrc;
    if (!src) return;
    fetch(src, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : [];
    }).then(function (all) {
      extra = {};
      (all || []).forEach(function (m) { if (m && m.id) extra[m.id] = m; });
      sync();
    }).catch(function () { /* the list still shows its friends */ });
  }

  function syncAreas() {
    var seen = {};
    document.querySelectorAll("[data-shape]").forEach(function (box) {
      if (!box.dataset.shape) return;
      var a;
      try { a = JSON.parse(box.dataset.shape); } catch (e) { return; }
      seen[a.id] = true;
      var key = box.dataset.shape;
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

  function shownBounds() {
    var pts = [];
    Object.keys(markers).forEach(function (id) { if (cluster.hasLayer(markers[id])) pts.push(markers[id].getLatLng()); });
    return pts;
  }

  function fitAll() {
    var pts = shownBounds();
    if (pts.length === 1) map.setView(pts[0], Math.max(map.getZoom(), 15));
    else if (pts.length > 1) map.fitBounds(L.latLngBounds(pts).pad(0.2));
  }

  function fit() {
    if (fitted) return;
    var pts = shownBounds();
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

  // Map controls: fit everyone shown, and follow one friend (the map
  // keeps them centred on live updates until the map is dragged).
  function addMapControls() {
    var Tools = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        var box = el("div", "leaflet-bar map-tools");
        var fitB = el("button", "", "Fit all");
        fitB.type = "button";
        fitB.dataset.testid = "fit-all";
        fitB.addEventListener("click", function () { setFollow(""); fitAll(); });
        var lab = el("label", "sr-only", "Follow a friend");
        lab.htmlFor = "follow";
        followSelect = el("select");
        followSelect.id = "follow";
        followSelect.dataset.testid = "follow";
        followSelect.addEventListener("change", function () { setFollow(followSelect.value); });
        box.appendChild(fitB);
        box.appendChild(lab);
        box.appendChild(followSelect);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      }
    });
    new Tools().addTo(map);
  }

  function fillFollow(list) {
    if (!followSelect) return;
    var want = [["", "Follow…"]];
    list.forEach(function (e) {
      if (e.row && markers[e.id]) want.push([e.id, nameOf(info[e.id], e.id)]);
    });
    var key = JSON.stringify(want);
    if (followSelect.key !== key) {
      followSelect.textContent = "";
      want.forEach(function (w) { var o = el("option", "", w[1]); o.value = w[0]; followSelect.appendChild(o); });
      followSelect.key = key;
    }
    if (follow && !markers[follow]) follow = "";
    followSelect.value = follow;
    followSelect.classList.toggle("on", !!follow);
  }

  function setFollow(id) {
    follow = id || "";
    if (followSelect) { followSelect.value = follow; followSelect.classList.toggle("on", !!follow); }
    document.body.classList.toggle("following", !!follow);
    if (follow && markers[follow]) map.setView(markers[follow].getLatLng(), Math.max(map.getZoom(), 15), { animate: false });
  }

  // keepFollowed centres the followed friend. It runs after every update
  // and after every zoom: the end of an animated zoom puts the map back
  // where the zoom was aimed, undoing a pan made meanwhile.
  function keepFollowed() {
    if (follow && markers[follow] && map) map.panTo(markers[follow].getLatLng(), { animate: false });
  }

  // showOnMap opens a friend's popup, zooming out of a cluster if needed.
  function showOnMap(id) {
    var mk = markers[id];
    if (!mk || !map) return;
    var open = function () { mk.openPopup(); };
    if (cluster.zoomToShowLayer && cluster.hasLayer(mk)) cluster.zoomToShowLayer(mk, open);
    else { map.setView(mk.getLatLng(), Math.max(map.getZoom(), 15)); open(); }
  }

  // --------------------------------------------------------------- filter
  var filterStatus = null;
  function addFilter() {
    var list = document.querySelector(".dashboard #friends");
    // A paged list has the server's own search form instead.
    if (!list || document.querySelector(".friend-filter")) return;
    var box = el("div", "friend-filter");
    box.dataset.testid = "friend-filter";
    var lab = el("label", "sr-only", "Filter friends");
    lab.htmlFor = "friend-filter";
    var input = el("input");
    input.type = "search";
    input.id = "friend-filter";
    input.placeholder = "Filter by name, device or place";
    input.autocomplete = "off";
    filterStatus = el("span", "filter-count");
    filterStatus.setAttribute("role", "status");
    input.addEventListener("input", function () {
      filterText = fold(input.value.trim());
      syncFriends();
    });
    box.appendChild(lab);
    box.appendChild(input);
    box.appendChild(filterStatus);
    list.parentNode.insertBefore(box, list);
  }
  function filterCount(shown, all) {
    if (!filterStatus) return;
    var text = filterText ? shown + " of " + all + " shown" : "";
    if (filterStatus.textContent !== text) filterStatus.textContent = text;
  }

  // --------------------------------------------------------- locate now
  // The server answers a press with the status "request sent" (with
  // data-requested, unix ms); the phone's answer is a newer fix in the
  // friend's row. The row is swapped whole on every update, status and
  // all, so the state lives here, keyed by friend, and is drawn again into
  // whatever status element the row has now.
  var pressed = {}; // friend id -> {at, tst0}: presses not yet confirmed
  var locates = {}; // friend id -> {at, tst0, answered: {tst, took}, late}

  function locateTimeout() {
    var e = document.querySelector("[data-locate-timeout]");
    var v = e ? parseInt(e.dataset.locateTimeout, 10) : NaN;
    return v > 0 ? v : 60000;
  }

  function statusOf(row) {
    return row && row.querySelector('[data-testid="locate-status"], .locate-status');
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest('[data-testid="locate"]');
    if (!b) return;
    var row = b.closest("[data-friend]");
    if (row) pressed[row.dataset.friend] = { at: Date.now(), tst0: rowTst(row) };
  }, true);

  function syncLocates() {
    document.querySelectorAll('[data-testid="locate-status"], .locate-status').forEach(function (st) {
      var row = st.closest("[data-friend]");
      if (!row || st.dataset.drawn === "1") return;
      var id = row.dataset.friend, text = st.textContent.trim();
      var req = parseInt(st.dataset.requested, 10), answered = parseInt(st.dataset.answered, 10);
      if (isNaN(req) && text !== "" && text.indexOf("request sent") !== 0 && !(locates[id] && !isNaN(answered))) {
        // The server said something else ("only admins may …"): its word stands.
        delete locates[id];
        delete pressed[id];
        return;
      }
      var s = locates[id];
      if (!isNaN(req) ? (!s || s.req !== req) : (text.indexOf("request sent") === 0 && pressed[id])) {
        var p = pressed[id] || { at: Date.now(), tst0: rowTst(row) };
        delete pressed[id];
        s = locates[id] = { req: isNaN(req) ? p.at : req, at: p.at, tst0: p.tst0, answered: null, late: false };
        setTimeout(function () {
          if (locates[id] === s && !s.answered) { s.late = true; drawLocate(id); }
        }, locateTimeout());
      }
      // The server saw the phone's answer (t: "r"): its times stand.
      if (s && !isNaN(answered) && !s.answered) s.answered = { at: answered, took: answered - s.req };
    });
    Object.keys(locates).forEach(function (id) {
      var s = locates[id];
      if (!s.answered) {
        // Any fix newer than the one shown at the press answers it too.
        var tst = rowTst(rowOf(id));
        if (tst !== null && (s.tst0 === null || tst > s.tst0)) s.answered = { at: Date.now(), took: Date.now() - s.at };
      }
      drawLocate(id);
    });
  }

  // waited is views.Note.Waited: "2 s", "3 min".
  function waited(ms) {
    var sec = Math.max(0, Math.round(ms / 1000));
    return sec < 60 ? sec + " s" : Math.floor(sec / 60) + " min";
  }

  function drawLocate(id) {
    var s = locates[id], st = statusOf(rowOf(id));
    if (!s || !st) return;
    var parts, state;
    if (s.answered) {
      parts = ["answered ", timeEl(s.answered.at, "clock"), " (" + waited(s.answered.took) + ")"];
      state = "answered";
    } else if (s.late) {
      parts = ["no answer yet; the phone may be asleep"];
      state = "late";
    } else {
      parts = ["request sent ", timeEl(s.at, "clock"), "; waiting for the phone…"];
      state = "sent";
    }
    var text = parts.map(function (p) { return typeof p === "string" ? p : p.textContent; }).join("");
    st.dataset.drawn = "1";
    st.dataset.state = state;
    if (st.textContent === text) return;
    st.textContent = "";
    parts.forEach(function (p) { st.appendChild(typeof p === "string" ? document.createTextNode(p) : p); });
  }

  // ---------------------------------------------------------- live state
  function status(text, live) {
    var s = document.getElementById("live-status");
    if (!s) return;
    s.textContent = text;
    s.classList.toggle("live", !!live);
  }

  // A lost connection is said plainly, and what the page shows is dimmed
  // until the server's fresh state (sent on every connect) has arrived.
  var lostAt = 0, catchingUp = false, leaving = false;
  window.addEventListener("pagehide", function () { leaving = true; });
  window.addEventListener("beforeunload", function () { leaving = true; });

  function connectionLost() {
    if (leaving) return;
    catchingUp = false;
    if (lostAt) return;
    lostAt = Date.now();
    document.body.classList.add("disconnected");
    var banner = el("div", "live-banner");
    banner.id = "live-banner";
    banner.dataset.testid = "live-banner";
    banner.setAttribute("role", "alert");
    banner.appendChild(el("strong", "", "Connection to the server lost"));
    banner.appendChild(document.createTextNode(" "));
    banner.appendChild(timeEl(lostAt, "ago"));
    banner.appendChild(document.createTextNode(". Trying again; what you see may be out of date."));
    var main = document.getElementById("main") || document.body;
    main.insertBefore(banner, main.firstChild);
  }

  function connectionBack() {
    if (!lostAt) return;
    if (!catchingUp) return;
    lostAt = 0;
    catchingUp = false;
    document.body.classList.remove("disconnected");
    var b = document.getElementById("live-banner");
    if (b) b.remove();
    loadMarkers();
  }

  document.addEventListener("htmx:wsOpen", function () {
    status("live", true);
    if (lostAt) catchingUp = true; // the banner goes with the first message: the full state
  });
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
    if (code === 4401) { toLogin(); return; }
    if (code === 4403) { location.reload(); return; }
    connectionLost();
    if (code === 1006) checkLogin();
  });
  document.addEventListener("htmx:sseError", function () { connectionLost(); checkLogin(); });
  document.addEventListener("htmx:sseOpen", function () { if (lostAt) catchingUp = true; });
  document.addEventListener("htmx:wsAfterMessage", function () { sync(); connectionBack(); });
  document.addEventListener("htmx:sseMessage", function () { sync(); connectionBack(); });
  document.addEventListener("htmx:afterSettle", sync);
  document.addEventListener("tracker:sync", function () { sync(); }); // rows changed by a page script (replay.js)

  // A panel that scrolls on its own must be reachable by keyboard to be
  // scrolled: it takes the focus while its content overflows.
  function scrollersFocusable() {
    document.querySelectorAll(".dashboard > .panel").forEach(function (p) {
      var scrolls = p.scrollHeight > p.clientHeight + 1 && getComputedStyle(p).overflowY !== "visible";
      if (scrolls && !p.hasAttribute("tabindex")) p.setAttribute("tabindex", "0");
      if (!scrolls && p.getAttribute("tabindex") === "0") p.removeAttribute("tabindex");
    });
  }

  // ------------------------------------------------------------ wiring
  // markStale gives a row the server rendered fresh the look of a stale
  // one (class, "last seen", grey marker) once its last report is older
  // than the list's data-stale-after; the next swap of the row brings the
  // server's own verdict. It says whether any row changed.
  function markStale() {
    var list = document.getElementById("friends");
    var after = list && Number(list.dataset.staleAfter);
    if (!after) return false;
    var changed = false, now = pageNow().getTime();
    list.querySelectorAll("li[data-testid=friend]:not(.stale)").forEach(function (row) {
      var t = row.querySelector(".seen time[datetime]");
      if (!t || now - Date.parse(t.getAttribute("datetime")) <= after * 1000) return;
      row.classList.add("stale");
      t.parentNode.insertBefore(document.createTextNode("last seen "), t);
      var m = markerOf(row);
      if (m) { m.stale = true; row.dataset.marker = JSON.stringify(m); }
      changed = true;
    });
    return changed;
  }

  function sync() {
    syncFriends();
    syncLocates();
    scrollersFocusable();
    if (!map) return;
    syncAreas();
    fit();
  }

  // A friend's name in the list shows them on the map.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-focus]");
    if (!b || !map) return;
    showOnMap(b.dataset.focus);
    document.getElementById("map").scrollIntoView({ behavior: "smooth", block: "nearest" });
  });

  function start() {
    if (start.done) return;
    start.done = true;
    // A page without a live stream has no connection state to tell.
    var live = document.getElementById("live-status");
    if (live && !document.querySelector("[ws-connect], [sse-connect]")) live.hidden = true;
    rememberZone();
    renderTimes(document);
    // Anything swapped in later (live rows, pages of a list) is rendered
    // as it arrives; our own text changes add no elements, so no loop.
    new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) { if (n.nodeType === 1) renderTimes(n); });
      });
    }).observe(document.body, { childList: true, subtree: true });
    // One timer keeps every "ago" (and "today") current, and greys a
    // friend who went quiet while the page was open.
    setInterval(function () { renderTimes(document); if (markStale()) sync(); }, 15000);
    addFilter();
    window.addEventListener("resize", scrollersFocusable);
    initMap();
    sync();
    loadMarkers();
  }
  document.addEventListener("DOMContentLoaded", start);
  if (document.readyState !== "loading") start();
})();
