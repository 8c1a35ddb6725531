// Areas page script for admins (the map box has data-map="areas", so
// app.js leaves the map to this file): draws every area's outline from
// the cards' data-shape, as app.js does for everybody else, and lets an
// admin draw a circle or a polygon with Leaflet-Geoman, move and resize
// it, rename and delete the server's own areas. Saving goes through the
// same API and events as `tracker area`; before Save the panel shows who
// was inside the shape over the last days (POST /api/v1/areas/preview).
// After a change the page reloads: the server renders the lists.
(function () {
  "use strict";

  var box = document.querySelector('#map[data-map="areas"]');
  var panel = document.getElementById("area-editor");
  if (!box || !panel || typeof L === "undefined") return;

  var form = panel.querySelector("#area-form");
  var idle = panel.querySelector(".editor-idle");
  var hint = panel.querySelector(".editor-drawing");
  var nameIn = form.querySelector("#area-name");
  var shapeText = form.querySelector(".shape-text");
  var radiusBox = form.querySelector(".radius-field"), radiusIn = form.querySelector("#area-radius");
  var previewBox = form.querySelector(".area-preview");
  var errorBox = form.querySelector(".form-error");
  var deleteBtn = form.querySelector('[data-act="delete"]');
  var confirmBox = form.querySelector(".confirm-delete");
  var days = panel.dataset.previewDays || "7";
  var heading = panel.querySelector("h2"), headingText = heading.textContent;

  var map = L.map(box, { worldCopyJump: true, maxZoom: 19 }).setView([20, 0], 2);
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution || "" }).addTo(map);
  }
  // For the browser tests and the console: the page's map.
  box.trackerMap = map;

  function textOf(s) { // Leaflet sets a tooltip's string as HTML
    var span = document.createElement("span");
    span.textContent = s;
    return span;
  }
  function key(name) { return name.trim().toLowerCase(); }

  // ------------------------------------------------------------ outlines
  var areas = {};   // the server's areas by key(name): {area, layer}
  var bounds = null;
  document.querySelectorAll("[data-shape]").forEach(function (el) {
    var a;
    try { a = JSON.parse(el.dataset.shape); } catch (e) { return; }
    var server = a.origin === "server";
    var layer = makeLayer(a, server);
    if (!layer) return;
    layer.bindTooltip(textOf(a.name));
    layer.addTo(map);
    var b = layer.getBounds();
    bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
    if (!server) return;
    areas[key(a.name)] = { area: a, layer: layer };
    // A click on an outline picks it, unless a new shape waits to be
    // saved or cancelled (a stray click must not throw it away).
    layer.on("click", function () { if (!drawing() && !(current && !current.area)) edit(key(a.name)); });
  });

  function makeLayer(a, server) {
    // Phones' regions are shown dashed and are not the server's to edit.
    var style = { weight: 2, dashArray: server ? null : "4 4", fillOpacity: 0.08, pmIgnore: !server };
    if (a.polygon && a.polygon.length >= 3) {
      return L.polygon(a.polygon.map(function (p) { return [p.lat, p.lon]; }), style);
    }
    if (a.center && a.radius > 0) {
      return L.circle([a.center.lat, a.center.lon], Object.assign({ radius: a.radius }, style));
    }
    return null;
  }

  // After a save the page reloads where the admin was looking.
  var VIEW = "tracker.areas.view";
  var saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(VIEW) || "null"); sessionStorage.removeItem(VIEW); } catch (e) { saved = null; }
  if (saved && typeof saved.lat === "number") map.setView([saved.lat, saved.lon], saved.zoom);
  else if (bounds) map.fitBounds(bounds.pad(0.2));

  // ------------------------------------------------------------- drawing
  if (!map.pm) {
    idle.querySelector(".note").textContent = "The drawing tools did not load; reload the page, or use tracker area on the command line.";
    return;
  }
  map.pm.setGlobalOptions({ allowSelfIntersection: false, continueDrawing: false, snappable: true });
  map.pm.addControls({
    position: "topleft",
    drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawRectangle: false, drawText: false,
    drawCircle: true, drawPolygon: true,
    editMode: false, dragMode: false, cutPolygon: false, removalMode: false, rotateMode: false
  });

  // Geoman titles the buttons' boxes, not the buttons: name the buttons.
  box.querySelectorAll(".leaflet-pm-toolbar .button-container[title]").forEach(function (c) {
    var a = c.querySelector(".leaflet-buttons-control-button");
    if (a) a.setAttribute("aria-label", c.getAttribute("title"));
  });

  function drawing() { return map.pm.globalDrawModeEnabled(); }

  panel.querySelectorAll("[data-draw]").forEach(function (b) {
    b.disabled = false;
    b.addEventListener("click", function () {
      if (current) cancel();
      map.pm.enableDraw(b.dataset.draw);
    });
  });
  document.querySelectorAll("[data-edit-area]").forEach(function (b) {
    if (!areas[key(b.dataset.editArea)]) return;
    b.hidden = false;
    b.addEventListener("click", function () {
      edit(key(b.dataset.editArea), true);
      box.scrollIntoView({ block: "nearest" });
    });
  });

  map.on("pm:drawstart", function (e) {
    hint.hidden = false;
    hint.textContent = e.shape === "Circle"
      ? "Click the centre, then click again at the edge. Esc cancels."
      : "Click each corner; click the first corner again to finish. Esc cancels.";
  });
  map.on("pm:drawend", function () { hint.hidden = true; });
  map.on("pm:create", function (e) {
    start(e.layer, null);
    nameIn.focus();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && drawing()) map.pm.disableDraw();
  });

  // ------------------------------------------------------------- editing
  // current: the layer being edited and the area it was (null: new).
  var current = null;

  // edit starts changing a server area; frame (from its card's button)
  // brings it into view, big enough to grab its handles.
  function edit(k, frame) {
    var it = areas[k];
    if (!it || (current && current.layer === it.layer)) return;
    if (current) cancel();
    start(it.layer, it.area);
    var b = it.layer.getBounds();
    if (frame || !map.getBounds().contains(b)) map.fitBounds(b.pad(0.5), { animate: false });
  }

  function start(layer, area) {
    current = { layer: layer, area: area };
    layer.pm.enable({ draggable: true, allowSelfIntersection: false, snappable: false });
    layer.on("pm:edit pm:dragend pm:markerdragend pm:vertexremoved", changed);
    layer.closeTooltip();
    heading.textContent = area ? "Change an area" : "New area";
    nameIn.value = area ? area.name : "";
    deleteBtn.hidden = !area;
    confirmBox.hidden = true;
    errorBox.textContent = "";
    idle.hidden = true;
    form.hidden = false;
    panel.classList.add("editing");
    box.dataset.editing = area ? area.name : "";
    changed();
  }

  function stop() {
    if (!current) return;
    current.layer.pm.disable();
    current.layer.off("pm:edit pm:dragend pm:markerdragend pm:vertexremoved", changed);
    current = null;
    form.hidden = true;
    idle.hidden = false;
    panel.classList.remove("editing");
    heading.textContent = headingText;
    delete box.dataset.editing;
    delete box.dataset.drawn;
    previewBox.textContent = "";
    abortPreview();
  }

  function cancel() {
    if (!current) return;
    var c = current;
    stop();
    if (!c.area) { map.removeLayer(c.layer); return; }
    // Put the outline back as it is saved.
    var a = c.area;
    if (a.polygon && a.polygon.length >= 3) c.layer.setLatLngs(a.polygon.map(function (p) { return [p.lat, p.lon]; }));
    else { c.layer.setLatLng([a.center.lat, a.center.lon]); c.layer.setRadius(a.radius); }
  }

  function round(x, d) { var f = Math.pow(10, d); return Math.round(x * f) / f; }
  function point(ll) { ll = ll.wrap(); return { lat: round(ll.lat, 6), lon: round(ll.lng, 6) }; }

  // shape is what the API takes: {center, radius} or {polygon}.
  function shape(layer) {
    if (layer instanceof L.Circle) return { center: point(layer.getLatLng()), radius: round(layer.getRadius(), 1) };
    var ring = layer.getLatLngs();
    while (ring.length && Array.isArray(ring[0])) ring = ring[0];
    return { polygon: ring.map(point) };
  }

  function describe(s) {
    if (s.polygon) return "Polygon, " + s.polygon.length + " corners.";
    var r = s.radius >= 1000 ? round(s.radius / 1000, 2) + " km" : Math.round(s.radius) + " m";
    return "Circle, radius " + r + ", centre " + s.center.lat.toFixed(5) + ", " + s.center.lon.toFixed(5) + ".";
  }

  function changed() {
    if (!current) return;
    var s = shape(current.layer);
    shapeText.textContent = describe(s);
    radiusBox.hidden = !s.center;
    if (s.center && document.activeElement !== radiusIn) radiusIn.value = Math.round(s.radius);
    box.dataset.drawn = JSON.stringify(s); // for the tests (not data-shape: that names the cards' outlines)
    schedulePreview(s);
  }

  // The radius typed in: for the keyboard, and for a size to the metre.
  radiusIn.addEventListener("input", function () {
    var r = Number(radiusIn.value);
    if (!current || !(current.layer instanceof L.Circle) || !(r >= 1 && r <= 100000)) return;
    current.layer.setRadius(r);
    // Geoman's handles follow on the next edit session; restart this one.
    current.layer.pm.disable();
    current.layer.pm.enable({ draggable: true, allowSelfIntersection: false, snappable: false });
    changed();
  });

  // ------------------------------------------------------------- preview
  var previewTimer = 0, previewCtl = null, previewSeq = 0;

  function abortPreview() {
    clearTimeout(previewTimer);
    if (previewCtl) previewCtl.abort();
    previewCtl = null;
  }

  function schedulePreview(s) {
    abortPreview();
    previewBox.dataset.state = "loading";
    previewBox.textContent = "Looking who was inside over the last " + days + " days…";
    previewTimer = setTimeout(function () { preview(s); }, 250);
  }

  function preview(s) {
    var n = ++previewSeq;
    previewCtl = typeof AbortController === "function" ? new AbortController() : null;
    send("POST", "/api/v1/areas/preview", s, previewCtl).then(function (res) {
      if (n !== previewSeq || !current) return;
      showPreview(res);
    }).catch(function (err) {
      if (n !== previewSeq || !current || (err && err.name === "AbortError")) return;
      previewBox.dataset.state = "error";
      previewBox.textContent = "No preview: " + err.message;
    });
  }

  function duration(sec, points) {
    if (sec < 60) return points === 1 ? "seen once" : "under a minute";
    var m = Math.round(sec / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
    if (d >= 1) return d + " d " + (h % 24) + " h";
    if (h >= 1) return h + " h " + (m % 60) + " min";
    return m + " min";
  }

  var WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  // timeEl is a <time> as views.Time renders it (FmtWhen); app.js keeps
  // it in the viewer's zone with the rest of the page.
  function timeEl(iso) {
    var t = new Date(iso), now = new Date(), el = document.createElement("time");
    el.setAttribute("datetime", iso);
    el.dataset.fmt = "when";
    var hm = pad(t.getHours()) + ":" + pad(t.getMinutes());
    el.textContent = t.toDateString() === now.toDateString() ? hm : WEEKDAYS[t.getDay()] + " " + t.getDate() + " " + MONTHS[t.getMonth()] + " " + hm;
    return el;
  }

  function showPreview(res) {
    previewBox.textContent = "";
    previewBox.dataset.state = "done";
    var h = document.createElement("h3");
    h.textContent = "Inside over the last " + days + " days";
    previewBox.appendChild(h);
    var friends = res.friends || [];
    if (friends.length === 0) {
      var p = document.createElement("p");
      p.className = "empty";
      p.textContent = "Nobody, of " + res.checked + " friends.";
      previewBox.appendChild(p);
      return;
    }
    var ul = document.createElement("ul");
    ul.className = "preview-list";
    friends.forEach(function (f) {
      var li = document.createElement("li");
      li.dataset.testid = "preview-friend";
      li.dataset.friend = f.device;
      var who = document.createElement("strong");
      who.textContent = f.name || f.device;
      li.appendChild(who);
      li.appendChild(document.createTextNode(" " + duration(f.seconds, f.points_inside)));
      var when = document.createElement("span");
      when.className = "when";
      when.appendChild(document.createTextNode(f.first === f.last ? " at " : " from "));
      when.appendChild(timeEl(f.first));
      if (f.first !== f.last) {
        when.appendChild(document.createTextNode(" to "));
        when.appendChild(timeEl(f.last));
      }
      li.appendChild(when);
      ul.appendChild(li);
    });
    previewBox.appendChild(ul);
  }

  // ---------------------------------------------------------------- save
  function send(method, url, body, ctl) {
    var opts = {
      method: method, credentials: "same-origin", cache: "no-store",
      headers: { "X-Requested-With": "fetch", "Accept": "application/json" }
    };
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    if (ctl) opts.signal = ctl.signal;
    return fetch(url, opts).then(function (r) {
      return r.text().then(function (t) {
        if (!r.ok) throw new Error((t || r.statusText).trim());
        return t ? JSON.parse(t) : null;
      });
    });
  }

  function done() {
    var c = map.getCenter();
    try { sessionStorage.setItem(VIEW, JSON.stringify({ lat: c.lat, lon: c.lng, zoom: map.getZoom() })); } catch (e) { /* the view is a nicety */ }
    location.reload();
  }

  function busy(on) {
    form.querySelectorAll("button").forEach(function (b) { b.disabled = on; });
  }

  function fail(err) {
    busy(false);
    errorBox.textContent = err.message;
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!current) return;
    var name = nameIn.value.trim(), s = shape(current.layer), was = current.area;
    errorBox.textContent = "";
    if (!name) { errorBox.textContent = "Give the area a name."; nameIn.focus(); return; }
    var other = areas[key(name)];
    if (other && (!was || key(was.name) !== key(name))) {
      errorBox.textContent = "There is already an area named “" + other.area.name + "”: pick another name, or change that one.";
      nameIn.focus();
      return;
    }
    busy(true);
    var req;
    if (was && key(was.name) !== key(name)) {
      // A new name: one rename event, with the shape as it is now.
      req = send("POST", "/api/v1/areas/" + encodeURIComponent(was.name) + "/rename", Object.assign({ to: name }, s));
    } else {
      req = send("POST", "/api/v1/areas", Object.assign({ name: name }, s));
    }
    req.then(done, fail);
  });

  form.addEventListener("click", function (e) {
    var act = e.target.closest("[data-act]");
    if (!act || !current) return;
    switch (act.dataset.act) {
      case "cancel":
        cancel();
        break;
      case "delete":
        confirmBox.hidden = false;
        confirmBox.querySelector(".confirm-name").textContent = current.area.name;
        confirmBox.querySelector('[data-act="confirm-delete"]').focus();
        break;
      case "keep":
        confirmBox.hidden = true;
        deleteBtn.focus();
        break;
      case "confirm-delete":
        busy(true);
        send("DELETE", "/api/v1/areas/" + encodeURIComponent(current.area.name)).then(done, fail);
        break;
    }
  });
})();
