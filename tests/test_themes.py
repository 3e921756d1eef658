"""Themes in "other": the ranking (pure, on notes and times), grouping, the default period, the
kept day counts, the page through the real app and the surprises API.

The clock is fixed at Friday 20 November 2026, 12:00 in Oslo (11:00 UTC), day 5 of a launch that
began on Monday. Background notes come every day; a new theme ("widgeten på hjemskjermen") only
in the last 24 hours.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient

from app import digests
from app.db import Database
from app.insight import alerts, themes
from app.insight.themes import NoteRef, ThemeRules, themes_of
from app.models import AlertKind, DigestKind, DigestRun, DigestStatus, Launch
from app.recording.record import NewEnquiry, insert_many
from tests.conftest import People, WebUser
from tests.factories import fresh, hypothesis_ids, make_launch
from tests.helpers import HTMX

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
PAGE = f"/launches/{SLUG}/other"
NOW = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2026, 11, 16, 8, 0, tzinfo=dt.UTC)

BACKGROUND = [
    "Glemt passordet til appen",
    "Spør om faktura for november",
    "Vil bytte kort i appen",
    "Lurer på gebyrer i utlandet",
    "Spør hvordan man sletter konto",
]
WIDGET = [
    "Widgeten på hjemskjermen forsvant",
    "widgeten på hjemskjermen er borte etter oppdatering",
    "Finner ikke widget på hjemskjermen",
    "Widgeten på hjemskjermen forsvant!",
    "Hvor er widgeten på hjemskjermen?",
    "widget på hjemskjermen mangler",
]


def notes(texts: Sequence[str], start: dt.datetime, step: dt.timedelta, first_id: int = 1) -> list[NoteRef]:
    """Notes at start, start+step, …, returned newest first (as the app reads them)."""
    made = [NoteRef(first_id + i, text, start + i * step) for i, text in enumerate(texts)]
    return sorted(made, key=lambda n: n.occurred_at, reverse=True)


def background(days: int, per_day: int, start: dt.datetime = T0) -> list[NoteRef]:
    texts = list(itertools.islice(itertools.cycle(BACKGROUND), days * per_day))
    return notes(texts, start, dt.timedelta(days=1) / per_day, first_id=10_000)


RECENT_START = NOW - dt.timedelta(hours=24)


def recent_with_widget() -> list[NoteRef]:
    mixed = [text for pair in itertools.zip_longest(WIDGET, BACKGROUND) for text in pair if text]
    return notes(mixed, RECENT_START + dt.timedelta(minutes=30), dt.timedelta(hours=2))


# --- the ranking, on notes and times alone -------------------------------------------------------


def test_a_phrase_frequent_recently_and_absent_before_ranks_first() -> None:
    found = themes_of(recent_with_widget(), background(days=3, per_day=10))
    assert found, "the widget theme should rise"
    first = found[0]
    assert first.key == "widg hjemskjerm"
    assert first.phrase.casefold() == "widgeten på hjemskjermen"
    assert (first.recent, first.before) == (6, 0)
    assert first.score >= ThemeRules().min_score
    assert [n.note for n in first.notes] == ["widget på hjemskjermen mangler", WIDGET[4], WIDGET[3]]  # newest first
    assert first.first_seen == RECENT_START + dt.timedelta(minutes=30)


def test_an_always_frequent_word_does_not_rise() -> None:
    found = themes_of(recent_with_widget(), background(days=3, per_day=10))
    keys = {t.key for t in found}
    assert not keys & {"app", "faktur", "passord", "kort"}
    # Even when it is everywhere: a share no larger than before never rises.
    everywhere = notes(["Appen henger"] * 10, RECENT_START, dt.timedelta(hours=1))
    assert themes_of(everywhere, notes(["Appen henger"] * 40, T0, dt.timedelta(hours=1), first_id=500)) == []


@pytest.mark.parametrize(
    ("inflected", "plain"),
    [
        ("widgeten", "widget"),
        ("appen", "app"),
        ("kvitteringene", "kvittering"),
        # The e that drops out in the plural (varsel, varsler): Snowball leaves varsel, cuts varsl.
        ("varslene", "varsel"),
        ("nøklene", "nøkkel"),
        ("reglene", "regel"),
    ],
)
def test_norwegian_inflections_fall_together(inflected: str, plain: str) -> None:
    assert themes.stem(inflected) == themes.stem(plain)
    texts = [f"Finner ikke {inflected}", f"Hvor er {plain}", f"{inflected.title()} er borte", f"mangler {plain}"]
    before = notes(["Spør om faktura", "Lurer på gebyrer i utlandet"] * 10, T0, dt.timedelta(hours=1), first_id=100)
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), before)
    [theme] = [t for t in found if t.key == themes.stem(plain)]
    assert theme.recent == 4


def test_stop_words_markers_and_numbers_never_become_themes() -> None:
    texts = ["Ringte fra [phone] om det 12345", "Kunden på [phone], skriv til [email]", "Ring meg på [phone] 12345"] * 3
    loose = ThemeRules(min_score=0.0)
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(days=2, per_day=10), rules=loose)
    words = {word for theme in found for word in theme.key.split()}
    # "skriv" is in the very notes "kund" is in: one theme for them (the same notes, not told twice).
    assert words == {"ring", "ringt", "kund"}, "the content words still make themes"
    assert not words & {"phone", "email", "12345", "[phone]", "på", "om", "det", "meg", "til", "fra"}
    assert not words & themes.STOP


def test_phrases_of_the_same_notes_are_one_theme() -> None:
    """Agents wrote "App crashes when opening the QR scanner" and "QR scanner crashes the app on
    Android": the themes page, the digest's "New in other" and the spike alerts had "QR scanner" and
    "crashes" each with the same twelve notes: 24 for 12, and two alerts."""
    texts = ["App crashes when opening the QR scanner"] * 8 + ["QR scanner crashes the app on Android"] * 4
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(minutes=20)), background(days=3, per_day=10))
    counted = [(t.key, t.recent) for t in found]
    # Before: qr scanner 12, crash 12, app 12, crash open qr 8, open qr scanner 8, …
    assert counted == [("qr scann", 12), ("app crash open", 8), ("crash app android", 4)], counted
    # A word in most notes and a theme within some of them are not the same notes: both stay.
    texts = [*WIDGET, "Widgeten viser feil saldo", "Widgeten oppdateres ikke", "widgeten er treg", "widget krasjer"]
    keys = [t.key for t in themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(3, 10))]
    assert "widg" in keys and "widg hjemskjerm" in keys


def test_thresholds_are_respected() -> None:
    recent, before = recent_with_widget(), background(days=3, per_day=10)
    assert themes_of(recent, before, rules=ThemeRules(min_recent=7)) == []  # 6 notes have it
    assert themes_of(recent, before, rules=ThemeRules(min_score=1_000.0)) == []
    loose = themes_of(recent, before, rules=ThemeRules(min_score=0.0, min_recent=1))
    assert all(t.recent * 30 > t.before * len(recent) for t in loose)  # only rising ones, whatever the score
    assert len(themes_of(recent, before, rules=ThemeRules(min_score=0.0, min_recent=1, max_themes=2))) == 2


def test_a_longer_phrase_replaces_its_parts_when_it_covers_their_notes() -> None:
    keys = [t.key for t in themes_of(recent_with_widget(), background(days=3, per_day=10))]
    assert "widg hjemskjerm" in keys
    assert "widg" not in keys and "hjemskjerm" not in keys  # inside it, in all of their notes
    # A part much more common than the longer phrase stays a theme of its own.
    texts = [*WIDGET, "Widgeten viser feil saldo", "Widgeten oppdateres ikke", "widgeten er treg", "widget krasjer"]
    keys = [t.key for t in themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(3, 10))]
    assert "widg" in keys and "widg hjemskjerm" in keys


def test_the_display_phrase_is_the_most_frequent_surface_form() -> None:
    texts = ["Hjemskjermen er tom", "hjemskjermen er tom", "hjemskjermen tom igjen", "HJEMSKJERMEN er tom"]
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(2, 10))
    assert {t.key: t.phrase for t in found}["hjemskjerm tom"] == "hjemskjermen er tom"


def test_english_notes_are_stemmed_as_english() -> None:
    texts = [
        "The widget is missing from the home screen",
        "Widgets missing on home screen",
        "missing widget",
        "the widget crashed",
        "widgets crash",
    ] * 2
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(2, 10))
    assert "widg" in {w for t in found for w in t.key.split()}
    assert themes.analyse("The widgets were missing").keys[0] == "widg"
    english = [themes.analyse(f"The app {word} when I log in").keys[1] for word in ("crashed", "crashes", "crashing")]
    assert english == ["crash"] * 3


def test_a_word_meets_itself_in_english_and_norwegian_notes() -> None:
    """ "The widgets are gone" was stemmed widget (English), "Widgeten er borte" widg (Norwegian): one
    thing, two themes, each with half the notes, neither reaching an alert's minimum."""
    assert themes.analyse("The widgets are gone").keys[0] == themes.analyse("Widgeten er borte").keys[0]
    pairs = [("widgets", "widgetene"), ("scanners", "scanneren"), ("apps", "appen"), ("tokens", "tokenet")]
    for english, norwegian in pairs:
        assert themes.stem(english, "english") == themes.stem(norwegian, "norwegian"), (english, norwegian)
    for norwegian in ("widgetene", "scanneren", "appen"):  # a Norwegian word in an English note
        assert themes.stem(norwegian, "english") == themes.stem(norwegian, "norwegian"), norwegian
    texts = ["The widgets are gone", "Widgeten er borte"] * 6
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(2, 10))
    assert [(t.key, t.recent) for t in found][:1] == [("widg", 12)]


@pytest.mark.parametrize(
    ("a", "b"), [("app", "appear"), ("login", "logo"), ("insert", "in"), ("offer", "offset"), ("line", "linear")]
)
def test_english_words_do_not_meet_unrelated_ones(a: str, b: str) -> None:
    """Stemmed as Norwegian after English, short English words would lose false endings ("appear": appe,
    then app): a second Norwegian round is taken only while four letters are left."""
    assert themes.stem(a, "english") != themes.stem(b, "english")


@pytest.mark.parametrize(
    ("note", "language", "words"),
    [
        ("Appen viser feil side", "norwegian", ["appen", "viser", "feil", "side"]),
        ("Feil side i appen", "norwegian", ["feil", "side", "appen"]),
        ("Widgeten forsvant, ring kunden: sent svar", "norwegian", ["widgeten", "forsvant"]),
        ("Asked about the interest rate", "english", ["asked", "interest", "rate"]),
    ],
)
def test_norwegian_words_that_are_english_stop_words_stay_content(note: str, language: str, words: list[str]) -> None:
    """A search engine's English stop list held "side", "ring", "sent", "interest": they vanished from
    the phrases, and the note was read and stemmed as English."""
    found_language, runs = themes._runs(note, themes.DEFAULT_RULES.max_gap)
    assert found_language == language
    assert runs[0] == words


@pytest.mark.parametrize(
    ("note", "language"),
    [
        ("To kvitteringer mangler", "norwegian"),
        ("Kvitteringen vises to ganger", "norwegian"),
        ("Krasjer under betaling", "norwegian"),
        ("All historikk er borte", "norwegian"),
        ("Failed to load the page", "english"),
        ("All of the payments failed", "english"),
    ],
)
def test_words_of_both_languages_do_not_make_a_norwegian_note_english(note: str, language: str) -> None:
    """ "to" (two), "under" and "all" were English stop words alone: a Norwegian note with one of them
    and no other small word was read as English."""
    assert themes._runs(note, themes.DEFAULT_RULES.max_gap)[0] == language


def test_a_norwegian_note_with_to_is_the_same_theme_as_without() -> None:
    """ "To kvitteringer mangler" was stemmed as English (kvitt, mangl): three themes, two of them called
    "kvitteringer mangler", rather than one of eight notes."""
    texts = ["Kvitteringer mangler", "To kvitteringer mangler"] * 4
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(2, 10))
    assert [(t.key, t.phrase.casefold(), t.recent) for t in found] == [("kvittering mangl", "kvitteringer mangler", 8)]


SWEDISH = [
    "Kunden kan inte logga in med BankID",
    "Appen kraschar när jag öppnar den",
    "Jag ser inte kvittot",
    "Appen kraschade när hon loggade in",
    "Hittar inte kortet",
    "Appen kraschar vid start",
    "Det går inte att betala",
    "Appen kraschade efter uppdateringen",
    "Vill ha den gamla designen tillbaka",
    "Det syns inte om betalningen gick igenom",
]


def test_swedish_small_words_are_no_theme_and_its_inflections_fall_together() -> None:
    """The centre is Nordic. In a day of Swedish notes the only theme was "inte" (not), grouping five
    notes about logins, receipts, cards and payments, while "kraschar" and "kraschade" were two words
    and the crash nobody expected did not rise."""
    found = themes_of(notes(SWEDISH, RECENT_START, dt.timedelta(hours=2)), background(days=3, per_day=10))
    assert [(t.key, t.recent) for t in found] == [("app krasch", 4)]
    assert found[0].phrase.casefold() in {"appen kraschar", "appen kraschade"}
    assert themes._runs("Det går inte att betala", themes.DEFAULT_RULES.max_gap) == ("swedish", [["går", "betala"]])
    # Norwegian notes with words both languages share stay Norwegian.
    assert themes._runs("Det er feil i appen", themes.DEFAULT_RULES.max_gap)[0] == "norwegian"
    assert themes._runs("Widgeten på hjemskjermen er borte", themes.DEFAULT_RULES.max_gap)[0] == "norwegian"


def test_log_likelihood_is_dunnings_g2() -> None:
    # [[10, 90], [5, 195]]: expected [[5, 95], [10, 190]], so
    # G² = 2 (10 ln 2 + 90 ln 90/95 + 5 ln 1/2 + 195 ln 195/190) = 7.33.
    assert themes.log_likelihood(10, 100, 5, 200) == pytest.approx(7.33, abs=0.01)
    assert themes.log_likelihood(0, 100, 0, 200) == 0.0
    assert themes.log_likelihood(3, 3, 0, 0) == 0.0  # nothing before: nothing to compare with


# --- grouping and search -------------------------------------------------------------------------


def test_near_identical_notes_are_grouped_with_the_newest_text() -> None:
    texts = ["Widgeten forsvant", "widgeten forsvant!", "Forsvant widgeten", "Kafé-kortet virker ikke"]
    grouped = themes.group_notes(notes(texts, RECENT_START, dt.timedelta(hours=1)))
    assert [(g.count, g.text) for g in grouped.groups] == [(3, "Forsvant widgeten"), (1, "Kafé-kortet virker ikke")]
    assert grouped.notes == 4 and grouped.total_groups == 2
    assert grouped.groups[0].ids == (3, 2, 1)


@pytest.mark.parametrize("q", ["KAFE", "kafe-kortet", "  kafé   KORTET ", "Kafé"])
def test_search_ignores_case_accents_and_spacing(q: str) -> None:
    texts = ["Widgeten forsvant", "Kafé-kortet virker ikke"]
    grouped = themes.group_notes(notes(texts, RECENT_START, dt.timedelta(hours=1)), q=q)
    assert [g.text for g in grouped.groups] == ["Kafé-kortet virker ikke"]


@pytest.mark.parametrize(
    ("note", "q", "found"),
    [
        ("Kunden får ikke logget inn", "far", False),
        ("Kunden får ikke logget inn", "FÅR", True),
        ("Nådde ikke målet", "mal", False),
        ("Nådde ikke målet", "MÅL", True),
        ("Nådde ikke ma\u030alet", "mål", True),  # a and a ring typed apart
        ("Kafé-kortet og Ærlig Øre", "kafe-kortet og ærlig øre", True),
        ("Ærlig øre", "aerlig ore", False),
    ],
)
def test_search_keeps_aa_ae_and_oe_letters_of_their_own(note: str, q: str, found: bool) -> None:
    """Decomposed, å was a and a ring, and the ring was dropped with the accents: "far" found "får"."""
    assert themes.matches(note, q) is found


# --- over the database ---------------------------------------------------------------------------


def _insert(db: Database, launch: Launch, items: Sequence[tuple[dt.datetime, str | None, tuple[str, ...]]]) -> None:
    ids = hypothesis_ids(db, launch)
    with db.write_connection() as connection:
        insert_many(
            connection,
            [
                NewEnquiry(
                    launch_id=launch.id or 0,
                    channel="chat" if i % 3 == 0 else "phone",
                    segment="private",
                    created_at=at,
                    note=note,
                    hypothesis_ids=tuple(ids[k] for k in keys),
                )
                for i, (at, note, keys) in enumerate(items)
            ],
        )


@pytest.fixture
def launch(db: Database) -> Launch:
    launch = make_launch(db, slug=SLUG, hypotheses=("a", "b"))
    items: list[tuple[dt.datetime, str | None, tuple[str, ...]]] = [
        (n.occurred_at, n.note, ()) for n in background(days=4, per_day=10) if n.occurred_at < RECENT_START
    ]
    items += [(n.occurred_at, n.note, ()) for n in recent_with_widget()]
    items += [(T0 + dt.timedelta(hours=h), None, ("a",)) for h in range(5)]  # not "other": never read
    items += [(T0 + dt.timedelta(hours=1), None, ())]  # "other" without a note: not a note
    _insert(db, launch, items)
    return fresh(db, launch)


def test_surprises_reads_the_launch_like_the_pure_core(db: Database, launch: Launch) -> None:
    with db.session() as session:
        found = themes.surprises(session, launch, now=NOW)
    assert (found.start, found.end) == (RECENT_START, NOW)
    assert found.notes_total == 11 and found.before_total == 32
    assert found.themes[0].key == "widg hjemskjerm" and found.themes[0].recent == 6
    assert found.themes[0].notes[0].note == "widget på hjemskjermen mangler"


def _digest(db: Database, launch: Launch, end: dt.datetime, status: DigestStatus, kind: DigestKind) -> None:
    with db.transaction() as session:
        session.add(
            DigestRun(
                launch_id=launch.id or 0,
                slot_key=f"{launch.id}:{end.isoformat()}",
                kind=kind,
                slot_at=end,
                window_start=end - dt.timedelta(hours=4),
                window_end=end,
                status=status,
            )
        )


def test_now_controls_the_default_period(db: Database, launch: Launch) -> None:
    def period(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        with db.session() as session:
            return themes.default_period(session, launch, now=now)

    assert period(NOW) == (NOW - dt.timedelta(hours=24), NOW)  # no digest yet: the last 24 hours
    _digest(db, launch, NOW - dt.timedelta(hours=30), DigestStatus.SENT, DigestKind.SCHEDULED)
    _digest(db, launch, NOW - dt.timedelta(hours=20), DigestStatus.FAILED, DigestKind.SCHEDULED)  # not delivered
    _digest(db, launch, NOW + dt.timedelta(hours=1), DigestStatus.SENT, DigestKind.MANUAL)  # after now
    assert period(NOW) == (NOW - dt.timedelta(hours=30), NOW)  # the digest ended earlier than 24 hours ago
    _digest(db, launch, NOW - dt.timedelta(hours=2), DigestStatus.DRY_RUN, DigestKind.MANUAL)
    assert period(NOW) == (NOW - dt.timedelta(hours=24), NOW)  # … but a later one was delivered since
    later = NOW + dt.timedelta(hours=3)
    assert period(later) == (later - dt.timedelta(hours=24), later)  # never less than 24 hours
    # Before the launch began, and long after it ended: inside the launch.
    assert period(T0 - dt.timedelta(days=3))[0] == period(T0 - dt.timedelta(days=3))[1]
    end = launch_end(launch)
    assert period(end + dt.timedelta(days=30)) == (NOW + dt.timedelta(hours=1), end)  # since the last digest


def launch_end(launch: Launch) -> dt.datetime:
    from app import launches

    return launches.window(launch)[1]


def test_closed_days_are_counted_once_and_a_backfill_makes_them_stale(db: Database, launch: Launch) -> None:
    with db.session() as session:
        first = themes.surprises(session, launch, now=NOW)
    kept = db.memo[themes.THEME_DAYS_KEY]
    assert len(kept._days) == 3  # Monday to Wednesday: closed and wholly before the period

    # A widget note backfilled into Tuesday: the launch's counts version moves, and "before" sees it.
    _insert(db, launch, [(dt.datetime(2026, 11, 17, 9, 0, tzinfo=dt.UTC), "Widgeten på hjemskjermen forsvant", ())])
    with db.session() as session:
        stale = themes.surprises(session, launch, now=NOW)  # the old launch row: its version's days
        again = themes.surprises(session, fresh(db, launch), now=NOW)
    assert stale.themes[0].before == first.themes[0].before == 0
    assert again.themes[0].before == 1 and again.before_total == first.before_total + 1
    assert again.themes[0].first_seen == dt.datetime(2026, 11, 17, 9, 0, tzinfo=dt.UTC)
    # Only Tuesday was counted again: Monday and Wednesday, whose enquiries are the same, were taken over.
    version = fresh(db, launch).counts_version
    counted = {day: counts for (_, _, day, v, *_), counts in kept._days.items() if v == version}
    assert set(counted) == {dt.date(2026, 11, 16), dt.date(2026, 11, 17), dt.date(2026, 11, 18)}
    old = {day: counts for (_, _, day, v, *_), counts in kept._days.items() if v == launch.counts_version}
    assert counted[dt.date(2026, 11, 16)] is old[dt.date(2026, 11, 16)]
    assert counted[dt.date(2026, 11, 18)] is old[dt.date(2026, 11, 18)]
    assert counted[dt.date(2026, 11, 17)] is not old[dt.date(2026, 11, 17)]


def test_filters_limit_both_periods(db: Database, launch: Launch) -> None:
    from app.tallies import Filter

    with db.session() as session:
        chat = themes.surprises(session, launch, now=NOW, filter=Filter(channels=frozenset({"chat"})))
        everything = themes.surprises(session, launch, now=NOW)
    assert chat.notes_total < everything.notes_total
    assert chat.before_total < everything.before_total


# --- the page ------------------------------------------------------------------------------------


@pytest.fixture
def at_now() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


PAGES = [
    (PAGE, {}, 200, "widgeten på hjemskjermen"),
    (PAGE + "?q=KAFE", {}, 200, "No note in this range holds"),
    (PAGE + "?q=faktura", {}, 200, "Spør om faktura for november"),
    (PAGE + "?q=faktura", HTMX, 200, 'id="notes-count"'),
    (PAGE + "?range=launch", {}, 200, "There are no notes before this period"),
    (PAGE + "?range=today", {}, 200, "widgeten på hjemskjermen"),
    (PAGE + "?from=2026-11-16&to=2026-11-17", {}, 200, "Glemt passordet til appen"),
    (PAGE + "?range=default&channel=chat", {}, 200, "Since the last digest (at least 24 hours)"),
    (PAGE + "?range=sometime", {}, 422, "range"),
    ("/launches/nope/other", {}, 404, ""),
]


@pytest.mark.parametrize(("url", "headers", "status", "snippet"), PAGES)
def test_the_page(
    at_now: None, web: Web, people: People, launch: Launch, url: str, headers: Any, status: int, snippet: str
) -> None:
    response = web("kari").get(url, headers=dict(headers))
    assert response.status_code == status, response.text[:500]
    assert snippet in response.text
    if headers:
        assert "<html" not in response.text  # just the notes


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "query", "said"),
    [
        (dt.date(2026, 11, 2), dt.date(2026, 11, 15), "?range=today", "You asked for: Today."),  # over
        (dt.date(2026, 12, 1), dt.date(2026, 12, 21), "?range=since-digest", "You asked for: Since the launch"),
        (dt.date(2026, 11, 16), dt.date(2026, 12, 7), "?channel=fax", "The channel “fax” is not one of them."),
    ],
)
def test_a_range_chip_that_does_not_fit_the_launch_says_so_and_leads_on(
    at_now: None, web: Web, people: People, db: Database, starts_on: dt.date, ends_on: dt.date, query: str, said: str
) -> None:
    """Today on a launch that is over, or since it started on one not begun, was a bare error page with no
    way on: the page is shown on its default period, without the filters, saying what did not fit."""
    make_launch(db, slug="elsewhen", starts_on=starts_on, ends_on=ends_on)
    response = web("kari").get("/launches/elsewhen/other" + query)
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert 'role="alert"' in page and said in page
    assert "Rising themes" in page  # the page itself, not the error page
    assert 'aria-current="page">Since the last digest (at least 24 hours)</a>' in page
    assert 'href="/launches/elsewhen/other?range=launch"' in page  # the chips lead on, without the bad ones


def test_a_themes_notes_of_an_earlier_day_name_their_day(web: Web, people: People, launch: Launch) -> None:
    """The period is 24 hours or more: a theme's latest notes showed their time alone, so yesterday's
    08:30 read as this morning's."""
    kari = web("kari")
    for now, expected in (
        (NOW, ["08:30", "04:30", "00:30"]),
        (NOW + dt.timedelta(days=1), ["Fri 08:30", "Fri 04:30", "Fri 00:30"]),
    ):
        with time_machine.travel(now, tick=False):  # Friday 20 November 12:00 in Oslo, and Saturday
            page = kari.get(PAGE + "?from=2026-11-19&to=2026-11-20").text
        row = re.search(r'<tr class="theme[^"]*">.*?widgeten på hjemskjermen.*?</tr>', page, re.S | re.I)
        assert row is not None
        assert re.findall(r'<span class="muted small">([^<]*)</span>', row.group(0)) == expected


def test_every_signed_in_user_reads_it_and_only_leads_may_promote(
    at_now: None, web: Web, people: People, launch: Launch
) -> None:
    agent = web("kari").get(PAGE)
    assert agent.status_code == 200 and "widgeten på hjemskjermen" in agent.text.casefold()
    assert "New hypothesis from these" not in agent.text and 'name="group"' not in agent.text
    lead = web("lena").get(PAGE)
    assert "New hypothesis from these" in lead.text and 'name="theme" value="widg hjemskjerm"' in lead.text
    assert web("kari").get(f"{PAGE}/new?theme=widg+hjemskjerm").status_code == 403
    signed_out = web(None).get(PAGE)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")


def test_the_digest_s_theme_link_lists_the_notes_it_counted(
    at_now: None, web: Web, people: People, db: Database, launch: Launch
) -> None:
    """ "New in Other" linked to a text search for the phrase: "widgeten på hjemskjermen" missed "widget på
    hjemskjermen", which the theme (its stems) counts, and a click hours later searched a later period."""
    with db.session() as session:
        [line] = digests.new_in_other(session, fresh(db, launch), now=NOW, base_url="")
    assert (line.phrase, line.recent) == ("widgeten på hjemskjermen", 6)
    later = NOW + dt.timedelta(hours=3)
    _insert(db, launch, [(NOW + dt.timedelta(hours=1), "Widgeten på hjemskjermen er borte", ())])
    kari = web("kari")
    with time_machine.travel(later, tick=False):
        page = kari.get(line.url).text
        assert re.search(r'id="notes-count">(\d+) notes', page).group(1) == "6"  # type: ignore[union-attr]
        assert 'class="theme chosen"' in page
        assert "Only the notes with the theme “widgeten på hjemskjermen”." in page
        # The page's own themes link to their notes the same way; "Show every note" leaves the theme.
        every = re.search(r'href="([^"]*)">Show every note', page)
        assert every and "theme=" not in every.group(1)
        searched = kari.get(html.unescape(line.url) + "&q=forsvant", headers=HTMX).text
        assert re.search(r'id="notes-count">(\d+) notes?', searched).group(1) == "2"  # type: ignore[union-attr]
    page = kari.get(PAGE).text
    assert 'href="/launches/test-launch/other?range=default&amp;theme=widg+hjemskjerm#notes-heading"' in page


def test_one_recent_note_is_one_note(web: Web, people: People, db: Database) -> None:
    """A quiet day read "1 notes in this period" (in Norwegian "1 notater")."""
    quiet = make_launch(db, slug="quiet")
    _insert(db, quiet, [(NOW - dt.timedelta(hours=3), "Widget gone", ()), (T0, "Asked about fees", ())])
    with time_machine.travel(NOW, tick=False):
        page = " ".join(html.unescape(web("kari").get("/launches/quiet/other").text).split())
    assert "1 note in this period, 1 in the launch before it." in page


def test_a_note_is_shown_as_text(at_now: None, web: Web, people: People, db: Database, launch: Launch) -> None:
    _insert(db, launch, [(NOW - dt.timedelta(minutes=5), '<script>alert("x")</script> widget', ())])
    page = web("kari").get(PAGE)
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text


# --- the API -------------------------------------------------------------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_surprises_api(at_now: None, client: TestClient, token: str, launch: Launch) -> None:
    response = client.get(f"/api/v1/launches/{SLUG}/surprises", headers=auth(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["notes_total"] == 11
    first = body["themes"][0]
    assert first["phrase"].casefold() == "widgeten på hjemskjermen"
    assert (first["recent"], first["before"]) == (6, 0) and first["score"] > 10.83
    assert first["notes"][0]["note"] == "widget på hjemskjermen mangler"
    assert set(first["notes"][0]) == {"id", "note", "occurred_at"}


def test_surprises_api_takes_from_and_to(at_now: None, client: TestClient, token: str, launch: Launch) -> None:
    url = f"/api/v1/launches/{SLUG}/surprises"
    body = client.get(url, params={"from": "2026-11-19T12:00:00+01:00", "to": "2026-11-20"}, headers=auth(token)).json()
    assert body["start"] == "2026-11-19T11:00:00Z" and body["end"] == "2026-11-20T23:00:00Z"
    assert body["themes"][0]["recent"] == 6
    whole = client.get(url, params={"from": "2026-11-16"}, headers=auth(token)).json()
    assert whole["themes"] == [] and whole["before_total"] == 0  # nothing before it to compare with
    outside = client.get(url, params={"from": "2027-01-01"}, headers=auth(token))
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "range_out_of_window"
    assert client.get(url).status_code == 401


def test_the_api_call_reads_only_the_recent_notes_once_the_days_are_kept(db: Database, launch: Launch) -> None:
    """What the alerts ask every minute: a few hours against kept days, so few rows read."""
    statements: list[str] = []

    def capture(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    with db.session() as session:
        themes.surprises(session, launch, now=NOW, start=NOW - dt.timedelta(hours=4), end=NOW)
        sa.event.listen(db.engine, "before_cursor_execute", capture)
        try:
            themes.surprises(session, launch, now=NOW, start=NOW - dt.timedelta(hours=4), end=NOW)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", capture)
    reads = [s for s in statements if "FROM enquiry" in s]
    assert len(reads) == 2  # the period, and Friday before it: Monday to Thursday are closed and kept


def test_the_launch_page_links_to_it(at_now: None, web: Web, people: People, launch: Launch) -> None:
    page = web("kari").get(f"/launches/{SLUG}")
    assert f'href="{PAGE}"' in page.text


@pytest.mark.parametrize(
    "text",
    [
        "Widgeten på hjemskjermen forsvant etter oppdateringen 5.0, ring [phone]!",
        "Kunden sier at kortet ikke virker i utlandet; vil ha nytt kort",
        "The widget is gone from the home screen (iOS 17) - customer upset",
        "«BankID» henger… prøvde 3 ganger, e-post: [email]",
        "QR-skanneren krasjer etter BankID-innlogging",
    ],
)
def test_the_words_as_written_belong_to_the_same_phrases(text: str) -> None:
    assert set(themes.surfaces(text)) == set(themes.analyse(text).keys)


def test_a_free_standing_dash_ends_a_phrase() -> None:
    """The scrubber stores – and — as "-": a dash between words must still part them."""
    from app.insight.themes import _runs

    _, runs = _runs("appen krasjer - kortet virker", max_gap=1)
    assert runs == [["appen", "krasjer"], ["kortet", "virker"]]
    _, runs = _runs("Anne-Marie sin app", max_gap=1)
    assert runs[0][:2] == ["anne", "marie"]  # a hyphen inside a word parts it, as the search does


def test_a_hyphenated_word_is_the_same_theme_as_its_words_apart() -> None:
    """ "QR-skanneren" was one word (qrskann), "QR skanneren" two (qr skann), while the note search
    takes a hyphen for a space: 6 + 6 notes made two themes of 6, neither reaching an alert's 10."""
    assert set(themes.analyse("QR-skanneren krasjer").keys) == set(themes.analyse("QR skanneren krasjer").keys)
    texts = ["problem med BankID-innlogging", "problem med BankID innlogging"] * 6
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(2, 10))
    assert [(t.key, t.recent) for t in found] == [("problem bankid innlogging", 12)], found
    grouped = themes.group_notes(notes(texts, RECENT_START, dt.timedelta(hours=1)))
    assert grouped.total_groups == 1  # the same note twice over
    searched = themes.group_notes(notes(texts, RECENT_START, dt.timedelta(hours=1)), q="bankid innlogging")
    assert searched.notes == 12


def test_a_word_after_a_one_letter_prefix_keeps_its_hyphen() -> None:
    """Parted at every hyphen, "e-post" and "e-faktura" shared a word "e": one theme called "e" over both
    (and a spike alert for it), the phrases cut inside a word ("kvittering på e")."""
    texts = ["Får ikke kvittering på e-post"] * 6 + ["Finner ikke e-faktura i appen"] * 6
    found = themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(2, 10))
    keys = [t.key for t in found]
    assert "e" not in keys and not any(key.split()[-1] == "e" for key in keys), keys
    assert not any(t.phrase.endswith((" e", " E")) for t in found), found
    assert set(themes.analyse("e-post").keys) == set(themes.analyse("epost").keys)


def surprises_of(texts: list[str]) -> themes.Surprises:
    """The themes of ``texts`` (an hour of recent notes) against the usual background, as a page reads them."""
    return themes.Surprises(
        themes=themes_of(notes(texts, RECENT_START, dt.timedelta(hours=1)), background(2, 10)),
        notes_total=len(texts),
        before_total=20,
        start=RECENT_START,
        end=RECENT_START + dt.timedelta(days=1),
    )


def test_a_theme_link_posted_before_english_words_met_norwegian_ones_still_finds_its_theme() -> None:
    """Digests and alerts already in Slack link English themes by their old keys ("gone home screen"); since
    English words are stemmed on to their Norwegian stems ("gon hom screen") those links opened empty."""
    texts = ["The widget is gone from the home screen"] * 12
    found = surprises_of(texts)
    chosen = themes.chosen_theme(found, "gone home screen")  # the key English stems alone made
    assert chosen is not None and chosen.key == "gon hom screen", [t.key for t in found.themes]
    assert themes.chosen_theme(found, "nothing like it") is None


def test_a_theme_link_posted_before_swedish_notes_were_stemmed_as_swedish_still_finds_its_theme() -> None:
    found = surprises_of(["Appen kraschade när jag startade den"] * 12)
    chosen = themes.chosen_theme(found, "app kraschad startad")  # the key Norwegian stems alone made
    assert chosen is not None and chosen.key == "app krasch start", [t.key for t in found.themes]


def test_an_alert_stored_before_it_kept_its_stems_links_by_its_phrase_which_finds_its_theme(db: Database) -> None:
    found = surprises_of(["The widget is gone from the home screen"] * 12)
    [theme] = found.themes[:1]
    launch = make_launch(db)
    window = (RECENT_START, RECENT_START + dt.timedelta(hours=1))
    url = alerts.drilldown_url("", launch, AlertKind.THEME, theme.phrase, window, theme_key=None)
    asked = parse_qs(urlsplit(url).query)["theme"][0]
    assert asked == theme.phrase != theme.key
    assert themes.chosen_theme(found, asked) is theme


def test_a_theme_link_posted_before_hyphens_parted_words_still_finds_its_theme() -> None:
    """Links made when "QR-skanneren" was one word keyed it "qrskann"; parted, it is "qr skann"."""
    texts = ["QR-skanneren krasjer når jeg betaler"] * 12
    found = surprises_of(texts)
    keys = {t.key for t in found.themes}
    old = next(key for key in sorted(keys) if key.startswith("qr skann"))
    chosen = themes.chosen_theme(found, old.replace("qr skann", "qrskann"))
    assert chosen is not None and chosen.key == old, keys
