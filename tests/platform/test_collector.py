"""The collector's settings at the end of startup (app/platform/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.platform import collector
from tests.conftest import make_settings, running_app


@pytest.fixture(autouse=True)
def thresholds_restored() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_the_youngest_threshold_is_set_and_the_older_ratios_kept() -> None:
    gc.set_threshold(700, 10, 10)
    collector.settle_collector(50_000)
    assert gc.get_threshold() == (50_000, 10, 10)


def test_zero_keeps_cpythons_thresholds() -> None:
    gc.set_threshold(700, 10, 10)
    collector.settle_collector(0)
    assert gc.get_threshold() == (700, 10, 10)


def test_startup_objects_are_frozen_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def collect(*_: int) -> int:
        calls.append("collect")
        return 0

    monkeypatch.setattr(collector, "_FROZEN", False)
    monkeypatch.setattr(gc, "collect", collect)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    collector.settle_collector(1_000)
    collector.settle_collector(2_000)
    assert calls == ["collect", "freeze"]  # a second app in the process freezes nothing more
    assert gc.get_threshold()[0] == 2_000


async def test_the_app_settles_the_collector_at_startup(tmp_path: Path) -> None:
    gc.set_threshold(700, 10, 10)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'gc.db'}", gc_young_threshold=12_345)
    async with running_app(settings):
        assert gc.get_threshold() == (12_345, 10, 10)
    assert gc.get_freeze_count() > 0
