"""What every backend's seat claim shares: the owners of the wanted seats decide it, and a
seat released while a claim was being made is claimed again, a bounded number of times."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from app.storage.errors import SeatsAlreadySold, StoreUnavailable

# A seat whose owner released it between our write and our read of its owner is simply
# claimed again; this bounds that (practically impossible) loop.
MAX_CLAIM_ROUNDS = 5


def unowned(wanted: Sequence[str], owners: Mapping[str, str], order_id: str) -> list[str]:
    """The wanted seats nobody owns. SeatsAlreadySold if another order owns any of them;
    seats this order owns already count as claimed (a re-delivered claim)."""
    taken = [s for s in wanted if owners.get(s, order_id) != order_id]
    if taken:
        raise SeatsAlreadySold(taken)
    return [s for s in wanted if s not in owners]


def kept_racing() -> StoreUnavailable:
    return StoreUnavailable("seat claim kept racing with releases; try again")


async def claim_in_rounds(
    wanted: Sequence[str],
    order_id: str,
    insert_absent: Callable[[list[str]], Awaitable[bool]],
    read_owners: Callable[[], Awaitable[Mapping[str, str]]],
) -> None:
    """Insert the seats nobody owns (`insert_absent` skips the taken ones and answers
    whether it inserted every seat it was given), then read the owners of every wanted seat
    back, until each is this order's: SeatsAlreadySold as soon as another order owns one."""
    missing = list(wanted)
    for _ in range(MAX_CLAIM_ROUNDS):
        if await insert_absent(missing):
            return  # nobody else had any of them
        missing = unowned(wanted, await read_owners(), order_id)
        if not missing:
            return
    raise kept_racing()
