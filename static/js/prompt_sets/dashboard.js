// Live generation progress: while a job is queued or running, reload the dashboard's
// generation section every few seconds (the page works without this, on reload).
(function () {
  "use strict";
  var section = document.querySelector("[data-live-generation]");
  if (!section) return;
  var INTERVAL_MS = 3000;

  function active(root) {
    return root.querySelector('[data-job-status="queued"], [data-job-status="running"]') !== null;
  }

  function refresh() {
    fetch(window.location.pathname, { headers: { Accept: "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-generation]");
        if (fresh) {
          section.replaceChildren.apply(section, Array.prototype.slice.call(fresh.childNodes));
        }
        if (active(section)) window.setTimeout(refresh, INTERVAL_MS);
      })
      .catch(function () { window.setTimeout(refresh, INTERVAL_MS * 3); });
  }

  if (active(section)) window.setTimeout(refresh, INTERVAL_MS);
})();
