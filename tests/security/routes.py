"""Every route of the app, enumerated from the app itself, and who may call it.

The security tests walk these lists, so a route added later is covered (or the tests say it
is not classified) without anyone remembering to write a test for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.principal import admin_user, current_user


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    dependant: Dependant

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def depends_on(self, call: Callable[..., Any]) -> bool:
        pending = [self.dependant]
        while pending:
            dependant = pending.pop()
            if dependant.call is call:
                return True
            pending.extend(dependant.dependencies)
        return False

    @property
    def admin_only(self) -> bool:
        return self.depends_on(admin_user)

    @property
    def needs_login(self) -> bool:
        return self.depends_on(current_user)


def api_routes(app: FastAPI) -> Iterator[Route]:
    """Every method of every API route (FastAPI routes: docs and static files excluded)."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        path = context.path or route.path
        for method in sorted(route.methods or ()):
            yield Route(method, path, route.dependant)


def concrete(path: str, **values: str) -> str:
    """`path` with its `{parameters}` filled in (`x` for any not given)."""
    out = path
    for name in [p.split("}")[0] for p in path.split("{")[1:]]:
        out = out.replace("{" + name + "}", values.get(name, "x"))
    return out
