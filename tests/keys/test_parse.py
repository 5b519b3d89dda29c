"""What operators type for a key: names, durations and expiries, model globs, CIDR lists, limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from antigravity_gateway.keys import parse

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45s", 45), ("2w", 14 * 86400),
     ("1d12h", 129600), ("1.5h", 5400), (" 7D ", 7 * 86400)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse.duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "d", "30x", "30d junk", "-1d", "0d", "1d-2h"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse.duration(text)


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", NOW + 30 * 86400),
        ("12h", NOW + 43200),
        ("2027-02-01", _utc(2027, 2, 2)),  # a date: until the end of that day, UTC
        ("2027-02-01T18:00", _utc(2027, 2, 1, 18)),  # no offset: UTC
        ("2027-02-01T18:00Z", _utc(2027, 2, 1, 18)),
        ("2027-02-01T18:00+02:00", _utc(2027, 2, 1, 16)),
        ("never", 0.0),
        ("", 0.0),
        ("none", 0.0),
    ],
)
def test_expiries(text: str, expected: float) -> None:
    assert parse.expiry(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["tomorrow", "2027-13-01", "31/01/2027", "2027-02-30"])
def test_bad_expiries(text: str) -> None:
    with pytest.raises(ValueError, match="not an expiry"):
        parse.expiry(text, now=NOW)


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("gemini-*,claude-sonnet-*", ("gemini-*", "claude-sonnet-*")),
        (" gemini-2.5-flash , ,gemini-2.5-flash", ("gemini-2.5-flash",)),
        ("models/gemini-3-*", ("gemini-3-*",)),
        ("gemini-?-flash", ("gemini-?-flash",)),
        ("", ()),
        ("*", ()),
        ("gemini-*,*", ()),
        (["a-*", "b"], ("a-*", "b")),
    ],
)
def test_model_patterns(text: str | list[str], patterns: tuple[str, ...]) -> None:
    assert parse.model_patterns(text) == patterns


@pytest.mark.parametrize("text", ["gemini flash", "a;b", "x" * 129, "gemini-[ab]"])
def test_bad_model_patterns(text: str) -> None:
    with pytest.raises(ValueError, match="model pattern"):
        parse.model_patterns(text)


@pytest.mark.parametrize(
    ("text", "networks"),
    [
        ("10.0.0.0/8, 192.168.1.7", ("10.0.0.0/8", "192.168.1.7/32")),
        ("10.1.2.3/8", ("10.0.0.0/8",)),  # host bits dropped
        ("2001:db8::/32,::1", ("2001:db8::/32", "::1/128")),
        ("", ()),
    ],
)
def test_networks(text: str, networks: tuple[str, ...]) -> None:
    assert parse.networks(text) == networks


@pytest.mark.parametrize("text", ["10.0.0.0/33", "example.com", "10.0.0"])
def test_bad_networks(text: str) -> None:
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        parse.networks(text)


@pytest.mark.parametrize("name", ["ada", "team-a.bob_1", "bob@example.com", "A" * 64])
def test_key_names(name: str) -> None:
    assert parse.key_name(name) == name


@pytest.mark.parametrize("name", ["", "-ada", "a b", "a/b", "A" * 65, "ünï"])
def test_bad_key_names(name: str) -> None:
    with pytest.raises(ValueError, match="not a key name"):
        parse.key_name(name)


@pytest.mark.parametrize(
    ("value", "number"), [(0, 0), ("10", 10), ("1_000", 1000), ("", 0), ("none", 0), (5.0, 5)]
)
def test_limits(value: object, number: int) -> None:
    assert parse.limit(value, "rpm") == number


@pytest.mark.parametrize("value", [-1, "ten", 2.5, True, 10**13, None])
def test_bad_limits(value: object) -> None:
    with pytest.raises(ValueError, match="rpm"):
        parse.limit(value, "rpm")
