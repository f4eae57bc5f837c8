// Live generation progress: poll the job API and update the bar without reloading.
// Hooks onto every [data-generation-job] element (templates/generation/_progress.html).
(function () {
  "use strict";
  var ACTIVE = { queued: true, running: true };
  var POLL_MS = 1500;

  function set(root, field, text) {
    var el = root.querySelector('[data-field="' + field + '"]');
    if (el) el.textContent = text;
    return el;
  }

  function render(root, job) {
    root.dataset.status = job.status;
    var status = set(root, "status", job.status);
    if (status) status.className = "gen-status gen-status-" + job.status;
    set(root, "done", job.done);
    set(root, "total", job.total);
    set(root, "failed", job.failed);
    set(root, "tokens_per_second", job.tokens_per_second == null ? "–" : job.tokens_per_second);
    set(root, "eta", job.eta_seconds == null ? "–" : Math.round(job.eta_seconds) + " s");
    var total = job.total || 1;
    var bar = root.querySelector('[role="progressbar"]');
    if (bar) bar.setAttribute("aria-valuenow", job.done);
    var donePct = job.total ? (100 * job.done) / total : 100;
    var done = root.querySelector('[data-field="bar-done"]');
    if (done) done.setAttribute("width", donePct);
    var failed = root.querySelector('[data-field="bar-failed"]');
    if (failed) {
      failed.setAttribute("x", donePct);
      failed.setAttribute("width", (100 * job.failed) / total);
    }
    var error = set(root, "error", job.error || "");
    if (error) error.hidden = !job.error;
    var list = root.querySelector('[data-field="errors"]');
    if (list) {
      list.replaceChildren();
      (job.errors || []).forEach(function (e) {
        var li = document.createElement("li");
        li.textContent = "Prompt " + e.prompt_id + " (" + e.status + ", attempt " + e.attempts + "): " + e.error;
        list.appendChild(li);
      });
    }
    if (!ACTIVE[job.status]) {
      document.querySelectorAll("[data-cancel-form]").forEach(function (f) { f.hidden = true; });
    }
  }

  function poll(root) {
    // A judge run's progress (templates/judges/_run.html) names its own URL.
    var url = root.dataset.progressUrl || "/api/v1/generation-jobs/" + encodeURIComponent(root.dataset.generationJob);
    fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (job) render(root, job);
        if (!job || ACTIVE[job.status]) setTimeout(function () { poll(root); }, POLL_MS);
      })
      .catch(function () { setTimeout(function () { poll(root); }, POLL_MS * 4); });
  }

  document.querySelectorAll("[data-generation-job]").forEach(function (root) {
    if (ACTIVE[root.dataset.status]) poll(root);
  });
})();
