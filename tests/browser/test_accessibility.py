"""What a keyboard, screen-reader or low-vision reader meets, measured in a real Chromium: the focus
ring's contrast, faded rows, pages that fit 320 pixels, forms that keep what was typed after a
refusal and say where, controls whose names tell their rows apart, and axe-core's WCAG rules over every
main page.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from app import api_tokens, digests, retention
from app.db import Database
from app.models import Enquiry, Hypothesis, HypothesisStatus, Launch, User
from tests.browser.conftest import LiveServer, sign_in
from tests.conftest import PASSWORD, People, make_settings
from tests.factories import log, make_launch

SLUG = "access-launch"
# A hypothesis's text as long as some are: a select sized itself to it, and widened the page.
LONG = "The card on the payment page is no longer shown after the update, with the saved card gone for good"
PAGE = f"/launches/{SLUG}"

# Contrast as WCAG defines it, of the colours Chromium computed; a colour faded by the opacity of
# the element or an ancestor is blended into the background first, as it is painted.
CONTRAST_JS = """
(() => {
  const parse = (s) => {
    const m = s.match(/[\\d.]+/g).map(Number);
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = (c) => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) return c;
    }
    return [255, 255, 255, 1];
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity);
    return o;
  };
  const blend = (fg, bg, a) => [0, 1, 2].map((i) => fg[i] * a + bg[i] * (1 - a));
  window.tallyContrast = {
    text(el) {
      const bg = background(el);
      return ratio(blend(parse(getComputedStyle(el).color), bg, opacity(el)), bg);
    },
    // The ring is drawn outside the element (outline-offset), on its parent's background.
    ring(el) {
      const s = getComputedStyle(el);
      return s.outlineStyle === "none" ? 0 : ratio(parse(s.outlineColor), background(el.parentElement));
    },
  };
})();
"""


@dataclass(frozen=True)
class Place:
    launch: Launch
    db: Database
    people: People


@pytest.fixture
def place(db: Database, people: People) -> Place:
    """A live launch with "c" retired, Ola's account disabled, a revoked API token beside a live one."""
    now = dt.datetime.now(dt.UTC)
    launch = make_launch(db, slug=SLUG, name="Access launch", starts_on=(now - dt.timedelta(days=3)).date())
    with db.transaction() as session:
        for h in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            h.text = {"a": "Contacts missing", "b": LONG, "c": "Old menu gone"}[h.key]
            if h.key == "c":
                h.status = HypothesisStatus.RETIRED
            session.add(h)
        ola = session.get(User, people.other_agent.id)
        assert ola is not None
        ola.is_active = False
        session.add(ola)
        revoked, _ = api_tokens.create(session, name="old-crm", now=now, actor="test")
        api_tokens.create(session, name="telephony", now=now, actor="test")
        session.flush()
        api_tokens.revoke(session, revoked.id or 0, now=now, actor="test")
    for key in ("a", "a", "b", "c"):
        log(db, launch, key, at=now - dt.timedelta(hours=2), channel="phone")
    log(db, launch, at=now - dt.timedelta(hours=1), channel="chat", note="The widget is gone")
    return Place(launch, db, people)


def measure(page: Page, script: str, selector: str) -> list[dict[str, Any]]:
    page.evaluate(CONTRAST_JS)
    found: list[dict[str, Any]] = page.locator(selector).evaluate_all(script)
    return found


# --- 3. the focus ring -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/users", PAGE + "?range=launch"])
def test_the_focus_ring_stands_out_from_every_background(page: Page, place: Place, path: str) -> None:
    """WCAG 1.4.11: the orange ring (#ff9f1c) was 2:1 on white, and less on the header's grey."""
    sign_in(page, place.people.admin.username, path)
    page.evaluate(CONTRAST_JS)
    rings = page.locator("a[href], button:not([disabled]), input:not([type=hidden]), select, [tabindex='0']")
    assert rings.count() > 10
    faint = rings.evaluate_all(
        """els => els.filter(el => el.checkVisibility()).map(el => {
             el.focus({focusVisible: true});
             return [el.outerHTML.slice(0, 80), window.tallyContrast.ring(el)];
           }).filter(([, r]) => r < 3)"""
    )
    assert faint == []


def test_the_ring_is_drawn_for_the_keyboard(page: Page, place: Place) -> None:
    sign_in(page, place.people.admin.username, "/admin/users")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the header's first link, on its grey
    page.evaluate(CONTRAST_JS)
    expect(page.get_by_role("link", name="Launch Tally")).to_be_focused()
    assert page.evaluate("window.tallyContrast.ring(document.activeElement)") >= 3


# --- 4. retired, disabled, revoked ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "rows"),
    [
        ("/admin/users", 1),  # Ola cannot sign in
        ("/admin/tokens", 1),  # old-crm is revoked
        (PAGE + "?range=launch", 1),  # "c" is retired
        (PAGE + "/edit", 1),
    ],
)
def test_retired_rows_keep_their_text_readable(page: Page, place: Place, path: str, rows: int) -> None:
    """Faded with opacity 0.6, their text fell below 4.5:1 (WCAG 1.4.3)."""
    sign_in(page, place.people.admin.username, path)
    retired = page.locator(".retired")
    expect(retired).to_have_count(rows)
    page.evaluate(CONTRAST_JS)
    texts = retired.evaluate_all(
        """rows => rows.flatMap(row => Array.from(row.querySelectorAll('*')))
             .filter(el => el.checkVisibility())
             .filter(el => Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim()))
             .filter(el => !el.closest('button:disabled, .visually-hidden'))
             .map(el => [el.textContent.trim().slice(0, 40), window.tallyContrast.text(el)])"""
    )
    assert texts, "some text in the row"
    low = [(text, round(ratio, 2)) for text, ratio in texts if ratio < 4.5]
    assert low == []
    # Still told apart from the others: by its background.
    assert retired.first.evaluate("el => getComputedStyle(el).backgroundColor") != "rgba(0, 0, 0, 0)"


# --- 5. reflow at 320 pixels -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",  # the import form's file input
        PAGE + "?range=launch",  # By channel and By segment
        PAGE + "/hypotheses/a?range=launch",
        PAGE + "/other/new?range=launch",  # "Or move them onto", as wide as its longest option
        "/admin/users",
        "/admin/tokens",
        "/me",
    ],
)
def test_a_320_pixel_screen_gets_the_page_without_scrolling_sideways(page: Page, place: Place, path: str) -> None:
    """WCAG 1.4.10 (reflow): at 320 CSS pixels a page scrolled sideways by up to 462 pixels."""
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in(page, place.people.admin.username, path)
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{path} is {width} px wide"


UNBROKEN = "Betalingsbekreftelsesmeldingsforsinkelsesproblem" * 4  # 192 letters and no space: a pasted token


@pytest.mark.parametrize(
    "path",
    [
        "/",
        PAGE + "?range=launch",
        PAGE + "/checklist",
        PAGE + "/hypotheses/a?range=launch",
        PAGE + "/edit",
        PAGE + "/digests",
        PAGE + "/alerts",
        PAGE + "/other?range=launch",
    ],
)
def test_a_name_without_spaces_wraps_at_320_pixels(page: Page, place: Place, path: str) -> None:
    """WCAG 1.4.10: a launch or hypothesis named with one long word (a pasted error code, a compound)
    scrolled a 320-pixel page sideways by the word's width."""
    with place.db.transaction() as session:
        launch = session.get(Launch, place.launch.id)
        assert launch is not None
        launch.name = UNBROKEN
        session.add(launch)
        [a] = session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id, Hypothesis.key == "a")).all()
        a.text = UNBROKEN
        session.add(a)
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in(page, place.people.lead.username, path)
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(  # the elements past the screen's edge, to say which
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 330)"
        ".map(e => e.tagName + '.' + e.className).slice(0, 8)"
    )
    assert width <= 320, f"{path} is {width} px wide: {wide}"


# A table wider than the screen scrolls inside its box: the keyboard scrolls it by focusing the box, or a
# control inside it (a table of figures has none). Each, and how wide it is against its box.
SCROLLERS_JS = """els => els.map(el => ({
  id: el.id || el.closest("section, main").id,
  overflow: el.scrollWidth - el.clientWidth,
  reachable: el.tabIndex === 0 || el.querySelector("a[href], button, input, select, summary") !== null,
  named: el.getAttribute("role") === "region" ? el.getAttribute("aria-labelledby") : null,
}))"""


@pytest.mark.parametrize("path", [PAGE + "/digests", PAGE + "/hypotheses/a?range=launch"])
def test_a_table_that_scrolls_sideways_on_a_phone_is_scrolled_by_keyboard_too(
    page: Page, place: Place, path: str
) -> None:
    """WCAG 2.1.1: the digests' runs (a missed one has no button) and a fix's before and after scrolled
    sideways on a phone with nothing inside to focus, so only a finger or a mouse could see their ends."""
    now = dt.datetime.now(dt.UTC)
    digests.run_due(place.db, settings=make_settings(place.db.url), now=now, sender=None)
    with place.db.transaction() as session:
        [a] = session.exec(
            select(Hypothesis).where(Hypothesis.launch_id == place.launch.id, Hypothesis.key == "a")
        ).all()
        a.status = HypothesisStatus.FIX_SHIPPED
        a.fix_shipped_at = now - dt.timedelta(hours=1)  # after its enquiries: a "before" to show
        session.add(a)
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in(page, place.people.lead.username, path)
    tables = page.locator(".table-wrap").evaluate_all(SCROLLERS_JS)
    scrolling = [t for t in tables if t["overflow"] > 0]
    assert scrolling, f"nothing on {path} scrolls sideways at 320 px: {tables}"
    assert [t for t in scrolling if not t["reachable"]] == []
    for table in scrolling:  # named, as a region the keyboard lands on
        assert table["named"] and (page.locator(f"#{table['named']}").text_content() or "").strip()


# --- 6 and 9. refused forms keep what was typed, and say where -------------------------------------


def test_a_refused_new_launch_keeps_what_was_typed_and_focuses_the_field(page: Page, place: Place) -> None:
    """Everything typed was lost, the error showed far above the form, and the focus was on the body."""
    sign_in(page, place.people.lead.username, "/")
    form = page.locator("form", has=page.get_by_role("button", name="Create"))
    form.get_by_label("Name").fill("Spring release")
    form.get_by_label("Slug").fill(SLUG)  # taken
    form.get_by_label("Release day").fill("2026-12-01")
    form.get_by_role("button", name="Create").click()
    slug = page.get_by_label("Slug")
    expect_at_fault(page, "#new-slug", "form-error", "There is already a launch")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Spring release")
    expect(slug).to_have_value(SLUG)
    expect(page.get_by_label("Release day")).to_have_value("2026-12-01")
    # The error is beside the form it is about, not at the top of the page.
    expect(page.get_by_role("alert").filter(has_text="There is already a launch")).to_have_count(1)
    expect(page.locator("section.two-columns").get_by_role("alert")).to_contain_text("There is already a launch")


def test_a_refused_new_user_keeps_what_was_typed_and_focuses_the_field(page: Page, place: Place) -> None:
    """The role fell back to agent without a word, and the rest was lost too."""
    sign_in(page, place.people.admin.username, "/admin/users")
    page.locator("#u-name").fill("kari")  # taken
    page.locator("#u-display").fill("Kari Two")
    page.locator("#u-role").select_option("lead")
    page.get_by_role("button", name="Add user").click()
    name = page.locator("#u-name")
    expect_at_fault(page, "#u-name", "add-user-error", "There is already a user called")
    expect(name).to_have_value("kari")
    expect(page.locator("#u-display")).to_have_value("Kari Two")
    expect(page.locator("#u-role")).to_have_value("lead")


def test_a_refused_row_on_the_users_page_focuses_that_rows_role(page: Page, place: Place) -> None:
    sign_in(page, place.people.admin.username, "/admin/users")
    mine = page.locator(f"#role-{place.people.admin.id}")
    mine.select_option("agent")  # one's own admin role cannot be given up
    page.locator("tr", has=mine).get_by_role("button", name=re.compile("^Save")).click()
    expect(mine).to_be_focused()
    expect(mine).to_have_attribute("aria-invalid", "true")
    expect(mine).to_have_accessible_description(re.compile("own admin role"))


# --- 7. the notes search says what it found ----------------------------------------------------------


def test_the_notes_search_says_how_many_it_found(page: Page, place: Place) -> None:
    """The count and the no-match sentence changed inside #notes, which no screen reader announced."""
    sign_in(page, place.people.lead.username, PAGE + "/other?range=launch")
    status = page.locator("#notes-status")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_have_text("")  # nothing said on loading the page
    search = page.get_by_role("searchbox", name="Search the notes")
    search.fill("widget")
    expect(status).to_have_text("1 note · 1 group")
    search.fill("zebra")
    expect(status).to_have_text("No note in this range holds “zebra”.")
    expect(page.locator("#notes")).to_contain_text("No note in this range holds “zebra”.")
    assert page.evaluate("document.getElementById('notes').contains(document.getElementById('notes-status'))") is False


# --- 8. a row's controls are named after their row ---------------------------------------------------


def test_each_rows_controls_are_named_after_its_row(page: Page, place: Place) -> None:
    """A screen reader's list of controls read "can sign in", "Save", "Reset password", "Revoke", "Area"…
    once for every row, with nothing to tell them apart."""
    sign_in(page, place.people.admin.username, "/admin/users")
    for username in ("kari", "ola", "ada"):
        expect(page.get_by_role("checkbox", name=f"can sign in ({username})", exact=True)).to_have_count(1)
        expect(page.get_by_role("button", name=f"Save ({username})", exact=True)).to_have_count(1)
    for username in ("kari", "ola"):
        expect(page.get_by_role("button", name=f"Reset password ({username})", exact=True)).to_have_count(1)
    # Her own row links to /me, where she changes her own password without being signed out.
    expect(page.get_by_role("link", name="Change password (ada)", exact=True)).to_have_attribute("href", "/me")
    expect(page.get_by_role("checkbox", name="can sign in (ola)", exact=True)).not_to_be_checked()
    page.goto("/admin/tokens")
    expect(page.get_by_role("button", name="Revoke (telephony)", exact=True)).to_be_visible()
    page.goto(PAGE + "/edit")
    for text in ("Contacts missing", LONG):
        for field in ("Text", "Area", "Owner team", "Expected per day", "Status", "Fix link"):
            expect(page.get_by_label(f"{field} ({text})", exact=True)).to_have_count(1)
    # What a sighted reader sees is unchanged.
    hidden = page.locator("label[for=a-a] .visually-hidden").bounding_box()
    assert hidden is not None and hidden["width"] <= 1 and hidden["height"] <= 1


def expect_at_fault(page: Page, field: str, error: str, said: str) -> None:
    """The field is focused, marked invalid and described by the error box, which says ``said``."""
    locator = page.locator(field)
    expect(locator).to_be_focused()
    expect(locator).to_have_attribute("aria-invalid", "true")
    expect(locator).to_have_attribute("aria-describedby", re.compile(rf"\b{error}\b"))
    expect(page.locator(f"#{error}")).to_contain_text(said)
    expect(locator).to_have_accessible_description(re.compile(re.escape(said)))


def test_a_wrong_current_password_focuses_that_field(page: Page, place: Place) -> None:
    sign_in(page, place.people.agent.username, "/me")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill("a new long password")
    page.get_by_role("button", name="Change password").click()
    expect_at_fault(page, "#current", "form-error", "The current password is not right")


def test_a_refused_sign_in_focuses_the_password_and_both_fields_point_at_the_error(page: Page, place: Place) -> None:
    """The user name kept its focus after a wrong password, so typing it again went into the name, and
    neither field said it was refused."""
    page.goto("/login")
    page.get_by_label("User name").fill(place.people.agent.username)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect_at_fault(page, "#password", "form-error", "Wrong user name or password.")
    name = page.locator("#username")
    expect(name).to_have_value(place.people.agent.username)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_accessible_description("Wrong user name or password.")


def test_a_refused_token_name_focuses_that_field(page: Page, place: Place) -> None:
    sign_in(page, place.people.admin.username, "/admin/tokens")
    page.get_by_label("Name (what uses it)").fill("   ")  # only spaces: no name
    page.get_by_role("button", name="Create token").click()
    expect_at_fault(page, "#t-name", "form-error", "Give the token a name")


def test_a_new_hypothesis_from_other_with_a_taken_key_focuses_the_key(page: Page, place: Place) -> None:
    sign_in(page, place.people.lead.username, PAGE + "/other?range=launch")
    page.get_by_label("1× The widget is gone").check()
    page.get_by_role("button", name="New hypothesis from these").click()
    page.get_by_label("Text").fill("Widget gone")
    page.get_by_label("Key").fill("a")  # taken
    page.get_by_role("button", name="Save hypothesis").click()
    expect_at_fault(page, "#n-key", "form-error", "already")
    expect(page.get_by_label("Text")).to_have_value("Widget gone")


def test_the_editors_add_form_focuses_the_field_at_fault(page: Page, place: Place) -> None:
    sign_in(page, place.people.lead.username, PAGE + "/edit")
    form = page.locator("#add-form")
    form.get_by_label("Key").fill("a")  # taken
    form.get_by_label("What the customer says").fill("Another one")
    form.get_by_role("button").last.click()
    expect_at_fault(page, "#add-form #n-key", "add-error", "already")


def test_an_editor_row_refused_focuses_its_field_at_fault(page: Page, place: Place) -> None:
    sign_in(page, place.people.lead.username, PAGE + "/edit")
    page.locator("#u-a").fill("javascript:alert(1)")  # not a web address
    page.locator("#save-row-a").click()
    expect_at_fault(page, "#u-a", "error-a", "is not a web address")


def test_a_lead_erases_a_note_by_keyboard_and_a_missing_tick_is_told_at_the_tick(page: Page, place: Place) -> None:
    """The erase form, as a lead with the keyboard: the note's group ticked on the "other" page, the list
    checked, the form refused without "They cannot be brought back" (the focus there), then erased."""
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in(page, place.people.lead.username, PAGE + "/other?range=launch")
    page.get_by_label(re.compile("The widget is gone")).check()
    page.get_by_role("button", name="Erase these notes…").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Erase notes")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    expect(page.get_by_label("The widget is gone")).to_be_checked()
    page.get_by_role("button", name="Erase the ticked notes").click()
    expect_at_fault(page, "#erase-confirmed", "form-error", "Tick “They cannot be brought back”")
    page.keyboard.press("Space")
    page.get_by_role("button", name="Erase the ticked notes").click()
    expect(page.locator("#notes-erased")).to_have_text("1 note erased: its text is gone; the enquiry still counts.")
    expect(page.get_by_text("The widget is gone")).to_have_count(0)


def test_notes_searched_are_kept_in_no_history_cache(page: Page, place: Place) -> None:
    """The search pushes its URL, and htmx kept each page, notes and all, in the tab's sessionStorage: a
    note erased since came back on Back, and its text stayed in the browser."""
    sign_in(page, place.people.lead.username, PAGE + "/other?range=launch")
    search = page.get_by_role("searchbox", name="Search the notes")
    search.fill("widget")
    expect(page.locator("#notes-status")).to_have_text("1 note · 1 group")
    search.fill("zebra")
    expect(page.locator("#notes-status")).to_have_text("No note in this range holds “zebra”.")
    assert "widget is gone" not in page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))").lower()
    with place.db.transaction() as session:
        [enquiry_id] = session.exec(select(Enquiry.id).where(Enquiry.note == "The widget is gone")).all()
        retention.erase_notes(
            session, place.launch.id or 0, [enquiry_id or 0], actor="lena", now=dt.datetime.now(dt.UTC)
        )
    page.go_back()
    expect(page).to_have_url(re.compile(r"q=widget"))
    expect(page.locator("#notes")).to_contain_text("No note in this range holds “widget”.")


# --- 10. axe-core's WCAG rules over every main page -------------------------------------------------

# The rules engine most audits use (tests/browser/vendor/README.md says where it came from).
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# What fails the test; axe's "moderate" and "minor" are advice, read in an audit by a person.
BLOCKING = {"serious", "critical"}
AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(" "))}));
}"""
LANGUAGES = {"en": "en-GB", "nb": "nb-NO"}  # chosen by the browser's Accept-Language (app/i18n.py)


def audit(page: Page, language: str, where: str) -> list[str]:
    """What axe finds serious or critical on the page as it stands, and a lang that is not the one shown."""
    found: list[dict[str, Any]] = page.evaluate(AXE_RUN, WCAG_21_AA)
    problems = [
        f"{where}: {v['id']} ({v['impact']}) at {', '.join(v['targets'][:3])}" for v in found if v["impact"] in BLOCKING
    ]
    lang = page.evaluate("document.documentElement.lang")
    if lang != language:
        problems.append(f"{where}: <html lang={lang!r}> on a page in {language!r}")
    return problems


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("language", ["en", "nb"])
def test_axe_finds_nothing_serious_on_any_main_page(
    browser: Browser, live_server: LiveServer, place: Place, language: str, width: int
) -> None:
    """Every page each role meets, in each language, on a desktop and a phone: WCAG 2.1 A and AA as
    axe-core checks them, the checklist also with the Other box open and a tick's notice shown."""
    digests.run_due(place.db, settings=make_settings(place.db.url), now=dt.datetime.now(dt.UTC), sender=None)
    people = place.people
    pages = {
        None: ["/login", "/nowhere"],
        people.lead.username: [
            "/",
            PAGE + "?range=launch",
            PAGE + "/hypotheses/a?range=launch",
            PAGE + "/edit",
            PAGE + "/digests",
            PAGE + "/digests/preview",
            PAGE + "/other?range=launch",
            PAGE + "/other/new?range=launch",
            PAGE + "/other/erase?range=launch",
            PAGE + "/alerts",
            "/me",
            "/nowhere",
        ],
        people.agent.username: ["/", PAGE + "/checklist", "/admin/users"],  # the last one: 403
        people.admin.username: ["/admin/users", "/admin/tokens"],
    }
    problems: list[str] = []
    for username, paths in pages.items():
        context = browser.new_context(
            base_url=live_server.url,
            locale=LANGUAGES[language],
            viewport={"width": width, "height": 800},
            service_workers="block",
        )
        # Put into every document before its own scripts, by the browser: the app's CSP allows no other way in.
        context.add_init_script(path=AXE)
        page = context.new_page()
        try:
            if username is not None:
                page.goto("/login")
                page.locator("#username").fill(username)
                page.locator("#password").fill(PASSWORD)
                page.locator("#password").press("Enter")
                expect(page.locator("#username")).to_have_count(0)
            for path in paths:
                page.goto(path)
                page.wait_for_load_state("load")
                problems += audit(page, language, f"{username or 'signed out'} {path}")
                if path.endswith("/checklist"):
                    problems += checklist_states(page, language)
        finally:
            context.close()
    assert problems == []


def checklist_states(page: Page, language: str) -> list[str]:
    page.locator("#other-button").click()
    expect(page.locator("#other-note")).to_be_focused()
    problems = audit(page, language, "the checklist with the Other box open")
    page.keyboard.press("Escape")
    page.locator("button.tick").first.click()
    expect(page.locator("#toasts .toast")).to_have_count(1)
    return problems + audit(page, language, "the checklist with a tick's notice")
