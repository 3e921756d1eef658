"""The largest hypothesis set the app takes: its own export imports back, through the web upload, the
import's Apply and the CLI, with nothing changed; and the file-size limit is set by it (MAX_FILE_BYTES).

At 256 KB, 480 hypotheses of long English texts exported a file that neither the upload nor the CLI
took back, and one in Norwegian or with emoji far smaller a set than that. The largest file is built
once for the module: dumping and parsing it take a second or more each."""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlmodel import select
from typer.testing import CliRunner

from app import hypothesis_sets, launches
from app.cli import cli
from app.db import Database
from app.hypothesis_sets import (
    MAX_EXPECTED_PER_DAY,
    MAX_FILE_BYTES,
    MAX_HYPOTHESES,
    MAX_ITEMS,
    AlertRules,
    HypothesisSpec,
    LaunchFile,
    dump_yaml,
    import_launch,
)
from app.models import HypothesisStatus, Launch, LaunchStatus
from tests.conftest import People, WebUser
from tests.helpers import changed_tables, snapshot

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
SLUG = "l" + "-largest" * 7 + "-set-0"  # 64 characters, the longest slug
EMOJI = "😀"  # 4 bytes in UTF-8, as every character beyond the Basic Multilingual Plane


def longest(length: int, start: str = "") -> str:
    """A text of ``length`` characters: ``start``, then 4-byte characters, with no space to fold a line at."""
    return (start + EMOJI * length)[:length]


def largest_set(start: str = "") -> LaunchFile:
    """Every list at its longest, every field at its largest, every text in 4-byte characters after ``start``."""
    shipped = dt.datetime(2026, 11, 20, 14, 30, 59, 999_999, tzinfo=dt.UTC)
    return LaunchFile(
        slug=SLUG,
        name=longest(200, start),
        product_area=longest(200, start),
        starts_on=dt.date(2026, 11, 16),
        ends_on=dt.date(2027, 11, 16),
        timezone="America/Argentina/ComodRivadavia",  # the longest name of a zone
        digest_times=[f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(MAX_ITEMS)],
        slack_channel="#" + "c" * 80,
        channels=[f"channel-{i:03d}-".ljust(32, "x") for i in range(MAX_ITEMS)],
        segments=[f"segment-{i:03d}-".ljust(32, "x") for i in range(MAX_ITEMS)],
        status=LaunchStatus.CLOSED,
        alerts=AlertRules(min_count=MAX_EXPECTED_PER_DAY, factor=999.9999999999999),
        hypotheses=[
            HypothesisSpec(
                key=f"h{i:03d}-".ljust(64, "k"),
                text=longest(500, start),
                area=longest(100, start),
                owner_team=longest(100, start),
                expected_per_day=MAX_EXPECTED_PER_DAY,
                status=HypothesisStatus.FIX_SHIPPED,
                fix_shipped_at=shipped,
                fix_url=longest(500, "https://example.com/fix/"),
            )
            for i in range(MAX_HYPOTHESES)
        ],
    )


@pytest.fixture(scope="module")
def largest() -> LaunchFile:
    """The largest set, its texts in Norwegian letters and emoji."""
    return largest_set("Får ikke logget inn, æøå ÆØÅ ")


def stored(db: Database, spec: LaunchFile) -> None:
    with db.transaction() as session:
        import_launch(
            session, spec, actor="test", now=NOW, default_timezone="Europe/Oslo", default_digest_times=[dt.time(9)]
        )


def utf8_size(text: str) -> int:
    return len(text.encode())


def test_the_limit_is_the_largest_file_the_app_exports() -> None:
    """Every text in 4-byte characters: the most bytes a set the app takes can export to (characters
    YAML writes only as escapes are dropped from texts), with the export's header line."""
    worst = utf8_size(dump_yaml(largest_set())) + 200  # and the export's header line, of ~140 bytes
    assert worst <= MAX_FILE_BYTES, f"the largest set exports {worst} bytes: raise MAX_FILE_BYTES"
    assert worst > 0.95 * MAX_FILE_BYTES, f"the largest set exports {worst} bytes: MAX_FILE_BYTES is far above it"


def test_characters_yaml_writes_only_as_escapes_are_dropped_from_texts() -> None:
    """A byte-order mark is written as \\uFEFF, U+10FFFF as \\U0010FFFF: 10 bytes of file for a character,
    and 500 of them a text made a set export past any limit near its size."""
    spec = HypothesisSpec(
        key="a", text="Log\ufeffin \ufffe\uffff\U0010fffffails", area="\ufeffPay", fix_url="https://x/\ufeff"
    )
    assert (spec.text, spec.area, spec.fix_url) == ("Login fails", "Pay", "https://x/")
    launch = LaunchFile(slug="a", name="\ufeffApp", product_area="\U0010ffff", starts_on=dt.date(2026, 11, 16))
    assert (launch.name, launch.product_area) == ("App", "")
    assert "\\u" not in dump_yaml(launch.model_copy(update={"hypotheses": [spec]}))


@time_machine.travel(NOW, tick=False)
def test_the_largest_set_exported_imports_back_through_the_web_upload(
    db: Database, web: Any, people: People, largest: LaunchFile
) -> None:
    stored(db, largest)
    lena: WebUser = web("lena")
    before = snapshot(db)
    download = lena.get(f"/launches/{SLUG}/export")
    assert download.status_code == 200
    exported = download.content.decode()
    assert exported.endswith(dump_yaml(largest))  # the file the lead downloads is the set as dumped
    assert 2 * 1024 * 1024 < utf8_size(exported) <= MAX_FILE_BYTES
    assert "Får ikke logget inn, æøå ÆØÅ 😀😀" in exported  # as written, not escaped

    answer = lena.post("/launches", files={"file": (f"{SLUG}.yaml", download.content, "application/yaml")})
    assert answer.status_code == 303, html.unescape(answer.text)[:2000]
    assert answer.headers["location"] == f"/launches/{SLUG}/edit?imported=1"  # nothing changed
    assert not changed_tables(before, snapshot(db))


@time_machine.travel(NOW, tick=False)
def test_the_largest_set_changed_is_shown_then_applied_as_the_browser_sends_it_again(
    db: Database, web: Any, people: People, largest: LaunchFile
) -> None:
    """The import's Apply sends the file again from a textarea: as it is (multipart: a form's URL encoding
    made each 4-byte character 12 bytes), every line break as CR LF."""
    stored(db, largest)
    lena: WebUser = web("lena")
    with db.session() as session:
        exported = hypothesis_sets.export_launch(session, launches.get_by_slug(session, SLUG))
    renamed = exported.replace(f"\nname: {largest.name}\n", f"\nname: {longest(200, 'Renamed ')}\n", 1)
    assert renamed != exported
    shown = lena.post("/launches", files={"file": ("renamed.yaml", renamed.encode(), "application/yaml")})
    assert shown.status_code == 200 and 'id="apply-import"' in shown.text, html.unescape(shown.text)[:2000]
    assert 'enctype="multipart/form-data"' in re.findall(r'<form method="post" action="/launches"[^>]*>', shown.text)[0]
    seen = re.search(r'<input type="hidden" name="seen" value="([^"]*)"', shown.text)
    text = re.search(r'<textarea name="file_text" hidden aria-hidden="true">(.*?)</textarea>', shown.text, re.DOTALL)
    assert seen and text and html.unescape(text.group(1)) == renamed
    sent_again = html.unescape(text.group(1)).replace("\n", "\r\n")
    fields = {"filename": "renamed.yaml", "seen": seen.group(1), "file_text": sent_again}
    applied = lena.post("/launches", files={name: (None, value) for name, value in fields.items()})
    assert applied.status_code == 303, html.unescape(applied.text)[:2000]
    assert applied.headers["location"] == f"/launches/{SLUG}/edit?imported=1&launch_fields=name"
    with db.session() as session:
        assert launches.get_by_slug(session, SLUG).name == longest(200, "Renamed ")


@time_machine.travel(NOW, tick=False)
def test_the_largest_set_exported_imports_back_through_the_cli(
    db: Database, tmp_path: Path, largest: LaunchFile
) -> None:
    stored(db, largest)
    before = snapshot(db)
    runner = CliRunner()
    env = {"TALLY_DATABASE_URL": db.url}
    exported = runner.invoke(cli, ["hypotheses", "export", SLUG], env=env)
    assert exported.exit_code == 0, exported.output[:2000]
    assert exported.output.endswith(dump_yaml(largest))
    folder = tmp_path / "hypotheses"  # as a repository keeps them, one file a launch
    folder.mkdir()
    (folder / f"{SLUG}.yaml").write_text(exported.output, encoding="utf-8")
    assert utf8_size(exported.output) > 2 * 1024 * 1024
    imported = runner.invoke(cli, ["hypotheses", "import", str(folder)], env=env)
    assert imported.exit_code == 0, imported.output[:2000]
    assert imported.output.splitlines()[-1] == f"{SLUG}: unchanged"
    assert not changed_tables(before, snapshot(db))


# --- a file over the limit: refused unread, told both sizes ------------------------------

ONE_OVER = MAX_FILE_BYTES + 1
TOLD = f"the file is {MAX_FILE_BYTES // 1024 + 1} KB; a hypothesis file may be at most {MAX_FILE_BYTES // 1024} KB"


def one_byte_over() -> bytes:
    head = b"slug: over\nname: Over\nstarts_on: 2026-11-16\n# "
    return head + b"x" * (ONE_OVER - len(head) - 1) + b"\n"


def never_parsed(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a file over the limit is not parsed")


def test_a_file_a_byte_over_the_limit_is_refused_unread_by_the_upload_and_apply(
    db: Database, web: Any, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    over = one_byte_over()
    assert len(over) == ONE_OVER
    monkeypatch.setattr(hypothesis_sets, "parse_text", never_parsed)
    lena: WebUser = web("lena")
    uploaded = lena.post("/launches", files={"file": ("over.yaml", over, "application/yaml")})
    sent_again = lena.post("/launches", files={"filename": (None, "over.yaml"), "file_text": (None, over)})
    for answer in (uploaded, sent_again):
        assert answer.status_code == 422
        said = html.unescape(answer.text)
        assert f"over.yaml:1: {TOLD}" in said and "Nothing was imported." in said
    with db.session() as session:
        assert session.exec(select(Launch)).all() == []


def test_a_body_past_the_import_limit_is_refused_before_it_is_read(web: Any, people: People) -> None:
    from app.routes.launches import MAX_IMPORT_BODY

    lena: WebUser = web("lena")
    huge = {"file": ("huge.yaml", b"x" * MAX_IMPORT_BODY, "application/yaml")}
    answer = lena.post("/launches", files=huge, headers={"Accept": "application/json"})
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "body_too_large"
    # The page's own form (no JSON asked for) gets the error page, as for its other refusals.
    page = lena.post("/launches", files=huge)
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
    assert "nothing was read" in page.text


def test_a_file_a_byte_over_the_limit_is_refused_unread_by_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "hypotheses"
    folder.mkdir()
    path = folder / "over.yaml"
    path.write_bytes(one_byte_over())
    monkeypatch.setattr(Path, "open", never_parsed)
    monkeypatch.setattr(hypothesis_sets, "parse_text", never_parsed)
    result = CliRunner().invoke(cli, ["hypotheses", "validate", str(folder)])
    assert result.exit_code == 1 and result.output.strip() == f"{path}:1: {TOLD}"
