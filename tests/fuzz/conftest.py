"""Hypothesis settings for the fuzz tests, and the JSON strategies they share.

The ``fuzz`` profile keeps CI bounded (the whole set adds well under a minute on 2 cores): modest
``max_examples``, no deadline (a shared machine makes timings noisy), and with ``CI`` set it is
derandomized (the same examples on every run: reproducible) and keeps no example database. For a
longer hunt locally: ``pytest tests/fuzz --hypothesis-profile=fuzz-deep``.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_CI = bool(os.environ.get("CI"))
_COMMON: dict[str, Any] = {
    "deadline": None,
    "derandomize": _CI,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
if _CI:
    _COMMON["database"] = None
settings.register_profile("fuzz", max_examples=100, **_COMMON)
settings.register_profile("fuzz-deep", max_examples=3000, **_COMMON)
if settings.get_current_profile_name() == "default":  # not chosen with --hypothesis-profile
    settings.load_profile("fuzz")


def http_examples(share: float) -> int:
    """Examples for an HTTP fuzz test, a share of the profile's: each is a real request to a gateway."""
    return max(10, int(settings.default.max_examples * share))


_PROTOCOLS = Path(__file__).resolve().parents[2] / "antigravity_gateway" / "protocols"


def _vocabulary() -> list[str]:
    """Every short string constant of the protocol modules: field names, types, roles, enum values.
    Random bodies keyed and valued from it reach deep into the translators."""
    words: set[str] = set()
    for path in sorted(_PROTOCOLS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                if 0 < len(value) <= 40 and "\n" not in value and " " not in value:
                    words.add(value)
    return sorted(words)


VOCABULARY = _vocabulary()

#: Scalars as JSON (and orjson, which the gateway parses with) can carry them: no NaN, 64-bit ints.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(VOCABULARY)
    | st.sampled_from(["", "user", "assistant", "system", "model", "tool", "developer", "function"])
)
keys = st.sampled_from(VOCABULARY) | st.text(max_size=12)

json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)
json_objects = st.dictionaries(keys, json_values, max_size=8)
