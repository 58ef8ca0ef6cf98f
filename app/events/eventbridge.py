"""Forwarding the domain events to an Amazon EventBridge bus (EVENTBRIDGE_BUS_NAME).

A consumer group of its own (`eventbridge`) over the event stream, beside the other groups:
nothing on the request path waits for EventBridge, and while it is down or refuses entries they
only stay pending in the group, to be sent again (after repeated failures they are
dead-lettered as for any group: consumer.py). Delivery is at least once: an event may reach the
bus twice, with the same `id` in its detail, so rules' targets de-duplicate on it if they must.

The events of one read go out in PutEvents calls of at most ten entries and 256 KB each. The
entries EventBridge refuses (FailedEntryCount) are sent again, only those, with backoff; the
ones still refused after the attempts stay pending and the others are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from app.events.consumer import BatchFailed
from app.events.metrics import EVENTBRIDGE_FAILED, EVENTBRIDGE_FORWARDED, EVENTBRIDGE_RETRIED
from app.events.runner import consume
from app.events.schemas import DomainEvent
from app.platform.aws import aws_session, client_config
from app.settings import Settings

if TYPE_CHECKING:
    from types_aiobotocore_events import EventBridgeClient
    from types_aiobotocore_events.type_defs import PutEventsRequestEntryTypeDef

log = logging.getLogger(__name__)

GROUP = "eventbridge"
# PutEvents limits: entries per call, and bytes per call as EventBridge counts them (the sum
# of the entries' sizes, see `entry_size`).
MAX_ENTRIES = 10
MAX_REQUEST_BYTES = 256 * 1024
# What an entry's Time counts toward its size, whatever the time.
_TIME_BYTES = 14
# Why an entry was not forwarded, besides EventBridge's own error codes.
TOO_LARGE = "too_large"
REQUEST_FAILED = "request_failed"


def detail(event: DomainEvent) -> str:
    """The event's JSON as docs/events.md defines it: the envelope (`id`, the stream entry id;
    `v`; `type`; `occurred_at`; `concert_id`) and the type's own fields."""
    return event.model_dump_json()


def entry_of(event: DomainEvent, *, bus: str, source: str) -> PutEventsRequestEntryTypeDef:
    return {
        "Source": source,
        "DetailType": event.type,
        "Detail": detail(event),
        "Time": event.occurred_at,
        "EventBusName": bus,
        "Resources": [],
    }


def entry_size(entry: PutEventsRequestEntryTypeDef) -> int:
    """An entry's size as EventBridge counts it against the request limit."""
    size = _TIME_BYTES if "Time" in entry else 0
    for text in (entry.get("Source", ""), entry.get("DetailType", ""), entry.get("Detail", "")):
        size += len(text.encode())
    return size + sum(len(r.encode()) for r in entry.get("Resources", ()))


@dataclass(frozen=True, slots=True)
class _Entry:
    event: DomainEvent
    request: PutEventsRequestEntryTypeDef
    size: int

    @property
    def id(self) -> str:
        return self.event.id or ""


def batches(entries: Sequence[_Entry]) -> list[list[_Entry]]:
    """The entries in order, cut into calls of at most MAX_ENTRIES and MAX_REQUEST_BYTES (each
    entry must fit alone)."""
    out: list[list[_Entry]] = []
    current: list[_Entry] = []
    size = 0
    for entry in entries:
        if current and (len(current) == MAX_ENTRIES or size + entry.size > MAX_REQUEST_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.size
    if current:
        out.append(current)
    return out


class EventBridgeForwarder:
    """The `eventbridge` group's batch handler: puts a read's events on the bus."""

    def __init__(
        self,
        client: EventBridgeClient,
        *,
        bus: str,
        source: str,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self._client = client
        self._bus = bus
        self._source = source
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds

    async def __call__(self, events: Sequence[DomainEvent]) -> None:
        """Forward the events; BatchFailed naming those that were not (they stay pending)."""
        failed: dict[str, str] = {}  # event id -> why
        sendable: list[_Entry] = []
        for event in events:
            request = entry_of(event, bus=self._bus, source=self._source)
            entry = _Entry(event, request, entry_size(request))
            if entry.size > MAX_REQUEST_BYTES:
                failed[entry.id] = TOO_LARGE
                log.error(
                    "event too large for EventBridge: it stays pending and goes to the dead "
                    "letters after repeated attempts",
                    extra={"entry_id": entry.id, "type": event.type, "bytes": entry.size},
                )
            else:
                sendable.append(entry)
        calls = batches(sendable)
        results = await asyncio.gather(*(self._send(c) for c in calls), return_exceptions=True)
        for call, result in zip(calls, results, strict=True):
            if isinstance(result, Exception):
                log.warning(
                    "EventBridge PutEvents failed: the events stay pending and are sent again "
                    "(check EVENTBRIDGE_BUS_NAME, EVENTBRIDGE_ENDPOINT, AWS_REGION and the "
                    "task's permission events:PutEvents)",
                    extra={"bus": self._bus, "entries": len(call)},
                    exc_info=result,
                )
                failed.update((entry.id, REQUEST_FAILED) for entry in call)
            elif isinstance(result, BaseException):
                raise result  # cancelled: not a failure of the events
            else:
                failed.update(result)
        for entry in sendable:
            if entry.id not in failed:
                EVENTBRIDGE_FORWARDED.labels(entry.event.type).inc()
        for event in events:
            reason = failed.get(event.id or "")
            if reason is not None:
                EVENTBRIDGE_FAILED.labels(event.type, reason).inc()
        if failed:
            raise BatchFailed(
                failed, f"not forwarded to EventBridge: {sorted(set(failed.values()))}"
            )

    async def _send(self, call: list[_Entry]) -> dict[str, str]:
        """Put the entries, then again those EventBridge refused, up to `attempts` times; the
        ones still refused (event id -> error code)."""
        remaining = call
        refused: dict[str, str] = {}

        async def attempt() -> bool:
            nonlocal remaining, refused
            if refused:
                for reason in refused.values():
                    EVENTBRIDGE_RETRIED.labels(reason).inc()
            remaining, refused = await self._put(remaining)
            return bool(remaining)  # True: try again

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._backoff, max=self._max_backoff),
            retry=retry_if_result(bool),
            retry_error_callback=_give_up,
            reraise=True,
        )
        await retrying(attempt)
        return refused

    async def _put(self, entries: list[_Entry]) -> tuple[list[_Entry], dict[str, str]]:
        """One PutEvents call; the entries refused and why."""
        response = await self._client.put_events(Entries=[e.request for e in entries])
        if response["FailedEntryCount"] == 0:
            return [], {}
        still: list[_Entry] = []
        refused: dict[str, str] = {}
        # The result entries are in the order of the request's.
        for entry, result in zip(entries, response["Entries"], strict=True):
            code = result.get("ErrorCode")
            if code:
                still.append(entry)
                refused[entry.id] = code
                log.warning(
                    "EventBridge refused an event",
                    extra={
                        "entry_id": entry.id,
                        "type": entry.event.type,
                        "code": code,
                        "why": result.get("ErrorMessage", ""),
                    },
                )
        return still, refused


def _give_up(_: RetryCallState) -> bool:
    """After the last attempt: stop retrying (what is still refused is reported as such)."""
    return True


async def run_eventbridge_forwarder(settings: Settings) -> None:
    """The background job: forward until cancelled (nothing to do without a bus)."""
    bus = settings.eventbridge_bus_name
    if not bus:
        return
    endpoint = settings.eventbridge_endpoint
    session = aws_session(endpoint, settings.aws_region)
    async with session.client("events", endpoint_url=endpoint, config=client_config()) as client:
        forwarder = EventBridgeForwarder(client, bus=bus, source=settings.eventbridge_source)
        log.info("forwarding domain events to EventBridge", extra={"bus": bus})
        await consume(settings, GROUP, batch_handler=forwarder)
