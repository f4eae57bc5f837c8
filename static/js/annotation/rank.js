// Ranking screen. Typing letters, drag and drop, row keys and buttons all reorder the same
// list, which keeps the form's rank_<id> inputs up to date (the form also works as a plain
// POST). With JavaScript a submit is one request: the server stores the ranking, leases the
// next item in the same transaction and answers its HTML, which is swapped in.
//
// Typed order (issue 11): with the ranking focused, `c a d b` puts C first, A second, D
// third, B last; the last response may be left out; `=` ties the next letter with the
// previous rank; Backspace undoes, Escape clears, Enter submits once all are placed.
(function () {
  "use strict";
  var root = document.querySelector("[data-annotate]");
  if (!root) return;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var itemBox = root.querySelector("[data-item]");
  var live = root.querySelector("[data-live]");
  var started = Date.now();
  var dragged = null;
  var current = null;                        // the item on screen: its ranking and state

  function rows(list) { return Array.prototype.slice.call(list.children); }
  function say(text) { if (live) live.textContent = text; }
  // Keys typed into a field, or pressed on a control or link, keep their usual meaning.
  function editing(target) {
    return !!(target.closest && target.closest("input, textarea, select, button, summary, a[href]"));
  }

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

  // One item's ranking: the list, what was typed, and whether anything was placed.
  function Ranking(form) {
    this.form = form;
    this.list = form.querySelector("[data-ranking]");
    this.shown = rows(this.list);           // the starting order (A, B, C, ... or a judge's suggestion)
    this.typed = [];                         // tie groups of rows, in typed order
    this.tieNext = false;
    this.touched = false;                    // anything placed, moved or tied
    this.typedBox = form.querySelector("[data-typed]");
  }

  Ranking.prototype.byLabel = function (letter) {
    return this.list.querySelector('.rank-row[data-label="' + letter.toUpperCase() + '"]');
  };

  Ranking.prototype.placed = function () {
    return this.typed.reduce(function (all, g) { return all.concat(g); }, []);
  };

  Ranking.prototype.unplaced = function () {
    var placed = this.placed();
    return this.shown.filter(function (r) { return placed.indexOf(r) < 0; });
  };

  // Typed groups first, then the rest in the shown order; the tie marks follow the groups.
  Ranking.prototype.render = function () {
    var list = this.list, marks = [];
    this.typed.forEach(function (g) { g.forEach(function (r, i) { marks.push([r, i > 0]); }); });
    this.unplaced().forEach(function (r) { marks.push([r, false]); });
    marks.forEach(function (m) { m[0].dataset.tie = m[1] ? "1" : "0"; list.appendChild(m[0]); });
    var placed = this.placed(), rest = this.unplaced();
    this.shown.forEach(function (r) {
      r.classList.toggle("placed", placed.indexOf(r) >= 0);
      r.classList.toggle("implicit", rest.length === 1 && rest[0] === r && placed.length > 0);
    });
    sync(list);
    this.showTyped();
    this.hideConfirm();
  };

  // Placing anything answers the "submit the order as shown?" question.
  Ranking.prototype.hideConfirm = function () {
    var box = this.form.querySelector("[data-confirm]");
    if (box && this.touched) box.hidden = true;
  };

  Ranking.prototype.showTyped = function () {
    if (!this.typedBox) return;
    var text = this.typed.map(function (g) {
      return g.map(function (r) { return r.dataset.label; }).join(" = ");
    }).join(" > ");
    var rest = this.unplaced();
    if (this.tieNext) text += " = …";
    else if (rest.length === 1 && this.typed.length) text += " > " + rest[0].dataset.label;
    this.typedBox.textContent = text ? "Typed: " + text : "";
  };

  Ranking.prototype.complete = function () {
    return this.unplaced().length <= 1 && !this.tieNext;
  };

  Ranking.prototype.type = function (letter) {
    var row = this.byLabel(letter);
    if (!row) return false;
    if (this.placed().indexOf(row) >= 0) { say("Response " + row.dataset.label + " is already placed."); return true; }
    if (this.tieNext && this.typed.length) this.typed[this.typed.length - 1].push(row);
    else this.typed.push([row]);
    this.tieNext = false;
    this.touched = true;
    this.render();
    var rank = this.typed.length;
    say("Response " + row.dataset.label + " at rank " + rank + (this.typed[rank - 1].length > 1 ? ", tied" : "") +
      (this.complete() ? ". Every response is placed; Enter submits." : ""));
    return true;
  };

  Ranking.prototype.tie = function () {
    if (!this.typed.length) {
      if (this.shown.length !== 2) { say("Place a response first; = ties the next one with it."); return; }
      this.typed = [this.shown.slice()];    // two responses: `=` alone says they are equal
      this.touched = true;
      this.render();
      say("A and B are equal. Enter submits.");
      return;
    }
    if (this.unplaced().length === 0) return;
    this.tieNext = true;
    this.showTyped();
    say("The next letter ties with rank " + this.typed.length + ".");
  };

  Ranking.prototype.undo = function () {
    if (this.tieNext) { this.tieNext = false; this.showTyped(); say("Tie cancelled."); return; }
    var last = this.typed[this.typed.length - 1];
    if (!last) return;
    var row = last.pop();
    if (!last.length) this.typed.pop();
    if (!this.typed.length) this.touched = false;
    this.render();
    say("Response " + row.dataset.label + " taken back.");
  };

  Ranking.prototype.clear = function () {
    this.typed = [];
    this.tieNext = false;
    this.touched = false;
    this.render();                          // back to the shown order
    say("Ranking cleared.");
  };

  // A move by drag, buttons or row keys: the list's order is now the truth.
  Ranking.prototype.moved = function () {
    this.typed = [];
    this.tieNext = false;
    this.touched = true;
    this.shown.forEach(function (r) { r.classList.remove("placed", "implicit"); });
    this.showTyped();
    this.hideConfirm();
  };

  function moveTo(rk, row, index) {
    var all = rows(rk.list).filter(function (r) { return r !== row; });
    index = Math.max(0, Math.min(index, all.length));
    rk.list.insertBefore(row, all[index] || null);
    if (index === 0) row.dataset.tie = "0";
    rk.moved();
    sync(rk.list);
    row.focus();
    say("Response " + row.dataset.label + " is now at position " + (index + 1));
  }

  function toggleTie(rk, row) {
    if (rows(rk.list).indexOf(row) === 0) return;
    row.dataset.tie = row.dataset.tie === "1" ? "0" : "1";
    rk.moved();
    sync(rk.list);
    say("Response " + row.dataset.label + (row.dataset.tie === "1" ? " tied with the one above" : " no longer tied"));
  }

  function scrollAnswer(body, down) {
    body.scrollBy({ top: (down ? 1 : -1) * body.clientHeight * 0.9 });
  }

  function toggleExpand(cand) {
    var body = cand.querySelector("[data-cand-body]"), btn = cand.querySelector("[data-expand]");
    var open = !cand.classList.contains("expanded");
    cand.classList.toggle("expanded", open);
    if (btn) {
      btn.setAttribute("aria-expanded", open ? "true" : "false");
      btn.textContent = (open ? "Show less of " : "Show all of ") + cand.dataset.label + " (x)";
    }
    body.focus();
  }

  // Keys on an answer: Space / Shift+Space scroll it, x shows all of it.
  function onAnswerKey(ev) {
    var cand = ev.target.closest(".cand");
    if (!cand || editing(ev.target)) return false;
    var body = cand.querySelector("[data-cand-body]");
    if (ev.key === " ") { scrollAnswer(body, !ev.shiftKey); return true; }
    if (ev.key === "x" || ev.key === "X") { toggleExpand(cand); return true; }
    return false;
  }

  // Keys on a focused row: digits put it at a rank, arrows move focus or the row, t ties.
  function onRowKey(rk, row, ev) {
    var list = rk.list, i = rows(list).indexOf(row);
    var digit = /^[1-9]$/.test(ev.key) ? Number(ev.key) : 0;
    if (digit && digit <= rows(list).length) { moveTo(rk, row, digit - 1); return true; }
    if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
      var step = ev.key === "ArrowUp" ? -1 : 1;
      if (ev.shiftKey || ev.altKey) moveTo(rk, row, i + step);
      else if (ev.target === row) { var next = rows(list)[i + step]; if (next) next.focus(); }
      else return false;
      return true;
    }
    if (ev.key === "t" || ev.key === "T" || ev.key === "=") { toggleTie(rk, row); return true; }
    return false;
  }

  // Typed order: letters, `=`, Backspace, Escape; works wherever no field has focus.
  function onTypedKey(rk, ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return false;
    if (/^[a-hA-H]$/.test(ev.key)) return rk.type(ev.key);
    if (ev.key === "=") { rk.tie(); return true; }
    if (ev.key === "Backspace") { rk.undo(); return true; }
    if (ev.key === "Escape") { rk.clear(); return true; }
    return false;
  }

  function onKey(item, ev) {
    var rk = item.ranking, form = rk.form;
    if (editing(ev.target) || !form.isConnected) return;
    var handled = false;
    var row = ev.target.closest(".rank-row") ||
      (ev.target.closest(".cand") ? rk.list.querySelector('.rank-row[data-cid="' + ev.target.closest(".cand").dataset.cid + '"]') : null);
    if (ev.key === "?") { toggleKeys(form); handled = true; }
    else if (onAnswerKey(ev)) handled = true;
    else if (row && onRowKey(rk, row, ev)) handled = true;
    else if (onTypedKey(rk, ev)) handled = true;
    else if (ev.key === "Enter") { requestSubmit(item); handled = true; }
    if (handled) ev.preventDefault();
  }

  function toggleKeys(form) {
    var keys = form.querySelector("[data-keys]");
    keys.hidden = !keys.hidden;
  }

  // Enter: submit once every response is placed (or after a confirm, when nothing was).
  function requestSubmit(item) {
    var rk = item.ranking;
    if (rk.typed.length && !rk.complete()) {
      var left = rk.unplaced().map(function (r) { return r.dataset.label; });
      say(rk.tieNext ? "Type the letter to tie first." : "Place " + left.join(", ") + " first (or leave only the last one).");
      return;
    }
    rk.form.requestSubmit();
  }

  function enableDrag(rk) {
    var list = rk.list;
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
      rk.moved();
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

  function send(url, body, accept) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": accept, "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (res) {
      if (res.ok) return accept === "text/html" ? res.text() : res.json();
      return res.json().catch(function () { return {}; }).then(function (data) { throw data; });
    });
  }

  function show(html, message) {
    itemBox.innerHTML = html; // server-rendered, escaped and sanitised like the full page
    init();
    say(message);
    window.scrollTo(0, 0);
  }

  function loadNext(message) {
    return fetch(root.dataset.itemUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) { if (!res.ok) throw new Error("HTTP " + res.status); return res.text(); })
      .then(function (html) { show(html, message); });
  }

  function collect(rk) {
    var form = rk.form;
    var body = {
      assignment_id: Number(form.dataset.assignment),
      ranking: groups(rk.list),
      all_bad: form.elements.all_bad.checked,
      flags: {},
      ratings: {},
      rationale: form.elements.rationale.value,
      seconds_spent: Math.round((Date.now() - started) / 100) / 10,
      order_changed: rk.touched,
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

  function markLongAnswers() {
    itemBox.querySelectorAll(".cand").forEach(function (cand) {
      var body = cand.querySelector("[data-cand-body]"), btn = cand.querySelector("[data-expand]");
      if (btn && body.scrollHeight > body.clientHeight + 4) btn.hidden = false;
    });
  }

  function enableConfirm(item) {
    var box = item.ranking.form.querySelector("[data-confirm]");
    box.querySelector("[data-confirm-yes]").addEventListener("click", function () {
      item.confirmed = true;
      box.hidden = true;
      item.ranking.form.requestSubmit();
    });
    function back() { box.hidden = true; item.ranking.list.focus(); }
    box.querySelector("[data-confirm-no]").addEventListener("click", back);
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { ev.preventDefault(); ev.stopPropagation(); back(); }
    });
    return box;
  }

  function init() {
    started = Date.now();
    var form = itemBox.querySelector("[data-rank-form]");
    current = null;
    if (!form) return;
    var item = { ranking: new Ranking(form), confirmed: false, sending: false };
    var rk = item.ranking;
    form.classList.add("js");
    sync(rk.list);
    enableDrag(rk);
    markLongAnswers();
    var confirmBox = enableConfirm(item);
    current = item;
    form.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button");
      if (!btn) return;
      var row = btn.closest(".rank-row");
      if (row && btn.dataset.move) moveTo(rk, row, rows(rk.list).indexOf(row) + (btn.dataset.move === "up" ? -1 : 1));
      else if (row && btn.hasAttribute("data-tie")) toggleTie(rk, row);
      else if (btn.dataset.pair) { rk.clear(); if (btn.dataset.pair === "=") rk.tie(); else rk.type(btn.dataset.pair); }
      else if (btn.hasAttribute("data-expand")) toggleExpand(btn.closest(".cand"));
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (item.sending) return;
      var needsConfirm = form.dataset.confirmUntouched === "1" && !rk.touched && !item.confirmed;
      if (needsConfirm) {
        confirmBox.hidden = false;
        confirmBox.querySelector("[data-confirm-yes]").focus();
        say("You have not placed any response. Submit them in the order shown?");
        return;
      }
      item.sending = true;
      form.querySelector("[data-submit]").disabled = true;
      send("/annotate/" + form.dataset.set + "/item", collect(rk), "text/html")
        .then(function (html) { show(html, "Saved. Next item loaded."); })
        .catch(function (err) {
          // Lease expired, already submitted, not yours: this item is gone; say why and
          // move on, as the plain form does.
          if (err && (err.status === 409 || err.status === 403 || err.status === 404)) {
            return loadNext(err.error + " Here is the next item.");
          }
          item.sending = false;
          item.confirmed = false;
          form.querySelector("[data-submit]").disabled = false;
          showError(form, err);
        });
    });
    var skip = itemBox.querySelector("[data-skip-form]");
    skip.addEventListener("submit", function (ev) {
      ev.preventDefault();
      send("/api/v1/assignments/" + skip.dataset.assignment + "/skip", { reason: skip.elements.reason.value }, "application/json")
        .then(function () { return loadNext("Skipped. Next item loaded."); })
        .catch(function (err) { showError(form, err); });
    });
    rk.list.focus({ preventScroll: true }); // typing letters works from the first key
  }

  // One listener for the page: typing works wherever the focus is, except in a field.
  document.addEventListener("keydown", function (ev) { if (current) onKey(current, ev); });
  init();
})();
