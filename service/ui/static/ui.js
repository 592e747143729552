// MedSafe dashboard: live refresh without inline script (CSP script-src 'self').
// An element #live with data-live="ms" is re-read from the same URL every ms milliseconds and
// swapped for the server's new rendering (escaped by the server; parsed, never evaluated),
// until the new page has no data-live (the eval finished) or the session ended.
(function () {
  "use strict";
  function schedule(element) {
    var every = parseInt(element.getAttribute("data-live"), 10);
    if (!(every >= 1000)) { return; }
    window.setTimeout(function () { refresh(); }, every);
  }
  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live": "1" } })
      .then(function (response) {
        if (!response.ok || response.redirected) { window.location.reload(); return null; }
        return response.text();
      })
      .then(function (text) {
        if (text === null) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("live");
        var current = document.getElementById("live");
        if (!fresh || !current) { window.location.reload(); return; }
        current.replaceWith(document.importNode(fresh, true));
        schedule(document.getElementById("live"));
      })
      .catch(function () { window.setTimeout(refresh, 10000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("live");
    if (live) { schedule(live); }
  });
})();
