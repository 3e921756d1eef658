"""`tally backup` and `tally restore`: a consistent copy taken while the app writes, and a round trip
back into a fresh database with the same counts (SQLite through the app's own verbs; PostgreSQL with
pg_dump and pg_restore, the tools the verbs point to)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import resource
import shlex
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app import api_tokens, backup, migrations
from app.db import Database
from app.main import create_app
from app.models import Launch
from app.recording.record import NewEnquiry, insert_many
from tests.conftest import PG_SKIP_REASON, ThrowawayPostgres, make_settings
from tests.factories import T0, hypothesis_ids, make_launch
from tests.processes import free_port, started
from tests.test_cli_newcomers import tally

NOW = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)  # when a restore runs

SLUG = "test-launch"
WHOLE = {"start": "2026-11-16T00:00:00+01:00", "end": "2026-11-23T00:00:00+01:00"}


def enquiries(launch: Launch, ids: dict[str, int], count: int, start: int = 0) -> list[NewEnquiry]:
    """``count`` enquiries over the launch's first days: other, one hypothesis, or two."""
    keys = [(), ("a",), ("a", "b")]
    return [
        NewEnquiry(
            launch_id=launch.id or 0,
            channel="phone",
            segment="private",
            created_at=T0 + dt.timedelta(seconds=37 * (start + i)),
            hypothesis_ids=tuple(ids[k] for k in keys[(start + i) % 3]),
            note="a note" if (start + i) % 3 == 0 else None,
        )
        for i in range(count)
    ]


def seed(db: Database, count: int) -> Launch:
    launch = make_launch(db, slug=SLUG, hypotheses=("a", "b"))
    ids = hypothesis_ids(db, launch)
    with db.write_connection() as connection:
        insert_many(connection, enquiries(launch, ids, count))
    return launch


def consistent(path: Path) -> dict[str, int]:
    """The copy's row counts, after checking that it is whole and that every enquiry has exactly
    the links it was recorded with (its batch committed whole, or not at all)."""
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        unlinked = connection.execute(
            "SELECT count(*) FROM enquiry e WHERE e.is_other = 0 "
            "AND NOT EXISTS (SELECT 1 FROM enquiry_hypothesis l WHERE l.enquiry_id = e.id)"
        ).fetchone()[0]
        linked_other = connection.execute(
            "SELECT count(*) FROM enquiry e WHERE e.is_other = 1 "
            "AND EXISTS (SELECT 1 FROM enquiry_hypothesis l WHERE l.enquiry_id = e.id)"
        ).fetchone()[0]
        assert (unlinked, linked_other) == (0, 0)
        enquiry, links, other = connection.execute(
            "SELECT count(*), (SELECT count(*) FROM enquiry_hypothesis), sum(is_other) FROM enquiry"
        ).fetchone()
    finally:
        connection.close()
    # Every batch below is whole thirds of other, one link and two links.
    assert links == (enquiry - other) * 3 // 2
    return {"enquiries": enquiry, "links": links, "other": other}


def app_counts(url: str) -> dict[str, object]:
    """The launch's counts as the API gives them, from the database at ``url``."""
    from app import api_tokens

    db = Database(url)
    try:
        with db.transaction() as session:
            _, raw = api_tokens.create(session, name="check", now=dt.datetime.now(dt.UTC), actor="test")
        with TestClient(create_app(make_settings(url), db=db)) as client:
            response = client.get(
                f"/api/v1/launches/{SLUG}/tally", params=WHOLE, headers={"Authorization": f"Bearer {raw}"}
            )
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return {key: body[key] for key in ("total", "other", "hypotheses", "channels")}
    finally:
        db.dispose()


@pytest.fixture
def sqlite_url(database_url: str) -> str:
    if not database_url.startswith("sqlite"):
        pytest.skip("`tally backup` copies SQLite files; PostgreSQL's round trip is the pg_dump test below")
    return database_url


# --- SQLite -----------------------------------------------------------------------------------------


def test_a_backup_taken_while_writes_go_on_is_a_consistent_snapshot(
    sqlite_url: str, db: Database, tmp_path: Path
) -> None:
    launch = seed(db, 30_000)
    ids = hypothesis_ids(db, launch)
    written = threading.Event()
    stop = threading.Event()
    batches = [0]
    failures: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                with db.write_connection() as connection:
                    insert_many(connection, enquiries(launch, ids, 30, start=100_000 + batches[0] * 30))
                batches[0] += 1
                written.set()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failures.append(exc)
            written.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        written.wait()
        before = batches[0]
        copies = [backup.backup_sqlite(sqlite_url, tmp_path / f"copy-{n}.db") for n in range(3)]
        during = batches[0] - before
    finally:
        stop.set()
        writer.join()
    assert failures == []
    assert during > 0  # the writer went on while the copies were taken
    found = [consistent(copy.path) for copy in copies]
    for copy, counts in zip(copies, found, strict=True):
        assert copy.enquiries == counts["enquiries"] >= 30_000
        assert (counts["enquiries"] - 30_000) % 30 == 0  # whole batches only
    assert found[0]["enquiries"] <= found[1]["enquiries"] <= found[2]["enquiries"]


def test_a_round_trip_gives_the_same_counts(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    seed(db, 3_000)
    expected = app_counts(sqlite_url)
    copy = backup.backup_sqlite(sqlite_url, tmp_path / "backup.db")
    target = f"sqlite:///{tmp_path / 'restored' / 'tally.db'}"
    restored = backup.restore_sqlite(target, copy.path, now=NOW)
    assert restored.enquiries == 3_000 and restored.to_revision == copy.revision
    assert app_counts(target) == expected


def test_a_backup_is_readable_by_its_owner_only(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    """It holds password hashes and the audit trail, whatever the umask."""
    seed(db, 3)
    copy = backup.backup_sqlite(sqlite_url, tmp_path / "nightly.db")
    assert copy.path.stat().st_mode & 0o777 == 0o600


def test_a_backup_never_replaces_a_file_unless_forced(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    seed(db, 10)
    existing = tmp_path / "existing.db"
    existing.write_text("keep me")
    with pytest.raises(backup.BackupError, match="exists already"):
        backup.backup_sqlite(sqlite_url, existing)
    assert existing.read_text() == "keep me"
    assert backup.backup_sqlite(sqlite_url, existing, force=True).enquiries == 10
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_a_backup_is_read_where_nothing_can_be_written_beside_it(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    """Restoring from a read-only volume or share: a file in WAL mode (as every backup was) needs a
    -shm file beside it to be read the usual way, and restore called a good backup "not a Launch
    Tally database". A -shm that cannot be made (a folder of that name) stands in for the read-only
    folder, which root, running the tests, could write anyway."""
    seed(db, 5)
    copy = backup.backup_sqlite(sqlite_url, tmp_path / "new" / "backup.db")
    with contextlib.closing(sqlite3.connect(copy.path)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete", "one self-contained file"
    older = tmp_path / "old" / "backup.db"  # as backups were written before: in WAL mode
    older.parent.mkdir()
    shutil.copyfile(copy.path, older)
    with contextlib.closing(sqlite3.connect(older)) as connection:
        assert connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    for path in (copy.path, older):
        path.with_name(path.name + "-shm").mkdir()
        target = f"sqlite:///{tmp_path / path.parent.name / 'restored.db'}"
        assert backup.restore_sqlite(target, path, now=NOW).enquiries == 5


def test_restore_says_where_it_cannot_write(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    seed(db, 2)
    made = tally("backup", str(tmp_path / "backup.db"), env={"TALLY_DATABASE_URL": sqlite_url})
    assert made.returncode == 0, made.stderr
    taken = tmp_path / "taken.db"  # a folder where the database file should go
    taken.mkdir()
    restored = tally("restore", str(tmp_path / "backup.db"), env={"TALLY_DATABASE_URL": f"sqlite:///{taken}"})
    assert restored.returncode == 1 and "Traceback" not in restored.stderr
    assert f"Cannot open a database at {taken}" in restored.stderr


def test_restore_refuses_what_is_not_a_launch_tally_database(sqlite_url: str, tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'target.db'}"
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    newer = tmp_path / "newer.db"
    shutil.copyfile(Path(sqlite_url.removeprefix("sqlite:///")), newer)
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    connection.close()
    impostor = tmp_path / "invoices.db"  # another app's file, with a revision name of ours
    with sqlite3.connect(impostor) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES (?)", [migrations.head_revision()])
        connection.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    connection.close()
    cut = tmp_path / "cut.db"  # a copy that stopped a third of the way
    data = Path(sqlite_url.removeprefix("sqlite:///")).read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    for path, reason in (
        (cut, "cut.db is damaged: database disk image is malformed"),
        (text, "is not a SQLite database"),
        (other, "is not a Launch Tally database"),
        (newer, "made by a newer version"),
        (impostor, r"is not a Launch Tally database of schema revision .*: it has no enquiry, hypothesis, launch"),
        (tmp_path / "missing.db", "There is no file"),
    ):
        with pytest.raises(backup.BackupError, match=reason):
            backup.restore_sqlite(target, path, now=NOW)
    assert not (tmp_path / "target.db").exists()


def test_restore_keeps_the_database_it_replaces(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    """A restore of the wrong backup (or one that fails half-way) can be undone: the old file stays."""
    launch = seed(db, 7)
    week_old = backup.backup_sqlite(sqlite_url, tmp_path / "week-old.db")
    with db.write_connection() as connection:  # what happened since
        insert_many(connection, enquiries(launch, hypothesis_ids(db, launch), 5, start=7))
    target = Path(sqlite_url.removeprefix("sqlite:///"))
    db.dispose()
    restored = backup.restore_sqlite(sqlite_url, week_old.path, now=NOW, force=True)
    assert restored.enquiries == 7
    assert restored.kept == target.with_name(f"{target.name}.before-restore-20261118T100000Z")
    assert restored.kept.stat().st_mode & 0o777 == 0o600
    with contextlib.closing(sqlite3.connect(restored.kept)) as kept:
        assert kept.execute("SELECT count(*) FROM enquiry").fetchone()[0] == 12


def test_restore_recovers_a_damaged_database(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    """The restore needed most: a database cut short (a full disk, a bad copy). Its copy "before restore",
    taken with the backup API, failed on it: a traceback, nothing restored, and an empty
    `.before-restore-` file left at each try. The damaged files are now kept as they are."""
    seed(db, 9)
    copy = backup.backup_sqlite(sqlite_url, tmp_path / "backup.db")
    db.dispose()
    target = Path(sqlite_url.removeprefix("sqlite:///"))
    damaged = target.read_bytes()[:50_000]
    target.write_bytes(damaged)
    wal = target.with_name(target.name + "-wal")
    wal.write_bytes(b"what the log held")
    env = {"TALLY_DATABASE_URL": sqlite_url}
    refused = tally("restore", str(copy.path), env=env)  # the -wal: it may be in use
    assert refused.returncode == 1 and "seems in use" in refused.stderr and "Traceback" not in refused.stderr
    restored = tally("restore", str(copy.path), "--force", env=env)
    assert restored.returncode == 0, restored.stderr
    [kept] = [p for p in tmp_path.glob("tally.db.before-restore-*") if not p.name.endswith(("-wal", "-shm"))]
    assert restored.stdout.splitlines()[1:] == [
        "The database it replaced was not a healthy SQLite database (database disk image is malformed): it is kept "
        f"as it was, as {kept}."
    ]
    assert kept.read_bytes() == damaged
    assert all(p.stat().st_size > 0 for p in tmp_path.glob("*.before-restore-*")), "never an empty leftover"
    assert kept.with_name(kept.name + "-wal").read_bytes() == b"what the log held"
    assert consistent(target)["enquiries"] == 9
    assert "Traceback" not in restored.stderr


def test_a_damaged_database_is_said_in_one_line(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    seed(db, 2)
    db.dispose()
    target = Path(sqlite_url.removeprefix("sqlite:///"))
    target.write_bytes(target.read_bytes()[:50_000])
    env = {"TALLY_DATABASE_URL": sqlite_url}
    said = (
        f"{target} is not a healthy SQLite database: database disk image is malformed; restore a backup with "
        "`tally restore`."
    )
    for args in (("backup", str(tmp_path / "nightly.db")), ("db", "current"), ("users", "list")):
        result = tally(*args, env=env)
        assert (result.returncode, result.stderr.strip()) == (1, said), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tally.db"]  # no backup, whole or partial


@pytest.fixture
def held_open(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another process with the database open, as a running `tally serve` has it."""
    path = tmp_path / "live" / "tally.db"
    db = Database(f"sqlite:///{path}")
    migrations.upgrade(db)
    db.dispose()
    script = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode=WAL');"
        "c.execute('SELECT count(*) FROM launch').fetchall(); print('open', flush=True); sys.stdin.read()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "open"
    try:
        yield path, process
    finally:
        process.communicate(timeout=60)


def test_restore_refuses_a_database_in_use_unless_forced(
    sqlite_url: str, db: Database, tmp_path: Path, held_open: tuple[Path, subprocess.Popen[str]]
) -> None:
    seed(db, 12)
    copy = backup.backup_sqlite(sqlite_url, tmp_path / "backup.db")
    path, process = held_open
    with pytest.raises(backup.BackupError, match=f"seems in use: process {process.pid} has it open"):
        backup.restore_sqlite(f"sqlite:///{path}", copy.path, now=NOW)
    assert backup.restore_sqlite(f"sqlite:///{path}", copy.path, now=NOW, force=True).enquiries == 12


def test_a_backup_never_overwrites_the_databases_own_files(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    """Its -wal and -shm are the database too: `tally backup tally.db-wal --force`, written over the
    log of a database in use, left it "database disk image is malformed"."""
    launch = seed(db, 30)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with db.write_connection() as connection:  # in the log, not yet in the database file
        insert_many(connection, enquiries(launch, hypothesis_ids(db, launch), 6, start=30))
    for suffix in ("", "-wal", "-shm", "-journal"):
        for force in (False, True):
            with pytest.raises(backup.BackupError, match="would overwrite the database itself"):
                backup.backup_sqlite(sqlite_url, path.with_name(path.name + suffix), force=force)
            # Through a folder not made yet, whose ".." is the database's folder.
            with pytest.raises(backup.BackupError, match="would overwrite the database itself"):
                backup.backup_sqlite(sqlite_url, path.parent / "new" / ".." / (path.name + suffix), force=force)
    assert consistent(path)["enquiries"] == 36


@contextlib.contextmanager
def second_mount(folder: Path, at: Path) -> Iterator[Path]:
    """``folder`` mounted again at ``at`` (a bind mount, as a container's volume is the host's folder)."""
    at.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root and mount(8) to bind-mount a folder")
    mounted = subprocess.run(["mount", "--bind", str(folder), str(at)], capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"bind mounts are not allowed here: {mounted.stderr.strip()}")
    try:
        yield at
    finally:
        subprocess.run(["umount", str(at)], check=True)


def test_a_backup_never_overwrites_the_databases_own_files_through_another_mount(
    sqlite_url: str, db: Database, tmp_path: Path
) -> None:
    """The same folder by another path (a bind mount) was taken for another folder: the backup was
    written over the live -wal, and every new connection read "file is not a database"."""
    launch = seed(db, 30)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with db.write_connection() as connection:
        insert_many(connection, enquiries(launch, hypothesis_ids(db, launch), 6, start=30))
    with second_mount(path.parent, tmp_path / "again") as again:
        for suffix in ("", "-wal", "-shm"):
            with pytest.raises(backup.BackupError, match="would overwrite the database itself"):
                backup.backup_sqlite(sqlite_url, again / (path.name + suffix), force=True)
        copied = backup.backup_sqlite(sqlite_url, again / "copy.db")  # another file there is a backup
        assert copied.enquiries == 36
    assert consistent(path)["enquiries"] == 36


def limited(*args: str, env: dict[str, str], size: int) -> subprocess.CompletedProcess[str]:
    """`tally ARGS` where no file may grow past ``size`` bytes: a disk that fills up half-way."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit,
    )


def test_a_backup_on_a_full_disk_says_so_and_leaves_nothing(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    seed(db, 3_000)
    size = Path(sqlite_url.removeprefix("sqlite:///")).stat().st_size
    folder = tmp_path / "backups"
    folder.mkdir()
    made = limited("backup", str(folder / "nightly.db"), env={"TALLY_DATABASE_URL": sqlite_url}, size=size // 2)
    assert made.returncode == 1 and "Traceback" not in made.stderr, made.stderr
    assert f"check the free space in {folder}" in made.stderr and "Nothing was written" in made.stderr
    assert list(folder.iterdir()) == []  # nor the copy's journal


def test_a_restore_on_a_full_disk_says_so_and_changes_nothing(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    seed(db, 3_000)
    big = backup.backup_sqlite(sqlite_url, tmp_path / "big.db").path
    small = Database(f"sqlite:///{tmp_path / 'small.db'}")
    migrations.upgrade(small)
    seed(small, 5)
    small.dispose()
    folder = tmp_path / "served"
    served = folder / "tally.db"
    env = {"TALLY_DATABASE_URL": f"sqlite:///{served}"}

    def kept() -> list[str]:
        return sorted(p.name for p in folder.iterdir() if ".before-restore-" in p.name)

    # Room for a copy of the database it replaces, not for the backup.
    assert tally("restore", str(tmp_path / "small.db"), env=env).returncode == 0
    restored = limited("restore", str(big), env=env, size=(served.stat().st_size + big.stat().st_size) // 2)
    assert restored.returncode == 1 and "Traceback" not in restored.stderr, restored.stderr
    assert "The restore stopped: " in restored.stderr and f"check the free space in {folder}" in restored.stderr
    assert f"{served} is as it was" in restored.stderr and kept()[0] in restored.stderr
    assert consistent(served)["enquiries"] == 5
    # No room for the copy of the database it replaces, kept before anything is changed.
    for name in kept():
        (folder / name).unlink()
    assert tally("restore", str(big), "--force", env=env).returncode == 0
    restored = limited("restore", str(tmp_path / "small.db"), "--force", env=env, size=big.stat().st_size // 2)
    assert restored.returncode == 1 and "Traceback" not in restored.stderr, restored.stderr
    assert (
        "The restore stopped before it began" in restored.stderr
        and f"Nothing was changed in {served}" in restored.stderr
    )
    assert consistent(served)["enquiries"] == 3_000
    assert kept() == [name for name in kept() if name.endswith("Z")] and len(kept()) == 1  # the forced restore's


def test_a_restore_onto_a_new_host_stopped_by_a_full_disk_leaves_no_database(
    sqlite_url: str, db: Database, tmp_path: Path
) -> None:
    """It said "Nothing was restored" and left an empty tally.db, which `tally scheduler` (refusing to
    start without a database) took for one, and made a new, empty database in."""
    seed(db, 3_000)
    big = backup.backup_sqlite(sqlite_url, tmp_path / "big.db").path
    served = tmp_path / "new-host" / "tally.db"
    env = {"TALLY_DATABASE_URL": f"sqlite:///{served}"}
    restored = limited("restore", str(big), env=env, size=big.stat().st_size // 2)
    assert restored.returncode == 1 and f"Nothing was restored into {served}." in restored.stderr, restored.stderr
    assert sorted(p.name for p in served.parent.iterdir()) == []  # `tally scheduler` refuses to start
    # An empty file an operator made for it, with its own mode (and owner): left there, as it was.
    served.touch(mode=0o640)
    served.chmod(0o640)
    restored = limited("restore", str(big), env=env, size=big.stat().st_size // 2)
    assert restored.returncode == 1 and f"Nothing was restored into {served}." in restored.stderr, restored.stderr
    assert sorted(p.name for p in served.parent.iterdir()) == ["tally.db"]
    assert served.stat().st_size == 0 and served.stat().st_mode & 0o777 == 0o640


STOPPED_HALF_WAY = """
import os, signal, sys
from app import backup, cli
checked = backup._problems
def problems(connection):  # the copy is made and not yet moved into place: SIGTERM, as systemd sends it
    os.kill(os.getpid(), signal.SIGTERM)
    return checked(connection)
backup._problems = problems
sys.argv = ["tally", "backup", sys.argv[1]]
cli.main()
"""


def test_a_backup_stopped_half_way_leaves_nothing_behind(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    """A timeout or systemd stopping the job: the partial copy, as big as the database, stayed under a
    hidden name, and each stopped run left another."""
    seed(db, 30)
    folder = tmp_path / "backups"
    stopped = subprocess.run(
        [sys.executable, "-c", STOPPED_HALF_WAY, str(folder / "nightly.db")],
        env={**os.environ, "TALLY_DATABASE_URL": sqlite_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr, stopped.stderr
    assert f"The backup was stopped (SIGTERM): nothing was written to {folder / 'nightly.db'}" in stopped.stderr
    assert list(folder.iterdir()) == []


# --- the commands -------------------------------------------------------------------------------------


def test_the_commands(sqlite_url: str, db: Database, tmp_path: Path) -> None:
    seed(db, 42)
    env = {"TALLY_DATABASE_URL": sqlite_url}
    target = tmp_path / "nightly.db"
    made = tally("backup", str(target), env=env)
    assert made.returncode == 0, made.stderr
    assert f"Wrote {target}" in made.stdout and "42 enquiries" in made.stdout
    again = tally("backup", str(target), env=env)
    assert again.returncode == 1 and "exists already" in again.stderr and "Traceback" not in again.stderr
    assert tally("backup", str(target), "--force", env=env).returncode == 0
    fresh = {"TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh' / 'tally.db'}"}
    restored = tally("restore", str(target), env=fresh)
    assert restored.returncode == 0, restored.stderr
    assert "42 enquiries" in restored.stdout


def test_a_database_served_then_stopped_can_be_restored_over_at_once(
    sqlite_url: str, db: Database, tmp_path: Path
) -> None:
    """The operators' guide says: stop the app, then restore. A stopped `tally serve` (with its
    scheduler) left its write-ahead log behind, which restore took for an app still running."""
    seed(db, 3)
    with db.transaction() as session:
        _, token = api_tokens.create(session, name="telephony", now=dt.datetime.now(dt.UTC), actor="test")
    copy = backup.backup_sqlite(sqlite_url, tmp_path / "backup.db")
    port = free_port()
    env = {"TALLY_DATABASE_URL": sqlite_url, "TALLY_SECRET_KEY": "s" * 40}
    db.dispose()
    with started("serve", "--port", str(port), env=env, cwd=tmp_path) as server:
        for _ in range(3):
            response = httpx.post(
                f"http://127.0.0.1:{port}/api/v1/launches/{SLUG}/enquiries",
                json={"channel": "phone"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201, response.text
        server.stop()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    assert backup.in_use(path) is None
    assert backup.restore_sqlite(sqlite_url, copy.path, now=NOW).enquiries == 3


def test_on_postgresql_the_commands_name_the_tools_without_the_password(tmp_path: Path) -> None:
    env = {"TALLY_DATABASE_URL": "postgresql+psycopg://tally:s3cret@db.internal:5432/tally?sslmode=require"}
    dump = tally("backup", str(tmp_path / "tally.dump"), env=env)
    assert dump.returncode == 1 and "Traceback" not in dump.stderr
    assert (
        f"pg_dump --format=custom --file={tmp_path / 'tally.dump'} "
        "'--dbname=postgresql://tally@db.internal:5432/tally?sslmode=require'" in dump.stderr
    )
    restore = tally("restore", str(tmp_path / "tally.dump"), env=env)
    assert restore.returncode == 1 and "pg_restore --clean --if-exists --no-owner" in restore.stderr
    assert "tally db upgrade" in restore.stderr
    assert "s3cret" not in dump.stderr + dump.stdout + restore.stderr + restore.stdout
    assert not (tmp_path / "tally.dump").exists()


# --- PostgreSQL ---------------------------------------------------------------------------------------


def test_a_postgresql_round_trip_with_pg_dump_and_pg_restore(
    postgres: ThrowawayPostgres | None, db: Database, tmp_path: Path
) -> None:
    if postgres is None:
        pytest.skip(PG_SKIP_REASON)
    missing = [tool for tool in ("/usr/bin/pg_dump", "/usr/bin/pg_restore") if not Path(tool).exists()]
    if missing:
        pytest.skip(f"needs PostgreSQL's client tools: {', '.join(missing)} not found")
    seed(db, 3_000)
    expected = app_counts(db.url)
    dump = tmp_path / "tally.dump"
    # The very commands `tally backup` and `tally restore` print, run from the shell.
    subprocess.run(shlex.split(backup.pg_dump_command(db.url, dump)), check=True, capture_output=True, timeout=300)
    target = postgres.new_database()
    restored = subprocess.run(
        shlex.split(backup.pg_restore_command(target, dump)), capture_output=True, text=True, timeout=300, check=False
    )
    assert restored.returncode == 0, restored.stderr
    assert app_counts(target) == expected
