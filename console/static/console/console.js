// chipreg console: the only script. Loads slow sections (a facility's
// reconciliation) after the page is shown, from same-origin URLs only.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-fragment]").forEach(function (el) {
    var url = el.getAttribute("data-fragment");
    if (!url || url.charAt(0) !== "/") return;
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) {
        if (!r.ok) throw new Error(r.status);
        return r.text();
      })
      .then(function (html) {
        el.innerHTML = html;
        el.setAttribute("data-loaded", "1");
      })
      .catch(function (err) {
        el.setAttribute("data-loaded", "error");
        var p = el.querySelector("p");
        if (p) p.textContent = "Could not load this section (" + err.message + "). Open it on its own page.";
      });
  });
});
