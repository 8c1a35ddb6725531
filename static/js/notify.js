// Notifications in the open browser. The live stream carries the
// viewer's own notifications as hidden .notify-note elements appended to
// the body (views.LiveNotices); this script shows each once with the
// browser's Notification API when the viewer allowed it, else as a short
// note on the page, and removes the element. On /me/notifications it
// offers the permission (asked only on a click: browsers refuse it
// otherwise) and shows the fields each kind of rule needs.
(function () {
  "use strict";

  var shown = {}; // notification ids shown by this page
  // The page's own log of what it showed, for people and tests.
  var log = (window.trackerNotify = { shown: [] });

  function supported() { return typeof window.Notification === "function"; }

  function toast(title, body) {
    var box = document.getElementById("notify-toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "notify-toasts";
      box.className = "notify-toasts";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var t = document.createElement("div");
    t.className = "notify-toast";
    t.setAttribute("data-testid", "notify-toast");
    var strong = document.createElement("strong");
    strong.textContent = title;
    t.appendChild(strong);
    t.appendChild(document.createTextNode(" " + body));
    box.appendChild(t);
    setTimeout(function () { t.remove(); }, 15000);
  }

  function show(el) {
    var id = el.getAttribute("data-id") || "";
    el.remove();
    if (!id || shown[id]) return;
    shown[id] = true;
    var title = el.getAttribute("data-title") || "tracker";
    var body = el.getAttribute("data-body") || "";
    var how = "page";
    if (supported() && Notification.permission === "granted") {
      try {
        // The tag makes a browser with several of our pages open show
        // the same notification once.
        new Notification(title, { body: body, tag: id });
        how = "browser";
      } catch (e) {
        how = "page"; // e.g. Chrome on Android wants a service worker
      }
    }
    if (how === "page") toast(title, body);
    log.shown.push({ id: id, title: title, body: body, how: how });
  }

  function scan(root) {
    var els = root.querySelectorAll ? root.querySelectorAll(".notify-note") : [];
    for (var i = 0; i < els.length; i++) show(els[i]);
    if (root.classList && root.classList.contains("notify-note")) show(root);
  }

  function permissionUI() {
    var btn = document.getElementById("notify-permission");
    var state = document.getElementById("notify-permission-state");
    if (!btn || !state) return;
    function update() {
      if (!supported()) {
        btn.hidden = true;
        state.textContent = "This browser cannot show notifications; open pages show them as a note instead.";
        return;
      }
      var p = Notification.permission;
      btn.hidden = p !== "default";
      state.setAttribute("data-permission", p);
      state.textContent = p === "granted" ? "Notifications are allowed in this browser."
        : p === "denied" ? "Notifications are blocked in this browser's settings; open pages show them as a note instead."
        : "";
    }
    btn.addEventListener("click", function () {
      var r = Notification.requestPermission(update);
      if (r && r.then) r.then(update);
    });
    update();
  }

  function formUI() {
    var on = document.getElementById("notify-on");
    if (!on) return;
    function update() {
      var blocks = document.querySelectorAll(".notify-when");
      for (var i = 0; i < blocks.length; i++) {
        var kinds = (blocks[i].getAttribute("data-when") || "").split(" ");
        blocks[i].hidden = kinds.indexOf(on.value) < 0;
      }
    }
    on.addEventListener("change", update);
    update();
  }

  function start() {
    scan(document.body);
    new MutationObserver(function (muts) {
      for (var i = 0; i < muts.length; i++) {
        for (var j = 0; j < muts[i].addedNodes.length; j++) {
          var n = muts[i].addedNodes[j];
          if (n.nodeType === 1) scan(n);
        }
      }
    }).observe(document.body, { childList: true, subtree: true });
    permissionUI();
    formUI();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
