"""Large GET answers are compressed as the client accepts; writes and seat streams are not."""

from __future__ import annotations

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
import zstandard
from starlette.types import Receive, Scope, Send

from app.platform.compression import ResponseCompression
from tests.conftest import Account
from tests.helpers import CONCERTS, create_concert

STADIUM = [
    {"name": f"Block {n}", "price_cents": 5000, "rows": 50, "seats_per_row": 100} for n in range(10)
]


@pytest.mark.parametrize("coding", ["zstd", "br", "gzip"])
async def test_a_stadium_seat_map_is_sent_compressed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], coding: str
) -> None:
    c = await create_concert(client, admin_headers, sections=STADIUM)
    plain = await client.get(f"{CONCERTS}/{c['id']}/seats", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 50_000
    async with client.stream(
        "GET", f"{CONCERTS}/{c['id']}/seats", headers={"Accept-Encoding": coding}
    ) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.status_code == 200
    assert r.headers["content-encoding"] == coding
    assert "Accept-Encoding" in r.headers["vary"]
    assert len(raw) < len(plain.content) / 10
    decoded = {
        "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
        "br": brotli.decompress,
        "gzip": lambda b: __import__("gzip").decompress(b),
    }[coding](raw)
    assert decoded == plain.content


async def test_small_answers_and_writes_are_not_compressed(
    client: httpx.AsyncClient, admin_headers: dict[str, str], user: Account
) -> None:
    c = await create_concert(client, admin_headers, sections=STADIUM)
    hold = await client.post(
        f"{CONCERTS}/{c['id']}/holds",
        json={"quantity": 2},
        headers={**user.headers, "Accept-Encoding": "br"},
    )
    assert hold.status_code == 201
    assert "content-encoding" not in hold.headers
    health = await client.get("/healthz", headers={"Accept-Encoding": "br"})
    assert "content-encoding" not in health.headers


async def test_a_concert_304_carries_no_body_and_no_encoding(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, sections=STADIUM)
    first = await client.get(f"{CONCERTS}/{c['id']}", headers={"Accept-Encoding": "br"})
    assert first.headers["content-encoding"] == "br"
    again = await client.get(
        f"{CONCERTS}/{c['id']}",
        headers={"Accept-Encoding": "br", "If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.content == b""


async def test_a_seat_stream_is_never_compressed() -> None:
    """One compressor per listener would cost CPU per fan on every change: streams go as they
    are (the same app answer is compressed for a client that asks for JSON)."""

    async def events(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: x\n\n" * 500})

    app = httpx.ASGITransport(app=ResponseCompression(events))
    async with httpx.AsyncClient(transport=app, base_url="http://test") as http:
        stream = await http.get(
            "/s", headers={"Accept": "text/event-stream", "Accept-Encoding": "br"}
        )
        other = await http.get("/s", headers={"Accept": "*/*", "Accept-Encoding": "br"})
    assert "content-encoding" not in stream.headers
    assert other.headers["content-encoding"] == "br"


async def test_a_client_that_accepts_no_encoding_gets_the_plain_answer(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    c = await create_concert(client, admin_headers, sections=STADIUM)
    request = client.build_request("GET", f"{CONCERTS}/{c['id']}/seats")
    del request.headers["accept-encoding"]
    r = await client.send(request)
    assert r.status_code == 200
    assert "content-encoding" not in r.headers
    assert r.json()["concert_id"] == c["id"]
