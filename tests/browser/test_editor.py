"""The lead's editor in a real browser: a row saved alone keeps what is typed in the others,
moving rows by keyboard and by dragging without a reload, the warning before leaving with unsaved
changes, two leads saving the same row, and buttons that each say which row they act on."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Dialog, FilePayload, Locator, Page, expect
from sqlmodel import col, select

from app import auth, hypothesis_sets
from app.config import Settings
from app.db import Database
from app.models import Hypothesis, HypothesisStatus, Launch
from tests.browser.conftest import TIMEOUT_MS, LiveServer, sign_in, wait_until
from tests.conftest import PASSWORD, People
from tests.factories import make_launch

SLUG = "spring-launch"
EDIT = f"/launches/{SLUG}/edit"


@dataclass
class Editor:
    page: Page
    db: Database
    launch: Launch

    def row(self, key: str) -> Locator:
        return self.page.locator(f"#row-{key}")

    def text(self, key: str) -> Locator:
        return self.page.locator(f"#t-{key}")

    def keys_shown(self) -> list[str]:
        rows = self.page.locator("#hypothesis-list > li")
        keys: list[str] = rows.evaluate_all("rows => rows.map(r => r.dataset.key)")
        return keys

    def stored_order(self) -> list[str]:
        with self.db.session() as session:
            rows = session.exec(
                select(Hypothesis).where(Hypothesis.launch_id == self.launch.id).order_by(col(Hypothesis.sort_order))
            )
            return [h.key for h in rows]

    def stored_text(self, key: str) -> str:
        with self.db.session() as session:
            found = session.exec(
                select(Hypothesis).where(Hypothesis.launch_id == self.launch.id, Hypothesis.key == key)
            ).one()
            return found.text


@pytest.fixture
def editor(page: Page, live_server: LiveServer, db: Database, people: People) -> Editor:
    launch = make_launch(db, slug=SLUG, name="Spring launch", hypotheses=("billing", "login", "delivery"))
    sign_in(page, people.lead.username, EDIT)
    expect(page.get_by_role("heading", name="Edit: Spring launch", level=1)).to_be_visible()
    return Editor(page, db, launch)


def mark_page(page: Page) -> None:
    """A flag on the window: still there afterwards means the page was not reloaded."""
    page.evaluate("window.__sameDocument = true")


def same_page(page: Page) -> bool:
    return bool(page.evaluate("window.__sameDocument === true"))


def test_saving_one_row_keeps_what_is_typed_in_another(editor: Editor) -> None:
    page = editor.page
    mark_page(page)
    editor.text("billing").fill("Billing, typed but not saved")
    editor.text("login").fill("Login loops after the update")
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login") and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save: Hypothesis login").click()
    assert answer.value.status == 200
    expect(page.get_by_role("button", name="Save: Login loops after the update")).to_be_visible()
    expect(editor.text("billing")).to_have_value("Billing, typed but not saved")
    assert same_page(page)
    assert editor.stored_text("login") == "Login loops after the update"
    assert editor.stored_text("billing") == "Hypothesis billing"


def test_a_save_by_keyboard_says_saved_and_keeps_the_focus(editor: Editor) -> None:
    """The row is swapped after a save: the focus fell to the page's top and nothing said it saved."""
    page = editor.page
    editor.text("login").fill("Login loops after the update")
    save = page.get_by_role("button", name="Save: Hypothesis login")
    save.focus()
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login") and r.request.method == "POST"):
        page.keyboard.press("Enter")
    expect(page.locator("#editor-status")).to_have_text("Saved.")
    expect(page.get_by_role("button", name="Save: Login loops after the update")).to_be_focused()


def test_alt_arrow_moves_a_row_without_a_reload_and_it_stays_moved(editor: Editor) -> None:
    page = editor.page
    mark_page(page)
    editor.text("delivery").fill("Typed in delivery")
    editor.text("billing").focus()
    with page.expect_response(lambda r: r.url.endswith("/order")) as answer:
        page.keyboard.press("Alt+ArrowDown")
    assert answer.value.status == 200
    assert editor.keys_shown() == ["login", "billing", "delivery"]
    expect(editor.text("billing")).to_be_focused()  # the focus stays on what moved
    expect(page.locator("#editor-status")).to_have_text("Moved to position 2 of 3.")
    expect(page.get_by_role("button", name="Move up: Hypothesis login")).to_be_disabled()
    expect(page.get_by_role("button", name="Move up: Hypothesis billing")).to_be_enabled()
    wait_until(
        lambda: editor.stored_order() == ["login", "billing", "delivery"], message="the new order stored", page=page
    )
    assert same_page(page)
    expect(editor.text("delivery")).to_have_value("Typed in delivery")

    # The moved row's form is still current: saving it is not taken for a stale copy.
    editor.text("billing").fill("Billing after the move")
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/billing")) as saved:
        page.get_by_role("button", name="Save: Hypothesis billing").click()
    assert saved.value.status == 200

    page.once("dialog", lambda dialog: dialog.accept())  # delivery's typed text is left behind
    page.reload()
    assert editor.keys_shown() == ["login", "billing", "delivery"]


def test_dragging_a_row_by_its_handle_reorders_it(editor: Editor) -> None:
    page = editor.page
    mark_page(page)
    with page.expect_response(lambda r: r.url.endswith("/order")) as answer:
        editor.row("delivery").locator(".drag-handle").drag_to(editor.row("billing"), target_position={"x": 20, "y": 5})
    assert answer.value.status == 200
    assert editor.keys_shown() == ["delivery", "billing", "login"]
    wait_until(
        lambda: editor.stored_order() == ["delivery", "billing", "login"], message="the new order stored", page=page
    )
    assert same_page(page)
    page.reload()
    assert editor.keys_shown() == ["delivery", "billing", "login"]


def test_leaving_with_unsaved_changes_asks_first(editor: Editor) -> None:
    page = editor.page
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", dismiss)
    page.get_by_role("link", name="Dashboard").click()  # nothing typed yet: no question
    expect(page).to_have_url(f"{page.url.split('/launches')[0]}/launches/{SLUG}")
    assert dialogs == []

    page.goto(EDIT)
    editor.text("login").fill("Unsaved")
    page.get_by_role("link", name="Dashboard").click()
    wait_until(lambda: dialogs, message="the beforeunload dialog", page=page)
    assert dialogs == ["beforeunload"]
    expect(editor.text("login")).to_have_value("Unsaved")  # still here, still typed

    # Saved, the row is clean again: leaving asks nothing.
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login")):
        page.get_by_role("button", name="Save: Hypothesis login").click()
    expect(page.get_by_role("button", name="Save: Unsaved")).to_be_visible()
    page.get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(f"{page.url.split('/launches')[0]}/launches/{SLUG}")
    assert dialogs == ["beforeunload"]


@pytest.fixture
def second_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, locale="en-GB", viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def mona_signs_in(page: Page, editor: Editor, db: Database, people: People) -> None:
    """A second lead, Mona, opens the editor in a browser of her own."""
    with db.transaction() as session:
        auth.add_user(
            session,
            username="mona",
            role=people.lead.role,
            display_name="Mona",
            password=PASSWORD,
            now=editor.launch.created_at,
            actor="test",
        )
    sign_in(page, "mona", EDIT)


def test_two_leads_saving_the_same_row_the_second_sees_both_values(
    editor: Editor, second_page: Page, db: Database, people: People
) -> None:
    mona_signs_in(second_page, editor, db, people)
    page = editor.page  # Lena's copy, opened before Mona's change

    second_page.locator("#t-login").fill("Mona's text")
    with second_page.expect_response(lambda r: r.url.endswith("/hypotheses/login")) as theirs:
        second_page.get_by_role("button", name="Save: Hypothesis login").click()
    assert theirs.value.status == 200

    # Both changed the text: the conflict, hers kept in the field until she decides.
    editor.text("login").fill("Lena's text")
    page.locator("#e-login").fill("12")
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login")) as mine:
        page.get_by_role("button", name="Save: Hypothesis login").click()
    assert mine.value.status == 409
    row = editor.row("login")
    expect(row.get_by_role("alert")).to_contain_text("Someone else changed this since you opened it")
    expect(editor.text("login")).to_have_value("Lena's text")
    expect(page.locator("#e-login")).to_have_value("12")  # what she typed
    expect(row.locator('[data-now-for="text"]')).to_have_text("Now: Mona's text")
    expect(row.locator(".now")).to_have_count(1)  # the rate only she changed is no conflict
    assert editor.stored_text("login") == "Mona's text"

    page.get_by_role("link", name="Take the current values: Mona's text").click()
    expect(editor.text("login")).to_have_value("Mona's text")
    expect(page.locator("#e-login")).to_have_value("")
    expect(row.locator(".now")).to_have_count(0)


def test_two_leads_changing_different_launch_fields_keep_both(
    editor: Editor, second_page: Page, db: Database, people: People
) -> None:
    """Mona renamed the launch; Lena, on a page opened before, changed its Slack channel. Her save was
    refused, and "Save again" then put the old name back over Mona's."""
    mona_signs_in(second_page, editor, db, people)
    page = editor.page
    second_page.locator("#f-name").fill("Mona's launch")
    with second_page.expect_response(lambda r: r.url.endswith("/edit")) as theirs:
        second_page.locator("#save-launch").click()
    assert theirs.value.status == 200

    page.locator("#f-slack").fill("#lena")
    with page.expect_response(lambda r: r.url.endswith("/edit")) as mine:
        page.locator("#save-launch").click()
    assert mine.value.status == 200
    expect(page.locator("#launch-kept")).to_be_visible()
    expect(page.locator("#f-name")).to_have_value("Mona's launch")  # shown as kept
    with db.session() as session:
        launch = session.exec(select(Launch).where(Launch.slug == SLUG)).one()
        assert (launch.name, launch.slack_channel) == ("Mona's launch", "#lena")


def test_a_move_from_a_page_opened_before_another_leads_move_shows_the_order_now(
    editor: Editor, second_page: Page, db: Database, people: People
) -> None:
    """Mona moved delivery to the top (key 1 on the checklists); Lena's page, opened before, then moved
    login up one and sent its whole order: delivery fell back to key 3, and neither of them was told."""
    mona_signs_in(second_page, editor, db, people)
    for _ in range(2):
        second_page.locator("#t-delivery").focus()
        with second_page.expect_response(lambda r: r.url.endswith("/order")) as theirs:
            second_page.keyboard.press("Alt+ArrowUp")
        assert theirs.value.status == 200
    assert editor.stored_order() == ["delivery", "billing", "login"]

    page = editor.page  # Lena's copy, still in the order before Mona's moves
    mark_page(page)
    editor.text("billing").fill("Typed in billing, not saved")
    editor.text("login").focus()
    with page.expect_response(lambda r: r.url.endswith("/order")) as mine:
        page.keyboard.press("Alt+ArrowUp")
    assert mine.value.status == 409
    expect(page.locator("#flash .error-box")).to_contain_text(
        "Someone else changed the order of the hypotheses since you opened the editor"
    )
    assert editor.stored_order() == ["delivery", "billing", "login"]  # Mona's move stands
    assert editor.keys_shown() == ["delivery", "billing", "login"]  # and Lena sees it
    expect(page.locator("#shortcut-delivery kbd")).to_have_text("1")  # with the keys the agents have now
    expect(page.locator("#shortcut-login kbd")).to_have_text("3")
    expect(page.get_by_role("button", name="Move up: Hypothesis delivery")).to_be_disabled()
    expect(editor.text("login")).to_be_focused()
    expect(editor.text("billing")).to_have_value("Typed in billing, not saved")
    assert same_page(page)

    # Moved again from the order she now sees, it is saved.
    with page.expect_response(lambda r: r.url.endswith("/order")) as again:
        page.keyboard.press("Alt+ArrowUp")
    assert again.value.status == 200
    expect(page.locator("#flash .error-box")).to_have_count(0)
    assert editor.keys_shown() == ["delivery", "login", "billing"]
    wait_until(
        lambda: editor.stored_order() == ["delivery", "login", "billing"], message="the new order stored", page=page
    )


def test_a_save_and_a_move_after_signing_in_again_in_another_tab_go_through(editor: Editor, people: People) -> None:
    """Signed out and in again in another tab (a session ended, a password changed at /me), the lead's
    editor had the old sign-in's CSRF token: every save was refused "out of date: reload it", and
    reloading lost what was typed, unsaved, in the other rows."""
    page = editor.page

    def sign_in_again_in_another_tab() -> None:
        other_tab = page.context.new_page()
        other_tab.goto("/")
        other_tab.get_by_role("button", name="Sign out").click()
        sign_in(other_tab, people.lead.username)
        other_tab.close()

    mark_page(page)
    editor.text("billing").fill("Typed in billing, not saved")
    sign_in_again_in_another_tab()
    editor.text("delivery").focus()
    with page.expect_response(lambda r: r.url.endswith("/order") and r.status == 200):
        page.keyboard.press("Alt+ArrowUp")
    wait_until(lambda: editor.stored_order() == ["billing", "delivery", "login"], message="moved", page=page)

    sign_in_again_in_another_tab()
    editor.text("login").fill("Login loops after the update")
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login") and r.status == 200):
        page.get_by_role("button", name="Save: Hypothesis login").click()
    wait_until(lambda: editor.stored_text("login") == "Login loops after the update", message="saved", page=page)
    expect(page.locator("#flash .error-box")).to_have_count(0)
    expect(editor.text("billing")).to_have_value("Typed in billing, not saved")
    assert same_page(page)


def test_a_save_and_a_move_after_signing_out_in_another_tab_say_so_and_keep_the_typing(
    editor: Editor, people: People
) -> None:
    """Signed out in another tab, a save was told "This page was out of date: reload it", and reloading
    led to sign-in and lost what was typed. It says the session ended, and a sign-in in another tab lets
    the same save go through from this page."""
    page = editor.page
    mark_page(page)
    other_tab = page.context.new_page()
    other_tab.goto("/")
    other_tab.get_by_role("button", name="Sign out").click()
    expect(other_tab).to_have_url(re.compile(r"/login"))

    editor.text("login").fill("Login loops after the update")
    page.get_by_role("button", name="Save: Hypothesis login").click()
    refusal = page.locator("#flash .error-box")
    expect(refusal).to_contain_text("Your session has ended, so this was not saved")
    expect(refusal).not_to_contain_text("out of date")
    expect(refusal.get_by_role("link", name="Sign in")).to_have_attribute("target", "_blank")
    refusal.evaluate("box => box.remove()")
    editor.text("delivery").focus()
    with page.expect_response(lambda r: r.url.endswith("/order") and r.status == 403):
        page.keyboard.press("Alt+ArrowUp")
    expect(refusal).to_contain_text("Your session has ended, so this was not saved")
    wait_until(lambda: editor.keys_shown() == ["billing", "login", "delivery"], message="put back", page=page)
    assert editor.stored_order() == ["billing", "login", "delivery"]
    expect(editor.text("login")).to_have_value("Login loops after the update")

    sign_in(other_tab, people.lead.username)
    other_tab.close()
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login") and r.status == 200):
        page.get_by_role("button", name="Save: Hypothesis login").click()
    wait_until(lambda: editor.stored_text("login") == "Login loops after the update", message="saved", page=page)
    assert same_page(page)


def test_every_button_has_a_name_of_its_own(editor: Editor) -> None:
    buttons = editor.page.get_by_role("button")
    names = [
        buttons.nth(i).evaluate("b => b.getAttribute('aria-label') || b.textContent.trim()")
        for i in range(buttons.count())
    ]
    assert len(names) >= 12
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, duplicates
    expect(editor.page.get_by_role("button", name="Save: Hypothesis billing", exact=True)).to_have_count(1)


def test_rows_keyed_like_the_launch_forms_fields_keep_labels_and_ids_of_their_own(
    page: Page, live_server: LiveServer, db: Database, people: People
) -> None:
    """A hypothesis keyed "name" gave its fix time the id of the launch's Name field, so that field was
    labelled "Fix shipped" too and the row's own field had no label; one keyed "launch" gave its Save
    the id of Save launch."""
    make_launch(db, slug=SLUG, name="Spring launch", hypotheses=("name", "launch", "status"))
    sign_in(page, people.lead.username, EDIT)
    ids: list[str] = page.locator("[id]").evaluate_all("els => els.map(e => e.id)")
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    fix_time = page.locator("#row-name input[name=fix_shipped_at]")
    labels: list[str] = fix_time.evaluate("e => Array.from(e.labels).map(l => l.textContent)")
    assert len(labels) == 1 and labels[0].startswith("Fix shipped")
    page.locator("#row-name label", has_text="Fix shipped").click()
    expect(fix_time).to_be_focused()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_attribute("name", "name")


def test_adding_appends_the_row_and_a_refused_add_keeps_what_was_typed(editor: Editor) -> None:
    page = editor.page
    mark_page(page)
    editor.text("login").fill("Typed in login")
    add = page.locator("#add-form")
    add.get_by_label("Key (e.g. bankid-login-loop)").fill("billing")  # used already
    add.get_by_label("What the customer says").fill("Receipts are gone")
    with page.expect_response(lambda r: r.url.endswith(f"/launches/{SLUG}/hypotheses")) as refused:
        add.get_by_role("button", name="Add").click()
    assert refused.value.status == 409  # a conflict with what is stored, shown in the form all the same
    expect(page.locator("#add-error")).to_contain_text("already has a hypothesis with that key")
    expect(add.get_by_label("What the customer says")).to_have_value("Receipts are gone")

    add.get_by_label("Key (e.g. bankid-login-loop)").fill("receipts")
    with page.expect_response(lambda r: r.url.endswith(f"/launches/{SLUG}/hypotheses")) as added:
        add.get_by_role("button", name="Add").click()
    assert added.value.status == 200
    expect(editor.text("receipts")).to_have_value("Receipts are gone")
    assert editor.keys_shown() == ["billing", "login", "delivery", "receipts"]
    expect(page.get_by_role("button", name="Move down: Hypothesis delivery")).to_be_enabled()
    expect(page.get_by_role("button", name="Move down: Receipts are gone")).to_be_disabled()
    expect(add.get_by_label("What the customer says")).to_have_value("")
    expect(editor.text("login")).to_have_value("Typed in login")
    assert same_page(page)


def test_saving_the_launch_keeps_the_rows_and_renames_the_page(editor: Editor) -> None:
    page = editor.page
    mark_page(page)
    editor.text("login").fill("Typed in login")
    page.get_by_label("Name", exact=True).fill("Autumn launch")
    with page.expect_response(lambda r: r.url.endswith(EDIT) and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save launch").click()
    assert answer.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit: Autumn launch")
    expect(editor.text("login")).to_have_value("Typed in login")
    assert same_page(page)


def test_the_arrow_buttons_move_without_saving_or_reloading(editor: Editor) -> None:
    page = editor.page
    mark_page(page)
    editor.text("delivery").fill("Typed, not saved")
    with page.expect_response(lambda r: r.url.endswith("/order")) as answer:
        page.get_by_role("button", name="Move up: Hypothesis delivery").click()
    assert answer.value.status == 200
    assert editor.keys_shown() == ["billing", "delivery", "login"]
    wait_until(
        lambda: editor.stored_order() == ["billing", "delivery", "login"], message="the new order stored", page=page
    )
    expect(editor.text("delivery")).to_have_value("Typed, not saved")
    assert editor.stored_text("delivery") == "Hypothesis delivery"  # moving saves nothing else
    assert same_page(page)


def test_taking_the_current_values_after_the_time_zone_changed_keeps_the_fix_time(editor: Editor, db: Database) -> None:
    """Another lead changed the launch's time zone (Oslo to London) and the row; this lead's save of the
    row, typed in Oslo time, was refused as stale. "Now:" showed the fix at 09:00 (London) under 10:00
    (Oslo), and "Take the current values" then saved 09:00 read as Oslo time: the fix an hour earlier."""
    page = editor.page
    fix = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)  # 10:00 in Oslo, 09:00 in London
    with db.transaction() as session:
        row = session.exec(select(Hypothesis).where(Hypothesis.key == "login")).one()
        row.status, row.fix_shipped_at = HypothesisStatus.FIX_SHIPPED, fix
    page.reload()
    expect(page.locator("#fix-login")).to_have_value("2026-12-03T10:00")
    with db.transaction() as session:  # the other lead's edits
        launch = session.exec(select(Launch).where(Launch.slug == SLUG)).one()
        launch.timezone, launch.version = "Europe/London", launch.version + 1
        row = session.exec(select(Hypothesis).where(Hypothesis.key == "login")).one()
        row.owner_team, row.version = "Team B", row.version + 1

    page.locator("#a-login").fill("Area A")
    page.locator("#o-login").fill("Team A")  # changed by both: the conflict
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login")) as refused:
        page.get_by_role("button", name="Save: Hypothesis login").click()
    assert refused.value.status == 409
    form = editor.row("login")
    expect(form.get_by_role("alert")).to_be_visible()
    expect(form.locator('[data-now-for="fix_shipped_at"]')).to_have_count(0)  # the same moment
    expect(form.locator('[data-now-for="owner_team"]')).to_have_text("Now: Team B")

    page.get_by_role("link", name="Take the current values: Hypothesis login").click()
    expect(page.locator("#fix-login")).to_have_value("2026-12-03T10:00")
    expect(page.locator("#o-login")).to_have_value("Team B")
    page.locator("#a-login").fill("Area A")
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/login")) as saved:
        page.get_by_role("button", name="Save: Hypothesis login").click()
    assert saved.value.status == 200
    with db.session() as session:
        row = session.exec(select(Hypothesis).where(Hypothesis.key == "login")).one()
        assert (row.area, row.owner_team, row.fix_shipped_at) == ("Area A", "Team B", fix)
    expect(page.locator("#fix-login")).to_have_value("2026-12-03T09:00")  # shown in London time from now on


def keys_in_editor(page: Page) -> dict[str, str]:
    """Each row's checklist key as the editor shows it ("–" for none, with what it says)."""
    shown: dict[str, str] = page.locator("#hypothesis-list > li").evaluate_all(
        """rows => Object.fromEntries(rows.map(row => {
            const holder = row.querySelector('.shortcut');
            const has = holder.querySelector('.has-key'), none = holder.querySelector('.no-key');
            return [row.dataset.key, has.hidden ? '– ' + none.textContent.trim() : has.textContent.trim()];
        }))"""
    )
    return shown


def keys_on_checklist(page: Page) -> dict[str, str]:
    page.goto(f"/launches/{SLUG}/checklist")
    keys: dict[str, str] = page.locator("#board button.tick[data-key]").evaluate_all(
        "buttons => Object.fromEntries(buttons.map(b => [b.dataset.key, b.dataset.shortcut || '']))"
    )
    page.goto(EDIT)
    return keys


def test_each_row_shows_the_key_agents_press_for_it(
    page: Page, live_server: LiveServer, db: Database, people: People
) -> None:
    """The editor numbered its rows 1, 2, 3… and said the first nine get the keys 1 to 9: with a row
    retired the rows after it were numbered one more than their keys, and past nine agents press letters."""
    names = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven")
    launch = make_launch(db, slug=SLUG, name="Spring launch", hypotheses=names)
    with db.transaction() as session:
        row = session.exec(select(Hypothesis).where(Hypothesis.key == "three")).one()
        row.status = HypothesisStatus.RETIRED
    sign_in(page, people.lead.username, EDIT)
    editor = Editor(page, db, launch)

    def expected() -> dict[str, str]:
        on_checklist = keys_on_checklist(page)
        # What an agent's checklist has, each key with the visually hidden words before it; retired: none.
        return {
            key: f"Key on the checklist: {on_checklist[key]}" if key in on_checklist else "– no key (retired)"
            for key in editor.keys_shown()
        }

    shown = keys_in_editor(page)
    assert shown["four"] == "Key on the checklist: 3" and shown["ten"] == "Key on the checklist: 9"
    assert shown["eleven"] == "Key on the checklist: a"
    assert shown == expected()
    expect(page.locator("#hypothesis-list > li").first).to_have_css("list-style-type", "none")

    # Moved without a reload: the keys follow.
    editor.text("five").focus()
    with page.expect_response(lambda r: r.url.endswith("/order")) as moved:
        page.keyboard.press("Alt+ArrowUp")
    assert moved.value.status == 200
    expect(page.locator("#shortcut-five kbd")).to_have_text("3")
    expect(page.locator("#shortcut-four kbd")).to_have_text("4")
    wait_until(lambda: editor.stored_order()[2:5] == ["three", "five", "four"], message="the order stored", page=page)
    assert keys_in_editor(page) == expected()

    # Retired by its row's save (htmx swaps that row): the rows after it show their new keys.
    page.locator("#s-one").select_option("retired")
    with page.expect_response(lambda r: r.url.endswith("/hypotheses/one")) as saved:
        page.get_by_role("button", name="Save: Hypothesis one").click()
    assert saved.value.status == 200
    expect(page.locator("#shortcut-one .no-key")).to_have_text("no key (retired)")
    expect(page.locator("#shortcut-two kbd")).to_have_text("1")
    expect(page.locator("#shortcut-eleven kbd")).to_have_text("9")
    assert keys_in_editor(page) == expected()


def test_a_spike_factor_with_two_decimals_does_not_block_the_launch_form(
    page: Page, live_server: LiveServer, db: Database, people: People
) -> None:
    """`factor: 2.55` from a file: the field's step of 0.1 had Chromium refuse to send the form ("The two
    nearest valid values are 2.5 and 2.6"), so no other setting of the launch could be saved."""
    launch = make_launch(db, slug=SLUG, name="Spring launch", alert_factor=2.55)
    sign_in(page, people.lead.username, EDIT)
    factor = page.locator("#f-alert-factor")
    expect(factor).to_have_value("2.55")
    assert factor.evaluate("input => input.validity.valid")
    page.get_by_label("Name", exact=True).fill("Autumn launch")
    with page.expect_response(lambda r: r.url.endswith(EDIT) and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save launch").click()
    assert answer.value.status == 200
    with db.session() as session:
        stored = session.exec(select(Launch).where(Launch.id == launch.id)).one()
        assert (stored.name, stored.alert_factor) == ("Autumn launch", 2.55)


def test_saving_the_launch_form_keeps_a_name_imported_with_a_line_break(
    page: Page, live_server: LiveServer, db: Database, people: People, settings: Settings
) -> None:
    """A file's `name: "PayApp 5\\nnew look"` was stored as written; the form's one-line field drops the
    line break, so any save of the form stored "PayApp 5new look"."""
    text = f'slug: {SLUG}\nname: "PayApp 5\\nnew look"\nproduct_area: "Pay\\nments"\nstarts_on: 2026-11-16\n'
    parsed = hypothesis_sets.parse_text(text)
    assert parsed.launch is not None, parsed.problems
    with db.transaction() as session:
        hypothesis_sets.import_launch(
            session,
            parsed.launch,
            actor="test",
            now=dt.datetime.now(dt.UTC),
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )

    def stored() -> tuple[str, str]:
        with db.session() as session:
            launch = session.exec(select(Launch).where(Launch.slug == SLUG)).one()
            return launch.name, launch.product_area

    imported = stored()
    sign_in(page, people.lead.username, EDIT)
    with page.expect_response(lambda r: r.url.endswith(EDIT) and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Save launch").click()
    assert answer.value.status == 200
    assert stored() == imported == ("PayApp 5 new look", "Pay ments")

    # One stored so before: the form shows it as one line, and saves that.
    with db.transaction() as session:
        launch = session.exec(select(Launch).where(Launch.slug == SLUG)).one()
        launch.name, launch.version = "PayApp 5\nnew look", launch.version + 1
    page.reload()
    with page.expect_response(lambda r: r.url.endswith(EDIT) and r.request.method == "POST") as again:
        page.get_by_role("button", name="Save launch").click()
    assert again.value.status == 200
    assert stored() == ("PayApp 5 new look", "Pay ments")


def test_a_file_over_a_launch_is_applied_from_the_page_that_shows_it(
    page: Page, live_server: LiveServer, db: Database, people: People
) -> None:
    """Apply sends the file back from the page's textarea, as multipart (URL-encoded, a 4-byte character
    was 12 bytes of body, and a file near the size limit went past the body's), each line break as CR LF."""
    make_launch(db, slug=SLUG, name="Spring launch", hypotheses=("billing", "login"))
    text = (
        f"slug: {SLUG}\nname: Vårslipp 🚀\nstarts_on: 2026-11-16\n"
        "hypotheses:\n  - key: billing\n    text: Fakturaen er feil – æøå ÆØÅ 😀\n"
        "  - key: login\n    text: |-\n      Får ikke logget inn\n      med BankID\n"
    )
    sign_in(page, people.lead.username, "/")
    page.locator("#import-file").set_input_files(
        files=[FilePayload(name="spring.yaml", mimeType="application/yaml", buffer=text.encode())]
    )
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("button", name="Apply these changes")).to_be_visible()
    with page.expect_request(lambda r: r.url.endswith("/launches") and r.method == "POST") as sent:
        page.get_by_role("button", name="Apply these changes").click()
    assert (sent.value.header_value("content-type") or "").startswith("multipart/form-data")
    expect(page.get_by_role("heading", name="Edit: Vårslipp 🚀", level=1)).to_be_visible()
    with db.session() as session:
        launch = session.exec(select(Launch).where(Launch.slug == SLUG)).one()
        texts = {h.key: h.text for h in hypothesis_sets.current_spec(session, launch).hypotheses}
    assert texts == {"billing": "Fakturaen er feil – æøå ÆØÅ 😀", "login": "Får ikke logget inn med BankID"}
