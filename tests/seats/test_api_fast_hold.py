"""The hold route's fast path (app/seats/fast_hold.py) answers exactly as FastAPI's own path.

Every case runs twice, each time on a fresh concert in the same state: once as the app serves
it, once with the fast path switched off (every request through FastAPI's handler). The
answers must be the same, once the ids and times that differ by nature are masked; and the
fast path must have been the one answering the plain requests.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.seats import fast_hold
from app.seats.fast_hold import FastHoldRoute
from tests.helpers import CONCERTS, buyer, create_concert

Case = Callable[[httpx.AsyncClient, FastAPI, str], Awaitable[list[httpx.Response]]]

_VARYING = re.compile(  # concert and hold ids, then times
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:\.[\w-]+)?"
    r"|\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)"
)


def _masked(r: httpx.Response) -> tuple[int, str, str | None, str | None]:
    return (
        r.status_code,
        _VARYING.sub("<v>", r.text),
        r.headers.get("content-type"),
        r.headers.get("idempotent-replayed"),
    )


def _holds(concert_id: str) -> str:
    return f"{CONCERTS}/{concert_id}/holds"


async def plain_seats(c: httpx.AsyncClient, app: FastAPI, cid: str) -> list[httpx.Response]:
    return [await c.post(_holds(cid), json={"seat_ids": ["floor-A-1"]}, headers=buyer(app))]


async def best_quantity(c: httpx.AsyncClient, app: FastAPI, cid: str) -> list[httpx.Response]:
    return [await c.post(_holds(cid), json={"quantity": 2}, headers=buyer(app))]


async def best_in_section(c: httpx.AsyncClient, app: FastAPI, cid: str) -> list[httpx.Response]:
    body = {"quantity": 2, "section_id": "balcony"}
    return [await c.post(_holds(cid), json=body, headers=buyer(app))]


async def domain_errors(c: httpx.AsyncClient, app: FastAPI, cid: str) -> list[httpx.Response]:
    me, other = buyer(app), buyer(app)
    return [
        await c.post(_holds(cid), json={"seat_ids": ["nope-1"]}, headers=me),  # UnknownSeats
        await c.post(_holds(cid), json={"seat_ids": ["floor-A-2"]}, headers=me),
        await c.post(_holds(cid), json={"seat_ids": ["floor-A-2"]}, headers=other),  # taken
        await c.post(_holds(cid), json={"quantity": 8}, headers=me),  # over the cap
        await c.post(_holds("no-such-concert"), json={"quantity": 1}, headers=me),
    ]


async def idempotent(c: httpx.AsyncClient, app: FastAPI, cid: str) -> list[httpx.Response]:
    me = buyer(app) | {"Idempotency-Key": str(uuid.uuid4())}
    first = await c.post(_holds(cid), json={"seat_ids": ["floor-B-1"]}, headers=me)
    again = await c.post(_holds(cid), json={"seat_ids": ["floor-B-1"]}, headers=me)
    other_body = await c.post(_holds(cid), json={"seat_ids": ["floor-B-2"]}, headers=me)
    return [first, again, other_body]


async def refused_by_fastapi(c: httpx.AsyncClient, app: FastAPI, cid: str) -> list[httpx.Response]:
    me = buyer(app)
    url = _holds(cid)
    return [
        await c.post(url, json={"seat_ids": ["floor-A-1"]}),  # no token
        await c.post(url, json={"quantity": 1}, headers={"Authorization": "Bearer forged"}),
        await c.post(url, json={"quantity": 1}, headers={"Authorization": "Basic abc"}),
        await c.post(url, json={}, headers=me),
        await c.post(url, json={"quantity": 1, "role": "admin"}, headers=me),
        await c.post(url, json={"seat_ids": ["a", "a"]}, headers=me),
        await c.post(url, json={"quantity": "many"}, headers=me),
        await c.post(url, content=b"{not json", headers=me | {"Content-Type": "application/json"}),
        await c.post(url, content=b"", headers=me | {"Content-Type": "application/json"}),
        await c.post(url, content=b'{"quantity": 1}', headers=me | {"Content-Type": "text/plain"}),
        await c.post(url, json={"quantity": 1}, headers=me | {"Idempotency-Key": "k" * 256}),
        await c.post(url, json={"quantity": 1}, headers=me | {"X-Queue-Pass": "p" * 2049}),
    ]


CASES: dict[str, tuple[Case, int]] = {  # the case, how many answers the fast path must give
    "plain_seats": (plain_seats, 1),
    "best_quantity": (best_quantity, 1),
    "best_in_section": (best_in_section, 1),
    "domain_errors": (domain_errors, 5),
    "idempotent": (idempotent, 3),
    "refused_by_fastapi": (refused_by_fastapi, 0),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_the_fast_path_answers_as_fastapi_does(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    case, fast_answers = CASES[name]
    sections = [
        {"name": "Floor", "price_cents": 5000, "rows": 2, "seats_per_row": 3},
        {"name": "Balcony", "price_cents": 3000, "rows": 1, "seats_per_row": 4},
    ]
    fast_concert = await create_concert(client, admin_headers, sections=sections)
    before = FastHoldRoute.fast_calls
    fast = await case(client, app, fast_concert["id"])
    assert FastHoldRoute.fast_calls - before == fast_answers

    async def never(request: Any) -> None:
        return None

    monkeypatch.setattr(fast_hold, "_plain_arguments", never)
    slow_concert = await create_concert(client, admin_headers, sections=sections)
    slow = await case(client, app, slow_concert["id"])
    assert FastHoldRoute.fast_calls - before == fast_answers  # all through FastAPI this time
    assert [_masked(r) for r in fast] == [_masked(r) for r in slow]


def test_a_parameter_added_to_the_endpoint_fails_until_the_fast_path_builds_it() -> None:
    """The fast path builds the endpoint's arguments itself: a new parameter (with a default,
    say) must not be silently defaulted on it. Building the route refuses the mismatch."""
    from fastapi import APIRouter

    from app.seats.router import create_hold

    async def with_one_more(
        concert_id: str, body: Any, request: Any, user: Any, seats: Any, idempotency: Any,
        idem_key: str | None = None, queue_pass: str | None = None, extra: int = 0,
    ) -> Any:  # fmt: skip
        return await create_hold(
            concert_id, body, request, user, seats, idempotency, idem_key, queue_pass
        )

    router = APIRouter()
    with pytest.raises(TypeError, match="build the new arguments"):
        router.add_api_route("/x/{concert_id}", with_one_more, route_class_override=FastHoldRoute)
    assert frozenset(inspect.signature(create_hold).parameters) == fast_hold.ARGUMENTS
