"""Every setting is documented in docs/configuration.md, and nothing documented is gone."""

from __future__ import annotations

import re
from pathlib import Path

from antigravity_gateway.settings import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_has_a_section_naming_its_variable() -> None:
    text = DOC.read_text()
    headings = set(re.findall(r"^### (\w+)$", text, flags=re.M))
    fields = set(Settings.model_fields)
    assert fields - headings == set(), "settings without a section in docs/configuration.md"
    assert headings - fields == set(), "sections for settings that do not exist"
    for name in fields:
        assert f"`AGW_{name.upper()}`" in text, f"AGW_{name.upper()} is not named in the docs"
