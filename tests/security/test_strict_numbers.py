"""Every integer field of every request body is strict: `"2"`, `true` and `2.0` are 422 in the
contract's shape, not quietly read as 2 (pydantic's lax mode took `"quantity": "2"` and
`"quantity": true` as numbers).

The fields are found by walking the app's routes to their body models, and those models'
fields and nested models, so an integer field added later is checked without anyone listing
it here.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from app.main import create_app
from tests.conftest import make_settings
from tests.helpers import CONCERTS, buyer, concert_body, create_concert
from tests.security.routes import api_routes

NOT_INTEGERS: list[tuple[str, Any]] = [("a string", "2"), ("a boolean", True), ("a float", 2.0)]
NOT_INTEGERS_JSON = ['"2"', "true", "2.0"]


def _types_in(annotation: Any) -> Iterator[Any]:
    """Every type an annotation may hold (through Optional, unions, lists, Annotated)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _types_in(get_args(annotation)[0])
    elif origin in (Union, types.UnionType, list, tuple, set, frozenset, dict):
        for arg in get_args(annotation):
            if arg is not Ellipsis:
                yield from _types_in(arg)
    else:
        yield annotation


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if model in seen:
        return
    seen.add(model)
    yield model
    for field in model.model_fields.values():
        for kind in _types_in(field.annotation):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                yield from _models(kind, seen)


def integer_fields() -> list[tuple[str, FieldInfo]]:
    """(`Model.field`, its FieldInfo) for every integer field of every request body."""
    app = create_app(make_settings())
    seen: set[type[BaseModel]] = set()
    found: dict[str, FieldInfo] = {}
    for route in api_routes(app):
        for param in route.dependant.body_params:
            for kind in _types_in(param.field_info.annotation):
                if not (isinstance(kind, type) and issubclass(kind, BaseModel)):
                    continue
                for model in _models(kind, seen):
                    for name, field in model.model_fields.items():
                        kinds = list(_types_in(field.annotation))
                        if int in kinds:  # bool is its own type here, not int
                            found[f"{model.__name__}.{name}"] = field
    return sorted(found.items())


INTEGER_FIELDS = integer_fields()


def test_the_walk_finds_the_integer_fields_we_know() -> None:
    names = {name for name, _ in INTEGER_FIELDS}
    assert {
        "HoldCreate.quantity",
        "SectionCreate.price_cents",
        "SectionCreate.rows",
        "SectionCreate.seats_per_row",
        "ConcertCreate.max_tickets_per_user",
        "ConcertPatch.max_tickets_per_user",
        "QueueConfig.admit_per_minute",
        "QueueConfig.max_active",
    } <= names


@pytest.mark.parametrize(("name", "field"), INTEGER_FIELDS, ids=[n for n, _ in INTEGER_FIELDS])
def test_every_integer_field_of_a_request_body_is_strict(name: str, field: FieldInfo) -> None:
    # The field with its constraints, but for its bounds: the probe (2) is about strictness, and
    # some fields start higher (QueueConfig.challenge_difficulty: at least 1,000).
    bounds = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
    kept = [m for m in field.metadata if not isinstance(m, bounds)]
    annotation: Any = Annotated[field.annotation, *kept] if kept else field.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    assert adapter.validate_python(2) == 2  # the probe itself works
    for _what, value in NOT_INTEGERS:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
    for text in NOT_INTEGERS_JSON:  # the hold fast path parses JSON itself
        with pytest.raises(ValidationError):
            adapter.validate_json(text)


def assert_422_on(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "ValidationError"
    assert any(f["field"].endswith(field) for f in body["fields"]), body


@pytest.mark.parametrize(("what", "value"), NOT_INTEGERS, ids=[w for w, _ in NOT_INTEGERS])
async def test_a_hold_quantity_that_is_not_an_integer_is_422(
    client: httpx.AsyncClient,
    app: FastAPI,
    admin_headers: dict[str, str],
    what: str,
    value: Any,
) -> None:
    c = await create_concert(client, admin_headers)
    me = buyer(app)
    r = await client.post(f"{CONCERTS}/{c['id']}/holds", json={"quantity": value}, headers=me)
    assert_422_on(r, "quantity")
    seats = (await client.get(f"{CONCERTS}/{c['id']}/seats")).json()
    assert seats["counts"]["held"] == 0


@pytest.mark.parametrize(("what", "value"), NOT_INTEGERS, ids=[w for w, _ in NOT_INTEGERS])
async def test_concert_numbers_that_are_not_integers_are_422(
    client: httpx.AsyncClient, admin_headers: dict[str, str], what: str, value: Any
) -> None:
    section = {"name": "Floor", "price_cents": 5000, "rows": value, "seats_per_row": 3}
    r = await client.post(CONCERTS, json=concert_body(sections=[section]), headers=admin_headers)
    assert_422_on(r, "rows")
    r = await client.post(
        CONCERTS, json=concert_body(max_tickets_per_user=value), headers=admin_headers
    )
    assert_422_on(r, "max_tickets_per_user")
    c = await create_concert(client, admin_headers)
    r = await client.patch(
        f"{CONCERTS}/{c['id']}", json={"queue": {"max_active": value}}, headers=admin_headers
    )
    assert_422_on(r, "max_active")
