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
