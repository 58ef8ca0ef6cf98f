"""The lottery draw job: draws each presale lottery once its registration has closed.

Every process runs it. A registration puts its concert in the `lottery:pending` set; each step
looks at those concerts and draws those whose window has closed (app/waiting_room/lottery.py).
The draw is deterministic (the seed is derived from the concert id), and its commit is one
Lua script that keeps the first result, so two processes drawing at once commit one draw and
the second is a no-op. Announcing it (`lottery.drawn`, which mails winners and losers) is
claimed with SET NX by whichever process first sees the committed draw (this job, or a request
that needed the draw), so it is announced once.
"""

from __future__ import annotations

from app.container import Container
from app.workers.loop import every


async def draw_due(c: Container) -> int:
    """One step: draw (and so announce) every pending lottery whose registration closed. Returns
    how many draws this process committed."""
    lottery = c.waiting_room.lottery
    if lottery is None:
        return 0
    committed = 0
    for concert_id in await lottery.due():
        concert = await c.catalogue.find(concert_id)
        if concert is None or concert.queue.mode != "lottery":
            await lottery.settled(concert_id)
            continue
        mine, draw = await lottery.draw(concert)  # logs "lottery drawn" when it commits
        if draw is None:
            continue  # registration still open
        committed += mine  # and announced by whichever process saw it first
        await lottery.settled(concert_id)
    return committed


async def draws_forever(c: Container) -> None:
    await every("lottery draw", c.settings.lottery_draw_interval_seconds, lambda: draw_due(c))
