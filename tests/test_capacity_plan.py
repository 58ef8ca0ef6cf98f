"""`python -m app capacity-plan`: the plan from the concerts' on-sales, its printing from a real
store (SQLite), and `--apply` against moto's Application Auto Scaling."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from app.storage.factory import build_store
from app.storage.records import Concert
from app.workers.capacity import OnSale, PlanOptions, make_plan, merge_windows
from tests.conftest import make_settings
from tests.servers.moto import DEFAULT_REGION, moto_server
from tests.storage.factories import make_concert

if TYPE_CHECKING:
    from types_aiobotocore_application_autoscaling import ApplicationAutoScalingClient

NOW = datetime(2031, 3, 1, 9, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def sale(concert_id: str, at: datetime) -> OnSale:
    return OnSale(concert_id, f"Show {concert_id}", at)


# --------------------------------------------------------------------------- the plan


def test_overlapping_and_touching_windows_merge_and_separate_ones_do_not() -> None:
    lead, hold = 15 * MIN, 60 * MIN
    windows = merge_windows(
        [
            sale("c", NOW + 5 * 60 * MIN),  # alone
            sale("b", NOW + 75 * MIN),  # opens exactly when a's window closes: touching
            sale("a", NOW),
            sale("d", NOW + 5 * 60 * MIN + 30 * MIN),  # inside c's window
        ],
        lead=lead,
        hold=hold,
    )
    assert [[s.concert_id for s in w.on_sales] for w in windows] == [["a", "b"], ["c", "d"]]
    first, second = windows
    assert (first.scale_out_at, first.scale_in_at) == (NOW - lead, NOW + 75 * MIN + hold)
    assert second.scale_out_at == NOW + 5 * 60 * MIN - lead
    assert second.scale_in_at == NOW + 5 * 60 * MIN + 30 * MIN + hold
    assert first.name == "encore-a"


def test_the_plan_has_an_out_and_an_in_action_per_window_named_after_its_first_on_sale() -> None:
    options = PlanOptions(peak=12, baseline=2, max_capacity=30)
    plan = make_plan(
        [sale("x", NOW + 2 * 60 * MIN), sale("y", NOW + 2 * 60 * MIN + 10 * MIN)], options, NOW
    )
    assert [(a.name, a.at, a.min_capacity, a.max_capacity) for a in plan.actions] == [
        ("encore-x-out", NOW + 105 * MIN, 12, 30),
        ("encore-x-in", NOW + 190 * MIN, 2, 30),
    ]
    assert plan.actions[0].schedule == "at(2031-03-01T10:45:00)"
    assert plan.actions[0].concert_ids == ("x", "y")


def test_the_plan_keeps_to_the_horizon_and_an_open_window_only_scales_in() -> None:
    options = PlanOptions(peak=5, baseline=1, within=timedelta(days=3))
    plan = make_plan(
        [
            sale("open", NOW - 10 * MIN),  # on sale since ten minutes: its window is open
            sale("closed", NOW - 2 * 60 * MIN),  # its window closed an hour ago
            sale("later", NOW + timedelta(days=2)),
            sale("too-far", NOW + timedelta(days=3, minutes=1)),
        ],
        options,
        NOW,
    )
    assert [a.name for a in plan.actions] == [
        "encore-open-in",
        "encore-later-out",
        "encore-later-in",
    ]
    assert plan.actions[0].at == NOW + 50 * MIN
    assert plan.actions[1].max_capacity is None  # the target's own, read when applying


def test_seconds_are_kept_and_microseconds_dropped_in_utc() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    at = datetime(2031, 3, 1, 12, 0, 30, 999_999, tzinfo=UTC).astimezone(berlin)
    plan = make_plan([sale("z", at)], PlanOptions(peak=3, baseline=1), NOW)
    assert [a.schedule for a in plan.actions] == [
        "at(2031-03-01T11:45:30)",
        "at(2031-03-01T13:00:30)",
    ]


def test_options_that_make_no_sense_are_explained() -> None:
    assert PlanOptions(peak=4, baseline=1).problems() == []
    assert "above --peak" in " ".join(PlanOptions(peak=2, baseline=3).problems())
    assert "below --peak" in " ".join(PlanOptions(peak=4, baseline=1, max_capacity=3).problems())
    assert "at least 1" in " ".join(PlanOptions(peak=0, baseline=0).problems())


# --------------------------------------------------------------------------- the command


async def run_cli(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environment = dict(os.environ, APP_ENV="test", **env)
    environment["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path}/plan.db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "capacity-plan",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def add_concerts(tmp_path: Path, *concerts: Concert) -> None:
    store = build_store(make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/plan.db"))
    try:
        await store.initialize()
        for concert in concerts:
            await store.concerts.add(concert)
    finally:
        await store.close()


async def cancel(tmp_path: Path, concert: Concert) -> None:
    store = build_store(make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/plan.db"))
    try:
        await store.initialize()
        stored = await store.concerts.get(concert.id)
        assert stored is not None
        await store.concerts.update(replace(stored, cancelled_at=datetime.now(UTC)), stored.version)
    finally:
        await store.close()


def on_sale_in(delta: timedelta, title: str, **fields: Any) -> Concert:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return make_concert(
        title=title,
        on_sale_at=now + delta,
        starts_at=now + delta + timedelta(days=20),
        **fields,
    )


@pytest.fixture
def concerts() -> dict[str, Concert]:
    return {
        "first": on_sale_in(timedelta(hours=2), "First Light"),
        "overlap": on_sale_in(timedelta(hours=2, minutes=30), "Second Wind"),
        "later": on_sale_in(timedelta(days=5), "Late Show"),
        "far": on_sale_in(timedelta(days=45), "Far Away"),
        "cancelled": on_sale_in(timedelta(days=1), "Called Off", cancelled_at=datetime.now(UTC)),
    }


async def test_the_command_prints_the_plan_from_the_store(
    tmp_path: Path, concerts: dict[str, Concert]
) -> None:
    code, out, err = await run_cli(tmp_path, "--peak", "8", "--baseline", "2")
    assert code == 0, err
    assert "No on-sales in that time" in out

    await add_concerts(tmp_path, *concerts.values())
    code, out, err = await run_cli(tmp_path, "--peak", "8", "--baseline", "2")
    assert code == 0, err
    first, later = concerts["first"].id, concerts["later"].id
    assert "8 tasks from 15 min before each on-sale until 60 min after it, then 2" in out
    assert f"First Light ({first}" in out
    assert "Second Wind" in out
    assert "Late Show" in out
    assert "Far Away" not in out  # beyond 30 days
    assert "Called Off" not in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("encore-")]
    assert [r[0] for r in rows] == [
        f"encore-{first}-out",
        f"encore-{first}-in",
        f"encore-{later}-out",
        f"encore-{later}-in",
    ]
    out_at = concerts["first"].on_sale_at - timedelta(minutes=15)
    assert rows[0][1:] == [
        out_at.strftime("%Y-%m-%d"),
        out_at.strftime("%H:%M:%S"),
        "8",
        "target's",
    ]

    code, out, err = await run_cli(
        tmp_path, "--peak", "8", "--baseline", "2", "--json", "--days", "60", "--max", "20"
    )
    assert code == 0, err
    plan = json.loads(out)
    scale_in = concerts["overlap"].on_sale_at + timedelta(hours=1)
    assert [[c["title"] for c in w["concerts"]] for w in plan["windows"]] == [
        ["First Light", "Second Wind"],
        ["Late Show"],
        ["Far Away"],
    ]
    assert plan["actions"][1] == {
        "name": f"encore-{first}-in",
        "schedule": f"at({scale_in:%Y-%m-%dT%H:%M:%S})",
        "at": scale_in.isoformat(),
        "min_capacity": 2,
        "max_capacity": 20,
        "concert_ids": [first, concerts["overlap"].id],
    }


async def test_the_command_explains_wrong_options(tmp_path: Path) -> None:
    code, _, err = await run_cli(tmp_path, "--peak", "2", "--baseline", "4", "--apply")
    assert code == 2
    assert "--baseline is above --peak" in err
    assert "--apply needs --cluster and --service" in err


# --------------------------------------------------------------------------- --apply


async def scheduled(client: ApplicationAutoScalingClient, target: str) -> dict[str, Any]:
    reply = await client.describe_scheduled_actions(
        ServiceNamespace="ecs", ResourceId=target, ScalableDimension="ecs:service:DesiredCount"
    )
    return {
        a["ScheduledActionName"]: (a["Schedule"], a.get("ScalableTargetAction"))
        for a in reply["ScheduledActions"]
    }


async def test_apply_writes_the_actions_idempotently_and_removes_its_stale_ones(
    tmp_path: Path, concerts: dict[str, Concert]
) -> None:
    from app.platform.aws import aws_session

    await add_concerts(tmp_path, *concerts.values())
    first, later = concerts["first"], concerts["later"]
    async with moto_server() as url:
        env = {"AWS_REGION": DEFAULT_REGION, "AWS_ACCESS_KEY_ID": "test"}
        env["AWS_SECRET_ACCESS_KEY"] = "test"
        apply = ("--peak", "8", "--baseline", "2", "--apply", "--endpoint-url", url)
        session = aws_session(url, DEFAULT_REGION)
        async with session.client("application-autoscaling", endpoint_url=url) as client:
            # No scalable target for the service yet: refused in plain words, nothing written.
            code, _, err = await run_cli(
                tmp_path, *apply, "--cluster", "encore", "--service", "api", **env
            )
            assert code == 1
            assert "has no scalable target" in err
            assert "--cluster and --service" in err

            # The ECS service (moto checks that a scalable target's service exists).
            async with session.client("ecs", endpoint_url=url) as ecs:
                await ecs.create_cluster(clusterName="encore")
                await ecs.create_service(cluster="encore", serviceName="api", desiredCount=2)
            target = "service/encore/api"
            await client.register_scalable_target(
                ServiceNamespace="ecs",
                ResourceId=target,
                ScalableDimension="ecs:service:DesiredCount",
                MinCapacity=2,
                MaxCapacity=20,
            )
            # Someone else's action on the same service: never touched.
            await client.put_scheduled_action(
                ServiceNamespace="ecs",
                ScheduledActionName="nightly-quiet",
                ResourceId=target,
                ScalableDimension="ecs:service:DesiredCount",
                Schedule="cron(0 3 * * ? *)",
                ScalableTargetAction={"MinCapacity": 1, "MaxCapacity": 20},
            )
            code, out, err = await run_cli(
                tmp_path, *apply, "--cluster", "encore", "--service", "api", **env
            )
            assert code == 0, err
            assert f"put     encore-{first.id}-out" in out
            actions = await scheduled(client, target)
            out_at = first.on_sale_at - timedelta(minutes=15)
            in_at = concerts["overlap"].on_sale_at + timedelta(hours=1)
            assert actions == {
                "nightly-quiet": ("cron(0 3 * * ? *)", {"MinCapacity": 1, "MaxCapacity": 20}),
                f"encore-{first.id}-out": (
                    f"at({out_at:%Y-%m-%dT%H:%M:%S})",
                    {"MinCapacity": 8, "MaxCapacity": 20},
                ),
                f"encore-{first.id}-in": (
                    f"at({in_at:%Y-%m-%dT%H:%M:%S})",
                    {"MinCapacity": 2, "MaxCapacity": 20},
                ),
                f"encore-{later.id}-out": (
                    f"at({later.on_sale_at - timedelta(minutes=15):%Y-%m-%dT%H:%M:%S})",
                    {"MinCapacity": 8, "MaxCapacity": 20},
                ),
                f"encore-{later.id}-in": (
                    f"at({later.on_sale_at + timedelta(hours=1):%Y-%m-%dT%H:%M:%S})",
                    {"MinCapacity": 2, "MaxCapacity": 20},
                ),
            }

            # Again: the same actions, overwritten, none added.
            code, _, err = await run_cli(
                tmp_path, *apply, "--cluster", "encore", "--service", "api", **env
            )
            assert code == 0, err
            assert await scheduled(client, target) == actions

            # The later concert is called off: its actions go, the others stay.
            await cancel(tmp_path, later)
            code, out, err = await run_cli(
                tmp_path, *apply, "--cluster", "encore", "--service", "api", **env
            )
            assert code == 0, err
            assert f"deleted encore-{later.id}-out (no longer in the plan)" in out
            remaining = await scheduled(client, target)
            assert set(remaining) == set(actions) - {
                f"encore-{later.id}-out",
                f"encore-{later.id}-in",
            }
