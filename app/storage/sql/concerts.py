"""Concerts: the layout travels as one JSON document; search is keyset-paginated."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select, update

from app.storage.codec import as_utc, concert_fields, concert_from_fields
from app.storage.cursor import check_limit, decode_cursor, page_of
from app.storage.errors import guard_failed
from app.storage.records import Concert, ConcertFilter, Page
from app.storage.sql.db import Database
from app.storage.sql.tables import concerts
from app.storage.sql.types import fold_case


class SqlConcertRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, concert: Concert) -> None:
        async with self._db.write() as conn:
            await conn.execute(concerts.insert().values(**concert_fields(concert)))

    async def get(self, concert_id: str) -> Concert | None:
        query = select(concerts).where(concerts.c.id == concert_id)
        return await self._db.first(query, concert_from_fields)

    async def get_version(self, concert_id: str) -> int | None:
        query = select(concerts.c.version).where(concerts.c.id == concert_id)
        async with self._db.read() as conn:
            version: int | None = await conn.scalar(query)
        return version

    async def update(self, concert: Concert, expected_version: int) -> Concert:
        values = concert_fields(concert)
        del values["id"], values["version"]
        replace = (
            update(concerts)
            .where(concerts.c.id == concert.id, concerts.c.version == expected_version)
            .values(**values, version=expected_version + 1)
            .returning(*concerts.c)
        )
        async with self._db.write() as conn:
            row = (await conn.execute(replace)).first()
            if row is not None:
                return concert_from_fields(row._mapping)
            found = await conn.scalar(select(exists().where(concerts.c.id == concert.id)))
        raise guard_failed(f"concert {concert.id}", expected_version, exists=bool(found))

    async def search(self, flt: ConcertFilter, limit: int, cursor: str | None) -> Page[Concert]:
        check_limit(limit)
        c = concerts.c
        conditions = _filter_conditions(flt)
        if cursor is not None:
            after_starts_at, after_id = decode_cursor(cursor)
            conditions.append(
                or_(
                    c.starts_at > after_starts_at,
                    and_(c.starts_at == after_starts_at, c.id > after_id),
                )
            )
        # One row more than asked tells whether another page exists.
        query = select(concerts).where(*conditions).order_by(c.starts_at, c.id).limit(limit + 1)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return page_of(rows, limit, lambda row: concert_from_fields(row._mapping))


def _filter_conditions(flt: ConcertFilter) -> list[ColumnElement[bool]]:
    c = concerts.c
    conditions: list[ColumnElement[bool]] = []
    if flt.q:
        # autoescape: a '%' or '_' typed by a user matches itself, not "anything".
        needle = flt.q.lower()
        conditions.append(
            or_(
                fold_case(c.title).contains(needle, autoescape=True),
                fold_case(c.artist).contains(needle, autoescape=True),
            )
        )
    if flt.city:
        conditions.append(fold_case(c.venue_city) == flt.city.lower())
    if flt.genre:
        conditions.append(fold_case(c.genre) == flt.genre.lower())
    if flt.date_from is not None:
        conditions.append(c.starts_at >= as_utc(flt.date_from))
    if flt.date_to is not None:
        conditions.append(c.starts_at <= as_utc(flt.date_to))
    return conditions
