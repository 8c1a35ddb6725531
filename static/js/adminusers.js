// Users and sharing page (/admin/users). The page works without this
// script; it only spares a click or a surprise:
// - after a form's answer the address goes back to /admin/users, so a
//   reload shows the page instead of sending the form again (the server
//   would apply it once anyway: each rendering's forms carry an identity);
// - in the sharing matrix, "Everybody" greys out the row's single ticks,
//   which count only without it.
(function () {
  "use strict";

  if (location.pathname !== "/admin/users" && document.querySelector('[data-testid="admin-users"]')) {
    history.replaceState(null, "", "/admin/users");
  }

  function sync(everyone) {
    var row = everyone.closest("tr");
    if (!row) return;
    row.querySelectorAll('input[data-testid="sees"]').forEach(function (box) {
      box.disabled = everyone.checked;
    });
  }
  document.querySelectorAll("input.sees-everyone").forEach(function (everyone) {
    sync(everyone);
    everyone.addEventListener("change", function () { sync(everyone); });
  });
})();
