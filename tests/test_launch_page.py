"""The launch page and a hypothesis's drill-down, through the real app: ranges and filters in the
URL, the table's columns (previous period, change, per-day rate against expected, share), a
hypothesis added mid-launch, the live fragment, error pages, and the digest's links to them.

The clock is fixed at Wednesday 18 November 2026, 11:30 in Oslo: day 3 of a launch that began on
Monday, with digests at 09:00, 13:00 and 16:00. The enquiries (UTC times; Oslo is UTC+1):

    Mon 16  08:00 a phone · 09:00 a phone · 10:00 a phone/business · 11:00 b chat · 12:00 other chat "limits"
    Tue 17  08:00 a phone · 13:00 b chat · 14:00 b chat/business · 15:00 b email · 16:00 late phone
            17:00 other phone "widget" · 18:00 other chat (no note)
    Wed 18  07:00 a phone · 08:30 a phone · 09:00 c email/business · 09:30 late chat · 10:00 other phone "old app"

"late" was added on Tuesday at 12:00 UTC, after the launch began.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
import time_machine
from sqlmodel import select

from app import digests, hypothesis_sets, launches
from app.config import Settings
from app.dashboard import charts
from app.db import Database
from app.models import Hypothesis, Launch, LaunchStatus
from app.slack.blocks import DigestContent, HypothesisLine, build
from tests.conftest import DIGEST_SETTLE, People, WebUser
from tests.factories import hypothesis_ids, log, make_launch
from tests.helpers import HTMX
from tests.processes import ROOT

Web = Callable[[str | None], WebUser]
SLUG = "test-launch"
PAGE = f"/launches/{SLUG}"
NOW = dt.datetime(2026, 11, 18, 10, 30, tzinfo=dt.UTC)
BEFORE_LAUNCH = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
LATE_ADDED = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


ENQUIRIES: list[tuple[dt.datetime, tuple[str, ...], str, str, str | None]] = [
    (at(16, 8), ("a",), "phone", "private", None),
    (at(16, 9), ("a",), "phone", "private", None),
    (at(16, 10), ("a",), "phone", "business", None),
    (at(16, 11), ("b",), "chat", "private", None),
    (at(16, 12), (), "chat", "private", "Asked about limits abroad"),
    (at(17, 8), ("a",), "phone", "private", None),
    (at(17, 13), ("b",), "chat", "private", None),
    (at(17, 14), ("b",), "chat", "business", None),
    (at(17, 15), ("b",), "email", "private", None),
    (at(17, 16), ("late",), "phone", "private", None),
    (at(17, 17), (), "phone", "private", "Widget gone from the home screen"),
    (at(17, 18), (), "chat", "private", None),
    (at(18, 7), ("a",), "phone", "private", None),
    (at(18, 8, 30), ("a",), "phone", "private", None),
    (at(18, 9), ("c",), "email", "business", None),
    (at(18, 9, 30), ("late",), "chat", "private", None),
    (at(18, 10), (), "phone", "private", "Wants the old app back"),
]


@pytest.fixture(autouse=True)
def frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def launch(db: Database) -> Launch:
    launch = make_launch(db, slug=SLUG, name="PayApp 5.0", hypotheses=("a", "b", "c", "late"))
    with db.transaction() as session:
        for hypothesis in session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id)):
            hypothesis.created_at = LATE_ADDED if hypothesis.key == "late" else BEFORE_LAUNCH
            hypothesis.expected_per_day = {"a": 2, "b": 10, "late": 5}.get(hypothesis.key)
            hypothesis.text = {"a": "Contacts missing", "b": "Card not shown"}.get(hypothesis.key, hypothesis.text)
            session.add(hypothesis)
    for when, keys, channel, segment, note in ENQUIRIES:
        log(db, launch, *keys, at=when, channel=channel, segment=segment, note=note)
    return launch


@pytest.fixture
def kari(web: Web, people: People, launch: Launch) -> WebUser:
    return web("kari")


@pytest.fixture
def digest_at_nine(db: Database, settings: Settings, launch: Launch) -> None:
    """Wednesday's 09:00 digest composed (a dry run: no Slack), the first: Tuesday's were missed."""
    composed = digests.run_due(db, settings=settings, now=at(18, 8) + DIGEST_SETTLE, sender=None, check_alerts=False)
    assert [run.window_end for run in composed if run.window_end == at(18, 8)]


# --- reading the page ------------------------------------------------------------------------


class Cells(HTMLParser):
    """The text of each cell of each table row that has a data-series, by that key."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, list[str]] = {}
        self.ids: dict[str, str] = {}
        self._row: str | None = None
        self._cell: list[str] | None = None
        self._id: str | None = None
        self._depth = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get("data-series"):
            self._row = str(found["data-series"])
            self.rows[self._row] = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "span" and found.get("id"):
            self._id = str(found["id"])
            self.ids[self._id] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self.rows[self._row].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "span":
            self._id = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._id is not None:
            self.ids[self._id] += data


COLUMNS = ("name", "status", "count", "previous", "change", "per_day", "expected", "share")


def table(html: str) -> dict[str, dict[str, str]]:
    """Row key -> column -> the cell's text."""
    return {key: dict(zip(COLUMNS, cells, strict=True)) for key, cells in Cells(html).rows.items()}


def totals(html: str) -> dict[str, str]:
    return {k: " ".join(v.split()) for k, v in Cells(html).ids.items() if k.startswith("total-")}


def counts(html: str) -> dict[str, str]:
    return {key: row["count"] for key, row in table(html).items()}


# --- ranges and filters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?range=today", {"a": "2", "b": "0", "c": "1", "late": "1", "other": "1", "all": "5"}),
        ("", {"a": "2", "b": "0", "c": "1", "late": "1", "other": "1", "all": "5"}),  # today, while it runs
        ("?range=since-digest", {"a": "1", "b": "0", "c": "1", "late": "1", "other": "1", "all": "4"}),
        ("?range=yesterday", {"a": "1", "b": "3", "c": "0", "late": "1", "other": "2", "all": "7"}),
        ("?range=7d", {"a": "6", "b": "4", "c": "1", "late": "2", "other": "4", "all": "17"}),
        ("?range=launch", {"a": "6", "b": "4", "c": "1", "late": "2", "other": "4", "all": "17"}),
        ("?range=launch&channel=phone", {"a": "6", "b": "0", "c": "0", "late": "1", "other": "2", "all": "9"}),
        ("?range=launch&channel=phone&channel=email", {"a": "6", "b": "1", "c": "1", "late": "1", "all": "11"}),
        ("?range=launch&segment=business", {"a": "1", "b": "1", "c": "1", "late": "0", "other": "0", "all": "3"}),
        ("?from=2026-11-16&to=2026-11-17", {"a": "4", "b": "4", "c": "0", "late": "1", "other": "3", "all": "12"}),
        ("?from=2026-11-16&to=2026-11-16", {"a": "3", "b": "1", "c": "0", "late": "–", "other": "1", "all": "5"}),
    ],
)
def test_every_number_follows_the_range_and_filters(
    kari: WebUser, digest_at_nine: None, query: str, expected: dict[str, str]
) -> None:
    response = kari.get(PAGE + query)
    assert response.status_code == 200, response.text[:500]
    found = counts(response.text)
    assert {key: found[key] for key in expected} == expected
    assert totals(response.text)["total-count"] == expected["all"]


def test_the_links_carry_the_range_and_filters(kari: WebUser, digest_at_nine: None) -> None:
    html = kari.get(PAGE + "?range=yesterday&channel=phone").text
    # The range links keep the filters; the filter links keep the range.
    for link in (
        f'href="{PAGE}?range=today&amp;channel=phone"',
        f'href="{PAGE}?range=launch&amp;channel=phone"',
        f'href="{PAGE}?range=since-digest&amp;channel=phone"',
        f'href="{PAGE}?range=yesterday"',  # phone off again
        f'href="{PAGE}?range=yesterday&amp;channel=phone&amp;channel=chat"',
        f'href="{PAGE}?range=yesterday&amp;channel=phone&amp;segment=business"',
        # Every row links to its drill-down with the same view; the exports get it too.
        f'href="{PAGE}/hypotheses/a?range=yesterday&amp;channel=phone"',
        f'href="{PAGE}/hypotheses/late?range=yesterday&amp;channel=phone"',
        f'href="{PAGE}/export.csv?range=yesterday&amp;channel=phone&amp;what=enquiries"',
        f'href="{PAGE}/export.csv?range=yesterday&amp;channel=phone&amp;what=daily"',
        f'href="{PAGE}/export.xlsx?range=yesterday&amp;channel=phone&amp;what=enquiries"',
        f'href="{PAGE}/export.xlsx?range=yesterday&amp;channel=phone&amp;what=daily"',
        # What nobody expected, in the same view (it dropped both, and showed every channel).
        f'href="{PAGE}/other?range=yesterday&amp;channel=phone"',
    ):
        assert link in html, link
    # No range chosen: the filters, and the notes page's own default period rather than today's hours.
    assert f'href="{PAGE}/other?channel=chat"' in kari.get(PAGE + "?channel=chat").text
    assert f'href="{PAGE}/other"' in kari.get(PAGE).text
    assert 'aria-current="page">Yesterday</a>' in html
    assert "Since the digest at 09:00" in html
    # The live fragment asks for this same view again.
    assert f'hx-get="{PAGE}?range=yesterday&amp;channel=phone" hx-trigger="every 30s"' in html


def test_since_the_digest_starts_where_the_next_digest_will(
    kari: WebUser, db: Database, settings: Settings, launch: Launch
) -> None:
    """The chip named the last digest *time* (09:00) for a launch whose digests never went (set live later,
    missed, a draft) and counted from there, while the next digest counts from the last one composed."""

    def since_digest(path: str = PAGE) -> tuple[str, str]:
        html = kari.get(path + "?range=since-digest").text
        said = re.search(r'id="range-said"[^>]*>\s*<strong>([^<]*)</strong>:\s*([^<·]*?)\s*(?:·|</p>)', html)
        assert said, html[:300]
        return said.group(1), said.group(2)

    # No digest yet: the next one will count from the launch's start, and so does the chip.
    assert since_digest() == ("Since the launch started", "16 Nov 2026, 00:00 – 18 Nov 2026, 11:30")
    assert totals(kari.get(PAGE + "?range=since-digest").text)["total-count"] == "17"
    assert "Since the digest at" not in kari.get(PAGE + "/hypotheses/a").text
    with db.session() as session:
        assert digests.chain_start(session, launch, NOW) == launches.window(launch)[0]
    # Tuesday's digests missed, Wednesday's 09:00 composed: from there, as the 13:00 digest will count.
    digests.run_due(db, settings=settings, now=at(18, 8) + DIGEST_SETTLE, sender=None, check_alerts=False)
    assert since_digest() == ("Since the digest at 09:00", "18 Nov 2026, 09:00 – 18 Nov 2026, 11:30")
    assert since_digest(PAGE + "/hypotheses/a")[0] == "Since the digest at 09:00"
    with db.session() as session:
        assert digests.chain_start(session, launch, NOW) == at(18, 8)


def test_since_the_digest_of_an_earlier_day_names_its_day(
    kari: WebUser, db: Database, settings: Settings, launch: Launch
) -> None:
    """At 08:30 the chip said "Since the digest at 16:00": yesterday's, read as a time still to come."""
    digests.run_due(db, settings=settings, now=at(18, 15) + DIGEST_SETTLE, sender=None, check_alerts=False)
    with time_machine.travel(at(19, 7, 30), tick=False):  # Thursday 08:30 in Oslo
        assert "Since the digest at Wed 16:00" in kari.get(PAGE).text
    with time_machine.travel(at(25, 7, 30), tick=False):  # the next Wednesday: its date
        assert "Since the digest at 18 Nov 16:00" in kari.get(PAGE + "?range=launch").text
    with time_machine.travel(at(18, 15, 30), tick=False):  # the same day: its time
        assert "Since the digest at 16:00" in kari.get(PAGE).text


def test_after_a_closed_launch_s_last_digest_since_the_digest_is_its_window(
    kari: WebUser, db: Database, settings: Settings, launch: Launch
) -> None:
    """Over, its closing digest sent: the chip shows that digest's window, as the digests page's preview
    does, not the empty one after it nor a 16:00 digest that never went."""
    digests.run_due(db, settings=settings, now=at(18, 8) + DIGEST_SETTLE, sender=None, check_alerts=False)
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.ends_on = dt.date(2026, 11, 18)
        session.add(stored)
    digests.run_due(
        db, settings=settings, now=at(18, 23) + DIGEST_SETTLE, sender=None, check_alerts=False
    )  # the closing one
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        stored.status = LaunchStatus.CLOSED
        session.add(stored)
    with time_machine.travel(at(20, 12), tick=False):
        html = kari.get(PAGE + "?range=since-digest").text
    said = re.search(r'id="range-said"[^>]*>\s*<strong>([^<]*)</strong>:\s*([^<·]*?)\s*</p>', html)
    # Read on Friday: Wednesday's 09:00, named with its day (test_since_the_digest_of_an_earlier_day_names_its_day).
    assert said and said.groups() == ("Since the digest at Wed 09:00", "18 Nov 2026, 09:00 – 19 Nov 2026, 00:00")


def test_the_chosen_days_form_keeps_the_filters(kari: WebUser) -> None:
    html = kari.get(PAGE + "?from=2026-11-16&to=2026-11-17&segment=business").text
    assert 'name="from" value="2026-11-16"' in html and 'name="to" value="2026-11-17"' in html
    assert '<input type="hidden" name="segment" value="business">' in html
    assert f'href="{PAGE}?from=2026-11-16&amp;to=2026-11-17"' in html  # business off again


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("?range=someday", "“someday” is not one of the ranges: choose one below, or days."),
        (
            "?from=18.11.2026",
            "“18.11.2026” is neither a date nor a time with a UTC offset: give one such as 2026-11-18 or "
            "2026-11-18T09:00:00+01:00.",
        ),
        # A time from a link: told what is wrong with it as a time, not that it is no date.
        (
            "?from=2026-11-18T09:00",
            "“2026-11-18T09:00” has no UTC offset: write the time with one, such as 2026-11-18T09:00:00+01:00, "
            "or give a date.",
        ),
        ("?from=2026-11-18T25:00%2B01:00", "“2026-11-18T25:00+01:00” is no real time"),
        (
            "?from=2026-11-18T09:00+01:00",
            "“2026-11-18T09:00 01:00” is neither a date nor a time with a UTC offset: give one such as 2026-11-18 "
            "or 2026-11-18T09:00:00+01:00. A + in a link is read as a space: write it as %2B.",
        ),
        ("?from=2026-02-30", "The date “2026-02-30” is no day of the calendar"),
        ("?from=2026-11-18&to=2026-11-17", "The last day, 2026-11-17, is before the first, 2026-11-18: both days"),
        # Times: the end is not included, so the same time is no range (it said "to may equal from").
        (
            "?from=2026-11-18T09%3A00%2B01%3A00&to=2026-11-18T09%3A00%2B01%3A00",
            "The end, 2026-11-18T09:00+01:00, is not after the start, 2026-11-18T09:00+01:00: give a later end.",
        ),
        ("?range=today&from=2026-11-18", "Give either a range or days (from and to), not both."),
        ("?from=2026-10-01&to=2026-10-02", "You asked for: 2026-10-01 – 2026-10-02."),
        ("?from=2027-01-01", "You asked for: 2027-01-01 – …."),
        ("?channel=fax", "The channel “fax” is not one of them. It offers: phone, chat, email, social."),
        ("?range=launch&segment=vip", "The customer segment “vip” is not one of them. It offers: private, business"),
    ],
)
def test_a_range_that_cannot_be_shown_is_a_clear_422(kari: WebUser, query: str, shown: str) -> None:
    """Under the sentence for its kind, the page says what was wrong in its own words (by the error's code and
    what it names), not the API's English message, which a Norwegian page showed as it was."""
    for path in (PAGE, PAGE + "/hypotheses/a"):
        response = kari.get(path + query)
        assert response.status_code == 422
        detail = re.search(r'id="range-error-detail">(.*?)</p>', response.text, re.S)
        assert detail and shown in unescape(detail.group(1)), (path, detail and detail.group(1))
        assert 'role="alert"' in response.text
        # The page offers the ranges that can be shown, without the bad parameters.
        assert f'href="{path}?range=launch"' in response.text
        assert 'id="numbers"' not in response.text


def test_a_range_error_names_what_was_given_as_text(kari: WebUser) -> None:
    """What a link gave is repeated on the page, so it is escaped there like every other text."""
    detail = re.search(r'id="range-error-detail">(.*?)</p>', kari.get(PAGE + "?channel=%3Cb%3Ex").text, re.S)
    assert detail and "“&lt;b&gt;x”" in detail.group(1) and "<b>" not in detail.group(1)


def test_out_of_window_says_which_dates_the_launch_has(kari: WebUser) -> None:
    response = kari.get(PAGE + "?from=2026-10-01&to=2026-10-02")
    assert response.status_code == 422
    assert "That range is outside this launch's dates (16 Nov 2026 – 7 Dec 2026)" in response.text


def test_an_htmx_request_with_a_bad_range_gets_the_error_fragment(kari: WebUser) -> None:
    response = kari.get(PAGE + "?range=someday", headers={**HTMX})
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#flash"
    assert "<html" not in response.text and "is not one of" in response.text


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "shown"),
    [
        (dt.date(2026, 12, 1), dt.date(2026, 12, 21), "The launch has not begun: the charts start on its first day."),
        (dt.date(2026, 11, 2), dt.date(2026, 11, 15), 'aria-current="page">Whole launch</a>'),
    ],
)
def test_a_launch_not_yet_begun_or_over_opens_on_the_whole_launch(
    db: Database, kari: WebUser, starts_on: dt.date, ends_on: dt.date, shown: str
) -> None:
    make_launch(db, slug="other-launch", starts_on=starts_on, ends_on=ends_on)
    response = kari.get("/launches/other-launch")
    assert response.status_code == 200
    assert shown in response.text
    assert totals(response.text)["total-count"] == "0"
    assert kari.get("/launches/other-launch?range=today").status_code == 422  # today is outside it


# --- the table -------------------------------------------------------------------------------


def test_the_language_switch_keeps_the_view(kari: WebUser) -> None:
    """It went back to the bare page: the range and the filters (the link is the view) were lost."""
    html = kari.get(PAGE + "?range=7d&channel=phone").text
    assert f'name="next" value="{PAGE}?range=7d&amp;channel=phone"' in html


def test_previous_period_and_change(kari: WebUser) -> None:
    # Today so far (00:00–11:30) against the same hours yesterday (Tuesday 00:00–11:30), not the
    # 11.5 hours before (Tuesday afternoon and evening, the busy part against today's quiet morning).
    rows = table(kari.get(PAGE + "?range=today").text)
    assert (rows["a"]["count"], rows["a"]["previous"], rows["a"]["change"]) == ("2", "1", "+1 (+100 %)")
    assert (rows["b"]["count"], rows["b"]["previous"], rows["b"]["change"]) == ("0", "0", "0")
    assert (rows["other"]["previous"], rows["other"]["change"]) == ("0", "+1")
    assert (rows["all"]["count"], rows["all"]["previous"], rows["all"]["change"]) == ("5", "1", "+4 (+400 %)")
    html = kari.get(PAGE + "?range=today").text
    assert totals(html) == {
        "total-count": "5",
        "total-previous": "1",
        "total-change": "+4",
        "total-other": "1",
    }
    # Yesterday against Monday.
    rows = table(kari.get(PAGE + "?range=yesterday").text)
    assert (rows["a"]["previous"], rows["a"]["change"]) == ("3", "−2 (−67 %)")
    assert (rows["b"]["previous"], rows["b"]["change"]) == ("1", "+2 (+200 %)")


def test_chosen_days_ending_today_compare_with_the_same_hours_before_and_say_where_they_stop(
    kari: WebUser,
) -> None:
    """from=today&to=today at 11:30 compared today so far with the whole of yesterday (5 against 7:
    "−2"), where "today" compares with yesterday up to 11:30 (5 against 1), and its line said the
    range went on to midnight, though nothing after now is counted."""
    chosen, today = (kari.get(PAGE + query).text for query in ("?from=2026-11-18&to=2026-11-18", "?range=today"))
    assert totals(today) == {"total-count": "5", "total-previous": "1", "total-change": "+4", "total-other": "1"}
    assert totals(chosen) == totals(today)
    assert table(chosen)["a"]["previous"] == "1"
    said = re.search(r'id="range-said"[^>]*>\s*<strong>[^<]*</strong>:\s*([^<·]*?)\s*</p>', chosen)
    assert said and said.group(1) == "18 Nov 2026, 00:00 – 18 Nov 2026, 11:30"
    assert "17 Nov 2026, 00:00 – 17 Nov 2026, 11:30" in chosen  # the period before, as "today" has it
    # The same on the hypothesis's page.
    drill = kari.get(PAGE + "/hypotheses/a?from=2026-11-18&to=2026-11-18").text
    assert "17 Nov 2026, 00:00 – 17 Nov 2026, 11:30" in drill and "18 Nov 2026, 00:00 – 18 Nov 2026, 11:30" in drill


def test_a_period_before_that_began_before_the_launch_is_not_compared(kari: WebUser) -> None:
    """Tuesday and Wednesday against Sunday and Monday, the launch's first day: two days against one
    read as a rise (+ some hundred per cent at the top of the table); shown, marked, not compared.
    (Wednesday is counted up to 11:30, so Monday is too: 3 of its 5.)"""
    html = kari.get(PAGE + "?from=2026-11-17&to=2026-11-18").text
    assert totals(html)["total-previous"].startswith("3") and totals(html)["total-change"] == "–"
    rows = table(html)
    assert (rows["a"]["previous"], rows["a"]["change"]) == ("3*", "–")
    assert (rows["all"]["previous"], rows["all"]["change"]) == ("3*", "–")


def test_biggest_movers_first_and_retired_last(kari: WebUser, db: Database, launch: Launch) -> None:
    keys = list(table(kari.get(PAGE + "?range=today").text))
    assert keys[:2] == ["a", "c"]  # a and c up by 1 on yesterday morning; b and other unchanged
    assert keys[-2:] == ["other", "all"]


def test_the_first_period_of_a_launch_has_nothing_before_it(kari: WebUser) -> None:
    html = kari.get(PAGE + "?range=launch").text
    rows = table(html)
    for key in ("a", "other", "all"):
        assert (rows[key]["previous"], rows[key]["change"]) == ("–", "–"), key
    assert totals(html)["total-previous"] == "–"


def test_per_day_rate_against_expected(kari: WebUser) -> None:
    # The whole launch so far: Monday 00:00 to Wednesday 11:30 Oslo, 2.48 days.
    html = kari.get(PAGE + "?range=launch").text
    rows = table(html)
    assert rows["a"]["per_day"] == "2.4 ▲" and rows["a"]["expected"] == "2"  # 6 / 2.48, above 2
    assert rows["b"]["per_day"] == "1.6" and rows["b"]["expected"] == "10"
    assert rows["c"]["expected"] == "–"
    assert "above the expected rate per day" in html  # the legend for ▲
    assert 'class="num warn"' in html


def test_a_hypothesis_added_mid_launch_has_no_misleading_numbers(kari: WebUser) -> None:
    rows = table(kari.get(PAGE + "?range=launch").text)
    # Counted from Tuesday 12:00 UTC, when it was added: 2 in 22.5 hours is read as 2 a day
    # (not 2 over the launch's 2.48 days, 0.8).
    assert rows["late"]["count"] == "2" and rows["late"]["per_day"] == "2"
    assert "added 17 Nov 2026, 13:00" in rows["late"]["name"]
    # Monday, before it existed: no count, no rate; Tuesday's period before is Monday: nothing to compare.
    rows = table(kari.get(PAGE + "?from=2026-11-16&to=2026-11-16").text)
    assert (rows["late"]["count"], rows["late"]["per_day"], rows["late"]["share"]) == ("–", "–", "0 %")
    rows = table(kari.get(PAGE + "?range=yesterday").text)
    assert (rows["late"]["count"], rows["late"]["previous"], rows["late"]["change"]) == ("1", "–", "–")
    # Today's period before (Tuesday 00:00–11:30) ended before it was added: nothing to compare.
    assert table(kari.get(PAGE + "?range=today").text)["late"]["previous"] == "–"
    # Wednesday so far, as chosen days: against Tuesday up to the same hour, as "today" is: nothing.
    assert table(kari.get(PAGE + "?from=2026-11-18&to=2026-11-18").text)["late"]["previous"] == "–"
    # Tuesday 18:00 to Wednesday 10:00 against the 16 hours before, 13:00 in which it was added: part of it.
    rows = table(kari.get(PAGE + "?from=2026-11-17T18%3A00%2B01%3A00&to=2026-11-18T10%3A00%2B01%3A00").text)
    assert rows["late"]["previous"] == "1*"


def test_other_and_all_rows_are_complete(kari: WebUser) -> None:
    rows = table(kari.get(PAGE + "?range=yesterday").text)
    assert rows["other"] == {
        "name": "Show in the chart: Other (not on the list) Other (not on the list)",
        "status": "–",
        "count": "2",
        "previous": "1",
        "change": "+1 (+100 %)",
        "per_day": "2",
        "expected": "–",
        "share": "29 %",
    }
    assert rows["all"] == {
        "name": "Show in the chart: All enquiries All enquiries",
        "status": "–",
        "count": "7",
        "previous": "5",
        "change": "+2 (+40 %)",
        "per_day": "7",
        "expected": "–",  # c has no expectation, so none is added up
        "share": "100 %",
    }
    for key, row in rows.items():
        assert all(value.strip() for value in row.values()), (key, row)


def test_all_expects_the_sum_only_when_every_hypothesis_has_an_expectation(
    kari: WebUser, db: Database, launch: Launch
) -> None:
    with db.transaction() as session:
        c = session.exec(select(Hypothesis).where(Hypothesis.launch_id == launch.id, Hypothesis.key == "c")).one()
        c.expected_per_day = 1
        session.add(c)
    rows = table(kari.get(PAGE + "?range=yesterday").text)
    assert rows["all"]["expected"] == "18"  # 2 + 10 + 1 + 5
    # Other and All count what no hypothesis expects: their rates are never marked against it.
    rows = table(kari.get(PAGE + "?from=2026-11-16&to=2026-11-16").text)
    assert rows["all"]["expected"] == "13" and rows["all"]["per_day"] == "5"  # "late" did not exist yet


def test_channel_and_segment_splits_follow_the_range(kari: WebUser) -> None:
    html = kari.get(PAGE + "?range=yesterday").text
    section = html[html.index(">By channel<") : html.index(">By segment<")]
    assert '<th scope="row">phone</th><td class="num">3</td>' in section
    assert '<th scope="row">chat</th><td class="num">3</td>' in section


def test_a_hypothesis_split_keeps_a_channel_the_launch_no_longer_offers(kari: WebUser, db: Database) -> None:
    """A lead renamed or removed a channel mid-launch: the launch page kept its enquiries, the hypothesis's
    page dropped them from its split and gave the other channels 100 % between them."""
    before = kari.get(PAGE + "/hypotheses/b?range=yesterday").text
    section = before[before.index(">By channel<") : before.index(">By segment<")]
    chat = re.search(r'<th scope="row">chat</th><td class="num">(\d+)</td>', section)
    assert chat and int(chat.group(1)) > 0
    with db.transaction() as session:
        launch = launches.get_by_slug(session, SLUG)
        launch.channels = [c for c in launch.channels if c != "chat"] + ["telefon"]
    after = kari.get(PAGE + "/hypotheses/b?range=yesterday").text
    section = after[after.index(">By channel<") : after.index(">By segment<")]
    assert f'<th scope="row">chat</th><td class="num">{chat.group(1)}</td>' in section
    assert '<th scope="row">telefon</th><td class="num">0</td>' in section


def test_notes_under_other_follow_the_range(kari: WebUser) -> None:
    html = kari.get(PAGE + "?range=today").text
    assert "Wants the old app back" in html and "Widget gone" not in html
    html = kari.get(PAGE + "?range=launch&channel=chat").text
    assert "Asked about limits abroad" in html and "Widget gone" not in html


def test_the_chart_data_follows_the_filters(kari: WebUser) -> None:
    import html as html_module
    import json
    import re

    def chart(query: str, which: str) -> dict[str, Any]:
        page = kari.get(PAGE + query).text
        match = re.search(rf'id="chart-{which}-data" data-chart="([^"]*)"', page)
        assert match, page[:300]
        return dict(json.loads(html_module.unescape(match.group(1))))

    day = chart("?range=today", "day")
    assert day["kind"] == "day" and day["timezone"] == "Europe/Oslo" and len(day["x"]) == 3
    by_key = {s["key"]: s for s in day["series"]}
    assert by_key["a"]["values"] == [3, 1, 2] and by_key["a"]["expected"] == [2, 2, 2]
    assert by_key["late"]["values"] == [None, 1, 1]  # nothing drawn before it was added
    assert by_key["all"]["values"] == [5, 7, 5] and not by_key["all"]["shown"]
    assert by_key["a"]["shown"] and not by_key["b"]["shown"]  # b had no enquiries today
    assert by_key["a"]["color"] != by_key["b"]["color"]
    phone = {s["key"]: s for s in chart("?range=today&channel=phone", "day")["series"]}
    assert phone["all"]["values"] == [3, 3, 3]
    slot = chart("?range=today", "slot")
    assert slot["kind"] == "slot" and "expected" not in {k for s in slot["series"] for k in s}
    # Monday to Wednesday's 09:00 digest, and 09:00 to now: three days of windows, each from one digest to the next.
    assert sum(s for s in {x["key"]: x for x in slot["series"]}["all"]["values"]) == 17


def test_the_digest_window_chart_starts_with_a_whole_window(kari: WebUser, db: Database, launch: Launch) -> None:
    """On the launch's fourth day the chart of the last three days began at Tuesday's midnight: its first point
    counted 00:00–09:00, a few hours of the night window that Tuesday's 09:00 digest counted from Monday's 16:00,
    and drew it as a quiet window. It begins at that 16:00 digest, so each point is a digest's own window."""
    import html as html_module
    import json

    log(db, launch, "a", at=at(16, 19))  # Monday 20:00 in Oslo, after the 16:00 digest
    with time_machine.travel(at(19, 10, 30), tick=False):  # Thursday 11:30 in Oslo, the launch's fourth day
        page = kari.get(PAGE + "?range=today").text
    match = re.search(r'id="chart-slot-data" data-chart="([^"]*)"', page)
    assert match
    slot = json.loads(html_module.unescape(match.group(1)))
    monday_16 = at(16, 15)  # 16:00 in Oslo
    assert slot["x"][0] == int(monday_16.timestamp())
    assert slot["ends"][0] == int(at(17, 8).timestamp())  # Tuesday's 09:00 digest
    assert {s["key"]: s for s in slot["series"]}["all"]["values"][0] == 1  # Monday evening's, in that window
    assert "16 Nov 2026, 16:00 – 17 Nov 2026, 09:00" in " ".join(unescape(page).split())


def _contrast(color: str, background: str = "#ffffff") -> float:
    def luminance(hex_color: str) -> float:
        channels = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(color), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_line_colour_stands_out_from_the_page() -> None:
    """Okabe–Ito's orange and sky blue and Tol's teal were 2.3, 2.3 and 2.8:1 on white, under WCAG
    1.4.11's 3:1 for the graphics that carry a series (a line has no text beside it)."""
    for color in (*charts.PALETTE, charts.OTHER_COLOR, charts.ALL_COLOR):
        assert _contrast(color) >= 3, color
    assert len(set(charts.PALETTE)) == len(charts.PALETTE)


def test_every_line_colour_stands_out_from_the_shaded_range() -> None:
    """The chosen range is shaded behind the lines (with "Whole launch" the whole plot): on it the green,
    pink, blue and olive lines were 2.95, 2.64, 3.0 and 2.6:1, under 1.4.11's 3:1."""
    script = (ROOT / "app" / "static" / "charts.js").read_text()
    fill = re.search(r'fillStyle = "rgba\((\d+), (\d+), (\d+), ([\d.]+)\)"', script)
    assert fill, "the range's shading is no longer an rgba() fill: check its contrast by hand"
    *rgb, alpha = float(fill[1]), float(fill[2]), float(fill[3]), float(fill[4])
    shade = "#" + "".join(f"{round(255 * (1 - alpha) + c * alpha):02x}" for c in rgb)  # over the white page
    for color in (*charts.PALETTE, charts.OTHER_COLOR, charts.ALL_COLOR):
        assert _contrast(color, shade) >= 3, (color, shade)


def test_past_twelve_hypotheses_no_two_lines_look_alike(db: Database, kari: WebUser) -> None:
    """The palette has twelve colours: the 13th hypothesis was drawn in the 1st's blue, solid, as the demo
    launch's two #0072b2 lines were. Past twelve, the colours come again with a dash pattern."""
    import html as html_module
    import json

    keys = tuple(f"h{n:02}" for n in range(26))
    make_launch(db, slug="many", hypotheses=keys)
    page = kari.get("/launches/many?range=launch").text
    for which in ("day", "slot"):
        match = re.search(rf'id="chart-{which}-data" data-chart="([^"]*)"', page)
        assert match
        series = {s["key"]: s for s in json.loads(html_module.unescape(match.group(1)))["series"]}
        looks = [(series[k]["color"], tuple(series[k].get("dash") or ())) for k in keys]
        assert len(set(looks)) == len(keys), looks  # every line its own colour and dash
        assert series["h12"]["color"] == series["h00"]["color"] and series["h12"]["dash"]
        assert "dash" not in series["h00"] and "dash" not in series["all"]
        assert series["h24"]["dash"] != series["h12"]["dash"]
    # The drill-down draws the hypothesis as the launch page does.
    drill = kari.get("/launches/many/hypotheses/h13?range=launch").text
    match = re.search(r'id="chart-day-data" data-chart="([^"]*)"', drill)
    assert match
    [line] = [s for s in json.loads(html_module.unescape(match.group(1)))["series"] if s["key"] == "h13"]
    assert (line["color"], line["dash"]) == (series["h13"]["color"], series["h13"]["dash"])


# --- live ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "headers", "status", "snippet", "absent"),
    [
        (PAGE + "?range=today", {}, 200, "<html", None),
        (PAGE + "?range=today", {**HTMX}, 200, 'id="numbers"', "<html"),
        (PAGE + "/hypotheses/a?range=today", {}, 200, "Status history", None),
        (PAGE + "/hypotheses/a?range=today", {**HTMX}, 200, 'id="numbers"', "<html"),
    ],
)
def test_one_route_serves_page_or_fragment(
    kari: WebUser, url: str, headers: dict[str, str], status: int, snippet: str, absent: str | None
) -> None:
    response = kari.get(url, headers=headers)
    assert response.status_code == status
    assert snippet in response.text
    if absent:
        assert absent not in response.text
    assert "HX-Request" in [v.strip() for v in response.headers["Vary"].split(",")]


def test_the_fragment_has_the_new_numbers_and_keeps_polling(kari: WebUser, db: Database, launch: Launch) -> None:
    before = kari.get(PAGE + "?range=today", headers={**HTMX}).text
    assert totals(before)["total-count"] == "5"
    log(db, launch, "b", at=NOW - dt.timedelta(minutes=1), channel="chat")
    after = kari.get(PAGE + "?range=today", headers={**HTMX}).text
    assert totals(after)["total-count"] == "6" and counts(after)["b"] == "1"
    assert 'hx-trigger="every 30s" hx-swap="outerHTML"' in after
    assert 'id="chart-day-data"' in after and 'id="chart-slot-data"' in after


def range_said(html: str) -> tuple[str, str] | None:
    """The name and the times of the range line the refresh swaps in by its id (None: not there)."""
    said = re.search(r'id="range-said" hx-swap-oob="true">\s*<strong>([^<]*)</strong>:\s*([^<·]*?)\s*</p>', html)
    return (said.group(1), said.group(2)) if said else None


def test_after_midnight_the_refresh_names_the_new_day(kari: WebUser) -> None:
    """The poll swapped in the new day's numbers under a line still naming yesterday ("Today: 18 Nov,
    00:00 – 23:47"): the line now comes with every refresh, on the launch page and the drill-down."""
    evening = dt.datetime(2026, 11, 18, 22, 47, tzinfo=dt.UTC)  # 23:47 in Oslo
    with time_machine.travel(evening, tick=False):
        assert "18 Nov 2026, 00:00 – 18 Nov 2026, 23:47" in kari.get(PAGE + "?range=today").text
    for path in (PAGE, PAGE + "/hypotheses/a"):
        with time_machine.travel(evening + dt.timedelta(minutes=20), tick=False):  # 00:07, the next day
            fragment = kari.get(path + "?range=today", headers={**HTMX}).text
        assert range_said(fragment) == ("Today", "19 Nov 2026, 00:00 – 19 Nov 2026, 00:07"), path
        assert "<html" not in fragment and 'hx-trigger="every 30s"' in fragment


def test_the_refresh_brings_the_next_digest_along(kari: WebUser) -> None:
    """ "Next digest: 13:00" stayed on a projector all afternoon: it comes with each refresh now."""
    assert (
        'id="next-digest" hx-swap-oob="true">Next digest: 18 Nov 2026, 13:00</p>'
        in kari.get(PAGE + "?range=today", headers={**HTMX}).text
    )
    with time_machine.travel(at(18, 12, 30), tick=False):  # 13:30 in Oslo
        fragment = kari.get(PAGE + "?range=today", headers={**HTMX}).text
    assert 'id="next-digest" hx-swap-oob="true">Next digest: 18 Nov 2026, 16:00</p>' in fragment


def test_signed_out_readers_are_sent_to_sign_in(web: Web, launch: Launch) -> None:
    response = web(None).get(PAGE + "?range=today")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/launches/test-launch%3Frange%3Dtoday"


# --- the drill-down --------------------------------------------------------------------------


def test_the_drill_down_shows_one_hypothesis(kari: WebUser, digest_at_nine: None) -> None:
    response = kari.get(PAGE + "/hypotheses/b?range=launch")
    assert response.status_code == 200
    html = response.text
    assert "<h1>Card not shown</h1>" in html
    assert totals(html)["total-count"] == "4"
    assert totals(html)["total-rate"] == "1.6"
    assert "per day, against 10 expected" in html
    # Its channel and segment split.
    assert '<th scope="row">chat</th><td class="num">3</td>' in html
    assert '<th scope="row">email</th><td class="num">1</td>' in html
    assert '<th scope="row">business</th><td class="num">1</td>' in html
    # Notes under "Other" from the days it came up (Monday and Tuesday), newest first; not Wednesday's.
    assert html.index("Widget gone from the home screen") < html.index("Asked about limits abroad")
    assert "Wants the old app back" not in html
    # Back to the launch page with the same view; the drill-down's own range links.
    assert f'href="{PAGE}?range=launch"' in html
    assert f'href="{PAGE}/hypotheses/b?range=since-digest"' in html and "Since the digest at 09:00" in html


def test_the_drill_down_follows_filters(kari: WebUser) -> None:
    html = kari.get(PAGE + "/hypotheses/b?range=launch&channel=email").text
    assert totals(html)["total-count"] == "1"
    assert "Asked about limits abroad" not in html  # a chat note
    assert f'href="{PAGE}/hypotheses/b?range=launch"' in html  # email off again


def test_the_drill_down_shows_revisions_and_status_history(web: Web, people: People, launch: Launch) -> None:
    lena = web("lena")
    form = {"text": "Card not shown after the update", "status": "open"}
    assert lena.post(PAGE + "/hypotheses/b", data=form).status_code == 303
    with time_machine.travel(NOW + dt.timedelta(hours=2), tick=False):
        form = {"text": "Card not shown after the update", "status": "fix_shipped"}
        assert lena.post(PAGE + "/hypotheses/b", data=form).status_code == 303
    html = web("kari").get(PAGE + "/hypotheses/b?range=launch").text
    assert "<h1>Card not shown after the update</h1>" in html
    assert "until 18 Nov 2026, 11:30, changed by lena" in html and "“Card not shown”" in html
    history = html[html.index("Status history") : html.index("Earlier texts")]
    assert "18 Nov 2026, 13:30 · lena" in history
    assert 'status-open">open</span> → <span class="badge status-fix_shipped">fix shipped</span>' in history


def test_the_history_says_which_retirement_an_import_made_for_a_row_left_out_of_its_file(
    db: Database, settings: Settings, web: Web, people: People, launch: Launch
) -> None:
    """What the next import does depends on it: left out of the file, a hypothesis comes back as it was when
    its key is listed again; retired by a person, it stays retired. The history showed both alike."""
    with db.transaction() as session:
        stored = launches.get_by_slug(session, SLUG)
        spec = hypothesis_sets.current_spec(session, stored)
        left_out = spec.model_copy(update={"hypotheses": [h for h in spec.hypotheses if h.key != "b"]})
        hypothesis_sets.import_launch(
            session,
            left_out,
            actor="cli:lena",
            now=NOW,
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )
    html = unescape(web("kari").get(PAGE + "/hypotheses/b?range=launch").text)
    history = html[html.index("Status history") : html.index("Earlier texts")]
    assert "· cli:lena" in history and "(left out of the hypothesis file)" in history


def test_a_hypothesis_added_in_the_editor_starts_its_history(web: Web, people: People, launch: Launch) -> None:
    lena = web("lena")
    with time_machine.travel(NOW - dt.timedelta(hours=1), tick=False):
        assert lena.post(PAGE + "/hypotheses", data={"key": "newer", "text": "Something new"}).status_code == 303
    html = web("kari").get(PAGE + "/hypotheses/newer").text
    assert "18 Nov 2026, 10:30 · lena" in html and "added as" in html
    assert totals(html)["total-count"] == "0"
    rows = table(web("kari").get(PAGE + "?range=yesterday").text)
    assert (rows["newer"]["count"], rows["newer"]["per_day"]) == ("–", "–")  # did not exist yesterday


def header(html: str) -> str:
    """The drill-down's line under its title."""
    found = re.search(r'<header class="page-head">.*?<p class="muted">(.*?)</p>', html, re.S)
    assert found, html[:300]
    return " ".join(unescape(found.group(1)).split())


def test_the_drill_down_says_from_when_it_counts_as_the_table_does(kari: WebUser, db: Database, launch: Launch) -> None:
    """Its header said "added <time>" while its counts started earlier: made from older "other" notes (it
    counts from the first), or made with the launch (from the launch's start). It says what the table says."""
    assert "added" not in header(kari.get(PAGE + "/hypotheses/a").text)  # there before the launch began
    assert header(kari.get(PAGE + "/hypotheses/late").text).endswith("· added 17 Nov 2026, 13:00")
    # Made on Wednesday from a note of Tuesday's (an "other" enquiry moved onto it): counts from that.
    with db.transaction() as session:
        session.add(Hypothesis(launch_id=launch.id or 0, key="moved", text="Moved", sort_order=9, created_at=at(18, 9)))
    log(db, launch, "moved", at=at(17, 10), channel="phone")
    said = header(kari.get(PAGE + "/hypotheses/moved").text)
    assert said.endswith("· counts from 17 Nov 2026, 11:00") and "added" not in said
    assert "counts from 17 Nov 2026, 11:00" in table(kari.get(PAGE + "?range=launch").text)["moved"]["name"]
    # Made in the same import as the launch: it counts from the launch's start, so nothing is said.
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        hypothesis = session.exec(select(Hypothesis).where(Hypothesis.key == "late")).one()
        hypothesis.created_at = stored.created_at
        session.add(hypothesis)
    assert "added" not in header(kari.get(PAGE + "/hypotheses/late").text)


def test_an_unknown_hypothesis_is_a_404(kari: WebUser) -> None:
    response = kari.get(PAGE + "/hypotheses/nope")
    assert response.status_code == 404
    assert "has no hypothesis &#39;nope&#39;" in response.text
    assert "This launch has no such hypothesis: check the address." in response.text
    assert "no longer on the list" not in response.text, "the checklist's words for a tick"


def test_the_drill_down_with_a_bad_range_is_a_422_with_its_ranges(kari: WebUser) -> None:
    response = kari.get(PAGE + "/hypotheses/a?range=someday")
    assert response.status_code == 422
    assert f'href="{PAGE}/hypotheses/a?range=launch"' in response.text


def test_the_page_is_in_norwegian_too(web: Web, db: Database, people: People, launch: Launch) -> None:
    kari = web("kari")
    assert kari.post("/me/language", data={"language": "nb", "next": "/"}).status_code == 303
    html = kari.get(PAGE + "?range=launch").text
    assert 'lang="nb"' in html
    for text in ("Hele lanseringen", "Hypoteser", "Per dag", "Alle henvendelser"):
        assert text in html, text


# --- the digest's links ----------------------------------------------------------------------


def test_the_digest_links_to_the_page_since_the_digest_and_to_each_drill_down() -> None:
    content = DigestContent(
        launch_name="PayApp 5.0",
        slot_label="13:00",
        window_label="09:00–13:00",
        day_number=3,
        launch_days=22,
        window_total=4,
        previous_total=3,
        today_total=5,
        since_launch_total=17,
        url="https://tally.example/launches/test-launch",
        hypotheses=[HypothesisLine("a", "Contacts missing", 2, 1, 2, 2), HypothesisLine("b", "Card", 0, 1, 0)],
    )
    _, blocks = build(content)
    text = "\n".join(str(block) for block in blocks)
    assert "<https://tally.example/launches/test-launch?range=since-digest|Open PayApp 5.0 in Launch Tally>" in text
    assert "<https://tally.example/launches/test-launch/hypotheses/a?range=since-digest|Contacts missing>" in text
    assert "hypotheses/b?range=since-digest" in text  # the not-seen list links too


def test_hypothesis_ids_are_what_the_factories_gave(db: Database, launch: Launch) -> None:
    assert set(hypothesis_ids(db, launch)) == {"a", "b", "c", "late"}


def test_a_draft_launch_in_the_future_says_when_it_starts_and_announces_no_digest(db: Database, kari: WebUser) -> None:
    """It used to read "Day 1 of 22" and name a next digest that would never be sent."""
    make_launch(
        db,
        slug="future-launch",
        status=LaunchStatus.DRAFT,
        starts_on=NOW.date() + dt.timedelta(days=5),
        ends_on=NOW.date() + dt.timedelta(days=26),
    )
    page = kari.get("/launches/future-launch").text
    assert "Starts in 5 days" in page
    assert "Day 1 of" not in page and "Next digest" not in page


def test_a_launch_that_is_over_says_it_ended_and_one_enquiry_is_one(db: Database, people: People, web: Web) -> None:
    """A closed launch read "Day 21 of 21" for good, its chart "today is counted so far", and a range of
    one enquiry "1 enquiries in this range"."""
    ended = make_launch(
        db, slug="ended", status=LaunchStatus.CLOSED, starts_on=dt.date(2026, 10, 1), ends_on=dt.date(2026, 10, 21)
    )
    log(db, ended, "a", at=dt.datetime(2026, 10, 21, 15, 0, tzinfo=dt.UTC))
    kari = web("kari")
    page = " ".join(kari.get("/launches/ended").text.split())
    assert "Ended after 21 days" in page and "Day 21 of 21" not in page
    assert '<span class="number" id="total-count">1</span> <span>enquiry in this range</span>' in page
    drill = " ".join(kari.get("/launches/ended/hypotheses/a").text.split())
    assert "1</span> <span>enquiry in this range</span>" in drill
    assert "of the 1 enquiry in this range" in drill
    # Over, no day is still being counted: the daily chart's caption said "today is counted so far".
    for shown in (page, drill):
        assert "The shaded part is the range shown below. " in shown and "today is counted so far" not in shown
    with time_machine.travel(dt.datetime(2026, 10, 21, 12, 0, tzinfo=dt.UTC), tick=False):  # its last day
        last_day = kari.get("/launches/ended").text
        assert "Day 21 of 21" in last_day and "today is counted so far. Dashed lines" in last_day


def test_chosen_days_next_to_a_dst_change_are_compared_with_as_many_days_before(
    db: Database, people: People, web: Web
) -> None:
    """Oslo's clocks go back on 25 October 2026 (a 25-hour day). 26 October was compared with "24 hours just
    before", 25 October 01:00 to midnight, and the 25th with 23 October 23:00 onwards: days, not hours."""
    launch = make_launch(db, slug="dst", starts_on=dt.date(2026, 10, 23), ends_on=dt.date(2026, 10, 30))
    hour = dt.datetime(2026, 10, 23, 22, 30, tzinfo=dt.UTC)  # 00:30 on the 24th in Oslo: one an hour from then
    while hour < dt.datetime(2026, 10, 26, 23, 0, tzinfo=dt.UTC):
        log(db, launch, "a", at=hour)
        hour += dt.timedelta(hours=1)
    kari = web("kari")
    for days, previous, count, before in (
        ("from=2026-10-26&to=2026-10-26", "25 Oct 2026, 00:00 – 26 Oct 2026, 00:00", "24", "25"),
        ("from=2026-10-25&to=2026-10-25", "24 Oct 2026, 00:00 – 25 Oct 2026, 00:00", "25", "24"),
        ("from=2026-10-25&to=2026-10-26", "23 Oct 2026, 00:00 – 25 Oct 2026, 00:00", "49", "24"),
    ):
        html = kari.get(f"/launches/dst?{days}").text
        said = re.search(r'class="muted small period">([^<]*)</span>', html)
        assert said and said.group(1) == previous, days
        assert (totals(html)["total-count"], totals(html)["total-previous"]) == (count, before), days
    # A range that is not whole days is still compared with as long a time just before it.
    html = kari.get("/launches/dst?from=2026-10-26T06:00%2B01:00&to=2026-10-26T12:00%2B01:00").text
    said = re.search(r'class="muted small period">([^<]*)</span>', html)
    assert said and said.group(1) == "26 Oct 2026, 00:00 – 26 Oct 2026, 06:00"


def test_a_per_day_rate_counts_the_launch_days_not_24_hours() -> None:
    """On the day the clocks go back (25 hours) 100 enquiries were "96 a day", under an expected 98."""
    from zoneinfo import ZoneInfo

    from app.dashboard.rows import exposure_days

    oslo = ZoneInfo("Europe/Oslo")

    def day(d: int) -> dt.datetime:
        return dt.datetime(2026, 10, d, tzinfo=oslo).astimezone(dt.UTC)

    later = day(27)
    assert exposure_days(day(25), day(26), now=later, since=day(1), tz=oslo) == 1.0
    assert exposure_days(day(29), day(30), now=later + dt.timedelta(days=5), since=day(1), tz=oslo) == 1.0
    assert exposure_days(day(20), day(27), now=later, since=day(1), tz=oslo) == 7.0  # a week across the change
    half = day(25) + dt.timedelta(hours=12, minutes=30)  # 12.5 of the day's 25 hours
    assert exposure_days(day(24), half, now=later, since=day(1), tz=oslo) == 1.5
