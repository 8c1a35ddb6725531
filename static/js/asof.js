// Time travel on the dashboard: the slider picks a moment of the last
// week and shows the dashboard as of then (/?at=UNIX, a URL that can be
// shared); the date picker (a plain form) reaches any moment. A past
// dashboard has no live stream, so nothing live changes it; "Back to now"
// returns to the live one. No dependencies.
(function () {
  "use strict";

  var WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  // moment says a Unix time in the browser's zone: "Tue 1 Dec 14:05".
  function moment(s) {
    var t = new Date(s * 1000);
    return WEEKDAYS[t.getDay()] + " " + t.getDate() + " " + MONTHS[t.getMonth()] + " " + pad(t.getHours()) + ":" + pad(t.getMinutes());
  }
  window.trackerMoment = moment; // shared with replay.js

  function start() {
    var slider = document.getElementById("at-slider");
    var out = document.getElementById("at-slider-text");
    if (!slider) return;
    slider.hidden = false;
    var max = Number(slider.max);
    function say() {
      var v = Number(slider.value);
      out.textContent = max - v < 60 ? "now" : moment(v);
    }
    say();
    slider.addEventListener("input", say);
    // The moment is chosen when the slider is let go (or a key moved it).
    slider.addEventListener("change", function () {
      var v = Number(slider.value);
      location.assign(max - v < 60 ? "/" : "/?at=" + v);
    });
    var replay = document.querySelector('[data-testid="replay"]');
    if (replay) replay.hidden = false;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
