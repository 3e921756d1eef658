"""The Dockerfile, read as text: no Docker engine is needed to run the suite.

What it must keep (issue 2): multi-stage with uv from the lock file, a non-root
user, `tally serve` by default, a HEALTHCHECK on /healthz, a volume for SQLite,
and every folder the app reads at run time. With no engine to build the image, the
health check's command is run here against a real `tally serve` instead.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.processes import free_port, tally_process

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


def test_uv_installs_exactly_the_lock_file_before_the_code_is_copied() -> None:
    assert "UV_PYTHON_DOWNLOADS=never" in DOCKERFILE, "the image's own Python, not one uv downloads"
    first_sync = DOCKERFILE.index("uv sync")
    assert DOCKERFILE.index("uv.lock") < first_sync < DOCKERFILE.index("COPY app")
    assert all("--frozen" in run for run in instructions("RUN") if "uv sync" in run)


def test_runs_as_a_non_root_user_with_a_volume_for_the_sqlite_file() -> None:
    [user] = instructions("USER")
    # Numeric, so an orchestrator's runAsNonRoot can check it; the same ids the user was made with.
    uid, _, gid = user.strip().partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    assert re.search(rf"useradd [^\n]*--uid {uid}\b", DOCKERFILE)
    assert re.search(rf"groupadd [^\n]*--gid {gid}\b", DOCKERFILE)
    assert DOCKERFILE.index("useradd") < DOCKERFILE.index("USER ")
    assert any("/data" in volume for volume in instructions("VOLUME"))
    assert re.search(r"TALLY_DATABASE_URL=sqlite:////data/\S+\.db", DOCKERFILE)


def test_serves_by_default_and_checks_its_health() -> None:
    [command] = instructions("CMD")
    assert '"tally", "serve"' in command and '"0.0.0.0"' in command
    [health] = instructions("HEALTHCHECK")
    assert "/healthz" in health


def healthcheck_command() -> list[str]:
    [health] = instructions("HEALTHCHECK")
    argv = json.loads(health.split(" CMD ", 1)[1])
    assert isinstance(argv, list)
    return [str(part) for part in argv]


def test_the_health_check_uses_python_on_the_port_it_serves() -> None:
    argv = healthcheck_command()
    # python:3.12-slim has no curl or wget; exec form, so no shell is needed either.
    assert argv[:2] == ["python", "-c"] and "urllib.request" in argv[2]
    [port] = re.findall(r"http://127\.0\.0\.1:(\d+)/healthz", argv[2])
    [command] = instructions("CMD")
    assert f'"--port", "{port}"' in command
    assert instructions("EXPOSE") == [port]


def test_the_health_check_passes_while_serving_and_fails_when_not(tmp_path: Path) -> None:
    port = free_port()
    code = healthcheck_command()[2].replace(":8000/", f":{port}/")
    assert f":{port}/healthz" in code
    check = [sys.executable, "-c", code]
    env = {"TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'tally.db'}"}
    with tally_process("serve", "--no-scheduler", "--port", str(port), env=env, cwd=tmp_path):
        assert subprocess.run(check, check=False, capture_output=True, timeout=30).returncode == 0
    assert subprocess.run(check, check=False, capture_output=True, timeout=30).returncode != 0


def test_copies_every_folder_the_app_reads_at_run_time() -> None:
    copied = " ".join(instructions("COPY"))
    for folder in ("app", "alembic", "templates", "hypotheses"):
        assert re.search(rf"\b{folder}\b", copied), f"{folder}/ is not copied into the image"
    assert "uv.lock" in copied and "pyproject.toml" in copied
