"""Schemathesis against the service's own /openapi.json, in process (ASGI, lifespan running).

Every check Schemathesis has (no 5xx, response bodies and headers match the schema, only
documented status codes and content types, schema-valid input accepted and invalid input
refused, missing required headers, unsupported methods and `Allow`, auth not ignored, deleted
resources gone, created resources reachable) over every operation, then the stateful phase:
scenarios that follow the OpenAPI links (signup/login -> token -> /auth/me, /me/orders;
concert -> holds; hold -> checkout; checkout -> order, cancel, pay). What is configured away
as not a bug is in schemathesis.toml, each with its reason.

Budget: FUZZ_MAX_EXAMPLES (per operation), FUZZ_STATEFUL_EXAMPLES (scenarios) and
FUZZ_STATEFUL_STEPS (steps per scenario); small by default so `make test` stays fast,
`make fuzz` raises them.
"""

from __future__ import annotations

import os
import tomllib
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import hypothesis
import pytest
import schemathesis
from schemathesis import Case
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema

from app.checkout.webhook import WEBHOOK_PATH
from app.main import create_app
from tests.conftest import make_settings
from tests.fuzz.target import SCHEMATHESIS_REDIS_DB, SIGN_ME, SignWebhooks, redis_url_with_db
from tests.helpers import concert_body

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "6"))
STATEFUL_EXAMPLES = int(os.environ.get("FUZZ_STATEFUL_EXAMPLES", "15"))
STATEFUL_STEPS = int(os.environ.get("FUZZ_STATEFUL_STEPS", "8"))
CONFIG = Path(__file__).with_name("schemathesis.toml")
ApiCase = Case[Any]
HOLDS_OPERATION = "/api/v1/concerts/{concert_id}/holds"
_FILTERS = ("date_from", "date_to", "cursor")


@dataclass
class Target:
    """The app under test, its schema, the identities requests are sent as, and concerts on
    sale now for the generators to aim at."""

    schema: OpenApiSchema
    admin: dict[str, str]
    on_sale: list[str]
    tokens: Any

    def fresh_identity(self) -> dict[str, str]:
        """A new principal with the organiser role (every route is open to it) and no history:
        per-buyer caps start at zero for each stateful scenario."""
        token = self.tokens.issue("access", f"fuzz-{uuid.uuid4().hex[:12]}", "admin").token
        return {"Authorization": f"Bearer {token}"}


def _config() -> schemathesis.Config:
    data: dict[str, Any] = tomllib.loads(CONFIG.read_text())
    data.setdefault("generation", {})["max-examples"] = MAX_EXAMPLES
    data["generation"]["database"] = "none"  # no .hypothesis/ directory in the repository
    stateful = data.setdefault("phases", {}).setdefault("stateful", {})
    stateful["max-steps"] = max(2, STATEFUL_STEPS)
    return schemathesis.Config.from_dict(data, base_dir=str(CONFIG.parent))


def filter_failure(
    context: schemathesis.HookContext, failure: Any, case: ApiCase, response: schemathesis.Response
) -> bool:
    """Keep every failure but one: "schema-valid text refused" when the text is only
    whitespace. Request bodies strip surrounding whitespace before checking lengths (app/
    schemas.py, RequestBody), so `" "` for a `minLength: 1` name is refused as empty, on
    purpose; JSON Schema can't say "after stripping" (a `pattern` would not match Python's
    idea of whitespace exactly)."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    try:
        errors = response.json().get("fields") or []
    except ValueError:
        return True
    blank = [
        e.get("type") == "string_too_short" and _is_blank(case.body, str(e.get("field", "")))
        for e in errors
    ]
    return not (blank and all(blank))


def _is_blank(body: Any, dotted: str) -> bool:
    value = body
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return isinstance(value, str) and not value.strip()


def _coin(case: ApiCase) -> bool:
    """Heads for about half of the cases, decided by what was generated (reproducible)."""
    drawn = repr((case.path_parameters, case.query, case.body)).encode()
    return zlib.crc32(drawn) % 2 == 0


def _steer(case: ApiCase, on_sale: list[str]) -> None:
    """Nudge half of the valid cases towards the paths random values rarely reach: a concert
    on sale now (a random id is always a 404; random dates are rarely "on sale now"), a hold of
    a few seats (a random quantity is mostly over the per-buyer cap), a concert listing
    without filters (random dates and cursors are mostly refused). The stateful phase then goes
    on from those to holds, checkout, orders and payment. Invalid cases are left as they are."""
    if case.meta is None or not case.meta.generation.mode.is_positive or not _coin(case):
        return
    label = case.operation.label
    if "{concert_id}" in case.operation.path and case.path_parameters is not None:
        index = zlib.crc32(repr(case.path_parameters).encode()) % len(on_sale)
        case.path_parameters = {**case.path_parameters, "concert_id": on_sale[index]}
    if label == f"POST {HOLDS_OPERATION}":
        case.body = {"quantity": 1 + zlib.crc32(repr(case.body).encode()) % 4}
    elif label == "POST /api/v1/concerts":
        case.body = concert_body(max_tickets_per_user=8)
    elif label == "GET /api/v1/concerts" and case.query:
        case.query = {k: v for k, v in case.query.items() if k not in _FILTERS}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    redis_url = redis_url_with_db(SCHEMATHESIS_REDIS_DB)
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz')}/fuzz.db",
        # Its own database when the server has one; else the shared one (nothing is flushed).
        **({"redis_url": redis_url} if redis_url else {}),
        sweeper_in_process=False,
        events_enabled=False,
    )
    app = create_app(settings)
    wrapped = SignWebhooks(app, settings.webhook_secret)
    schema = schemathesis.openapi.from_asgi("/openapi.json", wrapped, config=_config())
    schema.hook(filter_failure)
    container = app.state.container  # the lifespan has run: loading the schema started it
    admin_token = container.tokens.issue("access", "fuzz-admin", "admin").token
    admin = {"Authorization": f"Bearer {admin_token}"}
    on_sale = []
    # The wrapper is the app Schemathesis started (its lifespan runs once, keyed by the object).
    # Big enough not to sell out under the budget of `make fuzz`.
    big = concert_body(
        max_tickets_per_user=100,
        sections=[{"name": "Floor", "price_cents": 5000, "rows": 20, "seats_per_row": 50}],
    )
    with asgi.get_client(cast(Any, wrapped)) as client:
        for _ in range(3):
            r = client.post("/api/v1/concerts", json=big, headers=admin)
            assert r.status_code == 201, r.text
            on_sale.append(r.json()["id"])
    try:
        yield Target(schema=schema, admin=admin, on_sale=on_sale, tokens=container.tokens)
    finally:
        asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def api_schema(target: Target) -> OpenApiSchema:
    return target.schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # Schemathesis 4.32's lazy loader renames the running test through `node._nodeid`, which
    # pytest 9 no longer has; give it one to write to.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def _prepare(case: ApiCase, target: Target, identity: dict[str, str]) -> dict[str, str]:
    """Steer the case, sign half of the webhook events, and answer the headers to send: the
    identity's, unless the case brings its own (a link from signup or login passes the new
    account's token)."""
    _steer(case, target.on_sale)
    headers = case.headers
    sent = headers.get("Stripe-Signature") if headers is not None else None
    # Half of them, decided by the generated value: signed events reach the handlers, the rest
    # exercise the signature check itself (so does a missing header).
    if case.operation.path == WEBHOOK_PATH and isinstance(sent, str) and len(sent) % 2 == 0:
        assert headers is not None
        headers["Stripe-Signature"] = SIGN_ME
    if headers is not None and "Authorization" in headers:  # case-insensitive
        return {}
    return identity


@schema.parametrize()
def test_every_operation(case: ApiCase, target: Target) -> None:
    case.call_and_validate(headers=_prepare(case, target, target.admin))


def test_stateful_scenarios(api_schema: OpenApiSchema, target: Target) -> None:
    failures: list[str] = []
    base = api_schema.as_state_machine()

    class Scenarios(base):  # type: ignore[valid-type, misc]
        def setup(self) -> None:
            self.identity = target.fresh_identity()

        def get_call_kwargs(self, case: ApiCase) -> dict[str, Any]:
            headers = _prepare(case, target, self.identity)
            return {"headers": headers} if headers else {}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: ApiCase,
            additional_checks: list[schemathesis.CheckFunction] | None = None,
            **kwargs: Any,
        ) -> None:
            # Recorded rather than raised, as Schemathesis' own engine does: Hypothesis would
            # replay the failing scenario, and a replay against a server whose state has moved
            # on diverges (FlakyStrategyDefinition), hiding the failure it was meant to show.
            try:
                super().validate_response(response, case, additional_checks, **kwargs)
            except FailureGroup as exc:
                failures.append(f"{case.as_curl_command()}\n{exc}")

    settings = hypothesis.settings(
        max_examples=STATEFUL_EXAMPLES,
        stateful_step_count=STATEFUL_STEPS,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    for _ in range(3):
        try:
            Scenarios.run(settings=settings)
            break
        except (hypothesis.errors.Flaky, AssertionError):
            # A precondition that depends on server state (e.g. a bundle of orders) differed
            # from an earlier run of the same prefix: start a fresh search, as the engine does.
            continue
    assert not failures, "\n\n".join(failures[:5])
