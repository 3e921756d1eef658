// The agents' checklist: one keystroke (or click) per enquiry, never lost, never doubled.
//
// Every tick becomes an item in a queue kept in localStorage, with an
// idempotency key made here and its time by the server's clock (sent with it
// when it waited). The queue is sent in order; an item leaves it only
// when the server has answered: with success (shown, undoable) or with a
// refusal (shown, since retrying cannot help). Network failures and server
// errors keep the item, say which of the two it was, and retry: the same key
// means a retry that did reach the server before is not counted twice.
//
// A held key (auto-repeat) is one press, and the same tick again within
// SAME_TICK_MS is the same enquiry; a click on a hypothesis's button just after
// a button went away with its press is that press again. Every few seconds the page asks for the
// list's version; when a lead changed the list, the buttons are swapped for the
// new ones and a notice says what changed. A tick refused because its
// hypothesis left the list is kept, to be logged again with one key.
(function () {
  "use strict";

  const root = document.getElementById("checklist");
  if (!root) return;

  const slug = root.dataset.slug;
  const texts = JSON.parse(root.dataset.texts);
  let csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
  // Per person and launch: on a shared computer, the next person never sends someone else's ticks.
  const queueKey = "tally:queue:" + root.dataset.user + ":" + slug;
  const keptKey = "tally:not-logged:" + root.dataset.user + ":" + slug;
  // The Other note being typed, kept by this tab alone (sessionStorage) until it is queued or dropped: a
  // reload, or a session that ended mid-call and a sign-in back to this page, lost it. Signing out
  // drops it (a shared desk); closing the tab does too.
  const draftKey = "tally:note-draft:" + root.dataset.user + ":" + slug;
  const UNDO_SECONDS = 15;
  const RETRY_MIN_MS = 2000;
  const RETRY_MAX_MS = 30000;
  // Two identical ticks closer than this are one enquiry pressed twice (a bounce, a double-click);
  // two deliberate enquiries are seconds apart, at the least.
  const SAME_TICK_MS = 500;
  const NOTICE_MS = 4000;
  const REFUSAL_MS = 20000;
  const KEPT_MAX = 20;
  const POLL_MS = (Number(root.dataset.pollSeconds) || 5) * 1000;
  const NOTE_LIMIT = Number(root.dataset.noteLimit) || 500;
  const RELOG_KEY = ".";
  // A tick sent later than this after it was made waited (for the connection, a reload, the ticks
  // before it): it says when it was made.
  const WAITED_MS = 5000;
  // A tick unanswered this long is taken for one that cannot get through (a server that hangs, a network
  // that drops packets without a word): the browser would wait minutes, the agent told nothing and every
  // later tick waiting behind it. Given up, it waits in the queue and is sent again with its own key.
  const SEND_TIMEOUT_MS = 10000;
  const LIST_GONE = ["retired_hypothesis", "unknown_hypothesis"];
  const base = "/launches/" + encodeURIComponent(slug);

  let board = document.getElementById("board");
  let buttons = [];
  const byShortcut = new Map();
  const otherForm = document.getElementById("other-form");
  const otherNote = document.getElementById("other-note");
  const combineBar = document.getElementById("combine-bar");
  const combineText = document.getElementById("combine-text");
  const logSelected = document.getElementById("log-selected");
  const connection = document.getElementById("connection");
  const rejections = document.getElementById("rejections");
  const toasts = document.getElementById("toasts");
  const changes = document.getElementById("changes");
  const notLogged = document.getElementById("not-logged");
  const notLoggedList = document.getElementById("not-logged-list");
  const plurals = new Intl.PluralRules(document.documentElement.lang || "en");

  let sending = false;
  let flushAgain = false;
  let retryDelay = RETRY_MIN_MS;
  let retryTimer = null;
  let lastTick = null;  // {signature, at}: the latest tick, to tell a second press from a second enquiry
  let goneAt = -Infinity;  // when a button went away with its press, or focus was moved off one: see the wiring
  let guesses = 0;  // changes made on screen ahead of the server (bump), to tell a stale count from a fresh one
  // How far the server's clock is ahead of this computer's, from the time the page was made (a little
  // early by the time it took to arrive: a tick's time is never ahead of the server's). Set again from
  // an answer's Date header when this computer's clock has since been set otherwise (learnClock).
  let clockOffset = Date.parse(root.dataset.serverNow) - Date.now() || 0;

  // --- small helpers ---------------------------------------------------------------

  function format(text, values) {
    return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
  }

  function plural(forms, n) {
    // The server gives each text with a count in every plural form of the page's language.
    return format(forms[plurals.select(n)] || forms.other, { n: n });
  }

  function newKey() {
    // crypto.randomUUID only exists on https and localhost; this works everywhere.
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function selected(name) {
    const input = board.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : null;
  }

  function index() {
    buttons = Array.from(board.querySelectorAll("button.tick[data-key]"));
    byShortcut.clear();
    buttons.forEach((b) => { if (b.dataset.shortcut) byShortcut.set(b.dataset.shortcut, b); });
  }

  function otherButton() {
    return document.getElementById("other-button");
  }

  function isOpen() {
    return board.dataset.open === "true";
  }

  function textFor(keys) {
    if (!keys.length) return texts.other;
    return keys.map((k) => {
      const b = buttons.find((x) => x.dataset.key === k);
      return b ? b.dataset.text : k;
    }).join(" + ");
  }

  function labelOf(item) {
    return item.label || textFor(item.hypotheses);
  }

  function counted(keys, delta) {
    // Counted on screen at once (and taken back so); the next refresh from the server replaces the guess.
    keys.forEach((k) => bump("count-" + k, delta));
    if (!keys.length) bump("count-other", delta);
    bump("mine-today", delta);
    bump("team-since", delta);
  }

  function bump(id, delta) {
    guesses += 1;
    const n = document.querySelector("#" + CSS.escape(id) + " .n") || document.getElementById(id);
    if (!n) return;
    const value = parseInt(n.textContent, 10);
    if (!Number.isNaN(value)) n.textContent = String(Math.max(0, value + delta));
  }

  function refresh() {
    if (window.htmx) window.htmx.trigger(document.body, "tally:changed");
  }

  function smallButton(text, onClick, name) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.textContent = text;
    if (name) button.setAttribute("aria-label", name);
    button.addEventListener("click", onClick);
    return button;
  }

  // --- the queue ----------------------------------------------------------------------

  function read(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "[]");
    } catch (e) {
      return [];
    }
  }

  function load() {
    return read(queueKey);
  }

  const queuePrefix = "tally:queue:" + root.dataset.user + ":";

  function waitingByLaunch() {
    // This agent's ticks still waiting on other launches' checklists, in this browser, by launch: only
    // those checklists send them.
    const found = new Map();
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const key = localStorage.key(i);
        if (!key || key === queueKey || !key.startsWith(queuePrefix)) continue;
        const n = read(key).length;
        if (n) found.set(key.slice(queuePrefix.length), n);
      }
    } catch (e) {
      /* no storage: nothing can wait in it */
    }
    return found;
  }

  function waitingElsewhere() {
    // Signing out here must not leave them unsaid.
    let n = 0;
    for (const count of waitingByLaunch().values()) n += count;
    return n;
  }

  const elsewhere = document.getElementById("elsewhere");

  function renderElsewhere() {
    // An agent who moved on to another launch's checklist while ticks waited on the first was told
    // nothing of them until Sign out: they go only when that checklist is open, so say where they are.
    if (!elsewhere) return;
    const lines = [];
    for (const [other, n] of waitingByLaunch()) {
      const line = document.createElement("span");
      const forms = texts.waiting_elsewhere;
      const [before, after] = (forms[plurals.select(n)] || forms.other).split("{launch}");
      const link = document.createElement("a");
      link.href = "/launches/" + encodeURIComponent(other) + "/checklist";
      link.textContent = other;
      line.append(format(before, { n: n }), link, format(after || "", { n: n }));
      lines.push(line);
    }
    elsewhere.replaceChildren(...lines.flatMap((line, i) => (i ? [document.createElement("br"), line] : [line])));
    elsewhere.hidden = !lines.length;
  }

  function save(queue) {
    localStorage.setItem(queueKey, JSON.stringify(queue));
  }

  function enqueue(keys, note, from) {
    if (!isOpen()) return false;
    const missing = from ? [] : missingChoice();
    if (missing.length) {
      askToChoose(keys, missing);
      return false;
    }
    const channel = (from && from.channel) || selected("channel");
    const segment = (from && from.segment) || selected("segment");
    const signature = JSON.stringify([keys.slice().sort(), channel, segment, note || null]);
    const now = Date.now();
    if (lastTick && lastTick.signature === signature && now - lastTick.at < SAME_TICK_MS) {
      // The same enquiry, pressed twice: it keeps the first press's idempotency key, so it is the
      // item already queued or the enquiry the server already confirmed. Nothing more to send
      // (sending that key again after an undo would log the enquiry anew).
      lastTick.at = now;
      countedOnce(lastTick.key);
      return false;
    }
    const item = {
      idempotency_key: newKey(),
      hypotheses: keys,
      channel: channel,
      segment: segment,
      note: note || null,
      label: textFor(keys),  // as the agent saw it, should the hypothesis leave the list meanwhile
      at: Date.now() + clockOffset,  // when it was ticked, by the server's clock
      made: Date.now(),  // and by this computer's, to tell how long it waited whatever the offset does since
    };
    lastTick = { signature: signature, at: now, key: item.idempotency_key };
    const queue = load();
    queue.push(item);
    save(queue);
    counted(keys, 1);
    flush();
    return true;
  }

  function unqueue(idempotencyKey) {
    const queue = load();
    const rest = queue.filter((i) => i.idempotency_key !== idempotencyKey);
    save(rest);
    return rest.length !== queue.length;
  }

  function showConnection(message, kind) {
    connection.classList.toggle("server-error", kind === "server");
    connection.dataset.kind = message ? kind || "network" : "";
    // Emptied, never hidden: a live region out of the accessibility tree when its text comes is not read out.
    connection.textContent = message || "";
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(flush, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
  }

  function waitingMessage(n, forms) {
    return plural(forms || texts.offline, n);
  }

  function learnClock(response) {
    // The header counts whole seconds: only a jump larger than that moves the offset (a computer's clock
    // put right while the page was open), to the middle of the second the header names.
    const said = Date.parse(response.headers.get("Date") || "");
    if (Number.isNaN(said)) return;
    const offset = said + 500 - Date.now();
    if (Math.abs(offset - clockOffset) > 2000) clockOffset = offset;
  }

  function occurredAt(item, retry) {
    // A tick that waited counts from when it was ticked, not from when it reached the server: it stays
    // in its digest and its day (after the launch's last day it would be refused). One sent at once
    // says nothing of its time: the server's own is right.
    if (!item.at || item.timeless || !(retry || Date.now() - (item.made || 0) > WAITED_MS)) return null;
    return new Date(item.at).toISOString().replace("Z", "+00:00");
  }

  async function send(item, occurred) {
    const body = {
      idempotency_key: item.idempotency_key,
      hypotheses: item.hypotheses,
      channel: item.channel,
      segment: item.segment,
      note: item.note,
    };
    if (occurred) body.occurred_at = occurred;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), SEND_TIMEOUT_MS);
    try {
      return await fetch(base + "/enquiries", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async function flush() {
    if (sending) {
      // A tick queued while the last answer is being handled: the loop below may have read the queue
      // for the last time already, so go round once more when it ends.
      flushAgain = true;
      return;
    }
    sending = true;
    clearTimeout(retryTimer);
    const trouble = connection.dataset.kind === "back" ? null : connection.dataset.kind || null;
    try {
      let queue = load();
      while (queue.length) {
        const item = queue[0];
        // Marked in the shared queue before it leaves: an undo (U, in any tab) then knows the
        // server may have it, and asks for it to be undone once logged rather than dropping it.
        const retry = Boolean(item.sent);  // tried before, here or by an earlier page
        if (!retry) {
          item.sent = true;
          save(queue);
        }
        const occurred = occurredAt(item, retry);
        let response;
        // The notices count load(), not queue: ticks made while this one was on its way wait too.
        try {
          response = await send(item, occurred);
        } catch (e) {
          showConnection(waitingMessage(load().length), "network");
          scheduleRetry();
          return;
        }
        learnClock(response);
        if (response.status === 401) {
          showConnection(waitingMessage(load().length, texts.signed_out), "signed_out");
          scheduleRetry();
          return;
        }
        if (response.status === 403 && (await errorCode(response)) === "csrf") {
          // Signed in again (in another tab): this page's token belongs to the old session.
          // Fetch the current one and try again; the waiting ticks stay queued meanwhile.
          const renewed = await renewToken();
          if (renewed === "ok") continue;
          showConnection(
            waitingMessage(load().length, renewed === "someone_else" ? texts.someone_else : texts.signed_out),
            "signed_out",
          );
          scheduleRetry();
          return;
        }
        if (response.status === 409 && occurred && (await errorCode(response)) === "idempotency_key_reused") {
          // Its first try, sent without its time, reached the server after all, which took the time
          // it arrived: told apart from it by that alone. Asked again as first sent, it is that one.
          item.timeless = true;
          continue;
        }
        if (response.status >= 500 || response.status === 429 || response.status === 408) {
          // The server was reached and failed (or is busy): not the agent's connection.
          showConnection(waitingMessage(load().length, texts.server_error), "server");
          scheduleRetry();
          return;
        }
        let body = {};
        try { body = await response.json(); } catch (e) { body = {}; }
        // As the queue holds it now: pressed twice meanwhile, it says so.
        const answered = load().find((i) => i.idempotency_key === item.idempotency_key) || item;
        unqueue(item.idempotency_key);
        if (response.ok && answered.undo) {
          undoLogged(toast(answered, body.id), body.id);  // taken back while it was on its way
        } else if (response.ok) {
          toast(answered, body.id, Boolean(body.note_masked));
        } else if (answered.undo) {
          // Refused, and taken back meanwhile: nothing to keep for logging again.
        } else {
          reject(item, body.error || {});
        }
        queue = load();
      }
      retryDelay = RETRY_MIN_MS;
      if (trouble) {
        showConnection(trouble === "network" ? texts.back : texts.sent, "back");
        setTimeout(() => { if (!load().length && connection.dataset.kind === "back") showConnection(null); }, 4000);
      }
      refresh();
    } finally {
      sending = false;
      if (flushAgain) {
        flushAgain = false;
        flush();
      }
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

  // --- the session's CSRF token ---------------------------------------------------------
  // The page's token is bound to the session it was loaded in. Signing in again, or changing the
  // password, in another tab starts a new session: every post of this page is then refused as "out of
  // date" until the page has the new token. Each state-changing action asks for it once when refused
  // so, and tries again; the forms of the top bar (Sign out, the language's Change), which the browser
  // posts itself, get it before they go.

  async function currentToken() {
    // The browser's sign-in now: {token, user}, or "signed_out", or "failed" (offline, the server down).
    try {
      const response = await fetch("/csrf-token", { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (response.status === 401) return "signed_out";
      if (!response.ok) return "failed";
      const body = await response.json();
      return body.token ? body : "failed";
    } catch (e) {
      return "failed";
    }
  }

  function useToken(token) {
    csrf = token;
    document.body.setAttribute("hx-headers", JSON.stringify({ "X-CSRF-Token": csrf }));
    document.querySelectorAll('input[name="csrf_token"]').forEach((field) => { field.value = csrf; });
  }

  async function renewToken() {
    const current = await currentToken();
    if (typeof current === "string") return current;
    // On a shared computer the new sign-in may be someone else's: never send this agent's ticks as theirs.
    if (String(current.user) !== root.dataset.user) return "someone_else";
    if (current.token === csrf) return "failed";  // refused for another reason than the session
    useToken(current.token);
    return "ok";
  }

  async function post(url, init) {
    // A state-changing request (not a tick: flush renews in its loop, saying so on the connection line).
    // Asks for the errors as JSON, to tell a stale token from another refusal.
    for (let renewed = false; ; renewed = true) {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        ...init,
        headers: { "Accept": "application/json", ...(init && init.headers), "X-CSRF-Token": csrf },
      });
      if (renewed || response.status !== 403 || (await errorCode(response)) !== "csrf") return response;
      if ((await renewToken()) !== "ok") return response;
    }
  }

  function reject(item, error, prefix) {
    if (!prefix && LIST_GONE.includes(error.code)) {
      keep(item);
      return;
    }
    // Sent again at once (a note put right), it is a new try, not the same press twice (see enqueue).
    const latest = Boolean(lastTick && item.idempotency_key && lastTick.key === item.idempotency_key);
    if (latest) lastTick = null;
    if (!prefix && item.note) restoreNote(item.note, latest);
    const message = (error.code && texts.errors[error.code]) || error.message || "";
    const p = document.createElement("p");
    p.className = "error-box";
    p.textContent = prefix ? prefix + " " + message : texts.rejected + " " + labelOf(item) + ". " + message;
    rejections.appendChild(p);
    setTimeout(() => p.remove(), REFUSAL_MS);
    // Said where the agent is looking too: on a phone scrolled down to the buttons, the box at the top
    // is out of sight. Read out once, by the box (an alert).
    notice(p.textContent, { refusal: true, ms: REFUSAL_MS });
    refresh();
  }

  // --- refused because the list changed: kept, to be logged again ----------------------

  function kept() {
    return read(keptKey);
  }

  function saveKept(list) {
    localStorage.setItem(keptKey, JSON.stringify(list.slice(-KEPT_MAX)));
  }

  function keep(item) {
    // Logging it again is deliberate, however soon: not the same press twice (see enqueue).
    if (lastTick && lastTick.key === item.idempotency_key) lastTick = null;
    const list = kept().filter((k) => k.idempotency_key !== item.idempotency_key);
    list.push({
      idempotency_key: item.idempotency_key,
      hypotheses: item.hypotheses,
      channel: item.channel,
      segment: item.segment,
      label: labelOf(item),
    });
    saveKept(list);
    renderKept();
    notice(texts.rejected + " " + labelOf(item));  // near the buttons (and read out): the box is at the top
    refresh();
    checkList();  // the page's list is out of date: bring it up to date now, not at the next poll
  }

  function forget(entry, keys) {
    saveKept(kept().filter((k) => k.idempotency_key !== entry.idempotency_key));
    renderKept(keys);
  }

  function onList(keys) {
    return keys.filter((k) => buttons.some((b) => b.dataset.key === k));
  }

  function relog(entry, keys) {
    if (!isOpen()) return;
    // Logged again or dismissed in another tab since this list was drawn: it would be logged twice.
    if (!kept().some((k) => k.idempotency_key === entry.idempotency_key)) {
      renderKept();
      return;
    }
    // As Other, the note says what it was about; either way with the channel and customer it had.
    const note = keys.length ? null : entry.label.slice(0, NOTE_LIMIT);
    // Forgotten only once queued: an identical entry logged a moment before is taken for a second
    // press and not queued, and must stay in the list to be logged in its turn.
    if (enqueue(keys, note, entry)) forget(entry, keys);
  }

  function relogNewest() {
    const list = kept();
    if (!list.length) return false;
    const entry = list[list.length - 1];
    relog(entry, onList(entry.hypotheses));
    return true;
  }

  function keepKeptFocus(keys) {
    // Focus in the list stays on its button, rebuilt. Its entry gone, focus goes to the entry now in its
    // place (the item itself, not a button: Enter pressed twice must not act on that one too); none left,
    // to the board (keys: the hypotheses the entry was logged again as).
    const items = Array.from(notLoggedList.children);
    const at = items.findIndex((li) => li.contains(document.activeElement));
    if (at < 0) return () => {};
    const key = items[at].dataset.key;
    const nth = Array.from(items[at].querySelectorAll("button")).indexOf(document.activeElement);
    return () => {
      const now = Array.from(notLoggedList.children);
      const same = now.find((li) => li.dataset.key === key);
      const place = same ? same.querySelectorAll("button")[nth] || same : now[Math.min(at, now.length - 1)];
      if (place) place.focus();
      else focusHome(keys);
    };
  }

  function renderKept(keys) {
    const restoreFocus = keepKeptFocus(keys);
    const list = kept();
    notLoggedList.replaceChildren();
    list.slice().reverse().forEach((entry, i) => {
      const li = document.createElement("li");
      li.dataset.key = entry.idempotency_key;
      li.tabIndex = -1;
      const what = document.createElement("span");
      what.textContent = entry.label;
      li.append(what);
      const remaining = onList(entry.hypotheses);
      const actions = [];
      if (remaining.length) {
        actions.push(smallButton(format(texts.log_again_as, { text: textFor(remaining) }), () => relog(entry, remaining)));
      }
      actions.push(smallButton(
        texts.log_as_other, () => relog(entry, []), format(texts.log_as_other_named, { text: entry.label }),
      ));
      if (i === 0) {
        // The newest one: "." does what its first button does.
        const hint = document.createElement("kbd");
        hint.textContent = RELOG_KEY;
        hint.setAttribute("aria-hidden", "true");
        actions[0].append(" ", hint);
        actions[0].setAttribute("aria-keyshortcuts", RELOG_KEY);
        actions[0].classList.add("primary");
      }
      actions.forEach((button) => { button.disabled = !isOpen(); });
      li.append(...actions, smallButton(texts.dismiss, () => forget(entry), format(texts.dismiss_named, { text: entry.label })));
      notLoggedList.append(li);
    });
    notLogged.hidden = list.length === 0;
    restoreFocus();
  }

  // --- the list changed: new buttons, and what changed -------------------------------

  function describe() {
    return buttons.map((b) => ({ key: b.dataset.key, text: b.dataset.text, shortcut: b.dataset.shortcut || "" }));
  }

  let checking = null;

  function checkList() {
    if (!checking) checking = askVersion().finally(() => { checking = null; });
    return checking;
  }

  async function askVersion() {
    try {
      const response = await fetch(base + "/checklist/version", {
        credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" },
      });
      if (!response.ok) return;
      const body = await response.json();
      if (body.version && body.version !== board.dataset.version) await updateBoard();
    } catch (e) {
      // Offline, or the server is down: the next poll asks again.
    }
  }

  function keepBoardFocus() {
    // Focus in the board stays on its element, in the new one; gone (its hypothesis retired), it goes
    // to the next hypothesis's button still there, else to the first.
    const el = document.activeElement;
    if (!el || !board.contains(el)) return () => {};
    let selector = null;
    if (el.id) selector = "#" + CSS.escape(el.id);
    else if (el.matches("button.tick[data-key]")) selector = 'button.tick[data-key="' + CSS.escape(el.dataset.key) + '"]';
    else if (el.matches(".combine-box")) selector = '.combine-box[value="' + CSS.escape(el.value) + '"]';
    else if (el.matches("input")) selector = 'input[name="' + CSS.escape(el.name) + '"][value="' + CSS.escape(el.value) + '"]';
    const row = el.closest(".tick-row[data-key]");
    const next = row ? buttons.slice(buttons.findIndex((b) => row.contains(b)) + 1).map((b) => b.dataset.key) : undefined;
    return () => {
      const again = selector && board.querySelector(selector);
      if (again) again.focus();
      else focusHome(next);
    };
  }

  async function updateBoard() {
    const response = await fetch(base + "/checklist", {
      credentials: "same-origin", cache: "no-store", headers: { "HX-Request": "true", "Accept": "text/html" },
    });
    if (!response.ok) return;
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    const fresh = template.content.getElementById("board");
    if (!fresh) return;
    // What the agent had chosen stays chosen, where it still exists. A channel or customer type no
    // longer offered (renamed, removed) is not swapped for the one the new board has checked: the next
    // ticks would count under another channel than the agent's, unnoticed. None is chosen, the box says
    // why, and ticks wait for a choice (missingChoice).
    const chosen = { channel: selected("channel"), segment: selected("segment") };
    const shown = {};  // the chosen ones' labels, as the agent knows them (a default's is translated)
    board.querySelectorAll('input[type="radio"]:checked').forEach((input) => {
      shown[input.name] = input.closest("label").textContent.trim();
    });
    const picked = selection();
    const restoreFocus = keepBoardFocus();
    board.replaceWith(fresh);
    board = fresh;
    Object.entries(chosen).forEach(([name, value]) => {
      const input = value && board.querySelector('input[name="' + name + '"][value="' + CSS.escape(value) + '"]');
      if (input) {
        input.checked = true;
        return;
      }
      board.querySelectorAll('input[name="' + name + '"]').forEach((other) => { other.checked = false; });
      if (value) gone[name] = shown[name] || value;
    });
    picked.forEach((key) => {
      const box = boxFor(key);
      if (box && !box.disabled) box.checked = true;
      else if (!box) leftOut.push(textFor([key]));  // as the agent knew it (buttons are still the old ones)
    });
    index();
    updateCombine();
    const other = otherButton();
    if (other) other.setAttribute("aria-expanded", String(!otherForm.hidden));
    restoreFocus();
    showChanges();
    renderKept();
  }

  // The box says how the list differs from the one the agent last saw in full (on opening the page, or
  // when they dismissed the box): one line per hypothesis, with its key now, whatever edits came between.
  let acknowledged = [];
  const seen = new Set();  // every hypothesis the agent has seen on the list: one put back is not new
  const gone = { channel: null, segment: null };  // the agent's choice, no longer offered, until they choose again

  function acknowledge() {
    acknowledged = describe();
    acknowledged.forEach((b) => seen.add(b.key));
    gone.channel = gone.segment = null;
    emptyChanges();
  }

  function emptyChanges() {
    const focused = changes.contains(document.activeElement);  // its Dismiss
    changes.replaceChildren();
    if (focused) focusHome();
  }

  function showChanges() {
    const now = describe();
    const was = new Map(acknowledged.map((b) => [b.key, b]));
    const is = new Map(now.map((b) => [b.key, b]));
    const lines = [];
    acknowledged.forEach((b) => { if (!is.has(b.key)) lines.push([format(texts.retired, { text: b.text }), ""]); });
    now.forEach((b) => {
      const old = was.get(b.key);
      if (!old) lines.push([format(seen.has(b.key) ? texts.back_on_list : texts.new, { text: b.text }), b.shortcut]);
      else if (old.text !== b.text) lines.push([format(texts.reworded, { text: b.text }), b.shortcut]);
      else if (old.shortcut !== b.shortcut) lines.push([format(texts.moved, { text: b.text }), b.shortcut]);
    });
    const parts = [];
    if (lines.length) {
      const heading = document.createElement("p");
      heading.textContent = texts.changed;
      const list = document.createElement("ul");
      lines.forEach(([text, shortcut]) => {
        const li = document.createElement("li");
        li.textContent = text;
        if (shortcut) {
          const kbd = document.createElement("kbd");
          kbd.textContent = shortcut;
          li.append(" ", kbd);
        }
        list.append(li);
      });
      parts.push(heading, list);
    }
    Object.entries(gone).forEach(([name, value]) => {
      if (!value) return;
      const p = document.createElement("p");
      p.textContent = format(texts[name + "_gone"], { value: value });
      parts.push(p);
    });
    if (!parts.length) {
      emptyChanges();
      return;
    }
    // Replaced, not added to: a box that still had the last edit's lines said two things of one hypothesis.
    const focused = changes.contains(document.activeElement);
    const dismiss = smallButton(texts.dismiss, acknowledge);
    changes.replaceChildren(...parts, dismiss);
    if (focused) dismiss.focus();
  }

  function missingChoice() {
    // The toggles left with none chosen (a choice no longer offered): a tick would have no channel.
    return ["channel", "segment"].filter((name) => !selected(name) && board.querySelector('input[name="' + name + '"]'));
  }

  function askToChoose(keys, missing) {
    reject({ hypotheses: keys }, { message: missing.map((name) => texts["choose_" + name]).join(" ") });
  }

  // --- feedback and undo -----------------------------------------------------------

  function trimToasts() {
    while (toasts.children.length > 3) dropToast(toasts.lastElementChild);
  }

  function dropToast(box) {
    // A notice leaving with focus on its Undo must not leave focus nowhere (on the page's body).
    if (box.contains(document.activeElement)) focusHome(JSON.parse(box.dataset.hypotheses || "[]"));
    box.remove();
  }

  function notice(message, options) {
    const { refusal = false, ms = NOTICE_MS } = options || {};
    const box = document.createElement("div");
    box.className = refusal ? "toast notice refusal" : "toast notice";
    box.textContent = message;
    if (refusal) box.setAttribute("aria-hidden", "true");  // the red box at the top says it (role=alert)
    toasts.prepend(box);
    trimToasts();
    setTimeout(() => box.remove(), ms);
  }

  function sayTwice(box) {
    if (box.querySelector(".twice")) return;
    const note = document.createElement("span");
    note.className = "twice";
    note.textContent = texts.counted_once;
    box.append(note);
  }

  function countedOnce(idempotencyKey) {
    // Said on the enquiry's own notice: on a phone only the newest notice is in sight.
    const queue = load();
    const waiting = queue.find((i) => i.idempotency_key === idempotencyKey);
    if (waiting) {
      waiting.twice = true;  // its notice, once logged, will say so
      save(queue);
      return;
    }
    const box = toasts.querySelector('.toast[data-key="' + CSS.escape(idempotencyKey) + '"]');
    if (box) sayTwice(box);
    else notice(texts.counted_once);
  }

  function toast(item, id, masked) {
    const box = document.createElement("div");
    box.className = "toast";
    const label = labelOf(item);
    const text = document.createElement("span");
    text.textContent = texts.logged + ": " + label;
    // Named by what it undoes: several "Undo" buttons can be on screen at once.
    const undo = smallButton(texts.undo + " (U)", () => undoLogged(box, id), format(texts.undo_named, { text: label }));
    box.append(text, " ", undo);
    box.dataset.id = String(id);
    box.dataset.key = item.idempotency_key;
    box.dataset.hypotheses = JSON.stringify(item.hypotheses);
    if (item.twice) sayTwice(box);
    if (masked) {
      // The scrubber took personal data out of the note: said, so the agent knows what was stored.
      const said = document.createElement("span");
      said.className = "masked";
      said.textContent = texts.note_masked;
      box.append(said);
    }
    toasts.prepend(box);
    trimToasts();
    setTimeout(() => dropToast(box), UNDO_SECONDS * 1000);
    return box;
  }

  function showUndone(box) {
    // Undone, by its own Undo or U, or from the recent list: U and this button no longer ask for it.
    box.removeAttribute("data-id");
    const focused = box.contains(document.activeElement);
    box.textContent = texts.undone;
    if (focused) focusHome(JSON.parse(box.dataset.hypotheses || "[]"));
    setTimeout(() => dropToast(box), 3000);
  }

  function olderToast(box) {
    let older = box.nextElementSibling;
    while (older && !older.hasAttribute("data-id")) older = older.nextElementSibling;
    return older;
  }

  async function undoLogged(box, id, onward) {
    // Asked once: a second click, or U, must not ask again (it would be told "not found"); U now means the one before.
    if (!box.hasAttribute("data-id")) return;
    box.removeAttribute("data-id");
    lastTick = null;  // the same tick again, just after an undo, is meant
    const response = await post("/enquiries/" + id + "/undo").catch(() => null);
    if (!response || response.status >= 500 || response.status === 429) {
      box.dataset.id = String(id);  // not reached, or not saved: the agent can try again
      if (response) reject({ hypotheses: [] }, { code: "unavailable" }, texts.not_undone);
      return;
    }
    if (response.ok) {
      showUndone(box);
      refresh();
      return;
    }
    let body = {};
    try { body = await response.json(); } catch (e) { body = {}; }
    const error = body.error || {};
    if (error.code === "unknown_enquiry") {
      // Undone already (in another tab, or from the recent list before this page heard of it): as the
      // agent asked. Said so, the list brought up to date, and U goes on to the one before, which the
      // agent meant: refused, it left that one logged.
      showUndone(box);
      refresh();
      const older = onward && olderToast(box);
      if (older) undoLogged(older, older.dataset.id, true);
      return;
    }
    reject({ hypotheses: [] }, error, texts.not_undone);
  }

  function undoLast() {
    lastTick = null;
    // The newest tick is a waiting one, if any: take it back out of the queue.
    const queue = load();
    // One taken back already (to be undone once the server answers) is not taken back again: the
    // next U is for the one before it.
    const waiting = queue.filter((i) => !i.undo);
    if (waiting.length) {
      const item = waiting[waiting.length - 1];
      counted(item.hypotheses, -1);
      notice(texts.undone);
      if (item.sent) {
        // On its way already (from this tab or another), or sent once without an answer: the server
        // may have it. It is undone as soon as it is logged, never just forgotten here.
        item.undo = true;
        save(queue);
        return;
      }
      unqueue(item.idempotency_key);
      const kind = connection.dataset.kind;
      const left = load().length;
      showConnection(left ? waitingMessage(left, kind === "server" ? texts.server_error : null) : null, kind);
      refresh();
      return;
    }
    const latest = toasts.querySelector(".toast[data-id]");
    if (latest) undoLogged(latest, latest.dataset.id, true);
  }

  function focusHome(keys) {
    // Where focus goes when what held it goes away (a notice's Undo, the "N selected" bar's buttons, a
    // box's): the button of the hypothesis it was about, which stays; Other's for Other; without keys,
    // the first hypothesis's.
    const own = !keys ? [] : keys.length ? keys.map((k) => buttons.find((b) => b.dataset.key === k)) : [otherButton()];
    const target = [...own, ...buttons].find((b) => b && !b.disabled) || document.getElementById("main");
    goneAt = Date.now();  // Enter pressed twice on the button that went: the second must not log this one
    target.focus();
  }

  // --- combining several hypotheses into one enquiry ---------------------------------

  function boxFor(key) {
    return board.querySelector('.combine-box[value="' + CSS.escape(key) + '"]');
  }

  function selection() {
    return Array.from(board.querySelectorAll(".combine-box:checked")).map((b) => b.value);
  }

  // Selected hypotheses retired since (updateBoard): out of the selection, but said in the bar until
  // it is logged or cleared, as a tick of a retired one is said "Not logged", never dropped unsaid.
  let leftOut = [];

  function updateCombine() {
    const keys = selection();
    buttons.forEach((b) => b.closest(".tick-row").classList.toggle("selected", keys.includes(b.dataset.key)));
    const said = [keys.length ? plural(texts.selected, keys.length) : ""];
    if (leftOut.length) said.push(format(texts.left_out, { text: leftOut.join(" + ") }));
    // Emptied, never hidden, like the connection's box: its text is a live region.
    combineBar.classList.toggle("empty", !keys.length && !leftOut.length);
    combineText.textContent = said.join(" ").trim();
    logSelected.hidden = !keys.length;
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
    goneAt = Date.now();  // the bar goes: see the wiring
    const missing = missingChoice();
    if (missing.length) {
      askToChoose(keys, missing);  // the selection stays, to log once chosen
      return;
    }
    clearSelection();
    enqueue(keys, null);
  }

  function clearSelection() {
    const keys = selection();
    const focused = combineBar.contains(document.activeElement);  // its buttons are about to go
    board.querySelectorAll(".combine-box:checked").forEach((b) => { b.checked = false; });
    leftOut = [];
    updateCombine();
    if (focused) focusHome(keys.length ? keys : undefined);
  }

  // --- other ----------------------------------------------------------------------

  function openOther() {
    otherForm.hidden = false;
    otherButton().setAttribute("aria-expanded", "true");
    otherNote.focus();
  }

  function keepDraft() {
    try {
      if (otherNote.value.trim()) sessionStorage.setItem(draftKey, otherNote.value);
      else sessionStorage.removeItem(draftKey);
    } catch (e) {
      // Storage full or refused (a private window's quota): the note is only on screen, as before.
    }
  }

  function dropDraft() {
    try { sessionStorage.removeItem(draftKey); } catch (e) { /* as keepDraft */ }
  }

  // A note kept from before a reload comes back in its box, with the cursor at its end, unless the
  // launch no longer has an Other button to open it (closed meanwhile: it is kept for when it opens).
  function restoreDraft() {
    let draft = null;
    try { draft = sessionStorage.getItem(draftKey); } catch (e) { return; }
    const other = otherButton();
    if (!draft || !other || other.disabled) return;
    otherNote.value = draft;
    openOther();
    otherNote.setSelectionRange(draft.length, draft.length);
  }

  function closeOther() {
    otherForm.hidden = true;
    otherNote.value = "";
    dropDraft();
    const other = otherButton();
    other.setAttribute("aria-expanded", "false");
    // Disabled (the launch closed while the box was open), it cannot take focus: it would drop to the body.
    if (other.disabled) focusHome([]);
    else other.focus();
    if (refusedNotes.length) restoreNote(refusedNotes.shift(), false);
  }

  // A note is queued (and the box emptied) at once, like any tick: offline it waits in the queue as
  // typed. Refused by the server, it is not lost: it goes back into the box, to be put right and sent
  // again (or dropped with Esc).
  let noteSentAt = 0;
  const refusedNotes = [];  // refused while the agent was typing another note: each waits for the box

  function restoreNote(note, latest) {
    if (!otherForm.hidden && otherNote.value.trim()) {
      refusedNotes.push(note);
      return;
    }
    otherNote.value = note;
    keepDraft();
    otherForm.hidden = false;
    otherButton().setAttribute("aria-expanded", "true");
    // Refused at once, with nothing logged since, the agent is still at the box (focus on Other's button,
    // where closing it put it): back into the note. Otherwise their keys are logging other enquiries and
    // must go on doing so; 0 or a click reaches the note.
    const atOnce = latest && Date.now() - noteSentAt < NOTICE_MS;
    if (atOnce && document.activeElement === otherButton()) otherNote.focus();
  }

  // --- wiring -------------------------------------------------------------------------
  // On the page's root, not on the buttons: the buttons are swapped when the list changes.

  // A button that goes away with its press (the bar's, a notice's Undo, a box's Dismiss) leaves its
  // place to another: the second click of a double-click lands on whatever is under the pointer now
  // (the strip lets clicks through where it draws nothing, a box gone moves the board up), a second
  // Enter on the hypothesis's button focus was moved to. Within SAME_TICK_MS, a hypothesis's button
  // reached so is that same press again, and logs nothing. Keys log as ever: each names what it logs.
  const GOES_AWAY = "#dock button, #changes button, #not-logged button, #recent button";
  root.addEventListener("click", (event) => {
    // Before the button's own listener, which may take it out of the page.
    if (event.target instanceof Element && event.target.closest(GOES_AWAY)) goneAt = Date.now();
  }, true);
  root.addEventListener("click", (event) => {
    if (!(event.target instanceof Element)) return;
    const button = event.target.closest("button.tick");
    if (!button || !board.contains(button)) return;
    if (Date.now() - goneAt < SAME_TICK_MS) {
      goneAt = Date.now();  // and a third press too
      return;
    }
    if (button === otherButton()) {
      openOther();
    } else if (selection().length) {
      if (event.detail < 2) toggle(button.dataset.key);  // a double-click toggles once
    } else {
      enqueue([button.dataset.key], null);
    }
  });
  root.addEventListener("change", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !board.contains(input)) return;
    if (input.classList.contains("combine-box")) {
      updateCombine();
    } else if (input.name === "channel" || input.name === "segment") {
      if (gone[input.name]) {
        gone[input.name] = null;  // chosen again: the box's line about it has done its work
        showChanges();
      }
      post("/me/checklist", { body: new URLSearchParams({ [input.name]: input.value }) }).catch(() => {});
    }
  });
  logSelected.addEventListener("click", logSelection);
  document.getElementById("clear-selected").addEventListener("click", clearSelection);
  document.getElementById("other-cancel").addEventListener("click", closeOther);
  otherNote.addEventListener("input", keepDraft);
  otherForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const note = otherNote.value.trim();
    if (!isOpen()) {
      // Closed, or past its dates, since the box was opened: nothing is queued. Say why, and keep the
      // note where it was typed, to log once a lead opens the launch again.
      const why = board.querySelector(".error-box");
      reject({ hypotheses: [] }, { message: why ? why.textContent.trim() : texts.errors.launch_not_live });
      return;
    }
    const missing = missingChoice();
    if (missing.length) {
      askToChoose([], missing);  // the note stays in its box, to log once a channel is chosen
      return;
    }
    if (enqueue([], note)) noteSentAt = Date.now();
    closeOther();
  });

  function shortcutOf(event) {
    const code = event.code || "";
    const key = event.key || "";
    if (code.startsWith("Digit")) return code.slice(5);
    // The number pad's keys are digits only with NumLock on; off, they are arrows, Home, Insert and
    // Delete (key tells which), and moving about the page must not log an enquiry.
    if (code.startsWith("Numpad") && /^\d$/.test(code.slice(6))) return key === code.slice(6) ? key : key.toLowerCase();
    if (code.startsWith("Key")) return code.slice(3).toLowerCase();
    if (code === "Period") return RELOG_KEY;
    if (code === "NumpadDecimal") return key === "." || key === "," ? RELOG_KEY : key.toLowerCase();
    return key.toLowerCase();
  }

  function pressesItself(target) {
    // Enter on a focused button, link or summary is that one's: "Clear" clears, it does not log the
    // selection. A hypothesis's button is the exception, where Enter would only add it to the selection.
    const control = target instanceof Element && target.closest("button, a[href], summary");
    return Boolean(control) && !control.matches("button.tick[data-key]");
  }

  function handled(key) {
    const other = otherButton();
    return byShortcut.has(key) || key === "u" || key === RELOG_KEY || Boolean(other && key === other.dataset.shortcut);
  }

  // The Other key opens the note's box and puts the cursor in it: held down (it repeats), or pressed twice
  // quickly, it would go on to type itself into the note. One press opens the box, nothing more.
  let otherKeyHeld = false;
  let otherOpenedAt = 0;

  function otherKeyAgain(event, target) {
    const other = otherButton();
    if (target !== otherNote || !other || shortcutOf(event) !== other.dataset.shortcut) return false;
    return (event.repeat && otherKeyHeld) || (!otherNote.value && Date.now() - otherOpenedAt < SAME_TICK_MS);
  }

  document.addEventListener("keyup", (event) => {
    const other = otherButton();
    if (other && shortcutOf(event) === other.dataset.shortcut) otherKeyHeld = false;
  });

  // Single-key shortcuts can be turned off (WCAG 2.1.4), in this browser: speech input types a word's
  // letters, and each logged an enquiry. Enter and Esc, and every button, still work.
  const SINGLE_KEYS_OFF = "tally:single-keys-off";
  const singleKeys = document.getElementById("single-keys");
  let singleKeysOn = true;
  try {
    singleKeysOn = localStorage.getItem(SINGLE_KEYS_OFF) !== "1";
  } catch (e) {
    /* no storage: on, as by default */
  }
  if (singleKeys) {
    singleKeys.checked = singleKeysOn;
    singleKeys.addEventListener("change", () => {
      singleKeysOn = singleKeys.checked;
      try {
        if (singleKeysOn) localStorage.removeItem(SINGLE_KEYS_OFF);
        else localStorage.setItem(SINGLE_KEYS_OFF, "1");
      } catch (e) {
        /* no storage: for this page */
      }
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    const typing = target instanceof HTMLElement && target.closest("input[type=text], input:not([type]), textarea, select");
    if (otherKeyAgain(event, target)) {
      event.preventDefault();
      return;
    }
    if (event.repeat) {
      // A held key repeats its keydown: one press, one enquiry (and no repeated Enter on a focused button).
      if (!typing && (event.key === "Enter" || handled(shortcutOf(event)))) event.preventDefault();
      return;
    }
    if (event.key === "Escape") {
      if (!otherForm.hidden) { event.preventDefault(); closeOther(); return; }
      if (selection().length || leftOut.length) { event.preventDefault(); clearSelection(); return; }
      return;
    }
    if (typing) return;
    if (event.key === "Enter" && selection().length && !pressesItself(target)) {
      event.preventDefault();
      logSelection();
      return;
    }
    if (!singleKeysOn) return;
    const key = shortcutOf(event);
    const other = otherButton();
    if (other && key === other.dataset.shortcut && !event.shiftKey) {
      if (!other.disabled) {
        event.preventDefault();
        otherKeyHeld = true;
        otherOpenedAt = Date.now();
        openOther();
      }
      return;
    }
    if (key === "u" && !event.shiftKey) {
      event.preventDefault();
      undoLast();
      return;
    }
    if (key === RELOG_KEY && !event.shiftKey) {
      if (relogNewest()) event.preventDefault();
      return;
    }
    const button = byShortcut.get(key);
    if (!button || button.disabled) return;
    event.preventDefault();
    if (event.shiftKey || selection().length) toggle(button.dataset.key);
    else enqueue([button.dataset.key], null);
  });

  // A count asked for before the latest tick or undo, or while ticks waited to be sent, does not
  // know of them: shown, it would take the number the agent just saw go up back down. htmx queues
  // the refresh the tick asked for behind it, and that one is shown.
  const countsPoll = document.getElementById("counts-poll");
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt !== countsPoll) return;
    countsPoll.dataset.askedAt = String(guesses);
    countsPoll.dataset.askedWhileWaiting = load().length ? "1" : "";
  });
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.elt !== countsPoll) return;
    if (countsPoll.dataset.askedAt !== String(guesses) || countsPoll.dataset.askedWhileWaiting) {
      event.detail.shouldSwap = false;
    }
  });

  // A session that ended is told by the next of the page's own requests (a poll: 401 with HX-Redirect),
  // and htmx went to sign-in at once: with the agent mid-call, the Other note being typed was lost and
  // the rest of it typed into the sign-in form; hypotheses selected to combine were lost too. While the
  // Other box is open or a selection is made, the page stays and says so; once the note or selection
  // is logged (it waits in the queue) or dropped, the next poll goes to sign-in.
  function midEntry() {
    return !otherForm.hidden || selection().length > 0 || leftOut.length > 0;
  }
  // A 401 may also be a poll sent with the old session's cookie just as this agent changed the password
  // (or signed in again) in another tab: the browser has a new session by the time the answer comes, and
  // leaving for sign-in reloaded the page without its notices (their Undo gone). The browser's sign-in is
  // asked first; still this agent's, the page stays and takes its token.
  document.body.addEventListener("htmx:beforeOnLoad", (event) => {
    const { xhr, elt } = event.detail;
    if (xhr.status !== 401 || !root.contains(elt)) return;
    event.preventDefault();  // before htmx reads HX-Redirect
    const signIn = xhr.getResponseHeader("HX-Redirect");
    currentToken().then((current) => {
      if (typeof current === "object" && String(current.user) === root.dataset.user) {
        useToken(current.token);
      } else if (midEntry() || !signIn) {
        const waiting = load().length;
        showConnection(waiting ? waitingMessage(waiting, texts.signed_out) : texts.errors.signed_out, "signed_out");
      } else {
        window.location.assign(signIn);
      }
    });
  });
  // Signed in again meanwhile (in another tab): the next answer says so; what waits goes now.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    if (!event.detail.successful || connection.dataset.kind !== "signed_out") return;
    if (load().length) flush();
    else showConnection(null);
  });

  // An Undo in the recent list swaps the list afresh, without the button that had focus (htmx puts
  // focus back only on an element of the same id): it goes to the Undo now in that place, the next
  // older enquiry's, else to the list's heading.
  const recent = document.getElementById("recent");
  let recentFocus = -1;  // the place of the Undo that had focus when the list was swapped
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target !== recent) return;
    recentFocus = Array.from(recent.querySelectorAll("button")).indexOf(document.activeElement);
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target !== recent || recentFocus < 0) return;
    const undos = recent.querySelectorAll("button");
    const place = undos[Math.min(recentFocus, undos.length - 1)] || document.getElementById("recent-heading");
    recentFocus = -1;
    if (!document.activeElement || document.activeElement === document.body) place.focus();
  });

  // The "Not logged" list is shared by this agent's tabs of the launch: one logged again or dismissed
  // in another tab leaves this one's list too.
  window.addEventListener("storage", (event) => {
    if (event.key === keptKey || event.key === null) renderKept();
    // Another tab sent (or queued) ticks of another launch.
    if (event.key === null || (event.key !== queueKey && event.key.startsWith(queuePrefix))) renderElsewhere();
  });
  // An enquiry undone from the recent list is undone on its notice too: U, which undoes the newest notice's,
  // asked for it again ("already undone") and left the one the agent meant logged.
  // Refused as not found (undone in another tab), it is undone all the same.
  document.body.addEventListener("htmx:afterRequest", (event) => {
    const { successful, requestConfig, xhr } = event.detail;
    const undo = (successful || (xhr && xhr.status === 404)) && requestConfig && requestConfig.verb === "post"
      && /\/enquiries\/(\d+)\/undo$/.exec(requestConfig.path);
    const box = undo && toasts.querySelector('.toast[data-id="' + undo[1] + '"]');
    if (box) showUndone(box);
  });
  // A refusal from the list (an Undo refused, a poll failed) is said in #flash, which nothing emptied:
  // the list answering again means it no longer applies.
  const flash = document.getElementById("flash");
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target === recent && flash) flash.replaceChildren();
  });

  window.addEventListener("online", () => { retryDelay = RETRY_MIN_MS; flush(); });
  window.addEventListener("pageshow", flush);

  // Signing out with ticks still waiting sent none of them and said nothing: they stayed in this
  // browser, to go only when this agent next opens this launch's checklist. Send them first; if some
  // cannot go (offline, the server down), say so and let the agent choose.
  const SIGN_OUT_WAIT_MS = 5000;
  const signOut = document.querySelector('form[action="/logout"]');
  if (signOut) {
    signOut.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (load().length) {
        const deadline = Date.now() + SIGN_OUT_WAIT_MS;
        retryDelay = RETRY_MIN_MS;
        await flush();
        while (sending && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const elsewhere = waitingElsewhere();
      const waiting = load().length + elsewhere;
      const asked = elsewhere ? texts.sign_out_waiting_elsewhere : texts.sign_out_waiting;
      if (waiting && !window.confirm(plural(asked, waiting))) return;
      dropDraft();
      // Signing out is the browser's: whoever signed in on it since (on a shared desk, whoever sits at it
      // now) is signed out, never left signed in after a click on Sign out. The token still has to be
      // the session's, which only this site's own scripts can read from /csrf-token.
      const current = await currentToken();
      if (current === "signed_out") {
        window.location.assign("/login");  // nothing left to end
        return;
      }
      if (typeof current === "object") {
        if (String(current.user) === root.dataset.user) useToken(current.token);
        else signOut.elements.namedItem("csrf_token").value = current.token;
      }
      signOut.submit();
    });
  }

  // The top bar's other form (the language's Change), posted by the browser with the token the page was
  // loaded with: given the current one first, if the session is still this agent's (another's page
  // changes nothing for the one signed in now: refused as out of date, as before).
  const freshened = new WeakSet();
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form === signOut || !form.querySelector('input[name="csrf_token"]')) return;
    if (freshened.delete(form)) return;
    event.preventDefault();
    await renewToken();
    freshened.add(form);
    form.requestSubmit(event.submitter);
  });

  // The recent list's Undo buttons post through htmx, with <body hx-headers>'s token. Refused (403),
  // the request is made once more if the token was stale (renewToken finds a new one); otherwise, or
  // refused again, the refusal is shown where htmx would have put it.
  const renewedFor = new WeakSet();
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const { xhr, elt, requestConfig, target } = event.detail;
    const again = renewedFor.delete(elt);
    if (xhr.status !== 403 || again || !root.contains(elt) || requestConfig.verb === "get") return;
    event.detail.shouldSwap = false;
    const answer = xhr.response;
    renewToken().then((renewed) => {
      if (renewed === "ok" && elt.isConnected) {
        renewedFor.add(elt);
        window.htmx.ajax(requestConfig.verb, requestConfig.path, { source: elt });
      } else {
        window.htmx.swap(target, answer, { swapStyle: "innerHTML" });
      }
    });
  });
  setInterval(() => { if (!document.hidden) checkList(); }, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) checkList(); });

  // A button reached by Tab is scrolled clear of the strip stuck to the foot of the window (the
  // page's scroll-padding, in app.css), however tall its notices and bars make it. In a short window
  // (a laptop's at 200 % zoom) three notices, the "N selected" bar and the Other box were taller than
  // the window: the newest notice, on top, was out of sight, and no hypothesis's button was left in
  // it. Older notices go first (the recent list undoes their enquiries too).
  const dock = document.getElementById("dock");
  const DOCK_SHARE = 0.6;
  function fitDock() {
    while (toasts.children.length > 1 && dock.offsetHeight > window.innerHeight * DOCK_SHARE) {
      dropToast(toasts.lastElementChild);
    }
    document.documentElement.style.setProperty("--dock-height", dock.offsetHeight + "px");
  }
  new ResizeObserver(fitDock).observe(dock);
  window.addEventListener("resize", fitDock);

  index();
  acknowledge();
  renderKept();
  renderElsewhere();
  restoreDraft();
  // Whatever a previous visit left unsent goes first.
  if (load().length) flush();
})();
