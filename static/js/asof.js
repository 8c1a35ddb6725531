// Time travel on the dashboard: the slider picks a moment of the last
// week and shows the dashboard as of then (/?at=UNIX, a URL that can be
// shared); the date picker (a plain form) reaches any moment. A past
// dashboard has no live stream, so nothing live changes it; "Back to now"
// returns to the live one. Needs player.js (for the time words).
(function () {
  "use strict";

  // moment says a Unix time in the browser's zone: "Tue 1 Dec 14:05".
  var moment = window.TrackerPlayer.moment;

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
