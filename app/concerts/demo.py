"""Demo concerts for local runs (`make run` seeds them on first start)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.concerts.schemas import ConcertCreate, ConcertRead, QueueConfig, SectionCreate, Venue
from app.concerts.service import Concerts


def _evening(now: datetime, days: int, zone: str) -> datetime:
    """19:30 at the venue, `days` days from today there."""
    local = now.astimezone(ZoneInfo(zone)) + timedelta(days=days)
    return local.replace(hour=19, minute=30, second=0, microsecond=0)


def demo_concerts(now: datetime) -> list[ConcertCreate]:
    day = timedelta(days=1)
    soon = now.replace(second=0, microsecond=0)
    return [
        ConcertCreate(
            title="Midnight Echoes Tour",
            artist="The Lanterns",
            genre="rock",
            description="An intimate club night: on sale now.",
            venue=Venue(name="Paradiso", city="Amsterdam", time_zone="Europe/Amsterdam"),
            starts_at=_evening(now, 30, "Europe/Amsterdam"),
            on_sale_at=soon - day,
            currency="EUR",
            sections=[
                SectionCreate(name="Floor", price_cents=5500, rows=10, seats_per_row=20),
                SectionCreate(name="Balcony", price_cents=4000, rows=5, seats_per_row=16),
            ],
        ),
        ConcertCreate(
            title="Stadium Nights",
            artist="Nova Pulse",
            genre="pop",
            description="A 50,000-seat stadium on-sale with the waiting room on.",
            venue=Venue(name="Olympiastadion", city="Berlin", time_zone="Europe/Berlin"),
            starts_at=_evening(now, 60, "Europe/Berlin"),
            on_sale_at=soon + timedelta(minutes=10),
            currency="EUR",
            max_tickets_per_user=6,
            queue=QueueConfig(enabled=True, admit_per_minute=3000, max_active=5000),
            sections=[
                SectionCreate(name="Pitch", price_cents=12000, rows=50, seats_per_row=200),
                SectionCreate(name="Lower Tier", price_cents=8500, rows=100, seats_per_row=200),
                SectionCreate(name="Upper Tier", price_cents=5500, rows=100, seats_per_row=200),
            ],
        ),
        ConcertCreate(
            title="Blue Hour Sessions",
            artist="Ines Duarte Quartet",
            genre="jazz",
            description="Two sets, one night.",
            venue=Venue(name="Ronnie's Cellar", city="London", time_zone="Europe/London"),
            starts_at=_evening(now, 14, "Europe/London"),
            on_sale_at=soon - 2 * day,
            currency="GBP",
            max_tickets_per_user=4,
            sections=[SectionCreate(name="Tables", price_cents=3500, rows=8, seats_per_row=12)],
        ),
    ]


async def seed_demo(concerts: Concerts) -> list[ConcertRead]:
    """Create the demo concerts unless the store already has concerts (idempotent)."""
    if await concerts.any_exist():
        return []
    return [await concerts.create(body) for body in demo_concerts(datetime.now(UTC))]
