"""Bad input gets a 4xx in the contract's shape, never a 500, and writes nothing."""

from __future__ import annotations

import httpx

from tests.conftest import unique_email


async def test_nul_characters_in_bodies_are_refused(client: httpx.AsyncClient) -> None:
    email = unique_email()
    r = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": "longenough", "name": "a\x00b"}
    )
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "name"
    # Nothing half-written: the email is still free.
    ok = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": "longenough", "name": "ab"}
    )
    assert ok.status_code == 201


async def test_nul_characters_in_queries_and_paths_are_not_server_errors(
    client: httpx.AsyncClient,
) -> None:
    for r in [
        await client.get("/api/v1/concerts", params={"q": "a\x00b", "city": "x\x00"}),
        await client.get("/api/v1/concerts/a%00b"),
        await client.post("/api/v1/auth/token", data={"username": "a\x00@x.com", "password": "p"}),
    ]:
        assert r.status_code < 500, r.text
        assert r.status_code in (200, 401, 404, 422)


async def test_wrong_types_and_content_types(client: httpx.AsyncClient) -> None:
    as_form = await client.post("/api/v1/auth/login", data={"email": "a", "password": "b"})
    assert as_form.status_code == 422
    wrong_type = await client.post("/api/v1/auth/login", json={"email": 5, "password": ["x"]})
    assert wrong_type.status_code == 422
    assert {f["field"] for f in wrong_type.json()["fields"]} == {"email", "password"}
    not_object = await client.post("/api/v1/auth/login", json=[1, 2])
    assert not_object.status_code == 422
