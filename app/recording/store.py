"""The enquiry log's hot path in plain SQL, on the driver's own cursor.

Logging enquiries is the one path where speed is the feature (agents stop
ticking when it lags). Measured, SQLAlchemy's per-statement work cost the
group-commit writer ~300 µs a statement, most of a batch's time, and the
writer shares the interpreter lock with the event loop serving requests. So
these few statements go straight to sqlite3 or psycopg, inside the
transaction SQLAlchemy opened (BEGIN IMMEDIATE on SQLite), with the values
stored exactly as the models' column types store them. Everything else in
the app uses SQLAlchemy; tests run this code on both databases.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import sqlalchemy as sa

from app import launches

# The enquiry's columns as the hot path inserts them.
ENQUIRY_COLUMNS = (
    "launch_id",
    "channel",
    "segment",
    "agent_id",
    "token_id",
    "created_at",
    "note",
    "is_other",
    "idempotency_key",
    "recorded_at",
    "source",
)
LINK_COLUMNS = ("enquiry_id", "hypothesis_id", "launch_id", "created_at", "channel", "segment")
# A key whose enquiry was undone is not inserted again (models.UndoneEnquiry): like a key seen before, it
# returns nothing, and record.py answers its retry as undone.
# A batch goes to PostgreSQL as one statement: the enquiries as one JSON parameter, typed by the table's
# own row type, and their links made from what the insert returned. As one array per column (unnest),
# psycopg's array dumping in Python cost the writer's thread ~12 µs a request, and the links were a
# statement and a round trip of their own (docs/benchmarks.md). The text is the same for any batch size,
# so it runs prepared. A key seen before returns nothing from the insert, so it gets no links either.
_PG_INSERT = (
    "WITH e AS ("
    f"INSERT INTO enquiry ({', '.join(ENQUIRY_COLUMNS)}) "
    f"SELECT {', '.join(ENQUIRY_COLUMNS)} FROM json_populate_recordset(NULL::enquiry, %s) AS r "
    "WHERE NOT EXISTS (SELECT FROM undone_enquiry u "
    "WHERE u.launch_id = r.launch_id AND u.idempotency_key = r.idempotency_key) "
    "ON CONFLICT (launch_id, idempotency_key) DO NOTHING "
    "RETURNING id, launch_id, idempotency_key, created_at, channel, segment"
    "), l AS ("
    f"INSERT INTO enquiry_hypothesis ({', '.join(LINK_COLUMNS)}) "
    "SELECT e.id, h.hypothesis_id, e.launch_id, e.created_at, e.channel, e.segment "
    "FROM e JOIN json_to_recordset(%s) AS h(launch_id int4, idempotency_key text, hypothesis_id int4) "
    "ON h.launch_id = e.launch_id AND h.idempotency_key = e.idempotency_key"
    ") SELECT id, launch_id, idempotency_key FROM e"
)
# What checking a batch needs, each read once here for both databases: (columns, source, the column
# matched against the batch's values, what else must hold). ``now`` is the one parameter besides them.
_CHECKS = {
    "session": (
        "s.token_hash, u.id",
        "web_session s JOIN tally_user u ON u.id = s.user_id",
        "s.token_hash",
        "s.revoked_at IS NULL AND s.expires_at > ? AND u.is_active",
    ),
    "token": ("token_hash, id", "api_token", "token_hash", "revoked_at IS NULL"),
    "trusted_user": ("username, id", "tally_user", "username", "is_active"),
    "launch": ("id, slug, status, channels, segments, starts_on, ends_on, timezone", "launch", "slug", "TRUE"),
    "hypothesis": (
        'h.id, h.launch_id, h."key", h.status',
        "hypothesis h JOIN launch l ON l.id = h.launch_id",
        "l.slug",
        "TRUE",
    ),
}
# On PostgreSQL all of them in one statement and one round trip (one each cost a round trip and psycopg's
# work for each), every result a JSON array.
_PG_CONTEXT = "SELECT " + ", ".join(
    f"(SELECT json_agg(json_build_array({columns})) FROM {source} WHERE {key} = ANY(?) AND {condition})"
    for columns, source, key, condition in _CHECKS.values()
)
_LAUNCH_ID, _CREATED_AT, _CHANNEL, _SEGMENT, _KEY = (
    ENQUIRY_COLUMNS.index(name) for name in ("launch_id", "created_at", "channel", "segment", "idempotency_key")
)
# SQLite names a VALUES list's columns column1, column2…
_SQLITE_NOT_UNDONE = (
    "WHERE NOT EXISTS (SELECT 1 FROM undone_enquiry u "
    f"WHERE u.launch_id = v.column{_LAUNCH_ID + 1} AND u.idempotency_key = v.column{_KEY + 1}) "
)


def _as_json(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> str:
    """Rows as the JSON array of objects ``json_populate_recordset`` reads (times as ISO text)."""
    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True)
class LaunchRow:
    id: int
    slug: str
    status: str
    channels: list[str]
    segments: list[str]
    starts_on: dt.date
    ends_on: dt.date
    timezone: str

    @cached_property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """launches.window, worked out once a batch (zoneinfo conversions were a tenth of a tick)."""
        return launches.window(self)


@dataclass(frozen=True)
class StoredEnquiry:
    created_at: dt.datetime
    recorded_at: dt.datetime | None  # None: logged before recorded_at was kept
    channel: str
    segment: str | None
    note: str | None
    hypothesis_keys: tuple[str, ...]  # in list order
    note_erased: bool = False  # its note was erased (retention, a lead): a retry is not compared by it


@dataclass(frozen=True)
class HypothesisRow:
    id: int
    launch_id: int
    key: str
    status: str


@dataclass(frozen=True)
class BatchContext:
    """What checking a batch of requests needs."""

    credentials: dict[tuple[str, str], int]  # (kind, value) -> user id (sessions, trusted users) or token id
    launches: dict[str, LaunchRow]  # by slug
    hypotheses: dict[int, dict[str, HypothesisRow]]  # launch id -> key -> hypothesis


class Store:
    """The statements, on one driver cursor: inside a transaction someone else opened and commits, or, for
    the PostgreSQL writer, on a connection where each statement commits on its own (``atomic``)."""

    def __init__(self, cursor: Any, *, sqlite: bool) -> None:
        self.sqlite = sqlite
        self._cursor = cursor
        self._mark = "?" if sqlite else "%s"

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Statements that must commit together, or not at all.

        The SQLite writer and ``Store.of`` run inside a transaction already. The PostgreSQL
        writer's connection commits each statement on its own (``Database.run_pg_write``), so
        here it opens one."""
        connection = None if self.sqlite else self._cursor.connection
        if connection is None or not connection.autocommit:
            yield
            return
        with connection.transaction():
            yield

    @classmethod
    def of(cls, connection: sa.Connection) -> Store:
        """On the driver connection under a SQLAlchemy connection, in its transaction."""
        driver: Any = connection.connection.driver_connection
        return cls(driver.cursor(), sqlite=connection.dialect.name == "sqlite")

    # --- values as the column types store them ---------------------------------------

    def _time(self, value: dt.datetime) -> Any:
        if value.tzinfo is not dt.UTC:
            value = value.astimezone(dt.UTC)
        naive = value.replace(tzinfo=None)
        # The text SQLAlchemy stores for a DateTime on SQLite ("2026-11-18 10:00:00.000000"), so
        # comparisons agree; isoformat writes it several times faster than strftime.
        return naive.isoformat(" ", "microseconds") if self.sqlite else naive

    def _read_time(self, value: Any) -> dt.datetime:
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=dt.UTC)

    @staticmethod
    def _read_date(value: Any) -> dt.date:
        return dt.date.fromisoformat(value) if isinstance(value, str) else value

    @staticmethod
    def _read_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def _marks(self, count: int) -> str:
        return ", ".join([self._mark] * count)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` is one of ``values``: the SQL and its parameters.

        On PostgreSQL one array parameter, so the statement's text is the same for any number of
        values: psycopg converts it once and, from its fifth use, runs it prepared, and the server
        skips parsing and planning. (A list of placeholders made a new text, parsed in Python by
        psycopg and planned by the server, for every batch size.)"""
        if self.sqlite:
            return f"{column} IN ({self._marks(len(values))})", list(values)
        return f"{column} = ANY(?)", [list(values)]

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self._cursor.execute(sql.replace("?", self._mark), tuple(params))
        return list(self._cursor.fetchall())

    def _run(self, sql: str, params: Sequence[Any]) -> None:
        self._cursor.execute(sql.replace("?", self._mark), tuple(params))

    # --- reads ---------------------------------------------------------------------------

    def batch_context(
        self, credentials: Mapping[str, Sequence[str]], slugs: Sequence[str], now: dt.datetime
    ) -> BatchContext:
        """The valid ones of ``credentials`` (kind -> values: "session", "token", "trusted_user"),
        the launches of ``slugs`` and their hypotheses. One statement on PostgreSQL."""
        values = {kind: list(credentials.get(kind, ())) for kind in ("session", "token", "trusted_user")}
        values["launch"] = values["hypothesis"] = list(slugs)
        extra = {kind: [self._time(now)] if kind == "session" else [] for kind in _CHECKS}
        if self.sqlite:
            rows = {kind: self._check_rows(kind, values[kind], extra[kind]) for kind in _CHECKS}
        else:
            [found_rows] = self._query(_PG_CONTEXT, [p for kind in _CHECKS for p in (values[kind], *extra[kind])])
            rows = {kind: found or [] for kind, found in zip(_CHECKS, found_rows, strict=True)}
        found = {(kind, value): i for kind in ("session", "token", "trusted_user") for value, i in rows[kind]}
        launches = {row[1]: self._launch_row(row) for row in rows["launch"]}
        hypotheses: dict[int, dict[str, HypothesisRow]] = {launch.id: {} for launch in launches.values()}
        for hypothesis_id, launch_id, key, status in rows["hypothesis"]:
            hypotheses[launch_id][key] = HypothesisRow(hypothesis_id, launch_id, key, status)
        return BatchContext(found, launches, hypotheses)

    def _check_rows(self, kind: str, values: Sequence[str], extra: Sequence[Any]) -> list[tuple[Any, ...]]:
        """One of ``_CHECKS`` on its own (SQLite, in-process: a statement costs no round trip)."""
        if not values:
            return []
        columns, source, key, condition = _CHECKS[kind]
        where, params = self._in(key, values)
        return self._query(f"SELECT {columns} FROM {source} WHERE {where} AND {condition}", [*params, *extra])

    def _launch_row(self, row: Sequence[Any]) -> LaunchRow:
        launch_id, slug, status, channels, segments, starts_on, ends_on, timezone = row
        return LaunchRow(
            launch_id,
            slug,
            status,
            self._read_json(channels),
            self._read_json(segments),
            self._read_date(starts_on),
            self._read_date(ends_on),
            timezone,
        )

    def stored(self, enquiry_ids: Sequence[int]) -> dict[int, StoredEnquiry]:
        """Enquiries recorded earlier, as stored: to answer a replay, and to tell it from a reused key."""
        if not enquiry_ids:
            return {}
        keys: dict[int, list[str]] = {enquiry_id: [] for enquiry_id in enquiry_ids}
        linked, params = self._in("l.enquiry_id", enquiry_ids)
        wanted, _ = self._in("id", enquiry_ids)
        for enquiry_id, key in self._query(
            'SELECT l.enquiry_id, h."key" FROM enquiry_hypothesis l JOIN hypothesis h ON h.id = l.hypothesis_id '
            # By key, as the first answer lists them: a replay answers the same (the list's order may change).
            f"WHERE {linked} ORDER BY h.key",
            params,
        ):
            keys[enquiry_id].append(key)
        return {
            enquiry_id: StoredEnquiry(
                self._read_time(created_at),
                None if recorded_at is None else self._read_time(recorded_at),
                channel,
                segment,
                note,
                tuple(keys[enquiry_id]),
                note_erased_at is not None,
            )
            for enquiry_id, created_at, recorded_at, channel, segment, note, note_erased_at in self._query(
                "SELECT id, created_at, recorded_at, channel, segment, note, note_erased_at "
                f"FROM enquiry WHERE {wanted}",
                params,
            )
        }

    def moved_from_other(self, launch_id: int, enquiry_id: int) -> bool:
        """Whether the enquiry, logged as "other", was moved onto a hypothesis by a lead since (a move not
        undone: app/insight/relink.py). Read only when a retry of it seems to differ, so rarely."""
        for (moved,) in self._query(
            "SELECT enquiry_ids FROM relink WHERE launch_id = ? AND undone_at IS NULL", [launch_id]
        ):
            if enquiry_id in (json.loads(moved) if isinstance(moved, str) else moved):
                return True
        return False

    def existing(self, launch_id: int, keys: Sequence[str]) -> dict[str, int]:
        where, params = self._in("idempotency_key", keys)
        rows = self._query(
            f"SELECT idempotency_key, id FROM enquiry WHERE launch_id = ? AND {where}", [launch_id, *params]
        )
        return dict(rows)

    # --- writes ------------------------------------------------------------------------

    def insert_enquiries(
        self, rows: Sequence[tuple[Any, ...]], hypotheses: Mapping[tuple[int, str], Sequence[int]]
    ) -> dict[tuple[int, str], int]:
        """Insert rows (in ENQUIRY_COLUMNS order, each (launch id, key) once) and, for those that are
        new, their links to ``hypotheses[(launch id, key)]``; (launch id, key) -> id of the new ones.

        INSERT … ON CONFLICT DO NOTHING RETURNING: a key seen before returns nothing, which is how
        replays are told from new enquiries; so does the key of an enquiry that was undone."""
        if not rows:
            return {}
        if not self.sqlite:
            links = [
                {"launch_id": launch_id, "idempotency_key": key, "hypothesis_id": hypothesis_id}
                for (launch_id, key), ids in hypotheses.items()
                for hypothesis_id in ids
            ]
            returned = self._query(_PG_INSERT, [_as_json(ENQUIRY_COLUMNS, rows), json.dumps(links)])
            return {(launch_id, key): enquiry_id for enquiry_id, launch_id, key in returned}
        created: dict[tuple[int, str], int] = {}
        width = len(ENQUIRY_COLUMNS)
        chunk = 200  # well under SQLite's limit of bound parameters per statement
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            values = ", ".join([f"({self._marks(width)})"] * len(part))
            params = [value for row in part for value in row]
            returned = self._query(
                f"INSERT INTO enquiry ({', '.join(ENQUIRY_COLUMNS)}) SELECT * FROM (VALUES {values}) AS v "
                f"{_SQLITE_NOT_UNDONE}ON CONFLICT (launch_id, idempotency_key) DO NOTHING "
                "RETURNING id, launch_id, idempotency_key",
                params,
            )
            created.update(((launch_id, key), enquiry_id) for enquiry_id, launch_id, key in returned)
        link_rows = [
            (created[k], hypothesis_id, k[0], row[_CREATED_AT], row[_CHANNEL], row[_SEGMENT])
            for row in rows
            if (k := (row[_LAUNCH_ID], row[_KEY])) in created
            for hypothesis_id in hypotheses.get(k, ())
        ]
        if link_rows:
            self._cursor.executemany(
                f"INSERT INTO enquiry_hypothesis ({', '.join(LINK_COLUMNS)}) VALUES ({self._marks(len(LINK_COLUMNS))})",
                link_rows,
            )
        return created

    def enquiry_row(
        self,
        *,
        launch_id: int,
        channel: str,
        segment: str | None,
        agent_id: int | None,
        token_id: int | None,
        created_at: dt.datetime,
        note: str | None,
        is_other: bool,
        idempotency_key: str,
        recorded_at: dt.datetime,
        source: str,
    ) -> tuple[Any, ...]:
        stored_at = self._time(created_at)
        return (
            launch_id,
            channel,
            segment,
            agent_id,
            token_id,
            stored_at,
            note,
            is_other,
            idempotency_key,
            # The same moment for every enquiry but a backfill: converted once (once per enquiry per batch).
            stored_at if recorded_at == created_at else self._time(recorded_at),
            source,
        )

    def bump_counts_version(self, launch_id: int, days: Iterable[dt.date]) -> int:
        """Past counts of a launch changed on ``days`` (local dates): raise its counts version.

        Every cache of counts (app/tallies) is keyed by the version, so each process and
        replica counts afresh from now on. The kept counts of the other days are carried
        over to the new version in this same transaction, so only the changed days are
        counted again. A process still counting at the old version keeps its result under
        the old version, where nobody reads it. Returns the new version."""
        [(version, timezone)] = self._query(
            "UPDATE launch SET counts_version = counts_version + 1 WHERE id = ? RETURNING counts_version, timezone",
            [launch_id],
        )
        changed = sorted(set(days))
        keep = f"AND day NOT IN ({self._marks(len(changed))})" if changed else ""
        # Closed days (day_tally) and the closed 15-minute slots of today (slot_tally) alike.
        for table, key in (("day_tally", "day"), ("slot_tally", "starts_at, day")):
            self._run(
                f"INSERT INTO {table} (launch_id, timezone, {key}, version, counts, computed_at) "
                f"SELECT launch_id, timezone, {key}, ?, counts, computed_at FROM {table} "
                f"WHERE launch_id = ? AND timezone = ? AND version = ? {keep}",
                [version, launch_id, timezone, version - 1, *(d.isoformat() if self.sqlite else d for d in changed)],
            )
            self._run(f"DELETE FROM {table} WHERE launch_id = ? AND version < ?", [launch_id, version])
        # The counts so far (launch_tally) hold the changed days too: counted again, not carried over.
        self._run("DELETE FROM launch_tally WHERE launch_id = ? AND version < ?", [launch_id, version])
        return int(version)

    def launch_timezone(self, launch_id: int) -> str:
        [(timezone,)] = self._query("SELECT timezone FROM launch WHERE id = ?", [launch_id])
        return str(timezone)

    def touch_tokens(self, token_ids: Sequence[int], *, now: dt.datetime, stale_before: dt.datetime) -> None:
        if token_ids:
            where, params = self._in("id", token_ids)
            self._run(
                f"UPDATE api_token SET last_used_at = ? WHERE {where} AND (last_used_at IS NULL OR last_used_at < ?)",
                [self._time(now), *params, self._time(stale_before)],
            )
