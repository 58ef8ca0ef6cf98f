"""The stacks, synthesized once for every test (offline: no account, no look-ups)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

INFRA = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(INFRA))

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

# infra/app.py, under a name of its own (`app` is the service's package).
_spec = importlib.util.spec_from_file_location("encore_infra_app", INFRA / "app.py")
assert _spec is not None
assert _spec.loader is not None
infra_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(infra_app)


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    built: tuple[Any, Any] = infra_app.build(app)
    return built


@pytest.fixture(scope="session")
def main_stack(stacks: tuple[Any, Any]) -> Any:
    return stacks[1]


@pytest.fixture(scope="session")
def template(main_stack: Any) -> Template:
    return Template.from_stack(main_stack)


@pytest.fixture(scope="session")
def waf_template(stacks: tuple[Any, Any]) -> Template:
    return Template.from_stack(stacks[0])


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    found = template.find_resources(kind)
    return {name: dict(resource) for name, resource in found.items()}


def only(template: Template, kind: str) -> dict[str, Any]:
    found = list(resources(template, kind).values())
    assert len(found) == 1, f"{len(found)} resources of type {kind}"
    return found[0]
