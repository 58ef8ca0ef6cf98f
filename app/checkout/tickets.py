"""Tickets and their codes: a JWT with its own key and `typ`, so a door scanner holding the
ticket key can verify a code offline, and no access token can pass for a ticket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from app.seats.index import seat_index
from app.storage.records import Concert, Order, Ticket

TICKET_TYP = "ticket"
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class TicketClaims:
    ticket_id: str
    order_id: str
    concert_id: str
    seat_id: str


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


# The JOSE header PyJWT writes for HS256 (compact JSON), encoded once.
_HEADER = _b64(json.dumps({"alg": _ALGORITHM, "typ": "JWT"}, separators=(",", ":")).encode())


class TicketSigner:
    def __init__(self, secret: str, issuer: str) -> None:
        self._secret = secret
        self._issuer = issuer
        # The keyed HMAC state, copied per code: the key is prepared once, not per ticket.
        self._mac = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)

    def sign(
        self, ticket_id: str, order_id: str, concert_id: str, seat_id: str, *, nonce: str = ""
    ) -> str:
        """An HS256 JWT (RFC 7519), as `jwt.encode` makes it, without PyJWT's per-call key
        preparation and checks (a sale signs one code per seat); `verify` uses PyJWT. A
        transferred ticket's new code carries a random `nonce` (claim `n`), so it differs from
        the code it replaces even when signed in the same second."""
        claims: dict[str, str | int] = {
            "typ": TICKET_TYP,
            "iss": self._issuer,
            "jti": ticket_id,
            "oid": order_id,
            "cid": concert_id,
            "sid": seat_id,
            "iat": int(datetime.now(UTC).timestamp()),
        }
        if nonce:
            claims["n"] = nonce
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = _HEADER + b"." + payload
        mac = self._mac.copy()
        mac.update(signing_input)
        return (signing_input + b"." + _b64(mac.digest())).decode("ascii")

    def verify(self, code: str) -> TicketClaims:
        """Raises jwt.PyJWTError (or ValueError for a non-ticket token) if not genuine."""
        claims = jwt.decode(
            code,
            self._secret,
            algorithms=[_ALGORITHM],
            issuer=self._issuer,
            options={"require": ["typ", "jti", "oid", "cid", "sid", "iat"]},
        )
        if claims["typ"] != TICKET_TYP:
            raise ValueError("not a ticket code")
        return TicketClaims(
            ticket_id=claims["jti"],
            order_id=claims["oid"],
            concert_id=claims["cid"],
            seat_id=claims["sid"],
        )


def ticket_id(order_id: str, seat_id: str) -> str:
    """Derived from (order, seat): issuing the tickets of an order twice yields the same ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ticket:{order_id}:{seat_id}"))


def issue_tickets(signer: TicketSigner, concert: Concert, order: Order) -> list[Ticket]:
    """One ticket per seat. Ids derive from (order, seat), so issuing twice yields the same."""
    index = seat_index(concert)
    sections = {s.id: s.name for s in concert.sections}
    now = datetime.now(UTC)
    tickets = []
    for seat_id in order.seat_ids:
        position = index.position[seat_id]
        span = index.row_of(position)
        this_id = ticket_id(order.id, seat_id)
        tickets.append(
            Ticket(
                id=this_id,
                order_id=order.id,
                user_id=order.user_id,
                concert_id=order.concert_id,
                seat_id=seat_id,
                section=sections[span.section_id],
                row=span.label,
                number=position - span.start + 1,
                code=signer.sign(this_id, order.id, order.concert_id, seat_id),
                issued_at=now,
            )
        )
    return tickets
