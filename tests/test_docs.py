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


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in variable_names() if f"| `{name}` |" not in readme]
    assert missing == [], f"document these in README.md's configuration table: {missing}"


def test_readme_commands_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo:", "test:", "test-postgres:"):
        assert f"\n{target}" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
