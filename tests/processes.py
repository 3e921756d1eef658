"""Running `tally` as a real process, the way operators do, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY = "Application startup complete"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def tally_process(*args: str, env: dict[str, str], cwd: Path, ready: str = READY) -> Iterator[list[str]]:
    """Start ``python -m app ARGS`` and return once it prints ``ready``.

    Yields the output lines read so far. Waiting on the process's own output
    instead of polling means no sleeps and no guessing how long start-up takes.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if ready in line:
                break
        else:
            raise AssertionError("process ended before it was ready:\n" + "".join(lines))
        yield lines
    finally:
        process.terminate()
        process.wait(timeout=15)
