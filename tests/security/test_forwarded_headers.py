"""`X-Forwarded-For` and `X-Forwarded-Proto` count only from TRUSTED_PROXIES, whatever launches
the service.

uvicorn believes both headers from 127.0.0.1 by default (its `--proxy-headers`, on unless
turned off, with `FORWARDED_ALLOW_IPS` defaulting to the loopback address). Behind a proxy on
the same host that passes the header through, every client then chose its own rate-limit key:
30 signups with a fresh `X-Forwarded-For` each all got 201. These tests start the real server
processes exactly as production does (`python -m app.serve`; the uvicorn line of `make run`)
with rate limits on, and send from 127.0.0.1.
"""

from __future__ import annotations

import ast
import contextlib
import re
import secrets
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from tests.conftest import TEST_REDIS_URL
from tests.security.launch import LAUNCHERS, Launched, command_for, launched

LIMIT = 3  # RATE_LIMIT_AUTH_PER_IP in these servers: signups per address per minute
SERVER_REDIS = f"redis://{urlsplit(TEST_REDIS_URL).netloc}/0"  # `make run`'s database


def fresh_ip() -> str:
    """An address from 198.18.0.0/15 (benchmarking range: never a real client here)."""
    return str(IPv4Address(int(IPv4Address("198.18.0.0")) + secrets.randbits(17)))


def _forget_loopback_windows() -> None:
    """Earlier runs' sign-in windows of 127.0.0.1 (same Redis database, same limit)."""
    with redis.Redis.from_url(SERVER_REDIS) as r:
        for key in r.scan_iter(match="ratelimit:{LIMITER/auth/127.0.0.1/*"):
            r.delete(key)


@pytest.fixture(params=sorted(LAUNCHERS))
def launcher(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def _server(launcher: str, workdir: Path, **env: str) -> Iterator[Launched]:
    command, port = command_for(launcher)
    _forget_loopback_windows()
    with launched(
        command,
        port,
        workdir,
        REDIS_URL=SERVER_REDIS,
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_AUTH_PER_IP=f"{LIMIT}/minute",
        **env,
    ) as server:
        yield server


def signup(server: Launched, forwarded_for: str) -> int:
    r = httpx.post(
        f"{server.url}/api/v1/auth/signup",
        json={
            "email": f"xff-{uuid.uuid4().hex[:12]}@example.com",
            "password": "correct-horse-1",
            "name": "Fan",
        },
        headers={"X-Forwarded-For": forwarded_for},
        timeout=30,
    )
    return r.status_code


def redirect_scheme(server: Launched) -> str:
    """The scheme of the app's own absolute URLs (a trailing-slash redirect) when the request
    says `X-Forwarded-Proto: https` over plain HTTP."""
    r = httpx.get(
        f"{server.url}/api/v1/concerts/", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert r.status_code == 307, r.text
    return urlsplit(r.headers["location"]).scheme


def test_forwarded_headers_from_loopback_are_not_believed(launcher: str, tmp_path: Path) -> None:
    with _server(launcher, tmp_path) as server:
        assert redirect_scheme(server) == "http"
        codes = [signup(server, fresh_ip()) for _ in range(LIMIT + 1)]
        assert codes == [201] * LIMIT + [429], codes


def test_forwarded_headers_from_a_trusted_proxy_are_believed(launcher: str, tmp_path: Path) -> None:
    with _server(launcher, tmp_path, TRUSTED_PROXIES="127.0.0.1") as server:
        # Each forwarded client has its own window...
        assert [signup(server, fresh_ip()) for _ in range(LIMIT + 1)] == [201] * (LIMIT + 1)
        # ...and one client is limited in it, whatever the proxy's own address used up.
        client = fresh_ip()
        codes = [signup(server, f"{client}, 127.0.0.1") for _ in range(LIMIT + 1)]
        assert codes == [201] * LIMIT + [429], codes
        assert redirect_scheme(server) == "https"


VIEWER = "CloudFront-Viewer-Address"


def signup_as_viewer(server: Launched, viewer: str, forwarded_for: str) -> int:
    r = httpx.post(
        f"{server.url}/api/v1/auth/signup",
        json={
            "email": f"cva-{uuid.uuid4().hex[:12]}@example.com",
            "password": "correct-horse-1",
            "name": "Fan",
        },
        headers={VIEWER: viewer, "X-Forwarded-For": forwarded_for},
        timeout=30,
    )
    return r.status_code


def test_client_ip_header_from_a_trusted_proxy_is_believed(launcher: str, tmp_path: Path) -> None:
    """CLIENT_IP_HEADER as the AWS stack sets it: each viewer its own window, whatever the
    edge server (X-Forwarded-For's right end) it came through; one viewer limited in it."""
    with _server(
        launcher, tmp_path, TRUSTED_PROXIES="127.0.0.1", CLIENT_IP_HEADER=VIEWER
    ) as server:
        edge = fresh_ip()
        codes = [signup_as_viewer(server, f"{fresh_ip()}:4{n}", edge) for n in range(LIMIT + 1)]
        assert codes == [201] * (LIMIT + 1), codes
        viewer = fresh_ip()
        codes = [signup_as_viewer(server, f"{viewer}:5{n}", fresh_ip()) for n in range(LIMIT + 1)]
        assert codes == [201] * LIMIT + [429], codes


def test_client_ip_header_from_an_untrusted_peer_is_ignored(launcher: str, tmp_path: Path) -> None:
    """127.0.0.1 is not one of the proxies here: a fresh header value per request picks no
    fresh window."""
    with _server(
        launcher, tmp_path, TRUSTED_PROXIES="10.0.0.0/8", CLIENT_IP_HEADER=VIEWER
    ) as server:
        codes = [
            signup_as_viewer(server, f"{fresh_ip()}:443", fresh_ip()) for _ in range(LIMIT + 1)
        ]
        assert codes == [201] * LIMIT + [429], codes


ROOT = Path(__file__).resolve().parents[2]
_SHELL_FILES = ["Makefile", "README.md", "docker/Dockerfile", "docker-compose.yml", "scripts",
                ".github/workflows", "docs"]  # fmt: skip
_PYTHON_DIRS = ["app", "bench", "tests", "scripts"]


def _files(entries: list[str], suffix: str = "") -> list[Path]:
    found: list[Path] = []
    for entry in entries:
        path = ROOT / entry
        if path.is_dir():
            found += [p for p in sorted(path.rglob(f"*{suffix}")) if p.is_file()]
        elif path.is_file():
            found.append(path)
    return found


def test_every_launcher_turns_uvicorns_proxy_headers_off() -> None:
    """A new way of starting uvicorn that forgets it fails here (the real processes above
    cover `python -m app.serve` and `make run`)."""
    forgot: list[str] = []
    for path in _files(_SHELL_FILES):
        text = path.read_text(errors="replace").replace("\\\n", " ")
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r"uvicorn\s+app\.main:app", line) and "--no-proxy-headers" not in line:
                forgot.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    for path in _files(_PYTHON_DIRS, ".py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "uvicorn.Config":
                off = any(
                    k.arg == "proxy_headers" and ast.unparse(k.value) == "False"
                    for k in node.keywords
                )
                if not off:
                    forgot.append(f"{path.relative_to(ROOT)}:{node.lineno}: uvicorn.Config(...)")
            if isinstance(node, ast.List):
                words = [ast.unparse(e) for e in node.elts]
                if "'app.main:app'" in words and "'--no-proxy-headers'" not in words:
                    forgot.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not forgot, "uvicorn started with its own proxy headers on:\n" + "\n".join(forgot)
