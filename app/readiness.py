"""Readiness: can this process serve requests that read and write? (/readyz)

Liveness (/healthz) only says the process answers. Readiness also asks the database
(``SELECT 1``) and whether writes work: a full disk or a read-only file fails every write
while reads still answer. The enquiry writer says how its last batch ended; when that was a
failure, or when nothing was written for a while, a small probe write tells (at most once
every few seconds), so a replica whose disk was freed becomes ready again on its own. The probe
is one small row, which a disk too full for enquiries may still take, so for ``FAILURE_HOLD``
seconds after a failed batch only the writer's own next success counts.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.db import WRITE_OPTION, Database
from app.models import ReadinessProbe

log = logging.getLogger(__name__)

PROBE_EVERY = 5.0  # seconds between probe writes, at most
IDLE = 60.0  # with no enquiry written for this long, the probe finds out whether writes would work
FAILURE_HOLD = 15.0  # seconds after a failed batch during which a successful probe is not believed
PROBE_ROWS_KEPT = dt.timedelta(days=1)  # a process's probe row, unwritten this long, is gone with it

_probe = ReadinessProbe.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class State:
    database: bool
    writes: bool
    error: str | None = None

    @property
    def ready(self) -> bool:
        return self.database and self.writes

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ready" if self.ready else "unavailable",
            "database": "ok" if self.database else "unreachable",
            "writes": "ok" if self.writes else "failing",
        }
        if self.error:
            body["error"] = self.error  # an exception's class name: never a message, which may name hosts
        return body


class Readiness:
    def __init__(self, db: Database, writer: Any, *, name: str) -> None:
        self._db = db
        self._writer = writer  # GroupCommitWriter: last_success, last_failure, last_error, failing
        self._name = name[:100]
        self._lock = threading.Lock()
        self._probed_at: float | None = None
        self._probe_ok = True
        self._probe_error: str | None = None

    def check(self) -> State:
        """Blocking (it talks to the database): call it from a worker thread."""
        try:
            self._db.ping()
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.warning("readiness: database unavailable: %s", exc.__class__.__name__)
            return State(database=False, writes=False, error=exc.__class__.__name__)
        writer = self._writer
        now = time.monotonic()
        idle = writer.last_success is None or now - writer.last_success > IDLE
        with self._lock:
            if (writer.failing or idle) and (self._probed_at is None or now - self._probed_at > PROBE_EVERY):
                self._probe_ok, self._probe_error = self._probe()
                self._probed_at = now
            probed_after_failure = self._probed_at is not None and (
                writer.last_failure is None or self._probed_at >= writer.last_failure
            )
            # A probe is one small row, which a disk too full for enquiries may still take: after a
            # real write failed, only the writer's own success, or a quiet spell, says writes work.
            recent_failure = writer.last_failure is not None and now - writer.last_failure < FAILURE_HOLD
            if writer.failing and (recent_failure or not probed_after_failure):
                return State(database=True, writes=False, error=writer.last_error)
            if writer.failing or idle:
                return State(database=True, writes=self._probe_ok, error=self._probe_error)
            return State(database=True, writes=True)

    def _probe(self) -> tuple[bool, str | None]:
        engine = self._db.engine.execution_options(**{WRITE_OPTION: True})
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        moment = dt.datetime.now(dt.UTC)
        upsert = module.insert(_probe).values(name=self._name, at=moment)
        upsert = upsert.on_conflict_do_update(index_elements=["name"], set_={"at": moment})
        try:
            with engine.begin() as connection:
                connection.execute(upsert)
                # Each process has its row (host and pid): those of processes long gone (restarts,
                # deploys, over a launch's weeks) are cleared here; a live one writes its own again.
                connection.execute(sa.delete(_probe).where(_probe.c.at < moment - PROBE_ROWS_KEPT))
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.warning("readiness: a probe write failed: %s", exc.__class__.__name__)
            return False, exc.__class__.__name__
        return True, None
