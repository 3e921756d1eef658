"""Hypothesis set files: validation with file/line/field, idempotent all-or-nothing import, round trip."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import sqlalchemy as sa
import time_machine
from sqlmodel import select
from typer.testing import CliRunner

from app import hypothesis_sets, launches
from app.cli import cli
from app.config import Settings
from app.db import Database
from app.errors import Invalid
from app.hypothesis_sets import InvalidFiles, import_launch, validate_files
from app.models import AuditEvent, HypothesisRevision, HypothesisStatus, Launch, LaunchStatus
from app.tallies import tally
from tests.factories import log
from tests.helpers import changed_tables, snapshot
from tests.test_cli_newcomers import shown

ROOT = Path(__file__).resolve().parent.parent
HYPOTHESES = ROOT / "hypotheses"
NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)

MINIMAL = """\
slug: app-launch
name: App launch
starts_on: 2026-11-16
hypotheses:
  - key: login-loop
    text: Login loops after the update
  - key: button-gone
    text: Can't find the send button
"""


def write(tmp_path: Path, text: str, name: str = "launch.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def do_import(
    db: Database, settings: Settings, *paths: Path, actor: str = "test"
) -> list[hypothesis_sets.LaunchChanges]:
    specs = validate_files(paths)
    with db.transaction() as session:
        return [
            import_launch(
                session,
                spec,
                actor=actor,
                now=NOW,
                default_timezone=settings.timezone,
                default_digest_times=settings.digest_times,
            )
            for spec in specs
        ]


def state(db: Database, slug: str) -> dict[str, object]:
    with db.session() as session:
        launch = launches.get_by_slug(session, slug)
        # Not in files: ids, times and the edit counters (a re-import starts them again).
        data = launch.model_dump(
            exclude={"id", "created_at", "updated_at", "digests_due_from", "live_since", "version"}
        )
        data["hypotheses"] = [
            h.model_dump(exclude={"id", "launch_id", "created_at", "updated_at", "version"})
            for h in launches.hypotheses_of(session, launch)
        ]
        return data


def test_every_problem_of_a_file_is_told_at_once() -> None:
    """A bad time zone, the dates the wrong way round and a key used twice used to come one per run."""
    parsed = hypothesis_sets.parse_text(
        "slug: ok\nname: x\nstarts_on: 2026-11-16\nends_on: 2026-11-10\ntimezone: Mars/Olympus\n"
        "hypotheses:\n  - key: a\n    text: A\n  - key: a\n    text: B\n",
        path="t.yaml",
    )
    assert parsed.launch is None
    assert [(p.line, p.field) for p in parsed.problems] == [
        (4, "ends_on"),
        (5, "timezone"),
        (9, "hypotheses[1].key"),
    ]


# --- the files we ship are valid ------------------------------------------------------


def test_every_shipped_file_validates() -> None:
    specs = validate_files([HYPOTHESES])
    assert specs, "hypotheses/ should hold at least the example launch"
    example = next(s for s in specs if s.slug == "payapp-5-redesign")
    assert 10 <= len(example.hypotheses) <= 15


def test_shipped_json_schema_is_current() -> None:
    shipped = json.loads((HYPOTHESES / "schema.json").read_text(encoding="utf-8"))
    assert shipped == hypothesis_sets.json_schema(), "run: tally hypotheses schema > hypotheses/schema.json"


def test_the_shipped_schema_takes_what_validate_takes(db: Database, settings: Settings, tmp_path: Path) -> None:
    """An editor checking a file against hypotheses/schema.json (yaml-language-server) must not mark as wrong
    what validate and the import take: `area:` with nothing after it, as the README writes it, nor an export."""
    schema = jsonschema_rs.validator_for(json.loads((HYPOTHESES / "schema.json").read_text(encoding="utf-8")))
    empty = MINIMAL.replace("name: App launch\n", "name: App launch\nproduct_area:\nslack_channel: null\n").replace(
        "    text: Login loops after the update\n",
        "    text: Login loops after the update\n    area:\n    owner_team:\n",
    )
    assert hypothesis_sets.parse_text(empty).problems == []
    assert [e.message for e in schema.iter_errors(hypothesis_sets._read_yaml(empty)[1])] == []
    do_import(db, settings, write(tmp_path, empty))
    with db.session() as session:
        exported = hypothesis_sets.export_launch(session, launches.get_by_slug(session, "app-launch"))
    assert [e.message for e in schema.iter_errors(hypothesis_sets._read_yaml(exported)[1])] == []


def test_a_key_or_segment_with_norwegian_letters_is_told_which_letters_are_not_taken() -> None:
    """'næring' is lower-case letters: told to use those, a Norwegian lead had nothing to change."""
    parsed = hypothesis_sets.parse_text(
        "slug: nb\nname: Lansering\nstarts_on: 2026-11-16\nsegments: [privat, næring]\n"
        "hypotheses:\n  - key: får-ikke-logget-inn\n    text: Får ikke logget inn\n",
        path="nb.yaml",
    )
    assert [str(p) for p in parsed.problems] == [
        "nb.yaml:4: segments[1]: 'næring' does not fit: use only the letters a to z (not æ), digits and dashes",
        "nb.yaml:6: hypotheses[0].key: 'får-ikke-logget-inn' does not fit: use only the letters a to z (not å), "
        "digits and dashes",
    ]


def test_a_slug_key_or_channel_too_long_is_told_its_length_not_letters_it_already_uses() -> None:
    key = "cant-find-the-new-send-money-button-on-the-front-page-after-the-update"  # 70 characters
    parsed = hypothesis_sets.parse_text(
        f"slug: {'p' * 65}\nname: Launch\nstarts_on: 2026-11-16\nchannels: [phone, {'c' * 33}]\n"
        f"hypotheses:\n  - key: {key}\n    text: Can't find the new send-money button\n",
        path="long.yaml",
    )
    assert [str(p) for p in parsed.problems] == [
        "long.yaml:1: slug: is too long: at most 64 characters",
        "long.yaml:4: channels[1]: is too long: at most 32 characters",
        "long.yaml:6: hypotheses[0].key: is too long: at most 64 characters",
    ]


def test_readme_documents_every_field() -> None:
    readme = (HYPOTHESES / "README.md").read_text(encoding="utf-8")
    fields = set(hypothesis_sets.LaunchFile.model_fields) | set(hypothesis_sets.HypothesisSpec.model_fields)
    missing = sorted(f for f in fields if f"`{f}`" not in readme)
    assert missing == [], f"hypotheses/README.md does not document {missing}"


# --- validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("slug: Bad Slug\nname: x\nstarts_on: 2026-11-16\n", 1, "slug", "does not fit"),
        ("slug: ok\nstarts_on: 2026-11-16\n", 1, "name", "required field is missing"),
        ("slug: ok\nname: x\nstarts_on: 2026-13-01\n", 3, "starts_on", "date"),
        (
            "slug: ok\nname: x\nstarts_on: 2026-11-16\nends_on: 2026-11-01\n",
            4,
            "ends_on",
            "is before the release day, 2026-11-16",
        ),
        ("slug: ok\nname: x\nstarts_on: 2026-11-16\ntimezone: Mars/Olympus\n", 4, "timezone", "IANA"),
        ("slug: ok\nname: x\nstarts_on: 2026-11-16\ndigest_times: [900]\n", 4, "digest_times", "quotes"),
        ("slug: ok\nname: x\nstarts_on: 2026-11-16\ndigest_times: []\n", 4, "digest_times", "at least one"),
        ("slug: ok\nname: x\nstarts_on: 2026-11-16\ndigest_times: ['25:00']\n", 4, "digest_times", "HH:MM"),
        ("slug: ok\nname: x\nstarts_on: 2026-11-16\nchannels: [phone, phone]\n", 4, "channels", "listed twice"),
        (
            "slug: ok\nname: x\nstarts_on: 2026-11-16\nsegments: [private, unspecified]\n",
            4,
            "segments",
            "stands for enquiries with no segment",
        ),
        ("slug: ok\nname: x\nstarts_on: 2026-11-16\ncolour: red\n", 4, "colour", "unknown field"),
        (
            "slug: ok\nname: x\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: A\n  - key: b\n",
            7,
            "hypotheses[1].text",
            "required field is missing",
        ),
        (
            "slug: ok\nname: x\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: A\n  - key: a\n    text: B\n",
            7,
            "hypotheses[1].key",
            "used twice",
        ),
        (
            "slug: ok\nname: x\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: A\n"
            "    expected_per_day: -3\n",
            7,
            "hypotheses[0].expected_per_day",
            "-3 is too small: at least 0",
        ),
        (
            "slug: ok\nname: x\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: A\n    status: done\n",
            7,
            "hypotheses[0].status",
            "open",
        ),
        # A year typed wrong made a launch of years: its pages took most of a minute to count.
        (
            "slug: ok\nname: x\nstarts_on: 2025-11-16\nends_on: 2026-12-07\n",
            4,
            "ends_on",
            "the launch would run 387 days, from 2025-11-16 to 2026-12-07: at most 366 (check the years)",
        ),
        (
            "slug: ok\nname: x\nstarts_on: 2026-11-16\nalerts:\n  factor: tre\n",
            5,
            "alerts.factor",
            "'tre' is not a number",
        ),
        ("slug: ok\nname: [unclosed\n", 2, "", "in brackets is not closed"),  # where it opens, not the end
        ("- just\n- a list\n", 1, "", "expected a mapping"),
    ],
)
def test_problems_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidFiles) as caught:
        validate_files([path])
    problem = caught.value.problems[0]
    assert (problem.path, problem.line, problem.field) == (str(path), line, field), str(caught.value)
    assert message in problem.message
    assert str(problem).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(
    ("name", "text", "told"),
    [
        ('"   "', "Login loops", [(2, "name", "is empty: write something here")]),
        ('"\\u200b"', "Login loops", [(2, "name", "has only invisible characters")]),
        ("App", '"\\u200b"', [(6, "hypotheses[0].text", "has only invisible characters")]),
        ("App", '"\\u2060\\u00a0\\u3164\\ufeff"', [(6, "hypotheses[0].text", "has only invisible characters")]),
        ('"\\u2800"', '"\\u200d "', [(2, "name", "invisible"), (6, "hypotheses[0].text", "invisible")]),
    ],
)
def test_a_blank_or_invisible_name_or_text_is_refused(name: str, text: str, told: list[tuple[int, str, str]]) -> None:
    """`name: "   "` and `text: "\\u200b"` were imported: a launch without a name, and a checklist button
    agents could not see, where the editor refused a blank name."""
    parsed = hypothesis_sets.parse_text(
        f"slug: ok\nname: {name}\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: {text}\n", path="f.yaml"
    )
    assert parsed.launch is None
    assert [(p.line, p.field) for p in parsed.problems] == [(line, field) for line, field, _ in told]
    for problem, (_, _, message) in zip(parsed.problems, told, strict=True):
        assert message in problem.message
    ok = hypothesis_sets.parse_text(
        'slug: ok\nname: " App\\u200b "\nstarts_on: 2026-11-16\nhypotheses:\n  - {key: a, text: "\\u00a0x"}\n'
    ).launch
    assert ok is not None and ok.name == "App\u200b" and ok.hypotheses[0].text == "x"


def test_yaml_11_surprises_are_avoided(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "  - key: no\n    text: no\n" + "digest_times: [08:30, 13:00]\n",
    )
    spec = validate_files([path])[0]
    assert spec.hypotheses[-1].key == "no" and spec.hypotheses[-1].text == "no"  # not False
    assert spec.digest_times == ["08:30", "13:00"]


def test_same_slug_in_two_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "one.yaml")
    write(tmp_path, MINIMAL, "two.yaml")
    with pytest.raises(InvalidFiles, match="also defined in"):
        validate_files([tmp_path])


def test_cli_validate_exit_codes_and_lines(tmp_path: Path) -> None:
    good = write(tmp_path, MINIMAL, "good.yaml")
    bad = write(tmp_path, "slug: ok\nname: x\nstarts_on: nope\nhypotheses: []\n", "bad.yaml")
    runner = CliRunner()
    ok = runner.invoke(cli, ["hypotheses", "validate", str(good)])
    assert ok.exit_code == 0 and "ok: app-launch (2 hypotheses)" in ok.output
    failed = runner.invoke(cli, ["hypotheses", "validate", str(good), str(bad)])
    assert failed.exit_code == 1
    assert failed.output.strip().splitlines() == [
        f"{bad}:3: starts_on: 'nope' is not a date: write it as YYYY-MM-DD, such as 2026-11-20"
    ]


# --- import ------------------------------------------------------------------------


def test_import_creates_then_changes_nothing_the_second_time(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    [first] = do_import(db, settings, path)
    assert first.created and first.added == ["login-loop", "button-gone"]
    before = state(db, "app-launch")
    with db.session() as session:
        events_before = len(session.exec(select(AuditEvent)).all())
    [second] = do_import(db, settings, path)
    assert not second.changed and second.summary() == "app-launch: unchanged"
    assert state(db, "app-launch") == before
    with db.session() as session:
        assert len(session.exec(select(AuditEvent)).all()) == events_before
    assert before["status"] == LaunchStatus.DRAFT
    assert before["ends_on"] == dt.date(2026, 12, 7)  # three weeks after the start
    assert before["timezone"] == "Europe/Oslo" and before["digest_times"] == ["09:00", "13:00", "16:00"]
    assert before["channels"] == ["phone", "chat", "email", "social"] and before["segments"] == ["private", "business"]


def test_changed_text_becomes_a_revision(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    write(tmp_path, MINIMAL.replace("Login loops after the update", "BankID login loops after the update"))
    [changes] = do_import(db, settings, path, actor="cli:lena")
    assert changes.revised == ["login-loop"]
    with db.session() as session:
        revision = session.exec(select(HypothesisRevision)).one()
    assert revision.old_text == "Login loops after the update"
    assert revision.changed_by == "cli:lena" and revision.changed_at == NOW
    assert state(db, "app-launch")["hypotheses"][0]["text"] == "BankID login loops after the update"  # type: ignore[index]


def test_missing_hypothesis_is_retired_and_keeps_counting(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    with db.session() as session:
        launch = launches.get_by_slug(session, "app-launch")
    at = dt.datetime(2026, 11, 16, 9, 0, tzinfo=dt.UTC)
    log(db, launch, "button-gone", at=at)
    write(tmp_path, MINIMAL.split("  - key: button-gone", maxsplit=1)[0])
    [changes] = do_import(db, settings, path)
    assert changes.retired == ["button-gone"]
    with db.session() as session:
        hypotheses = {h.key: h for h in launches.hypotheses_of(session, launch)}
        assert hypotheses["button-gone"].status == HypothesisStatus.RETIRED
        result = tally(session=session, launch=launch, start=at, end=at + dt.timedelta(hours=1))
    assert result.by_hypothesis[hypotheses["button-gone"].id] == 1  # type: ignore[index]
    # Back in the file: back in use.
    write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    with db.session() as session:
        assert {h.key: h.status for h in launches.hypotheses_of(session, launch)}["button-gone"] == "open"


def test_a_hypothesis_back_in_the_file_comes_back_as_it_was_and_one_brought_back_open_loses_its_fix(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """A file that left a fixed hypothesis out for one import (a bad merge) brought it back "open" with
    its fix's time still set: the pages said "open · Fix: too early to tell". And retired, then set to
    open in the app, it kept its fix's time, where fix shipped → open drops it."""
    path = write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    shipped = dt.datetime(2026, 11, 9, 14, 30, tzinfo=dt.UTC)  # before NOW: a fix time to come is refused

    def edit(key: str, changes: dict[str, Any]) -> None:
        with db.transaction() as session:
            launch = launches.get_by_slug(session, "app-launch")
            hypothesis_sets.update_hypothesis(
                session,
                launch,
                key,
                changes,
                expected_version=None,
                actor="lena",
                now=NOW,
                default_timezone=settings.timezone,
                default_digest_times=settings.digest_times,
            )

    def stored(key: str) -> tuple[str, dt.datetime | None, str | None]:
        with db.session() as session:
            launch = launches.get_by_slug(session, "app-launch")
            hypothesis = {h.key: h for h in launches.hypotheses_of(session, launch)}[key]
            at = hypothesis.fix_shipped_at
            return hypothesis.status, at.replace(tzinfo=dt.UTC) if at and at.tzinfo is None else at, hypothesis.fix_url

    edit(
        "button-gone", {"status": HypothesisStatus.FIX_SHIPPED, "fix_shipped_at": shipped, "fix_url": "https://x.no/1"}
    )
    write(tmp_path, MINIMAL.split("  - key: button-gone", maxsplit=1)[0])
    assert do_import(db, settings, path)[0].retired == ["button-gone"]
    write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    assert stored("button-gone") == (HypothesisStatus.FIX_SHIPPED, shipped, "https://x.no/1")

    edit("button-gone", {"status": HypothesisStatus.RETIRED})
    edit("button-gone", {"status": HypothesisStatus.OPEN})
    assert stored("button-gone")[:2] == (HypothesisStatus.OPEN, None)


def test_a_text_changed_with_a_long_token_name_keeps_its_revision(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """The revision's author was "token:" + a name of up to 100 characters, in a column of 100: a lead
    token with a long name could not change a text (PostgreSQL refused the row)."""
    path = write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    write(tmp_path, MINIMAL.replace("Login loops after the update", "BankID login loops"))
    do_import(db, settings, path, actor="token:" + "t" * 100)
    with db.session() as session:
        revision = session.exec(select(HypothesisRevision)).one()
    assert revision.changed_by == ("token:" + "t" * 100)[:100]


def test_a_hypothesis_retired_in_the_app_stays_retired_when_the_unchanged_file_is_imported_again(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """Only one an import retired for being missing comes back with its key; the product team's
    retire (the API, the editor) survives the lead's next import of the same file."""
    path = write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    with db.transaction() as session:
        launch = launches.get_by_slug(session, "app-launch")
        key = launches.hypotheses_of(session, launch)[0].key
        hypothesis_sets.update_hypothesis(
            session,
            launch,
            key,
            {"status": HypothesisStatus.RETIRED},
            expected_version=None,
            actor="product",
            now=NOW,
            default_timezone=settings.timezone,
            default_digest_times=settings.digest_times,
        )
    [changes] = do_import(db, settings, path)
    assert not changes.changed
    with db.session() as session:
        statuses = {
            h.key: h.status for h in launches.hypotheses_of(session, launches.get_by_slug(session, "app-launch"))
        }
    assert statuses[key] == HypothesisStatus.RETIRED


def test_a_fix_marked_shipped_by_mistake_goes_when_the_status_goes_back(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """The launch page and the digest compare before and after fix_shipped_at: set back to open, the
    hypothesis must not keep a fix that is not there."""
    do_import(db, settings, write(tmp_path, MINIMAL))

    def set_status(status: HypothesisStatus, when: dt.datetime = NOW, **more: Any) -> Any:
        with db.transaction() as session:
            launch = launches.get_by_slug(session, "app-launch")
            key = launches.hypotheses_of(session, launch)[0].key
            return hypothesis_sets.update_hypothesis(
                session,
                launch,
                key,
                {"status": status, **more},
                expected_version=None,
                actor="lead",
                now=when,
                default_timezone=settings.timezone,
                default_digest_times=settings.digest_times,
            )

    assert set_status(HypothesisStatus.FIX_SHIPPED).fix_shipped_at is not None
    assert set_status(HypothesisStatus.OPEN).fix_shipped_at is None
    # A time given with a status that says no fix shipped is refused, not kept (nor dropped unsaid),
    # the stored one too: the editor does not send back a time it showed unchanged.
    shipped = set_status(HypothesisStatus.FIX_SHIPPED).fix_shipped_at
    assert shipped is not None
    with pytest.raises(Invalid) as refused:
        set_status(HypothesisStatus.OPEN, fix_shipped_at=shipped)
    assert refused.value.field is not None and refused.value.field.endswith(".fix_shipped_at")
    assert shipped is not None and set_status(HypothesisStatus.RETIRED).fix_shipped_at == shipped  # history stays


def test_statuses_set_in_the_app_survive_a_file_without_them(db: Database, settings: Settings, tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    with db.transaction() as session:
        launch = launches.get_by_slug(session, "app-launch")
        launch.status = LaunchStatus.LIVE
        launches.hypotheses_of(session, launch)[0].status = HypothesisStatus.FIX_SHIPPED
    [changes] = do_import(db, settings, path)
    assert not changes.changed
    assert state(db, "app-launch")["status"] == "live"


def test_settings_made_in_the_editor_survive_a_file_that_leaves_them_out(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """The team's file has no time zone, digest times, channel or alert rules; a lead set them in
    the editor. Importing the file must not quietly put the defaults back (the channel went to None,
    and the digests with it)."""
    path = write(tmp_path, MINIMAL)
    do_import(db, settings, path)
    with db.transaction() as session:
        launch = launches.get_by_slug(session, "app-launch")
        launch.timezone = "Europe/London"
        launch.digest_times = ["08:30", "15:00"]
        launch.slack_channel = "#payapp-5"
        launch.alert_min_count, launch.alert_factor = 25, 2.0
        launch.channels = ["phone", "chat"]
        first = launches.hypotheses_of(session, launch)[0]
        first.area, first.owner_team, first.expected_per_day = "Payments", "Team Pay", 40
    [changes] = do_import(db, settings, path)
    assert not changes.changed, changes.summary()
    after = state(db, "app-launch")
    assert (after["timezone"], after["digest_times"], after["slack_channel"]) == (
        "Europe/London",
        ["08:30", "15:00"],
        "#payapp-5",
    )
    assert (after["alert_min_count"], after["alert_factor"], after["channels"]) == (25, 2.0, ["phone", "chat"])
    hypothesis = after["hypotheses"][0]  # type: ignore[index]
    assert (hypothesis["area"], hypothesis["owner_team"], hypothesis["expected_per_day"]) == (
        "Payments",
        "Team Pay",
        40,
    )
    # Written out in the file, even empty, a field is the file's.
    explicit = MINIMAL.replace(
        "starts_on: 2026-11-16\n", "starts_on: 2026-11-16\nslack_channel: null\ntimezone: Europe/Oslo\n"
    )
    explicit = explicit.replace(
        "    text: Login loops after the update\n", "    text: Login loops after the update\n    area: ''\n"
    )
    [changes] = do_import(db, settings, write(tmp_path, explicit))
    assert set(changes.launch_fields) == {"timezone", "slack_channel"} and changes.updated == ["login-loop"]
    after = state(db, "app-launch")
    assert (after["timezone"], after["slack_channel"], after["hypotheses"][0]["area"]) == ("Europe/Oslo", None, "")  # type: ignore[index]


def test_an_older_export_imported_back_undoes_what_the_editor_changed_since(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """An export says what was empty (slack_channel: null, area: ''), so importing it undoes edits made
    since; a start moved by a file without a last day keeps the launch's length."""
    do_import(db, settings, write(tmp_path, MINIMAL))
    with db.session() as session:
        exported = hypothesis_sets.export_launch(session, launches.get_by_slug(session, "app-launch"))
    before = state(db, "app-launch")
    with db.transaction() as session:
        launch = launches.get_by_slug(session, "app-launch")
        launch.slack_channel, launch.product_area = "#pay", "Payments"
        first = launches.hypotheses_of(session, launch)[0]
        first.area, first.owner_team, first.expected_per_day = "Payments", "Team Pay", 40
    [changes] = do_import(db, settings, write(tmp_path, exported, "old.yaml"))
    assert set(changes.launch_fields) == {"slack_channel", "product_area"} and changes.updated == ["login-loop"]
    assert state(db, "app-launch") == before
    # The release slips a month: starts_on moved in a file that never had an ends_on.
    [changes] = do_import(db, settings, write(tmp_path, MINIMAL.replace("2026-11-16", "2026-12-16")))
    after = state(db, "app-launch")
    assert (after["starts_on"], after["ends_on"]) == (dt.date(2026, 12, 16), dt.date(2027, 1, 6))
    with db.session() as session:  # and the launch can still be exported and edited
        assert "ends_on: 2027-01-06" in hypothesis_sets.export_launch(
            session, launches.get_by_slug(session, "app-launch")
        )


def test_a_bad_file_imports_nothing(db: Database, tmp_path: Path) -> None:
    good = write(tmp_path, MINIMAL, "good.yaml")
    bad = write(
        tmp_path, MINIMAL.replace("slug: app-launch", "slug: other").replace("key: button-gone", "key: B!"), "bad.yaml"
    )
    result = CliRunner().invoke(cli, ["hypotheses", "import", str(good), str(bad)], env={"TALLY_DATABASE_URL": db.url})
    assert result.exit_code == 1
    assert f"{bad}:7: hypotheses[1].key:" in result.output and "Nothing was imported." in result.output
    with db.session() as session:
        assert session.exec(select(Launch)).all() == []


def test_import_is_one_transaction(db: Database, settings: Settings, tmp_path: Path) -> None:
    # A failure in the database half-way (here: a text too long for the column
    # on a second launch, forced past validation) rolls the first launch back too.
    first = validate_files([write(tmp_path, MINIMAL)])[0]
    second = first.model_copy(update={"slug": "second"})
    second.hypotheses[0].__dict__["text"] = "x" * 600

    def import_both() -> None:
        with db.transaction() as session:
            for spec in (first, second):
                import_launch(
                    session,
                    spec,
                    actor="t",
                    now=NOW,
                    default_timezone="Europe/Oslo",
                    default_digest_times=settings.digest_times,
                )
            if db.is_sqlite:  # SQLite does not enforce VARCHAR lengths: fail by hand
                raise RuntimeError("simulated failure")

    with pytest.raises((RuntimeError, sa.exc.DataError)):
        import_both()
    with db.session() as session:
        assert session.exec(select(Launch)).all() == []


# --- export ------------------------------------------------------------------------


def test_export_imports_back_to_the_same_state(db: Database, settings: Settings, tmp_path: Path) -> None:
    example = HYPOTHESES / "payapp-redesign.yaml"
    do_import(db, settings, example)
    with db.transaction() as session:  # some state only the app sets
        launch = launches.get_by_slug(session, "payapp-5-redesign")
        launch.status = LaunchStatus.LIVE
        shipped = launches.hypotheses_of(session, launch)[2]
        shipped.status = HypothesisStatus.FIX_SHIPPED
        shipped.fix_shipped_at = dt.datetime(2026, 11, 20, 14, 30, tzinfo=dt.UTC)
        shipped.fix_url = "https://example.com/changelog/5.0.1"
    original = state(db, "payapp-5-redesign")
    with db.session() as session:
        exported = hypothesis_sets.export_launch(session, launches.get_by_slug(session, "payapp-5-redesign"))

    with db.transaction() as session:  # start again from nothing
        for model in (AuditEvent, HypothesisRevision):
            for row in session.exec(select(model)):
                session.delete(row)
        session.delete(launches.get_by_slug(session, "payapp-5-redesign"))
    do_import(db, settings, write(tmp_path, exported, "exported.yaml"))
    assert state(db, "payapp-5-redesign") == original
    with db.session() as session:
        again = hypothesis_sets.export_launch(session, launches.get_by_slug(session, "payapp-5-redesign"))
    assert again == exported


def test_a_word_changed_in_a_long_text_is_one_line_changed_in_the_export(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """Reviewed as a diff: every value on one line, as written by hand, however long (exports wrapped at
    100 characters, so an export of a hand-written file moved lines nobody had changed)."""
    words = "Kunden får ikke logget inn med BankID etter oppdateringen og blir sendt tilbake til startsiden"
    long_text = f"{words} hver gang, også etter at appen er installert på nytt: «feil» #{'1' * 300}"
    written = MINIMAL.replace("Login loops after the update", f'"{long_text}"')
    do_import(db, settings, write(tmp_path, written))
    with db.session() as session:
        before = hypothesis_sets.export_launch(session, launches.get_by_slug(session, "app-launch"))
    assert f'    text: "{long_text}"\n' in before
    do_import(db, settings, write(tmp_path, written.replace("Kunden", "Kundene")))
    with db.session() as session:
        after = hypothesis_sets.export_launch(session, launches.get_by_slug(session, "app-launch"))
    changed = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]
    assert len(changed) == 2, changed


def test_a_fix_time_is_exported_as_the_lead_wrote_it_in_the_launchs_time(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """An export of a hand-written file leaves its fix time's line as it was (it wrote it in UTC, quoted:
    a diff in review, and an hour off from the time the lead and the editor go by), and imports back
    unchanged."""
    line = "    fix_shipped_at: 2026-11-20T14:30:00+01:00\n"
    written = MINIMAL.replace("starts_on: 2026-11-16\n", "starts_on: 2026-11-16\ntimezone: Europe/Oslo\n").replace(
        "    text: Login loops after the update\n",
        "    text: Login loops after the update\n    status: fix_shipped\n" + line,
    )
    with time_machine.travel(NOW + dt.timedelta(days=30), tick=False):
        do_import(db, settings, write(tmp_path, written))
        exported = _cli(db, "hypotheses", "export", "app-launch")
        assert line.rstrip("\n") in exported.splitlines()  # the line as written
        assert _import(db, write(tmp_path, exported, "exported.yaml")).strip() == "app-launch: unchanged"


def test_a_full_file_with_a_key_renamed_is_refused_not_made_a_launch_no_import_takes_back(
    db: Database, tmp_path: Path
) -> None:
    """The hypothesis a file leaves out is retired and stays: 500 in the file and one renamed made a launch
    of 501, whose export validate and import refused ("more than 500 hypotheses") and whose every edit in
    the editor was refused."""
    head = "slug: full\nname: Full\nstarts_on: 2026-11-16\nhypotheses:\n"
    rows = [f"  - key: k{i}\n    text: T{i}\n" for i in range(hypothesis_sets.MAX_HYPOTHESES + 1)]
    with time_machine.travel(NOW, tick=False):
        _import(db, write(tmp_path, head + "".join(rows[:-1])))
        before = snapshot(db)
        result = CliRunner().invoke(
            cli,
            ["hypotheses", "import", str(write(tmp_path, head + "".join(rows[1:]), "renamed.yaml"))],
            env={"TALLY_DATABASE_URL": db.url},
        )
    assert result.exit_code == 1, result.output
    assert "full: A launch may have at most 500 hypotheses, retired ones included, and this would make 501." in (
        result.output
    )
    assert "Nothing was imported." in result.output
    assert not changed_tables(before, snapshot(db))
    exported = write(tmp_path, _cli(db, "hypotheses", "export", "full"), "exported.yaml")
    assert _cli(db, "hypotheses", "validate", str(exported)).startswith("ok: full (500 hypotheses)")


WRITTEN_OUT = """\
slug: app-launch
name: App launch
product_area: Mobile app
starts_on: 2026-11-16
ends_on: 2026-12-07
timezone: Europe/Oslo
digest_times: ["09:00", "13:00", "16:00"]
slack_channel: "#launch-app"
channels: [phone, chat, email, social]
segments: [private, business]
status: live
alerts:
  min_count: 10
  factor: 3
hypotheses:
  - key: login-loop
    text: Får ikke logget inn med BankID – «feil» etter oppdateringen
    area: Login
    owner_team: Team Identity
    expected_per_day: 25
    status: fix_shipped
    fix_shipped_at: 2026-11-20T14:30:00+01:00
    fix_url: https://example.com/notes/5.0.1
  - key: button-gone
    text: "Can't find the send button: it moved"
    area: ""
    owner_team: ""
    expected_per_day: null
    status: open
"""


def test_a_file_written_as_the_readme_writes_one_is_exported_as_it_was(db: Database, tmp_path: Path) -> None:
    """The lead exports the launch over the file in the repository after edits in the app, as the guide
    says: a file that writes every field out, as hypotheses/README.md and the example do (list items
    indented, "#…" in double quotes), comes back line for line, so the diff in review is the edits."""
    with time_machine.travel(NOW + dt.timedelta(days=30), tick=False):
        _import(db, write(tmp_path, WRITTEN_OUT))
        exported = _cli(db, "hypotheses", "export", "app-launch")
    assert exported.partition("\n")[2] == WRITTEN_OUT


def test_cli_export_unknown_slug(db: Database) -> None:
    result = CliRunner().invoke(cli, ["hypotheses", "export", "nope"], env={"TALLY_DATABASE_URL": db.url})
    assert result.exit_code == 1 and "No launch with slug 'nope'" in result.output


def _cli(db: Database, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={"TALLY_DATABASE_URL": db.url})
    assert result.exit_code == 0, result.output
    return result.output


def _import(db: Database, path: Path) -> str:
    """What `tally hypotheses import` says of each launch, after the line naming the database."""
    first, _, rest = _cli(db, "hypotheses", "import", str(path)).partition("\n")
    assert first == f"Imported into {shown(db.url)}:"
    return rest


def test_cli_import_twice_days_apart_changes_nothing_and_export_imports_back(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    with time_machine.travel(NOW, tick=False):
        assert "app-launch: created" in _import(db, path)
    before = snapshot(db)
    with time_machine.travel(NOW + dt.timedelta(days=3), tick=False):
        assert _import(db, path).strip() == "app-launch: unchanged"
    assert not changed_tables(before, snapshot(db))  # timestamps and audit trail included

    exported = write(tmp_path, _cli(db, "hypotheses", "export", "app-launch"), "exported.yaml")
    with time_machine.travel(NOW + dt.timedelta(days=4), tick=False):
        assert _import(db, exported).strip() == "app-launch: unchanged"
    assert not changed_tables(before, snapshot(db))


def test_cli_import_dry_run_says_which_edits_made_in_the_app_it_would_undo_and_changes_nothing(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """The file in the repository and the web editor both changed: before a merged pull request is imported,
    the lead sees what the import would do to the launch as it is now, as the web import's confirm page
    shows it, not only afterwards."""
    path = write(tmp_path, MINIMAL)
    with time_machine.travel(NOW, tick=False):
        _import(db, path)
        with db.transaction() as session:  # an edit in the web editor meanwhile
            launch = launches.get_by_slug(session, "app-launch")
            hypothesis_sets.update_hypothesis(
                session,
                launch,
                "login-loop",
                {"text": "Innloggingen går i ring etter oppdateringen"},
                expected_version=None,
                actor="web:lena",
                now=NOW,
                default_timezone=settings.timezone,
                default_digest_times=settings.digest_times,
            )
    before = snapshot(db)
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        first, _, rest = _cli(db, "hypotheses", "import", "--dry-run", str(path)).partition("\n")
    assert first == f"Would import into {shown(db.url)} (--dry-run: nothing was changed):"
    assert rest.strip() == "app-launch: new text: login-loop"
    assert not changed_tables(before, snapshot(db))


ORDERED = "slug: ord-test\nname: Order test\nstarts_on: 2026-12-01\nhypotheses:\n"


def test_rows_shifted_by_a_row_added_or_left_out_are_not_reported_as_moved(db: Database, tmp_path: Path) -> None:
    """Retiring the first hypothesis, or adding one at the top, listed every row after it as updated
    (sort_order), on the command line and the web import's confirm page, and raised their versions: a
    list that hid the one change. A row the file does move is still told."""

    def rows(keys: str, name: str) -> Path:
        return write(tmp_path, ORDERED + "".join(f"  - {{key: {k}, text: {k.upper()}}}\n" for k in keys), name)

    with time_machine.travel(NOW, tick=False):
        _import(db, rows("abcdef", "v1.yaml"))
        versions = {h["key"]: h["version"] for h in _versions(db)}
        assert _import(db, rows("bcdef", "v2.yaml")).strip() == "ord-test: retired: a"
        assert _import(db, rows("xbcdef", "v3.yaml")).strip() == "ord-test: added: x"
        assert {h["key"]: h["version"] for h in _versions(db) if h["key"] in "bcdef"} == {
            k: versions[k] for k in "bcdef"
        }
        assert _import(db, rows("xbdcef", "v4.yaml")).strip() == "ord-test: updated: d (sort_order)"
    exported = _cli(db, "hypotheses", "export", "ord-test")
    assert [line for line in exported.splitlines() if line.startswith("  - key:")] == [
        f"  - key: {k}" for k in "xbdcefa"
    ]


def _versions(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        launch = launches.get_by_slug(session, "ord-test")
        return [{"key": h.key, "version": h.version} for h in launches.hypotheses_of(session, launch)]


def test_a_set_that_retired_a_hypothesis_round_trips_unchanged(db: Database, tmp_path: Path) -> None:
    """A hypothesis retired for being left out kept its place (0), tied with the file's first row: the
    export listed it first, so importing the export, or the same file again, moved every row and
    reported them all as updated, bumping their versions and the audit log each time."""
    v1 = write(
        tmp_path, ORDERED + "  - {key: a, text: Alpha}\n  - {key: b, text: Bravo}\n  - {key: c, text: Charlie}\n"
    )
    v2 = write(
        tmp_path,
        ORDERED + "  - {key: b, text: Bravo}\n  - {key: c, text: Charlie}\n  - {key: d, text: Delta}\n",
        "v2.yaml",
    )
    with time_machine.travel(NOW, tick=False):
        _import(db, v1)
        assert _import(db, v2).strip() == "ord-test: added: d; retired: a"  # b and c did not move
    before = snapshot(db)
    exported = _cli(db, "hypotheses", "export", "ord-test")
    assert [line for line in exported.splitlines() if line.startswith("  - key:")] == [
        "  - key: b",
        "  - key: c",
        "  - key: d",
        "  - key: a",  # after the file's rows
    ]
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        assert _import(db, write(tmp_path, exported, "e.yaml")).strip() == "ord-test: unchanged"
        assert _import(db, v2).strip() == "ord-test: unchanged"
    assert not changed_tables(before, snapshot(db))


def test_rows_left_out_follow_the_files_rows_in_the_order_they_had(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """Stored before the fix: retired rows tied with the file's. The next import puts them after the
    file's rows, as they were ordered, without reporting a change the file did not make."""
    path = write(tmp_path, ORDERED + "".join(f"  - {{key: {k}, text: {k.upper()}}}\n" for k in "abcde"))
    do_import(db, settings, path)
    write(tmp_path, ORDERED + "  - {key: c, text: C}\n  - {key: e, text: E}\n")
    do_import(db, settings, path)
    with db.transaction() as session:  # as the old import left them: each kept its place
        launch = launches.get_by_slug(session, "ord-test")
        for h in launches.hypotheses_of(session, launch):
            h.sort_order = {"a": 0, "b": 1, "c": 0, "d": 3, "e": 1}[h.key]
    [changes] = do_import(db, settings, path)
    assert not changes.changed
    with db.session() as session:
        launch = launches.get_by_slug(session, "ord-test")
        assert [h.key for h in launches.hypotheses_of(session, launch)] == ["c", "e", "a", "b", "d"]


def test_cli_import_is_one_transaction(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two valid files; the database refuses the second launch half-way (simulated):
    # the first launch, already written in the same transaction, is rolled back too.
    first = write(tmp_path, MINIMAL, "first.yaml")
    second = write(tmp_path, MINIMAL.replace("slug: app-launch", "slug: second"), "second.yaml")
    real_import = hypothesis_sets.import_launch

    def refuse_the_second(session: object, spec: hypothesis_sets.LaunchFile, **kw: object) -> object:
        if spec.slug == "second":
            raise sa.exc.OperationalError("INSERT INTO launch", {}, Exception("disk I/O error"))
        return real_import(session, spec, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(hypothesis_sets, "import_launch", refuse_the_second)
    arguments = ["hypotheses", "import", str(first), str(second)]
    result = CliRunner().invoke(cli, arguments, env={"TALLY_DATABASE_URL": db.url})
    assert result.exit_code != 0
    with db.session() as session:
        assert session.exec(select(Launch)).all() == []


def test_on_postgresql_two_leads_saving_at_once_never_overwrite_each_other(db: Database, pg: Any) -> None:
    """Both opened version 1 of hypothesis a. B's request read the rows, then A's save committed, then B
    saved: on PostgreSQL both passed the version check and A's text was lost without a word."""
    from tests.factories import make_launch

    launch = make_launch(db, slug="race", hypotheses=("a", "b"))

    def save(session: Any, text: str, version: int) -> None:
        hypothesis_sets.update_hypothesis(
            session,
            launches.get_by_slug(session, "race"),
            "a",
            {"text": text},
            expected_version=version,
            actor="lead",
            now=dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC),
            default_timezone="Europe/Oslo",
            default_digest_times=[],
        )

    with db.transaction() as b:
        shown = launches.hypotheses_of(b, launches.get_by_slug(b, "race"))  # held, as the editor's route does
        seen = {h.key: h.version for h in shown}
        with db.transaction() as a:
            save(a, "A's wording", seen["a"])
        with pytest.raises(hypothesis_sets.StaleVersion, match="changed by someone else"):
            save(b, "B's wording", seen["a"])
    with db.session() as session:
        [stored] = [h for h in launches.hypotheses_of(session, launch) if h.key == "a"]
    assert stored.text == "A's wording" and stored.version == seen["a"] + 1


def test_cli_import_that_moves_the_dates_past_logged_enquiries_says_how_many_count_nowhere(
    db: Database, tmp_path: Path
) -> None:
    """The release slipped: the file's new release day took three enquiries out of every count, and the
    import printed "launch fields changed: starts_on" only."""
    path = write(tmp_path, MINIMAL)
    with time_machine.travel(NOW, tick=False):
        _import(db, path)
    with db.session() as session:
        launch = launches.get_by_slug(session, "app-launch")
    for day in (16, 16, 17, 18):
        log(db, launch, "login-loop", at=dt.datetime(2026, 11, day, 10, 0, tzinfo=dt.UTC))
    with time_machine.travel(NOW, tick=False):
        moved = _import(db, write(tmp_path, MINIMAL.replace("11-16", "11-18")))
        assert "app-launch: launch fields changed: starts_on, ends_on" in moved
        assert "3 enquiries already logged fall outside the launch's new dates" in moved, moved
        back = _import(db, path)
    assert "outside" not in back, back
    # Any other change says nothing of it.
    with time_machine.travel(NOW, tick=False):
        renamed = _import(db, write(tmp_path, MINIMAL.replace("App launch", "App")))
    assert "outside" not in renamed


def test_a_file_gives_a_fix_time_only_with_a_status_that_says_a_fix_shipped(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """`status: not_seen` with a fix_shipped_at validated, imported, and the digest listed the fix as shipped."""
    with_time = MINIMAL.replace(
        "text: Can't find the send button\n",
        "text: Can't find the send button\n    status: not_seen\n    fix_shipped_at: 2026-11-20T14:30:00+01:00\n",
    )
    with pytest.raises(InvalidFiles) as refused:
        validate_files([write(tmp_path, with_time)])
    [problem] = refused.value.problems
    assert (problem.line, problem.field) == (10, "hypotheses[1].fix_shipped_at")
    assert "set the status to fix shipped to record when it shipped" in problem.message
    for status in ("fix_shipped", "resolved", "retired"):
        assert validate_files([write(tmp_path, with_time.replace("not_seen", status))])

    # With the status left out, the stored one decides: open, so the import is refused, whole.
    do_import(db, settings, write(tmp_path, MINIMAL))
    before = state(db, "app-launch")
    result = CliRunner().invoke(
        cli,
        ["hypotheses", "import", str(write(tmp_path, with_time.replace("    status: not_seen\n", "")))],
        env={"TALLY_DATABASE_URL": db.url},
    )
    assert result.exit_code == 1
    assert "hypotheses[1].fix_shipped_at (button-gone)" in result.output
    assert "set the status to fix shipped" in result.output and "Nothing was imported." in result.output
    assert state(db, "app-launch") == before
    # A hypothesis the file adds without a status starts open: the same.
    added = with_time.replace("    status: not_seen\n", "").replace("key: button-gone", "key: new-one")
    with pytest.raises(Invalid, match=r"hypotheses\[1\]\.fix_shipped_at \(new-one\)"):
        do_import(db, settings, write(tmp_path, added))


def test_a_launch_name_with_a_line_break_is_one_line() -> None:
    """A browser drops a line break from the launch form's one-line fields: "PayApp 5\\nnew look" from a
    file became "PayApp 5new look" at the next save of the form, unseen."""
    parsed = hypothesis_sets.parse_text(
        'slug: ok\nname: "PayApp 5\\nnew  look"\nproduct_area: "Pay\\r\\nments\\t "\nstarts_on: 2026-11-16\n'
    )
    assert parsed.launch is not None, parsed.problems
    assert (parsed.launch.name, parsed.launch.product_area) == ("PayApp 5 new look", "Pay ments")


SHIPPED = MINIMAL.replace(
    "    text: Login loops after the update\n",
    "    text: Login loops after the update\n    status: fix_shipped\n    fix_shipped_at: 2026-11-20T10:00:00+01:00\n",
)


def test_a_fix_time_to_come_in_a_file_is_refused_at_its_import_not_once_it_has_passed(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """A fix time ahead was taken, and the launch page then showed empty periods around it ("too early to
    tell"). A file is checked at the moment it is imported: reviewed like code the day it was written,
    and imported once its fix has shipped, it is taken."""
    path = write(tmp_path, SHIPPED)
    before = dt.datetime(2026, 11, 19, 12, 0, tzinfo=dt.UTC)
    with pytest.raises(InvalidFiles) as refused:
        validate_files([path], now=before)
    assert str(refused.value) == (
        f"{path}:8: hypotheses[0].fix_shipped_at: 2026-11-20T10:00+01:00 is later than now (2026-11-19T13:00+01:00): "
        "give the time the fix reached customers, once it has"
    )
    skew = dt.datetime(2026, 11, 20, 8, 57, tzinfo=dt.UTC)  # 3 minutes early: a clock apart
    assert validate_files([path], now=skew)[0].hypotheses[0].fix_shipped_at is not None
    assert validate_files([path], now=dt.datetime(2026, 11, 21, tzinfo=dt.UTC))
    with time_machine.travel(before, tick=False):
        result = CliRunner().invoke(cli, ["hypotheses", "import", str(path)], env={"TALLY_DATABASE_URL": db.url})
        assert (
            result.exit_code == 1 and "is later than now" in result.output and "Nothing was imported." in result.output
        )
        checked = CliRunner().invoke(cli, ["hypotheses", "validate", str(path)])
        assert checked.exit_code == 1 and "hypotheses[0].fix_shipped_at" in checked.output
    with time_machine.travel(dt.datetime(2026, 11, 21, tzinfo=dt.UTC), tick=False):
        result = CliRunner().invoke(cli, ["hypotheses", "import", str(path)], env={"TALLY_DATABASE_URL": db.url})
        assert result.exit_code == 0, result.output


def test_an_edit_refuses_a_fix_time_to_come_but_not_for_a_time_it_leaves_as_it_is(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    do_import(db, settings, write(tmp_path, MINIMAL))

    def edit(key: str, **changes: Any) -> Any:
        with db.transaction() as session:
            return hypothesis_sets.update_hypothesis(
                session,
                launches.get_by_slug(session, "app-launch"),
                key,
                changes,
                expected_version=None,
                actor="lead",
                now=NOW,
                default_timezone=settings.timezone,
                default_digest_times=settings.digest_times,
            )

    ahead = NOW + dt.timedelta(days=7)
    with pytest.raises(Invalid) as refused:
        edit("login-loop", status=HypothesisStatus.FIX_SHIPPED, fix_shipped_at=ahead)
    assert refused.value.field == "hypotheses[0].fix_shipped_at" and "later than now" in refused.value.message
    # One stored ahead before times were checked: other edits of the set go on.
    with db.transaction() as session:
        stored = launches.hypotheses_of(session, launches.get_by_slug(session, "app-launch"))[0]
        stored.status, stored.fix_shipped_at = HypothesisStatus.FIX_SHIPPED, ahead
    assert edit("button-gone", owner_team="Pay").owner_team == "Pay"
    assert edit("login-loop", fix_shipped_at=NOW - dt.timedelta(hours=1)).fix_shipped_at == NOW - dt.timedelta(hours=1)


def test_cli_import_reports_what_changed_with_a_new_text_and_a_status_retiring_one(
    db: Database, tmp_path: Path
) -> None:
    """A new text hid every other change of its hypothesis: "new text: login-loop" was all the report
    said of a file that also gave it an owner, and retired it."""
    with time_machine.travel(NOW, tick=False):
        _import(db, write(tmp_path, MINIMAL))
        edited = MINIMAL.replace(
            "    text: Login loops after the update\n",
            "    text: Login loops after the 5.1 update\n    owner_team: Auth\n    status: retired\n",
        ).replace(
            "    text: Can't find the send button\n", "    text: Can't find the send button\n    owner_team: Chat\n"
        )
        report = _import(db, write(tmp_path, edited, "edited.yaml")).strip()
    assert report == (
        "app-launch: new text: login-loop; updated: login-loop (owner_team, status), button-gone (owner_team);"
        " retired by its status: login-loop"
    )
