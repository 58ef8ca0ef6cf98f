"""Scaling the API service out before a known on-sale: `python -m app capacity-plan`.

The concerts' `on_sale_at` are known days ahead, and an on-sale's crowd arrives within
minutes: faster than auto scaling on request count or CPU adds tasks. So the plan raises the
service's minimum task count to `peak` some minutes before each on-sale and lowers it back to
`baseline` some time after; on-sales whose windows overlap share one window. `--apply` writes
the plan as Application Auto Scaling scheduled actions on the ECS service (docs/operations.md,
"Scaling out before an on-sale").

Action names are `encore-<concert id>-out` and `-in`, after the window's first on-sale, so a
second run overwrites the same actions instead of adding copies, and the actions with the
prefix that are no longer in the plan (a concert cancelled, moved, merged into another's window)
are deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from app.platform.aws import aws_session, client_config
from app.storage.ports import Store
from app.storage.records import ConcertFilter

if TYPE_CHECKING:
    from types_aiobotocore_application_autoscaling import ApplicationAutoScalingClient

ACTION_PREFIX: Final = "encore-"
NAMESPACE: Final = "ecs"
DIMENSION: Final = "ecs:service:DesiredCount"
_PAGE = 100  # concerts read per store query


class CapacityPlanError(Exception):
    """What went wrong, in words for the person running the command."""


@dataclass(frozen=True, slots=True)
class OnSale:
    concert_id: str
    title: str
    on_sale_at: datetime


@dataclass(frozen=True, slots=True)
class Window:
    """Scaled out from `scale_out_at` to `scale_in_at` for these on-sales (earliest first)."""

    scale_out_at: datetime
    scale_in_at: datetime
    on_sales: tuple[OnSale, ...]

    @property
    def name(self) -> str:
        return f"{ACTION_PREFIX}{self.on_sales[0].concert_id}"


@dataclass(frozen=True, slots=True)
class Action:
    """One scheduled action. `max_capacity` None: the scalable target's maximum when applied
    (the out action never lowers it below `min_capacity`)."""

    name: str
    at: datetime
    min_capacity: int
    max_capacity: int | None
    concert_ids: tuple[str, ...]

    @property
    def schedule(self) -> str:
        """Application Auto Scaling's one-time schedule, in UTC."""
        return f"at({self.at.astimezone(UTC):%Y-%m-%dT%H:%M:%S})"


@dataclass(frozen=True, slots=True)
class PlanOptions:
    peak: int
    baseline: int
    max_capacity: int | None = None
    lead: timedelta = timedelta(minutes=15)
    hold: timedelta = timedelta(minutes=60)
    within: timedelta = timedelta(days=30)

    def problems(self) -> list[str]:
        out = []
        if self.peak < 1:
            out.append("--peak must be at least 1 task.")
        if self.baseline < 0:
            out.append("--baseline cannot be negative.")
        if self.baseline > self.peak:
            out.append("--baseline is above --peak: the plan would scale the service in.")
        if self.max_capacity is not None and self.max_capacity < self.peak:
            out.append("--max is below --peak: Application Auto Scaling would refuse the plan.")
        if self.lead < timedelta(0) or self.hold < timedelta(0) or self.within <= timedelta(0):
            out.append("--lead-minutes and --hold-minutes cannot be negative; --days must be > 0.")
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    generated_at: datetime
    options: PlanOptions
    windows: tuple[Window, ...]
    actions: tuple[Action, ...]


def merge_windows(on_sales: Iterable[OnSale], *, lead: timedelta, hold: timedelta) -> list[Window]:
    """One window per on-sale (`lead` before to `hold` after it), overlapping or touching
    windows merged; earliest first."""
    windows: list[Window] = []
    for sale in sorted(on_sales, key=lambda s: (s.on_sale_at, s.concert_id)):
        start = _to_second(sale.on_sale_at - lead)
        end = _to_second(sale.on_sale_at + hold)
        if windows and start <= windows[-1].scale_in_at:
            last = windows[-1]
            windows[-1] = Window(
                last.scale_out_at, max(last.scale_in_at, end), (*last.on_sales, sale)
            )
        else:
            windows.append(Window(start, end, (sale,)))
    return windows


def make_plan(on_sales: Iterable[OnSale], options: PlanOptions, now: datetime) -> Plan:
    """The windows of the on-sales opening within `options.within` from `now` (or whose window
    is still open), and the actions still ahead of `now`."""
    horizon = now + options.within
    relevant = [
        s for s in on_sales if s.on_sale_at <= horizon and s.on_sale_at + options.hold > now
    ]
    windows = merge_windows(relevant, lead=options.lead, hold=options.hold)
    actions: list[Action] = []
    for window in windows:
        ids = tuple(s.concert_id for s in window.on_sales)
        if window.scale_out_at > now:
            actions.append(
                Action(
                    f"{window.name}-out",
                    window.scale_out_at,
                    options.peak,
                    options.max_capacity,
                    ids,
                )
            )
        actions.append(
            Action(
                f"{window.name}-in", window.scale_in_at, options.baseline, options.max_capacity, ids
            )
        )
    return Plan(now, options, tuple(windows), tuple(actions))


async def upcoming_on_sales(store: Store, now: datetime, options: PlanOptions) -> list[OnSale]:
    """The concerts not cancelled whose on-sale opens by the horizon and whose window has not
    closed yet (the store filters by start date; on-sales come before the show)."""
    horizon = now + options.within
    found: list[OnSale] = []
    cursor: str | None = None
    while True:
        page = await store.concerts.search(ConcertFilter(date_from=now), _PAGE, cursor)
        for concert in page.items:
            if concert.cancelled_at is not None:
                continue
            if concert.on_sale_at <= horizon and concert.on_sale_at + options.hold > now:
                found.append(OnSale(concert.id, concert.title, concert.on_sale_at))
        cursor = page.next_cursor
        if cursor is None or not page.items:
            return found


# --------------------------------------------------------------------------- output


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def render_table(plan: Plan) -> str:
    o = plan.options
    days = o.within / timedelta(days=1)
    head = (
        f"Scale-out plan for on-sales in the next {days:g} days (times in UTC): {o.peak} tasks "
        f"from {_minutes(o.lead)} before each on-sale until {_minutes(o.hold)} after it, then "
        f"{o.baseline}."
    )
    if not plan.windows:
        return f"{head}\nNo on-sales in that time: nothing to schedule.\n"
    lines = [head, "", "Windows:"]
    for window in plan.windows:
        is_open = window.scale_out_at <= plan.generated_at
        lines.append(
            f"  {_utc(window.scale_out_at)} -> {_utc(window.scale_in_at)}"
            + (" (open now: only its scale-in is scheduled)" if is_open else "")
            + ": "
            + ", ".join(
                f"{s.title} ({s.concert_id}, on sale {_utc(s.on_sale_at)})" for s in window.on_sales
            )
        )
    rows = [("ACTION", "AT (UTC)", "MIN", "MAX")]
    for action in plan.actions:
        top = "target's" if action.max_capacity is None else str(action.max_capacity)
        rows.append((action.name, _utc(action.at), str(action.min_capacity), top))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["", "Scheduled actions:"]
    for row in rows:
        lines.append(
            "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines) + "\n"


def _minutes(span: timedelta) -> str:
    return f"{span / timedelta(minutes=1):g} min"


def plan_json(plan: Plan) -> dict[str, Any]:
    o = plan.options
    return {
        "generated_at": plan.generated_at.astimezone(UTC).isoformat(),
        "peak": o.peak,
        "baseline": o.baseline,
        "max_capacity": o.max_capacity,
        "lead_minutes": o.lead / timedelta(minutes=1),
        "hold_minutes": o.hold / timedelta(minutes=1),
        "days": o.within / timedelta(days=1),
        "windows": [
            {
                "scale_out_at": w.scale_out_at.astimezone(UTC).isoformat(),
                "scale_in_at": w.scale_in_at.astimezone(UTC).isoformat(),
                "concerts": [
                    {
                        "id": s.concert_id,
                        "title": s.title,
                        "on_sale_at": s.on_sale_at.astimezone(UTC).isoformat(),
                    }
                    for s in w.on_sales
                ],
            }
            for w in plan.windows
        ],
        "actions": [
            {
                "name": a.name,
                "schedule": a.schedule,
                "at": a.at.astimezone(UTC).isoformat(),
                "min_capacity": a.min_capacity,
                "max_capacity": a.max_capacity,
                "concert_ids": list(a.concert_ids),
            }
            for a in plan.actions
        ],
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_json(plan), indent=2) + "\n"


# --------------------------------------------------------------------------- applying


@dataclass(frozen=True, slots=True)
class Applied:
    resource_id: str
    put: tuple[str, ...]
    deleted: tuple[str, ...]


def resource_id(cluster: str, service: str) -> str:
    return f"service/{cluster}/{service}"


async def apply_plan(
    plan: Plan, *, cluster: str, service: str, region: str, endpoint: str | None = None
) -> Applied:
    """Put the plan's actions on the service's scalable target and delete this command's
    actions that are not in the plan; CapacityPlanError in plain words if that fails."""
    target = resource_id(cluster, service)
    session = aws_session(endpoint, region)
    where = endpoint or f"region {region}"
    try:
        async with session.client(
            "application-autoscaling", endpoint_url=endpoint, config=client_config()
        ) as client:
            return await _apply(client, plan, target, where)
    except NoCredentialsError as exc:
        raise CapacityPlanError(
            "No AWS credentials were found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run this where a role provides them."
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CapacityPlanError(
            f"Application Auto Scaling ({where}) refused: {error.get('Code', '')} "
            f"{error.get('Message', '')}".rstrip()
            + ". The role running this needs application-autoscaling:DescribeScalableTargets, "
            "DescribeScheduledActions, PutScheduledAction and DeleteScheduledAction."
        ) from exc
    except BotoCoreError as exc:
        raise CapacityPlanError(
            f"Could not reach Application Auto Scaling ({where}): {exc}. Check AWS_REGION, "
            "--endpoint-url and the network."
        ) from exc


async def _apply(
    client: ApplicationAutoScalingClient, plan: Plan, target: str, where: str
) -> Applied:
    registered = await client.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[target], ScalableDimension=DIMENSION
    )
    targets = registered["ScalableTargets"]
    if not targets:
        raise CapacityPlanError(
            f"The ECS service {target} has no scalable target in Application Auto Scaling "
            f"({where}): check --cluster and --service, and that the service's auto scaling "
            "is deployed (the stack registers it)."
        )
    current_max = targets[0]["MaxCapacity"]
    put: list[str] = []
    for action in plan.actions:
        top = current_max if action.max_capacity is None else action.max_capacity
        await client.put_scheduled_action(
            ServiceNamespace=NAMESPACE,
            ScheduledActionName=action.name,
            ResourceId=target,
            ScalableDimension=DIMENSION,
            Schedule=action.schedule,
            ScalableTargetAction={
                "MinCapacity": action.min_capacity,
                "MaxCapacity": max(top, action.min_capacity),
            },
        )
        put.append(action.name)
    wanted = {a.name for a in plan.actions}
    stale = [n for n in await _own_actions(client, target) if n not in wanted]
    for name in stale:
        await client.delete_scheduled_action(
            ServiceNamespace=NAMESPACE,
            ScheduledActionName=name,
            ResourceId=target,
            ScalableDimension=DIMENSION,
        )
    return Applied(target, tuple(put), tuple(stale))


async def _own_actions(client: ApplicationAutoScalingClient, target: str) -> list[str]:
    """The names of the target's scheduled actions that this command made (the prefix)."""
    names: list[str] = []
    token: str | None = None
    while True:
        if token is None:
            page = await client.describe_scheduled_actions(
                ServiceNamespace=NAMESPACE, ResourceId=target, ScalableDimension=DIMENSION
            )
        else:
            page = await client.describe_scheduled_actions(
                ServiceNamespace=NAMESPACE,
                ResourceId=target,
                ScalableDimension=DIMENSION,
                NextToken=token,
            )
        names += [
            a["ScheduledActionName"]
            for a in page["ScheduledActions"]
            if a["ScheduledActionName"].startswith(ACTION_PREFIX)
        ]
        token = page.get("NextToken")
        if not token:
            return names


def describe_applied(applied: Applied) -> str:
    lines = [f"Applied to {applied.resource_id}:"]
    lines += [f"  put     {name}" for name in applied.put] or ["  nothing to put"]
    lines += [f"  deleted {name} (no longer in the plan)" for name in applied.deleted]
    return "\n".join(lines) + "\n"


def _to_second(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(microsecond=0)
