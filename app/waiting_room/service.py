"""The virtual waiting room: fair admission to a hot on-sale.

- Everyone who joins before `on_sale_at` gets a random place (drawn on join, see lua/_lib.lua),
  so arriving early before the sale gives no advantage and bots gain nothing by hammering the
  join button at the right millisecond; later arrivals queue first come, first served.
- An admission step (the `admission` job, in the worker or in-process) lets people in at
  `admit_per_minute`, never with more than `max_active` live passes, atomically in Redis, so any
  number of replicas running it never over-admit.
- Admitted buyers get a signed pass (passes.py) that holds and checkout require while the queue
  is on. A pass is valid only while its holder is an active shopper: it stops when it expires
  or the buyer's order is confirmed (the slot is freed for the next in line). A pass issued
  before Redis lost the queue's state is restored, not refused (see lua/check.lua).
- The queue survives Redis losing its state: a join that finds no state registers the queue
  again, and the admission job also finds queued concerts from the store (admission.py).
- Status tells clients when to poll again, so the load of N waiting buyers stays under a
  budget (QUEUE_POLL_BUDGET_PER_SECOND) however many they are.
"""

from __future__ import annotations

import logging
import math
import random
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge

from app.storage.ports import OrderRepository
from app.storage.records import Concert, OrderStatus
from app.waiting_room.challenge import Challenges
from app.waiting_room.engine import Admission, PassCheck, Position, QueueEngine
from app.waiting_room.errors import (
    QueueNotEnabled,
    QueueNotJoined,
    QueueNotOpen,
    QueuePassRequired,
)
from app.waiting_room.lottery import WAITLIST_BASE, LotteryService
from app.waiting_room.passes import EXPIRED, InvalidPass, PassClaims, PassSigner
from app.waiting_room.schemas import QueueStatus

log = logging.getLogger(__name__)

QUEUE_DEPTH = Gauge(
    "queue_depth", "Buyers waiting in a concert's queue", ["concert_id"], multiprocess_mode="max"
)
QUEUE_ACTIVE = Gauge(
    "queue_active_shoppers",
    "Admitted buyers with a live pass",
    ["concert_id"],
    multiprocess_mode="max",
)
QUEUE_ADMITTED = Counter("queue_admitted_total", "Buyers admitted from the queue", ["concert_id"])
PASS_REJECTED = Counter(
    "queue_pass_rejected_total",
    "Holds or checkouts refused for want of a valid pass, by reason: missing, expired, invalid, "
    "another_concert, another_account, slot_freed, not_active",
    ["reason"],
)
PASS_RESTORED = Counter(
    "queue_pass_restored_total",
    "Passes issued before Redis lost a queue's state whose holders were admitted again",
    ["concert_id"],
)
SLOT_FREED = (
    "this pass has been used: an order was confirmed with it, which freed its slot for the "
    "next buyer in line; join the queue again to buy more"
)
NOT_ACTIVE = (
    "this pass's slot is not active any more: it was used or freed; join the queue again to "
    "buy more"
)

MIN_POLL_SECONDS = 2
MAX_POLL_SECONDS = 30
# Orders of a buyer read to decide whether a pass from a lost queue state was used (newest
# first): far more than anyone orders within one pass lifetime.
USED_PASS_LOOKBACK = 200
# An order that reached these freed the slot of the pass it was made with.
_SLOT_FREEING = frozenset({OrderStatus.CONFIRMED, OrderStatus.REFUNDED})


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def crowd_load(depth: int, per_second: float) -> float:
    """Status calls per second of `depth` waiting clients that each poll every quarter of
    their ETA (at least every MIN_POLL_SECONDS): the one at place i polls 4 * rate / i times a
    second, so together about 4 * rate * (ln(depth) + 1.6), the front ones the most."""
    if depth <= 0:
        return 0.0
    return 4 * per_second * (math.log(depth) + 1.6)


def longest_poll(depth: int, budget_per_second: float) -> float:
    """The longest advice: MAX_POLL_SECONDS, unless the crowd is so large that polling that
    often would take more than half the budget by itself."""
    return max(MAX_POLL_SECONDS, 2 * depth / budget_per_second)


def _spread(seconds: float, longest: float, jitter: float | None) -> int:
    spread = random.uniform(0.8, 1.2) if jitter is None else jitter  # noqa: S311 (not a secret)
    return max(MIN_POLL_SECONDS, round(min(longest, seconds) * spread))


def presale_poll_after(
    until_sale: float, depth: int, budget_per_second: float, jitter: float | None = None
) -> int:
    """Before the sale everyone is equally far from it (places are drawn at on-sale time):
    a quarter of the time left, but the whole crowd within the budget."""
    longest = longest_poll(depth, budget_per_second)
    return _spread(max(until_sale / 4, depth / budget_per_second), longest, jitter)


def poll_after(
    eta_seconds: float,
    depth: int,
    per_second: float,
    budget_per_second: float,
    jitter: float | None = None,
) -> int:
    """How long a waiting client should wait before asking again: a quarter of its ETA, so
    those near the front hear of their admission within seconds and those far back ask
    rarely; stretched for everyone alike when the crowd together would exceed the budget of
    status calls per second (see longest_poll: past MAX_POLL_SECONDS only for huge crowds);
    and spread by +-20 % so that people who joined together do not poll in waves."""
    # Half the budget for those polling at their pace, half for those at the longest advice.
    stretch = max(1.0, crowd_load(depth, per_second) / (budget_per_second / 2))
    return _spread(eta_seconds / 4 * stretch, longest_poll(depth, budget_per_second), jitter)


class WaitingRoom:
    def __init__(
        self,
        engine: QueueEngine,
        signer: PassSigner,
        *,
        pass_ttl_seconds: int,
        poll_budget_per_second: float,
        orders: OrderRepository | None = None,
        challenges: Challenges | None = None,
        lottery: LotteryService | None = None,
    ) -> None:
        self.engine = engine
        # The proof-of-work gate of queues with `challenge` on (None: never asked).
        self._challenges = challenges
        # A lottery concert's draw: registrants' places and the winners' window (lottery.py).
        self.lottery = lottery
        self._signer = signer
        # The store's orders: whether a pass from a lost queue state was used (else restored
        # without asking).
        self._orders = orders
        self._pass_ttl_ms = pass_ttl_seconds * 1000
        self._budget = poll_budget_per_second

    async def join(self, concert: Concert, user_id: str, altcha: str | None = None) -> QueueStatus:
        """Join (or keep one's place). With the queue's `challenge` on, a newcomer needs a
        solved challenge (`altcha`, challenge.py); someone already in line or admitted keeps
        their place without one (the payload is then ignored, not spent)."""
        _require_queue(concert)
        if _closed(concert):
            return _closed_status()
        opens_at = concert.queue.opens_at
        if opens_at is not None and datetime.now(UTC) < opens_at:
            raise QueueNotOpen(
                f"This concert's waiting room opens at {opens_at.isoformat()}; join then. "
                "Everyone who joins before the on-sale gets a random place, so there is no "
                "need to be first.",
                opens_at=opens_at.isoformat(),
            )
        place = await self._lottery_place(concert, user_id)
        # A lottery's registrant (place not None) solved one when registering.
        gate = self._challenges if concert.queue.challenge and place is None else None
        if gate is not None and (await self.engine.status(concert.id, user_id)).state == "none":
            await gate.check(concert, altcha)
        await self.engine.join(concert.id, user_id, _ms(concert.on_sale_at), place)
        return await self.status(concert, user_id)

    async def _lottery_place(self, concert: Concert, user_id: str) -> float | None:
        """In lottery mode the waiting room opens with the draw; a registrant's place is
        fixed by it (winners first, then the waitlist), anyone else's is the usual one."""
        if concert.queue.mode != "lottery" or self.lottery is None:
            return None
        if await self.lottery.drawn(concert) is None:
            closes = concert.queue.registration_closes_at
            when = closes.isoformat() if closes is not None else "registration closes"
            raise QueueNotOpen(
                f"This concert's tickets go to a lottery first: the waiting room opens once "
                f"it is drawn, when registration closes at {when}. Registered fans: check "
                f"GET /api/v1/concerts/{concert.id}/registrations/me after that.",
                opens_at=when,
            )
        return await self.lottery.place(concert, user_id)

    async def status(self, concert: Concert, user_id: str) -> QueueStatus:
        _require_queue(concert)
        if _closed(concert):
            return _closed_status()
        window = await self._winners_window(concert)
        below = None if window is None else WAITLIST_BASE
        position = await self.engine.status(concert.id, user_id, below=below)
        if position.state == "none":
            raise QueueNotJoined(
                "You are not in this concert's queue: you have not joined it, or your place was "
                "lost in a service interruption. Join again with POST "
                f"/api/v1/concerts/{concert.id}/queue."
            )
        if position.state == "admitted":
            return QueueStatus(
                state="admitted",
                position=0,
                ahead=0,
                eta_seconds=0,
                poll_after_seconds=MAX_POLL_SECONDS,
                queue_depth=position.depth,
                pass_=self._signer.sign(
                    user_id, concert.id, position.pass_expires_ms, position.epoch
                ),
                pass_expires_at=_at(position.pass_expires_ms),
            )
        return self._waiting(concert, position, window)

    async def _winners_window(self, concert: Concert) -> datetime | None:
        """The end of a drawn lottery's winners' window while it lasts, else None."""
        if concert.queue.mode != "lottery" or self.lottery is None:
            return None
        draw = await self.lottery.drawn(concert, draw_if_due=False)
        if draw is None:
            return None
        ends = self.lottery.window_ends(concert, draw)
        return ends if datetime.now(UTC) < ends else None

    def _waiting(
        self, concert: Concert, position: Position, window: datetime | None = None
    ) -> QueueStatus:
        now = datetime.now(UTC)
        if window is not None and position.rank >= position.below:
            # Not a winner: nobody else is let in before the winners' window ends.
            return self._after_window(concert, position, window, now)
        until_sale = max(0.0, (concert.on_sale_at - now).total_seconds())
        if until_sale > 0:
            # Places are drawn, not earned: before the sale a rank means nothing yet.
            return QueueStatus(
                state="waiting",
                position=None,
                ahead=None,
                eta_seconds=math.ceil(until_sale),
                poll_after_seconds=presale_poll_after(until_sale, position.depth, self._budget),
                queue_depth=position.depth,
                draw_at=concert.on_sale_at,
            )
        configured = concert.queue.admit_per_minute
        # The measured rate once there is one (it drops when `max_active` is the bottleneck),
        # else the configured one.
        per_minute = position.measured_per_minute or configured
        per_minute = max(0.1, min(per_minute, configured))
        ahead = position.rank
        eta = (ahead + 1) / per_minute * 60
        return QueueStatus(
            state="waiting",
            position=ahead + 1,
            ahead=ahead,
            eta_seconds=math.ceil(eta),
            poll_after_seconds=poll_after(eta, position.depth, per_minute / 60, self._budget),
            queue_depth=position.depth,
        )

    def _after_window(
        self, concert: Concert, position: Position, window: datetime, now: datetime
    ) -> QueueStatus:
        """A waiting non-winner of a lottery: their place counts after the winners still
        waiting, and no sooner than the winners' window's end."""
        per_minute = max(0.1, float(concert.queue.admit_per_minute))
        ahead = position.rank - position.below  # the waitlist and others before them
        eta = (window - now).total_seconds() + (ahead + 1) / per_minute * 60
        presale = now < concert.on_sale_at  # places of non-registrants are drawn at on-sale
        return QueueStatus(
            state="waiting",
            position=None if presale else position.rank + 1,
            ahead=None if presale else position.rank,
            eta_seconds=math.ceil(eta),
            poll_after_seconds=poll_after(eta, position.depth, per_minute / 60, self._budget),
            queue_depth=position.depth,
            draw_at=concert.on_sale_at if presale else None,
        )

    async def require_pass(self, concert: Concert, user_id: str, token: str | None) -> None:
        """For holds and checkout: when the concert's queue is on, a valid pass whose holder is
        still an active shopper (one Redis round trip; none when the queue is off)."""
        if not concert.queue.enabled:
            return
        try:
            claims = self.check_pass(concert, user_id, token)
            outcome = await self.engine.check(
                concert.id,
                user_id,
                epoch=claims.epoch,
                expires_ms=claims.expires_at_ms,
                restore=self._orders is None,
            )
            if outcome == "lost":  # rare: Redis lost the queue's state since the pass was issued
                outcome = await self._restore(concert, claims)
            if outcome == "freed":
                raise InvalidPass(SLOT_FREED, "slot_freed")
            if outcome == "inactive":
                raise InvalidPass(NOT_ACTIVE, "not_active")
            if outcome == "expired":
                raise InvalidPass(EXPIRED, "expired")
            if outcome == "restored":
                PASS_RESTORED.labels(concert.id).inc()
                log.warning(
                    "queue pass restored: the queue's state was lost since it was issued",
                    extra={"concert_id": concert.id, "user_id": user_id},
                )
        except InvalidPass as exc:
            PASS_REJECTED.labels(exc.code).inc()
            raise QueuePassRequired(
                f"This on-sale has a waiting room: join it with POST /api/v1/concerts/"
                f"{concert.id}/queue and send the pass you get as X-Queue-Pass ({exc}).",
                reason=str(exc),
            ) from None

    async def _restore(self, concert: Concert, claims: PassClaims) -> PassCheck:
        """A pass issued before Redis lost the queue's state, with no record there of its slot
        being freed: Redis forgot that along with the rest, so the store is asked whether the
        holder has an order for this concert confirmed since the admission. If so the slot was
        freed, and is remembered as such; if not the holder is admitted again."""
        assert self._orders is not None
        admitted_at_ms = claims.expires_at_ms - self._pass_ttl_ms
        orders = await self._orders.list_for_user(claims.user_id, USED_PASS_LOOKBACK)
        if any(
            order.concert_id == concert.id
            and order.status in _SLOT_FREEING
            and _ms(order.created_at) >= admitted_at_ms
            for order in orders
        ):
            await self.engine.forfeit(concert.id, claims.user_id, claims.expires_at_ms)
            return "freed"
        return await self.engine.check(
            concert.id, claims.user_id, epoch=claims.epoch, expires_ms=claims.expires_at_ms
        )

    def check_pass(self, concert: Concert, user_id: str, token: str | None) -> PassClaims:
        return self._signer.verify(token, user_id=user_id, concert_id=concert.id)

    async def admit(self, concert: Concert) -> Admission:
        """One admission step for one concert (idempotent and safe to run concurrently).
        In lottery mode only the winners' tier until the winners' window ends."""
        gate_until_ms, gate_below = 0, 0.0
        if concert.queue.mode == "lottery" and self.lottery is not None:
            gate_until_ms, gate_below = await self.lottery.gate(concert)
        admission = await self.engine.admit(
            concert.id,
            on_sale_ms=_ms(concert.on_sale_at),
            per_minute=concert.queue.admit_per_minute,
            max_active=concert.queue.max_active,
            pass_ttl_ms=self._pass_ttl_ms,
            gate_until_ms=gate_until_ms,
            gate_below=gate_below,
        )
        QUEUE_DEPTH.labels(concert.id).set(admission.depth)
        QUEUE_ACTIVE.labels(concert.id).set(admission.active)
        if admission.admitted:
            QUEUE_ADMITTED.labels(concert.id).inc(len(admission.admitted))
        return admission

    async def done(self, concert_id: str, user_id: str) -> None:
        """The buyer's order is confirmed: their slot goes to the next in line."""
        await self.engine.leave(concert_id, user_id)


def _require_queue(concert: Concert) -> None:
    if not concert.queue.enabled:
        raise QueueNotEnabled()


def _closed(concert: Concert) -> bool:
    return datetime.now(UTC) >= concert.starts_at


def _closed_status() -> QueueStatus:
    return QueueStatus(
        state="closed",
        position=None,
        ahead=None,
        eta_seconds=None,
        poll_after_seconds=MAX_POLL_SECONDS,
        queue_depth=0,
    )
