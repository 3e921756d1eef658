"""The lead's editor over HTTP: saves made from an older copy are refused (409) with what was typed
and what is there now, each form answers htmx with its own fragment, the order route, and a
refused add that keeps what was typed. (The browser side is tests/browser/test_editor.py.)"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select

from app import hypothesis_sets, launches
from app.db import Database
from app.models import Hypothesis, HypothesisStatus, Launch
from tests.conftest import People, WebUser
from tests.factories import log, make_launch
from tests.helpers import (
    HTMX,
    JSON,
    Elements,
    changed_tables,
    error_of,
    launch_form,
    sent_while_a_row_is_uncommitted,
    snapshot,
)

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
EDIT = f"/launches/{SLUG}/edit"
STALE = "Someone else changed this since you opened it"
ABC = ["a", "b", "c"]  # the order make_launch stores, as a page opened on it knows it


@pytest.fixture
def launch(db: Database) -> Launch:
    return make_launch(db, slug=SLUG)


def stored(db: Database) -> dict[str, Hypothesis]:
    with db.session() as session:
        return {h.key: h for h in session.exec(select(Hypothesis).order_by(col(Hypothesis.sort_order)))}


def stored_launch(db: Database) -> Launch:
    with db.session() as session:
        return session.exec(select(Launch).where(Launch.slug == SLUG)).one()


def version_in(page: str, key: str) -> str:
    row = page[page.index(f'id="row-{key}"') :]
    match = re.search(r'name="version" value="(\d+)"', row)
    assert match
    return match.group(1)


def seen_in(page: str, key: str) -> str:
    row = page[page.index(f'id="row-{key}"') :]
    match = re.search(r'name="seen" value="([0-9a-f]+)"', row)
    assert match
    return match.group(1)


def sent_by(page: str, action: str, **typed: str) -> dict[str, str]:
    """What a browser sends from the form posting to ``action`` on ``page`` (its hidden fields too),
    with ``typed`` typed into it."""
    fields: dict[str, str] = {}
    inside, select = False, None
    for tag, attrs in Elements(page).tags:
        if tag == "form":
            if inside:
                break
            inside = attrs.get("action") == action
        elif inside and tag == "input" and attrs.get("name") and attrs.get("type") != "submit":
            fields[str(attrs["name"])] = attrs.get("value") or ""
        elif inside and tag == "select":
            select = str(attrs["name"])
        elif inside and tag == "option" and select and (select not in fields or "selected" in attrs):
            fields[select] = attrs.get("value") or ""
    assert fields, f"no form posting to {action}"
    return fields | typed


def row_form(key: str, version: str, **changes: str) -> dict[str, str]:
    form = {"text": f"Hypothesis {key}", "status": "open", "area": "", "owner_team": "", "version": version}
    return form | changes


# --- saving one row ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "snippet"),
    [
        (HTMX, 200, '<li id="row-a"'),  # just the row, for htmx to swap
        ({}, 303, None),  # the page again, without JavaScript
    ],
)
def test_a_fresh_row_save_answers_with_the_row_or_the_page(
    app: Any, db: Database, web: Web, people: People, launch: Launch, headers: Any, status: int, snippet: str | None
) -> None:
    lena = web("lena")
    version = version_in(lena.get(EDIT).text, "a")
    response = lena.post(f"/launches/{SLUG}/hypotheses/a", data=row_form("a", version, text="New a"), headers=headers)
    assert response.status_code == status
    if snippet:
        assert response.text.lstrip().startswith(snippet)
        assert "<html" not in response.text and 'id="row-b"' not in response.text
        assert 'value="New a"' in response.text and 'aria-label="Save: New a"' in response.text
        assert f'name="version" value="{int(version) + 1}"' in response.text  # ready for the next save
    else:
        assert response.headers["location"] == EDIT
    assert stored(db)["a"].text == "New a"


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "page"])
def test_a_stale_row_save_is_refused_keeping_both_values(
    app: Any, db: Database, web: Web, people: People, launch: Launch, headers: Any
) -> None:
    lena, other = web("lena"), web("lena")
    opened = version_in(lena.get(EDIT).text, "a")
    # Someone else changes the text first...
    theirs = other.post(f"/launches/{SLUG}/hypotheses/a", data=row_form("a", opened, text="Their text"))
    assert theirs.status_code == 303
    # ...then Lena saves her older copy with only the expected rate changed.
    before = snapshot(db)
    typed = row_form("a", opened, expected_per_day="7", owner_team="Lena's team")
    response = lena.post(f"/launches/{SLUG}/hypotheses/a", data=typed, headers=headers)

    assert response.status_code == 409
    assert not changed_tables(before, snapshot(db))  # nothing saved
    assert stored(db)["a"].text == "Their text"
    page = html.unescape(response.text)
    assert STALE in page
    # What she typed is in the inputs; what is there now is beside each field that differs.
    assert 'id="t-a" name="text" value="Hypothesis a"' in page and "Now: Their text" in page
    assert 'name="expected_per_day" type="number" min="0" value="7"' in page and "Now: –" in page
    assert 'value="Lena\'s team"' in page
    assert page.count("Now:") == 3  # text, expected rate, owner team: the others agree
    assert "data-take-current" in page and 'data-current="Their text"' in page
    # The form now carries the current version: saving again keeps hers, knowingly.
    assert f'name="version" value="{int(opened) + 1}"' in page
    if headers:
        assert response.text.lstrip().startswith('<li id="row-a"') and "<html" not in response.text
    else:
        assert 'id="row-b"' in response.text  # the whole editor
    again = lena.post(f"/launches/{SLUG}/hypotheses/a", data=typed | {"version": str(int(opened) + 1)}, headers=headers)
    assert again.status_code == (200 if headers else 303)
    assert stored(db)["a"].expected_per_day == 7 and stored(db)["a"].text == "Hypothesis a"


def test_an_invalid_row_save_with_htmx_keeps_what_was_typed(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena = web("lena")
    version = version_in(lena.get(EDIT).text, "b")
    before = snapshot(db)
    typed = row_form("b", version, text="   ", area="Payments")
    response = lena.post(f"/launches/{SLUG}/hypotheses/b", data=typed, headers=HTMX)
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<li id="row-b"') and 'value="Payments"' in response.text
    assert 'id="error-b"' in response.text and "data-dirty" in response.text
    assert not changed_tables(before, snapshot(db))


def test_another_rows_change_does_not_make_a_row_stale(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena, other = web("lena"), web("lena")
    page = lena.get(EDIT).text
    theirs = other.post(f"/launches/{SLUG}/hypotheses/b", data=row_form("b", version_in(page, "b"), text="B!"))
    assert theirs.status_code == 303
    response = lena.post(f"/launches/{SLUG}/hypotheses/a", data=row_form("a", version_in(page, "a"), text="A!"))
    assert response.status_code == 303
    assert stored(db)["a"].text == "A!" and stored(db)["b"].text == "B!"


# --- the launch form ------------------------------------------------------------------------


def test_a_stale_launch_save_is_refused_keeping_both_values(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena, other = web("lena"), web("lena")
    version = str(stored_launch(db).version)
    form = launch_form(launch, version=version)
    assert other.post(EDIT, data=form | {"name": "Their name"}).status_code == 303
    before = snapshot(db)
    for headers in (HTMX, {}):
        response = lena.post(EDIT, data=form | {"slack_channel": "#mine"}, headers=headers)
        assert response.status_code == 409
        page = html.unescape(response.text)
        assert STALE in page
        assert 'value="#mine"' in page and "Now: #launch" in page
        assert 'value="Test launch"' in page and "Now: Their name" in page
        assert (response.text.lstrip().startswith('<form method="post" action="/launches/test-launch/edit"')) == bool(
            headers
        )
    assert not changed_tables(before, snapshot(db))
    assert stored_launch(db).name == "Their name" and stored_launch(db).slack_channel == "#launch"


def test_a_form_whose_original_is_nested_past_the_json_parser_is_saved_as_one_without_it(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """A hidden ``original`` nested deeper than Python's JSON parser goes ("[[[[…": a hostile or broken
    form, well under the body limit) raised RecursionError from both editor forms: a 500."""
    lena = web("lena")
    nested = "[" * 100_000
    row_version = version_in(lena.get(EDIT).text, "a")
    row = lena.post(f"/launches/{SLUG}/hypotheses/a", data=row_form("a", row_version, text="New a", original=nested))
    assert row.status_code == 303
    assert stored(db)["a"].text == "New a"
    form = launch_form(launch, version=str(stored_launch(db).version), original=nested)
    saved = lena.post(EDIT, data=form | {"name": "New name"})
    assert saved.status_code == 303
    assert stored_launch(db).name == "New name"


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "page"])
def test_a_row_saved_from_an_older_copy_keeps_another_leads_change_to_a_field_left_alone(
    app: Any, db: Database, web: Web, people: People, launch: Launch, headers: Any
) -> None:
    lena, other = web("lena"), web("lena")
    row = f"/launches/{SLUG}/hypotheses/a"
    hers, theirs = lena.get(EDIT).text, other.get(EDIT).text
    assert other.post(row, data=sent_by(theirs, row, area="Their area"), headers=HTMX).status_code == 200
    response = lena.post(row, data=sent_by(hers, row, text="My text"), headers=headers)
    assert response.status_code == (200 if headers else 303)
    assert (stored(db)["a"].text, stored(db)["a"].area) == ("My text", "Their area")
    page = response.text if headers else lena.get(response.headers["location"]).text
    assert 'id="kept-a"' in page and 'value="Their area"' in page
    assert "Taken from their changes: Area</p>" in page  # which of the fields holds theirs
    assert 'id="kept-a"' not in lena.get(EDIT).text


def test_saving_again_after_a_row_conflict_keeps_the_other_leads_other_changes(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena, other = web("lena"), web("lena")
    row = f"/launches/{SLUG}/hypotheses/a"
    hers, theirs = lena.get(EDIT).text, other.get(EDIT).text
    changed = sent_by(theirs, row, text="Their text", owner_team="Their team")
    assert other.post(row, data=changed, headers=HTMX).status_code == 200
    before = snapshot(db)
    refused = lena.post(row, data=sent_by(hers, row, text="My text", expected_per_day="7"), headers=HTMX)
    assert refused.status_code == 409 and not changed_tables(before, snapshot(db))
    page = html.unescape(refused.text)
    assert page.count("Now:") == 1 and "Now: Their text" in page
    assert 'value="My text"' in page and 'value="Their team"' in page
    again = lena.post(row, data=sent_by(refused.text, row), headers=HTMX)
    assert again.status_code == 200
    saved = stored(db)["a"]
    assert (saved.text, saved.owner_team, saved.expected_per_day) == ("My text", "Their team", 7)


def test_a_fresh_launch_save_with_htmx_answers_with_the_form(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena = web("lena")
    version = stored_launch(db).version
    response = lena.post(EDIT, data=launch_form(launch, name="Renamed", version=str(version)), headers=HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<form method="post" action="/launches/test-launch/edit"')
    assert f'name="version" value="{version + 1}"' in response.text
    assert stored_launch(db).name == "Renamed"


@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "page"])
def test_a_launch_saved_from_an_older_copy_keeps_another_leads_change_to_a_field_left_alone(
    app: Any, db: Database, web: Web, people: People, launch: Launch, headers: Any
) -> None:
    """Two leads in one editor, each changing a field of their own: the second save is not refused and
    undoes nothing of the first (it used to be refused, and "Save again" put the old name back)."""
    lena, other = web("lena"), web("lena")
    hers, theirs = lena.get(EDIT).text, other.get(EDIT).text
    assert other.post(EDIT, data=sent_by(theirs, EDIT, name="Their name"), headers=HTMX).status_code == 200
    response = lena.post(EDIT, data=sent_by(hers, EDIT, slack_channel="#mine"), headers=headers)
    assert response.status_code == (200 if headers else 303)
    assert stored_launch(db).name == "Their name" and stored_launch(db).slack_channel == "#mine"
    page = response.text if headers else lena.get(response.headers["location"]).text
    assert 'id="launch-kept"' in page and 'value="Their name"' in page  # told, and shown what was kept
    assert "Taken from their changes: Name</p>" in page
    assert 'id="launch-kept"' not in lena.get(EDIT).text  # once


def test_saving_again_after_a_launch_conflict_keeps_the_other_leads_other_changes(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """Both leads renamed the launch: only the name is the conflict, marked "Now:"; saving again keeps
    her name, and the product area the other lead changed while she did not stays theirs."""
    lena, other = web("lena"), web("lena")
    hers, theirs = lena.get(EDIT).text, other.get(EDIT).text
    mine = {"name": "My name", "slack_channel": "#mine"}
    changed = sent_by(theirs, EDIT, name="Their name", product_area="Their area")
    assert other.post(EDIT, data=changed, headers=HTMX).status_code == 200
    before = snapshot(db)
    refused = lena.post(EDIT, data=sent_by(hers, EDIT, **mine), headers=HTMX)
    assert refused.status_code == 409 and not changed_tables(before, snapshot(db))
    page = html.unescape(refused.text)
    assert page.count("Now:") == 1 and "Now: Their name" in page
    assert 'value="My name"' in page and 'value="#mine"' in page and 'value="Their area"' in page
    again = lena.post(EDIT, data=sent_by(refused.text, EDIT), headers=HTMX)
    assert again.status_code == 200
    saved = stored_launch(db)
    assert (saved.name, saved.slack_channel, saved.product_area) == ("My name", "#mine", "Their area")


# --- adding ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        # A key in use is a conflict with what is stored, as the API and "New hypothesis" answer it (it was 422).
        ({"key": "a", "text": "Typed text", "area": "Typed area"}, 409, "already has a hypothesis with that key"),
        ({"key": "typed-key", "text": "   ", "area": "Typed area"}, 422, "text"),
    ],
)
@pytest.mark.parametrize("headers", [HTMX, {}], ids=["htmx", "page"])
def test_a_refused_add_keeps_what_was_typed(
    app: Any,
    db: Database,
    web: Web,
    people: People,
    launch: Launch,
    form: dict[str, str],
    status: int,
    words: str,
    headers: Any,
) -> None:
    lena = web("lena")
    before = snapshot(db)
    response = lena.post(f"/launches/{SLUG}/hypotheses", data=form, headers=headers)
    assert response.status_code == status
    assert words in response.text
    assert f'id="n-key" name="key" value="{form["key"]}"' in response.text
    assert 'value="Typed area"' in response.text
    if form["text"].strip():
        assert 'value="Typed text"' in response.text
    if headers:
        assert response.text.lstrip().startswith('<form method="post" action="/launches/test-launch/hypotheses"')
    assert not changed_tables(before, snapshot(db))


@pytest.mark.parametrize(
    ("language", "form", "said", "not_said"),
    [
        (
            "en",
            {"key": "b", "text": "Again"},
            "already has a hypothesis with that key (perhaps retired)",
            "hypotheses[",
        ),
        ("nb", {"key": "b", "text": "Igjen"}, "har allerede en hypotese med den nøkkelen", "hypotheses["),
        (
            "en",
            {"key": "d", "text": "D", "expected_per_day": "ca. 20"},
            "is not a whole number: write one, such as 20",
            "Input should",
        ),
        (
            "nb",
            {"key": "Widget Gone", "text": "W"},
            "'Widget Gone' er ikke en nøkkel: bruk små bokstaver, sifre og bindestrek, høyst 64, som widget-gone",
            "hypotheses[",
        ),
        # Suggested as "New hypothesis from these" does (æ, ø, å as ae, o, a; not a key in use), not "n-kkel".
        ("en", {"key": "Nøkkel på vent", "text": "N"}, "such as nokkel-pa-vent.", "n-kkel"),
        ("en", {"key": "B!", "text": "B again"}, "such as b-2.", "such as b."),
    ],
)
def test_a_refused_add_says_what_to_do_in_the_leads_words(
    app: Any,
    db: Database,
    web: Web,
    people: People,
    launch: Launch,
    language: str,
    form: dict[str, str],
    said: str,
    not_said: str,
) -> None:
    """A key in use (perhaps by a retired row) was "hypotheses[3].key: key 'b' is used twice (first by
    hypotheses[1])", in English on a Norwegian page; "ca. 20" got pydantic's words."""
    lena = web("lena")
    response = lena.post(f"/launches/{SLUG}/hypotheses", data=form, headers={**HTMX, "Accept-Language": language})
    assert response.status_code in (409, 422)
    text = html.unescape(response.text)
    assert said in text and not_said not in text, text[:600]
    assert text.count("already has a hypothesis with that key") <= 1  # not the translation and the English again


@pytest.mark.parametrize(
    ("language", "said", "not_said"),
    [
        (
            "nb",
            [
                "Siste dag: 2026-11-01 er før lanseringsdagen, {start}",
                "Tidspunkter for oppsummering: '25:00' er ikke et klokkeslett; forventet TT:MM, som 09:00",
                "Tekst: er tomt: skriv noe her",
                "launch.yaml:3: starts_on: 'neste uke' er ikke en dato: skriv den som ÅÅÅÅ-MM-DD, som 2026-11-20",
                "Ingenting ble importert.",
            ],
            ["is before", "ends_on:", "digest_times:", "hypotheses[0].text", "is not a date", "Nothing was imported"],
        ),
        (
            "en",
            [
                "Last day: 2026-11-01 is before the release day, {start}",
                "Digest times: '25:00' is not a clock time; expected HH:MM such as 09:00",
                "Text: is empty: write something here",
                "launch.yaml:3: starts_on: 'neste uke' is not a date: write it as YYYY-MM-DD, such as 2026-11-20",
                "Nothing was imported.",
            ],
            ["ends_on:", "digest_times:", "hypotheses[0].text"],
        ),
    ],
)
def test_a_refused_value_is_told_by_its_field_in_the_leads_language(
    app: Any,
    db: Database,
    web: Web,
    people: People,
    launch: Launch,
    language: str,
    said: list[str],
    not_said: list[str],
) -> None:
    """The launch form, a hypothesis's row and an uploaded file told a Norwegian lead what was wrong in
    English, by the file's field names: "ends_on: 2026-11-01 is before starts_on 2026-11-16"."""
    lena = web("lena")
    asked = {"Accept-Language": language}
    page = lena.get(f"/launches/{SLUG}/edit").text
    answers = [
        lena.post(f"/launches/{SLUG}/edit", data=launch_form(launch, ends_on="2026-11-01"), headers=asked),
        lena.post(f"/launches/{SLUG}/edit", data=launch_form(launch, digest_times="09:00, 25:00"), headers=asked),
        lena.post(
            f"/launches/{SLUG}/hypotheses/a",
            data=row_form("a", version_in(page, "a"), text=" "),
            headers={**HTMX, **asked},
        ),
        lena.client.post(
            "/launches",
            files={"file": ("launch.yaml", b"slug: from-file\nname: F\nstarts_on: neste uke\n")},
            data={"csrf_token": lena.token("/")},
            headers=asked,
        ),
    ]
    assert [answer.status_code for answer in answers] == [422] * 4
    shown = "\n".join(html.unescape(answer.text) for answer in answers)
    for words in said:
        assert words.format(start=launch.starts_on.isoformat()) in shown, words
    for words in not_said:
        assert words not in shown, words
    assert stored_launch(db).ends_on == launch.ends_on


def test_the_editor_refuses_an_invisible_name_or_text_as_a_file_is(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """A blank name was refused, and one of a zero-width space saved (as from a file): the same rules."""
    lena = web("lena")
    before = snapshot(db)
    page = lena.get(EDIT).text
    answers = [
        lena.post(EDIT, data=launch_form(launch, name="\u200b")),
        lena.post(f"/launches/{SLUG}/hypotheses/a", data=row_form("a", version_in(page, "a"), text="\u200b \u2060")),
        lena.post(f"/launches/{SLUG}/hypotheses", data={"key": "d", "text": "\u3164"}),
    ]
    assert [answer.status_code for answer in answers] == [422] * 3
    for answer in answers:
        assert "has only invisible characters" in html.unescape(answer.text)
    assert not changed_tables(before, snapshot(db))


def test_the_editor_adds_no_hypothesis_past_what_a_file_may_hold(
    app: Any, db: Database, web: Web, people: People
) -> None:
    """A 501st hypothesis was added without a word, and its launch's export then failed validate and
    import ("501 hypotheses; a file may have at most 500")."""
    make_launch(db, slug=SLUG, hypotheses=[f"h{i}" for i in range(hypothesis_sets.MAX_HYPOTHESES)])
    lena = web("lena")
    before = snapshot(db)
    for headers in (HTMX, {}):
        answer = lena.post(
            f"/launches/{SLUG}/hypotheses", data={"key": "one-more", "text": "One more"}, headers=headers
        )
        assert answer.status_code == 422
        assert (
            "A launch may have at most 500 hypotheses, retired ones included, and this would make 501." in answer.text
        )
        assert 'id="n-key" name="key" value="one-more"' in answer.text
    assert not changed_tables(before, snapshot(db))
    with db.session() as session:
        exported = hypothesis_sets.export_launch(session, launches.get_by_slug(session, SLUG))
    assert hypothesis_sets.parse_text(exported).launch is not None


def test_an_add_with_htmx_appends_the_row_and_clears_the_form(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena = web("lena")
    response = lena.post(f"/launches/{SLUG}/hypotheses", data={"key": "d", "text": "Fourth"}, headers=HTMX)
    assert response.status_code == 200
    assert 'id="n-key" name="key" value=""' in response.text
    assert 'hx-swap-oob="beforeend:#hypothesis-list"' in response.text and '<li id="row-d"' in response.text
    assert list(stored(db)) == ["a", "b", "c", "d"]


# --- the order ------------------------------------------------------------------------------


def test_the_order_route_reorders_and_reports_the_raised_versions(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena = web("lena")
    before = {key: h.version for key, h in stored(db).items()}
    response = lena.post(f"/launches/{SLUG}/order", data={"keys": ["c", "a", "b"], "seen": ABC}, headers=JSON)
    assert response.status_code == 200
    assert list(stored(db)) == ["c", "a", "b"]
    after = {key: h.version for key, h in stored(db).items()}
    assert response.json()["versions"] == {key: [before[key], after[key]] for key in after if after[key] != before[key]}
    assert response.json()["order"] == ["c", "a", "b"]
    page = lena.get(EDIT).text
    assert page.index('id="row-c"') < page.index('id="row-a"') < page.index('id="row-b"')


@pytest.mark.parametrize("keys", [["a", "b"], ["a", "b", "c", "zzz"], ["a", "a", "b"]])
def test_an_order_that_is_not_the_current_list_is_refused(
    app: Any, db: Database, web: Web, people: People, launch: Launch, keys: list[str]
) -> None:
    lena = web("lena")
    before = snapshot(db)
    response = lena.post(f"/launches/{SLUG}/order", data={"keys": keys, "seen": ABC}, headers=JSON)
    assert response.status_code == 409 and error_of(response)["code"] == "stale_order"
    assert not changed_tables(before, snapshot(db))
    # editor.js shows "text", in the reader's language (the message is written for developers).
    assert lena.post("/me/language", data={"language": "nb"}).status_code == 303
    norwegian = lena.post(f"/launches/{SLUG}/order", data={"keys": keys, "seen": ABC}, headers=JSON)
    assert error_of(norwegian)["text"].startswith("Listen over hypoteser er endret")
    # And in a browser she signs in on afterwards, whose cookies know nothing of her choice yet.
    elsewhere = web("lena").post(f"/launches/{SLUG}/order", data={"keys": keys, "seen": ABC}, headers=JSON)
    assert error_of(elsewhere)["text"].startswith("Listen over hypoteser er endret")


def test_a_move_from_a_page_that_knew_another_order_is_refused_with_the_order_there_now(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """Lena moved c to the top; Mona's page, opened before, moved b up one and sent its whole order:
    stored, it undid Lena's move and changed the agents' keys again, and nobody was told."""
    lena, mona = web("lena"), web("lena")
    first = lena.post(f"/launches/{SLUG}/order", data={"keys": ["c", "a", "b"], "seen": ABC}, headers=JSON)
    assert first.status_code == 200
    before = snapshot(db)
    late = mona.post(f"/launches/{SLUG}/order", data={"keys": ["b", "a", "c"], "seen": ABC}, headers=JSON)
    assert late.status_code == 409 and error_of(late)["code"] == "order_changed"
    assert late.json()["order"] == ["c", "a", "b"]  # for the page to show before she moves again
    assert error_of(late)["text"].startswith("Someone else changed the order of the hypotheses")
    assert not changed_tables(before, snapshot(db)) and list(stored(db)) == ["c", "a", "b"]
    # Moved again from the order she now sees, it is saved.
    again = mona.post(f"/launches/{SLUG}/order", data={"keys": ["c", "b", "a"], "seen": ["c", "a", "b"]}, headers=JSON)
    assert again.status_code == 200 and list(stored(db)) == ["c", "b", "a"]
    # A page whose script sends no order it knew (opened before this check) is told to reload.
    old = mona.post(f"/launches/{SLUG}/order", data={"keys": ["a", "b", "c"]}, headers=JSON)
    assert old.status_code == 409 and error_of(old)["code"] == "stale_order"
    assert list(stored(db)) == ["c", "b", "a"]


def order_in(page: str, key: str) -> str:
    row = page[page.index(f'id="row-{key}"') :]
    match = re.search(r'name="order" value="([0-9a-f]+)"', row)
    assert match
    return match.group(1)


def test_an_arrow_button_without_javascript_from_a_page_that_knew_another_order_is_refused(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """Without JavaScript ↑ and ↓ submit the row's form: moved where the row is now, not where the
    lead saw it, b went nowhere she meant."""
    lena, mona = web("lena"), web("lena")
    page = lena.get(EDIT).text
    moved = mona.post(f"/launches/{SLUG}/order", data={"keys": ["c", "a", "b"], "seen": ABC}, headers=JSON)
    assert moved.status_code == 200
    before = snapshot(db)
    typed = row_form("b", version_in(page, "b"), text="Typed with the move", seen=seen_in(page, "b"))
    refused = lena.post(f"/launches/{SLUG}/hypotheses/b", data=typed | {"move": "up", "order": order_in(page, "b")})
    assert refused.status_code == 409
    assert not changed_tables(before, snapshot(db)), "nothing saved: neither the move nor the text"
    shown = html.unescape(refused.text)
    assert "Someone else changed the order of the hypotheses" in shown
    assert shown.index('id="row-c"') < shown.index('id="row-a"') < shown.index('id="row-b"')  # the order now
    assert 'value="Typed with the move"' in shown  # what she typed is kept
    # From the page as it is now, the same button moves b up.
    again = row_form("b", version_in(refused.text, "b"), text="Typed with the move", seen=seen_in(refused.text, "b"))
    answer = lena.post(
        f"/launches/{SLUG}/hypotheses/b", data=again | {"move": "up", "order": order_in(refused.text, "b")}
    )
    assert answer.status_code == 303 and list(stored(db)) == ["c", "b", "a"]
    assert stored(db)["b"].text == "Typed with the move"


def test_only_a_lead_may_reorder(app: Any, db: Database, web: Web, people: People, launch: Launch) -> None:
    response = web("kari").post(f"/launches/{SLUG}/order", data={"keys": ["c", "b", "a"], "seen": ABC}, headers=JSON)
    assert response.status_code == 403
    assert list(stored(db)) == ["a", "b", "c"]


def test_the_order_route_needs_the_csrf_token(app: Any, db: Database, web: Web, people: People, launch: Launch) -> None:
    lena = web("lena")
    response = lena.client.post(f"/launches/{SLUG}/order", data={"keys": ["c", "b", "a"], "seen": ABC}, headers=JSON)
    assert response.status_code == 403 and error_of(response)["code"] == "csrf"
    assert list(stored(db)) == ["a", "b", "c"]


# --- accessible names -----------------------------------------------------------------------


def test_every_button_of_the_editor_has_its_own_name(app: Any, web: Web, people: People, launch: Launch) -> None:
    page = web("lena").get(EDIT).text
    names = re.findall(r"<button[^>]*?aria-label=\"([^\"]+)\"", page)
    assert len(names) == 9 and len(set(names)) == len(names)
    assert "Save: Hypothesis a" in names


def test_a_row_moved_by_someone_else_is_not_stale(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """A move raises the moved rows' versions (c and b here: a keeps its place among the others); a copy
    that differs only in its place is current."""
    lena, other = web("lena"), web("lena")
    page = lena.get(EDIT).text
    moved = other.post(f"/launches/{SLUG}/order", data={"keys": ["c", "b", "a"], "seen": ABC}, headers=JSON)
    assert moved.status_code == 200
    assert str(stored(db)["c"].version) != version_in(page, "c")
    typed = row_form("c", version_in(page, "c"), text="Still mine", seen=seen_in(page, "c"))
    assert lena.post(f"/launches/{SLUG}/hypotheses/c", data=typed, headers=HTMX).status_code == 200
    assert stored(db)["c"].text == "Still mine" and list(stored(db)) == ["c", "b", "a"]


def test_a_row_changed_and_moved_by_someone_else_is_stale(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena, other = web("lena"), web("lena")
    page = lena.get(EDIT).text
    theirs = other.post(f"/launches/{SLUG}/hypotheses/a", data=row_form("a", version_in(page, "a"), area="Theirs"))
    assert theirs.status_code == 303
    moved = other.post(f"/launches/{SLUG}/order", data={"keys": ["c", "b", "a"], "seen": ABC}, headers=JSON)
    assert moved.status_code == 200
    before = snapshot(db)
    typed = row_form("a", version_in(page, "a"), text="Mine", seen=seen_in(page, "a"))
    response = lena.post(f"/launches/{SLUG}/hypotheses/a", data=typed, headers=HTMX)
    assert response.status_code == 409 and "Now: Theirs" in response.text
    assert not changed_tables(before, snapshot(db))


def test_saving_a_row_keeps_its_fix_time_when_the_field_was_left_as_shown(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """Shipped at the second 02:30:45 of the night Oslo's clocks go back: the row shows 02:30, which
    read back is the first 02:30, an hour earlier, and without its seconds. A save that changes only
    the owner team must leave the fix's time alone."""
    shipped = dt.datetime(2026, 10, 25, 1, 30, 45, tzinfo=dt.UTC)  # 02:30:45+01:00, after the change
    with db.transaction() as session:
        hypothesis = next(
            h for h in launches.hypotheses_of(session, launches.get_by_slug(session, SLUG)) if h.key == "a"
        )
        hypothesis.status, hypothesis.fix_shipped_at = HypothesisStatus.FIX_SHIPPED, shipped
    lena = web("lena")
    page = lena.get(EDIT).text
    typed = row_form(
        "a", version_in(page, "a"), status="fix_shipped", fix_shipped_at="2026-10-25T02:30", owner_team="Pay"
    )
    assert lena.post(f"/launches/{SLUG}/hypotheses/a", data=typed, headers=HTMX).status_code == 200
    with db.session() as session:
        saved = next(h for h in launches.hypotheses_of(session, launches.get_by_slug(session, SLUG)) if h.key == "a")
    assert saved.owner_team == "Pay" and saved.fix_shipped_at == shipped
    # A time the lead did change is the time they typed.
    typed = row_form("a", str(saved.version), status="fix_shipped", fix_shipped_at="2026-10-26T09:15", owner_team="Pay")
    assert lena.post(f"/launches/{SLUG}/hypotheses/a", data=typed, headers=HTMX).status_code == 200
    with db.session() as session:
        saved = next(h for h in launches.hypotheses_of(session, launches.get_by_slug(session, SLUG)) if h.key == "a")
    assert saved.fix_shipped_at == dt.datetime(2026, 10, 26, 8, 15, tzinfo=dt.UTC)


def test_a_launch_stored_longer_than_a_year_can_be_read_and_its_dates_put_right(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """Stored before launches were capped at 366 days: export and the editor crashed (500) on reading it."""
    with db.transaction() as session:
        stored = launches.get_by_slug(session, SLUG)
        stored.starts_on = dt.date(2025, 11, 16)
    lena = web("lena")
    assert lena.get(f"/launches/{SLUG}/export").status_code == 200
    page = lena.get(EDIT).text
    refused = lena.post(
        f"/launches/{SLUG}/hypotheses/b", data=row_form("b", version_in(page, "b"), area="X"), headers=HTMX
    )
    assert refused.status_code == 422 and "check the years" in html.unescape(refused.text)


def test_a_fix_link_stored_before_links_had_to_be_web_addresses_blocks_no_edit(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    with db.transaction() as session:
        hypothesis = next(
            h for h in launches.hypotheses_of(session, launches.get_by_slug(session, SLUG)) if h.key == "a"
        )
        hypothesis.fix_url = "www.vipps.no/release-5-1"
    lena = web("lena")
    page = lena.get(EDIT).text
    saved = lena.post(
        f"/launches/{SLUG}/hypotheses/b", data=row_form("b", version_in(page, "b"), area="X"), headers=HTMX
    )
    assert saved.status_code == 200, saved.text[:300]
    assert lena.get(f"/launches/{SLUG}/export").status_code == 200
    with db.session() as session:
        kept = next(h for h in launches.hypotheses_of(session, launches.get_by_slug(session, SLUG)) if h.key == "a")
    assert kept.fix_url == "www.vipps.no/release-5-1"  # left as it was, not erased by someone else's edit


def test_a_fix_time_stays_put_when_the_launch_time_zone_changes_under_an_open_editor(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """The row showed the fix's time in the zone of the page; saved after the launch's zone changed (the
    launch form above it, or another lead), that wall-clock text was read in the new zone: a fix at
    09:00 UTC shown as 10:00 in Oslo became 15:00 UTC with New York, the row still saying 10:00."""
    lena = web("lena")
    shipped = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC)
    page = lena.get(f"/launches/{SLUG}/edit").text
    first = lena.post(
        f"/launches/{SLUG}/hypotheses/a",
        data=row_form("a", version_in(page, "a"), status="fix_shipped", fix_shipped_at="2026-11-18T10:00"),
        headers=HTMX,
    )
    assert first.status_code == 200, first.text[:300]
    page = lena.get(f"/launches/{SLUG}/edit").text  # the row as the lead now has it, in Oslo's time
    row = page[page.index('id="row-a"') :]
    shown = re.search(r'name="fix_shipped_at" type="datetime-local" value="([^"]*)"', row)
    zone = re.search(r'name="zone" value="([^"]*)"', row)
    assert shown and shown.group(1) == "2026-11-18T10:00"
    moved = lena.post(
        f"/launches/{SLUG}/edit", data=launch_form(stored_launch(db), timezone="America/New_York"), headers=HTMX
    )
    assert moved.status_code == 200 and stored_launch(db).timezone == "America/New_York"
    form = row_form("a", version_in(page, "a"), text="Typo fixed", status="fix_shipped", fix_shipped_at=shown.group(1))
    saved = lena.post(
        f"/launches/{SLUG}/hypotheses/a", data=form | {"zone": zone.group(1) if zone else ""}, headers=HTMX
    )
    assert saved.status_code == 200, saved.text[:300]
    at = stored(db)["a"].fix_shipped_at
    assert at is not None and at.replace(tzinfo=at.tzinfo or dt.UTC) == shipped
    assert stored(db)["a"].text == "Typo fixed"


def test_moving_the_release_day_past_logged_enquiries_says_they_no_longer_count(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """The release slipped two days after enquiries came in: the lead moved the release day, and the
    launch page's totals fell from 45 to 18 without a word (they come back with the dates)."""
    lena = web("lena")
    for day in (16, 16, 17, 18):
        log(db, launch, "a", at=dt.datetime(2026, 11, day, 10, 0, tzinfo=dt.UTC))
    assert 'id="launch-outside"' not in lena.get(f"/launches/{SLUG}/edit").text
    moved = lena.post(
        f"/launches/{SLUG}/edit", data=launch_form(stored_launch(db), starts_on="2026-11-18"), headers=HTMX
    )
    assert moved.status_code == 200 and stored_launch(db).starts_on == dt.date(2026, 11, 18)
    assert "3 enquiries were logged outside these dates, so they count nowhere" in moved.text
    nb = lena.get(f"/launches/{SLUG}/edit", headers={"Accept-Language": "nb"}).text
    assert 'id="launch-outside"' in nb and "3 henvendelser" in nb
    back = lena.post(
        f"/launches/{SLUG}/edit", data=launch_form(stored_launch(db), starts_on="2026-11-16"), headers=HTMX
    )
    assert back.status_code == 200 and 'id="launch-outside"' not in back.text


def test_odd_form_values_are_refused_or_ignored_never_a_server_error(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    lena = web("lena")
    page = lena.get(f"/launches/{SLUG}/edit").text
    early = row_form("a", version_in(page, "a"), status="fix_shipped", fix_shipped_at="0001-01-01T00:30")
    assert lena.post(f"/launches/{SLUG}/hypotheses/a", data=early, headers=HTMX).status_code == 422
    assert lena.post(f"/launches/{SLUG}/hypotheses/a", data=row_form("a", "\u00b2"), headers=HTMX).status_code == 200
    upload = {"file": ("launch.yaml", "slug: cp1252\nname: F\xe5r\nstarts_on: 2026-11-16\n".encode("cp1252"))}
    refused = lena.client.post("/launches", files=upload, data={"csrf_token": lena.token("/")})
    assert refused.status_code == 422 and "is not UTF-8 text" in refused.text
    assert "launch.yaml:2" in refused.text  # the line the file stops being UTF-8 on, as the CLI says it
    upload = {"file": ("launch.yaml", "slug: utf16\nname: Far\nstarts_on: 2026-11-16\n".encode("utf-16"))}
    refused = lena.client.post("/launches", files=upload, data={"csrf_token": lena.token("/")})
    assert refused.status_code == 422 and "is UTF-16 text, not UTF-8" in refused.text
    with db.session() as session:
        assert launches.find_by_slug(session, "cp1252") is None


def test_two_imports_of_one_new_slug_at_once_both_land_on_postgresql(
    pg: Any, app: Any, db: Database, web: Web, people: People
) -> None:
    """A double click on Import (or two leads) for a new slug: both found no launch, the second's insert
    hit the unique slug, and the lead saw "Internal Server Error" for a launch that had been made."""
    lena = web("lena")
    token = lena.token("/")
    other = db.session()
    other.add(
        Launch(
            slug="racing",
            name="Made first",
            starts_on=dt.date(2026, 11, 16),
            ends_on=dt.date(2026, 12, 7),
            timezone="Europe/Oslo",
            digest_times=["09:00"],
            channels=["phone"],
            segments=["private"],
        )
    )
    other.flush()  # the other import's row, not yet committed: this one's insert waits for it
    upload = {"file": ("racing.yaml", b"slug: racing\nname: Racing\nstarts_on: 2026-11-16\n")}
    answer = sent_while_a_row_is_uncommitted(
        db, other, "launch", lambda: lena.client.post("/launches", files=upload, data={"csrf_token": token})
    )
    # Not a server error: the launch the other made is shown with what this file would change in it.
    assert answer.status_code == 200 and 'id="apply-import"' in answer.text, answer.text[:300]
    assert stored_launch_named(db, "racing").name == "Made first"


def stored_launch_named(db: Database, slug: str) -> Launch:
    with db.session() as session:
        return session.exec(select(Launch).where(Launch.slug == slug)).one()


def apply_form(page: str, token: str) -> dict[str, str]:
    """The import's Apply form, as the page fills it in."""
    fields = dict(re.findall(r'<input type="hidden" name="(filename|seen)" value="([^"]*)"', page))
    text = re.search(r'<textarea name="file_text" hidden aria-hidden="true">(.*?)</textarea>', page, re.DOTALL)
    assert text and fields.get("seen"), page[:500]
    return {
        "csrf_token": token,
        "file_text": html.unescape(text.group(1)),
        **{k: html.unescape(v) for k, v in fields.items()},
    }


def test_a_file_over_a_launch_is_shown_first_and_applied_to_the_launch_as_shown(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """A copy of last launch's file with its slug left unchanged renamed the live launch and retired its
    hypotheses at once, for the agents too: the summary came after."""
    lena = web("lena")
    text = f"slug: {SLUG}\nname: Next release\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: Only this\n"
    before = snapshot(db)
    shown = lena.client.post(
        "/launches", files={"file": ("copy.yaml", text.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert shown.status_code == 200 and 'id="apply-import"' in shown.text
    said = html.unescape(shown.text)
    assert "Retired, as the file no longer lists them (agents no longer see them): b, c" in said
    assert "Launch settings changed: Name" in said  # by the labels of the launch's form, not field names
    assert not changed_tables(before, snapshot(db)), "nothing applied yet"
    form = apply_form(shown.text, lena.token("/"))
    # Someone changes the launch meanwhile: Apply shows the file again, against the launch as it is now.
    add = {"key": "d", "text": "Hypothesis d", "area": "", "owner_team": "", "expected_per_day": ""}
    assert lena.post(f"/launches/{SLUG}/hypotheses", data=add).status_code == 303
    again = lena.client.post("/launches", data=form)
    assert again.status_code == 200 and 'id="changed-since"' in again.text and "b, c, d" in html.unescape(again.text)
    assert stored_launch(db).name != "Next release"
    applied = lena.client.post("/launches", data=apply_form(again.text, lena.token("/")))
    assert applied.status_code == 303 and "retired=b%2Cc%2Cd" in applied.headers["location"]
    assert stored_launch(db).name == "Next release"
    same = lena.client.post(
        "/launches", files={"file": ("copy.yaml", text.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert same.status_code == 303, "a file that changes nothing needs no confirming"


def test_the_editor_stores_no_list_longer_than_a_file_may_hold(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """A file's lists hold at most 500 items: 501 channels saved in the editor made an export no import took."""
    lena = web("lena")
    before = snapshot(db)
    many = ", ".join(f"c{i}" for i in range(hypothesis_sets.MAX_ITEMS + 1))
    for field in ("channels", "segments"):
        answer = lena.post(EDIT, data=launch_form(launch, **{field: many}))
        assert answer.status_code == 422
        assert "more than 500 items in one list; a list may have at most 500" in answer.text
    assert not changed_tables(before, snapshot(db))


def test_a_file_uploaded_over_a_launch_says_what_it_changed(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """An older export uploaded after edits in the app undoes them: the page says so, not nothing."""
    lena = web("lena")
    exported = lena.get(f"/launches/{SLUG}/export").text
    add = {"key": "d", "text": "Hypothesis d", "area": "", "owner_team": "", "expected_per_day": ""}
    assert lena.post(f"/launches/{SLUG}/hypotheses", data=add).status_code == 303
    upload = {"file": ("old.yaml", exported.encode())}
    shown = lena.client.post("/launches", files=upload, data={"csrf_token": lena.token("/")})
    response = lena.client.post("/launches", data=apply_form(shown.text, lena.token("/")))
    assert response.status_code == 303 and "retired=d" in response.headers["location"]
    page = lena.get(response.headers["location"])
    assert "The file was imported." in page.text and "Retired, as the file no longer lists them: d" in page.text
    made_up = lena.get(f"/launches/{SLUG}/edit?imported=1&retired=Call+0800+now")
    assert "Call 0800 now" not in made_up.text  # only names the launch has


def test_the_summary_after_an_import_names_the_launch_settings_as_the_form_does(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """The confirm page said "Last day, Digest times"; once applied, the editor said "ends_on, digest_times"."""
    lena = web("lena")
    exported = lena.get(f"/launches/{SLUG}/export").text
    changed = re.sub(r"(?m)^ends_on: .*$", "ends_on: 2027-01-20", exported)
    changed = re.sub(r"(?m)^digest_times: .*$", 'digest_times: ["08:00"]', changed)
    assert changed.count("2027-01-20") == 1 and '["08:00"]' in changed, changed
    assert lena.post("/me/language", data={"language": "nb"}).status_code == 303
    shown = lena.client.post(
        "/launches", files={"file": ("l.yaml", changed.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert "Lanseringens innstillinger endret: Siste dag, Tidspunkter for oppsummering" in html.unescape(shown.text)
    applied = lena.client.post("/launches", data=apply_form(shown.text, lena.token("/")))
    assert applied.status_code == 303
    page = html.unescape(lena.get(applied.headers["location"]).text)
    assert "Lanseringens innstillinger endret: Siste dag, Tidspunkter for oppsummering" in page
    assert "ends_on" not in page.split('id="imported"')[1].split("</div>")[0]
    # Only a launch's settings are named as settings: a hypothesis's key in the link is not one.
    made_up = html.unescape(lena.get(f"/launches/{SLUG}/edit?imported=1&launch_fields=a,name").text)
    assert "Lanseringens innstillinger endret: Navn</li>" in made_up


def test_a_file_that_moves_the_dates_past_logged_enquiries_says_so_before_it_is_applied(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """The confirm page said "Launch settings changed: Release day"; that three enquiries would then
    count nowhere came only in the editor, after Apply."""
    lena = web("lena")
    for day in (16, 16, 17, 18):
        log(db, launch, "a", at=dt.datetime(2026, 11, day, 10, 0, tzinfo=dt.UTC))
    exported = lena.get(f"/launches/{SLUG}/export").text
    moved = re.sub(r"(?m)^starts_on: .*$", "starts_on: 2026-11-18", exported)
    assert "starts_on: 2026-11-18" in moved
    shown = lena.client.post(
        "/launches", files={"file": ("moved.yaml", moved.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert shown.status_code == 200 and 'id="apply-import"' in shown.text
    warning = re.search(r'<div class="warn-box" role="alert" id="import-outside">(.*?)</div>', shown.text, re.DOTALL)
    assert warning, shown.text
    assert "3 enquiries already logged fall outside the dates in moved.yaml" in html.unescape(warning.group(1))
    applied = lena.client.post("/launches", data=apply_form(shown.text, lena.token("/")))
    assert applied.status_code == 303 and stored_launch(db).starts_on == dt.date(2026, 11, 18)
    # A file that leaves the dates as they are says nothing of it, though the three still count nowhere.
    renamed = re.sub(r"(?m)^name: .*$", "name: Renamed", lena.get(f"/launches/{SLUG}/export").text)
    again = lena.client.post(
        "/launches", files={"file": ("renamed.yaml", renamed.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert again.status_code == 200 and 'id="import-outside"' not in again.text


def test_an_import_that_changes_a_text_shows_what_else_it_changes_and_what_it_retires(
    app: Any, db: Database, web: Web, people: People, launch: Launch
) -> None:
    """A hypothesis with a new text was listed under "New text" only: a status set to retired with it
    was missing from the bold warning, before Apply and after it."""
    lena = web("lena")
    exported = lena.get(f"/launches/{SLUG}/export").text
    a, b = (
        '    text: Hypothesis a\n    area: ""\n    owner_team: ""\n',
        '    text: Hypothesis b\n    area: ""\n    owner_team: ""\n',
    )
    b_status = "  - key: b\n" + b + "    expected_per_day: null\n    status: open\n"
    assert a in exported and b_status in exported, exported
    edited = exported.replace(a, '    text: Hypothesis a, reworded\n    area: ""\n    owner_team: Payments\n').replace(
        b_status,
        '  - key: b\n    text: Hypothesis b, reworded\n    area: ""\n    owner_team: ""\n    status: retired\n',
    )
    shown = lena.client.post(
        "/launches", files={"file": ("edited.yaml", edited.encode())}, data={"csrf_token": lena.token("/")}
    )
    assert shown.status_code == 200
    preview = html.unescape(shown.text.split('id="import-changes"')[1].split("</div>")[0])
    assert "New text: a, b</li>" in preview and "Changed: a (Owner team), b (Status)</li>" in preview
    assert "<strong>Retired, as the file gives them that status (agents no longer see them): b</strong>" in preview
    applied = lena.client.post("/launches", data=apply_form(shown.text, lena.token("/")))
    assert applied.status_code == 303
    assert stored(db)["b"].status == HypothesisStatus.RETIRED and stored(db)["a"].owner_team == "Payments"
    page = html.unescape(lena.get(applied.headers["location"]).text)
    said = page.split('id="imported"')[1].split("</div>")[0]
    assert "New text: a, b</li>" in said and "Changed: a (Owner team), b (Status)</li>" in said
    assert "Retired, as the file gives them that status: b</li>" in said
    # A link names only the launch's keys and a hypothesis's fields.
    made_up = html.unescape(lena.get(f"{EDIT}?imported=1&updated=a:owner_team:Call+0800,zz:status").text)
    listed = made_up.split('id="imported"')[1].split("</div>")[0]
    assert "Changed: a (Owner team)</li>" in listed and "Call 0800" not in listed and "zz" not in listed
