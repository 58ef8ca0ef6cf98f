"""observe_request keeps its labelled children at hand; every observation still counts."""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from app.platform.metrics import observe_request


def test_repeated_observations_all_count() -> None:
    route = f"/test/{uuid.uuid4().hex}"
    for seconds in (0.001, 0.002, 0.5):
        observe_request("GET", route, 200, seconds)
    observe_request("GET", route, 404, 0.001)
    labels = {"method": "GET", "route": route, "status": "200"}
    assert REGISTRY.get_sample_value("http_requests_total", labels) == 3
    assert REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) == 3
    assert REGISTRY.get_sample_value("http_request_duration_seconds_sum", labels) == pytest.approx(
        0.503
    )
    assert REGISTRY.get_sample_value("http_requests_total", labels | {"status": "404"}) == 1
