"""API8:2023 Security Misconfiguration: CORS only for the configured origins, security headers
on HTML pages, `nosniff` everywhere.

The HTML pages today are Swagger UI (/docs) and ReDoc (/redoc). The single-page app (app/web.py)
sets its own policy on its pages; app/platform/security_headers.py (`HTML_POLICIES`) is the hook
for any page that needs a policy other than the same-origin default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.platform.security_headers import DEFAULT_HTML_POLICY, html_policy
from tests.conftest import make_settings

SHOP = "https://shop.example"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
async def cors_client() -> AsyncIterator[httpx.AsyncClient]:
    """An app allowing one origin. No lifespan: preflights and /healthz need no clients."""
    app = create_app(make_settings(cors_origins=SHOP))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def _preflight(origin: str, method: str = "POST", headers: str = "authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_cors_allows_the_configured_origin(cors_client: httpx.AsyncClient) -> None:
    r = await cors_client.options("/api/v1/checkout", headers=_preflight(SHOP))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "*" not in r.headers["access-control-allow-origin"]
    assert "access-control-allow-credentials" not in r.headers  # bearer tokens, no cookies
    simple = await cors_client.get("/healthz", headers={"Origin": SHOP})
    assert simple.headers["access-control-allow-origin"] == SHOP


@pytest.mark.parametrize(
    "origin",
    [EVIL, "https://shop.example.evil.example", "http://shop.example", "null", SHOP + ":8443"],
)
async def test_cors_refuses_other_origins(cors_client: httpx.AsyncClient, origin: str) -> None:
    r = await cors_client.options("/api/v1/checkout", headers=_preflight(origin))
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    simple = await cors_client.get("/healthz", headers={"Origin": origin})
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_refuses_unlisted_methods_and_headers(cors_client: httpx.AsyncClient) -> None:
    put = await cors_client.options("/api/v1/checkout", headers=_preflight(SHOP, method="PUT"))
    assert put.status_code == 400
    odd = await cors_client.options("/api/v1/checkout", headers=_preflight(SHOP, headers="x-evil"))
    assert odd.status_code == 400


async def test_without_cors_origins_there_is_no_cors_at_all(client: httpx.AsyncClient) -> None:
    r = await client.options("/api/v1/checkout", headers=_preflight(SHOP))
    assert "access-control-allow-origin" not in r.headers
    simple = await client.get("/healthz", headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_html_pages_carry_security_headers(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "default-src 'self'" in csp
    assert "http:" not in csp, "the docs load nothing from elsewhere"
    assert "https:" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


async def test_json_answers_are_not_sniffed_and_get_no_html_policy(
    client: httpx.AsyncClient,
) -> None:
    for r in (
        await client.get("/api/v1/concerts"),
        await client.get("/api/v1/concerts/nope"),
        await client.get("/openapi.json"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in r.headers


def test_html_policies_by_prefix() -> None:
    assert "'unsafe-inline'" in html_policy("/docs")
    assert html_policy("/docs/oauth2-redirect") == html_policy("/docs")
    assert html_policy("/docsearch") == DEFAULT_HTML_POLICY, "a prefix is a path segment"
    assert html_policy("/") == DEFAULT_HTML_POLICY
    assert "'unsafe-inline'" not in DEFAULT_HTML_POLICY


async def test_the_web_apps_own_policy_is_kept(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Pages that set their own headers (the SPA, app/web.py) keep them: the middleware only
    fills in what is missing."""
    r = await client.get("/")
    if r.headers.get("content-type", "").startswith("text/html"):
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
