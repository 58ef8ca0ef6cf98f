"""The handler of the ticket-delivery consumer: one mail per (order, kind), at least once.

Each mail goes through SendOnce (once.py): deduplicated by a Redis key per (order, kind),
retried with backoff, counted. A transfer's mail is once per (ticket, receiver).
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from functools import partial

from app.checkout.ticket_files import TicketBundle, load_bundle
from app.events.schemas import (
    DomainEvent,
    LotteryDrawn,
    OrderConfirmed,
    OrderRefunded,
    TicketTransferred,
)
from app.mail.compose import MailKind, confirmation, refund, transferred
from app.mail.lottery import LotteryMails
from app.mail.once import MailInProgress, Outgoing, SendOnce
from app.platform.redis import RedisClient
from app.storage.ports import Store
from app.storage.records import OrderStatus

log = logging.getLogger(__name__)

# The events that send a mail.
MAIL_TYPES = frozenset({"order.confirmed", "order.refunded", "ticket.transferred", "lottery.drawn"})
__all__ = ["MAIL_TYPES", "MailInProgress", "OrderMails", "dedup_key"]


def dedup_key(order_id: str, kind: MailKind) -> str:
    return f"mail:{kind}:{order_id}"


class OrderMails:
    def __init__(
        self,
        store: Store,
        redis: RedisClient,
        send_once: SendOnce,
        *,
        mail_from: str,
        public_base_url: str,
    ) -> None:
        self._store = store
        self._mail_from = mail_from
        self._base_url = public_base_url
        self._send_once = send_once
        # The presale lottery's result, to every registrant (lottery.py).
        self._lottery = LotteryMails(
            store,
            redis,
            self._send_once,
            mail_from=mail_from,
            public_base_url=public_base_url,
        )

    async def __call__(self, event: DomainEvent) -> None:
        if isinstance(event, OrderConfirmed):
            await self._once(event, "confirmed")
        elif isinstance(event, OrderRefunded):
            await self._once(event, "refunded")
        elif isinstance(event, TicketTransferred):
            await self._once(event, "transferred")
        elif isinstance(event, LotteryDrawn):
            await self._lottery(event)

    async def _once(
        self, event: OrderConfirmed | OrderRefunded | TicketTransferred, kind: MailKind
    ) -> None:
        # A transfer's mail is once per (ticket, receiver): a ticket given on twice mails both.
        subject_id = (
            f"{event.ticket_id}:{event.to_user_id}"
            if isinstance(event, TicketTransferred)
            else event.order_id
        )
        user_id = event.to_user_id if isinstance(event, TicketTransferred) else event.user_id

        async def compose() -> Outgoing | str:
            message = await self._compose(event, kind)
            if isinstance(message, str):
                return message
            return Outgoing(message, f"{subject_id.replace(':', '-')}-{kind}")

        await self._send_once(
            dedup_key(subject_id, kind),
            kind,
            compose,
            context={"order_id": event.order_id, "user_id": user_id},
        )

    async def _compose(
        self, event: OrderConfirmed | OrderRefunded | TicketTransferred, kind: MailKind
    ) -> EmailMessage | str:
        """The mail, or why there is none (nobody or nothing to write about)."""
        if isinstance(event, TicketTransferred):
            bundle, giver = await self._received(event)
        else:
            bundle = await load_bundle(self._store, event.order_id)
        skip = _why_skip(bundle, kind)
        if skip is not None:
            return skip
        assert bundle is not None  # _why_skip said so
        if isinstance(event, TicketTransferred):
            return await asyncio.to_thread(
                partial(
                    transferred,
                    bundle,
                    giver,
                    mail_from=self._mail_from,
                    public_base_url=self._base_url,
                )
            )
        if isinstance(event, OrderRefunded):
            return refund(
                bundle, event.reason, mail_from=self._mail_from, public_base_url=self._base_url
            )
        # The PDF is drawn off the event loop (the consumer shares it with the app's requests).
        return await asyncio.to_thread(
            partial(confirmation, bundle, mail_from=self._mail_from, public_base_url=self._base_url)
        )

    async def _received(self, event: TicketTransferred) -> tuple[TicketBundle | None, str]:
        """The giver's order with only the given ticket and the receiver as its buyer, and the
        giver's name; no bundle if the order or concert is gone, and no tickets in it if the
        ticket was given on again since (then the later transfer's mail tells)."""
        order = await self._store.orders.get(event.order_id)
        concert = await self._store.concerts.get(event.concert_id)
        if order is None or concert is None:
            return None, ""
        ticket = await self._store.tickets.get(event.order_id, event.seat_id)
        receiver = await self._store.users.get(event.to_user_id)
        giver = await self._store.users.get(event.from_user_id)
        mine = (ticket,) if ticket is not None and ticket.user_id == event.to_user_id else ()
        name = (giver.name.strip() or giver.email) if giver is not None else "Someone"
        return TicketBundle(order=order, concert=concert, tickets=mine, buyer=receiver), name


def _why_skip(bundle: TicketBundle | None, kind: MailKind) -> str | None:
    if bundle is None:
        return "no_order"
    if bundle.buyer is None:
        return "no_account"
    if kind in ("confirmed", "transferred") and (
        bundle.order.status is not OrderStatus.CONFIRMED or not bundle.tickets
    ):
        return "stale"  # refunded before its confirmation went out: the refund mail tells
    return None
