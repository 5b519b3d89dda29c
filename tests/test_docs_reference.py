"""The references a user reads outside the repository stay true: ``agw help config`` is
docs/configuration.md, the alias table in the docs is the code's, and the README keeps its promises."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from antigravity_gateway.cli import main
from antigravity_gateway.cli.reference import configuration_reference, reference_text
from antigravity_gateway.core.models_map import BUILTIN_ALIASES
from antigravity_gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_packaged_reference_is_docs_configuration_md() -> None:
    assert configuration_reference() == (ROOT / "docs" / "configuration.md").read_text(), (
        "antigravity_gateway/reference/configuration.md must be docs/configuration.md "
        "(a symbolic link to ../../docs/configuration.md)"
    )


def test_agw_help_config_prints_every_setting_from_the_package() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGW_")}
    result = subprocess.run(
        [sys.executable, "-m", "antigravity_gateway", "help", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for name in Settings.model_fields:
        assert f"### {name}\n" in result.stdout and f"AGW_{name.upper()}" in result.stdout
    one = CliRunner().invoke(main, ["help", "config", "port"])
    assert one.exit_code == 0 and one.output.startswith("### port\n") and "### " not in one.output[4:]
    section = CliRunner().invoke(main, ["help", "config", "oauth-clients"])
    assert section.output.startswith("## OAuth clients")
    assert CliRunner().invoke(main, ["help", "config", "no_such_thing"]).exit_code == 1


def test_no_message_points_to_a_file_an_installed_gateway_lacks() -> None:
    for path in (ROOT / "antigravity_gateway").rglob("*.py"):
        for literal in re.findall(r'"[^"\n]*"', path.read_text()):
            assert not re.search(r"(?<![\w/.])docs/\w+\.md", literal), f"{path.name}: {literal}"


def test_the_builtin_alias_table_is_documented_as_it_is() -> None:
    text = (ROOT / "docs" / "protocols.md").read_text()
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|$", text, flags=re.M))
    assert rows == BUILTIN_ALIASES
    shown = CliRunner().invoke(main, ["models"]).output
    for name, target in BUILTIN_ALIASES.items():
        assert re.search(rf"^  {re.escape(name)}\s+{re.escape(target)}$", shown, flags=re.M), name


def test_readme_setup_is_two_commands_after_an_optional_venv_line() -> None:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", setup, flags=re.S)
    assert block is not None
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    lines = [line for line in lines if line]
    if "venv" in lines[0]:
        lines = lines[1:]
    assert lines == ["pip install . && agw demo", "scripts/test"]
    assert "Ctrl-C" in setup and "another terminal" in setup and "MB" in setup
    assert "docs/operations.md" in readme and (ROOT / "docs" / "operations.md").exists()


def test_changelog_has_unreleased_and_dated_or_pending_releases() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    assert headings[0] == "Unreleased"
    for heading in headings[1:]:
        assert re.match(r"\d+\.\d+\.\d+ — (\d{4}-\d{2}-\d{2}|not tagged yet)", heading), heading


def test_bench_readme_states_its_targets() -> None:
    text = (ROOT / "bench" / "README.md").read_text()
    assert "issue 2" not in text
    assert "0.5 ms" in text and "5,000 requests/s" in text


def test_the_packaged_security_text_is_docs_security_md() -> None:
    assert reference_text("security") == (ROOT / "docs" / "security.md").read_text()


def test_the_packaged_keys_text_is_docs_keys_md() -> None:
    assert reference_text("keys") == (ROOT / "docs" / "keys.md").read_text()
    shown = CliRunner().invoke(main, ["help", "keys"])
    assert shown.exit_code == 0 and shown.output.startswith("# User keys")
