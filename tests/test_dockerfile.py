"""The Dockerfile, read as text: no Docker engine is needed to run the suite.

What it must keep (issue 2): multi-stage with uv from the lock file, a non-root
user, `tally serve` by default, a HEALTHCHECK on /healthz, a volume for SQLite,
and every folder the app reads at run time.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.split(None, 1)[:1] == [name]]


def test_multi_stage_build_with_uv_from_the_lock_file() -> None:
    stages = instructions("FROM")
    assert len(stages) >= 2 and " AS " in stages[0]
    assert any("uv sync --frozen --no-dev" in run for run in instructions("RUN"))
    assert any(copy.startswith("--from=") for copy in instructions("COPY"))


def test_runs_as_a_non_root_user_with_a_volume_for_the_sqlite_file() -> None:
    [user] = instructions("USER")
    assert user.strip() not in ("root", "0")
    assert any("/data" in volume for volume in instructions("VOLUME"))
    assert re.search(r"TALLY_DATABASE_URL=sqlite:////data/\S+\.db", DOCKERFILE)


def test_serves_by_default_and_checks_its_health() -> None:
    [command] = instructions("CMD")
    assert '"tally", "serve"' in command and '"0.0.0.0"' in command
    [health] = instructions("HEALTHCHECK")
    assert "/healthz" in health


def test_copies_every_folder_the_app_reads_at_run_time() -> None:
    copied = " ".join(instructions("COPY"))
    for folder in ("app", "alembic", "templates", "hypotheses"):
        assert re.search(rf"\b{folder}\b", copied), f"{folder}/ is not copied into the image"
    assert "uv.lock" in copied and "pyproject.toml" in copied
