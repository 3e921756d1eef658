"""Settings: sensible defaults, and one clear line per bad value."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from app.config import ConfigError, Settings, hide_password, load_settings, unknown_variables

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Settings read the process environment and ./.env: make both empty.
    import os

    for name in list(os.environ):
        if name.startswith(("TALLY_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_run_locally() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./var/tally.db"
    assert settings.timezone == "Europe/Oslo"
    assert settings.digest_times == (dt.time(9), dt.time(13), dt.time(16))
    assert settings.digest_grace_minutes == 30
    assert not settings.slack_configured


def test_values_from_the_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TALLY_TIMEZONE=Europe/Stockholm\nSLACK_BOT_TOKEN=xoxb-1\n")
    monkeypatch.setenv("TALLY_DIGEST_TIMES", "16:30, 08:15")
    monkeypatch.setenv("TALLY_DATABASE_URL", "postgresql://u:p@db:5432/tally")
    settings = load_settings()
    assert settings.timezone == "Europe/Stockholm"
    assert settings.digest_times == (dt.time(8, 15), dt.time(16, 30))
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/tally"
    assert settings.slack_bot_token is not None and settings.slack_configured


def test_slack_messages_follow_the_interface_language_unless_given_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().message_language == "en"
    monkeypatch.setenv("TALLY_LANGUAGE", "nb")
    assert load_settings().message_language == "nb"
    monkeypatch.setenv("TALLY_SLACK_LANGUAGE", "")  # set but empty, as a compose file may leave it
    assert load_settings().message_language == "nb"
    monkeypatch.setenv("TALLY_SLACK_LANGUAGE", "en")
    assert load_settings().message_language == "en"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TALLY_TIMEZONE", "Mars/Olympus", "TALLY_TIMEZONE: 'Mars/Olympus' is not an IANA time zone"),
        # files of the zoneinfo folder, but no place's zone: launches took the zone of whichever machine read them
        ("TALLY_TIMEZONE", "localtime", "TALLY_TIMEZONE: 'localtime' is not an IANA time zone"),
        ("TALLY_TIMEZONE", "Factory", "TALLY_TIMEZONE: 'Factory' is not an IANA time zone"),
        ("TALLY_TIMEZONE", "posixrules", "TALLY_TIMEZONE: 'posixrules' is not an IANA time zone"),
        ("TALLY_DIGEST_TIMES", "9am", "TALLY_DIGEST_TIMES: '9am' is not a clock time; expected HH:MM"),
        ("TALLY_DIGEST_TIMES", "09:00,09:00", "TALLY_DIGEST_TIMES: listed twice: 09:00"),
        ("TALLY_DATABASE_URL", "mysql://x", "TALLY_DATABASE_URL: expected sqlite:///"),
        # no database name: libpq took the server's default, and the tables went into "postgres"
        (
            "TALLY_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/",
            "TALLY_DATABASE_URL: names no database",
        ),
        ("TALLY_DATABASE_URL", "postgresql://postgres@db", "TALLY_DATABASE_URL: names no database"),
        ("TALLY_DATABASE_URL", "sqlite:///", "TALLY_DATABASE_URL: names no file"),
        # taken, then every verb ended in "TypeError: Invalid argument(s) 'max_overflow','pool_timeout'"
        ("TALLY_DATABASE_URL", "sqlite:///:memory:", "TALLY_DATABASE_URL: an in-memory database would lose"),
        ("TALLY_DATABASE_URL", "sqlite:///file::memory:?uri=true", "TALLY_DATABASE_URL: an in-memory database"),
        ("TALLY_FORWARDED_ALLOW_IPS", "10.0.0.5, notanip", "TALLY_FORWARDED_ALLOW_IPS: 'notanip' is not an IP address"),
        # uvicorn reads networks strictly: with host bits set it took this for a name and trusted no one
        ("TALLY_FORWARDED_ALLOW_IPS", "10.0.0.5/24", "TALLY_FORWARDED_ALLOW_IPS: '10.0.0.5/24' is not an IP address"),
        ("TALLY_DIGEST_GRACE_MINUTES", "0", "TALLY_DIGEST_GRACE_MINUTES: Input should be greater than or equal to 1"),
        ("TALLY_ENV", "prod", "TALLY_ENV: Input should be 'development', 'test' or 'production'"),
        ("TALLY_BASE_URL", "tally.example.com", "TALLY_BASE_URL: expected the address users open"),
        # every Slack link is the address and a path: "http:/launches/…", or a link broken at a space
        ("TALLY_BASE_URL", "http://", "TALLY_BASE_URL: expected the address users open"),
        ("TALLY_BASE_URL", "https://tally example.com", "TALLY_BASE_URL: expected the address users open"),
        ("TALLY_BASE_URL", "https://tally.example.com/?", "TALLY_BASE_URL: expected the address users open"),
        ("TALLY_BASE_URL", "https://tally.example.com#", "TALLY_BASE_URL: expected the address users open"),
        ("TALLY_BASE_URL", "https://tally.example.com/?x=1", "TALLY_BASE_URL: expected the address users open"),
        # a port that is no port: taken, and every link in Slack pointed at no server
        ("TALLY_BASE_URL", "https://tally.example.com:99999", "TALLY_BASE_URL: expected the address users open"),
        ("TALLY_BASE_URL", "http://tally.example.com:8O80", "TALLY_BASE_URL: expected the address users open"),
        # taken, but the pages, redirects and assets are root-relative: the pages or the Slack links broke
        ("TALLY_BASE_URL", "https://intranet.example.com/tally", "TALLY_BASE_URL: '/tally': the app must be served at"),
        # no request can carry such a header: single sign-on never matched, and nobody was told why
        ("TALLY_TRUSTED_USER_HEADER", "X Remote:User", "TALLY_TRUSTED_USER_HEADER: 'X Remote:User' cannot be"),
        ("SLACK_API_URL", "slack.com/api", "SLACK_API_URL: expected a URL"),
        ("SLACK_API_URL", "https://slack.com:443x/api/", "SLACK_API_URL: expected a URL"),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com:0x1bb/services/T0/B0/X", "SLACK_WEBHOOK_URL: expected the"),
        # a request could not even be made: every digest failed, or crashed the scheduler's pass
        ("SLACK_BOT_TOKEN", "\u201cxoxb-1-2-abc\u201d", "SLACK_BOT_TOKEN: expected the Bot User OAuth Token"),
        ("SLACK_BOT_TOKEN", "1-2-abc", "SLACK_BOT_TOKEN: expected the Bot User OAuth Token"),
        ("SLACK_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/X", "SLACK_WEBHOOK_URL: expected the incoming"),
        ("SLACK_WEBHOOK_URL", "'https://hooks.slack.com/services/T0/B0/X'", "SLACK_WEBHOOK_URL: expected the"),
        ("SLACK_WEBHOOK_URL", "https:///services/T0/B0/X", "SLACK_WEBHOOK_URL: expected the incoming"),
        ("TALLY_SLACK_LANGUAGE", "sv", "TALLY_SLACK_LANGUAGE: Input should be 'en' or 'nb'"),
        # taken, and no scrape could send a header that matched it: /metrics answered 401 for good
        ("TALLY_METRICS_TOKEN", "scrape token with spaces", "TALLY_METRICS_TOKEN: expected a random token"),
        ("TALLY_METRICS_TOKEN", "scrape-tøken-0123456789", "TALLY_METRICS_TOKEN: expected a random token"),
        # taken, then an OverflowError in every purge, or on every sign-in
        ("TALLY_NOTE_RETENTION_DAYS", "1000000", "TALLY_NOTE_RETENTION_DAYS: expected a whole number of days, 1 to"),
        ("TALLY_LOGIN_FAILURE_WINDOW_MINUTES", "1100000000", "TALLY_LOGIN_FAILURE_WINDOW_MINUTES: Input should be"),
        ("TALLY_LOGIN_MAX_FAILURES_PER_ACCOUNT", "99999999999999999999", "TALLY_LOGIN_MAX_FAILURES_PER_ACCOUNT: Input"),
        ("TALLY_LOGIN_MAX_FAILURES_PER_ADDRESS", "99999999999999999999", "TALLY_LOGIN_MAX_FAILURES_PER_ADDRESS: Input"),
        # nan was refused as "should be less than or equal to 300": as if it were a number, too large
        ("TALLY_DATABASE_CONNECT_TIMEOUT", "nan", "TALLY_DATABASE_CONNECT_TIMEOUT: Input should be a finite number"),
        ("TALLY_DATABASE_CONNECT_TIMEOUT", "inf", "TALLY_DATABASE_CONNECT_TIMEOUT: Input should be a finite number"),
        ("TALLY_DATABASE_STATEMENT_TIMEOUT", "NaN", "TALLY_DATABASE_STATEMENT_TIMEOUT: Input should be a finite"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)
    assert variable not in ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL") or value not in str(caught.value)  # secrets


@pytest.mark.parametrize(
    ("variable", "value", "read"),
    [
        ("TALLY_BASE_URL", "https://tally.example.com/", "https://tally.example.com"),
        ("TALLY_BASE_URL", "http://[::1]:8000", "http://[::1]:8000"),
        ("TALLY_TRUSTED_USER_HEADER", "X-Remote-User", "X-Remote-User"),
        ("TALLY_TRUSTED_USER_HEADER", "", None),
    ],
)
def test_good_addresses_and_header_names_are_taken(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, read: str | None
) -> None:
    monkeypatch.setenv(variable, value)
    settings = load_settings()
    assert getattr(settings, variable.removeprefix("TALLY_").lower()) == read


def test_production_refuses_placeholder_and_short_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALLY_ENV", "production")
    with pytest.raises(ConfigError, match="TALLY_SECRET_KEY: production needs a random secret"):
        load_settings()
    monkeypatch.setenv("TALLY_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="TALLY_SECRET_KEY") as caught:
        load_settings()
    assert "short" not in str(caught.value)  # secrets are never echoed
    monkeypatch.setenv("TALLY_SECRET_KEY", "k" * 40)
    assert load_settings().env == "production"


def test_start_up_stops_with_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: PLW1510 - the exit code is what is tested
        [sys.executable, "-m", "app", "serve"],
        cwd=ROOT,
        env={"TALLY_TIMEZONE": "Oslo", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Configuration error:",
        "TALLY_TIMEZONE: 'Oslo' is not an IANA time zone; expected a name such as Europe/Oslo",
    ]


def test_settings_are_frozen() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(Exception):  # noqa: B017, PT011
        settings.timezone = "UTC"  # type: ignore[misc]


def test_a_postgres_url_as_hosting_services_give_it_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALLY_DATABASE_URL", "postgres://tally:secret@db.example:5432/tally")
    assert load_settings().database_url == "postgresql+psycopg://tally:secret@db.example:5432/tally"


def test_a_rejected_database_url_is_shown_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALLY_DATABASE_URL", "mysql://tally:hunter2@db:3306/tally")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    assert "mysql://tally:***@db:3306/tally" in str(caught.value)


@pytest.mark.parametrize("database", ["/tally", ""], ids=["with a database", "without"])
def test_a_password_with_an_unescaped_at_is_hidden_whole_and_refused(
    monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    """Its first @ was taken for the end of the password: the rest was shown (`postgres:***@cretPW@…`),
    and libpq's "failed to resolve host 'cretPW@127.0.0.1'" showed it again."""
    monkeypatch.setenv("TALLY_DATABASE_URL", f"postgresql://postgres:se@cretPW@127.0.0.1:5432{database}")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "cretPW" not in message and "se@" not in message
    assert message.startswith("TALLY_DATABASE_URL: the password (or user name) holds an @, which must be written %40")
    assert f"(got 'postgresql://postgres:***@127.0.0.1:5432{database}')" in message
    written = f"postgresql://postgres:se%40cretPW@127.0.0.1:5432{database}"
    monkeypatch.setenv("TALLY_DATABASE_URL", written)
    if database:
        assert make_url(load_settings().database_url).password == "se@cretPW"


def test_a_drivers_message_is_shown_without_the_password() -> None:
    url = "postgresql+psycopg://tally:p%40ss%2Fw0rd@db.internal:5432/tally"
    for said in ('connection to "p@ss/w0rd" failed', "no: p%40ss%2Fw0rd", "see postgresql://tally:p%40ss%2Fw0rd@db/x"):
        shown = hide_password(said, url)
        assert "p@ss" not in shown and "p%40ss" not in shown and "w0rd" not in shown, shown
    assert hide_password("database tally does not exist", url) == "database tally does not exist"
    # A short password is not hunted for in every word, and an address after the URL is not its password.
    said = 'connection failed: server at "127.0.0.1" said no'
    assert hide_password(said, "postgresql+psycopg://u:a@127.0.0.1/x") == said
    assert (
        hide_password("postgresql://tally:secret@db/tally and mail ops@example.com", url)
        == "postgresql://tally:***@db/tally and mail ops@example.com"
    )


@pytest.mark.parametrize("enabled", [False, True])
def test_opentelemetry_is_off_unless_asked_for(database_url: str, enabled: bool) -> None:
    from app.main import create_app
    from tests.conftest import make_settings

    assert Settings(_env_file=None).opentelemetry is False  # type: ignore[call-arg]
    app = create_app(make_settings(database_url, opentelemetry=enabled))
    # FastAPI keeps the telemetry configuration it was given; with all three off it
    # never looks up a provider on a request (the cost this setting avoids).
    config = app._telemetry  # FastAPI has no public accessor for it
    assert (config["tracing"], config["metrics"], config["logs"]) == (enabled, enabled, enabled)


def test_a_misspelt_variable_is_named_with_the_setting_it_looks_like() -> None:
    """TALLY_DATABSE_URL was ignored without a word, and the default database used instead."""
    environ = {"TALLY_DATABSE_URL": "sqlite:////tmp/x.db", "TALLY_TIMEZONE": "Europe/Oslo", "TALLY_NONSENSE_ABC": "1"}
    environ |= {"TALLY_TEST_DATABASE_URL": "postgresql://x/y", "TALLY_PORT": "8080", "HOME": "/root"}
    assert unknown_variables(environ) == [
        "TALLY_DATABSE_URL is not a Launch Tally setting and is ignored: did you mean TALLY_DATABASE_URL?",
        "TALLY_NONSENSE_ABC is not a Launch Tally setting and is ignored (see the settings in docs/operations.md).",
    ]


def test_log_level_and_proxies_as_operators_write_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TALLY_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("TALLY_FORWARDED_ALLOW_IPS", "10.0.0.5, 10.1.0.0/16,*,")
    loaded = load_settings()
    assert loaded.log_level == "debug" and loaded.forwarded_allow_ips.startswith("10.0.0.5")


def test_an_empty_slack_variable_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compose file passes SLACK_BOT_TOKEN on empty when it is not set: the webhook that is set posted
    nothing, as the empty bot token won."""
    from app.slack.client import WebhookSender, sender_from

    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    assert sender_from(load_settings()) is None
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/XXX")
    settings = load_settings()
    assert settings.slack_bot_token is None and isinstance(sender_from(settings), WebhookSender)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    assert load_settings().slack_webhook_url is None and not load_settings().slack_configured


def test_a_slack_token_with_a_line_break_pasted_after_it_is_taken_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc\n")
    token = load_settings().slack_bot_token
    assert token is not None and token.get_secret_value() == "xoxb-1-2-abc"
