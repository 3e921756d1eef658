"""The series API and the tally API's filters and range rules, against a small launch counted by hand."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient

from app import api_tokens, hypothesis_sets, launches
from app.config import Settings
from app.db import Database
from app.models import DayTally, Launch, TokenRole
from tests.factories import log, make_launch

OSLO = ZoneInfo("Europe/Oslo")
SLUG = "dst-launch"
# Seen from the afternoon of the last day: the first two days are closed (and come from the
# cache), the last is open (and is counted from the enquiry indexes).
NOW = dt.datetime(2026, 10, 26, 15, 0, tzinfo=OSLO)


def oslo(day: int, hour: int, minute: int = 0, *, fold: int = 0) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=OSLO, fold=fold).astimezone(dt.UTC)


@pytest.fixture(autouse=True)
def at_now() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def launch(db: Database) -> Any:
    """24 to 26 October 2026 in Oslo: summer time ends on the 25th at 03:00 (a 25-hour day)."""
    launch = make_launch(
        db,
        slug=SLUG,
        hypotheses=("a", "b"),
        starts_on=dt.date(2026, 10, 24),
        ends_on=dt.date(2026, 10, 26),
        digest_times=["09:00", "13:00", "16:00"],
    )
    log(db, launch, "a", at=oslo(24, 8, 30))  # before the first digest of the 24th
    log(db, launch, "a", "b", at=oslo(24, 12, 59), channel="chat")
    log(db, launch, at=oslo(24, 23, 59), note="late")  # other
    log(db, launch, "b", at=oslo(25, 2, 30))  # 02:30 summer time
    log(db, launch, "b", at=oslo(25, 2, 30, fold=1), segment=None)  # 02:30 again, winter time
    log(db, launch, "a", at=oslo(25, 16, 0), channel="chat")  # exactly at a digest time: the next slot
    log(db, launch, "a", at=oslo(26, 9, 15))
    log(db, launch, at=oslo(26, 14, 0), channel="email")  # other
    return launch


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def series(client: TestClient, token: str, **params: Any) -> Any:
    response = client.get(f"/api/v1/launches/{SLUG}/series", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    return response.json()


def test_day_buckets_have_the_launch_offset_and_every_day(client: TestClient, token: str, launch: Any) -> None:
    body = series(client, token, bucket="day")
    assert body["launch"] == SLUG and body["bucket"] == "day"
    assert [(b["start"], b["end"]) for b in body["buckets"]] == [
        ("2026-10-24T00:00:00+02:00", "2026-10-25T00:00:00+02:00"),
        ("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"),
        ("2026-10-26T00:00:00+01:00", "2026-10-27T00:00:00+01:00"),
    ]
    assert [(b["total"], b["other"], b["hypotheses"]) for b in body["buckets"]] == [
        (3, 1, {"a": 2, "b": 1}),
        (3, 0, {"a": 1, "b": 2}),
        (2, 1, {"a": 1, "b": 0}),
    ]


def test_hour_buckets_count_the_repeated_hour_of_the_autumn_change_twice(
    client: TestClient, token: str, launch: Any
) -> None:
    body = series(client, token, bucket="hour", **{"from": "2026-10-25", "to": "2026-10-25"})
    buckets = body["buckets"]
    assert len(buckets) == 25  # the day the clocks go back
    starts = [b["start"] for b in buckets]
    assert starts[2:4] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    assert buckets[2]["hypotheses"] == {"a": 0, "b": 1} and buckets[3]["hypotheses"] == {"a": 0, "b": 1}
    assert starts[17] == "2026-10-25T16:00:00+01:00" and buckets[17]["total"] == 1
    assert sum(b["total"] for b in buckets) == 3


def test_hour_buckets_of_the_open_day_come_from_the_enquiries(client: TestClient, token: str, launch: Any) -> None:
    buckets = series(client, token, bucket="hour", **{"from": "2026-10-26", "to": "2026-10-26"})["buckets"]
    assert len(buckets) == 24
    assert {b["start"][11:16]: b["total"] for b in buckets if b["total"]} == {"09:00": 1, "14:00": 1}


def test_slot_buckets_run_from_one_digest_time_to_the_next(client: TestClient, token: str, launch: Any) -> None:
    buckets = series(client, token, bucket="slot", **{"from": "2026-10-24", "to": "2026-10-25"})["buckets"]
    edges = [(b["start"][5:16], b["end"][5:16], b["total"]) for b in buckets]
    assert edges == [
        ("10-24T00:00", "10-24T09:00", 1),
        ("10-24T09:00", "10-24T13:00", 1),
        ("10-24T13:00", "10-24T16:00", 0),
        ("10-24T16:00", "10-25T09:00", 3),  # the evening, the night and the repeated hour
        ("10-25T09:00", "10-25T13:00", 0),
        ("10-25T13:00", "10-25T16:00", 0),
        ("10-25T16:00", "10-26T00:00", 1),  # 16:00 itself belongs to the slot it opens
    ]


def test_filters_narrow_every_bucket(client: TestClient, token: str, launch: Any) -> None:
    chat = series(client, token, bucket="day", channel="chat")["buckets"]
    assert [(b["total"], b["hypotheses"]) for b in chat] == [
        (1, {"a": 1, "b": 1}),
        (1, {"a": 1, "b": 0}),
        (0, {"a": 0, "b": 0}),
    ]
    unspecified = series(client, token, bucket="day", segment="unspecified")["buckets"]
    assert [b["total"] for b in unspecified] == [0, 1, 0]
    both = series(client, token, bucket="day", channel=["chat", "email"], segment="private")["buckets"]
    assert [b["total"] for b in both] == [1, 1, 1]


def test_cached_and_uncached_answers_agree(client: TestClient, token: str, launch: Any, db: Database) -> None:
    first = series(client, token, bucket="hour")
    with db.engine.connect() as connection:
        kept = connection.execute(sa.select(sa.func.count()).select_from(DayTally.__table__)).scalar_one()  # type: ignore[attr-defined]
    assert kept == 2  # the two closed days
    assert series(client, token, bucket="hour") == first
    assert sum(b["total"] for b in first["buckets"]) == 8


def test_a_range_outside_the_launch_is_refused_and_never_computed(
    client: TestClient, token: str, launch: Any, db: Database
) -> None:
    for params in (
        {"bucket": "day", "from": "1700-01-01", "to": "1700-12-31"},
        {"bucket": "hour", "from": "2027-01-01"},
        {"bucket": "day", "from": "0001-01-01", "to": "0001-01-02"},
        {"bucket": "day", "to": "0001-01-01"},
        {"bucket": "day", "from": "9999-12-31"},
        {"bucket": "day", "from": "0001-01-01", "to": "1700-01-01"},
    ):
        response = client.get(f"/api/v1/launches/{SLUG}/series", params=params, headers=auth(token))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "range_out_of_window"
        assert "2026-10-24" in response.json()["error"]["message"]
    for start in ("1700-01-01T00:00:00+00:00", "0001-01-01T00:00:00+01:00"):
        response = client.get(
            f"/api/v1/launches/{SLUG}/tally",
            params={"start": start, "end": "1700-06-01T00:00:00+00:00"},
            headers=auth(token),
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "range_out_of_window"
    with db.engine.connect() as connection:
        kept = connection.execute(sa.select(sa.func.count()).select_from(DayTally.__table__)).scalar_one()  # type: ignore[attr-defined]
    assert kept == 0


@pytest.mark.parametrize(
    "bounds",
    [
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"to": "9999-12-31"},  # its end, the day after, is no date: was a 500, then a 422
        {"from": "0001-01-01"},
        {"from": "0001-01-01T00:00:00+01:00", "to": "9999-12-31T23:59:59-01:00"},  # no time in UTC either
    ],
)
def test_an_open_ended_range_is_the_whole_launch(
    client: TestClient, token: str, launch: Any, web: Callable[[str | None], Any], people: Any, bounds: dict[str, str]
) -> None:
    """0001-01-01 and 9999-12-31, as BI tools and scripts write "from the beginning" and "until further
    notice", were refused as "does not overlap" (range_out_of_window) by /series, the export and the
    surprises, while /tally clipped its window: clipped to the launch now, as any range partly inside is."""
    body = series(client, token, bucket="day", **bounds)
    assert [b["start"][:10] for b in body["buckets"]] == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert sum(b["total"] for b in body["buckets"]) == 8
    exported = client.get(f"/api/v1/launches/{SLUG}/export", params={"what": "daily", **bounds}, headers=auth(token))
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == f'attachment; filename="{SLUG}-daily-2026-10-24-2026-10-26.csv"'
    surprises = client.get(f"/api/v1/launches/{SLUG}/surprises", params=bounds, headers=auth(token))
    assert surprises.status_code == 200, surprises.text
    assert surprises.json()["start"] == "2026-10-23T22:00:00Z" and surprises.json()["notes_total"] == 1  # "late"
    page = web("kari").get(f"/launches/{SLUG}", params={"from": bounds.get("from", ""), "to": bounds.get("to", "")})
    assert page.status_code == 200, page.text[:500]


def test_an_open_ended_bound_keeps_the_range_it_opens(client: TestClient, token: str, launch: Any) -> None:
    """Open on one side only, the range ends (or starts) where the other bound says."""
    first = series(client, token, bucket="day", **{"from": "0001-01-01", "to": "2026-10-24"})["buckets"]
    assert [(b["start"][:10], b["total"]) for b in first] == [("2026-10-24", 3)]
    last = series(client, token, bucket="day", **{"from": "2026-10-26", "to": "9999-12-31"})["buckets"]
    assert [(b["start"][:10], b["total"]) for b in last] == [("2026-10-26", 2)]
    before = client.get(
        f"/api/v1/launches/{SLUG}/series", params={"from": "0001-01-01", "to": "2026-10-01"}, headers=auth(token)
    )
    assert before.status_code == 422 and before.json()["error"]["code"] == "range_out_of_window", before.text


def test_a_range_partly_inside_is_clipped(client: TestClient, token: str, launch: Any, db: Database) -> None:
    buckets = series(client, token, bucket="day", **{"from": "2026-10-01", "to": "2026-10-24"})["buckets"]
    assert [b["start"] for b in buckets] == ["2026-10-24T00:00:00+02:00"]
    response = client.get(
        f"/api/v1/launches/{SLUG}/tally",
        params={"start": "1700-01-01T00:00:00+00:00", "end": "2026-10-25T00:00:00+02:00"},
        headers=auth(token),
    )
    assert response.status_code == 200, response.text
    assert response.json()["start"] == "2026-10-23T22:00:00Z" and response.json()["total"] == 3
    with db.engine.connect() as connection:
        days = connection.execute(sa.select(DayTally.__table__.c.day)).scalars().all()  # type: ignore[attr-defined]
    assert all(dt.date(2026, 10, 24) <= day <= dt.date(2026, 10, 26) for day in days)


def test_the_tally_api_takes_the_same_filters(client: TestClient, token: str, launch: Any) -> None:
    window = {"start": "2026-10-24T00:00:00+02:00", "end": "2026-10-27T00:00:00+01:00"}
    body = client.get(
        f"/api/v1/launches/{SLUG}/tally", params={**window, "channel": "chat"}, headers=auth(token)
    ).json()
    assert body["total"] == 2 and body["hypotheses"] == {"a": 2, "b": 1}
    assert body["channels"]["chat"] == 2 and body["channels"]["phone"] == 0
    response = client.get(f"/api/v1/launches/{SLUG}/tally", params={**window, "channel": "fax"}, headers=auth(token))
    assert response.status_code == 422 and response.json()["error"]["code"] == "unknown_channel"


def test_a_channel_or_segment_taken_off_the_launch_still_filters_its_enquiries(
    client: TestClient,
    token: str,
    launch: Any,
    db: Database,
    settings: Settings,
    web: Callable[[str | None], Any],
    people: Any,
) -> None:
    """A lead imported the launch again without chat and without the private segment: its enquiries are
    still counted, and /tally reports them under chat and private (the drill-down splits by them too), but
    filtering by either was a 422 unknown_channel (unknown_segment) on /tally, /series and the export, and
    the pages' error. A name never used still is."""
    with db.transaction() as session:
        stored = session.get(Launch, launch.id)
        assert stored is not None
        spec = hypothesis_sets.launch_to_file(stored, launches.hypotheses_of(session, stored)).model_copy(
            update={"channels": ["phone", "email", "social"], "segments": ["business"]}
        )
        hypothesis_sets.import_launch(
            session,
            spec,
            actor="lena",
            now=NOW,
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )
    window = {"start": "2026-10-24T00:00:00+02:00", "end": "2026-10-27T00:00:00+01:00"}
    tally = f"/api/v1/launches/{SLUG}/tally"
    whole = client.get(tally, params=window, headers=auth(token)).json()
    assert whole["channels"]["chat"] == 2 and whole["segments"]["private"] == 7  # reported, as before
    chat = client.get(tally, params={**window, "channel": "chat"}, headers=auth(token))
    assert chat.status_code == 200 and chat.json()["total"] == 2, chat.text
    private = client.get(tally, params={**window, "segment": "private"}, headers=auth(token))
    assert private.status_code == 200 and private.json()["total"] == 7, private.text
    assert [b["total"] for b in series(client, token, bucket="day", channel="chat")["buckets"]] == [1, 1, 0]
    assert [b["total"] for b in series(client, token, bucket="day", segment="private")["buckets"]] == [3, 2, 2]
    exported = client.get(
        f"/api/v1/launches/{SLUG}/export", params={"channel": "chat", "segment": "private"}, headers=auth(token)
    )
    assert exported.status_code == 200 and exported.text.count("\n") == 1 + 3, exported.text  # a row per hypothesis
    kari = web("kari")
    assert kari.get(f"/launches/{SLUG}?range=launch&channel=chat&segment=private").status_code == 200
    # The page offers them as chips, after the launch's own and marked so, linking to their filter.
    page = kari.get(f"/launches/{SLUG}?range=launch").text
    assert re.search(
        r'<a class="chip retired" href="/launches/[^"?]+\?range=launch&amp;channel=chat">chat \(retired\)</a>', page
    ), page
    assert re.search(r'class="chip retired" href="[^"]+segment=private">[^<]+ \(retired\)</a>', page), page
    drill_down = kari.get(f"/launches/{SLUG}/hypotheses/a?range=launch&channel=phone").text
    assert re.search(
        r'class="chip retired" href="[^"]+channel=phone&amp;channel=chat">chat \(retired\)</a>', drill_down
    )
    assert kari.get(f"/launches/{SLUG}/hypotheses/a?range=launch&channel=chat").status_code == 200
    for params, code, listed in (
        (
            {"channel": "fax"},
            "unknown_channel",
            "it offers phone, email, social, and its enquiries were also logged with chat",
        ),
        (
            {"segment": "vip"},
            "unknown_segment",
            "it offers business, unspecified, and its enquiries were also logged with private",
        ),
    ):
        for path, query in (
            (tally, window),
            (f"/api/v1/launches/{SLUG}/series", {}),
            (f"/api/v1/launches/{SLUG}/export", {}),
        ):
            refused = client.get(path, params={**query, **params}, headers=auth(token))
            assert refused.status_code == 422, (path, refused.text)
            assert refused.json()["error"]["code"] == code and listed in refused.json()["error"]["message"], (
                refused.text
            )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bucket": "week"}, "bucket"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-10-24T10:00:00"}, "from"),
        ({"from": "2026-10-26", "to": "2026-10-25"}, "to"),
        ({"segment": "vip"}, "segment"),
    ],
)
def test_bad_parameters_say_which_and_how(
    client: TestClient, token: str, launch: Any, params: dict[str, str], field: str
) -> None:
    response = client.get(f"/api/v1/launches/{SLUG}/series", params=params, headers=auth(token))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_filters_narrow_hour_buckets_of_kept_days_too(client: TestClient, token: str, launch: Any) -> None:
    series(client, token, bucket="day")  # the closed days are counted and kept
    chat = series(client, token, bucket="hour", channel="chat", **{"from": "2026-10-24", "to": "2026-10-25"})["buckets"]
    assert {b["start"][5:16]: b["hypotheses"] for b in chat if b["total"]} == {
        "10-24T12:00": {"a": 1, "b": 1},
        "10-25T16:00": {"a": 1, "b": 0},
    }


@pytest.mark.parametrize(
    ("path", "params", "unknown"),
    [
        ("series", {"bucket": "day", "chanel": "chat"}, "chanel"),  # misspelt: answered the unfiltered total
        ("series", {"start": "2026-10-24T00:00:00+02:00", "end": "2026-10-25T00:00:00+02:00"}, "end"),  # /tally's
        ("series", {"range": "today"}, "range"),  # the pages' and the export's
        ("tally", {"start": "2026-10-24T00:00:00+02:00", "end": "2026-10-25T00:00:00+02:00", "segmnt": "x"}, "segmnt"),
        ("surprises", {"range": "7d"}, "range"),
        ("alerts", {"offset": "100"}, "offset"),
        ("export", {"format": "csv", "what": "enquiries", "chanel": "chat"}, "chanel"),
    ],
)
def test_a_query_parameter_a_call_does_not_take_is_refused_not_ignored(
    client: TestClient, token: str, launch: Any, path: str, params: dict[str, str], unknown: str
) -> None:
    """Ignored, a misspelt filter or another call's names answered with numbers that looked filtered."""
    url = f"/api/v1/launches/{SLUG}/{path}"
    response = client.get(url, params=params, headers=auth(token))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["field"] == unknown and repr(unknown) in error["message"]
    assert client.get(url, params=params).status_code == 401  # a stranger is told to sign in, not what is taken
    known = {name: value for name, value in params.items() if name != unknown}
    if path != "series" or "start" not in known:
        assert client.get(url, params=known, headers=auth(token)).status_code == 200


def test_a_tally_window_outside_the_launch_names_start_and_an_unencoded_plus_is_explained(
    client: TestClient, token: str, launch: Any
) -> None:
    """/tally has start and end; its refusal named "from". And 09:00:00+01:00 unencoded in a URL arrives
    as "09:00:00 01:00": pydantic's "unexpected extra characters" said neither the value nor the fix."""
    url = f"/api/v1/launches/{SLUG}/tally"
    outside = client.get(
        url, params={"start": "2020-01-01T00:00:00+01:00", "end": "2020-01-02T00:00:00+01:00"}, headers=auth(token)
    )
    assert outside.status_code == 422 and outside.json()["error"]["field"] == "start"
    plus = client.get(f"{url}?start=2026-10-24T00:00:00+02:00&end=2026-10-25T00:00:00%2B02:00", headers=auth(token))
    error = plus.json()["error"]
    assert plus.status_code == 422 and error["field"] == "start"
    assert "'2026-10-24T00:00:00 02:00'" in error["message"] and "write it as %2B" in error["message"]


def test_a_bucket_says_whether_it_is_over(client: TestClient, token: str, launch: Any) -> None:
    """Seen on the 26th at 15:00, the 26th's bucket held its counts so far, and days to come would be
    zeros looking like days without enquiries: an analyst's average per day fell with every one."""
    days = series(client, token, bucket="day")["buckets"]
    assert [b["complete"] for b in days] == [True, True, False]
    hours = series(client, token, bucket="hour", **{"from": "2026-10-26", "to": "2026-10-26"})["buckets"]
    assert [b["complete"] for b in hours].index(False) == 15  # 15:00 under way, and the hours after it
    assert not any(b["complete"] for b in hours[15:])


@pytest.mark.parametrize(
    ("path", "query", "repeated"),
    [
        ("series", "bucket=hour&bucket=day", "bucket"),  # answered in days, the last one
        ("series", "from=2026-10-24&from=2026-10-25", "from"),
        (
            "tally",
            "start=2026-10-24T00:00:00Z&end=2026-10-25T00:00:00Z&start=2026-10-26T00:00:00Z",
            "start",  # was told "end is before start"
        ),
        ("export", "format=csv&format=xlsx&what=daily", "format"),
        ("alerts", "limit=5&limit=10", "limit"),
    ],
)
def test_a_single_value_parameter_given_twice_is_refused_not_the_last_one_taken(
    client: TestClient, token: str, launch: Any, path: str, query: str, repeated: str
) -> None:
    response = client.get(f"/api/v1/launches/{SLUG}/{path}?{query}", headers=auth(token))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["field"] == repeated, error
    assert f"{repeated} is given 2 times" in error["message"] and error["problems"][0]["field"] == repeated


def test_the_filters_may_be_repeated(client: TestClient, token: str, launch: Any) -> None:
    query = "bucket=day&channel=phone&channel=chat&segment=private&segment=unspecified"
    response = client.get(f"/api/v1/launches/{SLUG}/series?{query}", headers=auth(token))
    assert response.status_code == 200, response.text
    assert sum(b["total"] for b in response.json()["buckets"]) == 7  # all but the e-mail


# --- one reading of a time, in every query and body --------------------------------------------

# 26 October 2026, 10:00 in Oslo (09:00 UTC), as a request may write it.
WRITTEN = [
    "2026-10-26T10:00:00+01:00",
    "2026-10-26T09:00:00Z",
    "2026-10-26T09:00:00z",
    "2026-10-26t09:00Z",
    "2026-10-26 10:00:00+01:00",
    "2026-10-26T10:00+01",
    "2026-10-26T10:00:00.000000000+0100",
    "20261026T100000+0100",
    "20261026T0900Z",
]
NOT_TIMES = [
    "2026-10-26T10:00:00",  # whose 10:00?
    "1792918800",  # a Unix timestamp (pydantic took it for the tally, the series refused it)
    "2026-W44-1T10:00:00Z",  # a week date (fromisoformat took it for the series)
    "2026-10-26T10Z",
    "2026-10-26T10:00:00+01:00:00",
    "2026-10-26T10:00:00.Z",
    "2026-10-26T25:00:00Z",
]
THE_TIME = dt.datetime(2026, 10, 26, 9, 0, tzinfo=dt.UTC)


def lead(db: Database) -> dict[str, str]:
    with db.transaction() as session:
        _, raw = api_tokens.create(session, name="lena's script", now=THE_TIME, actor="test", role=TokenRole.LEAD)
    return auth(raw)


def time_requests(written: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every call that takes a time: (method, path, the query or the JSON body)."""
    base = f"/api/v1/launches/{SLUG}"
    return {
        "tally": ("GET", f"{base}/tally", {"start": written, "end": "2026-10-26T12:00:00+01:00"}),
        "series": ("GET", f"{base}/series", {"bucket": "hour", "from": written, "to": "2026-10-26T12:00:00+01:00"}),
        "export": ("GET", f"{base}/export", {"format": "csv", "what": "daily", "from": written}),
        "surprises": ("GET", f"{base}/surprises", {"from": written}),
        "occurred_at": ("POST", f"{base}/enquiries", {"channel": "phone", "occurred_at": written}),
        "fix_shipped_at": ("PATCH", f"{base}/hypotheses/a", {"status": "fix_shipped", "fix_shipped_at": written}),
    }


def sent(client: TestClient, headers: dict[str, str], method: str, path: str, given: dict[str, Any]) -> Any:
    if method == "GET":
        return client.get(path, params=given, headers=headers)
    return client.request(method, path, json=given, headers=headers)


@pytest.mark.parametrize("written", WRITTEN)
def test_every_call_takes_a_time_in_the_same_forms(
    client: TestClient, token: str, db: Database, launch: Any, written: str
) -> None:
    """`…T09:00:00z` was taken by the tally and refused by the series, `+01` and `20261026T100000+0100`
    the other way round: pydantic read some times, Python's fromisoformat the others."""
    headers = {"fix_shipped_at": lead(db)}
    answers = {
        call: sent(client, headers.get(call, auth(token)), *request) for call, request in time_requests(written).items()
    }
    assert {call: answer.status_code for call, answer in answers.items()} == {
        "tally": 200,
        "series": 200,
        "export": 200,
        "surprises": 200,
        "occurred_at": 201,
        "fix_shipped_at": 200,
    }, {call: answer.text[:200] for call, answer in answers.items()}
    assert dt.datetime.fromisoformat(answers["tally"].json()["start"]) == THE_TIME
    assert answers["series"].json()["buckets"][0]["start"] == "2026-10-26T10:00:00+01:00"
    assert dt.datetime.fromisoformat(answers["surprises"].json()["start"]) == THE_TIME
    assert dt.datetime.fromisoformat(answers["occurred_at"].json()["logged_at"]) == THE_TIME
    assert dt.datetime.fromisoformat(answers["fix_shipped_at"].json()["fix_shipped_at"]) == THE_TIME


@pytest.mark.parametrize("written", NOT_TIMES)
def test_every_call_refuses_the_same_non_times_naming_them(
    client: TestClient, token: str, db: Database, launch: Any, written: str
) -> None:
    headers = {"fix_shipped_at": lead(db)}
    for call, request in time_requests(written).items():
        answer = sent(client, headers.get(call, auth(token)), *request)
        assert answer.status_code == 422, (call, answer.text)
        assert written in answer.json()["error"]["message"], (call, answer.text)


def test_every_query_time_with_an_unencoded_plus_says_to_write_it_as_2b(
    client: TestClient, token: str, launch: Any
) -> None:
    """The tally said so; the series, the export and the surprises said "neither a date … nor an ISO 8601
    time with an offset", which 2026-10-26T10:00:00+01:00 as it was written is."""
    base = f"/api/v1/launches/{SLUG}"
    for url in (
        f"{base}/tally?start=2026-10-26T10:00:00+01:00&end=2026-10-26T12:00:00Z",
        f"{base}/series?from=2026-10-26T10:00:00+01:00",
        f"{base}/export?format=csv&what=daily&from=2026-10-26T10:00:00+01:00",
        f"{base}/surprises?from=2026-10-26T10:00:00+01:00",
        f"{base}/series?from=2026-10-26T10:00:00+0100",
        f"{base}/series?from=2026-10-26 10:00+01",
    ):
        answer = client.get(url, headers=auth(token))
        error = answer.json()["error"]
        assert answer.status_code == 422 and error["field"] in ("start", "from"), (url, answer.text)
        assert "write it as %2B" in error["message"] and " 01" in error["message"], (url, error)


def test_a_launch_set_up_after_it_began_counts_its_hypotheses_from_its_start(
    client: TestClient, token: str, db: Database
) -> None:
    """Set up on its third day with its two hypotheses, its first days backfilled: b read "not counted"
    (null) until its first enquiry, where /tally said 0, as if it had been added then."""
    late = make_launch(
        db, slug="late-launch", hypotheses=("a", "b"), starts_on=dt.date(2026, 10, 24), ends_on=dt.date(2026, 10, 26)
    )
    assert late.created_at == NOW  # set up today, the launch's last day
    log(db, late, "a", at=oslo(24, 10))
    log(db, late, "b", at=oslo(26, 10))
    response = client.get("/api/v1/launches/late-launch/series", params={"bucket": "day"}, headers=auth(token))
    assert response.status_code == 200, response.text
    assert [b["hypotheses"] for b in response.json()["buckets"]] == [
        {"a": 1, "b": 0},
        {"a": 0, "b": 0},
        {"a": 0, "b": 1},
    ]


def test_a_series_too_large_to_send_is_refused_saying_how_to_ask_for_less(
    client: TestClient, token: str, launch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year-long launch of 500 hypotheses by the hour was a 40 MB answer: the cap is on buckets times
    hypotheses (here lowered to 100: 25 buckets of two hypotheses, the total and "other")."""
    from app.routes import api

    monkeypatch.setattr(api, "MAX_SERIES_COUNTS", 100)
    day = series(client, token, bucket="hour", **{"from": "2026-10-25", "to": "2026-10-25"})
    assert len(day["buckets"]) == 25
    whole = client.get(f"/api/v1/launches/{SLUG}/series", params={"bucket": "hour"}, headers=auth(token))
    assert whole.status_code == 422, whole.text
    error = whole.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_range", "bucket")
    assert error["message"] == (
        "bucket=hour over this range gives 73 buckets of 2 hypotheses; at most 25 buckets are sent at once: "
        "ask for a shorter range (from and to) or a longer bucket."
    )
    assert len(series(client, token, bucket="day")["buckets"]) == 3
