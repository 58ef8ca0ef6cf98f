"""Errors every backend raises in place of its driver's own."""

from __future__ import annotations

from typing import Protocol, TypeVar


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


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=_Versioned)


def at_version(record: V | None, what: str, expected_version: int) -> V:
    """The record read for a version-guarded write, if it is at `expected_version`;
    RecordNotFound / VersionConflict otherwise (`what` names it: "order o-1")."""
    if record is None:
        raise RecordNotFound(f"no {what}")
    if record.version != expected_version:
        raise VersionConflict(f"{what} is at version {record.version}")
    return record


def guard_failed(what: str, expected_version: int, *, exists: bool) -> StoreError:
    """Why a write guarded by `version = expected_version` matched nothing: no such record,
    or it is at another version."""
    if not exists:
        return RecordNotFound(f"no {what}")
    return VersionConflict(f"{what} is not at version {expected_version}")
