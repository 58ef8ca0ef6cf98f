#!/usr/bin/env python3
"""Recompute a presale lottery's draw from what the server publishes (standard library only).

    verify-lottery.py LOTTERY.json ENTRIES.json [DRAW_ORDER.json]

LOTTERY.json: the answer of GET /api/v1/concerts/{id}/lottery after the draw.
ENTRIES.json: the entry ids (a JSON list, or pages of GET .../lottery/entries: objects with
`items`, or a list of such pages), in any order.
DRAW_ORDER.json (optional): the draw order the server serves (GET .../lottery/entries?order=draw).

Checks that SHA-256(seed) is the published commitment, that the entry list is the one drawn
(count and digest), and recomputes the draw: entry ids ordered by the hex SHA-256 of
'<seed>:<entry id>' ascending (ties by entry id); the first min(winners, entries) win, the rest
are the waitlist in that order. Prints the result as JSON; exits 1 if anything disagrees.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any


def entry_ids(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [str(e) for e in data["items"]]
    if isinstance(data, list) and all(isinstance(e, dict) for e in data):
        return [str(e) for page in data for e in page["items"]]
    return [str(e) for e in data]


def digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        lottery = json.load(f)
    with open(argv[2]) as f:
        entries = sorted(entry_ids(json.load(f)))
    problems = []
    seed = lottery.get("seed")
    if not seed:
        print("not drawn yet: the seed is revealed with the draw", file=sys.stderr)
        return 1
    if hashlib.sha256(seed.encode()).hexdigest() != lottery["seed_sha256"]:
        problems.append("SHA-256 of the seed is not the published seed_sha256")
    if len(set(entries)) != len(entries):
        problems.append("the entry list has duplicates")
    if len(entries) != lottery["entries"]:
        problems.append(f"{len(entries)} entries given, the draw had {lottery['entries']}")
    if digest(entries) != lottery["entries_sha256"]:
        problems.append("the entry list is not the one drawn (entries_sha256 differs)")
    order = sorted(entries, key=lambda e: (hashlib.sha256(f"{seed}:{e}".encode()).hexdigest(), e))
    winners = min(int(lottery["winners"]), len(order))
    if winners != lottery["winners_drawn"]:
        problems.append(f"{winners} winners recomputed, the server says {lottery['winners_drawn']}")
    if digest(order) != lottery["order_sha256"]:
        problems.append("the recomputed draw order differs from the published order_sha256")
    if len(argv) == 4:
        with open(argv[3]) as f:
            served = entry_ids(json.load(f))
        if served != order:
            problems.append("the served draw order differs from the recomputed one")
    print(
        json.dumps(
            {
                "ok": not problems,
                "problems": problems,
                "entries": len(order),
                "winners": order[:winners],
                "waitlist": order[winners:],
            },
            indent=2,
        )
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
