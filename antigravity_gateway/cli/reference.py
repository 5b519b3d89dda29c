"""``agw help config [NAME]``, ``agw help security`` and ``agw help keys``: reference texts printed from the
installed package.

The texts are ``docs/configuration.md``, ``docs/security.md`` and ``docs/keys.md`` themselves, shipped as package data
(``reference/*.md`` link to them in the source tree), so an installed gateway can point its users to them.
"""

from __future__ import annotations

import re
from importlib import resources

import click

from antigravity_gateway.cli.base import fail, main


def reference_text(name: str) -> str:
    return (resources.files("antigravity_gateway") / "reference" / f"{name}.md").read_text("utf-8")


def configuration_reference() -> str:
    return reference_text("configuration")


def section(text: str, name: str) -> str | None:
    """The ``### name`` section of the reference (a setting), or the ``## Name`` one whose heading is
    ``name`` with dashes as spaces (``oauth-clients`` → "## OAuth clients"), with its heading."""
    parts = [p for p in re.split(r"(?m)^(?=#{2,3} )", text) if p.startswith("#")]
    wanted = name.strip().lower()
    for part in parts:
        if part.startswith("### ") and part.splitlines()[0][4:].strip().lower() == wanted:
            return part.rstrip()
    for part in parts:
        if part.startswith("## ") and part.splitlines()[0][3:].strip().lower() == wanted.replace("-", " "):
            return part.rstrip()
    return None


@main.group("help")
def help_group() -> None:
    """Reference texts that ship with the gateway."""


@help_group.command("config")
@click.argument("name", required=False)
def help_config(name: str | None) -> None:
    """Every setting: its variable, default and meaning (or only NAME's, e.g. `agw help config port`).

    `agw config show` prints the effective values."""
    text = configuration_reference()
    if not name:
        click.echo(text.rstrip())
        return
    found = section(text, name)
    if found is None:
        fail(f"no setting or section {name!r}; `agw help config` prints them all")
    click.echo(found)


@help_group.command("security")
def help_security() -> None:
    """What the defaults protect against (Host and Origin checks, back-off, secrets at rest) and how to
    expose the gateway safely."""
    click.echo(reference_text("security").rstrip())


@help_group.command("keys")
def help_keys() -> None:
    """User keys for a team: their options, what clients see when refused, how limits are counted."""
    click.echo(reference_text("keys").rstrip())
