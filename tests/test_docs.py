"""The documentation stays true: every setting is in the README's table."""

from __future__ import annotations

from pathlib import Path

from app.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


def variable_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.append(str(choices[0]) if choices else ENV_PREFIX + name.upper())
    return names


def test_every_setting_is_in_the_readme_and_the_operations_guide() -> None:
    for document in ("README.md", "docs/operations.md"):
        text = (ROOT / document).read_text(encoding="utf-8")
        missing = [name for name in variable_names() if f"| `{name}` |" not in text]
        assert missing == [], f"document these in {document}'s configuration table: {missing}"


def test_the_documents_the_readme_links_to_exist() -> None:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(((?:docs|hypotheses)/[^)#]+)", readme):
        assert (ROOT / target).exists(), f"README.md links to {target}, which does not exist"


def test_every_cli_command_is_in_the_operations_or_admins_guide() -> None:
    from typer.main import get_command

    from app.cli import cli

    docs = "".join(
        (ROOT / "docs" / name).read_text(encoding="utf-8")
        for name in ("operations.md", "guide-admins.md", "guide-leads.md")
    )
    group = get_command(cli)
    missing = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        for full in [f"tally {name} {sub}" for sub in subcommands] if subcommands else [f"tally {name}"]:
            if full not in docs:
                missing.append(full)
    assert missing == [], f"no guide mentions {missing}"


def test_readme_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo:", "test:", "test-postgres:"):
        assert f"\n{target}" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_guides_container_commands_name_the_images_volume_and_composes_services() -> None:
    """The restore steps said to stop the app and then `tally restore`, but in a container the app is the
    main process: after `docker stop tally` there was nothing to exec into, and the app's image has no
    pg_restore. The steps run beside the app instead, on what the Dockerfile and docker-compose.yml name."""
    import re

    import yaml

    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    services: dict[str, dict[str, object]] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

    volume = re.search(r'^VOLUME \["([^"]+)"\]', dockerfile, re.MULTILINE)
    database = re.search(r"TALLY_DATABASE_URL=sqlite:///(\S+)", dockerfile)
    assert volume and database and Path(database.group(1)).parent == Path(volume.group(1))
    restore = re.search(r"docker run --rm -v tally-data:(\S+) .*?\s+tally restore (\S+)", guide, re.DOTALL)
    assert restore, "no restore in a container of its own, beside the stopped app"
    assert restore.group(1) == volume.group(1) and restore.group(2).startswith(volume.group(1) + "/")

    [postgres] = [name for name, service in services.items() if str(service.get("image", "")).startswith("postgres")]
    assert re.search(rf"docker compose exec -T {postgres} pg_restore .* < \S+\.dump", guide)
    for verb, names in re.findall(r"docker compose (exec(?: -T)?|run --rm|stop|start) ([a-z0-9 -]+)", guide):
        named = names.split()[:1] if verb.startswith(("exec", "run")) else names.split()
        assert set(named) <= set(services), f"docs/operations.md: `docker compose {verb} {names}`: no such service"
