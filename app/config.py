"""All configuration, read once from the environment (prefix ``TALLY_``) or ``.env``.

A bad value stops start-up with one line per problem that names the variable and
says what it expects: operators meet this before anything else, so it must not
be a pydantic traceback.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import logging
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import SplitResult, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from app.i18n import N_, TextValueError

ENV_PREFIX = "TALLY_"
ENV_FILE = ".env"  # read from the working directory, as pydantic-settings reads it
PLACEHOLDER_SECRET = "dev-only-secret-change-me"  # noqa: S105 - it is the placeholder production refuses
DEFAULT_DIGEST_TIMES = (dt.time(9, 0), dt.time(13, 0), dt.time(16, 0))
MAX_RETENTION_DAYS = 36_500
MINUTES_A_YEAR = 525_600


# Slack's bot (xoxb-) and user (xoxp-) tokens, also as token rotation gives them (xoxe.xoxb-): printable
# ASCII, as they must be to go in an HTTP header.
SLACK_TOKEN = re.compile(r"(xoxe\.)?xox[bp]-[!#-&(-~]+")


# What a bearer token in an Authorization header can be, as it is: visible ASCII, no spaces.
METRICS_TOKEN = re.compile(r"[!-~]{16,}")

# RFC 9110's token: what a header's name can be.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _is_web_address(value: str) -> bool:
    """An http(s) URL with a host, that can go in a request as it is (ASCII, no spaces or quotes)."""
    if not value.isascii() or any(c.isspace() or c in "\"'<>" for c in value):
        return False
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and _port_is_valid(parts)
    except ValueError:  # a malformed [IPv6] host
        return False


def _port_is_valid(parts: SplitResult) -> bool:
    """Whether the URL's port, if it names one, is a number 0-65535: urlsplit takes any text after the
    colon, and only reading ``.port`` says it is none (at the first request, far from the setting)."""
    try:
        parts.port  # noqa: B018 - read for the ValueError it raises
    except ValueError:
        return False
    return True


class ConfigError(Exception):
    """Configuration that cannot work; ``str()`` is ready to print to an operator."""


def parse_clock_times(value: Any) -> tuple[dt.time, ...]:
    """Parse ``"09:00,13:00"`` (or a list of such strings) into sorted, distinct times."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise TextValueError(N_("expected clock times like 09:00,13:00,16:00"))
    times: list[dt.time] = []
    for part in parts:
        if isinstance(part, dt.time):
            times.append(part.replace(second=0, microsecond=0))
            continue
        try:
            hour, minute = str(part).split(":")
            times.append(dt.time(int(hour), int(minute)))
        except ValueError:
            raise TextValueError(
                N_("{value} is not a clock time; expected HH:MM such as 09:00"), value=repr(part)
            ) from None
    if not times:
        raise TextValueError(N_("expected at least one clock time like 09:00"))
    if twice := sorted({t for t in times if times.count(t) > 1}):
        # Named: "9:00, 13:00, 09:00" is refused, and "a clock time is listed twice" left the lead to spot which.
        raise TextValueError(N_("listed twice: {names}"), names=", ".join(f"{t:%H:%M}" for t in twice))
    return tuple(sorted(times))


# Files in the zoneinfo folder that are no place's zone: "localtime" (Debian's link to /etc/localtime)
# is whatever machine reads it, so a launch stored with it changed its digest times with the server
# (UTC in a container, another zone after a restore elsewhere); "Factory" is no zone at all.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


def check_timezone(value: str) -> str:
    try:
        if value in NOT_ZONES or value.startswith(("posix/", "right/")):
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise TextValueError(
            N_("{value} is not an IANA time zone; expected a name such as Europe/Oslo"), value=repr(value)
        ) from None
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=ENV_FILE,
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/tally.db"
    # PostgreSQL: seconds to wait for a connection, and for any statement of the enquiry writer
    # (a lock held elsewhere, a stalled server). Past them a write answers 503 "send it again".
    # Not nan nor inf: nan fails every comparison, so it was refused as "should be less than or equal to
    # 300", as if it were too large; refused as no finite number, it is told what it is.
    database_connect_timeout: float = Field(default=5.0, gt=0, le=300, allow_inf_nan=False)
    database_statement_timeout: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)
    timezone: str = "Europe/Oslo"
    digest_times: Annotated[tuple[dt.time, ...], NoDecode] = DEFAULT_DIGEST_TIMES
    # At least a minute: the scheduler reaches a slot a moment after its time (APScheduler refuses 0 too).
    digest_grace_minutes: int = Field(default=30, ge=1, le=24 * 60)
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    base_url: str = "http://127.0.0.1:8000"
    language: Literal["en", "nb"] = "en"
    # The digests and alerts are read by the whole company, so they have a language of their own.
    slack_language: Literal["en", "nb"] | None = None
    auto_migrate: bool = True
    trusted_user_header: str | None = None
    session_days: int = Field(default=14, ge=1, le=365)
    # Bounded so that a typo fails at start rather than on every sign-in: the window becomes a
    # timedelta, which overflows past 999,999,999 days, and the counts are compared in SQL.
    login_max_failures_per_account: int = Field(default=5, ge=1, le=10_000)
    login_max_failures_per_address: int = Field(default=20, ge=1, le=10_000)
    login_failure_window_minutes: int = Field(default=15, ge=1, le=MINUTES_A_YEAR)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # json: one object a line, for a log collector; console: for people. Unset: json in production.
    log_format: Literal["json", "console"] | None = None
    access_log: bool = False
    # When set, /metrics answers only `Authorization: Bearer <this>` (it names the launches).
    metrics_token: SecretStr | None = None
    # FastAPI reports to OpenTelemetry providers configured in the process (for example under
    # opentelemetry-instrument). Off by default: looking for them costs about 5% of every request.
    opentelemetry: bool = False
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto to trust ("*" for any), so sign-in
    # limits count real client addresses rather than the proxy's.
    forwarded_allow_ips: str = "127.0.0.1"
    # GDPR storage limitation: notes of enquiries older than this many days are erased (the counts
    # stay). Unset: notes are kept.
    note_retention_days: int | None = None

    # Slack's own variable names, as the Slack tooling and docs use them.
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "TALLY_SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_webhook_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_WEBHOOK_URL", "TALLY_SLACK_WEBHOOK_URL", "slack_webhook_url")
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        validation_alias=AliasChoices("SLACK_API_URL", "TALLY_SLACK_API_URL", "slack_api_url"),
    )

    @field_validator("digest_times", mode="before")
    @classmethod
    def _digest_times(cls, value: Any) -> tuple[dt.time, ...]:
        return parse_clock_times(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://", "postgres://")):
            raise ValueError(
                "expected sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/dbname"
            )
        for plain in ("postgresql://", "postgres://"):  # postgres://: as Heroku, Render and others give it
            if value.startswith(plain):
                # Without a driver name SQLAlchemy would look for psycopg2, which is not installed.
                value = "postgresql+psycopg://" + value.removeprefix(plain)
        if value.startswith("postgresql") and "@" in (make_url(value).host or ""):
            # The URL's password ends at its first @, so the rest of it was taken for the host name, and
            # libpq's "failed to resolve host" echoed it.
            raise ValueError(
                "the password (or user name) holds an @, which must be written %40 in a URL, e.g. "
                "postgresql+psycopg://tally:p%40ss@db:5432/tally"
            )
        if value.startswith("postgresql") and not make_url(value).database:
            # libpq would connect to the server's default (often "postgres", the maintenance database)
            # and the migrations put Launch Tally's tables there.
            raise ValueError("names no database: end it with /dbname, e.g. postgresql+psycopg://user@host:5432/tally")
        if value == "sqlite:///" or value.startswith("sqlite:///?"):
            raise ValueError("names no file: sqlite:///var/tally.db (relative) or sqlite:////abs/path/tally.db")
        if value.startswith("sqlite") and _in_memory(make_url(value)):
            # Every process, and every pooled connection, would have a database of its own, gone when it ends.
            raise ValueError(
                "an in-memory database would lose everything when the command ends: give a file path, "
                "sqlite:///var/tally.db (relative) or sqlite:////abs/path/tally.db"
            )
        return value

    @field_validator("note_retention_days", mode="before")
    @classmethod
    def _note_retention_days(cls, value: Any) -> int | None:
        if value is None:
            return None
        text = str(value).strip()
        # At most a century: the cut-off is now minus this many days, which overflows long before
        # the number does (at 2,000 years or so, in the purge rather than at start).
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_RETENTION_DAYS:
            raise ValueError(
                f"expected a whole number of days, 1 to {MAX_RETENTION_DAYS} (leave it unset to keep notes)"
            )
        return int(text)

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value  # DEBUG as Python writes it, too

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: str) -> str:
        # A wrong entry trusts no proxy: every request seems to come from the proxy, and one person's
        # failed sign-ins lock everyone out. Said at start-up instead.
        # As uvicorn reads them: strictly, so 10.0.0.5/24 (host bits set) would be a name it never matches.
        for entry in (e.strip() for e in value.split(",")):
            if not entry or entry == "*":
                continue
            try:
                ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network: give the proxies' addresses, comma-separated "
                    "(10.0.0.5, 10.0.0.0/24), or * for any"
                ) from None
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        # Every Slack link is this plus a path: "http://" alone made them "http:/launches/…", and a space
        # broke each one. A host is needed, and nothing after it: the pages, their redirects and assets
        # are root-relative, so behind a proxy at /tally either the pages or the Slack links broke.
        try:
            parts = urlsplit(value)
        except ValueError:  # a malformed [IPv6] host
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            # "https://tally.example.com:99999" or ":8O80": every Slack link pointed at no server.
            or not _port_is_valid(parts)
            # An empty "?" or "#" too (urlsplit gives ""): a link made "https://host/?/launches/…" opened the home page.
            or any(c.isspace() or c in "\"'<>|?#" for c in value)
        ):
            raise ValueError("expected the address users open, such as https://tally.example.com")
        if parts.path not in ("", "/"):
            raise ValueError(
                f"{parts.path!r}: the app must be served at the root of its host, not under a path; give it a "
                "host of its own, such as https://tally.example.com"
            )
        # As browsers name the site in Origin: the scheme in lower case (cookie_secure read "HTTPS://…" as
        # not https, and no cookie was Secure) and without its default port (the Origin of the site's own
        # forms, "https://host", was refused against "https://host:443").
        netloc = parts.netloc
        if parts.port == _DEFAULT_PORTS[parts.scheme]:
            netloc = netloc.rsplit(":", 1)[0]
        return f"{parts.scheme}://{netloc}"

    @field_validator("trusted_user_header", mode="before")
    @classmethod
    def _trusted_user_header(cls, value: Any) -> Any:
        if value == "":  # set but empty, as a compose file passes an unset one: off
            return None
        # A name no request can carry ("X Remote:User") was taken, and single sign-on then never matched.
        if isinstance(value, str) and not _HEADER_NAME.fullmatch(value):
            raise ValueError(
                f"{value!r} cannot be the name of an HTTP header (no spaces or colons), such as X-Remote-User"
            )
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _metrics_token_text(cls, value: Any) -> Any:
        # A line break read with it from a secret's file is no part of it: Prometheus trims its
        # credentials_file, and the token with the line break was then never matched.
        return value.strip() if isinstance(value, str) else value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Visible ASCII only: a header carries nothing else as it is (a space or an "Ø" in the token
        # was taken here, and no scrape could ever send what matched it).
        if value is not None and not METRICS_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "expected a random token of at least 16 characters, letters, digits and punctuation without "
                "spaces (or leave it unset)"
            )
        return value

    @field_validator("slack_language", mode="before")
    @classmethod
    def _slack_language(cls, value: Any) -> Any:
        return None if value == "" else value  # set but empty, as a compose file's ${VAR:-} leaves it: not set

    @field_validator("slack_bot_token", "slack_webhook_url", mode="before")
    @classmethod
    def _slack_secrets(cls, value: Any) -> Any:
        # Set but empty (as a compose file's `SLACK_BOT_TOKEN:` passes it on): not set. An empty bot
        # token must not shadow a webhook URL that is set, nor be sent to Slack as a token.
        if isinstance(value, str):
            value = value.strip()  # a line break pasted with it is no part of it
        return None if value == "" else value

    @field_validator("slack_bot_token")
    @classmethod
    def _slack_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Copied with typographic quotes or a newline, the token could not even be put in a request:
        # every digest failed (or stayed pending) without a word about the setting.
        if value is not None and not SLACK_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "expected the Bot User OAuth Token from the Slack app's OAuth & Permissions page, starting with "
                "xoxb- (a user token: xoxp-), without quotes or spaces"
            )
        return value

    @field_validator("slack_webhook_url")
    @classmethod
    def _slack_webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _is_web_address(value.get_secret_value()):
            raise ValueError(
                "expected the incoming webhook's URL as Slack shows it, such as "
                "https://hooks.slack.com/services/T000/B000/XXXX, without quotes or spaces"
            )
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        if not _is_web_address(value):
            raise ValueError("expected a URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.env == "production":
            secret = self.secret_key.get_secret_value()
            if secret == PLACEHOLDER_SECRET or len(secret) < 32:
                raise ValueError(
                    "TALLY_SECRET_KEY: production needs a random secret of at least 32 characters, not the "
                    "placeholder; make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
                )
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def log_renderer(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.env == "production" else "console"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def message_language(self) -> str:
        """The language of what goes to Slack (and its previews): TALLY_SLACK_LANGUAGE, else TALLY_LANGUAGE."""
        return self.slack_language or self.language

    @property
    def slack_configured(self) -> bool:
        return bool(self.slack_bot_token or self.slack_webhook_url)

    @property
    def cookie_secure(self) -> bool:
        return self.base_url.startswith("https://")


_DEFAULT_PORTS = {"http": 80, "https": 443}

# A URL's password, up to the URL's last @: one that holds an @ of its own (unescaped) is hidden whole,
# where stopping at its first @ showed the rest. Within the URL: an address later on the line is not it.
_URL_PASSWORD = re.compile(r"(://[^:/\s]*:)\S*@")
# A password's text is hidden wherever it appears only from this length: a short one ("a") would
# blank every such letter of the message, and libpq echoes no password (an unescaped @, which ran one
# into the host name, is refused by the settings).
_HIDDEN_WHEREVER = 6


def _in_memory(url: URL) -> bool:
    database = url.database or ""
    return database == ":memory:" or database.startswith("file::memory:") or url.query.get("mode") == "memory"


def hide_password(text: str, database_url: str) -> str:
    """``text`` (a driver's message, a URL) without the password of ``database_url``: wherever a
    URL in it has one, and wherever the password's own text appears."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    found = _URL_PASSWORD.search(database_url)
    if found:
        written = found.group(0)[len(found.group(1)) : -1]
        for password in {written, unquote(written)}:
            if len(password) >= _HIDDEN_WHEREVER:
                text = text.replace(password, "***")
    return text


def _variable_name(loc: tuple[Any, ...]) -> str:
    field = str(loc[0]) if loc else ""
    if field.isupper():  # an alias such as SLACK_BOT_TOKEN is already the variable's name
        return field
    return ENV_PREFIX + field.upper()


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not problem["loc"] and message.startswith(ENV_PREFIX):
            lines.append(message)
            continue
        got = problem.get("input")
        name = _variable_name(problem["loc"])
        secret = "SECRET" in name or "TOKEN" in name or "WEBHOOK" in name
        if isinstance(got, str):
            got = _URL_PASSWORD.sub(r"\1***@", got)  # a database URL may carry a password
        shown = f" (got {got!r})" if isinstance(got, str | int) and not secret and repr(got) not in message else ""
        lines.append(f"{_variable_name(problem['loc'])}: {message}{shown}")
    return "\n".join(lines)


# Read with the prefix, but by something else: the test suite's database, the compose file's port.
NOT_SETTINGS = frozenset({"TALLY_TEST_DATABASE_URL", "TALLY_PORT"})


def unknown_variables(environ: Mapping[str, str | None], *, where: str = "") -> list[str]:
    """A line for each TALLY_ name in ``environ`` that no setting reads: a misspelt one
    (TALLY_DATABSE_URL) is otherwise ignored without a word, and the default used instead.
    ``where``: the file the names were read from, said after each name."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    # Compared without the prefix, which every name shares and would make any two look alike.
    rest = sorted(k.removeprefix(ENV_PREFIX) for k in known)
    lines = []
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known and name not in NOT_SETTINGS:
            close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), rest, n=1, cutoff=0.75)
            hint = f": did you mean {ENV_PREFIX}{close[0]}?" if close else " (see the settings in docs/operations.md)."
            shown = f"{name} (in {where})" if where else name
            lines.append(f"{shown} is not a Launch Tally setting and is ignored{hint}")
    return lines


def unknown_in_env_file(environ: Mapping[str, str], folder: Path | None = None) -> list[str]:
    """``unknown_variables`` of the ``.env`` file the settings read, if there is one: a typo there is
    as silent as in the environment. A name also in ``environ`` is said once, for the environment."""
    try:
        path = (folder or Path.cwd()) / ENV_FILE  # cwd: none when the folder was removed under the shell
        if not path.is_file():
            return []
        # python-dotenv warns of a line it cannot parse; pydantic-settings reads the file again and warns
        # once, so not here too.
        dotenv_log = logging.getLogger("dotenv.main")
        was_disabled, dotenv_log.disabled = dotenv_log.disabled, True
        try:
            names = {k: v for k, v in dotenv_values(path).items() if k not in environ}
        finally:
            dotenv_log.disabled = was_disabled
    except (OSError, UnicodeDecodeError):
        return []  # not ours to report: reading the settings says what is wrong with the file (load_settings)
    return unknown_variables(names, where=str(path.resolve()))


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning pydantic's errors into ``ConfigError`` lines an operator can act on."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except UnicodeDecodeError as exc:
        # pydantic-settings reads .env as UTF-8: a file saved as Latin-1 (TALLY_SITE_NAME=Kåre) was a traceback.
        raise ConfigError(
            f"{Path(ENV_FILE).resolve()} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at position "
            f"{exc.start} cannot be read): save it as UTF-8."
        ) from None
