"""The agents' checklist in a real browser: ticks by mouse and key, combining, Other, undo,
going offline, refusals, keyboard-only and mouse-only use at desktop and phone widths, and
escaped output.

The database is the judge of what was logged; the page is checked for what the agent sees.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, Response, Route, expect

from app import auth, hypothesis_sets, i18n
from app.models import Launch, LaunchStatus, User
from tests.browser.conftest import HYPOTHESES, Checklist, OpenChecklist, sign_in, wait_until
from tests.conftest import PASSWORD, People
from tests.factories import make_launch

ENQUIRIES_POST = re.compile(r"/launches/[^/]+/enquiries$")


def is_tick_request(request: Request) -> bool:
    return request.method == "POST" and bool(ENQUIRIES_POST.search(request.url))


def is_tick(response: Response) -> bool:
    return is_tick_request(response.request)


def is_counts(response: Response) -> bool:
    return response.url.endswith("/checklist/counts")


# --- 1. a tick by mouse ------------------------------------------------------------------


def test_tick_by_mouse_logs_one_enquiry_with_the_selected_toggles(checklist: Checklist) -> None:
    page = checklist.page
    page.get_by_role("group", name="Channel").get_by_text("chat", exact=True).click()
    expect(page.get_by_role("radio", name="chat")).to_be_checked()
    page.get_by_role("group", name="Customer").get_by_text("business", exact=True).click()
    expect(page.get_by_role("radio", name="business")).to_be_checked()
    expect(checklist.count("login")).to_have_text("0")

    # The tick, then the counts the page asks the server for once it is logged (the page also
    # refreshes them when it is shown, so earlier answers with 0 may come in meanwhile).
    login_counted = re.compile(r'id="count-login"[^>]*>.*?<span class="n">1</span>', re.DOTALL)
    with (
        page.expect_response(lambda r: is_counts(r) and bool(login_counted.search(r.text()))),
        page.expect_response(is_tick) as answer,
    ):
        page.get_by_role("button", name="Hypothesis login").click()
    assert answer.value.status == 201

    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.keys == {"login"}
    assert (enquiry.channel, enquiry.segment) == ("chat", "business")
    assert enquiry.agent_id == checklist.user.id
    assert not enquiry.is_other and enquiry.note is None

    expect(checklist.count("login")).to_have_text("1")
    expect(checklist.count("billing")).to_have_text("0")
    toast = checklist.toasts.first
    expect(toast).to_contain_text("Logged: Hypothesis login")
    expect(toast.get_by_role("button", name=re.compile(r"^Undo"))).to_be_visible()
    expect(checklist.recent).to_contain_text("Hypothesis login")


# --- 2. a tick by key --------------------------------------------------------------------


def test_digits_then_letters_log_their_hypothesis(open_checklist: OpenChecklist) -> None:
    keys = [f"h{n:02}" for n in range(1, 31)]
    checklist = open_checklist(keys)
    page = checklist.page
    # 1–9 first, then letters; u is undo, so the 30th is v.
    shown = {key: checklist.tick(key).locator("kbd") for key in keys}
    expect(shown["h01"]).to_have_text("1")
    expect(shown["h02"]).to_have_text("2")
    expect(shown["h09"]).to_have_text("9")
    expect(shown["h10"]).to_have_text("a")
    expect(shown["h29"]).to_have_text("t")
    expect(shown["h30"]).to_have_text("v")
    expect(checklist.tick("h01")).to_have_attribute("aria-keyshortcuts", "1")

    page.keyboard.press("1")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis h01")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"h01"}]

    page.keyboard.press("2")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis h02")
    assert [e.keys for e in checklist.wait_for_stored(2)] == [{"h01"}, {"h02"}]

    page.keyboard.press("a")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis h10")
    assert [e.keys for e in checklist.wait_for_stored(3)][-1] == {"h10"}

    page.keyboard.press("v")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis h30")
    stored = checklist.wait_for_stored(4)
    assert [e.keys for e in stored][-1] == {"h30"}
    assert all(e.channel == "phone" and e.segment == "private" for e in stored)
    expect(checklist.count("h01")).to_have_text("1")
    expect(checklist.count("h30")).to_have_text("1")


KEYDOWN = """([key, code]) => document.body.dispatchEvent(
  new KeyboardEvent("keydown", {key: key, code: code, bubbles: true, cancelable: true}))"""


def test_the_number_pad_logs_only_as_digits(checklist: Checklist) -> None:
    """With NumLock off the number pad's keys are arrows, Home, Insert and Delete, and moving about
    the page logged enquiries: ArrowDown (Numpad2) logged hypothesis 2, Insert (Numpad0) opened
    Other, Delete (the decimal key) logged a "not logged" one again."""
    page = checklist.page
    kept = {"idempotency_key": "k" * 32, "hypotheses": ["billing"], "channel": "phone", "segment": "private"}
    kept["label"] = "Hypothesis billing"
    page.evaluate(
        "([key, value]) => localStorage.setItem(key, value)",
        [f"tally:not-logged:{checklist.user.id}:{checklist.launch.slug}", json.dumps([kept])],
    )
    checklist.reload()
    not_logged = page.locator("#not-logged").get_by_role("listitem")
    expect(not_logged).to_have_count(1)

    for key, code in (("ArrowDown", "Numpad2"), ("End", "Numpad1"), ("Insert", "Numpad0"), ("Delete", "NumpadDecimal")):
        page.evaluate(KEYDOWN, [key, code])
    expect(page.locator("#other-form")).to_be_hidden()
    assert checklist.queue() == []  # a tick is queued (and counted on screen) at once
    for hypothesis in ("billing", "login", "other"):
        expect(checklist.count(hypothesis)).to_have_text("0")
    expect(not_logged).to_have_count(1)

    # NumLock on, they are the digits, and the decimal key is a comma on a Norwegian keyboard.
    page.evaluate(KEYDOWN, ["2", "Numpad2"])  # (Playwright's own Numpad2 is pressed with NumLock off)
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis login")
    page.evaluate(KEYDOWN, [",", "NumpadDecimal"])
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    assert [e.keys for e in checklist.wait_for_stored(2)] == [{"login"}, {"billing"}]
    expect(not_logged).to_have_count(0)


# --- 3. several hypotheses as one enquiry ------------------------------------------------


def test_shift_keys_then_enter_log_one_enquiry_for_both(checklist: Checklist) -> None:
    page = checklist.page
    page.keyboard.press("Shift+1")
    page.keyboard.press("Shift+2")
    expect(page.locator("#combine-bar")).to_be_visible()
    expect(page.locator("#combine-text")).to_contain_text("2 selected")
    expect(page.get_by_role("checkbox", name="Select to combine: Hypothesis billing")).to_be_checked()
    assert checklist.stored() == []  # selecting logs nothing

    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing + Hypothesis login")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.keys == {"billing", "login"}
    expect(page.locator("#combine-bar")).to_be_hidden()

    # A plain key while something is selected adds to the selection instead of logging.
    page.keyboard.press("Shift+1")
    page.keyboard.press("3")
    expect(page.locator("#combine-text")).to_contain_text("2 selected")
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing + Hypothesis delivery")
    stored = checklist.wait_for_stored(2)
    assert [e.keys for e in stored] == [{"billing", "login"}, {"billing", "delivery"}]
    expect(checklist.count("billing")).to_have_text("2")
    expect(checklist.count("login")).to_have_text("1")
    expect(checklist.count("delivery")).to_have_text("1")


def test_tick_boxes_and_the_log_button_log_one_enquiry_for_both(checklist: Checklist) -> None:
    page = checklist.page
    page.get_by_role("checkbox", name="Select to combine: Hypothesis login").check()
    page.get_by_role("checkbox", name="Select to combine: Hypothesis delivery").check()
    expect(page.locator("#combine-text")).to_contain_text("2 selected")
    # While a selection exists, clicking a hypothesis adds it rather than logging it alone.
    page.get_by_role("button", name="Hypothesis billing").click()
    expect(page.get_by_role("checkbox", name="Select to combine: Hypothesis billing")).to_be_checked()
    page.get_by_role("button", name="Hypothesis billing").click()
    expect(page.get_by_role("checkbox", name="Select to combine: Hypothesis billing")).not_to_be_checked()
    assert checklist.stored() == []

    page.get_by_role("button", name="Log as one enquiry").click()
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis login + Hypothesis delivery")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.keys == {"login", "delivery"} and not enquiry.is_other
    expect(page.get_by_role("checkbox", name="Select to combine: Hypothesis login")).not_to_be_checked()
    expect(page.locator("#combine-bar")).to_be_hidden()


def test_enter_on_a_focused_button_presses_it_rather_than_logging_the_selection(checklist: Checklist) -> None:
    """With something selected, Enter logged the selection wherever focus was: Tab to "Clear" and
    Enter logged the pair it was meant to throw away."""
    page = checklist.page
    combine_text = page.locator("#combine-text")
    page.keyboard.press("Shift+1")
    page.keyboard.press("Shift+2")
    expect(combine_text).to_contain_text("2 selected")
    tab_to(page, lambda f: f["id"] == "clear-selected")
    page.keyboard.press("Enter")
    expect(page.locator("#combine-bar")).to_be_hidden()
    expect(page.get_by_role("checkbox", name="Select to combine: Hypothesis billing")).not_to_be_checked()
    expect(checklist.count("billing")).to_have_text("0")  # a tick counts on screen at once: none was made

    # The keyboard help opens, and the selection waits.
    page.keyboard.press("Shift+1")
    page.keyboard.press("Shift+3")
    expect(combine_text).to_contain_text("2 selected")
    tab_to(page, lambda f: f["tag"] == "summary", limit=60)
    page.keyboard.press("Enter")
    expect(page.locator("details.help")).to_have_js_property("open", True)
    expect(combine_text).to_contain_text("2 selected")
    assert checklist.stored() == []

    # On a hypothesis's button (where Enter would only add it to the selection), Enter logs the selection.
    tab_to(page, lambda f: f["key"] == "login" and f["tag"] == "button", limit=60)
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing + Hypothesis delivery")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.keys == {"billing", "delivery"}
    expect(checklist.count("login")).to_have_text("0")


# --- 4. Other, with a note ---------------------------------------------------------------


NOTE_MASKED = "Personal data in the note was replaced by markers before it was stored: see My enquiries."


def test_other_with_a_note_is_logged_scrubbed(checklist: Checklist) -> None:
    page = checklist.page
    page.keyboard.press("0")
    note = page.locator("#other-note")
    expect(note).to_be_focused()
    expect(page.locator("#other-button")).to_have_attribute("aria-expanded", "true")
    page.keyboard.type("Wants us to ring 912 34 567 about the new app")
    page.keyboard.press("Enter")

    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    # The agent is told that the note was stored otherwise than typed, and where to see it.
    expect(checklist.toasts.first).to_contain_text(NOTE_MASKED)
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.is_other and enquiry.keys == frozenset()
    assert enquiry.note == "Wants us to ring [phone] about the new app"
    expect(page.locator("#other-form")).to_be_hidden()
    expect(checklist.count("other")).to_have_text("1")
    expect(checklist.recent).to_contain_text("[phone]")
    expect(checklist.recent).not_to_contain_text("912")

    page.keyboard.press("0")
    page.keyboard.type("Asked if the app works on a smartwatch")
    page.keyboard.press("Enter")
    checklist.wait_for_stored(2)
    expect(checklist.toasts).to_have_count(2)
    expect(checklist.toasts.first).to_have_text(re.compile(r"^Logged: Other\s*Undo \(U\)$"))  # nothing masked


def test_an_other_note_the_launch_no_longer_takes_stays_in_its_box(checklist: Checklist) -> None:
    """The launch closed while the Other box was open: Enter closed the box and threw the note away,
    saying nothing."""
    page = checklist.page
    board = page.locator("#board")
    note = page.locator("#other-note")
    page.keyboard.press("0")
    page.keyboard.type("asked about the smartwatch app")
    checklist.set_status(LaunchStatus.CLOSED)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # the page asks for the list now
    expect(board).to_have_attribute("data-open", "false")

    note.press("Enter")
    said = "Not logged: Other. This launch is not live, so enquiries cannot be logged on it."
    expect(page.locator("#rejections")).to_have_text(said)
    expect(checklist.toasts.first).to_have_text(said)
    expect(page.locator("#other-form")).to_be_visible()
    expect(note).to_have_value("asked about the smartwatch app")
    expect(note).to_be_focused()
    assert checklist.queue() == [] and checklist.stored() == []

    checklist.set_status(LaunchStatus.LIVE)  # a lead opens it again: the note is still there to log
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(board).to_have_attribute("data-open", "true")
    note.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.is_other and enquiry.note == "asked about the smartwatch app"


def test_esc_on_the_other_box_of_a_launch_closed_meanwhile_keeps_focus_on_the_page(checklist: Checklist) -> None:
    """Esc put focus back on Other's button, disabled once the launch closed: it fell to the page's body."""
    page = checklist.page
    page.keyboard.press("0")
    page.keyboard.type("asked about the smartwatch app")
    checklist.set_status(LaunchStatus.CLOSED)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # the page asks for the list now
    expect(page.locator("#board")).to_have_attribute("data-open", "false")
    page.keyboard.press("Escape")
    expect(page.locator("#other-form")).to_be_hidden()
    expect(page.locator("#main")).to_be_focused()


def test_a_note_as_long_as_its_box_takes_is_logged_even_with_ellipses(checklist: Checklist) -> None:
    """The box counts "…" as one character, and took 500; the server counted it as three, refused the
    note as too long, and the box had been emptied already."""
    page = checklist.page
    note = ("Kunden limte inn feilmeldingen: Laster… vent… prøver igjen… " * 20)[:500]
    page.keyboard.press("0")
    page.locator("#other-note").fill(note + "more")
    expect(page.locator("#other-note")).to_have_value(note)  # the box's maxlength
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.note is not None and enquiry.note.startswith("Kunden limte inn feilmeldingen: Laster... vent...")


def test_a_note_the_server_refuses_goes_back_to_its_box(checklist: Checklist) -> None:
    page = checklist.page
    note = page.locator("#other-note")
    page.route("**/checklist/version", lambda route: route.abort())  # the page does not hear of the closing
    checklist.set_status(LaunchStatus.CLOSED)
    page.keyboard.press("0")
    page.keyboard.type("asked about the smartwatch app")
    page.keyboard.press("Enter")
    said = "Not logged: Other. This launch is not live, so enquiries cannot be logged on it."
    expect(page.locator("#rejections")).to_have_text(said)
    expect(page.locator("#other-form")).to_be_visible()
    expect(note).to_have_value("asked about the smartwatch app")
    expect(note).to_be_focused()  # refused at once: the agent is still at the box
    checklist.set_status(LaunchStatus.LIVE)
    note.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    checklist.wait_for_stored(1)

    # Sent later, from the queue: put back too, without taking the keys the agent is logging with.
    page.context.set_offline(True)
    page.keyboard.press("0")
    page.keyboard.type("wants the old menu back")
    page.keyboard.press("Enter")
    expect(checklist.connection).to_contain_text("1 enquiry is kept")
    expect(page.locator("#other-form")).to_be_hidden()
    page.keyboard.press("1")
    checklist.set_status(LaunchStatus.CLOSED)
    page.context.set_offline(False)
    # Both refused (the first part's refusal may still be shown, or gone: each leaves after a while).
    expect(page.locator("#rejections p", has_text="Hypothesis billing")).to_have_count(1)
    expect(page.locator("#other-form")).to_be_visible()
    expect(note).to_have_value("wants the old menu back")
    expect(note).not_to_be_focused()
    # The refused tick leaves the queue just after its refusal is shown: a CI run read it in between.
    wait_until(lambda: checklist.queue() == [], message="the queue emptied", page=page)
    assert len(checklist.stored()) == 1


# --- 5. undo -----------------------------------------------------------------------------


def test_undo_button_on_the_toast_removes_the_enquiry(checklist: Checklist) -> None:
    page = checklist.page
    page.get_by_role("button", name="Hypothesis billing").click()
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    page.get_by_role("button", name="Hypothesis login").click()
    toast = checklist.toasts.first
    expect(toast).to_contain_text("Logged: Hypothesis login")
    checklist.wait_for_stored(2)

    toast.get_by_role("button", name=re.compile(r"^Undo")).click()
    expect(toast).to_have_text("Undone")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]
    expect(checklist.count("login")).to_have_text("0")
    expect(checklist.recent.get_by_role("listitem")).to_have_count(1)

    # U now means the one before: the one undone already is not asked for twice.
    page.keyboard.press("u")
    expect(checklist.toasts.last).to_have_text("Undone")
    checklist.wait_for_stored(0)
    expect(checklist.count("billing")).to_have_text("0")
    expect(checklist.recent).to_contain_text("Nothing in the last 15 minutes.")
    expect(page.locator("#rejections")).to_be_empty()


def test_an_undo_the_server_could_not_save_can_be_asked_again_from_the_notice(checklist: Checklist) -> None:
    """What the agents' guide says (it said the notice's button would not ask again)."""
    page = checklist.page
    page.keyboard.press("1")
    toast = page.locator("#toasts .toast[data-key]")  # the tick's own notice (refusals come as notices too)
    expect(toast).to_contain_text("Logged: Hypothesis billing")
    checklist.wait_for_stored(1)
    unavailable = {"error": {"code": "unavailable", "message": "The database is busy."}}
    page.route(re.compile(r"/undo$"), lambda route: route.fulfill(status=503, json=unavailable))
    toast.get_by_role("button", name=re.compile(r"^Undo")).click()
    said = "Not undone: The server could not save this just now. Try again in a moment."
    expect(page.locator("#rejections")).to_have_text(said)
    page.unroute(re.compile(r"/undo$"))
    toast.get_by_role("button", name=re.compile(r"^Undo")).click()
    expect(toast).to_have_text("Undone")
    checklist.wait_for_stored(0)


def test_u_key_undoes_the_last_enquiry(checklist: Checklist) -> None:
    page = checklist.page
    page.keyboard.press("1")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    page.keyboard.press("2")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis login")
    assert [e.keys for e in checklist.wait_for_stored(2)] == [{"billing"}, {"login"}]

    page.keyboard.press("u")
    expect(checklist.toasts.first).to_have_text("Undone")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]  # the last one, only
    expect(checklist.count("login")).to_have_text("0")
    expect(checklist.count("billing")).to_have_text("1")


def test_undo_in_the_recent_list_removes_the_enquiry(checklist: Checklist) -> None:
    page = checklist.page
    page.keyboard.press("3")
    expect(checklist.recent.get_by_role("listitem")).to_contain_text("Hypothesis delivery")
    checklist.wait_for_stored(1)

    with page.expect_response(lambda r: r.url.endswith("/undo") and r.request.headers.get("hx-request") == "true"):
        checklist.recent.get_by_role("button", name=re.compile(r"^Undo")).click()
    checklist.wait_for_stored(0)
    expect(checklist.recent).to_contain_text("Nothing in the last 15 minutes.")
    expect(checklist.count("delivery")).to_have_text("0")


def test_an_undo_from_the_recent_list_or_another_tab_is_the_notices_too(checklist: Checklist) -> None:
    """Undo in the recent list left the enquiry's notice offering Undo: the next U asked for that
    enquiry again, was told "already undone", and the one the agent meant stayed logged. The same
    after an undo in another tab; and a refused Undo in the list left its alert on the page for good, and
    its notice offering Undo."""
    page = checklist.page
    flash = page.locator("#flash")
    page.keyboard.press("1")
    page.keyboard.press("2")
    expect(checklist.recent.get_by_role("listitem")).to_have_count(2)
    checklist.recent.get_by_role("button", name=re.compile(r"^Undo: Hypothesis login")).click()
    expect(checklist.toasts.first).to_have_text("Undone")  # login's notice
    page.keyboard.press("u")
    assert checklist.wait_for_stored(0) == []
    expect(page.locator("#rejections")).to_be_empty()

    page.keyboard.press("3")
    page.keyboard.press("1")
    expect(checklist.recent.get_by_role("listitem")).to_have_count(2)
    other = page.context.new_page()
    other.goto(checklist.path)
    other.locator("#recent").get_by_role("button", name=re.compile(r"^Undo: Hypothesis billing")).click()
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"delivery"}]
    other.close()
    # This tab's list has not heard: its Undo is refused.
    checklist.recent.get_by_role("button", name=re.compile(r"^Undo: Hypothesis billing")).click()
    expect(flash).to_contain_text("That enquiry was already undone.")
    expect(checklist.toasts.first).to_have_text("Undone")  # billing's notice says so too
    page.keyboard.press("u")  # delivery's, the one meant
    checklist.wait_for_stored(0)
    expect(checklist.recent).to_contain_text("Nothing in the last 15 minutes.")
    expect(flash).to_be_empty()
    expect(page.locator("#rejections")).to_be_empty()


# The recent list's requests on their way or not yet settled (an undo, and the refresh each change
# asks for): htmx wires a button it swaps in only when the swap settles, a moment later.
TRACK_RECENT = """() => {
  window.recentPending = new Set();
  const mine = (e) => e.detail.target && e.detail.target.id === "recent";
  document.body.addEventListener("htmx:beforeRequest", (e) => { if (mine(e)) window.recentPending.add(e.detail.xhr); });
  document.body.addEventListener("htmx:afterSettle", (e) => { window.recentPending.delete(e.detail.xhr); });
  document.body.addEventListener("htmx:afterRequest", (e) => {
    if (!e.detail.successful) window.recentPending.delete(e.detail.xhr); });
}"""


def recent_settled(page: Page) -> None:
    wait_until(lambda: page.evaluate("window.recentPending.size === 0"), message="the recent list settled", page=page)


def test_focus_stays_on_the_page_when_the_button_holding_it_goes(checklist: Checklist) -> None:
    """Undo in a notice or in the recent list, "Log as one enquiry" and "Clear" remove the button
    pressed: a keyboard user was left with focus on the page's body, to Tab through it all again."""
    page = checklist.page
    page.evaluate(TRACK_RECENT)

    page.keyboard.press("2")
    undo = checklist.toasts.first.get_by_role("button", name="Undo: Hypothesis login")
    undo.focus()
    undo.press("Enter")
    expect(checklist.toasts.first).to_have_text("Undone")
    expect(checklist.tick("login")).to_be_focused()  # the button of what was undone

    page.keyboard.press("1")
    page.keyboard.press("3")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis delivery")  # and the list asked for
    recent_settled(page)
    undos = checklist.recent.get_by_role("button", name=re.compile(r"^Undo"))
    expect(undos).to_have_count(2)
    undos.first.focus()  # delivery's, the newest
    page.keyboard.press("Enter")
    expect(undos).to_have_count(1)
    expect(undos.first).to_be_focused()  # billing's, now in its place
    recent_settled(page)
    expect(undos.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(checklist.recent).to_contain_text("Nothing in the last 15 minutes.")
    expect(page.get_by_role("heading", name="My enquiries, last 15 minutes")).to_be_focused()
    checklist.wait_for_stored(0)

    page.keyboard.press("Shift+2")
    page.keyboard.press("Shift+3")
    page.get_by_role("button", name="Log as one enquiry").focus()
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis login + Hypothesis delivery")
    expect(checklist.tick("login")).to_be_focused()
    page.keyboard.press("Shift+3")
    page.get_by_role("button", name="Clear").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#combine-bar")).to_be_hidden()
    expect(checklist.tick("delivery")).to_be_focused()


# --- 6. offline, and retries ---------------------------------------------------------------


def test_offline_ticks_are_kept_and_sent_once_when_back(checklist: Checklist) -> None:
    page = checklist.page
    connection = checklist.connection
    page.context.set_offline(True)
    page.keyboard.press("1")
    expect(connection).to_be_visible()
    one_kept = "No connection to the server. 1 enquiry is kept in this browser and will be sent when it is back."
    expect(connection).to_have_text(one_kept)

    # Two quick clicks, the second while the page is still trying to send: the notice must count both.
    page.evaluate(
        """() => ['login', 'delivery'].forEach(
             (key) => document.querySelector(`button.tick[data-key="${key}"]`).click())"""
    )
    expect(connection).not_to_have_text(one_kept)
    # Read at once: a wrong count would otherwise be put right by the next retry, seconds later.
    assert connection.text_content() == (
        "No connection to the server. 3 enquiries are kept in this browser and will be sent when it is back."
    )
    assert len(checklist.queue()) == 3
    assert checklist.stored() == []
    expect(checklist.count("delivery")).to_have_text("1")  # counted on screen meanwhile

    # The page hears the "online" event and sends at once. (Its next timed retry is about 4 s
    # away, so only the event brings the notice back within 2 s.)
    page.context.set_offline(False)
    expect(connection).to_have_text("Connection is back: everything was sent.", timeout=2_000)
    expect(checklist.toasts).to_have_count(3)
    stored = checklist.wait_for_stored(3)
    assert [e.keys for e in stored] == [{"billing"}, {"login"}, {"delivery"}]
    assert len({e.idempotency_key for e in stored}) == 3
    assert checklist.queue() == []
    expect(checklist.recent.get_by_role("listitem")).to_have_count(3)
    assert len(checklist.stored()) == 3  # nothing sent twice meanwhile


def test_ticks_a_hung_server_never_answers_are_said_to_wait_and_sent_once_later(checklist: Checklist) -> None:
    """The server (or the network) takes the request and never answers: the browser would wait for
    minutes, the agent told nothing while every tick waited behind the first."""
    page = checklist.page
    connection = checklist.connection
    with_fake_clock(checklist)
    hung: list[Route] = []

    def hang(route: Route) -> None:
        hung.append(route)  # taken, never answered

    checklist.route_ticks(hang)
    page.keyboard.press("1")
    wait_until(lambda: hung, message="the tick on its way", page=page)
    page.keyboard.press("2")
    page.clock.run_for(11_000)
    expect(connection).to_have_text(
        "No connection to the server. 2 enquiries are kept in this browser and will be sent when it is back."
    )
    assert len(checklist.queue()) == 2

    checklist.route_ticks(None)  # answered again
    page.clock.run_for(31_000)
    expect(connection).to_have_text("Connection is back: everything was sent.")
    stored = checklist.wait_for_stored(2)
    assert [e.keys for e in stored] == [{"billing"}, {"login"}]
    expect(checklist.toasts).to_have_count(2)
    assert checklist.queue() == []


def test_signed_out_the_checklist_goes_to_sign_in_and_back_and_sends_what_waited(checklist: Checklist) -> None:
    """What the agents' guide and the notice tell an agent whose session ended mid-shift (it told her
    to sign in in a new tab and leave this one open, while this one went to sign-in by itself)."""
    page = checklist.page
    with checklist.db.transaction() as session:  # an admin reset her password: every session ends
        user = session.get(User, checklist.user.id)
        assert user is not None
        auth.revoke_sessions(session, user, now=dt.datetime.now(dt.UTC))
    page.keyboard.press("1")
    expect(page).to_have_url(re.compile(r"/login\?next=" + re.escape(checklist.path) + "$"), timeout=10_000)
    assert len(checklist.queue()) == 1, "the tick waits in the browser"
    assert checklist.stored() == []
    page.get_by_label("User name").fill(checklist.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(checklist.path) + "$"))
    [stored] = checklist.wait_for_stored(1)
    assert stored.keys == {"billing"}
    wait_until(lambda: checklist.queue() == [])


# The page's htmx requests answered, and where it started to go if it did: the Navigation API's
# navigate event comes as soon as the page asks to leave (htmx's HX-Redirect), before it has left.
WATCH_LEAVING = """() => {
  window.answered = 0;
  window.leaving = null;
  document.body.addEventListener("htmx:afterRequest", () => { window.answered += 1; });
  navigation.addEventListener("navigate", (e) => { window.leaving = e.destination.url; });
}"""


def poll_now(page: Page) -> None:
    """The page's polls (the recent list, then the counts), asked for now and answered."""
    before = page.evaluate("window.answered")
    page.evaluate("htmx.trigger(document.body, 'tally:changed')")
    # Or gone: the page that watched is gone with it.
    page.wait_for_function(
        "(n) => window.answered >= n || window.leaving || !document.getElementById('checklist')", arg=before + 2
    )


def test_a_poll_refused_with_the_old_session_just_as_it_changed_stays_on_the_page(checklist: Checklist) -> None:
    """A poll sent with the old session's cookie while the agent changed her password in another tab is
    answered 401 with HX-Redirect, though the browser is signed in by then: the page went to sign-in and
    came back without its notices, their Undo gone (the flaky "session changed in another tab" test)."""
    page = checklist.page
    page.keyboard.press("1")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    checklist.wait_for_stored(1)
    page.evaluate(WATCH_LEAVING)
    sign_in = f"/login?next={checklist.path}"
    refused_once: list[bool] = []

    def as_if_the_session_had_just_changed(route: Any) -> None:
        if refused_once:
            route.continue_()
            return
        refused_once.append(True)
        route.fulfill(status=401, headers={"HX-Redirect": sign_in}, body="")

    page.route(re.compile(r".*/checklist/recent.*"), as_if_the_session_had_just_changed)
    poll_now(page)
    poll_now(page)  # the next one answered as ever, after the page asked whether it is still signed in
    assert refused_once and page.evaluate("window.leaving === null"), "the page left for sign-in"
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    page.keyboard.press("u")
    expect(checklist.toasts.first).to_have_text("Undone")
    checklist.wait_for_stored(0)


def test_a_session_ended_mid_call_keeps_the_note_and_the_selection_being_made(checklist: Checklist) -> None:
    """The next poll after the session ended went to sign-in at once: the Other note being typed was
    lost (the rest of it typed into the sign-in form), and so were hypotheses selected to combine."""
    page = checklist.page
    note = page.locator("#other-note")
    page.evaluate(WATCH_LEAVING)
    with checklist.db.transaction() as session:  # an admin reset her password: every session ends
        user = session.get(User, checklist.user.id)
        assert user is not None
        auth.revoke_sessions(session, user, now=dt.datetime.now(dt.UTC))

    page.keyboard.press("0")
    page.keyboard.type("asked about the")
    poll_now(page)
    assert page.evaluate("window.leaving === null"), "the page left with the note half typed"
    expect(checklist.connection).to_have_text("Your session has ended: sign in again.")
    page.keyboard.type(" new app")
    expect(note).to_have_value("asked about the new app")
    page.keyboard.press("Enter")
    expect(checklist.connection).to_have_text(
        "You were signed out. Sign in again; 1 waiting enquiry will be sent then."
    )
    assert [item["note"] for item in checklist.queue()] == ["asked about the new app"]

    page.keyboard.press("Shift+2")
    expect(page.locator("#combine-text")).to_contain_text("1 selected")
    poll_now(page)
    assert page.evaluate("window.leaving === null"), "the page left with hypotheses selected"
    page.keyboard.press("Shift+3")
    page.get_by_role("button", name="Log as one enquiry").click()  # (Enter would press Other's, focused)
    wait_until(lambda: len(checklist.queue()) == 2, message="the selection queued", page=page)

    # Nothing is being made now: the next poll goes to sign-in, which comes back and sends both.
    poll_now(page)
    expect(page).to_have_url(re.compile(r"/login\?next=" + re.escape(checklist.path) + "$"))
    assert checklist.stored() == []
    page.get_by_label("User name").fill(checklist.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(checklist.path) + "$"))
    stored = checklist.wait_for_stored(2)
    assert [(e.is_other, e.note, set(e.keys)) for e in stored] == [
        (True, "asked about the new app", set()),
        (False, None, {"login", "delivery"}),
    ]


def test_an_other_note_being_typed_comes_back_after_a_reload_and_goes_with_sign_out(checklist: Checklist) -> None:
    """A reload mid-call (F5, a sign-in back to this page after the session ended) lost the Other note
    being typed. It is kept by the tab alone, and dropped once logged, closed or signed out."""
    page = checklist.page
    note = page.locator("#other-note")
    page.keyboard.press("0")
    page.keyboard.type("asked about the")
    page.reload()
    expect(note).to_be_focused()
    expect(note).to_have_value("asked about the")
    expect(page.locator("#other-button")).to_have_attribute("aria-expanded", "true")
    page.keyboard.type(" new app")  # the cursor at its end
    page.keyboard.press("Enter")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.note == "asked about the new app"
    page.reload()
    expect(page.locator("#other-form")).to_be_hidden()  # logged: nothing comes back

    page.keyboard.press("0")
    page.keyboard.type("dropped")
    page.keyboard.press("Escape")
    page.reload()
    expect(page.locator("#other-form")).to_be_hidden()

    page.keyboard.press("0")
    page.keyboard.type("card 4111 1111 1111 1111")
    assert page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('tally:note-draft:'))")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert page.evaluate("Object.keys(sessionStorage).filter((k) => k.startsWith('tally:note-draft:'))") == []
    assert len(checklist.stored()) == 1


def test_sign_out_sends_what_waits_first_and_asks_before_leaving_the_rest(checklist: Checklist) -> None:
    """Sign out with ticks still waiting sent none and said nothing: they stayed in the browser until
    this agent next opened this launch's checklist."""
    page = checklist.page
    checklist.route_ticks(lambda route: route.abort("connectionreset"))
    page.keyboard.press("1")
    expect(checklist.connection).to_contain_text("1 enquiry is kept")
    asked: list[str] = []
    # Still unreachable: the agent is asked, and staying keeps the tick waiting here.
    answer_next_dialog(page, asked, accept=False)
    page.get_by_role("button", name="Sign out").click()
    wait_until(lambda: len(asked) == 1, page=page)
    assert asked[0] == (
        "1 enquiry has not reached the server yet. It stays in this browser and is sent when you next open "
        "this checklist here. Sign out anyway?"
    )
    expect(page).to_have_url(re.compile(re.escape(checklist.path) + "$"))
    assert len(checklist.queue()) == 1 and checklist.stored() == []

    # Reachable again: the tick is sent before signing out, and nothing is asked.
    checklist.route_ticks(None)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert [e.keys for e in checklist.stored()] == [{"billing"}]
    assert len(asked) == 1
    assert (
        page.evaluate(
            "() => Object.keys(localStorage).filter((k) => k.startsWith('tally:queue:')"
            " && JSON.parse(localStorage.getItem(k)).length)"
        )
        == []
    )


def answer_next_dialog(page: Page, asked: list[str], *, accept: bool) -> None:
    """The page's next question (window.confirm) goes into ``asked``, accepted or dismissed."""

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", answer)


def test_sign_out_on_another_launchs_checklist_asks_before_leaving_ticks_waiting_on_this_one(
    checklist: Checklist,
) -> None:
    """Ticks waiting on one launch's checklist go only from that checklist: an agent who moved to another
    launch and signed out there was asked nothing, and left them in the browser unsaid."""
    page = checklist.page
    make_launch(checklist.db, slug="autumn-launch", name="Autumn launch", hypotheses=("refunds",))
    checklist.route_ticks(lambda route: route.abort("connectionreset"))
    page.keyboard.press("1")
    expect(checklist.connection).to_contain_text("1 enquiry is kept")

    page.goto("/launches/autumn-launch/checklist")
    expect(page.locator("#connection")).to_be_empty()
    asked: list[str] = []
    answer_next_dialog(page, asked, accept=False)
    page.get_by_role("button", name="Sign out").click()
    wait_until(lambda: len(asked) == 1, page=page)
    assert asked[0] == (
        "1 enquiry ticked on another launch's checklist has not reached the server yet. It stays in this "
        "browser and is sent when you next open that checklist here. Sign out anyway?"
    )
    expect(page).to_have_url(re.compile(r"/launches/autumn-launch/checklist$"))
    assert len(checklist.queue()) == 1

    answer_next_dialog(page, asked, accept=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert len(asked) == 2 and len(checklist.queue()) == 1  # kept for when she opens that checklist again


def test_another_launchs_checklist_says_where_ticks_still_wait_and_links_to_it(checklist: Checklist) -> None:
    """Ticks waiting on one launch's checklist go only from that checklist: on the next launch's, the agent
    was told nothing of them (until Sign out), and they waited until she happened to open the first again."""
    page = checklist.page
    slug = checklist.launch.slug
    make_launch(checklist.db, slug="autumn-launch", name="Autumn launch", hypotheses=("refunds",))
    checklist.route_ticks(lambda route: route.abort("connectionreset"))
    page.keyboard.press("1")
    expect(checklist.connection).to_contain_text("1 enquiry is kept")
    expect(page.locator("#elsewhere")).to_be_hidden()  # its own are on the connection line

    page.goto("/launches/autumn-launch/checklist")
    elsewhere = page.locator("#elsewhere")
    expect(elsewhere).to_have_text(
        f"1 enquiry ticked on the checklist of {slug} has not been sent yet: open that checklist here to send it."
    )
    checklist.route_ticks(None)  # the connection is back
    elsewhere.get_by_role("link", name=slug).click()
    expect(page).to_have_url(re.compile(rf"/launches/{slug}/checklist$"))
    checklist.wait_for_stored(1)
    wait_until(lambda: not checklist.queue(), page=page)

    page.goto("/launches/autumn-launch/checklist")
    expect(page.locator("#elsewhere")).to_be_hidden()


def signed_in_again_in_another_tab(checklist: Checklist, username: str) -> None:
    """On a shared desk: in another tab of the same browser, sign out, and in as ``username``."""
    # The checklist's own first refresh, signed out, would take it to sign-in by itself.
    checklist.page.wait_for_load_state("networkidle")
    other = checklist.page.context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Sign out").click()
    expect(other).to_have_url(re.compile(r"/login"))
    sign_in(other, username)
    other.close()


def password_changed_in_another_tab(checklist: Checklist, current: str) -> str:
    """The agent changes her password in another tab: that tab's browser gets a new session at once, and
    the checklist's page keeps the CSRF token of the one that ended. Returns the new password."""
    new = current + "!"
    other = checklist.page.context.new_page()
    other.goto("/me")
    other.locator("#current").fill(current)  # by id: the page may be in Norwegian
    other.locator("#new").fill(new)
    other.locator('form[action="/me/password"] button').click()
    expect(other).to_have_url(re.compile(r"/me\?changed=password$"))
    other.close()
    return new


def signed_out(page: Page) -> bool:
    page.goto("/")
    return "/login" in page.url


def test_after_the_session_changed_in_another_tab_every_action_of_the_page_works(checklist: Checklist) -> None:
    """Only ticks renewed the page's token: undo (notice, U, the list), the channel's saving, the
    language and Sign out were refused as "out of date", and Sign out left the agent signed in."""
    page = checklist.page
    password = PASSWORD
    page.keyboard.press("1")
    page.keyboard.press("2")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis login")
    checklist.wait_for_stored(2)

    password = password_changed_in_another_tab(checklist, password)
    page.keyboard.press("u")  # the notice's undo
    expect(checklist.toasts.first).to_have_text("Undone")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]
    expect(page.locator("#rejections")).to_be_empty()

    password = password_changed_in_another_tab(checklist, password)
    checklist.recent.get_by_role("button", name=re.compile(r"^Undo: Hypothesis billing")).click()
    expect(checklist.recent).to_contain_text("Nothing in the last 15 minutes.")
    checklist.wait_for_stored(0)
    expect(page.locator("#flash")).to_be_empty()

    password = password_changed_in_another_tab(checklist, password)
    page.get_by_role("group", name="Channel").get_by_text("chat", exact=True).click()

    def saved_channel() -> str | None:
        with checklist.db.session() as session:
            user = session.get(User, checklist.user.id)
            return user.channel if user else None

    wait_until(lambda: saved_channel() == "chat", message="the channel saved to the account", page=page)

    password = password_changed_in_another_tab(checklist, password)
    page.get_by_label("Language").select_option("nb")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    expect(page).to_have_url(re.compile(re.escape(checklist.path) + "$"))

    password = password_changed_in_another_tab(checklist, password)
    page.locator('form[action="/logout"] button').click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert signed_out(page), "Sign out left the browser signed in"


def test_sign_out_signs_the_browser_out_whoever_signed_in_since(checklist: Checklist, people: People) -> None:
    """Someone else signed in at the desk in another tab: Sign out on the old checklist ends the browser's
    sign-in (theirs), never leaving it signed in after a click on Sign out."""
    page = checklist.page
    page.keyboard.press("1")
    expect(checklist.recent.get_by_role("listitem")).to_have_count(1)
    signed_in_again_in_another_tab(checklist, people.other_agent.username)
    # Nothing else of this page acts for the one signed in now: refused as out of date.
    checklist.recent.get_by_role("button", name=re.compile(r"^Undo")).click()
    expect(page.locator("#flash")).to_have_text("This page was out of date: reload it and try again.")
    assert len(checklist.stored()) == 1
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert signed_out(page)


def test_sign_out_after_the_session_ended_goes_to_sign_in(checklist: Checklist) -> None:
    """Signed out in another tab: Sign out said "This page was out of date" (its token was the session's)."""
    page = checklist.page
    page.wait_for_load_state("networkidle")  # its first refresh, signed out, would go to sign-in by itself
    other = page.context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Sign out").click()
    expect(other).to_have_url(re.compile(r"/login"))
    other.close()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_label("User name")).to_be_visible()


def test_a_retried_tick_is_not_counted_twice(checklist: Checklist) -> None:
    page = checklist.page
    answers: list[int] = []

    def lose_the_first_answer(route: Route, request: Request) -> None:
        if request.method != "POST":
            route.continue_()
            return
        if answers:
            route.continue_()
            return
        response = route.fetch()  # it reaches the server, which records it...
        answers.append(response.status)
        route.abort("connectionreset")  # ...but the browser never hears back

    checklist.route_ticks(lose_the_first_answer)
    # Every text the notice shows is recorded as it changes: the "kept" notice can be replaced by
    # "connection is back" before a poll of the page would see it, when the retry is quick.
    page.evaluate(
        """() => {
            window.connectionTexts = [];
            const notice = document.getElementById("connection");
            new MutationObserver(() => window.connectionTexts.push(notice.textContent)).observe(
                notice, {childList: true, characterData: true, subtree: true});
        }"""
    )
    with page.expect_response(is_tick, timeout=30_000) as retried:
        page.keyboard.press("1")
        [first] = checklist.wait_for_stored(1)
    assert any("1 enquiry is kept" in text for text in page.evaluate("() => window.connectionTexts"))
    assert answers == [201]
    assert retried.value.status == 200  # the server knew the key: not created again
    assert retried.value.json()["id"] == first.id and retried.value.json()["created"] is False

    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    expect(checklist.connection).to_contain_text("Connection is back")
    assert checklist.queue() == []
    assert [e.keys for e in checklist.stored()] == [{"billing"}]
    expect(checklist.count("billing")).to_have_text("1")


def _billing_logged_then_login_sent_with_its_answer_lost(checklist: Checklist) -> None:
    """Billing logged; then login, which the server records but whose answer the browser never hears:
    it stays queued, marked as sent."""
    page = checklist.page
    page.keyboard.press("1")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    lost: list[int] = []

    def lose_the_first_answer(route: Route, request: Request) -> None:
        if request.method == "POST" and not lost:
            lost.append(route.fetch().status)  # recorded by the server, never heard by the browser
            route.abort("connectionreset")
        else:
            route.continue_()

    checklist.route_ticks(lose_the_first_answer)
    page.keyboard.press("2")
    assert [e.keys for e in checklist.wait_for_stored(2)] == [{"billing"}, {"login"}]
    wait_until(lambda: lost == [201] and checklist.queue() and checklist.queue()[0].get("sent"), page=page)


def test_u_while_a_tick_may_be_on_the_server_undoes_that_tick_not_the_one_before(checklist: Checklist) -> None:
    """The newest tick was sent and its answer lost (or is still on its way): the server may have it.
    U used to undo the enquiry before it instead, or just drop it from the browser while it stayed
    counted. It is undone once its retry is answered."""
    _billing_logged_then_login_sent_with_its_answer_lost(checklist)
    checklist.page.keyboard.press("u")
    assert [e.keys for e in checklist.wait_for_stored(1, timeout=30)] == [{"billing"}]  # login, not billing
    assert checklist.queue() == []
    expect(checklist.count("billing")).to_have_text("1")


def test_u_twice_while_a_tick_is_on_its_way_takes_back_that_one_and_the_one_before(checklist: Checklist) -> None:
    _billing_logged_then_login_sent_with_its_answer_lost(checklist)
    checklist.page.keyboard.press("u")  # login: on the server, undone once it answers
    checklist.page.keyboard.press("u")  # then billing, logged before it
    checklist.wait_for_stored(0, timeout=30)
    assert checklist.queue() == []


# --- 7. a refused tick -------------------------------------------------------------------


def test_a_refused_tick_is_told_and_not_retried(checklist: Checklist) -> None:
    page = checklist.page
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if is_tick_request(r) else None)
    checklist.set_status(LaunchStatus.CLOSED)  # after the page loaded: its buttons still work

    with page.expect_response(is_tick) as answer:
        page.get_by_role("button", name="Hypothesis login").click()
    assert answer.value.status == 409
    rejection = page.locator("#rejections")
    expect(rejection).to_contain_text("Not logged: Hypothesis login.")
    expect(rejection).to_contain_text("not live")
    assert checklist.queue() == []
    expect(checklist.connection).to_be_hidden()
    assert checklist.stored() == []

    # Had the refused one stayed queued, it would go first (and now succeed) with the next tick.
    checklist.set_status(LaunchStatus.LIVE)
    page.get_by_role("button", name="Hypothesis billing").click()
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]
    assert len(posts) == 2


def test_a_refusal_is_told_where_the_agent_is_looking(open_checklist: OpenChecklist) -> None:
    """On a phone scrolled down to the buttons, a refused tick (or undo) was told only in the red box
    at the top of the page, out of sight: the tick seemed to count."""
    checklist = open_checklist(MANY_KEYS, viewport=(390, 844))
    page = checklist.page
    checklist.set_status(LaunchStatus.CLOSED)
    with page.expect_response(is_tick) as answer:
        checklist.tick("h20").click()
    assert answer.value.status == 409
    said = "Not logged: Hypothesis h20. This launch is not live, so enquiries cannot be logged on it."
    expect(page.locator("#rejections")).to_have_text(said)
    expect(page.locator("#rejections")).not_to_be_in_viewport()
    expect(checklist.toasts.first).to_have_text(said)
    expect(checklist.toasts.first).to_be_in_viewport()

    checklist.set_status(LaunchStatus.LIVE)
    checklist.tick("h19").click()
    toast = checklist.toasts.first
    expect(toast).to_contain_text("Logged: Hypothesis h19")
    checklist.wait_for_stored(1)
    checklist.tick("h19").scroll_into_view_if_needed()
    # (One undone already, from the list or another tab, is not refused: its notice says "Undone".)
    unavailable = {"error": {"code": "unavailable", "message": "The database is busy."}}
    page.route(re.compile(r"/undo$"), lambda route: route.fulfill(status=503, json=unavailable))
    with page.expect_response(lambda r: r.url.endswith("/undo")) as refused:
        toast.get_by_role("button", name=re.compile(r"^Undo")).click()
    assert refused.value.status == 503
    said = "Not undone: The server could not save this just now. Try again in a moment."
    expect(checklist.toasts.first).to_have_text(said)
    expect(checklist.toasts.first).to_be_in_viewport()


# --- 8. keyboard alone, mouse alone, desktop and phone -----------------------------------

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
FOCUSED = """() => {
  const el = document.activeElement;
  const ring = el.matches('.toggle input') ? el.nextElementSibling : el;
  const style = getComputedStyle(ring);
  return {
    tag: el.tagName.toLowerCase(), type: el.type || null, name: el.name || null, value: el.value || null,
    key: el.dataset.key || null, id: el.id || null,
    outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0,
  };
}"""


def no_horizontal_overflow(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide in a {width} px window"


def check_structure(page: Page) -> None:
    """Toggles are radios in fieldsets with legends; ticks are buttons named by their text."""
    for legend, options in (("Channel", ("phone", "chat", "email", "social")), ("Customer", ("private", "business"))):
        group = page.get_by_role("group", name=legend)
        expect(group).to_have_js_property("tagName", "FIELDSET")
        expect(group.locator("legend")).to_have_text(legend)
        for option in options:
            expect(group.get_by_role("radio", name=option, exact=True)).to_have_count(1)
    for key in ("billing", "login", "delivery"):
        expect(page.get_by_role("button", name=f"Hypothesis {key}")).to_have_count(1)
    expect(page.get_by_role("button", name="Other — something not on the list")).to_have_count(1)


def tab_to(page: Page, wanted: Any, limit: int = 40) -> dict[str, Any]:
    """Press Tab until the focused element matches ``wanted``; return its description."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused: dict[str, Any] = page.evaluate(FOCUSED)
        if wanted(focused):
            return focused
    raise AssertionError(f"Tab never reached the element wanted within {limit} presses")


def visible_focus(focused: dict[str, Any]) -> bool:
    return bool(focused["outline"] != "none" and focused["outlineWidth"] > 0)


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_keyboard_alone(open_checklist: OpenChecklist, viewport: tuple[int, int]) -> None:
    checklist = open_checklist(keyboard=True, viewport=viewport)
    page = checklist.page
    no_horizontal_overflow(page, viewport[0])
    check_structure(page)

    # The channel toggle: one Tab stop, arrow keys choose, the choice is saved for the agent.
    channel = tab_to(page, lambda f: f["name"] == "channel")
    assert channel["value"] == "phone" and visible_focus(channel), channel
    with page.expect_response(lambda r: r.url.endswith("/me/checklist") and r.request.method == "POST") as saved:
        page.keyboard.press("ArrowRight")
    assert saved.value.status == 204
    expect(page.get_by_role("radio", name="chat")).to_be_checked()
    segment = tab_to(page, lambda f: f["name"] == "segment")
    assert segment["value"] == "private" and visible_focus(segment), segment

    # Every tick button is a Tab stop with a visible focus ring; Enter on one logs it.
    for key in ("billing", "login", "delivery"):
        button = tab_to(page, lambda f, key=key: f["key"] == key and f["tag"] == "button")
        assert visible_focus(button), button
        if key == "login":
            page.keyboard.press("Enter")
            expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis login")
    other = tab_to(page, lambda f: f["id"] == "other-button")
    assert visible_focus(other), other
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.keys == {"login"} and enquiry.channel == "chat" and enquiry.segment == "private"

    checklist.reload()
    expect(page.get_by_role("radio", name="chat")).to_be_checked()
    expect(page.get_by_role("radio", name="phone")).not_to_be_checked()
    expect(checklist.recent).to_contain_text("Hypothesis login")
    no_horizontal_overflow(page, viewport[0])


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_mouse_alone(open_checklist: OpenChecklist, viewport: tuple[int, int]) -> None:
    checklist = open_checklist(viewport=viewport)
    page = checklist.page
    no_horizontal_overflow(page, viewport[0])
    check_structure(page)

    for group, option in (("Channel", "email"), ("Customer", "business")):
        with page.expect_response(lambda r: r.url.endswith("/me/checklist") and r.request.method == "POST") as saved:
            page.get_by_role("group", name=group).get_by_text(option, exact=True).click()
        assert saved.value.status == 204
        expect(page.get_by_role("radio", name=option)).to_be_checked()

    page.get_by_role("button", name="Hypothesis delivery").click()
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis delivery")
    page.get_by_role("button", name="Other — something not on the list").click()
    expect(page.locator("#other-note")).to_be_focused()
    page.locator("#other-note").fill("asked about opening hours")
    page.get_by_role("button", name="Log other").click()
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    stored = checklist.wait_for_stored(2)
    assert [(e.keys, e.note, e.channel, e.segment) for e in stored] == [
        ({"delivery"}, None, "email", "business"),
        (frozenset(), "asked about opening hours", "email", "business"),
    ]
    no_horizontal_overflow(page, viewport[0])  # with toasts and the recent list showing

    checklist.reload()
    expect(page.get_by_role("radio", name="email")).to_be_checked()
    expect(page.get_by_role("radio", name="business")).to_be_checked()
    no_horizontal_overflow(page, viewport[0])


# --- 9. escaped output -------------------------------------------------------------------

HOSTILE_NOTE = (
    '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b hx-get="/logout" hx-trigger="load">bold</b>'
)


def test_a_hostile_note_is_shown_as_text(checklist: Checklist) -> None:
    page = checklist.page
    logout_requests: list[str] = []
    page.on("request", lambda r: logout_requests.append(r.url) if "/logout" in r.url else None)

    page.get_by_role("button", name="Other — something not on the list").click()
    page.locator("#other-note").fill(HOSTILE_NOTE)
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.note == HOSTILE_NOTE

    checklist.reload()
    item = checklist.recent.get_by_role("listitem")
    expect(item).to_contain_text("<script>window.__xss=2</script>")
    expect(item).to_contain_text('<b hx-get="/logout" hx-trigger="load">bold</b>')
    expect(checklist.recent.locator("img, script, b")).to_have_count(0)
    # htmx processes swapped content too: refresh the list the htmx way and look again.
    with page.expect_response(lambda r: r.url.endswith("/checklist/recent")):
        page.evaluate("htmx.trigger(document.body, 'tally:changed')")
    expect(item).to_contain_text("<script>")
    expect(checklist.recent.locator("img, script, b")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"

    assert logout_requests == []
    checklist.reload()
    expect(page).to_have_url(re.compile(re.escape(checklist.path) + "$"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


# --- 10. one press, one enquiry: auto-repeat, double-clicks, bounces ----------------------

COUNTED_ONCE = "Counted once: pressed twice quickly"


def with_fake_clock(checklist: Checklist) -> None:
    """Playwright's clock in the page (installed before its scripts run), still running."""
    checklist.page.clock.install()
    checklist.reload()


def test_a_held_key_logs_one_enquiry(checklist: Checklist) -> None:
    page = checklist.page
    with_fake_clock(checklist)
    page.keyboard.down("1")
    page.clock.run_for(1_000)  # held for a second and more: the key repeats all the while
    page.keyboard.down("1")  # Playwright marks a second keydown without a keyup as a repeat
    page.evaluate(
        """() => { for (let i = 0; i < 5; i++) document.body.dispatchEvent(new KeyboardEvent('keydown',
             {key: '1', code: 'Digit1', repeat: true, bubbles: true, cancelable: true})); }"""
    )
    page.keyboard.up("1")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    expect(checklist.count("billing")).to_have_text("1")  # counted on screen once, too
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]
    expect(checklist.toasts).to_have_count(1)
    assert checklist.queue() == []


def test_the_other_key_held_or_pressed_twice_types_nothing_into_the_note(checklist: Checklist) -> None:
    page = checklist.page
    note = page.locator("#other-note")
    with_fake_clock(checklist)
    page.keyboard.down("0")
    page.clock.run_for(1_000)  # held: the key repeats, now in the note the first press opened
    page.keyboard.down("0")
    page.keyboard.down("0")
    page.keyboard.up("0")
    expect(note).to_be_focused()
    expect(note).to_have_value("")

    page.keyboard.press("Escape")
    page.keyboard.press("0")
    page.clock.run_for(100)
    page.keyboard.press("0")  # pressed twice quickly: one press
    expect(note).to_have_value("")
    page.clock.run_for(1_000)
    page.keyboard.type("app 0 crash")  # typed afterwards, a 0 is the note's
    expect(note).to_have_value("app 0 crash")
    page.keyboard.press("Enter")
    assert [(e.is_other, e.note) for e in checklist.wait_for_stored(1)] == [(True, "app 0 crash")]


def test_a_double_click_logs_one_enquiry_and_says_so(checklist: Checklist) -> None:
    checklist.tick("login").dblclick()
    # Said on the enquiry's own notice (on a phone only the newest notice is shown).
    expect(checklist.toasts).to_have_count(1)
    expect(checklist.toasts.first).to_have_text(re.compile(r"^Logged: Hypothesis login\s*Undo \(U\)" + COUNTED_ONCE))
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"login"}]
    expect(checklist.count("login")).to_have_text("1")


def test_the_same_key_twice_quickly_is_one_enquiry_a_second_apart_two(checklist: Checklist) -> None:
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if is_tick_request(r) else None)

    page.keyboard.press("2")
    page.clock.run_for(100)
    page.keyboard.press("2")  # 100 ms later: the same enquiry
    expect(checklist.toasts.first).to_contain_text(COUNTED_ONCE)
    [first] = checklist.wait_for_stored(1)
    expect(checklist.count("login")).to_have_text("1")

    page.clock.run_for(1_200)
    page.keyboard.press("2")  # 1.2 s after that: a second enquiry
    stored = checklist.wait_for_stored(2)
    assert [e.keys for e in stored] == [{"login"}, {"login"}]
    assert stored[0] == first and stored[1].idempotency_key != first.idempotency_key

    # A different key at once is a different enquiry; so is the same key with another channel.
    page.keyboard.press("3")
    page.get_by_role("group", name="Channel").get_by_text("chat", exact=True).click()
    page.keyboard.press("3")
    stored = checklist.wait_for_stored(4)
    assert [(set(e.keys), e.channel) for e in stored[2:]] == [({"delivery"}, "phone"), ({"delivery"}, "chat")]
    # The browser's word of the last request may come after the database has it.
    wait_until(lambda: len(posts) >= 4, message="the four requests seen", page=page)
    assert len(posts) == 4  # the press folded into the first was never sent
    page.clock.resume()


def test_an_answer_asked_before_a_tick_does_not_take_its_count_back(checklist: Checklist) -> None:
    """A count poll on its way when the agent ticks brings the number from before the tick: the
    guess on screen stays, and the refresh the tick asked for, held back meanwhile, still comes."""
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    page.wait_for_load_state("networkidle")  # the polls that minute fired are answered
    # (wait_for_function is no use here: the page's CSP refuses the eval it is built on)
    page.evaluate(
        """() => { window.__counts = 0; document.body.addEventListener('htmx:afterRequest', (e) => {
             if (e.detail.pathInfo.requestPath.endsWith('/checklist/counts')) window.__counts += 1; }); }"""
    )
    held: list[tuple[Route, Any]] = []

    def hold(route: Route) -> None:
        held.append((route, route.fetch()))  # answered by the server now, sent on when the test says

    page.route(re.compile(r"/checklist/counts$"), hold)
    page.clock.run_for(20_000)  # the counts poll
    wait_until(lambda: len(held) == 1, message="the poll held", page=page)

    page.keyboard.press("2")
    checklist.wait_for_stored(1)
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis login")
    expect(checklist.count("login")).to_have_text("1")
    page.clock.run_for(400)  # the tick's refresh is due while the poll is still on its way
    route, answer = held[0]
    route.fulfill(response=answer)
    wait_until(lambda: page.evaluate("window.__counts") >= 1, message="the poll answered", page=page)
    assert page.locator("#count-login .n").text_content() == "1"  # not the 0 from before the tick
    wait_until(lambda: len(held) == 2, message="the tick's refresh asked for", page=page)
    route, answer = held[1]
    route.fulfill(response=answer)
    wait_until(lambda: page.evaluate("window.__counts") >= 2, message="the refresh answered", page=page)
    expect(checklist.count("login")).to_have_text("1")
    page.clock.resume()


# --- 11. the list changes under an open page -----------------------------------------------


def edit_list(checklist: Checklist, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """A lead's edit, saved as the editor saves it: the launch's set, changed, imported."""
    with checklist.db.transaction() as session:
        launch = session.get(Launch, checklist.launch.id)
        assert launch is not None
        data = hypothesis_sets.current_spec(session, launch).model_dump()
        data["hypotheses"] = change(data["hypotheses"])
        hypothesis_sets.import_launch(
            session,
            hypothesis_sets.revalidate(data),
            actor="lena",
            now=dt.datetime.now(dt.UTC),
            default_timezone="Europe/Oslo",
            default_digest_times=[],
        )


def retire(*keys: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return lambda items: [i | {"status": "retired"} if i["key"] in keys else i for i in items]


def test_an_open_page_gets_the_changed_list_and_says_what_changed(checklist: Checklist) -> None:
    page = checklist.page
    with_fake_clock(checklist)
    versions: list[str] = []
    page.on("response", lambda r: versions.append(r.url) if r.url.endswith("/checklist/version") else None)
    # The agent's choices: a channel, and one hypothesis selected to combine.
    page.get_by_role("group", name="Channel").get_by_text("chat", exact=True).click()
    page.keyboard.press("Shift+3")
    expect(page.locator("#combine-text")).to_contain_text("1 selected")

    def change(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [*retire("login")(items), {"key": "refund", "text": "Hypothesis refund"}]

    edit_list(checklist, change)
    page.clock.run_for(5_000)  # the next poll
    expect(checklist.tick("login")).to_have_count(0)
    changes = page.locator("#changes")
    expect(changes).to_contain_text("The list of hypotheses changed:")
    expect(changes.get_by_role("listitem")).to_have_text(
        ["Retired: Hypothesis login", "Moved: Hypothesis delivery 2", "New: Hypothesis refund 3"]
    )
    assert versions, "the page never asked for the list's version"
    expect(checklist.tick("delivery").locator("kbd")).to_have_text("2")
    expect(checklist.tick("refund").locator("kbd")).to_have_text("3")
    # Nothing the agent had chosen was lost.
    expect(page.get_by_role("radio", name="chat")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Select to combine: Hypothesis delivery")).to_be_checked()
    expect(page.locator("#combine-text")).to_contain_text("1 selected")

    # The new keys work at once: Escape clears the selection, then 3 logs the new hypothesis.
    page.keyboard.press("Escape")
    page.keyboard.press("3")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis refund")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.keys == {"refund"} and enquiry.channel == "chat"
    changes.get_by_role("button", name="Dismiss").click()
    expect(changes).to_be_empty()


def unretire(*keys: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    return lambda items: [i | {"status": "open"} if i["key"] in keys else i for i in items]


def test_the_changes_box_says_how_the_list_differs_from_what_the_agent_saw_last(checklist: Checklist) -> None:
    """Two edits without Dismiss between them piled up: "Moved: … 2" and "Moved: … 3" for one
    hypothesis, a Dismiss button each, and a retired hypothesis put back was "New"."""
    page = checklist.page
    with_fake_clock(checklist)
    changes = page.locator("#changes")
    lines = changes.get_by_role("listitem")

    def edited(change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        version = page.locator("#board").get_attribute("data-version")
        edit_list(checklist, change)
        page.clock.run_for(5_000)  # the next poll
        expect(page.locator("#board")).not_to_have_attribute("data-version", version or "")

    edited(retire("login"))
    expect(lines).to_have_text(["Retired: Hypothesis login", "Moved: Hypothesis delivery 2"])
    edited(lambda items: [*items, {"key": "refund", "text": "Hypothesis refund"}])
    expect(lines).to_have_text(
        ["Retired: Hypothesis login", "Moved: Hypothesis delivery 2", "New: Hypothesis refund 3"]
    )
    expect(changes.get_by_role("button")).to_have_count(1)
    # Put back where it was: only the new one differs from what the agent last saw.
    edited(unretire("login"))
    expect(lines).to_have_text(["New: Hypothesis refund 4"])
    expect(changes.get_by_role("button")).to_have_count(1)

    changes.get_by_role("button", name="Dismiss").click()
    expect(changes).to_be_empty()
    edited(retire("login"))
    expect(lines).to_have_text(
        ["Retired: Hypothesis login", "Moved: Hypothesis delivery 2", "Moved: Hypothesis refund 3"]
    )
    changes.get_by_role("button", name="Dismiss").click()
    edited(unretire("login"))
    expect(lines).to_have_text(
        ["Back on the list: Hypothesis login 2", "Moved: Hypothesis delivery 3", "Moved: Hypothesis refund 4"]
    )
    page.clock.resume()


def test_a_channel_taken_off_the_launch_is_not_swapped_for_another_unasked(checklist: Checklist) -> None:
    """A lead renamed the channel an agent had chosen: the new board came with the first channel chosen,
    nothing was said, and her next ticks counted as phone calls."""
    page = checklist.page
    with_fake_clock(checklist)
    channels = page.get_by_role("group", name="Channel")
    channels.get_by_text("social", exact=True).click()
    expect(page.get_by_role("radio", name="social")).to_be_checked()

    def saved_channel() -> str | None:
        with checklist.db.session() as session:
            user = session.get(User, checklist.user.id)
            return user.channel if user else None

    wait_until(lambda: saved_channel() == "social", page=page)  # the board the server makes would choose phone
    with checklist.db.transaction() as session:
        launch = session.get(Launch, checklist.launch.id)
        assert launch is not None
        launch.channels = ["phone", "chat", "email", "social-media"]
        launch.updated_at = dt.datetime.now(dt.UTC)
        session.add(launch)
    page.clock.run_for(5_000)  # the next poll
    expect(page.get_by_role("radio", name="social-media")).to_be_visible()
    expect(page.locator('input[name="channel"]:checked')).to_have_count(0)
    changes = page.locator("#changes")
    expect(changes).to_have_text(re.compile(r"The channel “social” is no longer offered: choose one before you log"))
    expect(changes).not_to_contain_text("The list of hypotheses changed")

    page.keyboard.press("1")
    expect(page.locator("#rejections")).to_have_text("Not logged: Hypothesis billing. Choose a channel first.")
    expect(checklist.toasts.first).to_have_text("Not logged: Hypothesis billing. Choose a channel first.")
    page.keyboard.press("0")
    page.keyboard.type("asked about the watch")
    page.keyboard.press("Enter")
    expect(page.locator("#rejections p").last).to_have_text("Not logged: Other. Choose a channel first.")
    expect(page.locator("#other-note")).to_have_value("asked about the watch")  # still there, to log
    assert checklist.queue() == [] and checklist.stored() == []

    channels.get_by_text("social-media", exact=True).click()
    expect(changes).to_be_empty()
    page.locator("#other-note").press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    page.keyboard.press("1")
    stored = checklist.wait_for_stored(2)
    assert [(set(e.keys), e.channel) for e in stored] == [(set(), "social-media"), ({"billing"}, "social-media")]
    page.clock.resume()


def test_a_tick_refused_for_a_retired_hypothesis_is_kept_to_log_again(checklist: Checklist) -> None:
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))  # no poll comes to the rescue
    # Getting there fired the polls of that minute: their question must be answered before the edit,
    # or a slow answer brings the new list and "2" is another hypothesis.
    page.wait_for_load_state("networkidle")
    edit_list(checklist, retire("login"))  # before the page has heard of it
    with page.expect_response(is_tick) as answer:
        page.keyboard.press("2")
    assert answer.value.status == 422 and answer.value.json()["error"]["code"] == "retired_hypothesis"
    kept = page.locator("#not-logged")
    expect(kept).to_be_visible()
    expect(kept.get_by_role("listitem")).to_contain_text("Hypothesis login")
    expect(checklist.toasts.first).to_have_text("Not logged: Hypothesis login")  # said near the buttons too
    # The refusal brings the new list at once, without waiting for the next poll.
    expect(checklist.tick("login")).to_have_count(0)
    expect(page.locator("#changes")).to_contain_text("Retired: Hypothesis login")
    log_as_other = kept.get_by_role("button", name="Log as Other: Hypothesis login")
    expect(log_as_other).to_have_attribute("aria-keyshortcuts", ".")
    checklist.reload()  # kept in the browser, like the queue
    expect(kept.get_by_role("listitem")).to_have_count(1)

    page.keyboard.press(".")
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.is_other and enquiry.note == "Hypothesis login"
    expect(kept).to_be_hidden()

    # Two selected as one enquiry, one of them retired meanwhile: "log again as" the one still on the list.
    page.keyboard.press("Shift+1")
    page.keyboard.press("Shift+2")
    expect(page.locator("#combine-text")).to_contain_text("2 selected")
    edit_list(checklist, retire("delivery"))
    page.keyboard.press("Enter")
    # Exact: until the page has the new list, the button says "… billing + Hypothesis delivery" (and
    # would log both again), which the name without exact=True also matches.
    again = kept.get_by_role("button", name="Log again as: Hypothesis billing", exact=True)
    expect(again).to_be_visible()
    expect(kept.get_by_role("button", name="Dismiss: Hypothesis billing + Hypothesis delivery")).to_be_visible()
    expect(kept.get_by_role("button", name="Log as Other: Hypothesis billing + Hypothesis delivery")).to_be_visible()
    again.click()
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    stored = checklist.wait_for_stored(2)
    assert stored[1].keys == {"billing"} and not stored[1].is_other
    expect(kept).to_be_hidden()
    page.clock.resume()


# --- 12. what the agent is told: server errors, plurals, names, contrast, nothing covered -------


def test_logging_a_kept_tick_again_at_once_is_not_taken_for_a_second_press(checklist: Checklist) -> None:
    """Until the page has the new list, "log again" sends the same enquiry; that is the agent's choice,
    not a double press to count once (the clock is paused, so no time passes between the two)."""
    page = checklist.page
    page.route("**/checklist/version", lambda route: route.abort())  # the page never hears of the edit
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    edit_list(checklist, retire("login"))
    with page.expect_response(is_tick) as answer:
        page.keyboard.press("2")
    assert answer.value.status == 422
    again = page.locator("#not-logged").get_by_role("button", name="Log again as: Hypothesis login")
    with page.expect_response(is_tick) as second:
        again.click()
    assert second.value.status == 422  # sent, and refused again: still retired
    expect(page.locator("#not-logged").get_by_role("listitem")).to_have_count(1)
    expect(checklist.toasts.filter(has_text="Counted once")).to_have_count(0)


def send_on(page: Page, url: re.Pattern[str], held: list[Route]) -> None:
    """Stop holding requests to ``url`` and send on those held. (Removing the route alone released
    them only while it was the page's last: the checklist fixture keeps one for ticks.)"""
    page.unroute(url)
    for route in held:
        route.continue_()


def test_two_identical_kept_ticks_logged_again_in_a_row_are_both_logged(checklist: Checklist) -> None:
    """The second "log as Other" a moment after the first is the same enquiry again to the double-press
    guard, which does not queue it: it must stay in the list, not vanish unlogged."""
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    page.wait_for_load_state("networkidle")
    edit_list(checklist, retire("login"))
    # The first refusal asks for the new list; held until both calls are made, or "2" could be
    # another hypothesis by the second.
    held: list[Route] = []
    page.route(re.compile(r"/checklist/version$"), lambda route: held.append(route))
    for _ in range(2):  # two calls about it, a second apart
        with page.expect_response(is_tick) as answer:
            page.keyboard.press("2")
        assert answer.value.status == 422
        page.clock.run_for(1_000)
    send_on(page, re.compile(r"/checklist/version$"), held)
    kept = page.locator("#not-logged")
    expect(kept.get_by_role("listitem")).to_have_count(2)
    # The refusal brings the new list; until it is there "." would log them as login again (refused).
    expect(checklist.tick("login")).to_have_count(0)
    page.keyboard.press(".")
    page.keyboard.press(".")  # at once: the guard holds it back, and it stays
    checklist.wait_for_stored(1)
    expect(kept.get_by_role("listitem")).to_have_count(1)
    page.clock.run_for(1_000)
    page.keyboard.press(".")
    assert [e.is_other for e in checklist.wait_for_stored(2)] == [True, True]
    expect(kept).to_be_hidden()
    page.clock.resume()


def test_a_tick_not_logged_is_logged_again_from_one_tab_only(checklist: Checklist) -> None:
    """The "Not logged" list is kept in the browser, for all of the agent's tabs of the launch: logged
    again in one, the other tab still showed it, and logging it there too logged the enquiry twice."""
    page = checklist.page
    page.route("**/checklist/version", lambda route: route.abort())  # this tab keeps the old list
    edit_list(checklist, retire("login"))
    with page.expect_response(is_tick) as answer:
        page.keyboard.press("2")
    assert answer.value.status == 422
    kept = page.locator("#not-logged")
    expect(kept.get_by_role("listitem")).to_have_count(1)

    other = page.context.new_page()
    other.goto(checklist.path)
    other.wait_for_load_state("load")
    other_kept = other.locator("#not-logged")
    expect(other_kept.get_by_role("listitem")).to_have_count(1)
    other.keyboard.press(".")
    expect(other_kept).to_be_hidden()
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.is_other and enquiry.note == "Hypothesis login"
    expect(kept).to_be_hidden()  # gone from this tab's list too

    # Its button pressed before this tab has heard (the other tab's change on its way): nothing is logged.
    with page.expect_response(is_tick) as answer:
        page.keyboard.press("2")
    assert answer.value.status == 422
    expect(kept.get_by_role("listitem")).to_have_count(1)
    page.evaluate(
        "key => localStorage.setItem(key, '[]')", f"tally:not-logged:{checklist.user.id}:{checklist.launch.slug}"
    )
    kept.get_by_role("button", name="Log as Other: Hypothesis login").click()
    expect(kept).to_be_hidden()
    page.keyboard.press("1")  # the next enquiry: sent after anything that click queued
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    assert [(e.is_other, set(e.keys)) for e in checklist.wait_for_stored(2)] == [(True, set()), (False, {"billing"})]
    other.close()


def test_a_server_error_is_not_called_a_lost_connection(checklist: Checklist) -> None:
    page = checklist.page
    checklist.route_ticks(
        lambda route: route.fulfill(status=500, json={"error": {"code": "internal", "message": "boom"}}),
    )
    with page.expect_response(is_tick) as answer:
        page.keyboard.press("1")
    assert answer.value.status == 500
    connection = checklist.connection
    expect(connection).to_have_text("The server had a problem; 1 enquiry is kept and will be sent again.")
    expect(connection).not_to_contain_text("No connection")
    assert len(checklist.queue()) == 1 and checklist.stored() == []

    checklist.route_ticks(None)
    page.evaluate("window.dispatchEvent(new Event('online'))")  # sends at once, rather than at the next retry
    expect(connection).to_have_text("Everything waiting was sent.")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]


def test_counts_take_the_right_plural_form(checklist: Checklist) -> None:
    page = checklist.page
    page.keyboard.press("Shift+1")
    expect(page.locator("#combine-text")).to_have_text("1 selected: press Enter to log it, Esc to clear.")
    page.keyboard.press("Shift+2")
    expect(page.locator("#combine-text")).to_have_text(
        "2 selected: press Enter to log them as one enquiry, Esc to clear."
    )


SELECTED = (
    "{n} selected: press Enter to log it, Esc to clear.",
    "{n} selected: press Enter to log them as one enquiry, Esc to clear.",
)


def test_counts_take_the_right_plural_form_in_norwegian(checklist: Checklist) -> None:
    if i18n.translations("nb").ngettext(*SELECTED, 1) == SELECTED[0]:
        pytest.skip("the bokmål catalogue has no translation of the plural texts yet")
    page = checklist.page
    page.get_by_label("Language").select_option("nb")
    page.get_by_role("button", name="Change").click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    page.wait_for_load_state("load")
    page.keyboard.press("Shift+1")
    expect(page.locator("#combine-text")).to_have_text(re.compile(r"^1 valgt: .* den\b"))
    page.keyboard.press("Shift+2")
    expect(page.locator("#combine-text")).to_have_text(re.compile(r"^2 valgt: .* dem\b"))
    page.context.set_offline(True)
    page.keyboard.press("Escape")
    page.keyboard.press("3")
    expect(checklist.connection).to_contain_text("1 henvendelse ")
    page.context.set_offline(False)


def accessibility_node(page: Page, selector: str) -> dict[str, Any]:
    """Chromium's accessibility node for the element, as a screen reader is given it."""
    cdp = page.context.new_cdp_session(page)
    try:
        document = cdp.send("DOM.getDocument", {"depth": 0})
        element = cdp.send("DOM.querySelector", {"nodeId": document["root"]["nodeId"], "selector": selector})
        tree = cdp.send("Accessibility.getPartialAXTree", {"nodeId": element["nodeId"], "fetchRelatives": False})
    finally:
        cdp.detach()
    node: dict[str, Any] = tree["nodes"][0]
    return node


def live(node: dict[str, Any]) -> str | None:
    """How a live region speaks (polite, assertive), or None when it is not one (or not in the tree)."""
    if node["ignored"]:
        return None
    return next((p["value"]["value"] for p in node.get("properties", []) if p["name"] == "live"), None)


def test_live_regions_are_in_the_accessibility_tree_before_they_speak(checklist: Checklist) -> None:
    """The connection's box and the "N selected" bar were hidden until their text came: out of the
    accessibility tree until then, so "No connection…" and "2 selected…" were likely never read out."""
    page = checklist.page
    with_fake_clock(checklist)
    connection, combine_text = checklist.connection, page.locator("#combine-text")
    for selector in ("#connection", "#combine-text"):
        assert live(accessibility_node(page, selector)) == "polite", selector
    expect(connection).to_be_hidden()  # takes no room while it has nothing to say
    expect(page.locator("#combine-bar")).to_be_hidden()

    page.context.set_offline(True)
    page.keyboard.press("1")
    expect(connection).to_contain_text("No connection to the server.")
    page.context.set_offline(False)
    expect(connection).to_have_text("Connection is back: everything was sent.")
    page.clock.run_for(5_000)
    expect(connection).to_be_empty()  # gone a few seconds later...
    assert live(accessibility_node(page, "#connection")) == "polite"  # ...and still there for the next time

    page.keyboard.press("Shift+2")
    expect(combine_text).to_have_text("1 selected: press Enter to log it, Esc to clear.")
    page.keyboard.press("Escape")
    expect(combine_text).to_be_empty()
    expect(page.locator("#combine-bar")).to_be_hidden()
    assert live(accessibility_node(page, "#combine-text")) == "polite"


def test_repeated_buttons_have_names_of_their_own(checklist: Checklist) -> None:
    page = checklist.page
    for key in ("1", "2"):
        page.keyboard.press(key)
    checklist.wait_for_stored(2)
    toasts = page.locator("#toasts")
    expect(toasts.get_by_role("button", name="Undo: Hypothesis billing", exact=True)).to_have_count(1)
    expect(toasts.get_by_role("button", name="Undo: Hypothesis login", exact=True)).to_have_count(1)
    recent = checklist.recent.get_by_role("button")
    expect(recent).to_have_count(2)
    names = [str(b.get_attribute("aria-label")) for b in recent.all()]
    assert [re.sub(r"\d\d:\d\d$", "HH:MM", n) for n in names] == [
        "Undo: Hypothesis login, HH:MM",
        "Undo: Hypothesis billing, HH:MM",
    ]
    for button in page.get_by_role("button").all():
        if button.is_visible():
            name = button.evaluate("b => b.getAttribute('aria-label') || b.textContent.trim()")
            assert name.strip() not in ("Undo", "Undo (U)", "Dismiss", "Save"), name


CONTRAST = """el => {
  const rgba = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  let bg = null;
  for (let node = el; node && !bg; node = node.parentElement) {
    const c = rgba(getComputedStyle(node).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) bg = c.slice(0, 3);
  }
  return { color: rgba(getComputedStyle(el).color).slice(0, 3), background: bg || [255, 255, 255] };
}"""


def contrast(color: list[float], background: list[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0–255)."""

    def luminance(rgb: list[float]) -> float:
        linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(color), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_key_hints_are_readable_in_every_button(checklist: Checklist) -> None:
    page = checklist.page
    page.keyboard.press("Shift+1")  # the "N selected" bar, with its primary button
    page.keyboard.press("0")  # and the Other form, with its own
    expect(page.locator("#combine-bar")).to_be_visible()
    expect(page.locator("#other-form")).to_be_visible()
    hints = page.locator("kbd").filter(visible=True)
    assert hints.count() >= 8
    primaries = 0
    for hint in hints.all():
        colours = hint.evaluate(CONTRAST)
        ratio = contrast(colours["color"], colours["background"])
        where = hint.evaluate("k => k.closest('button') ? k.closest('button').textContent.trim() : k.textContent")
        assert ratio >= 4.5, f"{where!r}: contrast {ratio:.2f}:1 ({colours})"
        primaries += hint.evaluate("k => Boolean(k.closest('.primary'))")
    assert primaries == 2


NOT_COVERED = """(el, block) => {
  if (block === "page top") window.scrollTo(0, 0); else el.scrollIntoView({block: block});
  const box = el.getBoundingClientRect();
  if (box.bottom <= 0 || box.top >= window.innerHeight) return false;  // out of sight: nothing to cover
  // The middle, and the middle of each edge (clear of the rounded corners).
  const [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
  const points = [[x, y], [box.left + 3, y], [box.right - 3, y], [x, box.top + 3], [x, box.bottom - 3]];
  return points.some(([x, y]) => { const hit = document.elementFromPoint(x, y); return !hit || !el.contains(hit); });
}"""


# Long texts make long notices and push the recent list's Undo buttons to the right, where notices sit.
LONG_KEYS = ("billing-after-the-price-change-in-the-new-app", "login-loop-with-bankid-on-older-phones", "delivery")


@pytest.mark.parametrize("viewport", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_notices_never_cover_the_selected_bar_or_undo_buttons(
    open_checklist: OpenChecklist, viewport: tuple[int, int]
) -> None:
    checklist = open_checklist(LONG_KEYS, viewport=viewport)
    page = checklist.page
    for key in "123123":  # enough for the recent list to reach the foot of the window
        page.keyboard.press(key)
        expect(checklist.toasts.first).to_contain_text("Logged")
    checklist.tick(LONG_KEYS[0]).dblclick()  # and the "counted once" notice
    expect(checklist.toasts.first).to_contain_text(COUNTED_ONCE)
    page.keyboard.press("Shift+1")
    expect(page.locator("#combine-bar")).to_be_visible()
    expect(checklist.recent.get_by_role("listitem")).to_have_count(7)
    expect(checklist.toasts).to_have_count(3)
    expect(page.locator("#toasts button")).not_to_have_count(0)

    targets = [
        page.locator("#combine-bar"),
        *page.locator("#combine-bar button").all(),
        *page.locator("#toasts button").all(),
        *checklist.recent.get_by_role("button").all(),
    ]
    # Each with the page at its top (the bar stuck to the foot of the window), then scrolled to the top of
    # the window, then to its foot (where notices go).
    for block in ("page top", "start", "end"):
        for target in targets:
            covered = target.evaluate(NOT_COVERED, block)
            assert not covered, f"covered ({block}): {target.evaluate('e => e.outerHTML.slice(0, 120)')}"
    no_horizontal_overflow(page, viewport[0])


# A list longer than a laptop's window shows: its last rows are under the strip at the window's foot.
MANY_KEYS = tuple(f"h{n:02}" for n in range(1, 21))

BESIDE_THE_NOTICES = """() => {
  // (2 px around each: a box is drawn on whole pixels)
  const inside = (r, x, y) => x >= r.left - 2 && x <= r.right + 2 && y >= r.top - 2 && y <= r.bottom + 2;
  const strip = document.getElementById("dock").getBoundingClientRect();
  const drawn = Array.from(document.querySelectorAll("#dock .toast, #dock .combine-bar, #dock .other-form"))
    .map((e) => e.getBoundingClientRect());
  return Array.from(document.querySelectorAll("button.tick")).flatMap((button) => {
    const box = button.getBoundingClientRect();
    const [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
    if (!inside(strip, x, y) || drawn.some((d) => inside(d, x, y))) return [];
    const hit = document.elementFromPoint(x, y);
    return [{key: button.dataset.key || button.id, x: x, y: y, reached: Boolean(hit && button.contains(hit))}];
  });
}"""

COVERED_WHERE_IT_IS = """el => {
  const box = el.getBoundingClientRect();
  const [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
  const points = [[x, y], [box.left + 3, y], [box.right - 3, y], [x, box.top + 3], [x, box.bottom - 3]];
  return points.some(([x, y]) => { const hit = document.elementFromPoint(x, y); return !hit || !el.contains(hit); });
}"""


def test_notices_never_cover_the_tick_buttons_beside_them(open_checklist: OpenChecklist) -> None:
    """The strip at the foot of the window is as wide as the page, its notices on the right. The
    buttons under its empty part took no clicks (the strip caught them); and a button reached by Tab
    could stay hidden under a notice."""
    checklist = open_checklist(MANY_KEYS, viewport=(1366, 657))
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))  # the notices stay while it looks
    for key in "123":
        page.keyboard.press(key)
        expect(checklist.toasts.first).to_contain_text(f"Logged: Hypothesis h0{key}")
    expect(checklist.toasts).to_have_count(3)

    beside = page.evaluate(BESIDE_THE_NOTICES)
    assert "h16" in [b["key"] for b in beside], beside  # the window shows what it should
    assert [b["key"] for b in beside if not b["reached"]] == []
    h16 = next(b for b in beside if b["key"] == "h16")
    page.mouse.click(h16["x"], h16["y"])
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis h16")
    expect(checklist.count("h16")).to_have_text("1")
    assert checklist.wait_for_stored(4)[-1].keys == {"h16"}

    # By keyboard, from the top: each tick button and tick box, once focused, is in sight and clear of the strip.
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#segment-group input:checked").focus()
    for _ in range(2 * len(MANY_KEYS) + 1):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        assert focused.evaluate("el => el.matches('button.tick, .combine-box')"), focused.evaluate("e => e.outerHTML")
        covered = focused.evaluate(COVERED_WHERE_IT_IS)
        assert not covered, f"covered: {focused.evaluate('e => e.outerHTML.slice(0, 120)')}"
    expect(page.locator("#other-button")).to_be_focused()
    # The strip's own buttons are in sight where they are: focusing one does not scroll the page.
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#toasts button").first.focus()
    assert page.evaluate("window.scrollY") == 0
    page.clock.resume()


# --- 13. a press repeated on a button that goes away with the first ------------------------


def tick_posts(page: Page) -> list[str]:
    """The bodies of the tick requests the page sends from now on."""
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.post_data or "") if is_tick_request(r) else None)
    return posts


def settled(page: Page) -> None:
    """A round trip to the page: the events of the last key press or click have been handled."""
    page.evaluate("0")


def two_selected_on_a_held_clock(checklist: Checklist) -> list[str]:
    """The page's clock held still (the presses that follow come within the half second), the first two
    hypotheses selected to combine; the tick requests' bodies from now on."""
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    posts = tick_posts(page)
    page.keyboard.press("Shift+1")
    page.keyboard.press("Shift+2")
    return posts


def test_enter_pressed_twice_on_a_button_that_goes_away_logs_nothing_more(checklist: Checklist) -> None:
    """The first Enter on "Log as one enquiry", "Clear" or a notice's Undo moves focus to a hypothesis's
    button (its own went away), and a second Enter a moment later logged that hypothesis."""
    page = checklist.page
    posts = two_selected_on_a_held_clock(checklist)
    page.locator("#log-selected").focus()
    page.keyboard.press("Enter")
    expect(checklist.tick("billing")).to_be_focused()
    page.keyboard.press("Enter")
    settled(page)
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing + Hypothesis login")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing", "login"}]
    assert len(posts) == 1
    expect(checklist.count("billing")).to_have_text("1")

    page.clock.run_for(1_000)
    page.keyboard.press("Shift+3")
    page.locator("#clear-selected").focus()
    page.keyboard.press("Enter")
    expect(checklist.tick("delivery")).to_be_focused()
    page.keyboard.press("Enter")
    settled(page)
    assert len(posts) == 1
    expect(checklist.count("delivery")).to_have_text("0")
    page.keyboard.press("3")  # a key is never a press repeated: it logs at once
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis delivery")
    checklist.wait_for_stored(2)

    page.clock.run_for(1_000)
    undo = checklist.toasts.first.get_by_role("button", name="Undo: Hypothesis delivery")
    undo.focus()
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_have_text("Undone")
    expect(checklist.tick("delivery")).to_be_focused()
    page.keyboard.press("Enter")
    settled(page)
    checklist.wait_for_stored(1)
    assert len(posts) == 2

    page.clock.run_for(600)  # later, Enter on the hypothesis's button is a tick of its own
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis delivery")
    assert [e.keys for e in checklist.wait_for_stored(2)] == [{"billing", "login"}, {"delivery"}]
    page.clock.resume()


# Where in the rectangle a button had the pointer is over a hypothesis's button now (what a second click
# there reaches), or null.
OVER_A_TICK = """({x, y, width, height}) => {
  for (let dy = 2; dy < height - 1; dy += 3) {
    for (let dx = 2; dx < width - 1; dx += 3) {
      const hit = document.elementFromPoint(x + dx, y + dy);
      if (hit && hit.closest("button.tick[data-key]")) return [x + dx, y + dy];
    }
  }
  return null;
}"""


def double_click(page: Page, button: Locator, gone: Callable[[], None]) -> None:
    """A double-click on ``button``, its second click once the first has made it go (``gone``): where
    the button was, now over a hypothesis's button."""
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    gone()
    point = page.evaluate(OVER_A_TICK, box)
    assert point, "the button's place is over no hypothesis's button now: the test shows nothing"
    page.mouse.move(*point)
    page.mouse.down(click_count=2)
    page.mouse.up(click_count=2)
    settled(page)


def test_a_double_click_on_a_button_that_goes_away_logs_nothing_under_the_pointer(
    open_checklist: OpenChecklist,
) -> None:
    """The strip at the foot of the window lets clicks through where it draws nothing: the second click
    on "Log as one enquiry" or a notice's Undo, once they were gone, logged the hypothesis under them;
    so did the second click on the list-changed box's Dismiss, the box gone and the buttons moved up."""
    checklist = open_checklist(MANY_KEYS, viewport=(1366, 657))
    page = checklist.page
    posts = two_selected_on_a_held_clock(checklist)
    double_click(page, page.locator("#log-selected"), lambda: expect(page.locator("#combine-bar")).to_be_hidden())
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis h01 + Hypothesis h02")
    checklist.wait_for_stored(1)
    assert len(posts) == 1

    page.clock.run_for(1_000)
    checklist.tick("h05").dblclick()  # its notice says "Counted once" after the Undo, which "Undone" leaves uncovered
    expect(checklist.toasts.first).to_contain_text(COUNTED_ONCE)
    checklist.wait_for_stored(2)
    page.clock.run_for(1_000)
    undo = checklist.toasts.first.get_by_role("button", name="Undo: Hypothesis h05")
    double_click(page, undo, lambda: expect(checklist.toasts.first).to_have_text("Undone"))
    checklist.wait_for_stored(1)
    assert len(posts) == 2

    page.clock.run_for(1_000)
    edit_list(checklist, retire("h01", "h02", "h03", "h04"))
    page.clock.run_for(5_000)  # the next poll
    dismiss = page.locator("#changes").get_by_role("button", name="Dismiss")
    double_click(page, dismiss, lambda: expect(page.locator("#changes")).to_be_empty())
    assert len(posts) == 2
    expect(page.get_by_role("radio", name="phone")).to_be_checked()  # nor chose another channel

    page.clock.run_for(600)
    checklist.tick("h10").click()  # a click later is a tick of its own
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis h10")
    assert [e.keys for e in checklist.wait_for_stored(2)] == [{"h01", "h02"}, {"h10"}]
    page.clock.resume()


# --- 14. focus kept on the page when what held it goes --------------------------------------


def test_focus_stays_on_the_page_when_the_list_or_a_box_changes_under_it(checklist: Checklist) -> None:
    """Focus fell to the page's body: on a tick box or a hypothesis's button (retired) when the buttons
    were swapped, after Dismiss in the list-changed box, and after each button of the "Not logged" box."""
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))
    page.wait_for_load_state("networkidle")

    box = page.get_by_role("checkbox", name="Select to combine: Hypothesis delivery")
    box.focus()
    edit_list(checklist, lambda items: [*items, {"key": "refund", "text": "Hypothesis refund"}])
    page.clock.run_for(5_000)  # the next poll
    expect(checklist.tick("refund")).to_have_count(1)
    expect(box).to_be_focused()

    checklist.tick("login").focus()
    edit_list(checklist, retire("login"))
    page.clock.run_for(5_000)
    expect(checklist.tick("login")).to_have_count(0)
    expect(checklist.tick("delivery")).to_be_focused()  # the one after it

    page.locator("#changes").get_by_role("button", name="Dismiss").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#changes")).to_be_empty()
    expect(checklist.tick("billing")).to_be_focused()  # the first hypothesis's button

    # Two ticks refused, their hypotheses retired before the page heard of it: kept, newest first.
    version = re.compile(r"/checklist/version$")
    held: list[Route] = []
    page.route(version, lambda route: held.append(route))  # held, so the keys stay what they were
    edit_list(checklist, retire("delivery", "refund"))
    for key in "23":
        with page.expect_response(is_tick) as answer:
            page.keyboard.press(key)
        assert answer.value.status == 422
    send_on(page, version, held)
    kept = page.locator("#not-logged").get_by_role("listitem")
    expect(kept).to_have_count(2)
    expect(checklist.tick("refund")).to_have_count(0)
    kept.first.get_by_role("button", name="Log as Other: Hypothesis refund").focus()
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    expect(kept).to_have_count(1)
    expect(kept.first).to_be_focused()  # the next one, itself: a second Enter does nothing to it
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(kept.first.get_by_role("button", name="Log as Other: Hypothesis delivery")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # Dismiss
    expect(page.locator("#not-logged")).to_be_hidden()
    expect(checklist.tick("billing")).to_be_focused()
    assert [e.note for e in checklist.wait_for_stored(1)] == ["Hypothesis refund"]
    page.clock.resume()


# --- 15. a selected hypothesis retired meanwhile --------------------------------------------


def test_a_selected_hypothesis_retired_meanwhile_is_said_to_be_left_out(checklist: Checklist) -> None:
    """Two selected, one of them retired before Enter: the bar went from "2 selected" to "1 selected",
    saying nothing, and Enter logged the other alone."""
    page = checklist.page
    with_fake_clock(checklist)
    combine_text = page.locator("#combine-text")
    page.keyboard.press("Shift+1")
    page.keyboard.press("Shift+2")
    expect(combine_text).to_contain_text("2 selected")
    edit_list(checklist, retire("login"))
    page.clock.run_for(5_000)  # the next poll
    expect(checklist.tick("login")).to_have_count(0)
    expect(combine_text).to_have_text(
        "1 selected: press Enter to log it, Esc to clear. Left out (retired): Hypothesis login"
    )
    page.keyboard.press("Enter")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]
    expect(page.locator("#combine-bar")).to_be_hidden()  # said once: the next selection starts afresh

    # All that was selected retired: the bar stays, to say so, with Clear alone.
    page.keyboard.press("Shift+2")
    expect(combine_text).to_have_text("1 selected: press Enter to log it, Esc to clear.")
    edit_list(checklist, retire("delivery"))
    page.clock.run_for(5_000)
    expect(combine_text).to_have_text("Left out (retired): Hypothesis delivery")
    expect(page.get_by_role("button", name="Log as one enquiry")).to_be_hidden()
    expect(page.get_by_role("button", name="Clear")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#combine-bar")).to_be_hidden()
    assert len(checklist.stored()) == 1
    page.clock.resume()


# --- 16. U on a tick still waiting to be sent ----------------------------------------------


def test_u_on_a_waiting_tick_says_undone_and_takes_its_counts_back_at_once(checklist: Checklist) -> None:
    """Offline, U took the newest waiting tick out of the queue without a word, and the counts on screen
    stayed raised until the connection was back."""
    page = checklist.page
    mine, team = page.locator("#mine-today"), page.locator("#team-since")
    page.context.set_offline(True)
    page.keyboard.press("1")
    expect(checklist.connection).to_contain_text("1 enquiry is kept")
    page.keyboard.press("2")
    expect(checklist.connection).to_contain_text("2 enquiries are kept")
    expect(checklist.count("login")).to_have_text("1")
    expect(mine).to_have_text("2")

    page.keyboard.press("u")  # login: never sent
    expect(checklist.toasts.first).to_have_text("Undone")
    expect(checklist.count("login")).to_have_text("0")
    expect(mine).to_have_text("1")
    expect(team).to_have_text("1")
    expect(checklist.connection).to_contain_text("1 enquiry is kept")
    assert [i["hypotheses"] for i in checklist.queue()] == [["billing"]]

    page.keyboard.press("u")  # billing: tried once, so maybe on the server; undone once it answers
    expect(checklist.toasts).to_have_count(2)
    expect(checklist.count("billing")).to_have_text("0")
    expect(mine).to_have_text("0")

    page.context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(checklist.connection).to_have_text("Connection is back: everything was sent.")
    wait_until(lambda: checklist.queue() == [], message="the queue emptied", page=page)
    checklist.wait_for_stored(0)
    expect(checklist.count("billing")).to_have_text("0")
    expect(mine).to_have_text("0")


# --- 17. a short window: 200 % zoom --------------------------------------------------------

IN_SIGHT = """() => {
  const rect = (el) => el.getBoundingClientRect();
  const dock = rect(document.getElementById("dock"));
  const newest = rect(document.querySelector("#toasts .toast"));
  const ticks = Array.from(document.querySelectorAll("button.tick[data-key]"))
    .filter((b) => rect(b).top >= 0 && rect(b).bottom <= dock.top).map((b) => b.dataset.key);
  return {dockTop: dock.top, newestTop: newest.top, newestBottom: newest.bottom, ticks: ticks, height: innerHeight};
}"""


def test_at_200_percent_zoom_the_newest_notice_and_some_buttons_stay_in_sight(open_checklist: OpenChecklist) -> None:
    """A laptop's 1280 × 800 window at 200 %: three notices, the "N selected" bar and the Other box made
    the strip at the foot of the window taller than the window, its top (the newest notice) never seen."""
    checklist = open_checklist((*LONG_KEYS, *MANY_KEYS), viewport=(640, 400))
    page = checklist.page
    with_fake_clock(checklist)
    page.clock.pause_at(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1))  # the notices stay while it looks
    for key, hypothesis in zip("123", LONG_KEYS, strict=True):
        page.keyboard.press(key)
        expect(checklist.toasts.first).to_contain_text(f"Logged: Hypothesis {hypothesis}")
    page.keyboard.press("Shift+4")
    page.keyboard.press("0")
    page.keyboard.type("asked about the watch")
    checklist.tick("h05").scroll_into_view_if_needed()
    sight = page.evaluate(IN_SIGHT)
    assert sight["dockTop"] >= 0 and sight["newestTop"] >= 0, sight
    assert sight["newestBottom"] <= sight["height"], sight
    assert sight["ticks"], sight  # at least one hypothesis's button above the strip
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis delivery")
    expect(page.locator("#other-note")).to_be_in_viewport()
    expect(page.locator("#combine-bar")).to_be_in_viewport()
    page.clock.resume()


# --- 18. a tick that waited says when it was ticked -------------------------------------------


def occurred_at(body: str) -> dt.datetime | None:
    said = json.loads(body).get("occurred_at")
    return None if said is None else dt.datetime.fromisoformat(said)


def sent_for(page: Page, posts: list[str], key: str) -> str:
    """The body of the latest request for ``key`` (Playwright may tell of a request after the database has it)."""
    found = wait_until(
        lambda: [b for b in posts if json.loads(b)["hypotheses"] == [key]], message=f"a request for {key}", page=page
    )
    return found[-1]


def test_a_tick_that_waited_says_when_it_was_ticked_by_the_servers_clock(checklist: Checklist) -> None:
    """A waiting tick was recorded when it reached the server: after an outage, in the next digest; after
    the launch's last day, refused. Sent at once, a tick says nothing of its time (the server's is right)."""
    page = checklist.page
    # This computer's clock is an hour slow: the time a tick carries is the server's.
    page.clock.install(time=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    checklist.reload()
    posts = tick_posts(page)
    network = {"down": False, "hold": False}
    held: list[Route] = []

    def connection(route: Route) -> None:
        if network["down"]:
            route.abort("internetdisconnected")
        elif network["hold"]:
            held.append(route)
        else:
            route.continue_()

    checklist.route_ticks(connection)
    page.keyboard.press("1")
    checklist.wait_for_stored(1)
    assert occurred_at(sent_for(page, posts, "billing")) is None

    network["down"] = True
    before = dt.datetime.now(dt.UTC)
    page.keyboard.press("2")
    expect(checklist.connection).to_contain_text("1 enquiry is kept")
    after = dt.datetime.now(dt.UTC)
    page.clock.run_for(60_000)  # a minute later, and tried again meanwhile
    network["down"] = False
    page.evaluate("window.dispatchEvent(new Event('online'))")
    checklist.wait_for_stored(2)
    retried = occurred_at(sent_for(page, posts, "login"))
    assert retried is not None and before - dt.timedelta(seconds=2) <= retried <= after, (before, retried, after)
    assert retried.utcoffset() == dt.timedelta(0)

    # Held up behind another for over five seconds, without a failure: it waited too.
    network["hold"] = True
    page.keyboard.press("3")
    wait_until(lambda: held, message="the first tick on its way", page=page)
    page.keyboard.press("1")
    page.clock.run_for(6_000)
    network["hold"] = False
    held[0].continue_()
    stored = checklist.wait_for_stored(4)
    assert [e.keys for e in stored[2:]] == [{"delivery"}, {"billing"}]
    assert occurred_at(sent_for(page, posts, "delivery")) is None  # sent at once
    assert occurred_at(sent_for(page, posts, "billing")) is not None  # six seconds after it was ticked


def test_a_computers_clock_put_right_while_the_page_is_open_does_not_move_a_waited_ticks_time(
    checklist: Checklist,
) -> None:
    """The offset to the server's clock was taken once, when the page loaded: a computer's clock set back
    an hour since put every waited tick an hour early, in another digest's window. An answer's Date header
    now says so."""
    page = checklist.page
    page.clock.install(time=dt.datetime.now(dt.UTC))
    checklist.reload()
    posts = tick_posts(page)
    page.clock.set_system_time(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))  # put back, page open
    page.keyboard.press("1")  # sent at once: its answer tells the page the server's time
    checklist.wait_for_stored(1)
    assert occurred_at(sent_for(page, posts, "billing")) is None
    before, after = tick_offline(checklist, "2")
    page.clock.run_for(60_000)  # tried again meanwhile
    page.evaluate("window.dispatchEvent(new Event('online'))")
    checklist.wait_for_stored(2)
    said = occurred_at(sent_for(page, posts, "login"))
    assert said is not None and before - dt.timedelta(seconds=3) <= said <= after + dt.timedelta(seconds=2), (
        before,
        said,
        after,
    )


def tick_offline(checklist: Checklist, key: str) -> tuple[dt.datetime, dt.datetime]:
    """Press ``key`` with no connection, until the page says it kept the tick; the connection is back
    after. Returns the real time just before the press and once it was kept."""
    page = checklist.page
    checklist.route_ticks(lambda route: route.abort("internetdisconnected"))
    before = dt.datetime.now(dt.UTC)
    page.keyboard.press(key)
    expect(checklist.connection).to_contain_text("1 enquiry is kept")
    after = dt.datetime.now(dt.UTC)
    checklist.route_ticks(None)
    return before, after


def test_a_tick_kept_over_a_reload_keeps_its_time(checklist: Checklist) -> None:
    page = checklist.page
    before, after = tick_offline(checklist, "2")
    posts = tick_posts(page)
    checklist.reload()  # sends what waited
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.keys == {"login"}
    said = occurred_at(sent_for(page, posts, "login"))
    assert said is not None and before - dt.timedelta(seconds=2) <= said <= after, (before, said, after)


def test_a_retry_with_its_time_refused_as_another_enquiry_is_asked_again_as_first_sent(
    checklist: Checklist,
) -> None:
    """The first try, without its time, reached the server (its answer lost); a server that compares the
    time of a repeated key takes the retry, with the time, for another enquiry: the same key reused."""
    page = checklist.page
    bodies: list[str] = []

    def server(route: Route, request: Request) -> None:
        bodies.append(request.post_data or "")
        if len(bodies) == 1:
            route.fetch()  # recorded...
            route.abort("connectionreset")  # ...and its answer lost
        elif occurred_at(bodies[-1]) is not None:
            reused = {"error": {"code": "idempotency_key_reused", "message": "used before for another enquiry"}}
            route.fulfill(status=409, json=reused)
        else:
            route.continue_()

    checklist.route_ticks(server)
    page.keyboard.press("1")
    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing", timeout=10_000)
    assert [occurred_at(b) is not None for b in bodies] == [False, True, False]
    expect(page.locator("#rejections")).to_be_empty()
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{"billing"}]
    assert checklist.queue() == []


def test_single_key_shortcuts_can_be_turned_off_and_stay_off(checklist: Checklist) -> None:
    """WCAG 2.1.4: every digit and letter logged an enquiry, with no way to turn that off. Speech input types
    a spoken word's letters: "bad" logged the hypotheses behind b, a and d."""
    page = checklist.page
    page.get_by_text("Keyboard", exact=True).click()
    single = page.get_by_role("checkbox", name=re.compile("Log with single keys"))
    expect(single).to_be_checked()
    single.uncheck()
    for key in ("1", "2", "u", ".", "Shift+3"):
        page.keyboard.press(key)
    expect(page.locator("#combine-text")).to_have_text("")
    # The buttons still log: the one enquiry stored is the click's, none of the keys'.
    checklist.tick(HYPOTHESES[1]).click()
    assert [e.keys for e in checklist.wait_for_stored(1)] == [{HYPOTHESES[1]}]
    # Off in this browser until turned on again.
    checklist.reload()
    page.get_by_text("Keyboard", exact=True).click()
    expect(single).not_to_be_checked()
    page.keyboard.press("1")
    single.check()
    page.keyboard.press("1")
    expect(checklist.toasts.first).to_contain_text(f"Logged: Hypothesis {HYPOTHESES[0]}")
    assert [e.keys for e in checklist.wait_for_stored(2)][-1] == {HYPOTHESES[0]}
