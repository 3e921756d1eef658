"""The command line as a newcomer meets it: every verb works on a brand-new database, and no known
error prints a traceback (run as the real `tally` process, as operators do)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import ThrowawayPostgres
from tests.processes import ROOT

EXAMPLE = ROOT / "hypotheses" / "payapp-redesign.yaml"
UNREACHABLE = "postgresql+psycopg://u:secret@127.0.0.1:{port}/x?connect_timeout=2"


def tally(
    *args: str, env: dict[str, str], stdin: str | None = None, cwd: Path = ROOT, clean: bool = False
) -> subprocess.CompletedProcess[str]:
    """`tally ARGS` as an operator runs it; ``clean``: with none of this shell's TALLY_ and SLACK_ settings."""
    inherited = {k: v for k, v in os.environ.items() if not (clean and k.startswith(("TALLY_", "SLACK_")))}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**inherited, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


def shown(url: str) -> str:
    """The database as `tally` names it: a SQLite file's absolute path, else the URL without its password."""
    if url.startswith("sqlite:///"):
        return str(Path(url.removeprefix("sqlite:///")).resolve())
    return make_url(url).render_as_string(hide_password=True)


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, str]:
    return {"TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'new' / 'tally.db'}"}


@pytest.fixture
def empty(fresh: dict[str, str]) -> dict[str, str]:
    """A brand-new database: on SQLite an empty file, as `tally db upgrade` or a provisioning tool leaves it
    (on PostgreSQL, a database just created)."""
    path = Path(fresh["TALLY_DATABASE_URL"].removeprefix("sqlite:///"))
    path.parent.mkdir()
    path.touch()
    return fresh


@pytest.mark.parametrize(
    "args",
    [
        ("hypotheses", "import", str(EXAMPLE)),
        ("users", "list"),
        ("tokens", "list"),
        ("tokens", "create", "telephony", "--role", "lead"),
        ("digest", "run-due", "--now", "2026-11-18T13:00:00+01:00"),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_every_verb_works_on_a_brand_new_database(empty: dict[str, str], args: tuple[str, ...]) -> None:
    result = tally(*args, env=empty)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_list_says_where_it_looked_and_what_to_do(empty: dict[str, str]) -> None:
    """Nothing at all printed, exit 0, was how running from the wrong directory (another SQLite file) looked."""
    path = empty["TALLY_DATABASE_URL"].removeprefix("sqlite:///")
    users = tally("users", "list", env=empty)
    assert f"No users in {path} yet: add one with `tally users add NAME --role admin`." in users.stdout
    tokens = tally("tokens", "list", env=empty)
    assert f"No API tokens in {path} yet" in tokens.stdout


def test_with_auto_migrate_off_a_new_database_is_refused_in_one_line(empty: dict[str, str]) -> None:
    result = tally("users", "list", env={**empty, "TALLY_AUTO_MIGRATE": "false"})
    assert result.returncode != 0
    assert "tally db upgrade" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (("hypotheses", "export", "nope"), {}, "No launch with slug 'nope'"),
        (("digest", "send", "nope"), {}, "No launch with slug 'nope'"),
        (("tokens", "revoke", "99"), {}, "No API token with id 99"),
        (("users", "passwd", "nobody"), {}, "No user called 'nobody'"),
        (("digest", "run-due", "--now", "tomorrow"), {}, "is not an ISO time"),
        (("hypotheses", "import", "/no/such/file.yaml"), {}, "cannot read"),
        (("users", "list"), {"TALLY_DATABASE_URL": UNREACHABLE}, "did not answer"),
        (("users", "list"), {"TALLY_ENV": "production"}, "TALLY_SECRET_KEY"),
        # taken, then every verb ended in "TypeError: Invalid argument(s) 'max_overflow','pool_timeout'"
        (("users", "list"), {"TALLY_DATABASE_URL": "sqlite:///:memory:"}, "an in-memory database would lose"),
        # Usage errors, as typer's own copy of click raises them: each said in a line, with the usage.
        (("nosuchverb",), {}, "No such command 'nosuchverb'"),
        (("users", "add", "bob", "--role", "superuser"), {}, "Invalid value for '--role'"),
        (("users", "add"), {}, "Missing argument 'name'"),
        (("tokens", "revoke", "abc"), {}, "Invalid value for 'token_id'"),
        (("serve", "--workers", "0"), {}, "Invalid value for '--workers'"),
    ],
)
def test_known_errors_are_one_clear_message(
    empty: dict[str, str], args: tuple[str, ...], env: dict[str, str], says: str
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value.format(port=port) for key, value in env.items()}
    result = tally(*args, env={**empty, **env})
    assert result.returncode != 0
    assert says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and ":secret@" not in result.stderr  # no password shown


def test_a_command_on_an_up_to_date_database_says_nothing_about_the_schema(fresh: dict[str, str]) -> None:
    """A cron job's `digest run-due` mailed Alembic's two context lines every minute."""
    assert tally("db", "upgrade", env=fresh).returncode == 0
    quiet = tally("digest", "run-due", env=fresh)
    assert quiet.returncode == 0 and quiet.stdout.strip() == "nothing due"
    assert "Context impl" not in quiet.stderr and "Will assume" not in quiet.stderr, quiet.stderr


def test_db_current_on_a_mistyped_path_says_so_and_makes_no_file(tmp_path: Path) -> None:
    """sqlite:///tmp/x.db (three slashes) is a path relative to where it runs: it made an empty file there."""
    missing = tmp_path / "nowhere" / "tally.db"
    result = tally("db", "current", env={"TALLY_DATABASE_URL": f"sqlite:///{missing}"})
    assert result.returncode == 1 and f"No database at {missing}: run `tally db upgrade` first" in result.stderr
    assert not missing.exists() and not missing.parent.exists()


def in_folder(folder: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`tally ARGS` run in ``folder`` with no TALLY_ settings: on the default database, var/tally.db there."""
    return tally(*args, env={}, stdin=stdin, cwd=folder, clean=True)


@pytest.mark.parametrize(
    "args",
    [
        ("users", "add", "ada", "--role", "admin"),
        ("users", "passwd", "ada"),
        ("users", "role", "ada", "lead"),
        ("tokens", "create", "telephony"),
        ("hypotheses", "import", str(EXAMPLE)),
        ("enquiries", "import", str(ROOT / "README.md"), "--launch", "payapp-redesign"),
        ("users", "list"),
        ("digest", "run-due"),
        ("scheduler",),
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_a_verb_run_in_another_folder_makes_no_new_database_there(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`cd docs && tally users add ada --role admin` said "Added ada (admin)." into a new docs/var/tally.db,
    and ada could not sign in to the real app."""
    result = in_folder(tmp_path, *args)
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip() == (
        f"No database at {tmp_path / 'var' / 'tally.db'} (a sqlite:/// path is relative to the folder the command "
        "runs in): run `tally db upgrade` first to make one there, or set TALLY_DATABASE_URL to the database you mean."
    )
    assert not (tmp_path / "var").exists()


def test_each_change_names_the_database_it_was_made_in(tmp_path: Path) -> None:
    assert in_folder(tmp_path, "db", "upgrade").returncode == 0
    where = tmp_path / "var" / "tally.db"
    for args, said in (
        (("users", "add", "ada", "--role", "admin"), f"Added ada (admin) to {where}."),
        (("users", "passwd", "ada"), f"New password for ada in {where}; signed out everywhere."),
        # Another user's role and access: the only admin's are refused (one active admin always remains).
        (("users", "add", "kari"), f"Added kari (agent) to {where}."),
        (("users", "role", "kari", "lead"), f"kari is lead now, in {where}."),
        (("users", "disable", "kari"), f"kari is disabled in {where} and signed out everywhere."),
        (("users", "enable", "kari"), f"kari is enabled in {where}: they can sign in again."),
        (("tokens", "create", "telephony"), f"Token 1 (integration) for 'telephony' in {where} (shown once;"),
        (("tokens", "revoke", "1"), f"Revoked token 1 (telephony) in {where}."),
        (("hypotheses", "import", str(EXAMPLE)), f"Imported into {where}:"),
    ):
        result = in_folder(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(said), result.stdout
    with_stdin = in_folder(tmp_path, "users", "passwd", "ada", "--password-stdin", stdin="a password of my own\n")
    assert with_stdin.stdout == f"New password for ada in {where}; signed out everywhere.\n"


def test_a_file_that_is_not_a_database_is_said_in_one_line(tmp_path: Path) -> None:
    table = tmp_path / "enquiries.csv"
    table.write_text("occurred_at,hypotheses,channel\n2026-11-18T09:00:00+01:00,a,phone\n", encoding="utf-8")
    for args in (("db", "upgrade"), ("db", "current"), ("users", "list")):
        result = tally(*args, env={"TALLY_DATABASE_URL": f"sqlite:///{table}"})
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"{table} is not a SQLite database (file is not a database): check TALLY_DATABASE_URL, or, if it was the "
            "database, restore a backup with `tally restore`."
        )
    assert table.read_text(encoding="utf-8").startswith("occurred_at,")


def test_a_path_through_a_file_is_said_as_such(tmp_path: Path, empty: dict[str, str]) -> None:
    """Where a part of the path was a file, mkdir said only "File exists: /tmp/x/a.csv"."""
    table = tmp_path / "a.csv"
    table.write_text("x\n", encoding="utf-8")
    for args, env in (
        (("db", "upgrade"), {"TALLY_DATABASE_URL": f"sqlite:///{table / 'x.db'}"}),
        (("users", "list"), {"TALLY_DATABASE_URL": f"sqlite:///{table / 'x.db'}"}),
        (("backup", str(table / "b.db")), empty),
    ):
        result = tally(*args, env=env)
        made = table / ("b.db" if args[0] == "backup" else "x.db")
        assert result.returncode == 1
        assert result.stderr.strip() == f"{made} cannot be made: a part of its path is a file, not a folder: {table}"


def test_a_password_with_an_unescaped_at_is_never_shown(tmp_path: Path) -> None:
    """`postgres:***@cretPW@127.0.0.1… failed to resolve host 'cretPW@127.0.0.1'`: half the password, twice."""
    for url in ("postgresql://postgres:se@cretPW@127.0.0.1:5432/x", "postgresql://postgres:se@cretPW@127.0.0.1:5432"):
        result = tally("users", "list", env={"TALLY_DATABASE_URL": url})
        assert result.returncode == 2 and "written %40" in result.stderr, result.stderr
        assert "cretPW" not in result.stderr + result.stdout


def test_a_user_who_may_not_create_tables_is_told_what_it_needs(pg: ThrowawayPostgres) -> None:
    """PostgreSQL 15 gives PUBLIC no CREATE on schema public: `tally db upgrade` as a user that does not own
    the database ended in 338 lines of ProgrammingError."""
    url = make_url(pg.new_database())
    role = f"tally_newcomer_{os.getpid()}"
    admin = sa.create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        as_role = url.set(username=role, password=None).render_as_string(hide_password=False)
        result = tally("db", "upgrade", env={"TALLY_DATABASE_URL": as_role})
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"The database user {role} may not do this in the database {url.database}: permission denied for schema "
            f"public. Launch Tally's database user must own its database (ALTER DATABASE {url.database} OWNER TO "
            f"{role}) or at least have CREATE on its schema public (GRANT CREATE ON SCHEMA public TO {role}, run in "
            f"{url.database}): see docs/operations.md, Databases."
        )
    finally:  # the database goes at the end of the run, with the others; the role owns nothing in it
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def test_served_on_another_port_links_lead_there_unless_a_base_url_was_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tally demo --port 8765` printed its own address, while digest links led to :8000."""
    from app.cli import served_at
    from app.config import Settings

    monkeypatch.setenv("TALLY_BASE_URL", "")  # remembered, so that what served_at sets is undone after
    monkeypatch.delenv("TALLY_BASE_URL")
    plain = Settings(_env_file=None, secret_key="s" * 40)  # type: ignore[call-arg]
    assert served_at(plain, host="0.0.0.0", port=8765).base_url == "http://127.0.0.1:8765"  # noqa: S104
    assert os.environ["TALLY_BASE_URL"] == "http://127.0.0.1:8765"  # for uvicorn's workers
    assert served_at(plain, host="::1", port=8765).base_url == "http://[::1]:8765"
    chosen = Settings(_env_file=None, secret_key="s" * 40, base_url="https://tally.example.no")  # type: ignore[call-arg]
    assert served_at(chosen, host="127.0.0.1", port=8765).base_url == "https://tally.example.no"


@pytest.mark.parametrize("verb", [["serve", "--workers", "2"], ["demo"]])
def test_a_port_in_use_is_said_before_anything_starts(verb: list[str], tmp_path: Path) -> None:
    """On a port in use `tally serve --workers 2` hung for good (the scheduler's first pass, stopped
    mid-way), and with one worker ended in uvicorn's errno after a catch-up pass. Said first, now."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"TALLY_DATABASE_URL": f"sqlite:///{tmp_path / 'tally.db'}"}
        result = tally(*verb, "--port", str(port), env=env)
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"127.0.0.1:{port} is in use" in result.stderr and "--port" in result.stderr
    assert "digest scheduler starting" not in result.stderr + result.stdout


def test_a_misspelt_variable_is_warned_of_by_every_verb(fresh: dict[str, str]) -> None:
    result = tally("db", "current", env=fresh | {"TALLY_DATABSE_URL": "sqlite:////tmp/elsewhere.db"})
    assert "Warning: TALLY_DATABSE_URL is not a Launch Tally setting" in result.stderr
    assert "did you mean TALLY_DATABASE_URL?" in result.stderr


def test_a_misspelt_name_in_dotenv_is_warned_of_with_the_file_named(fresh: dict[str, str], tmp_path: Path) -> None:
    """A TALLY_DATABSE_URL typo in .env silently left the default database in use."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("TALLY_DATABSE_URL=sqlite:////tmp/elsewhere.db\nTALLY_TIMEZONE=Europe/Oslo\n", encoding="utf-8")
    result = tally("db", "current", env=fresh, cwd=tmp_path)
    assert (
        f"Warning: TALLY_DATABSE_URL (in {dotenv.resolve()}) is not a Launch Tally setting and is ignored: "
        "did you mean TALLY_DATABASE_URL?" in result.stderr
    ), result.stderr
    assert "TALLY_TIMEZONE" not in result.stderr
    # Set in the environment too: said once, for the environment, which is what is read.
    twice = tally("db", "current", env=fresh | {"TALLY_DATABSE_URL": "x"}, cwd=tmp_path)
    assert twice.stderr.count("TALLY_DATABSE_URL") == 1 and "(in " not in twice.stderr


def test_an_odd_dotenv_is_told_once_and_clearly(fresh: dict[str, str], tmp_path: Path) -> None:
    """A .env saved as Latin-1 (TALLY_SITE_NAME=Kåre) was a traceback; a line python-dotenv cannot parse
    was warned of twice (once by the typo check); a command run in a folder since removed said only
    "No such file or directory"."""
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"TALLY_SITE_NAME=K\xe5re\n")
    latin = tally("db", "current", env=fresh, cwd=tmp_path)
    assert latin.returncode != 0 and "Traceback" not in latin.stderr, latin.stderr
    assert f"{dotenv.resolve()} is not UTF-8 text (byte 0xe5" in latin.stderr and "save it as UTF-8" in latin.stderr
    dotenv.write_text("TALLY_DATABSE_URL=x\nthis is junk\n", encoding="utf-8")
    junk = tally("db", "current", env=fresh, cwd=tmp_path)
    assert junk.stderr.count("could not parse statement starting at line 2") == 1, junk.stderr
    assert "did you mean TALLY_DATABASE_URL?" in junk.stderr
    gone = tmp_path / "gone"
    gone.mkdir()
    removed = subprocess.run(
        ["sh", "-c", f"cd {gone} && rmdir {gone} && {sys.executable} -m app db current"],
        env=os.environ | fresh,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "No such file or directory" not in removed.stderr
    assert "No database at" in removed.stderr, removed.stderr  # past the settings, to the database they name


def test_importing_a_draft_says_what_it_takes_to_log_enquiries(empty: dict[str, str], tmp_path: Path) -> None:
    draft = tmp_path / "draft.yaml"
    draft.write_text("slug: draft-launch\nname: Draft\nstarts_on: 2026-11-16\n", encoding="utf-8")
    result = tally("hypotheses", "import", str(draft), env=empty)
    assert result.returncode == 0, result.stderr
    assert (
        "draft-launch is a draft: agents cannot log enquiries and no digests go out until it is live" in result.stdout
    )


@pytest.mark.parametrize("verb", ["serve", "demo"])
@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--port", "99999", "Invalid value for '--port'"),
        ("--host", "nosuchhost.invalid", "--host nosuchhost.invalid: this machine has no such address"),
        ("--host", "10.9.9.9", "--host 10.9.9.9: this machine has no such address"),
    ],
    ids=["port out of range", "unknown host name", "another machine's address"],
)
def test_an_address_that_cannot_be_served_is_said_as_such(
    verb: str, option: str, value: str, says: str, tmp_path: Path
) -> None:
    """--port 99999 ended in an OverflowError's traceback; a host name that resolves to nothing, or an
    address of another machine, was reported as "…is in use", sending people after a process that
    was not there. Nothing starts: no database is made."""
    from typer.testing import CliRunner

    from app.cli import cli

    database = tmp_path / "tally.db"
    # TALLY_BASE_URL set, so that serving does not set it in this process's environment for later tests.
    env = {"TALLY_DATABASE_URL": f"sqlite:///{database}", "TALLY_BASE_URL": "http://127.0.0.1:8765"}
    result = CliRunner().invoke(cli, [verb, option, value], env=env)
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert says in result.output, result.output
    assert "in use" not in result.output
    assert not database.exists()


def test_commands_give_up_connecting_after_the_configured_connect_timeout() -> None:
    """The scheduler and every verb built their database without TALLY_DATABASE_CONNECT_TIMEOUT: a
    server that accepts connections and never answers (a half-dead failover) held them for libpq's
    default whatever the setting said."""
    from app.cli import database_of
    from tests.conftest import make_settings

    with socket.socket() as silent:  # accepts (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"postgresql+psycopg://u@127.0.0.1:{silent.getsockname()[1]}/x"
        db = database_of(make_settings(url, database_connect_timeout=1))
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="timeout"):
            db.ping()
        # 1 s asked for; libpq's default when none is given is 5 (and the app's own default 5 too).
        assert time.monotonic() - started < 3.5
        db.dispose()


def test_a_file_that_is_not_utf8_is_said_on_its_line_with_what_to_do(tmp_path: Path, fresh: dict[str, str]) -> None:
    """A Latin-1 file was "l1.yaml:1: cannot read: 'utf-8' codec can't decode byte 0xe5 in position 753…"."""
    lines = ["slug: latin-one", "name: Latin One", "starts_on: 2026-11-16", "hypotheses:"]
    lines += [f"  - {{key: h{i}, label: Hypothesis {i}}}" for i in range(16)]
    lines += ["  - {key: fee, label: Gebyr på kortet}", "  - {key: last, label: Last}"]
    assert lines[20].endswith("på kortet}")
    latin1 = tmp_path / "l1.yaml"
    latin1.write_bytes("\n".join(lines).encode("latin-1"))
    unicode = tmp_path / "u16.yaml"
    unicode.write_bytes("\n".join(lines).encode("utf-16"))
    for verb in ("validate", "import"):
        result = tally("hypotheses", verb, str(latin1), str(unicode), env=fresh)
        assert result.returncode != 0
        said = result.stderr + result.stdout
        assert (
            f"{latin1}:21: the file is not UTF-8 text (byte 0xE5 on this line cannot be read): "
            "save it as UTF-8 and try again" in said
        ), said
        assert f"{unicode}:1: the file is UTF-16 text, not UTF-8: save it as UTF-8" in said, said
        assert "codec" not in said and "position" not in said
