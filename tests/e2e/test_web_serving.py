"""How the service serves the web app, without a browser: a fake build in a temp directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app import web
from app.main import create_app
from tests.conftest import make_settings

INDEX = "<!doctype html><html><body><div id=root></div></body></html>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('app')")
    (tmp_path / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path.parent / "secret.txt").write_text("outside the build")
    return tmp_path


async def client_for(
    dist: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> httpx.AsyncClient:
    monkeypatch.setattr(web, "DIST", dist)
    app = create_app(make_settings(**settings))  # no lifespan: none of these paths needs it
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def client(dist: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(dist, monkeypatch) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/concerts/123", "/orders/abc", "/checkout", "/login"])
async def test_client_routes_get_the_app_with_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 200
    assert r.text == INDEX
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp  # no inline script, no Stripe without the Stripe provider
    assert "frame-ancestors 'none'" in csp
    assert "stripe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["cache-control"] == "no-cache"


async def test_head_of_a_client_route(client: httpx.AsyncClient) -> None:
    r = await client.head("/concerts/123")
    assert r.status_code == 200
    assert r.content == b""


async def test_assets_are_served_and_cached_for_good(client: httpx.AsyncClient) -> None:
    r = await client.get("/assets/index-abc123.js")
    assert r.status_code == 200
    assert r.text == "console.log('app')"
    assert "javascript" in r.headers["content-type"]
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    favicon = await client.get("/favicon.svg")
    assert favicon.status_code == 200
    assert "immutable" not in favicon.headers.get("cache-control", "")


@pytest.mark.parametrize(
    "path",
    [
        "/assets/missing.js",  # a missing file is a 404, never the app's HTML
        "/robots.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
    ],
)
async def test_missing_files_and_escapes_are_404(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 404
    assert r.json()["error"] == "NotFound"
    assert "outside the build" not in r.text


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api", "/docs/nope", "/redoc/x", "/healthz/x", "/metrics/x", "/static/x"],
)
async def test_api_and_operations_paths_keep_their_json_404(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path, headers={"Accept": "text/html"})
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "NotFound"


async def test_other_methods_are_untouched(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/nope", json={})
    assert r.status_code == 404
    assert r.json()["error"] == "NotFound"
    r = await client.post("/concerts/123")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    # A method the route lacks is still a 405, not the app.
    r = await client.delete("/api/v1/concerts")
    assert r.status_code == 405


async def test_the_api_docs_and_probes_still_answer(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_stripe_origins_are_allowed_only_with_the_stripe_provider(
    dist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await client_for(
        dist,
        monkeypatch,
        payment_provider="stripe",
        stripe_secret_key="sk_test_x",
        stripe_publishable_key="pk_test_x",
    ) as client:
        csp = (await client.get("/")).headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com" in csp
    assert "frame-src https://js.stripe.com" in csp
    assert "connect-src 'self' https://api.stripe.com" in csp


async def test_without_a_build_the_root_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await client_for(tmp_path / "nothing", monkeypatch) as client:
        root = await client.get("/")
        other = await client.get("/concerts/123")
    assert root.status_code == 404
    assert "npm --prefix frontend ci" in root.text
    assert root.headers["content-security-policy"].startswith("default-src 'self'")
    assert other.status_code == 404
    assert other.json()["error"] == "NotFound"


@pytest.mark.parametrize(
    ("accept", "encoding", "body"),
    [
        ("gzip, deflate, br, zstd", "br", b"brotli copy"),
        ("gzip", "gzip", b"gzip copy"),
        ("br;q=0, gzip", "gzip", b"gzip copy"),
        ("identity", None, b"console.log('big app')"),
    ],
)
async def test_an_asset_is_sent_as_the_builds_precompressed_copy_the_browser_accepts(
    dist: Path, monkeypatch: pytest.MonkeyPatch, accept: str, encoding: str | None, body: bytes
) -> None:
    """vite build writes name.br and name.gz beside each text asset; the service sends the
    best one the browser accepts, with the asset's own type and a year's immutable caching."""
    asset = dist / "assets" / "app-def456.js"
    asset.write_bytes(b"console.log('big app')")
    asset.with_name(asset.name + ".br").write_bytes(b"brotli copy")
    asset.with_name(asset.name + ".gz").write_bytes(b"gzip copy")
    headers = {"Accept-Encoding": accept}
    # A raw stream: httpx would otherwise try to decode the fake compressed bytes.
    async with (
        await client_for(dist, monkeypatch) as c,
        c.stream("GET", "/assets/app-def456.js", headers=headers) as r,
    ):
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.status_code == 200
    assert raw == body
    assert r.headers.get("content-encoding") == encoding
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_accepted_encodings_reads_qualities() -> None:
    assert web.accepted_encodings("gzip, deflate, br, zstd") == {"gzip", "deflate", "br", "zstd"}
    assert web.accepted_encodings("br;q=0, gzip;q=0.5") == {"gzip"}
    assert web.accepted_encodings("br; q=1.0, *;q=0") == {"br"}
    assert web.accepted_encodings("br;q=nonsense") == set()
    assert web.accepted_encodings("") == set()
