"""Prometheus metrics: request count and latency by route template and status."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

REQUESTS = Counter("http_requests_total", "HTTP requests served", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


_Children = tuple[Any, Any]
_CHILDREN: dict[tuple[str, str, int], _Children] = {}
_MAX_CHILDREN = 2_000  # method x route x status seen so far; past it, looked up every time


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    # The labelled children are kept at hand: `labels()` validates and locks on every call
    # (its cost per request: docs/performance.md, "Figures moved out of code comments").
    key = (method, route, status)
    children = _CHILDREN.get(key)
    if children is None:
        labels = (method, route, str(status))
        children = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
        if len(_CHILDREN) < _MAX_CHILDREN:
            _CHILDREN[key] = children
    children[0].inc()
    children[1].observe(seconds)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
