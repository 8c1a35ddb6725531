// The operations page (/admin): runs a rebuild and an upload through the
// API and follows their progress (GET /api/v1/admin/progress, polled
// while one runs). Both go on on the server when the page is left; the
// page shows them again when it is opened.
(function () {
  "use strict";

  var rebuild = document.getElementById("rebuild");
  var imp = document.getElementById("import");
  if (!rebuild || !imp) return;

  var rebuildBtn = document.getElementById("rebuild-start");
  var rebuildBar = document.getElementById("rebuild-bar");
  var rebuildStatus = document.getElementById("rebuild-status");
  var form = document.getElementById("upload-form");
  var fileInput = document.getElementById("upload-file");
  var uploadBtn = document.getElementById("upload-start");
  var uploadBar = document.getElementById("upload-bar");
  var uploadStatus = document.getElementById("upload-status");
  var summary = document.getElementById("upload-summary");

  var polling = null;

  function fmtNum(n) { return Number(n || 0).toLocaleString(); }
  function fmtMB(n) { return (Number(n || 0) / 1048576).toFixed(1) + " MB"; }
  function took(ns) {
    var s = (ns || 0) / 1e9;
    return s < 1 ? Math.round(s * 1000) + " ms" : s.toFixed(1) + " s";
  }

  function setBar(bar, done, total) {
    bar.max = Math.max(total || 0, 1);
    bar.value = Math.min(done || 0, bar.max);
  }

  function showRebuild(j) {
    if (j.running) {
      rebuild.dataset.state = "running";
      rebuildBtn.disabled = true;
      setBar(rebuildBar, j.done, j.total);
      rebuildStatus.textContent = "Rebuilding: " + fmtNum(j.done) + " of " + fmtNum(j.total) + " events.";
      return;
    }
    rebuildBtn.disabled = false;
    if (j.error) {
      rebuild.dataset.state = "failed";
      rebuildStatus.textContent = j.error;
    } else if (j.result) {
      rebuild.dataset.state = "done";
      setBar(rebuildBar, 1, 1);
      rebuildStatus.textContent = "Rebuilt " + fmtNum(j.result.events) + " events (" + fmtNum(j.result.invalid) +
        " invalid) in " + took(j.result.took_ns) + ".";
    }
  }

  function showImport(j) {
    if (!j.running) return;
    imp.dataset.state = "running";
    uploadBtn.disabled = true;
    setBar(uploadBar, j.done, j.total);
    uploadStatus.textContent = "Importing " + (j.what || "") + ": " + fmtNum(j.records) + " records, " +
      Math.floor(100 * (j.done || 0) / Math.max(j.total || 1, 1)) + " %.";
  }

  function poll() {
    if (polling) return;
    var tick = function () {
      fetch("/api/v1/admin/progress", { headers: { "X-Requested-With": "fetch", "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error(r.status + " " + r.statusText)); })
        .then(function (p) {
          showRebuild(p.rebuild);
          showImport(p["import"]);
          if (p.rebuild.running || p["import"].running) {
            polling = setTimeout(tick, 400);
          } else {
            polling = null;
            if (imp.dataset.state === "running" && !uploading && p["import"].result) {
              showSummary(p["import"].result, 200);
            }
          }
        })
        .catch(function () { polling = setTimeout(tick, 2000); });
    };
    polling = setTimeout(tick, 0);
  }

  rebuildBtn.addEventListener("click", function () {
    rebuildBtn.disabled = true;
    rebuild.dataset.state = "running";
    rebuildStatus.textContent = "Starting the rebuild…";
    setBar(rebuildBar, 0, 1);
    fetch("/api/v1/admin/rebuild", { method: "POST", headers: { "X-Requested-With": "fetch", "Accept": "application/json" } })
      .then(function (r) {
        return r.text().then(function (body) {
          var data = null;
          try { data = JSON.parse(body); } catch (e) { /* a plain-text error */ }
          if (r.status === 409) { poll(); return; } // one runs already: follow it
          if (!r.ok) {
            rebuild.dataset.state = "failed";
            rebuildStatus.textContent = (data && data.error) || body || (r.status + " " + r.statusText);
            rebuildBtn.disabled = false;
            return;
          }
          if (polling) { clearTimeout(polling); polling = null; }
          showRebuild({ running: false, result: data });
        });
      })
      .catch(function () { poll(); }); // the connection went; the rebuild goes on
    poll();
  });

  var uploading = false;

  function showSummary(s, status) {
    uploading = false;
    uploadBtn.disabled = false;
    var ok = status >= 200 && status < 300 && !s.error;
    imp.dataset.state = ok ? "done" : "failed";
    if (ok) setBar(uploadBar, 1, 1);
    uploadStatus.textContent = ok ? "Imported " + (s.what || "") + "." : "Import stopped: " + (s.error || status);
    summary.textContent = s.text || s.error || "";
    summary.hidden = !summary.textContent;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var file = fileInput.files && fileInput.files[0];
    if (!file) return;
    var q = new URLSearchParams({ name: file.name });
    ["user", "device"].forEach(function (k) {
      var v = form.elements[k].value.trim();
      if (v) q.set(k, v);
    });
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/admin/upload?" + q.toString());
    xhr.setRequestHeader("X-Requested-With", "fetch");
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.responseType = "text";
    uploading = true;
    uploadBtn.disabled = true;
    imp.dataset.state = "uploading";
    summary.hidden = true;
    setBar(uploadBar, 0, file.size);
    uploadStatus.textContent = "Uploading " + file.name + "…";
    xhr.upload.onprogress = function (e) {
      setBar(uploadBar, e.loaded, e.total || file.size);
      uploadStatus.textContent = "Uploading " + file.name + ": " + fmtMB(e.loaded) + " of " + fmtMB(e.total || file.size) + ".";
    };
    xhr.upload.onload = function () {
      imp.dataset.state = "running";
      uploadStatus.textContent = "Importing " + file.name + "…";
      poll();
    };
    xhr.onload = function () {
      var s;
      try { s = JSON.parse(xhr.responseText); } catch (e) { s = { error: xhr.responseText || xhr.statusText }; }
      showSummary(s, xhr.status);
    };
    xhr.onerror = function () {
      showSummary({ error: "the connection was lost; the import may go on on the server: reload to see" }, 0);
    };
    xhr.send(file);
  });

  if (rebuild.dataset.state === "running" || imp.dataset.state === "running") poll();
})();
