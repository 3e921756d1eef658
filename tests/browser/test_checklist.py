"""The agents' checklist in a real browser: ticks by mouse and key, combining, Other, undo,
going offline, refusals, keyboard-only and mouse-only use at desktop and phone widths, and
escaped output.

The database is the judge of what was logged; the page is checked for what the agent sees.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, Request, Response, Route, expect

from app.models import LaunchStatus
from tests.browser.conftest import Checklist, OpenChecklist

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


# --- 4. Other, with a note ---------------------------------------------------------------


def test_other_with_a_note_is_logged_scrubbed(checklist: Checklist) -> None:
    page = checklist.page
    page.keyboard.press("0")
    note = page.locator("#other-note")
    expect(note).to_be_focused()
    expect(page.locator("#other-button")).to_have_attribute("aria-expanded", "true")
    page.keyboard.type("Wants us to ring 912 34 567 about the new app")
    page.keyboard.press("Enter")

    expect(checklist.toasts.first).to_contain_text("Logged: Other")
    [enquiry] = checklist.wait_for_stored(1)
    assert enquiry.is_other and enquiry.keys == frozenset()
    assert enquiry.note == "Wants us to ring [phone] about the new app"
    expect(page.locator("#other-form")).to_be_hidden()
    expect(checklist.count("other")).to_have_text("1")
    expect(checklist.recent).to_contain_text("[phone]")
    expect(checklist.recent).not_to_contain_text("912")


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

    page.route(ENQUIRIES_POST, lose_the_first_answer)
    with page.expect_response(is_tick, timeout=10_000) as retried:
        page.keyboard.press("1")
        expect(checklist.connection).to_contain_text("1 enquiry is kept")
        [first] = checklist.wait_for_stored(1)
    assert answers == [201]
    assert retried.value.status == 200  # the server knew the key: not created again
    assert retried.value.json()["id"] == first.id and retried.value.json()["created"] is False

    expect(checklist.toasts.first).to_contain_text("Logged: Hypothesis billing")
    expect(checklist.connection).to_contain_text("Connection is back")
    assert checklist.queue() == []
    assert [e.keys for e in checklist.stored()] == [{"billing"}]
    expect(checklist.count("billing")).to_have_text("1")


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
