"""The message catalogues are complete and current: every text has a Norwegian translation, the
compiled .mo matches the .po, and the .pot holds exactly the texts the sources mark for translation
(``make translations`` brings all three up to date)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from babel import Locale, numbers
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from pydantic import ValidationError

from app import hypothesis_sets, i18n, web
from app.hypothesis_sets import LaunchFile
from app.i18n import LANGUAGES, LOCALE_DIR

ROOT = LOCALE_DIR.parent.parent
POT = LOCALE_DIR / "messages.pot"
TRANSLATED = [language for language in LANGUAGES if language != "en"]


def read(path: Path, **kwargs: Any) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, **kwargs)


def key(value: Any) -> Any:
    """A message id or string as a hashable, comparable value (plurals come as lists from .mo files)."""
    return tuple(value) if isinstance(value, list | tuple) else value


def messages(catalog: Catalog) -> dict[Any, Message]:
    return {key(message.id): message for message in catalog if message.id}


def show(ids: set[Any]) -> str:
    return "\n".join(sorted(f"  {i!r}" for i in ids))


@pytest.fixture(scope="module")
def template() -> Catalog:
    return read(POT)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_text_has_a_translation(template: Catalog, language: str) -> None:
    catalog = read(LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", locale=language)
    translated = messages(catalog)
    missing = {i for i in messages(template) if i not in translated}
    assert not missing, f"not in the {language} catalogue (run `make translations`):\n{show(missing)}"
    empty = {
        i
        for i, message in translated.items()
        if i in messages(template)
        and (not all(message.string) if isinstance(message.string, tuple) else not message.string)
    }
    assert not empty, f"no {language} translation yet:\n{show(empty)}"
    fuzzy = {i for i, message in translated.items() if message.fuzzy}
    assert not fuzzy, f"fuzzy (unchecked) {language} translations, which are not compiled:\n{show(fuzzy)}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders(language: str) -> None:
    catalog = read(LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", locale=language)
    problems = [f"{message.id!r}: {errors}" for message, errors in catalog.check() if errors]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalogue_matches_the_po_file(language: str) -> None:
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    source = read(folder / "messages.po", locale=language)
    with (folder / "messages.mo").open("rb") as file:
        compiled = read_mo(file)
    expected = {i: key(m.string) for i, m in messages(source).items() if m.string and not m.fuzzy}
    found = {i: key(m.string) for i, m in messages(compiled).items()}
    stale = {i for i in expected.keys() | found.keys() if expected.get(i) != found.get(i)}
    assert not stale, f"{folder / 'messages.mo'} is out of date (run `make translations`):\n{show(stale)}"
    assert compiled.plural_forms == source.plural_forms


def extracted_ids() -> set[Any]:
    """What ``pybabel extract -F app/locale/babel.cfg -k N_ -k _plural:2,3`` finds, run in-process."""
    with (LOCALE_DIR / "babel.cfg").open() as file:
        method_map, options_map = parse_mapping_cfg(file)
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords={**DEFAULT_KEYWORDS, "N_": None, "_plural": (2, 3)}
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return set(messages(catalog))


def test_the_template_holds_exactly_the_texts_in_the_sources(template: Catalog) -> None:
    in_sources = extracted_ids()
    in_template = set(messages(template))
    assert len(in_sources) > 100  # the extraction found the app's texts at all
    missing = in_sources - in_template
    unused = in_template - in_sources
    assert not missing and not unused, (
        f"{POT} is out of date: run `make translations` (then translate app/locale/nb).\n"
        f"In the sources, not in the template:\n{show(missing)}\n"
        f"In the template, no longer in the sources:\n{show(unused)}"
    )


@pytest.mark.parametrize(("left_out", "said"), [(1, "1 gruppe til: søk for å finne den."), (1234, "1 234 grupper til")])
def test_the_note_groups_left_off_the_page_are_counted_in_the_plural_of_their_number(left_out: int, said: str) -> None:
    shown = [SimpleNamespace(key="k", count=1, text="note", newest=dt.datetime(2026, 11, 18, 9, tzinfo=dt.UTC))] * 200
    groups = SimpleNamespace(notes=200 + left_out, total_groups=200 + left_out, groups=shown)
    view = SimpleNamespace(groups=groups, launch=SimpleNamespace(timezone="Europe/Oslo"), q="", theme="")
    user = SimpleNamespace(can=lambda role: False)
    with i18n.use_language("nb"):
        html = web.build_environment().get_template("insight/_notes.html").render(view=view, user=user)
    assert said in html.replace("\xa0", " ")
    if left_out > 1000:  # the totals above the groups too
        assert f"{200 + left_out:,} notater · {200 + left_out:,} grupper".replace(",", " ") in html.replace("\xa0", " ")


def test_an_alert_of_thousands_is_counted_as_the_page_writes_numbers() -> None:
    at = dt.datetime(2026, 11, 18, 9, tzinfo=dt.UTC)
    alert = SimpleNamespace(
        id=1,  # a stored alert's, which names its link for the refresh to find again
        observed_at=at,
        window_start=at,
        kind=SimpleNamespace(value="hypothesis"),
        count=12345,
        status=SimpleNamespace(value="sent"),
        error=None,
    )
    item = SimpleNamespace(alert=alert, path="/x", name="BankID", ratio=4.5, since="10:00", new=False)
    with i18n.use_language("nb"):
        html = (
            web.build_environment()
            .get_template("alerts/_list.html")
            .render(alerts=[item], launch=SimpleNamespace(timezone="Europe/Oslo"), label=str)
        )
    assert "12 345 henvendelser siden 10:00" in html.replace("\xa0", " ")


# Codes only integrations see (a bearer token's answers), and Slack's own, kept on a digest run.
NOT_SHOWN_TO_PEOPLE = {"bad_token", "missing_token", "no_fix", "unknown_alert"} | {
    "channel_not_found",
    "connection_lost",
    "connection_refused",
    "unknown_outcome",
    "history_too_long",
    "slack_settings",
    "not_slack",
}


def test_fields_and_choices_are_named_in_the_reader_s_language() -> None:
    """A list's item was shown by its name in files ("segments[0]"), and a wrong choice listed the
    choices with pydantic's English "or" inside Norwegian ("'draft', 'live' or 'closed'")."""
    with i18n.use_language("nb"):
        assert i18n.field_label("segments[0]") == "Kundetyper"
        assert i18n.field_label("alert_min_count") == i18n.field_label("alerts.min_count") != "alert_min_count"
        try:
            LaunchFile.model_validate({"slug": "x", "name": "X", "starts_on": "2026-11-16", "status": "bogus"})
        except ValidationError as invalid:
            [problem] = [hypothesis_sets._message(error) for error in invalid.errors()]
        assert " or " not in problem.translated() and "'draft', 'live', 'closed'" in problem.translated()


def test_every_error_a_person_can_meet_has_a_text_in_their_language() -> None:
    """A page shows error_text(code): a code without one shows the English message to everybody. A
    Conflict raised without a code falls back to "conflict", which has none: every one names its code
    (an admin adding an existing user name read English alone)."""
    import re

    app_dir = Path(i18n.__file__).parent
    raised = {m for path in app_dir.rglob("*.py") for m in re.findall(r'code="([a-z_]+)"', path.read_text())}
    assert raised - NOT_SHOWN_TO_PEOPLE - set(i18n.ERROR_TEXTS) - i18n.TOLD_BY_MESSAGE == set()
    assert not i18n.TOLD_BY_MESSAGE & set(i18n.ERROR_TEXTS)  # a fixed text would show over the message
    for path in app_dir.rglob("*.py"):
        for call in re.findall(r"raise Conflict\((.*?)\)\n", path.read_text(), re.DOTALL):
            assert "code=" in call, f"{path.name}: Conflict({call[:60]}…) without a code"


def test_every_stored_slack_outcome_reads_in_norwegian_with_its_values() -> None:
    """Digest runs and alerts keep what happened in English (the logs say the same); the Digests and
    Alerts pages showed it so to Norwegian leads. Each template is translated, keeps its placeholders,
    and a stored text is read back in the reader's language, a reason inside a message too."""
    import string

    from app import digests
    from app.insight import alerts
    from app.slack import client, messages

    found = messages.templates()
    assert client.PERMANENT["not_in_channel"] in found and digests.GAVE_UP in found and alerts.GAVE_UP in found
    reason = client.PERMANENT["not_in_channel"].format(channel="#launch")
    with i18n.use_language("nb"):
        for text in found:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            translation = i18n.gettext(text)
            assert translation != text, f"not translated: {text}"
            assert {name for _, name, _, _ in string.Formatter().parse(translation) if name} == names, text
            values = {name: reason if name == "reason" else f"<{name}>" for name in names}
            expected = translation.format(**{**values, "reason": messages.translated(reason)} if names else {})
            assert messages.translated(text.format(**values)) == expected, text
        assert messages.translated(digests.GAVE_UP.format(attempts=36, reason=reason)) == (
            "Ga opp etter 36 forsøk: Appen er ikke med i #launch: inviter den dit (/invite @Launch Tally i kanalen). "
            "Send den fra siden Oppsummeringer når Slack svarer igjen."
        )
        assert messages.translated("Written by an older version.") == "Written by an older version."
        # A webhook's: its channel has no name, and an alert's wrapper around a dropped connection is not
        # swallowed by the inner message's last placeholder.
        webhook = client.WEBHOOKS_CHANNEL
        archived = client.PERMANENT["channel_is_archived"].format(channel=webhook)
        assert (
            messages.translated(archived)
            == "Kanalen webhookens kanal er arkivert: velg en annen kanal for lanseringen."
        )
        dropped = client.CONNECTION_DROPPED.format(exc="RemoteDisconnected", channel=webhook)
        assert messages.translated(alerts.WEBHOOK_MAY_HAVE_POSTED.format(reason=dropped)) == (
            "Forbindelsen til Slack brøt (RemoteDisconnected) etter at oppsummeringen ble sendt, så den ligger "
            "kanskje i webhookens kanal, kanskje ikke. En webhook kan ikke sjekke kanalen: se etter den i Slack."
        )


@pytest.mark.parametrize(
    ("language", "said"),
    [("en", "5 Dec 2026, 10:12"), ("nb", "5. des. 2026, 10:12")],
)
def test_a_moment_is_written_with_the_date_as_the_pages_write_dates(language: str, said: str) -> None:
    """Pages wrote days as "5. des. 2026" and moments as "05.12.2026, 10:12", side by side; in English
    "05/12/2026" can be read as the fifth of May."""
    moment = dt.datetime(2026, 12, 5, 9, 12, tzinfo=dt.UTC)
    with i18n.use_language(language):
        assert i18n.format_datetime(moment, "Europe/Oslo") == said
        assert said.startswith(i18n.format_date(dt.date(2026, 12, 5)))
        assert i18n.format_datetime(moment.replace(tzinfo=None), "Europe/Oslo") == said  # naive is UTC


@pytest.mark.parametrize("language", [*LANGUAGES, "pl", "hi", "de_CH"])
def test_whole_numbers_are_written_as_babel_writes_them(language: str) -> None:
    """Whole numbers take a fast path past Babel (the launch page's chart data tables hold thousands):
    it must write every one as Babel does, and leave a locale whose grouping it cannot write to Babel
    (Polish groups only from five digits, Hindi in lakhs)."""
    locale = Locale.parse(language)
    for value in (0, 5, 999, 1000, 9999, 10_000, 123_456, 1_000_000, 98_765_432_101, -3, -1000, -45_678):
        assert i18n.format_number_in(value, locale) == numbers.format_decimal(value, locale=locale), value
    for fraction in (2.5, 40.0, -3.0, 0.0, 1234.0, 12.125, 2.0**60):
        assert i18n.format_number_in(fraction, locale) == numbers.format_decimal(fraction, locale=locale), fraction
