"""Exports for spreadsheets: enquiries and daily counts as CSV and XLSX, from the API and the launch page."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Callable
from typing import Any, cast
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient
from sqlmodel import select

from app import exports, ranges
from app.db import Database
from app.exports import rows, xlsx
from app.models import EnquirySource, Hypothesis, Launch, User
from app.recording.record import NewEnquiry, insert_many
from tests.factories import hypothesis_ids, log, make_launch

SLUG = "test-launch"
DURING_LAUNCH = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)
MONDAY = dt.datetime(2026, 11, 16, 8, 15, tzinfo=dt.UTC)  # 09:15 in Oslo, the launch's first day
TUESDAY = MONDAY + dt.timedelta(days=1)
NORWEGIAN = "Kunden lurte på gebyr – “hvorfor?” sa hun; æøå ÆØÅ"
OTHER_NOTE = 'Spurte om "noe annet", to ganger\nog så la hun på'
FORMULA = '=HYPERLINK("http://evil.example", "klikk")'
HEADER = [
    "enquiry_id",
    "occurred_at",
    "local_date",
    "hypothesis_key",
    "hypothesis_text",
    "channel",
    "segment",
    "note",
    "source",
]


@pytest.fixture(autouse=True)
def during_the_launch() -> Any:
    with time_machine.travel(DURING_LAUNCH, tick=True):
        yield


@pytest.fixture
def launch(db: Database) -> Launch:
    made = make_launch(db, slug=SLUG, hypotheses=("bankid-login-loop", "receipts-moved", "send-money"))
    with db.transaction() as session:
        first = session.exec(select(Hypothesis).where(Hypothesis.key == "bankid-login-loop")).one()
        first.text = "BankID-innlogging går i ring – “prøv igjen”"
    return made


@pytest.fixture
def logged(db: Database, launch: Launch) -> dict[str, int]:
    """Monday: one enquiry matching two hypotheses, one "other" with a note, one by chat without a
    segment and with a note that looks like a formula. Tuesday: one imported. Wednesday: nothing."""
    ids = {
        "two": log(db, launch, "bankid-login-loop", "send-money", at=MONDAY, note=NORWEGIAN),
        "other": log(db, launch, at=MONDAY + dt.timedelta(hours=1), channel="email", note=OTHER_NOTE),
        "chat": log(
            db, launch, "receipts-moved", at=MONDAY + dt.timedelta(hours=2), channel="chat", segment=None, note=FORMULA
        ),
    }
    with db.write_connection() as connection:
        [imported] = insert_many(
            connection,
            [
                NewEnquiry(
                    launch_id=launch.id or 0,
                    channel="phone",
                    segment="business",
                    created_at=TUESDAY,
                    hypothesis_ids=(hypothesis_ids(db, launch)["receipts-moved"],),
                    source=EnquirySource.IMPORT,
                )
            ],
        )
    ids["imported"] = imported.id
    return ids


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def export(client: TestClient, token: str, query: str, slug: str = SLUG) -> Any:
    return client.get(f"/api/v1/launches/{slug}/export?{query}", headers=auth(token))


def csv_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf"), "a byte order mark, for Excel"
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def xlsx_rows(response: Any, sheet: str) -> list[list[Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    assert workbook.sheetnames == [sheet]
    return [list(row) for row in workbook[sheet].iter_rows(values_only=True)]


def excel_date(year: int, month: int, day: int) -> dt.datetime:
    """What openpyxl reads from a date-formatted cell: a naive datetime at midnight."""
    return dt.datetime.combine(dt.date(year, month, day), dt.time(0))


def as_text(cell: Any) -> str:
    """An XLSX cell as the CSV writes it (a time without its offset: that is in the cell's format)."""
    if cell is None:
        return ""
    if isinstance(cell, bool):  # a TRUE/FALSE cell; the CSV writes it as JSON does
        return "true" if cell else "false"
    if isinstance(cell, dt.datetime):  # openpyxl reads a date-formatted cell as a datetime at midnight
        return cell.date().isoformat() if cell.time() == dt.time(0) else cell.isoformat()
    return str(cell)


def without_offset(csv_row: list[str]) -> list[str]:
    """A CSV row of enquiries with its occurred_at as the wall time alone, as the workbook has it."""
    return [csv_row[0], csv_row[1][:19], *csv_row[2:]] if csv_row[0] != "enquiry_id" else csv_row


def test_enquiries_csv_has_a_row_per_enquiry_and_hypothesis(
    client: TestClient, token: str, logged: dict[str, int]
) -> None:
    header, *found = csv_rows(export(client, token, "format=csv&what=enquiries"))
    assert header == HEADER
    two, other, chat, imported = logged["two"], logged["other"], logged["chat"], logged["imported"]
    assert [(int(r[0]), r[3]) for r in found] == [
        (two, "bankid-login-loop"),
        (two, "send-money"),
        (other, ""),
        (chat, "receipts-moved"),
        (imported, "receipts-moved"),
    ]
    assert found[0] == [
        str(two),
        "2026-11-16T09:15:00+01:00",
        "2026-11-16",
        "bankid-login-loop",
        "BankID-innlogging går i ring – “prøv igjen”",
        "phone",
        "private",
        NORWEGIAN,
        "checklist",
    ]
    assert found[2][3:] == ["", "", "email", "private", OTHER_NOTE, "checklist"]
    assert found[3][5:7] == ["chat", ""]
    assert found[3][7] == "'" + FORMULA, "a note that looks like a formula is shown as text"
    assert found[4][1:3] == ["2026-11-17T09:15:00+01:00", "2026-11-17"]
    assert found[4][8] == "import"


@pytest.mark.parametrize(
    ("note", "as_written"),
    [
        ("kunden sa;=HYPERKOBLING(TEGN(104))", '"kunden sa;\'=HYPERKOBLING(TEGN(104))"'),
        ("a;+1;-2;@x", "\"a;'+1;'-2;'@x\""),
        ("pris 5;- kr", '"pris 5;\'- kr"'),
        ("semikolon; helt vanlig", '"semikolon; helt vanlig"'),
    ],
)
def test_text_after_a_semicolon_cannot_start_a_formula_either(note: str, as_written: str) -> None:
    """Excel set to Norwegian (and most of Europe) opens a .csv with ; as its separator: what follows a
    ; in a note becomes a cell of its own, and a formula if it starts like one."""
    assert exports.csv.field(note) == as_written
    assert next(csv.reader([as_written]))[0].split(";", maxsplit=1)[0] == note.split(";", maxsplit=1)[0]


def test_the_xlsx_has_the_same_rows_with_dates_as_dates(client: TestClient, token: str, logged: dict[str, int]) -> None:
    from_csv = csv_rows(export(client, token, "format=csv&what=enquiries"))
    from_xlsx = xlsx_rows(export(client, token, "format=xlsx&what=enquiries"), "enquiries")
    assert [[as_text(cell) for cell in row] for row in from_xlsx] == [
        [value.removeprefix("'") for value in without_offset(row)] for row in from_csv
    ], "the same cells (in XLSX a formula-looking note is plain text, no apostrophe needed)"
    assert from_xlsx[1][2] == excel_date(2026, 11, 16), "local_date is a real date"
    assert from_xlsx[1][1] == dt.datetime(2026, 11, 16, 9, 15), "occurred_at is a real date and time, local"  # noqa: DTZ001
    assert from_xlsx[1][0] == logged["two"], "ids are numbers"
    assert from_xlsx[1][7] == NORWEGIAN and from_xlsx[4][7] == FORMULA


def test_an_enquiry_logged_through_the_api_says_so(client: TestClient, token: str, launch: Launch) -> None:
    body = {"channel": "phone", "hypotheses": ["send-money"], "note": "Sendte penger to ganger"}
    assert client.post(f"/api/v1/launches/{SLUG}/enquiries", json=body, headers=auth(token)).status_code == 201
    _, row = csv_rows(export(client, token, "format=csv&what=enquiries"))
    assert row[3] == "send-money" and row[8] == "api"
    assert dt.datetime.fromisoformat(row[1]).utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("channel=chat", ["chat"]),
        ("channel=email&channel=chat", ["other", "chat"]),
        ("segment=unspecified", ["chat"]),
        ("segment=business", ["imported"]),
        ("from=2026-11-17&to=2026-11-17", ["imported"]),
        ("to=2026-11-16", ["two", "two", "other", "chat"]),
        ("from=2026-11-16T10:00:00%2B01:00&to=2026-11-16T11:16:00%2B01:00", ["other", "chat"]),
        ("range=launch&segment=private", ["two", "two", "other"]),
    ],
)
def test_range_and_filters_restrict_the_rows(
    client: TestClient, token: str, logged: dict[str, int], query: str, expected: list[str]
) -> None:
    names = {n: name for name, n in logged.items()}
    for format in ("csv", "xlsx"):
        response = export(client, token, f"format={format}&what=enquiries&{query}")
        found = csv_rows(response) if format == "csv" else xlsx_rows(response, "enquiries")
        assert [names[int(row[0])] for row in found[1:]] == expected, format


def test_daily_has_every_day_and_hypothesis_with_zeros(client: TestClient, token: str, logged: dict[str, int]) -> None:
    header, *found = csv_rows(export(client, token, "format=csv&what=daily&from=2026-11-16&to=2026-11-18"))
    assert header == ["local_date", "hypothesis_key", "hypothesis_text", "count", "complete"]
    keys = ["bankid-login-loop", "receipts-moved", "send-money", "(other)", "(total)"]
    assert [(r[0], r[1]) for r in found] == [
        (day, key) for day in ("2026-11-16", "2026-11-17", "2026-11-18") for key in keys
    ]
    counts = {(r[0], r[1]): int(r[3]) for r in found}
    assert [counts[("2026-11-16", k)] for k in keys] == [1, 1, 1, 1, 3]
    assert [counts[("2026-11-17", k)] for k in keys] == [0, 1, 0, 0, 1]
    assert [counts[("2026-11-18", k)] for k in keys] == [0, 0, 0, 0, 0]
    assert found[0][2] == "BankID-innlogging går i ring – “prøv igjen”"

    header, *in_xlsx = xlsx_rows(export(client, token, "format=xlsx&what=daily&from=2026-11-16&to=2026-11-18"), "daily")
    assert [[as_text(c) for c in row] for row in in_xlsx] == found
    assert in_xlsx[0][0] == excel_date(2026, 11, 16) and in_xlsx[4][3] == 3


def test_a_hypothesis_added_during_the_launch_has_no_count_before_it_counted(
    client: TestClient, token: str, launch: Launch, logged: dict[str, int], db: Database
) -> None:
    """Added on Tuesday at noon: its Monday said 0 (complete), a day nobody called about it, where the
    page shows "–" and draws no line (its calls were "other" then). Empty in the files, null in the series."""
    with db.transaction() as session:
        session.add(
            Hypothesis(
                launch_id=launch.id or 0,
                key="late",
                text="Added on Tuesday",
                sort_order=9,
                created_at=dt.datetime(2026, 11, 17, 11, 0, tzinfo=dt.UTC),
            )
        )
    query = "what=daily&from=2026-11-16&to=2026-11-18"
    _, *found = csv_rows(export(client, token, "format=csv&" + query))
    late = [(r[0], r[3], r[4]) for r in found if r[1] == "late"]
    assert late == [("2026-11-16", "", "true"), ("2026-11-17", "0", "true"), ("2026-11-18", "0", "false")]
    assert [r[3] for r in found if r[0] == "2026-11-16" and r[1] != "late"] == ["1", "1", "1", "1", "3"]
    _, *in_xlsx = xlsx_rows(export(client, token, "format=xlsx&" + query), "daily")
    assert [(as_text(r[0]), r[3]) for r in in_xlsx if r[1] == "late"] == [
        ("2026-11-16", None),
        ("2026-11-17", 0),
        ("2026-11-18", 0),
    ]
    series = client.get(f"/api/v1/launches/{SLUG}/series?from=2026-11-16&to=2026-11-18", headers=auth(token))
    assert [b["hypotheses"]["late"] for b in series.json()["buckets"]] == [None, 0, 0]
    assert [b["hypotheses"]["send-money"] for b in series.json()["buckets"]] == [1, 0, 0]
    hourly = client.get(
        f"/api/v1/launches/{SLUG}/series?bucket=hour&from=2026-11-17&to=2026-11-17", headers=auth(token)
    )
    assert [b["hypotheses"]["late"] for b in hourly.json()["buckets"]][11:14] == [None, 0, 0]  # added 12:00 local


def test_daily_stops_at_today_and_marks_it_under_way(
    client: TestClient, token: str, launch: Launch, logged: dict[str, int]
) -> None:
    """On day 3 (at 11:00), the whole launch: no rows of zeros for the days to come, which a sheet would
    sum or average as quiet ones; today's counts so far say they are not complete, as the series API does."""
    for format in ("csv", "xlsx"):
        response = export(client, token, f"format={format}&what=daily&range=launch")
        header, *found = csv_rows(response) if format == "csv" else xlsx_rows(response, "daily")
        assert header[-1] == "complete"
        by_day = {as_text(r[0]): as_text(r[4]) for r in found}
        assert by_day == {"2026-11-16": "true", "2026-11-17": "true", "2026-11-18": "false"}, format
        assert len(found) == 3 * 5, format
    # The ranges that end now (the page's own export links carry range=today while a launch runs): today
    # is under way there too, though its row ends at now; a past day cut short by an exact time is over.
    for range_, expected in (
        ("range=today", {"2026-11-18": "false"}),
        ("range=7d", {"2026-11-16": "true", "2026-11-17": "true", "2026-11-18": "false"}),
        ("range=since-digest", {"2026-11-16": "true", "2026-11-17": "true", "2026-11-18": "false"}),
        ("from=2026-11-17&to=2026-11-17T12:00%2B01:00", {"2026-11-17": "true"}),
    ):
        for format in ("csv", "xlsx"):
            response = export(client, token, f"format={format}&what=daily&{range_}")
            _, *found = csv_rows(response) if format == "csv" else xlsx_rows(response, "daily")
            assert {as_text(r[0]): as_text(r[4]) for r in found} == expected, (range_, format)
    series = client.get(f"/api/v1/launches/{SLUG}/series?from=2026-11-18&to=2026-11-18", headers=auth(token))
    assert [b["complete"] for b in series.json()["buckets"]] == [False]

    with time_machine.travel(dt.datetime(2027, 1, 10, 12, 0, tzinfo=dt.UTC)):  # long after the end
        _, *after = csv_rows(export(client, token, "format=csv&what=daily&range=launch"))
    assert {r[4] for r in after} == {"true"} and after[-1][0] == launch.ends_on.isoformat()
    with time_machine.travel(dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)):  # before it began: no day yet
        assert csv_rows(export(client, token, "format=csv&what=daily&range=launch")) == [
            ["local_date", "hypothesis_key", "hypothesis_text", "count", "complete"]
        ]


def test_daily_counts_follow_the_filters(client: TestClient, token: str, logged: dict[str, int]) -> None:
    _, *found = csv_rows(export(client, token, "format=csv&what=daily&to=2026-11-17&channel=phone"))
    counts = {(r[0], r[1]): int(r[3]) for r in found}
    assert counts[("2026-11-16", "(total)")] == 1 and counts[("2026-11-16", "receipts-moved")] == 0
    assert counts[("2026-11-17", "(total)")] == 1 and counts[("2026-11-16", "(other)")] == 0


def test_whole_launch_by_default_and_the_file_name_says_what_and_when(
    client: TestClient, token: str, launch: Launch
) -> None:
    response = export(client, token, "format=xlsx&what=daily")
    name = f"{SLUG}-daily-2026-11-16-{launch.ends_on.isoformat()}.xlsx"
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert len(xlsx_rows(response, "daily")) == 1 + 3 * 5  # the days up to today, the third
    response = export(client, token, "format=csv&what=enquiries&from=2026-11-17&to=2026-11-18")
    assert (
        response.headers["content-disposition"]
        == 'attachment; filename="test-launch-enquiries-2026-11-17-2026-11-18.csv"'
    )
    assert csv_rows(response) == [HEADER]


def test_many_rows_come_in_chunks_in_order(
    client: TestClient, token: str, launch: Launch, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "CHUNK", 3)
    logged = [log(db, launch, "send-money", at=MONDAY + dt.timedelta(minutes=n % 4)) for n in range(10)]
    found = csv_rows(export(client, token, "format=csv&what=enquiries"))[1:]
    expected = sorted(logged, key=lambda n: ((n - logged[0]) % 4, n))
    assert [int(r[0]) for r in found] == expected
    assert [
        int(r[0]) for r in xlsx_rows(export(client, token, "format=xlsx&what=enquiries"), "enquiries")[1:]
    ] == expected


def test_without_a_token_401(client: TestClient, launch: Launch) -> None:
    response = client.get(f"/api/v1/launches/{SLUG}/export?format=csv&what=enquiries")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


@pytest.mark.parametrize(
    ("query", "status", "code", "field"),
    [
        ("format=&what=enquiries", 422, "invalid_format", "format"),
        ("format=pdf&what=enquiries", 422, "invalid_format", "format"),
        ("format=csv&what=", 422, "invalid_what", "what"),
        ("format=csv&what=everything", 422, "invalid_what", "what"),
        ("format=csv&what=daily&from=2025-01-01&to=2025-01-31", 422, "range_out_of_window", "from"),
        ("format=xlsx&what=enquiries&range=7d&from=2026-11-16", 422, "invalid_range", "range"),
        ("format=csv&what=enquiries&channel=fax", 422, "unknown_channel", "channel"),
    ],
)
def test_bad_parameters_are_named(
    client: TestClient, token: str, launch: Launch, query: str, status: int, code: str, field: str
) -> None:
    response = export(client, token, query)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["field"] == field


def test_a_named_range_outside_the_launch_names_the_range(client: TestClient, token: str, launch: Launch) -> None:
    """range=today after the launch ended was refused with the field `from`, which the call did not send:
    a client that reads `field` to show the fault looked for a parameter it never gave."""
    with time_machine.travel(dt.datetime(2026, 12, 20, 10, 0, tzinfo=dt.UTC), tick=False):
        for named in ("today", "yesterday", "7d"):
            response = export(client, token, f"range={named}")
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert (error["code"], error["field"]) == ("range_out_of_window", "range"), error


def test_the_last_7_days_a_week_after_the_launch_are_refused_not_a_day_after_it(
    client: TestClient, token: str, db: Database
) -> None:
    """A week after a launch ended, "the last 7 days" start at the midnight it ended: an empty range at its
    end, which was let through as if it were the empty "today" at a launch's first midnight. The counts per
    day then held a row per hypothesis for the day after the launch (empty, complete), and the file was
    named for that day; an hour or a day later the same link was refused, as it should be."""
    make_launch(db, starts_on=dt.date(2026, 11, 2), ends_on=dt.date(2026, 11, 11))
    a_week_after = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)
    for days_after, status in ((0, 200), (1, 422), (2, 422)):
        with time_machine.travel(a_week_after - dt.timedelta(days=1) + dt.timedelta(days=days_after), tick=False):
            response = export(client, token, "range=7d&what=daily")
        assert response.status_code == status, (days_after, response.text)
        if status == 422:
            assert response.json()["error"]["code"] == "range_out_of_window"
        else:
            assert csv_rows(response)[-1][0] == "2026-11-11", "the launch's last day, the range's last"


def test_without_format_and_what_the_api_sends_the_enquiries_as_csv(
    client: TestClient, token: str, launch: Launch
) -> None:
    """The document made both optional, and leaving either out was a 422: now they mean what the launch
    page's download does."""
    response = client.get(f"/api/v1/launches/{SLUG}/export", headers=auth(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "-enquiries-" in response.headers["content-disposition"] and csv_rows(response)[0] == HEADER
    daily = client.get(f"/api/v1/launches/{SLUG}/export?what=daily", headers=auth(token))
    assert daily.status_code == 200 and "-daily-" in daily.headers["content-disposition"], daily.text


def test_head_of_an_export_says_what_the_get_would_send_without_making_the_file(
    client: TestClient, token: str, launch: Launch, logged: dict[str, int], db: Database
) -> None:
    """HEAD was a 405 (Allow: GET). Answered as its GET, it would write the whole file to send nothing:
    its checks are made (a bad parameter is the GET's 422), the rows are never read."""
    statements: list[str] = []  # every statement, the driver cursor's too (SQLite's trace; none on PostgreSQL)

    def trace(connection: Any, record: Any) -> None:
        if db.is_sqlite:
            connection.set_trace_callback(statements.append)

    sa.event.listen(db.engine, "connect", trace)
    db.engine.dispose()  # the connections from now on are traced
    try:
        for query, media_type in (("what=enquiries", "text/csv"), ("format=xlsx&what=daily", "application/vnd")):
            head = client.head(f"/api/v1/launches/{SLUG}/export?{query}", headers=auth(token))
            assert head.status_code == 200 and head.content == b"", head.text
            assert head.headers["content-type"].startswith(media_type)
            assert head.headers["content-disposition"] == export(client, token, query).headers["content-disposition"]
        statements.clear()
        client.head(f"/api/v1/launches/{SLUG}/export?what=enquiries", headers=auth(token))
        assert not any("FROM enquiry e" in sql for sql in statements), statements
        export(client, token, "what=enquiries")
        assert any("FROM enquiry e" in sql for sql in statements) == db.is_sqlite  # the GET reads them
    finally:
        sa.event.remove(db.engine, "connect", trace)
    refused = client.head(f"/api/v1/launches/{SLUG}/export?format=pdf", headers=auth(token))
    assert refused.status_code == 422 and refused.content == b""
    assert client.head(f"/api/v1/launches/{SLUG}/export").status_code == 401
    signed_out = client.head(f"/launches/{SLUG}/export.csv", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")


def test_an_unknown_launch_is_404(client: TestClient, token: str, launch: Launch) -> None:
    response = export(client, token, "format=csv&what=enquiries", slug="nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_launch"


def test_signed_in_people_download_from_the_launch_page(
    web: Callable[[str | None], Any], people: Any, logged: dict[str, int]
) -> None:
    kari = web("kari")
    response = kari.get(f"/launches/{SLUG}/export.csv?range=launch&channel=chat")  # what=enquiries unless said
    assert [int(r[0]) for r in csv_rows(response)[1:]] == [logged["chat"]]
    response = kari.get(f"/launches/{SLUG}/export.xlsx?what=daily&from=2026-11-16&to=2026-11-16")
    assert (
        response.headers["content-disposition"] == 'attachment; filename="test-launch-daily-2026-11-16-2026-11-16.xlsx"'
    )
    assert xlsx_rows(response, "daily")[-1][1:] == ["(total)", "All enquiries", 3, True]
    hypotheses = kari.get(f"/launches/{SLUG}/export", follow_redirects=False)
    assert hypotheses.headers["content-type"].startswith("application/yaml"), "the hypothesis set's download"
    # No copy kept in a shared desk's browser cache, as for the pages (notes are in the enquiries' file).
    assert response.headers["cache-control"] == hypotheses.headers["cache-control"] == "no-store"
    assert kari.get(f"/launches/{SLUG}/export.pdf?what=daily").status_code == 404


def test_the_launch_page_offers_the_counts_per_day_as_a_workbook_too(
    web: Callable[[str | None], Any], people: Any, logged: dict[str, int]
) -> None:
    """The page's one workbook held the enquiries: the counts per day came only as CSV, which Excel set to
    Norwegian opens in one column, while the guide sends those readers to the workbook instead."""
    kari = web("kari")
    page = html.unescape(kari.get(f"/launches/{SLUG}?from=2026-11-16&to=2026-11-16&channel=phone").text)
    found = re.findall(r'<a class="button" href="([^"]+)" download>([^<]+)</a>', page)
    links = {text: href for href, text in found}
    daily = kari.get(links["Counts per day (Excel)"])
    assert daily.status_code == 200, links
    assert daily.headers["content-disposition"].endswith('daily-2026-11-16-2026-11-16.xlsx"')
    assert xlsx_rows(daily, "daily")[-1][1:] == ["(total)", "All enquiries", 1, True]  # Monday's one by phone
    enquiries = kari.get(links["Enquiries (Excel)"])
    assert enquiries.headers["content-disposition"].endswith('enquiries-2026-11-16-2026-11-16.xlsx"')


def test_the_page_names_other_and_all_in_the_readers_language(
    web: Callable[[str | None], Any], people: Any, db: Database, token: str, client: TestClient, logged: dict[str, int]
) -> None:
    """Kari reads the page in Norwegian: her counts per day named the two last rows of each day in English
    ("Matched no hypothesis", "All enquiries") beside the hypotheses' own texts. The API keeps its texts."""
    with db.transaction() as session:
        kari = session.exec(select(User).where(User.username == "kari")).one()
        kari.language = "nb"
    reader = web("kari")
    query = "what=daily&from=2026-11-16&to=2026-11-16"
    assert [row[1:3] for row in csv_rows(reader.get(f"/launches/{SLUG}/export.csv?{query}"))[-2:]] == [
        ["(other)", "Annet (ikke på listen)"],
        ["(total)", "Alle henvendelser"],
    ]
    assert [row[1:4] for row in xlsx_rows(reader.get(f"/launches/{SLUG}/export.xlsx?{query}"), "daily")[-2:]] == [
        ["(other)", "Annet (ikke på listen)", 1],
        ["(total)", "Alle henvendelser", 3],
    ]
    assert [row[1:3] for row in csv_rows(export(client, token, f"format=csv&{query}"))[-2:]] == [
        ["(other)", "Matched no hypothesis"],
        ["(total)", "All enquiries"],
    ]


def test_signed_out_people_are_sent_to_sign_in(web: Callable[[str | None], Any], launch: Launch) -> None:
    response = web(None).get(f"/launches/{SLUG}/export.csv?what=enquiries")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/launches/{SLUG}/export.csv%3Fwhat%3Denquiries"


def test_a_database_that_refuses_the_read_is_a_503_before_any_header(
    client: TestClient, token: str, web: Callable[[str | None], Any], people: Any, logged: dict[str, int], db: Database
) -> None:
    """The rows were read once the answer had started: a read the database refused (PostgreSQL's lock
    timeout, tests/test_database_stalls.py; here, a table gone from under it) was a 200 with the file's
    name and then a dropped connection. It is the 503 every other read gives, before any header."""
    if not db.is_sqlite:
        pytest.skip("SQLite's own: a missing table is PostgreSQL's ProgrammingError, a bug, not a 503")
    kari = web("kari")
    with db.engine.begin() as connection:
        connection.exec_driver_sql("ALTER TABLE enquiry RENAME TO enquiry_away")
    try:
        for query in ("what=enquiries", "format=xlsx&what=enquiries"):
            refused = export(client, token, query)
            assert refused.status_code == 503, (query, refused.status_code, refused.text[:300])
            assert refused.json()["error"]["code"] == "unavailable" and refused.headers["retry-after"].isdigit()
            assert "content-disposition" not in refused.headers
        page = kari.get(f"/launches/{SLUG}/export.csv?range=launch")
        assert page.status_code == 503 and "content-disposition" not in page.headers
    finally:
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE enquiry_away RENAME TO enquiry")
    assert len(csv_rows(export(client, token, "what=enquiries"))) == 1 + 5


# --- the pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"])
def test_local_times_match_astimezone_across_dst_changes(zone: str) -> None:
    """Lord Howe Island moves its clocks by 30 minutes; Kolkata is 5:30 ahead."""
    tz = ZoneInfo(zone)
    clock = rows.LocalTimes(tz)
    moments = []
    for start in (dt.datetime(2026, 3, 27, tzinfo=dt.UTC), dt.datetime(2026, 10, 2, tzinfo=dt.UTC)):
        moments += [start + dt.timedelta(seconds=97 * n, microseconds=n) for n in range(4 * 24 * 3600 // 97)]
    moments.append(dt.datetime(2026, 3, 28, 1, 0, 30, tzinfo=dt.UTC))  # out of order: right, only slower
    for moment in moments:
        local = moment.astimezone(tz)
        stored = moment.replace(tzinfo=None).isoformat(" ", "microseconds")  # as the column holds it
        assert clock.iso(stored) == local.isoformat(timespec="seconds"), moment
        assert clock.day == local.date()


def test_a_sheet_that_would_pass_excels_row_limit_goes_on_in_another() -> None:
    spool = io.BytesIO()
    chunks = [[(n, f"<{n}> & “{n}”", dt.date(2026, 11, 16)) for n in range(k, k + 4)] for k in (0, 4)]
    written = xlsx.write(
        spool, sheet="enquiries", header=["n", "text", "day"], kinds=["int", "text", "date"], chunks=chunks, max_rows=4
    )
    assert written == 8
    workbook = openpyxl.load_workbook(spool, read_only=True)
    assert workbook.sheetnames == ["enquiries", "enquiries 2", "enquiries 3"]
    sheets = [[list(r) for r in workbook[name].iter_rows(values_only=True)] for name in workbook.sheetnames]
    assert all(sheet[0] == ["n", "text", "day"] for sheet in sheets)
    assert [row[0] for sheet in sheets for row in sheet[1:]] == list(range(8))
    assert sheets[0][1] == [0, "<0> & “0”", excel_date(2026, 11, 16)]


def test_times_are_local_on_both_sides_of_a_dst_change(client: TestClient, token: str, db: Database) -> None:
    """Oslo leaves summer time at 01:00 UTC on 25 October 2026: 02:59:59+02:00, then 02:00:00+01:00."""
    autumn = make_launch(db, slug="autumn", starts_on=dt.date(2026, 10, 20), ends_on=dt.date(2026, 10, 30))
    change = dt.datetime(2026, 10, 25, 1, 0, tzinfo=dt.UTC)
    moments = [change + dt.timedelta(seconds=s) for s in (-3600 * 23, -61, -1, 0, 59, 60, 3600 * 23)]
    for moment in moments:
        log(db, autumn, "a", at=moment + dt.timedelta(microseconds=999_999))
    found = csv_rows(export(client, token, "format=csv&what=enquiries", slug="autumn"))[1:]
    assert [(r[1], r[2]) for r in found] == [
        ("2026-10-24T04:00:00+02:00", "2026-10-24"),
        ("2026-10-25T02:58:59+02:00", "2026-10-25"),
        ("2026-10-25T02:59:59+02:00", "2026-10-25"),
        ("2026-10-25T02:00:00+01:00", "2026-10-25"),
        ("2026-10-25T02:00:59+01:00", "2026-10-25"),
        ("2026-10-25T02:01:00+01:00", "2026-10-25"),
        ("2026-10-26T01:00:00+01:00", "2026-10-26"),
    ]
    assert [dt.datetime.fromisoformat(r[1]) for r in found] == [m.replace(microsecond=0) for m in moments]


def test_the_workbook_shows_each_time_with_its_offset_as_the_csv_does(
    client: TestClient, token: str, db: Database
) -> None:
    """Excel has no time zones: the cell is the wall time, and its format writes the offset. Without it the
    two 02:30 of the night Oslo's clocks go back were the same on the sheet."""
    autumn = make_launch(db, slug="autumn", starts_on=dt.date(2026, 10, 20), ends_on=dt.date(2026, 10, 30))
    for at in ("2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00", "2026-10-26T08:00:07+00:00"):
        log(db, autumn, "a", at=dt.datetime.fromisoformat(at))
    from_csv = [row[1] for row in csv_rows(export(client, token, "format=csv&what=enquiries", slug="autumn"))[1:]]
    response = export(client, token, "format=xlsx&what=enquiries", slug="autumn")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["enquiries"]
    cells = [row[1] for row in sheet.iter_rows(min_row=2)]
    assert all(isinstance(cell.value, dt.datetime) for cell in cells), "still a time Excel sorts and filters as one"
    shown = [cast(dt.datetime, cell.value).isoformat() + cell.number_format.split('"')[1] for cell in cells]
    assert shown == from_csv == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00", "2026-10-26T09:00:07+01:00"]


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_a_download_given_up_half_way_leaves_the_database_as_it_was(
    db: Database, launch: Launch, monkeypatch: pytest.MonkeyPatch, format: str
) -> None:
    """A client that goes away stops the iterator: its cursor and session must close cleanly."""
    monkeypatch.setattr(rows, "CHUNK", 2)
    for n in range(7):
        log(db, launch, "send-money", at=MONDAY + dt.timedelta(minutes=n))
    selection = ranges.select(launch, now=DURING_LAUNCH, range_name="launch")
    whole = exports.Export(selection, "enquiries", "csv")
    for _ in range(12):  # more than the pool's connections, were any of them left in a bad state
        export = exports.Export(selection, "enquiries", format)  # type: ignore[arg-type]
        pieces = exports.stream(export, db=db, now=DURING_LAUNCH)
        next(pieces)
        pieces.close()
    text = b"".join(exports.stream(whole, db=db, now=DURING_LAUNCH)).decode("utf-8-sig")
    assert len(text.splitlines()) == 8
