// The console's only script (no inline script under the CSP). Everything works without it;
// it adds the CSRF header to htmx requests, keeps a form from being posted twice by a
// double-click, moves the focus to an error summary and counts a text area's characters left.
(function () {
  "use strict";
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.body.getAttribute("data-csrf");
    if (token) { event.detail.headers["X-CSRF-Token"] = token; }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-submitted") === "1") { event.preventDefault(); return; }
    form.setAttribute("data-submitted", "1");
    // A form left by "back" must post again.
    window.setTimeout(function () { form.removeAttribute("data-submitted"); }, 5000);
  });
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("erreurs");
    if (summary) { summary.focus(); }
    // A text area's characters left (its maxlength and hint already say the limit without JS).
    Array.prototype.forEach.call(document.querySelectorAll("textarea[data-counter]"), function (area) {
      var counter = document.getElementById(area.getAttribute("data-counter"));
      var limit = parseInt(area.getAttribute("maxlength"), 10);
      if (!counter || !limit) { return; }
      var update = function () {
        var left = limit - area.value.length;
        counter.textContent = left + (left > 1 ? " caractères restants" : " caractère restant");
      };
      counter.hidden = false;
      update();
      area.addEventListener("input", update);
    });
  });
})();
