"""Reading other tools' account files: realistic samples (tests/accounts/samples/), broken and partial ones."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from antigravity_gateway.accounts.imports import (
    FORMATS,
    ImportItem,
    ImportSkip,
    UnreadableFile,
    default_location,
    gcli2api_label,
    read_paths,
    read_text,
    read_upload,
)
from antigravity_gateway.accounts.profiles import ANTIGRAVITY, GEMINI_CLI

SAMPLES = Path(__file__).parent / "samples"


def _items(*paths: Path) -> list[ImportItem]:
    return read_paths(list(paths)).items


def test_gemini_cli_oauth_creds() -> None:
    (item,) = _items(SAMPLES / "gemini-cli" / "oauth_creds.json")
    assert (item.refresh_token, item.client, item.format) == ("1//gina", GEMINI_CLI.name, "gemini-cli")
    assert item.email == ""  # gemini-cli does not keep it: Google tells it during the check
    assert item.issued_at == 1764853200.0  # expiry_date is in milliseconds


def test_antigravity_tools_data_folder_reads_the_account_files_only() -> None:
    ana, ben = _items(SAMPLES / "antigravity_tools")
    assert (ana.email, ana.refresh_token, ana.client, ana.label) == (
        "ana@example.com",
        "1//ana",
        ANTIGRAVITY.name,
        "team-a",
    )
    assert ana.project_id == "bright-river-a1b2c" and ana.issued_at == 1764853200.0 and not ana.disabled
    assert (ben.email, ben.disabled, ben.disabled_reason) == (
        "ben@example.com",
        True,
        "disabled by hand in Antigravity Tools",
    )
    assert all("gui_config" not in i.source and not i.source.endswith("accounts.json") for i in (ana, ben))


def test_antigravity_tools_export() -> None:
    items = _items(SAMPLES / "antigravity_tools_export.json")
    assert [(i.email, i.refresh_token, i.client, i.line) for i in items] == [
        ("ana@example.com", "1//ana", ANTIGRAVITY.name, 1),
        ("ben@example.com", "1//ben", ANTIGRAVITY.name, 2),
    ]


def test_cliproxyapi_folder_takes_antigravity_files_and_skips_the_other_types() -> None:
    read = read_paths([SAMPLES / "cli-proxy-api"])
    cleo, dan = read.items
    assert (cleo.email, cleo.refresh_token, cleo.proxy_url, cleo.label, cleo.client) == (
        "cleo@example.com",
        "1//cleo",
        "socks5h://127.0.0.1:1080",
        "lab",
        ANTIGRAVITY.name,
    )
    assert cleo.issued_at == 1764849600.0 and cleo.project_id == "quiet-harbor-q1w2e" and not cleo.disabled
    assert (dan.email, dan.disabled) == ("dan@example.com", True)
    skipped = [e for e in read.entries if isinstance(e, ImportSkip)]
    assert sorted(Path(s.source).name.split("-")[0] for s in skipped) == ["claude", "gemini"]
    assert all("not an Antigravity account" in s.reason for s in skipped)


def test_gcli2api_files_carry_their_client() -> None:
    eve, fay = _items(SAMPLES / "gcli2api")
    assert eve.oauth_client is not None
    assert (eve.oauth_client.id, eve.oauth_client.secret) == (
        "gcli2api-test.apps.example",
        "GOCSPX-gcli2api-sample-secret",
    )
    assert (
        eve.oauth_client.label == gcli2api_label("gcli2api-test.apps.example")
        and eve.client == eve.oauth_client.id
    )
    assert eve.oauth_client.label.startswith("gcli2api-") and "GOCSPX" not in eve.oauth_client.label
    assert eve.issued_at > 0
    # A file with gemini-cli's own client is simply the built-in gemini-cli profile.
    assert (fay.oauth_client, fay.client) == (None, GEMINI_CLI.name)


def test_gcli2api_zip(tmp_path: Path) -> None:
    archive = tmp_path / "creds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((SAMPLES / "gcli2api").iterdir()):
            zf.write(path, f"creds/{path.name}")
        zf.writestr("__MACOSX/creds/._eve@example.com.json", b"\x00\x05\x16\x07")
        zf.writestr("README.txt", "not a credential")
    items = _items(archive)
    assert [i.refresh_token for i in items] == ["1//eve", "1//fay"]
    assert items[0].source == f"{archive}:creds/eve@example.com.json"
    # The same bytes uploaded without a .zip name are told apart by content.
    assert [i.refresh_token for i in read_upload("upload", archive.read_bytes()).items] == [
        "1//eve",
        "1//fay",
    ]


def test_text_with_refresh_tokens() -> None:
    items = _items(SAMPLES / "tokens.txt")
    assert [(i.line, i.refresh_token) for i in items] == [(2, "1//hana"), (4, "1//ivo")]


def test_agw_export_and_json_arrays_keep_entries_without_a_token() -> None:
    read = read_text("pasted", '[{"email": "a@example.com", "refresh_token": "1//a"}, {"email": "x"}, 7]')
    assert [(i.line, i.email, i.refresh_token) for i in read.items] == [
        (1, "a@example.com", "1//a"),
        (2, "x", ""),
        (3, "", ""),
    ]


# -- broken and partial files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"type": "antigravity", "refresh_token": "1//cut', "not valid JSON"),
        ('{"theme": "dark"}', "unknown shape"),
        ("just some notes, no tokens here\n", "no 1//... refresh token"),
        ("[]", "empty JSON array"),
        (
            json.dumps({"version": "2.0", "accounts": [{"id": "x", "email": "a@example.com"}]}),
            "import its folder",
        ),
    ],
)
def test_a_file_it_cannot_read_names_the_file_and_the_formats(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "mystery.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UnreadableFile) as caught:
        read_paths([path])
    assert str(path) in caught.value.message and problem in caught.value.message
    assert all(f in caught.value.message for f in FORMATS)
    assert "1//cut" not in caught.value.message  # never the content (it holds tokens)


def test_binary_corrupt_zip_and_missing_files(tmp_path: Path) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(UnreadableFile, match="not a text file"):
        read_paths([binary])
    broken = tmp_path / "creds.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UnreadableFile, match="not a valid .zip"):
        read_paths([broken])
    with pytest.raises(UnreadableFile, match="no such file"):
        read_paths([tmp_path / "nowhere.json"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnreadableFile, match="without .json or .zip"):
        read_paths([empty])


def test_a_zip_with_one_broken_member_is_refused_whole(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(SAMPLES / "gcli2api" / "eve@example.com.json", "eve.json")
        zf.writestr("broken.json", '{"client_id": "x", "refresh_token": ')
    with pytest.raises(UnreadableFile) as caught:
        read_upload("creds.zip", buffer.getvalue())
    assert "creds.zip:broken.json" in caught.value.message


def test_partial_files_give_entries_without_a_token(tmp_path: Path) -> None:
    folder = tmp_path / "abv"
    shutil.copytree(SAMPLES / "antigravity_tools", folder)
    account = folder / "accounts" / "5b0f7c1e-2d4a-4f3b-9a8e-1c2d3e4f5a6b.json"
    data = json.loads(account.read_text())
    del data["token"]["refresh_token"]  # a half-written account file
    account.write_text(json.dumps(data))
    ana, ben = _items(folder)
    assert (ana.email, ana.refresh_token) == ("ana@example.com", "") and ben.refresh_token == "1//ben"


def test_a_folder_skips_json_of_unknown_shape_but_refuses_broken_json(tmp_path: Path) -> None:
    folder = tmp_path / "gemini"
    folder.mkdir()
    shutil.copy(SAMPLES / "gemini-cli" / "oauth_creds.json", folder)
    (folder / "settings.json").write_text('{"theme": "Default"}')
    read = read_paths([folder])
    assert [i.refresh_token for i in read.items] == ["1//gina"]
    assert [e.reason for e in read.entries if isinstance(e, ImportSkip)] == ["no account in a known format"]
    (folder / "settings.json").write_text('{"theme": ')
    with pytest.raises(UnreadableFile, match="settings.json"):
        read_paths([folder])


def test_default_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ABV_DATA_DIR", raising=False)
    assert default_location("gemini-cli") == tmp_path / ".gemini" / "oauth_creds.json"
    assert default_location("antigravity-tools") == tmp_path / ".antigravity_tools"
    assert default_location("cliproxyapi") == tmp_path / ".cli-proxy-api"
    monkeypatch.setenv("ABV_DATA_DIR", str(tmp_path / "abv"))
    assert default_location("antigravity-tools") == tmp_path / "abv"
