"""The deployment files, read as data: docker-compose.yml, its proxy config, the Slack app manifest.

No Docker engine is needed: `make compose-check` has a compose tool validate the file against the
Compose Specification; these tests check that it describes the deployment the operations guide
promises (PostgreSQL, migrations once, two replicas behind a proxy, one scheduler, no default
secrets), and that the Slack manifest asks for exactly the scopes the code's Slack calls need.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
MANIFEST: dict[str, Any] = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text(encoding="utf-8"))

# The bot scopes each Web API method needs, as the code calls it. Private channels are supported
# (conversations.list asks for private_channel too, and the advice texts say to invite the app
# to private channels), so reading needs the groups: scopes beside the channels: ones.
SCOPES_BY_METHOD = {
    "chat_postMessage": {"chat:write"},
    "conversations_history": {"channels:history", "groups:history"},
    "conversations_list": {"channels:read", "groups:read"},
}


def command(service: str) -> list[str]:
    value = SERVICES[service].get("command", [])
    assert isinstance(value, list), f"{service}: give the command as a list, so no shell sits in between"
    return [str(part) for part in value]


def environment(service: str) -> dict[str, Any]:
    value = SERVICES[service].get("environment") or {}
    assert isinstance(value, dict), f"{service}: give the environment as a mapping"
    return value


def depends_on(service: str) -> dict[str, Any]:
    value = SERVICES[service].get("depends_on") or {}
    assert isinstance(value, dict), f"{service}: depends_on needs conditions (the long form)"
    return value


def services_running(*words: str) -> list[str]:
    return sorted(name for name in SERVICES if command(name)[: len(words)] == list(words))


def replicas() -> list[str]:
    return services_running("tally", "serve")


def uses_app_image(service: str) -> bool:
    return "build" in SERVICES[service]


# --- docker-compose.yml --------------------------------------------------------------


def test_compose_file_follows_the_compose_specification_without_a_version() -> None:
    # docker compose ignores (and warns about) `version:`; docker-compose 1.29 reads a file
    # without one as the latest schema. `make compose-check` runs whichever is installed.
    assert "version" not in COMPOSE


def test_postgres_has_a_healthcheck_and_keeps_its_data_on_a_named_volume() -> None:
    [postgres] = [name for name, spec in SERVICES.items() if str(spec.get("image", "")).startswith("postgres:")]
    spec = SERVICES[postgres]
    assert "pg_isready" in " ".join(spec["healthcheck"]["test"])
    volumes = [str(v).split(":") for v in spec["volumes"]]
    assert [v[0] for v in volumes if v[1] == "/var/lib/postgresql/data"] == ["pgdata"]
    assert "pgdata" in COMPOSE["volumes"]


def test_two_replicas_serve_on_postgresql_without_a_scheduler_or_migrating() -> None:
    assert len(replicas()) == 2
    for name in replicas():
        assert "--no-scheduler" in command(name), f"{name} would run a second scheduler"
        # The proxy reaches the replicas over the compose network, not their loopback.
        assert command(name)[command(name).index("--host") + 1] == "0.0.0.0"  # noqa: S104
        env = environment(name)
        assert str(env["TALLY_DATABASE_URL"]).startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in str(env["TALLY_DATABASE_URL"])
        assert env["TALLY_AUTO_MIGRATE"] == "false", f"{name} must leave migrations to the one-shot service"
        assert "ports" not in SERVICES[name], f"{name} must be reached through the proxy only"


def test_one_scheduler_runs_on_its_own() -> None:
    [scheduler] = services_running("tally", "scheduler")
    assert command(scheduler)[:2] == ["tally", "scheduler"]
    assert "--metrics-port" in command(scheduler), "its /metrics is the only way to see its passes"
    assert SERVICES[scheduler]["healthcheck"] == {"disable": True}, "it serves no /healthz"
    assert environment(scheduler)["TALLY_DATABASE_URL"] == environment(replicas()[0])["TALLY_DATABASE_URL"]


def test_migrations_run_once_before_anything_else_starts() -> None:
    [migrate] = services_running("tally", "db", "upgrade")
    assert SERVICES[migrate]["restart"] == "no"
    assert depends_on(migrate)["postgres"]["condition"] == "service_healthy"
    for name in [*replicas(), *services_running("tally", "scheduler")]:
        assert depends_on(name)[migrate]["condition"] == "service_completed_successfully"
    app_services = sorted(name for name in SERVICES if uses_app_image(name))
    assert app_services == sorted([migrate, *replicas(), *services_running("tally", "scheduler")])


def test_the_proxy_balances_across_both_replicas_with_its_config_checked_in() -> None:
    [proxy] = [name for name, spec in SERVICES.items() if str(spec.get("image", "")).startswith("caddy:")]
    spec = SERVICES[proxy]
    assert spec["ports"], "the proxy is the one published port"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in spec["volumes"]}
    config = ROOT / mounts["/etc/caddy/Caddyfile"]
    assert config.is_file() and config.relative_to(ROOT) == Path("deploy/Caddyfile")
    for name in replicas():
        assert depends_on(proxy)[name]["condition"] == "service_healthy"

    text = config.read_text(encoding="utf-8")
    [upstreams] = re.findall(r"^\s*reverse_proxy\s+([^{]+)\{", text, flags=re.MULTILINE)
    assert sorted(upstreams.split()) == [f"{name}:8000" for name in replicas()]
    assert re.search(r"^\s*lb_policy\s+\w+", text, flags=re.MULTILINE)
    assert re.search(r"^\s*health_uri\s+/healthz\s*$", text, flags=re.MULTILINE)
    # The replicas trust X-Forwarded-For from the proxy, the only thing that reaches them (any address
    # unless .env lists the proxy's, as single sign-on at the proxy asks).
    assert all(
        environment(name)["TALLY_FORWARDED_ALLOW_IPS"] == "${TALLY_FORWARDED_ALLOW_IPS:-*}" for name in replicas()
    )


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="needs docker-compose (make compose-check installs it)"
)
def test_the_trusted_proxies_can_be_set_in_env_as_the_caddyfile_asks_for_single_sign_on(tmp_path: Path) -> None:
    """The compose file hard-coded "*": the proxy's address put in .env, as deploy/Caddyfile says to with
    TALLY_TRUSTED_USER_HEADER, never reached the replicas, which went on believing anyone's header."""

    def resolved(env_file: str) -> set[str]:
        (tmp_path / ".env").write_text(env_file, encoding="utf-8")
        environ = {k: v for k, v in os.environ.items() if k != "TALLY_FORWARDED_ALLOW_IPS"}
        out = subprocess.run(
            ["docker-compose", "--project-directory", str(tmp_path), "-f", str(ROOT / "docker-compose.yml"), "config"],
            env=environ,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        services = yaml.safe_load(out)["services"]
        return {str(services[name]["environment"]["TALLY_FORWARDED_ALLOW_IPS"]) for name in replicas()}

    secrets = "TALLY_SECRET_KEY=compose-check-only\nPOSTGRES_PASSWORD=compose-check-only\n"
    assert resolved(secrets + "TALLY_FORWARDED_ALLOW_IPS=172.28.0.10\n") == {"172.28.0.10"}
    assert resolved(secrets) == {"*"}


def test_the_proxy_keeps_metrics_inside_the_network() -> None:
    """Caddy forwarded every path and the replicas set no TALLY_METRICS_TOKEN: anyone who reached the
    published port could read /metrics, which the operations guide says to keep off the public proxy."""
    # Passed through when an operator sets it; not set by the file, so the proxy must keep /metrics in.
    assert all(environment(name).get("TALLY_METRICS_TOKEN") is None for name in replicas())
    text = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    # Caddy's path matcher is case-insensitive and cleans the path first (//metrics, /./metrics); the
    # wildcard takes /metrics/ too. At the site's top level, where respond is handled before reverse_proxy.
    assert "respond /metrics* 404" in lines
    assert lines.index("respond /metrics* 404") < next(
        i for i, line in enumerate(lines) if line.startswith("reverse_proxy")
    )


@pytest.mark.parametrize("variable", ["TALLY_SECRET_KEY", "POSTGRES_PASSWORD"])
def test_secrets_come_from_the_environment_and_compose_refuses_to_start_without_them(variable: str) -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    uses = re.findall(r"\$\{" + variable + r"([^}]*)\}", text)
    assert uses, f"{variable} is not taken from the environment"
    # `:?` fails on unset and empty alike; a `:-default` would be a secret everyone knows.
    assert all(use.startswith(":?") for use in uses), f"{variable}: use ${{{variable}:?…}} everywhere"


def test_every_app_service_runs_in_production_mode_on_the_same_settings() -> None:
    envs = [environment(name) for name in SERVICES if uses_app_image(name)]
    assert all(env == envs[0] for env in envs)
    assert envs[0]["TALLY_ENV"] == "production"
    assert envs[0]["TALLY_SECRET_KEY"].startswith("${TALLY_SECRET_KEY:?")
    # Slack's variables pass through when set; empty would mean a bot token of "".
    assert envs[0]["SLACK_BOT_TOKEN"] is None and envs[0]["SLACK_WEBHOOK_URL"] is None


# Set by the compose file itself, for every app service alike.
FIXED_BY_COMPOSE = {"TALLY_ENV", "TALLY_SECRET_KEY", "TALLY_DATABASE_URL", "TALLY_BASE_URL", "TALLY_AUTO_MIGRATE",
                    "TALLY_FORWARDED_ALLOW_IPS"}  # fmt: skip


def test_every_documented_setting_reaches_the_containers_when_set_in_env() -> None:
    """Only the names listed under `environment:` reach a container: TALLY_NOTE_RETENTION_DAYS or
    TALLY_LANGUAGE put in the .env beside the file, as the ops guide says to, were silently ignored
    (notes kept for ever, pages in English)."""
    documented = set(re.findall(r"^\| `((?:TALLY|SLACK)_[A-Z_]+)` \|", (ROOT / "README.md").read_text(), re.M))
    assert {"TALLY_NOTE_RETENTION_DAYS", "TALLY_LANGUAGE", "SLACK_BOT_TOKEN"} <= documented
    passed = {name for name, value in environment("app-1").items() if value is None}
    assert documented - FIXED_BY_COMPOSE <= passed, sorted(documented - FIXED_BY_COMPOSE - passed)


# --- slack-app-manifest.yaml ---------------------------------------------------------


def web_api_methods_called() -> set[str]:
    """Every slack_sdk WebClient method called anywhere in app/ (webhook sends need no scope)."""
    methods = set(vars(WebClient)) - {name for name in vars(WebClient) if name.startswith("_")}
    called = set()
    for path in (ROOT / "app").rglob("*.py"):
        called |= {name for name in re.findall(r"\.(\w+)\(", path.read_text(encoding="utf-8")) if name in methods}
    return called


def test_the_code_calls_only_web_api_methods_whose_scopes_are_known() -> None:
    called = web_api_methods_called()
    assert "chat_postMessage" in called and "conversations_history" in called
    unknown = called - set(SCOPES_BY_METHOD)
    assert not unknown, f"add the scopes {unknown} need to SCOPES_BY_METHOD and slack-app-manifest.yaml"


def test_the_manifest_asks_for_exactly_the_scopes_the_code_needs() -> None:
    wanted = set().union(*(SCOPES_BY_METHOD[method] for method in web_api_methods_called()))
    bot_scopes = MANIFEST["oauth_config"]["scopes"]["bot"]
    assert len(bot_scopes) == len(set(bot_scopes))
    assert set(bot_scopes) == wanted
    assert "chat:write.public" not in bot_scopes


def test_the_manifest_names_the_bot_as_the_advice_texts_do() -> None:
    from app.slack.client import PERMANENT

    assert MANIFEST["display_information"]["name"] == "Launch Tally"
    assert "@" + MANIFEST["features"]["bot_user"]["display_name"] in PERMANENT["not_in_channel"]
    assert MANIFEST["settings"]["token_rotation_enabled"] is False
    assert MANIFEST["settings"]["socket_mode_enabled"] is False
