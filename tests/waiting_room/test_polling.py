"""How often waiting clients are told to poll: the front often, the crowd within budget."""

from __future__ import annotations

from app.waiting_room.service import (
    MAX_POLL_SECONDS,
    MIN_POLL_SECONDS,
    poll_after,
    presale_poll_after,
)

BUDGET = 500.0


def _crowd_calls_per_second(depth: int, per_second: float, jitter: float = 1.0) -> float:
    """Status calls per second if everyone in a line of `depth` follows the advice."""
    return sum(
        1 / poll_after((ahead + 1) / per_second, depth, per_second, BUDGET, jitter)
        for ahead in range(depth)
    )


def test_the_front_of_the_line_polls_often_and_the_back_rarely() -> None:
    assert poll_after(3, 10_000, 10.0, BUDGET, jitter=1.0) == MIN_POLL_SECONDS
    assert poll_after(900, 1_000, 10.0, BUDGET, jitter=1.0) == MAX_POLL_SECONDS
    # A huge crowd: the back is told to come back later still, so the total stays bounded.
    assert poll_after(9_000, 100_000, 10.0, BUDGET, jitter=1.0) == 400


def test_a_crowd_stays_within_the_budget() -> None:
    for depth, per_second in [(10_000, 10.0), (100_000, 50.0), (1_000, 1.0), (50_000, 100.0)]:
        load = _crowd_calls_per_second(depth, per_second)
        # Whole-second rounding and the 2 s floor at the very front allow a small overshoot.
        assert load <= BUDGET * 1.15, (depth, per_second, load)


def test_a_small_line_is_not_slowed_down_by_the_budget() -> None:
    # 200 people at 10/s: everyone is in within 20 s; the first ask every 2 s.
    assert poll_after(1.0, 200, 10.0, BUDGET, jitter=1.0) == MIN_POLL_SECONDS
    assert poll_after(20.0, 200, 10.0, BUDGET, jitter=1.0) <= 6  # a quarter of 20 s, about


def test_advice_is_spread_so_joiners_do_not_poll_in_waves() -> None:
    advice = [poll_after(60, 1_000, 10.0, BUDGET) for _ in range(200)]
    assert len(set(advice)) >= 4
    assert max(advice) / min(advice) >= 1.2


def test_before_the_sale_the_whole_crowd_is_within_budget() -> None:
    assert presale_poll_after(10, 10_000, BUDGET, jitter=1.0) == 20
    assert presale_poll_after(10, 100_000, BUDGET, jitter=1.0) == 200
    assert presale_poll_after(3600, 10, BUDGET, jitter=1.0) == MAX_POLL_SECONDS
    assert presale_poll_after(4, 10, BUDGET, jitter=1.0) == MIN_POLL_SECONDS
