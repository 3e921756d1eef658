// The lead's editor: every form is saved alone by htmx (the answer is that form's fragment), so
// nothing typed elsewhere on the page is lost. This file adds what htmx does not:
//
// * moving a row (drag by its handle, Alt+↑/Alt+↓ in the row, or its ↑/↓ buttons) moves that
//   row's element only and sends the whole order to POST /launches/<slug>/order, with the order
//   the page showed before the move; the other rows, and what is typed in them, are not
//   re-rendered. A refused order puts the rows back; refused because another lead moved rows
//   since (409 order_changed), the rows are put in the order stored now, which the answer holds,
//   so the lead sees it before moving again (sent whole, the old order undid the other's move).
//   Either answer holds the checklist's keys in the stored order (the server's checklist.shortcuts),
//   which the rows then show: a row's key follows the order, and is not its place once one is retired.
// * a warning before leaving the page while a form has unsaved changes (a form is dirty from its
//   first input until a save of it succeeds; a refused save comes back marked dirty).
// * "Take the current values" after a stale save: the stored values replace what was typed.
// * a save or a move refused as "out of date" because the browser signed in again (in another tab,
//   after the session ended, or a password changed at /me: a new session, so a new CSRF token) takes
//   the new token and is sent once more, as the checklist does: told to reload, the lead lost what
//   was typed, unsaved, in every other row.
//
// Without JavaScript every form still posts and the page reloads, as before.
(function () {
  "use strict";

  const list = document.getElementById("hypothesis-list");
  if (!list) return;

  document.documentElement.classList.add("editor-ready");
  const slug = list.dataset.slug;
  const status = document.getElementById("editor-status");
  const flash = document.getElementById("flash");
  let csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
  const editorForms = "#launch-form, #add-form, .hypothesis-form";

  // --- unsaved changes ----------------------------------------------------------------------

  function markDirty(event) {
    const form = event.target.closest && event.target.closest(editorForms);
    if (form) form.dataset.dirty = "1";
  }
  document.addEventListener("input", markDirty);
  document.addEventListener("change", markDirty);

  function dirtyForms() {
    return Array.from(document.querySelectorAll(editorForms)).filter((form) => form.dataset.dirty);
  }

  window.addEventListener("beforeunload", (event) => {
    if (dirtyForms().length === 0) return;
    event.preventDefault();
    event.returnValue = list.dataset.unsaved || "";  // older browsers want a value set
  });

  // A successful save swaps in a fresh (clean) form; a refused one comes back with data-dirty.
  // When the whole page is left on purpose (a form without htmx), there is nothing to warn of.
  document.addEventListener("htmx:afterSettle", () => refreshButtons());
  // A save swaps its form: say it was saved (the focus stays where it was: htmx finds its id again).
  document.addEventListener("htmx:afterRequest", (event) => {
    const detail = event.detail || {};
    const verb = detail.requestConfig && detail.requestConfig.verb;
    if (detail.successful && verb === "post" && detail.xhr && detail.xhr.status === 200) {
      say(list.dataset.saved || "Saved.");
    }
  });

  // --- a new sign-in in this browser ----------------------------------------------------------

  // The token of this browser's sign-in now, if it is this lead's and not the one the page has:
  // then every form of the page takes it. Another person signed in meanwhile (a shared computer)
  // gets nothing sent in this lead's name.
  // Set when the last ask found no sign-in at all (signed out in another tab, the session over): a save is
  // then told that, not "out of date: reload it", since reloading leads to sign-in and loses the typing.
  let signedOut = false;

  async function renewToken() {
    try {
      const response = await fetch("/csrf-token", { credentials: "same-origin", headers: { Accept: "application/json" } });
      signedOut = response.status === 401;
      if (!response.ok) return false;
      const body = await response.json();
      if (!body.token || body.token === csrf || String(body.user) !== list.dataset.user) return false;
      csrf = body.token;
      document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRF-Token": csrf }));
      document.querySelectorAll('input[name="csrf_token"]').forEach((field) => {
        field.value = csrf;
      });
      return true;
    } catch (e) {
      return false;
    }
  }

  // A form's save refused (403) is held back from the page until the token is asked for: renewed, the
  // form is sent again (once); else the refusal is shown where htmx would have put it.
  const resent = new WeakSet();
  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail || {};
    const sender = detail.requestConfig && detail.requestConfig.elt;  // detail.elt is the target (the row)
    const form = sender && sender.closest && sender.closest(editorForms);
    if (!form || !detail.xhr) return;
    const again = resent.delete(form);  // the answer to a form sent again is shown as it is
    if (again || detail.xhr.status !== 403) return;
    detail.shouldSwap = false;
    const refusal = detail.xhr.responseText;
    renewToken().then((renewed) => {
      if (renewed) {
        resent.add(form);
        form.requestSubmit();
      } else if (signedOut) {
        showSignedOut();
      } else {
        showError(refusal);
      }
    });
  });

  // --- moving rows ---------------------------------------------------------------------------

  function rows() {
    return Array.from(list.querySelectorAll(":scope > li.hypothesis-row"));
  }

  function refreshButtons() {
    const all = rows();
    all.forEach((row, index) => {
      const up = row.querySelector('button[name="move"][value="up"]');
      const down = row.querySelector('button[name="move"][value="down"]');
      if (up) up.disabled = index === 0;
      if (down) down.disabled = index === all.length - 1;
    });
  }

  // Each row's checklist key, from an order's answer ({key: "1"}; a row left out has none).
  function showShortcuts(shortcuts) {
    if (!shortcuts) return;
    rows().forEach((row) => {
      const holder = row.querySelector(".shortcut");
      if (!holder) return;
      const key = shortcuts[row.dataset.key] || "";
      holder.querySelector("kbd").textContent = key;
      holder.querySelector(".has-key").hidden = !key;
      holder.querySelector(".no-key").hidden = Boolean(key);
    });
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  function showError(html) {
    if (flash) flash.innerHTML = html;
  }

  function showSignedOut() {
    // Sign-in in another tab keeps this page and its typing; the next save takes that sign-in's token.
    if (!flash) return;
    const box = document.createElement("div");
    box.className = "error-box";
    box.setAttribute("role", "alert");
    const link = document.createElement("a");
    link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    link.target = "_blank";
    link.textContent = list.dataset.signIn || "Sign in";
    box.append((list.dataset.signedOut || "") + " ", link);
    flash.replaceChildren(box);
  }

  function announce(row) {
    const all = rows();
    const template = list.dataset.moved || "{position}/{total}";
    say(template.replace("{position}", String(all.indexOf(row) + 1)).replace("{total}", String(all.length)));
  }

  function keys() {
    return rows().map((row) => row.dataset.key);
  }

  function restore(order) {
    const byKey = new Map(rows().map((row) => [row.dataset.key, row]));
    keepingFocus(() =>
      order.forEach((key) => {
        const row = byKey.get(key);
        if (row) list.appendChild(row);
      })
    );
    refreshButtons();
  }

  // The order stored now, from a refused move's answer, if it holds exactly the rows this page has.
  function storedOrder(data) {
    if (!Array.isArray(data.order)) return null;
    const shown = keys();
    const same = data.order.length === shown.length && shown.every((key) => data.order.includes(key));
    return same ? data.order : null;
  }

  // Moving a row would blur whatever had the focus inside it: put the focus back.
  function keepingFocus(action) {
    const focused = document.activeElement;
    action();
    if (focused && focused !== document.activeElement && document.contains(focused)) focused.focus();
  }

  let sending = Promise.resolve();

  function sendOrder(before) {
    const body = new URLSearchParams();
    keys().forEach((key) => body.append("keys", key));
    // The order the move was made from: refused if it is no longer the stored one.
    before.forEach((key) => body.append("seen", key));
    // One order at a time, in the order they were made.
    const post = () =>
      fetch("/launches/" + encodeURIComponent(slug) + "/order", {
        method: "POST",
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
        body: body,
        credentials: "same-origin",
      });
    sending = sending.then(() =>
      post()
        .then(async (response) => {
          if (response.status !== 403) return response;
          const code = await response.clone().json().then((data) => data.error && data.error.code, () => null);
          if (code !== "csrf") {
            signedOut = false;  // refused for another reason: said as it is
            return response;
          }
          return (await renewToken()) ? post() : response;
        })
        .then((response) =>
          response
            .json()
            .catch(() => ({}))
            .then((data) => ({ response, data }))
        )
        .then(({ response, data }) => {
          if (!response.ok && response.status === 403 && signedOut) {
            showSignedOut();
            restore(before);
            return;
          }
          if (!response.ok) {
            const message = (data.error && (data.error.text || data.error.message)) || response.statusText;
            showError('<div class="error-box"></div>');
            flash.firstChild.textContent = message;
            const stored = storedOrder(data);
            restore(stored || before);
            if (stored) showShortcuts(data.shortcuts);
            return;
          }
          showError("");
          showShortcuts(data.shortcuts);
          // The rows this order moved have a new version; a form still at the one before the
          // move is current (a form further behind keeps its version: its save must be refused).
          Object.entries(data.versions || {}).forEach(([key, pair]) => {
            const row = document.getElementById("row-" + key);
            const input = row && row.querySelector('input[name="version"]');
            if (input && Number(input.value) === pair[0]) input.value = String(pair[1]);
          });
          list.dispatchEvent(new CustomEvent("editor:ordered", { bubbles: true, detail: data }));
        })
        .catch(() => {
          showError('<div class="error-box"></div>');
          flash.firstChild.textContent = list.dataset.orderFailed || "";
          restore(before);
        })
    );
    return sending;
  }

  function move(row, direction) {
    const before = keys();
    const sibling = direction === "up" ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling) return;
    keepingFocus(() => {
      if (direction === "up") list.insertBefore(row, sibling);
      else list.insertBefore(sibling, row);
    });
    refreshButtons();
    announce(row);
    sendOrder(before);
  }

  // The ↑/↓ buttons: moved here rather than submitted (which would save the row too, and reload).
  document.addEventListener(
    "click",
    (event) => {
      const button = event.target.closest && event.target.closest('button[name="move"]');
      if (!button || !list.contains(button)) return;
      event.preventDefault();
      event.stopPropagation();
      const row = button.closest("li.hypothesis-row");
      move(row, button.value);
      // A disabled button loses the focus: keep it on the row's other arrow.
      if (button.disabled) {
        const other = row.querySelector('button[name="move"]:not([disabled])');
        if (other) other.focus();
      }
    },
    true
  );

  // Alt+↑ / Alt+↓ anywhere in a row.
  list.addEventListener("keydown", (event) => {
    if (!event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    const row = event.target.closest("li.hypothesis-row");
    if (!row) return;
    event.preventDefault();
    move(row, event.key === "ArrowUp" ? "up" : "down");
  });

  // Dragging by the handle (HTML5 drag and drop): the row follows the pointer; the order is
  // sent once, when it is dropped.
  let dragged = null;
  let dragStart = null;

  list.addEventListener("dragstart", (event) => {
    const handle = event.target.closest && event.target.closest(".drag-handle");
    if (!handle) return;
    dragged = handle.closest("li.hypothesis-row");
    dragStart = keys();
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.key);
    event.dataTransfer.setDragImage(dragged, 10, 10);
  });

  list.addEventListener("dragover", (event) => {
    if (!dragged) return;
    const over = event.target.closest && event.target.closest("li.hypothesis-row");
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!over || over === dragged) return;
    const box = over.getBoundingClientRect();
    const after = event.clientY > box.top + box.height / 2;
    list.insertBefore(dragged, after ? over.nextElementSibling : over);
  });

  list.addEventListener("drop", (event) => {
    if (dragged) event.preventDefault();
  });

  list.addEventListener("dragend", () => {
    if (!dragged) return;
    const row = dragged;
    const before = dragStart;
    dragged = null;
    dragStart = null;
    row.classList.remove("dragging");
    refreshButtons();
    if (before.join("\n") !== keys().join("\n")) {
      announce(row);
      sendOrder(before);
    }
  });

  // --- a stale save: take the current values -------------------------------------------------

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("[data-take-current]");
    if (!link) return;
    const form = link.closest("form");
    if (!form) return;
    event.preventDefault();
    form.querySelectorAll("[data-current]").forEach((field) => {
      field.value = field.dataset.current;
      field.removeAttribute("data-current");
    });
    form.querySelectorAll(".now").forEach((note) => note.remove());
    const box = form.querySelector(".error-box");
    if (box) box.remove();
    const holder = form.closest(".conflict");
    if (holder) holder.classList.remove("conflict");
    delete form.dataset.dirty;
    const first = form.querySelector("input:not([type=hidden]), select");
    if (first) first.focus();
  });

  refreshButtons();
})();
