"""Hostile hypothesis files (issue 11.8): YAML bombs, duplicate keys, deep nesting, huge files and sets
are refused fast with a file:line: message, by the parser, the CLI and the web upload; the upload parses
off the event loop; and no text at all makes the parser raise."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from typer.testing import CliRunner

from app import hypothesis_sets
from app.cli import cli
from app.db import Database
from app.hypothesis_sets import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_HYPOTHESES,
    MAX_ITEMS,
    MAX_LINES,
    MAX_NODES,
    MAX_PROBLEMS,
    ParsedFile,
    parse_text,
)
from app.i18n import Text
from app.models import Launch
from tests.conftest import People, WebUser

Web = Callable[[str | None], WebUser]

HEAD = "slug: app-launch\nname: App launch\nstarts_on: 2026-11-16\n"

# Billion laughs: 415 bytes that expand to 9**9 strings if aliases are followed.
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)
NO_ANCHORS = "anchors and aliases (&, *) are not allowed in hypothesis files"


def hypotheses(count: int) -> str:
    return "hypotheses:\n" + "".join(f"  - key: h{i}\n    text: Hypothesis {i}\n" for i in range(count))


def problems(text: str) -> list[str]:
    result = parse_text(text, path="f.yaml")
    assert result.launch is None
    return [str(p) for p in result.problems]


# --- the parser ----------------------------------------------------------------------


def test_billion_laughs_is_refused_fast() -> None:
    assert 300 < len(BOMB) < 500
    started = time.perf_counter()
    assert problems(BOMB) == [f"f.yaml:1: {NO_ANCHORS}"]
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (HEAD + "product_area: &area Payments\n", 4),
        (HEAD + "hypotheses:\n  - key: a\n    text: A\n  - key: b\n    text: *x\n", 8),
        (HEAD + "hypotheses:\n  - &one\n    key: a\n    text: A\n  - *one\n", 5),
    ],
)
def test_any_anchor_or_alias_is_refused(text: str, line: int) -> None:
    assert problems(text) == [f"f.yaml:{line}: {NO_ANCHORS}"]


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        (HEAD + "hypotheses:\n  - <<: *base\n    key: a\n", 5, "merge keys (<<:) are not allowed"),
        (HEAD + "hypotheses:\n  - <<: {key: a, text: hi}\n", 5, "merge keys (<<:) are not allowed"),
        # bytes, which went past the check for control characters: a NUL stored (SQLite) or a crash (PostgreSQL)
        ("slug: a\nname: !!binary VGVzdAA=\nstarts_on: 2026-11-16\n", 2, "explicit YAML tags"),
        (HEAD + "hypotheses:\n  - key: a\n    text: !!binary QQBC\n", 6, "explicit YAML tags"),
        (HEAD + "product_area: !!python/name:os.system\n", 4, "explicit YAML tags"),
        (HEAD + "hypotheses:\n  - key: !!str 404\n    text: A\n", 5, "quote a number meant as text"),
    ],
)
def test_merge_keys_and_explicit_tags_are_refused_on_their_line(text: str, line: int, said: str) -> None:
    [problem] = problems(text)
    assert problem.startswith(f"f.yaml:{line}: ") and said in problem


def test_duplicate_keys_are_refused_at_any_level() -> None:
    assert problems("slug: a\nname: A\nslug: b\nstarts_on: 2026-11-16\n") == [
        "f.yaml:3: slug: key given twice (first on line 1)"
    ]
    text = HEAD + "hypotheses:\n  - key: a\n    text: A\n  - key: b\n    text: B\n    text: C\n"
    assert problems(text) == ["f.yaml:9: hypotheses[1].text: key given twice (first on line 8)"]
    # Quoted or not, it is the same key; on one line too.
    assert problems(HEAD + '"name": Other\n') == ["f.yaml:4: name: key given twice (first on line 2)"]
    assert problems("{slug: a, slug: b}") == ["f.yaml:1: slug: key given twice (first on line 1)"]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[" * 10_000, 1),
        ("{" * 10_000, 1),
        ("- " * 10_000 + "x\n", 1),
        ("a:\n" + "".join("  " * depth + f"k{depth}:\n" for depth in range(1, 200)), MAX_DEPTH),
        (HEAD + "hypotheses:\n" + "".join("  " * (d + 1) + "-\n" for d in range(200)), 4 + MAX_DEPTH),
    ],
)
def test_deep_nesting_is_a_line_not_a_recursion_error(text: str, line: int) -> None:
    if len(text.encode()) > MAX_FILE_BYTES:
        text = text[: MAX_FILE_BYTES - 100]
    found = problems(text)
    assert found == [f"f.yaml:{line}: nested too deeply (at most {MAX_DEPTH} levels)"]


def test_a_recursion_error_anywhere_in_parsing_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without the depth limit PyYAML's composer recurses until Python stops it: still a clean problem.
    monkeypatch.setattr(hypothesis_sets, "MAX_DEPTH", 1_000_000)
    assert problems("[" * 10_000 + "]" * 10_000) == ["f.yaml:1: nested too deeply (at most 20 levels)"]


def test_nesting_a_set_needs_is_fine() -> None:
    text = HEAD + hypotheses(1) + "alerts:\n  min_count: 5\n"
    assert parse_text(text).launch is not None


def test_too_many_hypotheses() -> None:
    assert parse_text(HEAD + hypotheses(MAX_HYPOTHESES)).launch is not None
    assert problems(HEAD + hypotheses(MAX_HYPOTHESES + 1)) == [
        f"f.yaml:4: hypotheses: more than {MAX_HYPOTHESES} hypotheses; a file may have at most {MAX_HYPOTHESES}"
    ]


# What the file holds after the point where reading stops: were it read, it would be told (an alias is
# refused wherever it is, and comes first).
AFTER_THE_LIMIT = "tail: *not-read\n"


def test_a_long_list_is_refused_at_its_501st_item_without_reading_on() -> None:
    """255 KB of `{key: a, text: b}` items took seconds to refuse: all 14,500 were scanned and built before
    their number was checked."""
    flow = HEAD + "hypotheses: [" + ",".join(["{key: a, text: b}"] * 14_500) + "]\n" + AFTER_THE_LIMIT
    assert len(flow.encode()) < MAX_FILE_BYTES
    said = f"f.yaml:4: hypotheses: more than {MAX_HYPOTHESES} hypotheses; a file may have at most {MAX_HYPOTHESES}"
    assert problems(flow) == [said]
    assert problems(HEAD + hypotheses(MAX_HYPOTHESES + 1) + AFTER_THE_LIMIT) == [said]
    channels = HEAD + "channels:\n" + "".join(f"  - c{i}\n" for i in range(MAX_ITEMS + 1)) + AFTER_THE_LIMIT
    assert problems(channels) == [
        f"f.yaml:4: channels: more than {MAX_ITEMS} items in one list; a list may have at most {MAX_ITEMS}"
    ]
    nested = HEAD + "hypotheses:\n  - key: a\n    text: [" + ", ".join(["x"] * 600) + "]\n" + AFTER_THE_LIMIT
    assert problems(nested) == [
        f"f.yaml:6: hypotheses[0].text: more than {MAX_ITEMS} items in one list; a list may have at most {MAX_ITEMS}"
    ]


def test_a_file_of_more_values_than_a_set_holds_is_refused_where_it_passes_them() -> None:
    """250 KB of `a: 1` lines was read whole, then told as 49,999 keys given twice."""
    lines = ["slug: a\n"] + [f"k{i}: 1\n" for i in range(MAX_NODES)] + [AFTER_THE_LIMIT]
    line = MAX_NODES // 2  # the file's mapping, then two nodes a line
    assert problems("".join(lines)) == [
        f"f.yaml:{line}: more than {MAX_NODES} fields and values by this line, more than a file of "
        f"{MAX_HYPOTHESES} hypotheses holds: look for lines repeated many times"
    ]
    # A full set, every field of every hypothesis written, is far from it.
    item = (
        "  - key: h{i}\n    text: T\n    area: A\n    owner_team: O\n    expected_per_day: 1\n"
        "    status: fix_shipped\n    fix_shipped_at: 2026-11-20T14:30:00+01:00\n    fix_url: https://example.com\n"
    )
    full = HEAD + "hypotheses:\n" + "".join(item.format(i=i) for i in range(MAX_HYPOTHESES))
    assert parse_text(full).launch is not None


def test_thousands_of_problems_are_told_as_the_first_fifty_and_how_many_more() -> None:
    """Every `a: 1` line of a file of them was a "key given twice": 3.8 MB on the import page."""
    text = "slug: a\n" + "a: 1\n" * 5_001
    found = problems(text)
    assert len(found) == MAX_PROBLEMS + 1
    assert found[0] == "f.yaml:3: a: key given twice (first on line 2)"
    assert found[MAX_PROBLEMS - 1] == f"f.yaml:{MAX_PROBLEMS + 2}: a: key given twice (first on line 2)"
    assert found[-1] == (
        f"f.yaml:{MAX_PROBLEMS + 3}: …and {5_000 - MAX_PROBLEMS} more problems from this line on: "
        "fix those above, then check again"
    )
    # One more than fifty is told, not "and 1 more".
    assert len(problems("slug: a\n" + "a: 1\n" * (MAX_PROBLEMS + 2))) == MAX_PROBLEMS + 1
    # Field problems too: 500 hypotheses of two wrong fields each.
    wrong = HEAD + "hypotheses:\n" + "".join(f"  - key: H{i}\n    text: ''\n" for i in range(MAX_HYPOTHESES))
    assert len(problems(wrong)) == MAX_PROBLEMS + 1


def test_a_file_of_more_lines_than_a_set_needs_is_refused_before_it_is_read() -> None:
    """A line break every few characters was the slowest file of its size to read: 8.5 s at the size limit."""
    valid = HEAD + "# a comment\n" * (MAX_LINES - HEAD.count("\n"))
    assert parse_text(valid).launch is not None
    assert problems(valid + "\n") == [
        f"f.yaml:{MAX_LINES + 1}: the file has {MAX_LINES + 1} lines; a hypothesis file may have at most {MAX_LINES}"
    ]
    # Told the count, not that product_area is too long: refused before PyYAML scanned a line of it.
    hostile = HEAD + "product_area: |\n" + "  x\n" * 600_000
    assert problems(hostile) == [
        f"f.yaml:{MAX_LINES + 1}: the file has 600004 lines; a hypothesis file may have at most {MAX_LINES}"
    ]


def test_too_large_text() -> None:
    text = HEAD + "# " + "x" * MAX_FILE_BYTES + "\n"
    # Rounded up: a file over the limit is never told it is the size of the limit.
    size, most = MAX_FILE_BYTES // 1024 + 1, MAX_FILE_BYTES // 1024
    assert problems(text) == [f"f.yaml:1: the file is {size} KB; a hypothesis file may be at most {most} KB"]


# --- the CLI -------------------------------------------------------------------------


def test_cli_refuses_the_bomb(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB, encoding="utf-8")
    runner = CliRunner()
    started = time.perf_counter()
    validated = runner.invoke(cli, ["hypotheses", "validate", str(path)])
    assert validated.exit_code == 1 and validated.output.strip() == f"{path}:1: {NO_ANCHORS}"
    imported = runner.invoke(cli, ["hypotheses", "import", str(path)], env={"TALLY_DATABASE_URL": db.url})
    assert imported.exit_code == 1
    assert f"{path}:1: {NO_ANCHORS}" in imported.output and "Nothing was imported." in imported.output
    assert time.perf_counter() - started < 5
    with db.session() as session:
        assert session.exec(select(Launch)).all() == []


def test_cli_refuses_a_huge_file_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as file:
        file.truncate(2**30)  # 1 GB, sparse

    def no_reading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a file over the limit is not read")

    monkeypatch.setattr(Path, "open", no_reading)
    monkeypatch.setattr(Path, "read_text", no_reading)
    result = CliRunner().invoke(cli, ["hypotheses", "validate", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{path}:1: the file is 1048576 KB; a hypothesis file may be at most {MAX_FILE_BYTES // 1024} KB"
    )


def test_cli_refuses_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("slug: a\nname: A\nstarts_on: 2026-11-16\nslug: b\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["hypotheses", "validate", str(path)])
    assert result.exit_code == 1 and result.output.strip() == f"{path}:4: slug: key given twice (first on line 1)"


def test_cli_tells_the_first_fifty_problems(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("slug: a\n" + "a: 1\n" * 5_001, encoding="utf-8")
    result = CliRunner().invoke(cli, ["hypotheses", "validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[-1] == f"{path}:53: …and 4950 more problems from this line on: fix those above, then check again"


# --- the web upload ------------------------------------------------------------------


def upload(user: WebUser, text: str, name: str = "bomb.yaml") -> Any:
    return user.post("/launches", files={"file": (name, text.encode(), "application/yaml")})


def test_upload_refuses_the_bomb(db: Database, web: Web, people: People) -> None:
    lena = web("lena")
    started = time.perf_counter()
    response = upload(lena, BOMB)
    assert time.perf_counter() - started < 5
    assert response.status_code == 422
    assert "bomb.yaml:1: anchors and aliases (&amp;, *) are not allowed" in response.text
    assert "Nothing was imported." in response.text
    with db.session() as session:
        assert session.exec(select(Launch)).all() == []


def test_upload_refuses_deep_nesting_and_duplicate_keys(db: Database, web: Web, people: People) -> None:
    lena = web("lena")
    deep = upload(lena, "[" * 10_000, "deep.yaml")
    assert deep.status_code == 422 and "deep.yaml:1: nested too deeply" in deep.text
    twice = upload(lena, HEAD + hypotheses(1) + "slug: other\n", "twice.yaml")
    assert twice.status_code == 422 and "twice.yaml:7: slug: key given twice (first on line 1)" in twice.text


def test_upload_tells_the_first_fifty_problems(db: Database, web: Web, people: People) -> None:
    response = upload(web("lena"), "slug: a\n" + "a: 1\n" * 5_001, "twice.yaml")
    assert response.status_code == 422
    assert response.text.count("key given twice") == MAX_PROBLEMS
    assert "twice.yaml:53" in response.text and "…and 4950 more problems from this line on" in response.text
    assert "twice.yaml:54" not in response.text and len(response.text) < 100_000


@pytest.mark.parametrize("sent_as", ["file", "file_text"])  # uploaded, or sent again by the import's Apply
def test_a_slow_upload_parse_does_not_block_other_requests(
    app: Any, web: Web, people: People, monkeypatch: pytest.MonkeyPatch, sent_as: str
) -> None:
    lena = web("lena")
    csrf = lena.token("/")
    cookie = "; ".join(f"{name}={value}" for name, value in lena.client.cookies.items())
    parsing, done = threading.Event(), threading.Event()
    real_parse = hypothesis_sets.parse_text

    def slow_parse(text: str, *, path: str = "<text>", now: dt.datetime | None = None) -> ParsedFile:
        parsing.set()
        time.sleep(1.5)  # as a hostile file would, holding whatever thread it runs on
        try:
            return real_parse(text, path=path, now=now)
        finally:
            done.set()

    monkeypatch.setattr(hypothesis_sets, "parse_text", slow_parse)
    answered: dict[str, Any] = {}

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        headers = {"Cookie": cookie, "X-CSRF-Token": csrf}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as client:

            async def post() -> None:
                text = (HEAD + hypotheses(1)).encode()
                files = (
                    {"file": ("launch.yaml", text, "application/yaml")}
                    if sent_as == "file"
                    else {sent_as: (None, text)}
                )
                answered["upload"] = await client.post("/launches", files=files)

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(post)
                assert await anyio.to_thread.run_sync(parsing.wait, 5)
                started = time.perf_counter()
                answered["health"] = await client.get("/healthz")
                answered["health_seconds"] = time.perf_counter() - started
                answered["parse_done_then"] = done.is_set()

    anyio.run(main)
    assert answered["health"].status_code == 200
    assert answered["health_seconds"] < 1 and not answered["parse_done_then"]
    assert answered["upload"].status_code == 303, answered["upload"].text[:500]


# --- no text makes the parser raise ----------------------------------------------------


def check_clean(result: ParsedFile) -> None:
    assert isinstance(result, ParsedFile)
    if result.launch is None:
        assert result.problems
    else:
        assert result.problems == []
    assert all(p.line >= 1 for p in result.problems)
    for problem in result.problems:
        assert str(problem).startswith(f"{problem.path}:{problem.line}: ")


YAML_BITS = st.sampled_from(
    [
        "slug", "name", "starts_on", "hypotheses", "key", "text", "status", "alerts", "- ", ": ", "\n", "  ",
        "[", "]", "{", "}", ",", "&a ", "*a", "!!int ", "!!str ", "!!binary ", "!!timestamp ", "? ", "<<", "'", '"',
        "#", "|", ">", "---", "...", "%YAML 1.2", "2026-11-16", "13:00", "no", "~", "\t", "\x00", "\ufeff", "\ud800",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["app-launch", "2026-11-16", "open", "fix_shipped", "09:00", "Europe/Oslo"])
)
KEYS = st.sampled_from(["slug", "name", "starts_on", "hypotheses", "key", "text", "status", "alerts"]) | st.text(
    max_size=8
)
STRUCTURES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=500) | st.lists(YAML_BITS | st.text(max_size=5), max_size=60).map("".join))
@example("!!timestamp")  # PyYAML's constructor raised AttributeError
@example("x: !!int abc")
def test_no_text_makes_the_parser_raise(text: str) -> None:
    check_clean(parse_text(text, path="f.yaml"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    STRUCTURES,
    st.dictionaries(st.sampled_from(["slug", "name", "starts_on", "hypotheses"]), STRUCTURES, max_size=4),
    st.booleans(),
)
def test_no_structure_makes_the_parser_raise(value: Any, fields: dict[str, Any], flow: bool) -> None:
    base: dict[str, Any] = {"slug": "app-launch", "name": "App", "starts_on": "2026-11-16", "hypotheses": []}
    for data in (value, {**base, **fields}, {**base, "hypotheses": [value, {"key": "a", "text": value}]}):
        text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
        check_clean(parse_text(text, path="f.yaml"))


def test_expected_per_day_is_bounded() -> None:
    text = HEAD + hypotheses(1) + "    expected_per_day: 99999999999\n"
    assert problems(text) == ["f.yaml:7: hypotheses[0].expected_per_day: 99999999999 is too large: at most 1000000"]


def test_true_false_and_seconds_are_neither_numbers_nor_days() -> None:
    """Pydantic's lax mode read `true` as 1 (an alert on every enquiry, an expected rate of one a day) and
    a number of seconds as a day or a moment: the file validated, and import and export wrote what nobody
    had written."""
    text = (
        "slug: booltest\nname: Bool test\nstarts_on: 1795132800\nends_on: 1795132800.5\n"
        "alerts: {min_count: true, factor: false}\n"
        "hypotheses:\n  - key: a\n    text: Alpha\n    expected_per_day: true\n    fix_shipped_at: 1795132800\n"
    )
    assert problems(text) == [
        "f.yaml:3: starts_on: 1795132800 is not a date: write it as YYYY-MM-DD, such as 2026-11-20",
        "f.yaml:4: ends_on: 1795132800.5 is not a date: write it as YYYY-MM-DD, such as 2026-11-20",
        "f.yaml:5: alerts.min_count: true is read as true or false, not a number: write a number, such as 10",
        "f.yaml:5: alerts.factor: false is read as true or false, not a number: write a number, such as 3",
        "f.yaml:9: hypotheses[0].expected_per_day: true is read as true or false, not a number: "
        "write a number, such as 20",
        "f.yaml:10: hypotheses[0].fix_shipped_at: 1795132800 is not a date and time: "
        "write one such as 2026-11-20T14:30+01:00",
    ]
    # Numbers and days as written, and as the editor's form sends them (text), still are.
    written = (
        "slug: typed\nname: Typed\nstarts_on: 2026-11-20\nends_on: '2026-12-01'\n"
        "alerts: {min_count: 5, factor: 2.5}\n"
        "hypotheses:\n  - key: a\n    text: Alpha\n    expected_per_day: 0\n"
        "    fix_shipped_at: 2026-11-20T14:30:00+01:00\n"
    )
    launch = parse_text(written).launch
    assert launch is not None and launch.alerts is not None
    assert (launch.starts_on, launch.ends_on) == (dt.date(2026, 11, 20), dt.date(2026, 12, 1))
    assert (launch.alerts.min_count, launch.alerts.factor, launch.hypotheses[0].expected_per_day) == (5, 2.5, 0)
    sent = hypothesis_sets.revalidate(
        {
            "slug": "typed",
            "name": "Typed",
            "starts_on": "2026-11-20",
            "alerts": {"min_count": "5", "factor": "2.5"},
            "hypotheses": [{"key": "a", "text": "Alpha", "expected_per_day": "7"}],
        }
    )
    assert (
        sent.alerts == hypothesis_sets.AlertRules(min_count=5, factor=2.5) and sent.hypotheses[0].expected_per_day == 7
    )


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("ends_on: 9999-12-31\n", "f.yaml:4: ends_on: 9999-12-31 is not between 2000-01-01 and 2199-12-31"),
        ("alerts:\n  min_count: 99999999999\n", "f.yaml:5: alerts.min_count: 99999999999 is too large: at most"),
        ("alerts:\n  factor: .inf\n", "f.yaml:5: alerts.factor: inf is too large: at most 1000"),
    ],
)
def test_numbers_and_days_a_database_cannot_hold_are_refused(extra: str, expected: str) -> None:
    # Each was a crash at import (a date past 9999, an integer past the column, an infinite factor in JSON).
    [problem] = problems(HEAD + extra)
    assert problem.startswith(expected)
    assert problems("slug: a\nname: A\nstarts_on: 9999-12-31\n") == [
        "f.yaml:3: starts_on: 9999-12-31 is not between 2000-01-01 and 2199-12-31"
    ]


def test_a_control_character_written_as_an_escape_is_refused_with_its_line() -> None:
    """YAML's "\\0" makes a NUL, which PostgreSQL refuses outright: `validate` passed such a file and the
    import then failed with a traceback there."""
    parsed = parse_text(
        'slug: nul\nname: "Launch"\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: "F\\0r ikke logget inn"\n'
    )
    assert parsed.launch is None
    [problem] = parsed.problems
    assert problem.line == 6 and "control character" in str(problem)


def test_an_unquoted_slack_channel_read_as_a_comment_is_refused_with_the_fix() -> None:
    """`slack_channel: #launch-payapp-5` is a comment to YAML: validate said ok, and an import took the
    launch's channel away."""
    assert problems(HEAD + "slack_channel: #launch-payapp-5\n") == [
        'f.yaml:4: slack_channel: # starts a YAML comment, so this is empty: write "#launch-payapp-5"'
    ]
    assert parse_text(HEAD + 'slack_channel: "#launch-payapp-5"\n', path="f.yaml").launch is not None
    assert parse_text(HEAD + "slack_channel:  # none yet\n", path="f.yaml").launch is not None  # a comment


COMMENT = (
    "# after a space starts a YAML comment, so this reads {read}: put the whole text in double quotes "
    "(a comment may follow the closing quote)"
)


@pytest.mark.parametrize(
    ("text", "told"),
    [
        (
            "slug: a\nname: Faktura #2 – ny flyt\nstarts_on: 2026-11-16\n",
            [(2, "name", "'Faktura'")],
        ),
        (
            HEAD + "hypotheses:\n  - key: vipps\n    text: Betaling feiler med kode #403\n",
            [(6, "hypotheses[0].text", "'Betaling feiler med kode'")],
        ),
        # A comment meant as one is refused too: the text may not end where the lead thinks it does.
        (
            HEAD + "product_area: Payments  # the new app\nhypotheses:\n"
            "  - key: a\n    text: Login loops  # from the workshop\n    area: Login # Team ID\n",
            [(4, "product_area", "'Payments'"), (7, "hypotheses[0].text", "'Login loops'"),
             (8, "hypotheses[0].area", "'Login'")],
        ),
        (
            HEAD + "hypotheses:\n  - key: a\n    text: Betaling feiler\n      med kode #403\n",
            [(7, "hypotheses[0].text", "'Betaling feiler med kode'")],
        ),
        (
            "slug: a\nname: #2 launch\nstarts_on: 2026-11-16\nhypotheses:\n  - key: a\n    text: A\n"
            "    owner_team: #team-pay\n",
            [(2, "name", "''"), (7, "hypotheses[0].owner_team", "''")],
        ),
    ],
)  # fmt: skip
def test_a_text_cut_by_a_comment_is_refused_with_its_line(text: str, told: list[tuple[int, str, str]]) -> None:
    """`text: Betaling feiler med kode #403` was stored as "Betaling feiler med kode", and validate said ok."""
    assert problems(text) == [f"f.yaml:{line}: {field}: {COMMENT.format(read=read)}" for line, field, read in told], (
        problems(text)
    )


def test_a_hash_in_quotes_or_without_a_space_before_it_is_text() -> None:
    parsed = parse_text(
        'slug: a\nname: "Faktura #2 – ny flyt"  # a comment after the quotes\nstarts_on: 2026-11-16\n'
        "hypotheses:\n  - key: a\n    text: Kode#403 er tilbake\n"
        "  - key: b\n    text: 'Login loops  # twice'\n",
        path="f.yaml",
    )
    assert parsed.problems == []
    assert parsed.launch is not None and parsed.launch.name == "Faktura #2 – ny flyt"
    assert [h.text for h in parsed.launch.hypotheses] == ["Kode#403 er tilbake", "Login loops # twice"]


def test_cli_validate_and_import_refuse_a_text_cut_by_a_comment(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "hash.yaml"
    path.write_text(HEAD + "hypotheses:\n  - key: vipps\n    text: Betaling feiler med kode #403\n", encoding="utf-8")
    for command in ("validate", "import"):
        result = CliRunner().invoke(cli, ["hypotheses", command, str(path)], env={"TALLY_DATABASE_URL": db.url})
        assert result.exit_code == 1 and f"{path}:6: hypotheses[0].text: # after a space" in result.output
    with db.session() as session:
        assert session.exec(select(Launch)).all() == []


ROW = HEAD + "hypotheses:\n  - key: a\n"  # the row's text is on line 6


@pytest.mark.parametrize(
    ("text", "line", "said"),
    [
        (ROW + "\ttext: Login loops\n", 6, "a tab: YAML is indented with spaces, not tabs"),
        (ROW + "    text:\tLogin loops\n", 6, "a tab: YAML is indented with spaces, not tabs"),
        (ROW + "    text: Error: receipts gone\n", 6, "a colon and a space inside a text: put the whole"),
        (ROW + "    text: Where did my receipts go?\n     area: History\n", 7, "indented further than the line above"),
        (ROW + "    text: A\n   area: History\n", 7, "does not line up with the lines above"),
        (ROW + "    text: 'Can't find receipts'\n", 6, "text in single quotes ends at the next ' (an apostrophe"),
        (ROW + '    text: "He said "hi" today"\n', 6, 'text in double quotes ends at the next "'),
        (ROW + '    text: "Receipts gone?\n    area: History\n  - key: b\n    text: "B"\n', 6, "quote is not closed"),
        (ROW + "    text: 'Receipts gone?\n", 6, "quote is not closed"),
        (ROW + '    text: "C:\\path"\n', 6, "a backslash inside double quotes"),
        (ROW + "    text: A\n  -key: b\n    text: B\n", 7, 'only with a space after it: write "- key'),
        (ROW + "    text: [beta] login gone\n", 6, "starts with a bracket is read as a list"),
        (ROW + "    text: @mention fails\n", 6, "'@' cannot start a text without quotes: put the whole text in double"),
        (ROW + "    text: * stars\n", 6, "* or & cannot start a text without quotes"),
        (HEAD + "hypotheses:\n  - {key: a, text: Login #2}\n", 5, "a comment, and the rest of the line with it"),
        ("slug: a\nname\nstarts_on: 2026-11-16\n", 2, "a colon after the field's name"),
        (HEAD + "---\nslug: b\n", 4, "a second document (after ---): a file holds one launch"),
    ],
)  # fmt: skip
def test_yaml_mistakes_are_told_with_the_fix(text: str, line: int, said: str) -> None:
    """PyYAML's words ("mapping values are not allowed here", "expected <block end>, but found
    '<scalar>'") were all a lead was told, in English on a Norwegian page too."""
    parsed = parse_text(text, path="f.yaml")
    assert parsed.launch is None
    [problem] = parsed.problems
    assert (problem.line, problem.field) == (line, ""), str(problem)
    assert said in problem.message, str(problem)
    assert "not valid YAML" not in problem.message
    assert isinstance(problem.message, Text)  # shown in the lead's language


def test_a_rare_yaml_mistake_keeps_pyyamls_words() -> None:
    [problem] = problems(ROW + "    text: | x\n")
    assert problem.startswith("f.yaml:6: not valid YAML: expected a comment or a line break")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("", "f.yaml:6: hypotheses[0].text: is empty: write something here"),
        ("~", "f.yaml:6: hypotheses[0].text: is empty: write something here"),
        ("1.5", 'f.yaml:6: hypotheses[0].text: 1.5 is read as a number: put the text in quotes, such as "1.5"'),
        ("404", 'f.yaml:6: hypotheses[0].text: 404 is read as a number: put the text in quotes, such as "404"'),
        ("true", 'f.yaml:6: hypotheses[0].text: true is read as true or false: put the text in quotes, such as "true"'),
    ],
)
def test_an_empty_text_or_a_number_for_a_text_is_told_with_the_fix(value: str, said: str) -> None:
    assert problems(ROW + f"    text: {value}\n") == [said]


def test_an_empty_area_or_owner_team_is_empty() -> None:
    parsed = parse_text(ROW + "    text: A\n    area:\n    owner_team:  # none yet\nproduct_area:\n", path="f.yaml")
    assert parsed.problems == []
    assert parsed.launch is not None and parsed.launch.product_area == ""
    assert (parsed.launch.hypotheses[0].area, parsed.launch.hypotheses[0].owner_team) == ("", "")
    assert {"area", "owner_team"} <= parsed.launch.hypotheses[0].model_fields_set  # written out: the file's


def test_an_uploaded_file_s_yaml_mistake_is_told_without_pyyamls_words(db: Database, web: Web, people: People) -> None:
    lena = web("lena")
    refused = lena.client.post(
        "/launches",
        files={"file": ("tabs.yaml", (ROW + "\ttext: Login loops\n").encode())},
        data={"csrf_token": lena.token("/")},
        headers={"Accept-Language": "nb"},
    )
    assert refused.status_code == 422
    assert "found character" not in refused.text and "cannot start any token" not in refused.text
