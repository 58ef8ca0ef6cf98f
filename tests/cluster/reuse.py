"""Run another suite's tests again, here, where `redis`, `app` and the store overrides point
at the Redis Cluster (tests/cluster/conftest.py).

pytest collects every `test_*` function in a module's namespace, wherever it was defined, and
resolves its fixtures from the collecting module's directory: a suite borrowed here runs
unchanged against the cluster. Fixtures the suite defines in its own module (or its
directory's conftest) are copied by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType


def borrowed(
    module: ModuleType,
    *,
    only: Iterable[str] | None = None,
    skip: Iterable[str] = (),
    fixtures: Iterable[str] = (),
) -> dict[str, object]:
    """The module's tests (`only` these, or all but `skip`) plus the named fixtures. Every name
    must exist, so a renamed test fails loudly here instead of silently not running."""
    names = vars(module)
    picked = None if only is None else set(only)
    wanted = set(skip) | set(fixtures) | (picked or set())
    missing = wanted - set(names)
    assert not missing, f"{module.__name__} has no {sorted(missing)}"
    chosen = {
        n: f
        for n, f in names.items()
        if n.startswith("test_")
        and callable(f)
        and n not in set(skip)
        and (picked is None or n in picked)
    }
    chosen.update({n: names[n] for n in fixtures})
    return chosen


def install(namespace: dict[str, object], *suites: dict[str, object]) -> None:
    """Put the suites' tests into a test module's namespace; two suites must not share a name."""
    for suite in suites:
        clash = set(suite) & set(namespace)
        assert not clash, f"two suites define {sorted(clash)}"
        namespace.update(suite)
