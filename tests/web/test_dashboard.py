"""The dashboard's static files: served at /ui from the package, right content types, nothing external."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from antigravity_gateway.web import dashboard
from tests.conftest import Gateway, GatewayFactory

STATIC = Path(dashboard.__file__).parent / "static"

#: URLs that may appear in the static files: XML namespaces (never fetched). Snippets are built from the
#: gateway's own base URL at run time, so no other absolute URL belongs in these files.
ALLOWED_URLS = {"http://www.w3.org/2000/svg"}


@pytest.fixture
def ui(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(
        accounts=[], api_key="sk-dashboard-test", auth_mode="strict", admin_password="dashboard-pass"
    )


def test_ui_serves_index_html(ui: Gateway) -> None:
    http = ui.http()
    for path in ("/ui", "/ui/"):
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert '<script type="module" src="/ui/static/app.js">' in response.text
        assert '<div id="app"' in response.text


def test_ui_needs_no_api_key_but_admin_api_needs_a_login(ui: Gateway) -> None:
    http = ui.http()
    assert http.get("/ui/static/app.js").status_code == 200
    assert http.get("/api/accounts").status_code == 401
    assert http.get("/api/session").json()["password_required"] is True


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("dom.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
        ("index.html", "text/html; charset=utf-8"),
    ],
)
def test_static_files_have_their_content_type(ui: Gateway, name: str, content_type: str) -> None:
    response = ui.http().get(f"/ui/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (STATIC / name).read_bytes()


def test_every_module_imported_by_the_page_is_served(ui: Gateway) -> None:
    http = ui.http()
    for path in STATIC.glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', path.read_text()):
            assert (STATIC / imported).is_file(), f"{path.name} imports missing {imported}"
            assert http.get(f"/ui/static/{imported}").status_code == 200


def test_etag_revalidation(ui: Gateway) -> None:
    http = ui.http()
    first = http.get("/ui/static/style.css")
    etag = first.headers["etag"]
    again = http.get("/ui/static/style.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert http.head("/ui/static/style.css").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/ui/static/nope.js",
        "/ui/static/",
        "/ui/static/../dashboard.py",
        "/ui/static/%2e%2e/dashboard.py",
        "/ui/static/..%2fdashboard.py",
        "/ui/static/sub/app.js",
        "/ui/static/.hidden.js",
        "/ui/static/app.py",
    ],
)
def test_unknown_static_files_are_404(ui: Gateway, path: str) -> None:
    response = ui.http().get(path)
    assert response.status_code == 404


def test_static_path_rejects_traversal() -> None:
    assert dashboard._static_path("app.js") == STATIC / "app.js"
    for name in ("", "../app.py", "..", ".", "a/b.js", "a\\b.js", ".x.js", "dashboard.py", "app.js\x00"):
        assert dashboard._static_path(name) is None, name


def test_no_external_urls_in_the_static_files() -> None:
    files = [p for p in STATIC.iterdir() if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "app.js", "style.css"}
    for path in files:
        text = path.read_text()
        urls = set(re.findall(r"https?://[^\s\"'`)<>]+", text))
        assert urls <= ALLOWED_URLS, f"{path.name} refers to {urls - ALLOWED_URLS}"
        # nothing loaded from elsewhere: no protocol-relative URLs or CSS imports either
        assert not re.search(r"""(src|href)=["']//""", text), path.name
        assert "@import" not in text, path.name


def test_static_files_ship_with_the_package() -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"web/static/*"' in pyproject
    assert not [p for p in STATIC.iterdir() if p.is_dir()], (
        "package data covers web/static/* only: keep it flat"
    )
