// Ranking screen: drag and drop, keyboard and buttons all reorder the same list, which
// keeps the form's rank_<id> inputs up to date (the form also works as a plain POST).
// With JavaScript the form is sent to the JSON API and the next item is swapped in.
(function () {
  "use strict";
  var root = document.querySelector("[data-annotate]");
  if (!root) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var itemBox = root.querySelector("[data-item]");
  var live = root.querySelector("[data-live]");
  var started = Date.now();
  var dragged = null;

  function rows(list) { return Array.prototype.slice.call(list.children); }

  function groups(list) {
    var out = [];
    rows(list).forEach(function (row, i) {
      var id = Number(row.dataset.cid);
      if (i > 0 && row.dataset.tie === "1") out[out.length - 1].push(id);
      else out.push([id]);
    });
    return out;
  }

  function sync(list) {
    var rank = 0;
    rows(list).forEach(function (row, i) {
      if (i === 0) row.dataset.tie = "0";
      var tied = row.dataset.tie === "1";
      if (!tied) rank += 1;
      row.querySelector("input[type=number]").value = rank;
      row.querySelector("[data-rank-no]").textContent = rank + (tied ? "=" : "");
      var tie = row.querySelector("[data-tie]");
      tie.setAttribute("aria-pressed", tied ? "true" : "false");
      tie.disabled = i === 0;
      row.setAttribute("aria-label", "Rank " + rank + (tied ? " (tied)" : "") + ": response " + row.dataset.label);
    });
  }

  function say(text) { if (live) live.textContent = text; }

  function moveTo(list, row, index) {
    var all = rows(list).filter(function (r) { return r !== row; });
    index = Math.max(0, Math.min(index, all.length));
    list.insertBefore(row, all[index] || null);
    if (index === 0) row.dataset.tie = "0";
    sync(list);
    row.focus();
    say("Response " + row.dataset.label + " is now at position " + (index + 1));
  }

  function toggleTie(list, row) {
    if (rows(list).indexOf(row) === 0) return;
    row.dataset.tie = row.dataset.tie === "1" ? "0" : "1";
    sync(list);
    say("Response " + row.dataset.label + (row.dataset.tie === "1" ? " tied with the one above" : " no longer tied"));
  }

  function rowFor(list, cid) { return list.querySelector('.rank-row[data-cid="' + cid + '"]'); }

  function onKey(form, list, ev) {
    var row = ev.target.closest(".rank-row") || (ev.target.matches(".cand") ? rowFor(list, ev.target.dataset.cid) : null);
    if (!row || ev.target.closest("input, textarea, select, button")) return;
    var i = rows(list).indexOf(row);
    var digit = /^[1-9]$/.test(ev.key) ? Number(ev.key) : 0;
    if (digit && digit <= rows(list).length) { moveTo(list, row, digit - 1); }
    else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
      var step = ev.key === "ArrowUp" ? -1 : 1;
      if (ev.shiftKey || ev.altKey) moveTo(list, row, i + step);
      else if (ev.target === row) { var next = rows(list)[i + step]; if (next) next.focus(); }
      else return;
    } else if (ev.key === "t" || ev.key === "T" || ev.key === "=") { toggleTie(list, row); }
    else if (ev.key === "Enter") { form.requestSubmit(); }
    else return;
    ev.preventDefault();
  }

  function enableDrag(list) {
    list.addEventListener("dragstart", function (ev) {
      dragged = ev.target.closest(".rank-row");
      if (!dragged) return;
      dragged.classList.add("dragging");
      ev.dataTransfer.effectAllowed = "move";
      ev.dataTransfer.setData("text/plain", dragged.dataset.cid);
    });
    list.addEventListener("dragover", function (ev) {
      if (!dragged) return;
      ev.preventDefault();
      var over = ev.target.closest(".rank-row");
      if (!over || over === dragged) return;
      var box = over.getBoundingClientRect();
      var after = ev.clientY > box.top + box.height / 2;
      list.insertBefore(dragged, after ? over.nextSibling : over);
    });
    list.addEventListener("drop", function (ev) { ev.preventDefault(); });
    list.addEventListener("dragend", function () {
      if (!dragged) return;
      dragged.classList.remove("dragging");
      if (rows(list).indexOf(dragged) === 0) dragged.dataset.tie = "0";
      sync(list);
      say("Response " + dragged.dataset.label + " is now at position " + (rows(list).indexOf(dragged) + 1));
      dragged = null;
    });
  }

  function showError(form, body) {
    var box = form.querySelector("[data-error]");
    box.textContent = (body && body.error) || "Could not save; check your connection and try again.";
    if (body && body.errors && body.errors.length) {
      var ul = document.createElement("ul");
      body.errors.forEach(function (e) { var li = document.createElement("li"); li.textContent = e.message; ul.appendChild(li); });
      box.appendChild(ul);
    }
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) throw data;
        return data;
      });
    });
  }

  function loadNext(message) {
    return fetch(root.dataset.itemUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) { if (!res.ok) throw new Error("HTTP " + res.status); return res.text(); })
      .then(function (html) {
        itemBox.innerHTML = html; // server-rendered, escaped and sanitised like the full page
        init();
        say(message);
        var first = itemBox.querySelector(".rank-row");
        if (first) first.focus();
        window.scrollTo(0, 0);
      });
  }

  function collect(form, list) {
    var body = {
      assignment_id: Number(form.dataset.assignment),
      ranking: groups(list),
      all_bad: form.elements.all_bad.checked,
      flags: {},
      ratings: {},
      rationale: form.elements.rationale.value,
      seconds_spent: Math.round((Date.now() - started) / 100) / 10,
      idempotency_key: form.elements.idempotency_key.value
    };
    form.querySelectorAll('input[type=checkbox][name^="flag_"]:checked').forEach(function (cb) {
      var cid = cb.name.slice(5);
      (body.flags[cid] = body.flags[cid] || []).push(cb.value);
    });
    form.querySelectorAll('select[name^="rating_"]').forEach(function (sel) {
      if (sel.value) body.ratings[sel.name.slice(7)] = Number(sel.value);
    });
    return body;
  }

  function init() {
    started = Date.now();
    var form = itemBox.querySelector("[data-rank-form]");
    if (!form) return;
    var list = form.querySelector("[data-ranking]");
    form.classList.add("js");
    sync(list);
    enableDrag(list);
    form.addEventListener("keydown", function (ev) { onKey(form, list, ev); });
    list.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button");
      if (!btn) return;
      var row = btn.closest(".rank-row");
      if (btn.dataset.move) moveTo(list, row, rows(list).indexOf(row) + (btn.dataset.move === "up" ? -1 : 1));
      else if (btn.hasAttribute("data-tie")) toggleTie(list, row);
    });
    var sending = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (sending) return;
      sending = true;
      form.querySelector("[data-submit]").disabled = true;
      postJSON("/api/v1/annotations", collect(form, list))
        .then(function () { return loadNext("Saved. Next item loaded."); })
        .catch(function (err) {
          sending = false;
          form.querySelector("[data-submit]").disabled = false;
          showError(form, err);
        });
    });
    var skip = itemBox.querySelector("[data-skip-form]");
    skip.addEventListener("submit", function (ev) {
      ev.preventDefault();
      postJSON("/api/v1/assignments/" + skip.dataset.assignment + "/skip", { reason: skip.elements.reason.value })
        .then(function () { return loadNext("Skipped. Next item loaded."); })
        .catch(function (err) { showError(form, err); });
    });
  }

  init();
})();
