"""Errors every backend raises in place of its driver's own."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store error."""


class StoreUnavailable(StoreError):
    """The backend could not be reached or timed out."""


class DuplicateKey(StoreError):
    """A unique key (email, order id, ...) is already taken."""


class VersionConflict(StoreError):
    """An optimistic-lock write found another version than the one it expected."""


class SeatsAlreadySold(StoreError):
    """A claim found some seats already sold; nothing was claimed."""

    def __init__(self, seat_ids: list[str]) -> None:
        self.seat_ids = sorted(seat_ids)
        super().__init__(f"seats already sold: {', '.join(self.seat_ids)}")


class InvalidValue(StoreError):
    """The backend refused a value (e.g. PostgreSQL and a NUL character in text)."""


class RecordNotFound(StoreError):
    """The record to update does not exist."""
