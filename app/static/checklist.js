// The agents' checklist: one keystroke (or click) per enquiry, never lost, never doubled.
//
// Every tick becomes an item in a queue kept in localStorage, with an
// idempotency key made here. The queue is sent in order; an item leaves it only
// when the server has answered: with success (shown, undoable) or with a
// refusal (shown, since retrying cannot help). Network failures and server
// errors keep the item, say so plainly, and retry: the same key means a retry
// that did reach the server before is not counted twice.
(function () {
  "use strict";

  const root = document.getElementById("checklist");
  if (!root) return;

  const slug = root.dataset.slug;
  const texts = JSON.parse(root.dataset.texts);
  let csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
  // Per person and launch: on a shared computer, the next person never sends someone else's ticks.
  const queueKey = "tally:queue:" + root.dataset.user + ":" + slug;
  const UNDO_SECONDS = 15;
  const RETRY_MIN_MS = 2000;
  const RETRY_MAX_MS = 30000;

  const buttons = Array.from(root.querySelectorAll("button.tick[data-key]"));
  const byShortcut = new Map();
  buttons.forEach((b) => { if (b.dataset.shortcut) byShortcut.set(b.dataset.shortcut, b); });
  const otherButton = document.getElementById("other-button");
  const otherForm = document.getElementById("other-form");
  const otherNote = document.getElementById("other-note");
  const combineBar = document.getElementById("combine-bar");
  const combineText = document.getElementById("combine-text");
  const connection = document.getElementById("connection");
  const rejections = document.getElementById("rejections");
  const toasts = document.getElementById("toasts");

  let sending = false;
  let retryDelay = RETRY_MIN_MS;
  let retryTimer = null;

  // --- small helpers ---------------------------------------------------------------

  function format(text, values) {
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
  }

  function newKey() {
    // crypto.randomUUID only exists on https and localhost; this works everywhere.
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function selected(name) {
    const input = root.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : null;
  }

  function textFor(keys) {
    if (!keys.length) return texts.other;
    return keys.map((k) => {
      const b = buttons.find((x) => x.dataset.key === k);
      return b ? b.dataset.text : k;
    }).join(" + ");
  }

  function bump(id, delta) {
    const n = document.querySelector("#" + id + " .n") || document.getElementById(id);
    if (!n) return;
    const value = parseInt(n.textContent, 10);
    if (!Number.isNaN(value)) n.textContent = String(Math.max(0, value + delta));
  }

  function refresh() {
    if (window.htmx) window.htmx.trigger(document.body, "tally:changed");
  }

  // --- the queue ----------------------------------------------------------------------

  function load() {
    try {
      return JSON.parse(localStorage.getItem(queueKey) || "[]");
    } catch (e) {
      return [];
    }
  }

  function save(queue) {
    localStorage.setItem(queueKey, JSON.stringify(queue));
  }

  function enqueue(keys, note) {
    if (root.dataset.open !== "true") return;
    const item = {
      idempotency_key: newKey(),
      hypotheses: keys,
      channel: selected("channel"),
      segment: selected("segment"),
      note: note || null,
    };
    const queue = load();
    queue.push(item);
    save(queue);
    // Counted on screen at once; the next refresh from the server replaces the guess.
    keys.forEach((k) => bump("count-" + k, 1));
    if (!keys.length) bump("count-other", 1);
    bump("mine-today", 1);
    bump("team-since", 1);
    flush();
  }

  function unqueue(idempotencyKey) {
    const queue = load();
    const rest = queue.filter((i) => i.idempotency_key !== idempotencyKey);
    save(rest);
    return rest.length !== queue.length;
  }

  function showConnection(message) {
    if (message) {
      connection.textContent = message;
      connection.hidden = false;
    } else {
      connection.textContent = "";
      connection.hidden = true;
    }
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(flush, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  function waitingMessage(n, template) {
    if (template) return format(template, { n: n });
    return n === 1 ? texts.offline_one : format(texts.offline, { n: n });
  }

  async function send(item) {
    return fetch("/launches/" + encodeURIComponent(slug) + "/enquiries", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(item),
    });
  }

  async function flush() {
    if (sending) return;
    sending = true;
    clearTimeout(retryTimer);
    let hadTrouble = !connection.hidden;
    try {
      let queue = load();
      while (queue.length) {
        const item = queue[0];
        let response;
        // The notices count load(), not queue: ticks made while this one was on its way wait too.
        try {
          response = await send(item);
        } catch (e) {
          showConnection(waitingMessage(load().length));
          scheduleRetry();
          return;
        }
        if (response.status === 401) {
          showConnection(waitingMessage(load().length, texts.signed_out));
          scheduleRetry();
          return;
        }
        if (response.status === 403 && (await errorCode(response)) === "csrf") {
          // Signed in again (in another tab): this page's token belongs to the old session.
          // Fetch the current one and try again; the waiting ticks stay queued meanwhile.
          const renewed = await renewToken();
          if (renewed === "ok") continue;
          showConnection(waitingMessage(load().length, renewed === "someone_else" ? texts.someone_else : texts.signed_out));
          scheduleRetry();
          return;
        }
        if (response.status >= 500 || response.status === 429 || response.status === 408) {
          showConnection(waitingMessage(load().length));
          scheduleRetry();
          return;
        }
        let body = {};
        try { body = await response.json(); } catch (e) { body = {}; }
        unqueue(item.idempotency_key);
        if (response.ok) {
          toast(item, body.id);
        } else {
          reject(item, body.error || {});
        }
        queue = load();
      }
      retryDelay = RETRY_MIN_MS;
      if (hadTrouble) {
        showConnection(texts.back);
        setTimeout(() => { if (!load().length) showConnection(null); }, 4000);
      }
      refresh();
    } finally {
      sending = false;
    }
  }

  async function errorCode(response) {
    try {
      const body = await response.clone().json();
      return (body.error || {}).code || null;
    } catch (e) {
      return null;
    }
  }

  async function renewToken() {
    try {
      const response = await fetch("/csrf-token", { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (!response.ok) return "failed";
      const body = await response.json();
      // On a shared computer the new sign-in may be someone else's: never send this agent's ticks as theirs.
      if (String(body.user) !== root.dataset.user) return "someone_else";
      if (!body.token || body.token === csrf) return "failed";
      csrf = body.token;
      document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRF-Token": csrf }));
      return "ok";
    } catch (e) {
      return "failed";
    }
  }

  function reject(item, error, prefix) {
    const message = (error.code && texts.errors[error.code]) || error.message || "";
    const p = document.createElement("p");
    p.className = "error-box";
    p.textContent = prefix ? prefix + " " + message : texts.rejected + " " + textFor(item.hypotheses) + ". " + message;
    rejections.appendChild(p);
    setTimeout(() => p.remove(), 20000);
    refresh();
  }

  // --- feedback and undo -----------------------------------------------------------

  function toast(item, id) {
    const box = document.createElement("div");
    box.className = "toast";
    const text = document.createElement("span");
    text.textContent = texts.logged + ": " + textFor(item.hypotheses);
    const undo = document.createElement("button");
    undo.type = "button";
    undo.className = "small";
    undo.textContent = texts.undo + " (U)";
    undo.addEventListener("click", () => undoLogged(box, id));
    box.append(text, " ", undo);
    box.dataset.id = String(id);
    toasts.prepend(box);
    while (toasts.children.length > 3) toasts.lastElementChild.remove();
    setTimeout(() => box.remove(), UNDO_SECONDS * 1000);
  }

  async function undoLogged(box, id) {
    // Asked once: a second click, or U, must not ask again (it would be told "not found"); U now means the one before.
    if (!box.hasAttribute("data-id")) return;
    box.removeAttribute("data-id");
    const response = await fetch("/enquiries/" + id + "/undo", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    }).catch(() => null);
    if (!response || response.status >= 500 || response.status === 429) {
      box.dataset.id = String(id);  // not reached, or not saved: the agent can try again
      if (response) reject({ hypotheses: [] }, { code: "unavailable" }, texts.not_undone);
      return;
    }
    if (response.ok) {
      box.textContent = texts.undone;
      setTimeout(() => box.remove(), 3000);
      refresh();
    } else {
      let body = {};
      try { body = await response.json(); } catch (e) { body = {}; }
      reject({ hypotheses: [] }, body.error || {}, texts.not_undone);
    }
  }

  function undoLast() {
    // The newest tick is a waiting one, if any: take it back out of the queue.
    const queue = load();
    // (The first one may be on its way already; a later one is not.)
    if (queue.length > (sending ? 1 : 0)) {
      const item = queue[queue.length - 1];
      unqueue(item.idempotency_key);
      showConnection(queue.length > 1 ? waitingMessage(queue.length - 1) : null);
      refresh();
      return;
    }
    const latest = toasts.querySelector(".toast[data-id]");
    if (latest) undoLogged(latest, latest.dataset.id);
  }

  // --- combining several hypotheses into one enquiry ---------------------------------

  function boxFor(key) {
    return root.querySelector('.combine-box[value="' + key + '"]');
  }

  function selection() {
    return Array.from(root.querySelectorAll(".combine-box:checked")).map((b) => b.value);
  }

  function updateCombine() {
    const keys = selection();
    buttons.forEach((b) => b.closest(".tick-row").classList.toggle("selected", keys.includes(b.dataset.key)));
    combineBar.hidden = keys.length === 0;
    combineText.textContent = keys.length ? format(texts.selected, { n: keys.length }) : "";
  }

  function toggle(key) {
    const box = boxFor(key);
    if (box && !box.disabled) {
      box.checked = !box.checked;
      updateCombine();
    }
  }

  function logSelection() {
    const keys = selection();
    if (!keys.length) return;
    root.querySelectorAll(".combine-box:checked").forEach((b) => { b.checked = false; });
    updateCombine();
    enqueue(keys, null);
  }

  function clearSelection() {
    root.querySelectorAll(".combine-box:checked").forEach((b) => { b.checked = false; });
    updateCombine();
  }

  // --- other ----------------------------------------------------------------------

  function openOther() {
    otherForm.hidden = false;
    otherButton.setAttribute("aria-expanded", "true");
    otherNote.focus();
  }

  function closeOther() {
    otherForm.hidden = true;
    otherNote.value = "";
    otherButton.setAttribute("aria-expanded", "false");
    otherButton.focus();
  }

  // --- wiring -------------------------------------------------------------------------

  buttons.forEach((b) => b.addEventListener("click", () => {
    if (selection().length) toggle(b.dataset.key);
    else enqueue([b.dataset.key], null);
  }));
  root.querySelectorAll(".combine-box").forEach((b) => b.addEventListener("change", updateCombine));
  document.getElementById("log-selected").addEventListener("click", logSelection);
  document.getElementById("clear-selected").addEventListener("click", clearSelection);
  otherButton.addEventListener("click", openOther);
  document.getElementById("other-cancel").addEventListener("click", closeOther);
  otherForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const note = otherNote.value.trim();
    enqueue([], note);
    closeOther();
  });

  root.querySelectorAll('input[name="channel"], input[name="segment"]').forEach((input) => {
    input.addEventListener("change", () => {
      const form = new URLSearchParams({ [input.name]: input.value, csrf_token: csrf });
      fetch("/me/checklist", { method: "POST", credentials: "same-origin", body: form }).catch(() => {});
    });
  });

  function shortcutOf(event) {
    const code = event.code || "";
    if (code.startsWith("Digit")) return code.slice(5);
    if (code.startsWith("Numpad") && /^\d$/.test(code.slice(6))) return code.slice(6);
    if (code.startsWith("Key")) return code.slice(3).toLowerCase();
    return (event.key || "").toLowerCase();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    const typing = target instanceof HTMLElement && target.closest("input[type=text], input:not([type]), textarea, select");
    if (event.key === "Escape") {
      if (!otherForm.hidden) { event.preventDefault(); closeOther(); return; }
      if (selection().length) { event.preventDefault(); clearSelection(); return; }
      return;
    }
    if (typing) return;
    if (event.key === "Enter" && selection().length) {
      event.preventDefault();
      logSelection();
      return;
    }
    const key = shortcutOf(event);
    if (key === otherButton.dataset.shortcut && !event.shiftKey) {
      if (!otherButton.disabled) { event.preventDefault(); openOther(); }
      return;
    }
    if (key === "u" && !event.shiftKey) {
      event.preventDefault();
      undoLast();
      return;
    }
    const button = byShortcut.get(key);
    if (!button || button.disabled) return;
    event.preventDefault();
    if (event.shiftKey || selection().length) toggle(button.dataset.key);
    else enqueue([button.dataset.key], null);
  });

  window.addEventListener("online", () => { retryDelay = RETRY_MIN_MS; flush(); });
  window.addEventListener("pageshow", flush);
  // Whatever a previous visit left unsent goes first.
  if (load().length) flush();
})();
