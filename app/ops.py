"""Operational endpoints (no /api/v1 prefix): liveness, readiness, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Literal, cast

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.deps import ContainerDep
from app.platform.metrics import metrics_endpoint

router = APIRouter(tags=["operations"])

CheckState = Literal["ok", "down"]
BreakerState = Literal["closed", "half-opened", "opened"]


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, CheckState] = Field(
        description="Each dependency the service cannot work without: redis, store."
    )
    breakers: dict[str, BreakerState] = Field(
        description="Circuit breaker per guarded dependency (store, payments): closed is normal, "
        "opened means calls are refused at once until the dependency has had time to recover."
    )


@router.get("/healthz", response_model=Liveness)
async def healthz() -> Liveness:
    """The process is up."""
    return Liveness()


async def _check(probe: Awaitable[object], seconds: float) -> CheckState:
    try:
        async with asyncio.timeout(seconds):
            await probe
    except Exception:
        return "down"
    return "ok"


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
async def readyz(c: ContainerDep) -> JSONResponse:
    """Ready when Redis and the store both answer (asked directly, not through their
    breakers); 503 names what is down. The breakers' states are reported alongside: an open
    payments breaker does not make the service unready (holds and seat maps still work)."""
    timeout = c.settings.redis_timeout_seconds
    redis_state, store_state = await asyncio.gather(
        _check(c.redis.ping(), timeout),
        _check(c.store.ping(), timeout),
    )
    checks: dict[str, CheckState] = {"redis": redis_state, "store": store_state}
    ready = all(v == "ok" for v in checks.values())
    breakers = cast(dict[str, BreakerState], c.breakers.states())
    body = Readiness(status="ready" if ready else "unavailable", checks=checks, breakers=breakers)
    headers = {} if ready else {"Retry-After": "5"}
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503, headers=headers)


router.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)
