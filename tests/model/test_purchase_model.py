"""A model of the purchase flow, checked against the real app step by step.

Hypothesis drives three buyers through one small concert (10 seats, 4 per buyer) with every
move the outside world can make: hold seats (chosen or best available), release, check out,
pay or fail to pay, Stripe's webhook deliveries arriving late, twice or out of order, a hold
lapsing, payment windows ending (the expiry job), Redis losing everything (FLUSHDB, then the
rebuild from the store), cancelling, and refunds at the provider. The app is the real one: its
lifespan, real Redis (its own database), a real SQLite store, the simulated payment provider,
webhooks signed with the webhook secret. Background jobs are off, so the test decides when time
passes: a hold lapses by moving its expiry into the past in Redis and running the sweeper; the
payment window ends by running the order-expiry job with its clock moved past every window.

A plain-Python model predicts every answer (201 or which 409, which order status) and after
every step these invariants are checked against the store, Redis and the API:
- no seat is sold twice, and the store's sales are exactly the model's;
- sold + held + available = capacity in the seat map, and the map (A/H/S per seat) is exactly
  what the store's sales and the live holds imply;
- no live hold covers a sold seat (a hold is a promise: these seats are yours to buy);
- every payment the provider took maps to exactly one confirmed order or exactly one refund;
  a confirmed order was paid and not refunded; a refunded order was refunded once;
- each buyer's held + bought seats, as Redis counts them, are what the model says, and never
  more than the cap;
- each buyer owns at most the cap, counting seats held, in orders waiting for payment and sold,
  as the store, Redis and the API show them (issue 16: a checked-out hold given back, or left to
  lapse, let a buyer pay for more). The one exception the model allows is an order whose hold
  the test made lapse by stalling the expiry job past its grace (`a_hold_lapses` on a
  checked-out hold): its payment is then refunded if it would pass the cap;
- each buyer's orders and tickets through the API are the model's.

Budget: MODEL_EXAMPLES (runs) and MODEL_STEPS (steps per run); small by default so
`make test` stays fast, `make fuzz` raises them.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from unittest import mock

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import app.checkout.service as checkout_service
from app.container import Container
from app.main import create_app
from app.payments.errors import PaymentIntentNotConfirmable
from app.payments.signature import sign
from app.payments.simulated import SimulatedGateway
from app.seats.engine import concert_keys
from tests.conftest import TEST_REDIS_URL, make_settings
from tests.fuzz.target import MODEL_REDIS_DB, redis_url_with_db
from tests.helpers import concert_body, lapse_hold, seat_ids

EXAMPLES = int(os.environ.get("MODEL_EXAMPLES", "10"))
STEPS = int(os.environ.get("MODEL_STEPS", "25"))
API = "/api/v1"
CAP = 4
BUYERS = 3
T = TypeVar("T")


@dataclass
class Harness:
    """One app for every run (each run has its own concert and buyers)."""

    app: FastAPI
    portal: BlockingPortal
    client: httpx.AsyncClient
    own_redis_db: bool  # FLUSHDB is allowed (a database of our own)

    @property
    def container(self) -> Container:
        container: Container = self.app.state.container
        return container

    @property
    def gateway(self) -> SimulatedGateway:
        inner = self.container.gateway.inner
        assert isinstance(inner, SimulatedGateway)
        return inner

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self.portal.call(fn, *args)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(lambda: self.client.request(method, url, **kwargs))


HARNESS: Harness | None = None


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    global HARNESS
    redis_url = redis_url_with_db(MODEL_REDIS_DB)
    app_settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('model')}/model.db",
        redis_url=redis_url or TEST_REDIS_URL,
        sweeper_in_process=False,  # the test decides when time passes
    )
    app = create_app(app_settings)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://model")
        HARNESS = Harness(app, portal, client, own_redis_db=redis_url is not None)
        try:
            yield HARNESS
        finally:
            HARNESS = None
            portal.call(client.aclose)


@dataclass
class Hold:
    id: str
    buyer: int
    seats: list[str]
    order: str | None = None
    # Seats it counts against the cap when not its seats: an order's hold rebuilt after Redis
    # lost its state, with some of the order's seats gone, still counts the whole order.
    n: int | None = None

    @property
    def counted(self) -> int:
        return len(self.seats) if self.n is None else self.n


@dataclass
class Order:
    id: str
    buyer: int
    hold: str
    seats: list[str]
    intent: str
    created_at: str
    status: str = "pending_payment"
    # Its hold lapsed while it waited for payment (the expiry job stalled past the grace):
    # its seats no longer count against the cap, and a payment that would pass it is refunded.
    unguarded: bool = False


@dataclass
class Observed:
    sold: dict[str, str]
    seat_map: dict[str, Any]
    counted: dict[str, int]
    holds: dict[str, tuple[str, int]]  # hold id -> (user id, seats it counts), from Redis
    intents: dict[str, str]  # order id -> the provider's status of its payment intent
    refunded: dict[str, bool]
    orders: list[dict[str, str]]  # per buyer: order id -> status, through the API
    tickets: list[list[str]]  # per buyer: seat ids of their tickets, through the API


@dataclass
class Model:
    """What the service should look like, from the outside."""

    seats: list[str]
    holds: dict[str, Hold] = field(default_factory=dict)  # every hold ever made
    live: dict[str, Hold] = field(default_factory=dict)  # holds live in Redis
    orders: dict[str, Order] = field(default_factory=dict)
    sold: dict[str, str] = field(default_factory=dict)  # seat -> order (the store's sales)
    processed_events: set[str] = field(default_factory=set)

    def status(self, seat: str) -> str:
        if seat in self.sold:
            return "S"
        return "H" if any(seat in h.seats for h in self.live.values()) else "A"

    def count(self, buyer: int) -> int:
        """Seats the buyer holds or bought, as the per-buyer cap counts them."""
        held = sum(h.counted for h in self.live.values() if h.buyer == buyer)
        bought = sum(
            len(o.seats)
            for o in self.orders.values()
            if o.buyer == buyer and o.status == "confirmed"
        )
        return held + bought

    def by_intent(self, intent: str) -> Order:
        return next(o for o in self.orders.values() if o.intent == intent)


class PurchaseFlow(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        assert HARNESS is not None
        self.h = HARNESS
        self.buyers: list[dict[str, str]] = []
        self.buyer_ids: list[str] = []
        self.outbox: list[bytes] = []  # events the provider sent that have not arrived yet
        self.delivered: list[bytes] = []
        self.concert_id = ""
        self.model = Model(seats=[])

    # --- setup -------------------------------------------------------------------------

    @initialize()
    def open_the_sale(self) -> None:
        tokens = self.h.container.tokens
        admin = {"Authorization": f"Bearer {tokens.issue('access', 'model-admin', 'admin').token}"}
        r = self.h.request(
            "POST", f"{API}/concerts", json=concert_body(max_tickets_per_user=CAP), headers=admin
        )
        assert r.status_code == 201, r.text
        concert = r.json()
        self.concert_id = concert["id"]
        seats = seat_ids(concert)
        self.model = Model(seats=seats)
        for n in range(BUYERS):
            buyer_id = f"model-{uuid.uuid4().hex[:10]}-{n}"
            token = tokens.issue("access", buyer_id, "user").token
            self.buyer_ids.append(buyer_id)
            self.buyers.append({"Authorization": f"Bearer {token}"})

    # --- buyers ----------------------------------------------------------------------------

    @rule(
        buyer=st.integers(0, BUYERS - 1),
        picks=st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
    )
    def hold_seats(self, buyer: int, picks: list[int]) -> None:
        m = self.model
        seats = [m.seats[i] for i in picks]
        r = self._hold(buyer, {"seat_ids": seats})
        taken = [s for s in seats if m.status(s) != "A"]
        if taken:
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "SeatsUnavailable"
            assert r.json()["unavailable"] == taken
        elif m.count(buyer) + len(seats) > CAP:
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "HoldLimitExceeded"
        else:
            assert r.status_code == 201, r.text
            self._record_hold(r.json(), buyer, seats)

    @rule(buyer=st.integers(0, BUYERS - 1), quantity=st.integers(1, 3))
    def hold_best_available(self, buyer: int, quantity: int) -> None:
        m = self.model
        r = self._hold(buyer, {"quantity": quantity})
        free = [s for s in m.seats if m.status(s) == "A"]
        if m.count(buyer) + quantity > CAP:
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "HoldLimitExceeded"
        elif len(free) < quantity:
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "SeatsUnavailable"
        else:
            assert r.status_code == 201, r.text
            seats = r.json()["seat_ids"]
            assert len(seats) == quantity
            assert set(seats) <= set(free), (seats, free)
            self._record_hold(r.json(), buyer, seats)

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data(), owner=st.booleans())
    def release(self, data: st.DataObject, owner: bool) -> None:
        hold = data.draw(st.sampled_from(list(self.model.holds.values())))
        who = hold.buyer if owner else (hold.buyer + 1) % BUYERS
        r = self.h.request("DELETE", f"{API}/holds/{hold.id}", headers=self.buyers[who])
        live = self.model.live.get(hold.id)
        if owner and live is not None and (live.order or hold.order) is not None:
            # A checked-out hold is its order's until the order ends: given back alone, it let
            # a buyer hold again and pay for both (issue 16).
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "HoldCheckedOut"
            assert r.json()["order_id"] == (live.order or hold.order)
        elif owner and live is not None:
            assert r.status_code == 204, r.text
            del self.model.live[hold.id]
        else:
            assert r.status_code == 404, r.text
            assert r.json()["error"] == "HoldNotFound"

    @precondition(lambda self: self.model.holds)
    @rule(data=st.data(), owner=st.booleans())
    def checkout(self, data: st.DataObject, owner: bool) -> None:
        m = self.model
        hold = data.draw(st.sampled_from(list(m.holds.values())))
        who = hold.buyer if owner else (hold.buyer + 1) % BUYERS
        r = self.h.request(
            "POST", f"{API}/checkout", json={"hold_id": hold.id}, headers=self.buyers[who]
        )
        if not owner:
            assert r.status_code == 404, r.text
            return
        if hold.order is not None:
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["order"]["id"] == hold.order
            assert body["order"]["status"] == m.orders[hold.order].status
            return
        if hold.id not in m.live:
            assert r.status_code == 404, r.text
            assert r.json()["error"] == "HoldNotFound"
            return
        assert r.status_code == 201, r.text
        body = r.json()
        order = Order(
            id=body["order"]["id"],
            buyer=hold.buyer,
            hold=hold.id,
            seats=body["order"]["seat_ids"],
            intent=body["payment"]["payment_intent_id"],
            created_at=body["order"]["created_at"],
        )
        assert body["order"]["status"] == "pending_payment"
        assert order.seats == m.live[hold.id].seats
        hold.order = order.id
        m.orders[order.id] = order

    @precondition(lambda self: self._orders())
    @rule(data=st.data(), outcome=st.sampled_from(["succeeded", "failed"]), now=st.booleans())
    def pay(self, data: st.DataObject, outcome: str, now: bool) -> None:
        """The buyer pays at the provider. `now`: through the simulated provider's endpoint,
        which delivers the event at once; else the event waits in the outbox (a slow webhook)."""
        order = data.draw(st.sampled_from(self._orders()))
        canceled = self._intent(order.intent).status == "canceled"
        if now:
            r = self.h.request(
                "POST",
                f"{API}/payments/simulated/{order.intent}/confirm",
                json={"outcome": outcome},
                headers=self.buyers[order.buyer],
            )
            if canceled:
                assert r.status_code == 409, r.text
                return
            assert r.status_code == 200, r.text
            event = self._event_sent_for(order, outcome, r.json()["event_id"])
            self._apply(event)
            return
        try:
            event = self.h.call(self.h.gateway.confirm, order.intent, outcome)
        except PaymentIntentNotConfirmable:
            assert canceled
            return
        self.outbox.append(json.dumps(event).encode())

    @precondition(lambda self: self.outbox)
    @rule(data=st.data())
    def webhook_arrives(self, data: st.DataObject) -> None:
        """Any waiting event, not necessarily the oldest: deliveries are reordered."""
        payload = self.outbox.pop(data.draw(st.integers(0, len(self.outbox) - 1)))
        self._deliver(payload)

    @precondition(lambda self: self.delivered)
    @rule(data=st.data(), new_id=st.booleans())
    def webhook_arrives_again(self, data: st.DataObject, new_id: bool) -> None:
        """A duplicate: the same event again, or (new_id) the same news under another id."""
        payload = data.draw(st.sampled_from(self.delivered))
        if new_id:
            event = json.loads(payload)
            event["id"] = f"evt_model_{uuid.uuid4().hex}"
            payload = json.dumps(event).encode()
        self._deliver(payload)

    @precondition(lambda self: self._orders())
    @rule(data=st.data(), owner=st.booleans())
    def cancel(self, data: st.DataObject, owner: bool) -> None:
        order = data.draw(st.sampled_from(self._orders()))
        who = order.buyer if owner else (order.buyer + 1) % BUYERS
        intent_before = self._intent(order.intent).status
        r = self.h.request("POST", f"{API}/orders/{order.id}/cancel", headers=self.buyers[who])
        if not owner:
            assert r.status_code == 404, r.text
            return
        if order.status != "pending_payment":
            assert r.status_code == 409, r.text
            return
        if intent_before == "succeeded":
            # Paid a moment ago, the event still on its way: the payment is applied instead.
            assert r.status_code == 409, r.text
            self._payment_succeeded(order)
            return
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        self._give_back(order, "cancelled")

    @precondition(lambda self: self._refundable())
    @rule(data=st.data())
    def refund_at_the_provider(self, data: st.DataObject) -> None:
        """Support refunds a confirmed order in the provider's dashboard; Stripe then sends
        `charge.refunded` (into the outbox: it may arrive late, twice, or out of order)."""
        order = data.draw(st.sampled_from(self._refundable()))
        self.h.call(lambda: self.h.gateway.refund(order.intent, idempotency_key="support"))
        charge = {
            "id": f"ch_{uuid.uuid4().hex[:12]}",
            "object": "charge",
            "payment_intent": order.intent,
            "refunded": True,
        }
        self.outbox.append(_event("charge.refunded", charge))

    # --- time and failures -------------------------------------------------------------------

    @precondition(lambda self: self.model.live)
    @rule(data=st.data())
    def a_hold_lapses(self, data: st.DataObject) -> None:
        """A hold's time runs out. A checked-out hold lives a grace period past its payment
        window, so for one this means the expiry job stalled longer than that: its order stays
        waiting for a payment that may still come (then refunded if the seats are gone or
        the buyer has taken others up to the cap meanwhile)."""
        hold = data.draw(st.sampled_from(list(self.model.live.values())))
        if hold.order is not None:
            self.model.orders[hold.order].unguarded = True
        self.h.call(lapse_hold, self.h.container, self.concert_id, hold.id)
        del self.model.live[hold.id]

    @rule()
    def payment_windows_end(self) -> None:
        """The order-expiry job, with its clock past every payment window."""
        pending = sorted(self._orders("pending_payment"), key=lambda o: (o.created_at, o.id))
        paid = {o.id for o in pending if self._intent(o.intent).status == "succeeded"}
        self._run_expiry_job()
        for order in pending:
            if order.id in paid:
                self._payment_succeeded(order)  # the provider said "already paid"
            else:
                self._give_back(order, "expired")

    @rule()
    def redis_loses_everything(self) -> None:
        """FLUSHDB (of this test's own database; else only this concert's keys), then the
        rebuild from the store on next use. The payment provider's state is not ours to lose:
        the simulated provider keeps it in Redis, so it is put back, as Stripe would still
        have it."""
        redis = self.h.container.redis
        if self.h.own_redis_db:

            async def flush() -> None:
                saved = {}
                async for key in redis.scan_iter(match="sim:*"):
                    saved[key] = (await redis.dump(key), await redis.pttl(key))
                await redis.flushdb()
                for key, (blob, ttl) in saved.items():
                    if blob is not None:
                        await redis.restore(key, max(ttl, 0), blob, replace=True)

            self.h.call(flush)
        else:
            self.h.call(self.h.container.engine.reset, self.concert_id)
        m = self.model
        m.live.clear()
        # What the rebuild makes of it: orders still waiting for payment hold their seats again
        # (those not sold to someone else), first order first, each counting in full against
        # its buyer's cap; one that would pass the cap is not held.
        pending = sorted(self._orders("pending_payment"), key=lambda o: (o.created_at, o.id))
        for order in pending:
            if m.count(order.buyer) + len(order.seats) > CAP:
                order.unguarded = True
                continue
            seats = [s for s in order.seats if m.status(s) == "A"]
            m.live[order.hold] = Hold(
                order.hold, order.buyer, seats, order=order.id, n=len(order.seats)
            )
            order.unguarded = False

    # --- invariants ---------------------------------------------------------------------------

    @invariant()
    def the_promises_hold(self) -> None:
        if not self.concert_id:
            return
        seen = self.h.call(self._observe)
        self._no_seat_sold_twice(seen)
        self._the_seat_map_is_what_sales_and_holds_imply(seen)
        self._no_live_hold_covers_a_sold_seat()
        self._every_payment_is_one_booking_or_one_refund(seen)
        self._buyers_stay_within_the_cap(seen)
        self._buyers_own_at_most_the_cap(seen)
        self._buyers_see_their_orders_and_tickets(seen)

    async def _observe(self) -> Observed:
        """Everything the invariants look at, read in one go."""
        c = self.h.container
        gateway = self.h.gateway
        base = self.h.client.get
        sold, seat_map = await asyncio.gather(
            c.store.sales.sold_seats(self.concert_id),
            base(f"{API}/concerts/{self.concert_id}/seats"),
        )
        # After the seat map: a flushed concert has been rebuilt by then.
        counted = await c.redis.hgetall(concert_keys(self.concert_id)[3])
        raw_holds = await c.redis.hgetall(concert_keys(self.concert_id)[1])
        intents = await asyncio.gather(
            *(gateway.retrieve_intent(o.intent) for o in self.model.orders.values())
        )
        refunds = await asyncio.gather(
            *(gateway.refund_status(o.intent) for o in self.model.orders.values())
        )
        orders = await asyncio.gather(
            *(base(f"{API}/me/orders", headers=who) for who in self.buyers)
        )
        tickets = await asyncio.gather(
            *(base(f"{API}/me/tickets", headers=who) for who in self.buyers)
        )
        for r in (seat_map, *orders, *tickets):
            assert r.status_code == 200, r.text
        return Observed(
            sold=sold,
            seat_map=seat_map.json(),
            counted={_text(k): int(v) for k, v in counted.items()},
            holds={_text(k): _counted(json.loads(v)) for k, v in raw_holds.items()},
            intents={
                o.id: i.status for o, i in zip(self.model.orders.values(), intents, strict=True)
            },
            refunded={
                o.id: r == "succeeded"
                for o, r in zip(self.model.orders.values(), refunds, strict=True)
            },
            orders=[{o["id"]: o["status"] for o in r.json()["items"]} for r in orders],
            tickets=[sorted(t["seat_id"] for t in r.json()["items"]) for r in tickets],
        )

    def _no_seat_sold_twice(self, seen: Observed) -> None:
        m = self.model
        assert seen.sold == m.sold, f"the store's sales {seen.sold} are not the model's {m.sold}"
        confirmed = [o for o in m.orders.values() if o.status == "confirmed"]
        claimed = [s for o in confirmed for s in o.seats]
        assert len(claimed) == len(set(claimed)), "a seat is in two confirmed orders"
        assert {s: seen.sold.get(s) for s in claimed} == {
            s: o.id for o in confirmed for s in o.seats
        }, "a confirmed order's seat is not sold to it"

    def _the_seat_map_is_what_sales_and_holds_imply(self, seen: Observed) -> None:
        m = self.model
        body = seen.seat_map
        statuses = "".join(row["status"] for sec in body["sections"] for row in sec["rows"])
        expected = "".join(m.status(s) for s in m.seats)
        assert statuses == expected, f"seat map {statuses}, model {expected}"
        counts = body["counts"]
        assert counts == {k: statuses.count(c) for k, c in _COUNTS.items()}
        assert sum(counts.values()) == len(m.seats), "sold + held + available != capacity"

    def _no_live_hold_covers_a_sold_seat(self) -> None:
        for hold in self.model.live.values():
            sold = [s for s in hold.seats if s in self.model.sold]
            assert not sold, f"hold {hold.id} of buyer {hold.buyer} covers sold seats {sold}"

    def _every_payment_is_one_booking_or_one_refund(self, seen: Observed) -> None:
        in_flight = {_intent_of(p) for p in self.outbox}
        for order in self.model.orders.values():
            paid = seen.intents[order.id] == "succeeded"
            refunded = seen.refunded[order.id]
            waiting = order.intent in in_flight  # the provider has news on its way
            if order.status == "confirmed":
                assert paid, order
                assert not refunded or waiting, order  # a refund's news may be on its way
            if order.status == "refunded":
                assert paid, order
                assert refunded, order
            if seen.intents[order.id] == "canceled":
                assert order.status in ("cancelled", "expired", "failed"), order
            if paid and not waiting:
                # Paid, and nothing more on its way: settled, one booking or one refund.
                assert (order.status, refunded) in (("confirmed", False), ("refunded", True)), (
                    order,
                    refunded,
                )

    def _buyers_stay_within_the_cap(self, seen: Observed) -> None:
        for n, buyer_id in enumerate(self.buyer_ids):
            have = seen.counted.get(buyer_id, 0)
            assert have == self.model.count(n), (f"buyer {n}", have, self.model.count(n))
            assert have <= CAP, f"buyer {n} has {have} seats, over the cap"

    def _buyers_own_at_most_the_cap(self, seen: Observed) -> None:
        """Held + waiting for payment + sold, from what the system shows: the holds in Redis,
        the orders through the API, the sales in the store."""
        m = self.model
        hold_order = {o.hold: o.id for o in m.orders.values()}
        for n, buyer_id in enumerate(self.buyer_ids):
            held = {h: c for h, (u, c) in seen.holds.items() if u == buyer_id}
            pending = [
                m.orders[o]
                for o, status in seen.orders[n].items()
                if status == "pending_payment" and m.orders[o].hold not in held
            ]
            sold = sum(1 for order_id in seen.sold.values() if m.orders[order_id].buyer == n)
            for order in pending:
                assert order.unguarded, f"buyer {n}'s order {order.id} waits without its hold"
            owned = sum(held.values()) + sold
            owned += sum(len(o.seats) for o in pending if not o.unguarded)
            assert owned <= CAP, f"buyer {n} owns {owned} seats, over the cap"
            waiting = [h for h in held if h in hold_order]
            for hold_id in waiting:
                status = seen.orders[n].get(hold_order[hold_id])
                assert status == "pending_payment", (hold_id, status)

    def _buyers_see_their_orders_and_tickets(self, seen: Observed) -> None:
        for n in range(BUYERS):
            mine = {o.id: o.status for o in self.model.orders.values() if o.buyer == n}
            assert seen.orders[n] == mine, f"buyer {n}'s orders"
            seats = sorted(
                s
                for o in self.model.orders.values()
                if o.buyer == n and o.status == "confirmed"
                for s in o.seats
            )
            assert seen.tickets[n] == seats, f"buyer {n}'s tickets"

    def teardown(self) -> None:
        # Orders left waiting would pile up in the expiry job's batches of later runs.
        if self.concert_id:
            self._run_expiry_job()

    # --- the model's side of each event -----------------------------------------------------------

    def _hold(self, buyer: int, body: dict[str, Any]) -> httpx.Response:
        url = f"{API}/concerts/{self.concert_id}/holds"
        return self.h.request("POST", url, json=body, headers=self.buyers[buyer])

    def _record_hold(self, body: dict[str, Any], buyer: int, seats: list[str]) -> None:
        assert body["seat_ids"] == seats
        hold = Hold(body["id"], buyer, seats)
        self.model.holds[hold.id] = hold
        self.model.live[hold.id] = hold

    def _deliver(self, payload: bytes) -> None:
        secret = self.h.container.settings.webhook_secret
        headers = {"Stripe-Signature": sign(payload, secret), "Content-Type": "application/json"}
        r = self.h.request("POST", f"{API}/webhooks/stripe", content=payload, headers=headers)
        assert r.status_code == 200, r.text
        self.delivered.append(payload)
        self._apply(json.loads(payload))

    def _apply(self, event: dict[str, Any]) -> None:
        """What the webhook should do with an event (a duplicate id does nothing)."""
        m = self.model
        if event["id"] in m.processed_events:
            return
        m.processed_events.add(event["id"])
        obj = event["data"]["object"]
        kind = event["type"]
        if kind == "charge.refunded":
            order = m.by_intent(obj["payment_intent"])
            if order.status == "confirmed":
                order.status = "refunded"
                for seat in order.seats:
                    del m.sold[seat]
            return
        order = m.by_intent(obj["id"])
        if kind == "payment_intent.succeeded":
            self._payment_succeeded(order)
        elif kind == "payment_intent.payment_failed" and order.status == "pending_payment":
            if self._intent(order.intent).status == "succeeded":
                self._payment_succeeded(order)  # a later attempt went through
            else:
                self._give_back(order, "failed")

    def _payment_succeeded(self, order: Order) -> None:
        m = self.model
        if order.status in ("confirmed", "refunded"):
            return
        own = m.live.get(order.hold)
        if own is None or set(own.seats) != set(order.seats):
            # Its hold lapsed (or was rebuilt without some seats): the seats are held again,
            # all or nothing, within the cap, or the payment is refunded, once.
            others = {s for h in m.live.values() if h.id != order.hold for s in h.seats}
            already = m.count(order.buyer) - (own.counted if own is not None else 0)
            taken = any(s in m.sold or s in others for s in order.seats)
            if taken or already + len(order.seats) > CAP:
                order.status = "refunded"
                m.live.pop(order.hold, None)
                return
        for seat in order.seats:
            m.sold[seat] = order.id
        order.status = "confirmed"
        m.live.pop(order.hold, None)  # the hold became a sale

    def _give_back(self, order: Order, status: str) -> None:
        """The order ends unpaid; its intent is cancelled and Stripe says so (an event that may
        arrive late or twice: it must change nothing)."""
        order.status = status
        self.model.live.pop(order.hold, None)
        canceled = {
            "id": order.intent,
            "object": "payment_intent",
            "status": "canceled",
            "metadata": {"order_id": order.id},
        }
        self.outbox.append(_event("payment_intent.canceled", canceled))

    def _run_expiry_job(self) -> None:
        """The order-expiry job with its clock past every payment window, until it has
        nothing left (it works in batches)."""
        later = timedelta(seconds=self.h.container.settings.payment_window_seconds + 60)

        class _Later(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) + later

        with mock.patch.object(checkout_service, "datetime", _Later):
            while self.h.call(self.h.container.checkout.expire_due) > 0:
                pass

    def _event_sent_for(self, order: Order, outcome: str, event_id: str) -> dict[str, Any]:
        kind = (
            "payment_intent.succeeded"
            if outcome == "succeeded"
            else "payment_intent.payment_failed"
        )
        obj = {"id": order.intent, "object": "payment_intent", "metadata": {"order_id": order.id}}
        event = {"id": event_id, "object": "event", "type": kind, "data": {"object": obj}}
        self.delivered.append(json.dumps(event).encode())
        return event

    def _intent(self, intent_id: str) -> Any:
        return self.h.call(self.h.gateway.retrieve_intent, intent_id)

    def _orders(self, status: str | None = None) -> list[Order]:
        # In creation order, not by (random) id: Hypothesis must draw the same one on a replay.
        return [o for o in self.model.orders.values() if status is None or o.status == status]

    def _refundable(self) -> list[Order]:
        return [
            o
            for o in self._orders("confirmed")
            if self.h.call(self.h.gateway.refund_status, o.intent) is None
        ]


_COUNTS = {"available": "A", "held": "H", "sold": "S"}


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    event = {
        "id": f"evt_model_{uuid.uuid4().hex}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
    }
    return json.dumps(event).encode()


def _counted(hold: dict[str, Any]) -> tuple[str, int]:
    seats = hold["s"] if isinstance(hold["s"], list) else []  # cjson writes [] as {}
    return str(hold["u"]), int(hold.get("n", len(seats)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _intent_of(payload: bytes) -> str:
    obj = json.loads(payload)["data"]["object"]
    return str(obj.get("payment_intent") or obj["id"])


# Generous: a failure is shrunk step by step against the real app, which takes minutes.
@pytest.mark.timeout(max(900, EXAMPLES * STEPS * 2))
def test_the_purchase_flow_keeps_its_promises(harness: Harness) -> None:
    PurchaseFlow.TestCase.settings = settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    PurchaseFlow.TestCase().runTest()
