"""Concerts: one item each; listing walks a GSI sorted by (starts_at, id)."""

from __future__ import annotations

import json
import zlib
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from app.storage.codec import concert_fields, concert_from_fields
from app.storage.cursor import check_limit, decode_cursor, encode_cursor
from app.storage.dynamo.client import (
    Item,
    Refused,
    TableRepository,
    batch_get,
    query_pages,
    translated_errors,
)
from app.storage.dynamo.codec import (
    MAX_TIMESTAMP_KEY,
    MIN_TIMESTAMP_KEY,
    fields_of,
    get_n,
    get_s,
    item_of,
    n,
    parse_timestamp,
    s,
    sort_key,
    split_sort_key,
    timestamp,
)
from app.storage.dynamo.tables import CONCERT_LIST_PARTITION, CONCERTS
from app.storage.errors import DuplicateKey, guard_failed
from app.storage.records import Concert, ConcertFilter, Page

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import QueryInputTypeDef

# Index items read per request while filtering. DynamoDB applies Limit before the filter, so
# a selective filter needs several requests either way; the index items are small (keys and
# four short strings), so a larger page costs little and saves round trips.
FILTERED_PAGE = 500


def _sections_blob(sections: list[dict[str, Any]]) -> bytes:
    """The layout documents as compressed JSON: a 100,000-seat layout is megabytes of seat
    ids, far over DynamoDB's 400 KB item limit, but rows of generated ids shrink to a count."""
    document = [
        {**section, "rows": [_row_document(section["id"], row) for row in section["rows"]]}
        for section in sections
    ]
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode())


def _generated_ids(section_id: str, label: str, count: int) -> list[str]:
    # The ids app.concerts.layout gives: `<section id>-<row label>-<number>`.
    return [f"{section_id}-{label}-{k}" for k in range(1, count + 1)]


def _row_document(section_id: str, row: dict[str, Any]) -> dict[str, Any]:
    label, seat_ids = row["label"], row["seat_ids"]
    if seat_ids == _generated_ids(section_id, label, len(seat_ids)):
        return {"label": label, "count": len(seat_ids)}
    return row


def _sections_from_blob(blob: bytes) -> list[dict[str, Any]]:
    """The layout documents again (`_sections_blob` undone)."""
    sections: list[dict[str, Any]] = json.loads(zlib.decompress(blob))
    for section in sections:
        for row in section["rows"]:
            if "count" in row:
                row["seat_ids"] = _generated_ids(section["id"], row["label"], row.pop("count"))
    return sections


def _concert_item(concert: Concert, version: int) -> Item:
    fields = concert_fields(concert)
    stored = {**fields, "sections": _sections_blob(fields["sections"]), "version": version}
    return {
        "pk": s(concert.id),
        # queue_opens_at is absent when unset.
        **item_of(stored),
        # The listing index and its filters. DynamoDB compares case-sensitively, so the
        # filtered fields are stored lower-cased (Python's Unicode-aware lower()).
        "list_pk": s(CONCERT_LIST_PARTITION),
        "start_key": s(sort_key(concert.starts_at, concert.id)),
        "title_lc": s(concert.title.lower()),
        "artist_lc": s(concert.artist.lower()),
        "city_lc": s(concert.venue_city.lower()),
        "genre_lc": s(concert.genre.lower()),
    }


def _concert_from_item(item: Item) -> Concert:
    fields = fields_of(item)
    fields["sections"] = _sections_from_blob(fields["sections"])
    return concert_from_fields(fields, parse_timestamp)


class DynamoConcertRepository(TableRepository):
    table_name = CONCERTS.name

    async def add(self, concert: Concert) -> None:
        item = _concert_item(concert, concert.version)
        written = await self._db.write_if(
            lambda c: c.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        )
        if isinstance(written, Refused):
            raise DuplicateKey(f"concert {concert.id} exists") from written.error

    async def get(self, concert_id: str) -> Concert | None:
        item = await self._db.get_item(self._table, {"pk": s(concert_id)})
        return _concert_from_item(item) if item else None

    async def get_version(self, concert_id: str) -> int | None:
        item = await self._db.get_item(
            self._table,
            {"pk": s(concert_id)},
            ProjectionExpression="#v",
            ExpressionAttributeNames={"#v": "version"},
        )
        return get_n(item, "version") if item else None

    async def update(self, concert: Concert, expected_version: int) -> Concert:
        item = _concert_item(concert, expected_version + 1)
        # A whole-item replace, guarded by the version: no read in between to race.
        written = await self._db.write_if(
            lambda c: c.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="version = :expected",
                ExpressionAttributeValues={":expected": n(expected_version)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        )
        if isinstance(written, Refused):
            exists = written.old is not None or await self.get(concert.id) is not None
            what = f"concert {concert.id}"
            raise guard_failed(what, expected_version, exists=exists) from written.error
        return _concert_from_item(item)

    async def search(self, flt: ConcertFilter, limit: int, cursor: str | None) -> Page[Concert]:
        check_limit(limit)
        after_key = None
        low = timestamp(flt.date_from) if flt.date_from is not None else MIN_TIMESTAMP_KEY
        if cursor is not None:
            after_starts_at, after_id = decode_cursor(cursor)
            # Inclusive in the key condition (BETWEEN), so the cursor's own entry is skipped
            # below; ids are unique, so it is the only key equal to after_key.
            after_key = sort_key(after_starts_at, after_id)
            low = max(low, after_key)
        # '$' sorts right after '#': every `<date_to>#<id>` key is below this bound.
        high = timestamp(flt.date_to) + "$" if flt.date_to is not None else MAX_TIMESTAMP_KEY
        if low > high:
            return Page(items=[], next_cursor=None)

        keys = await self._matching_keys(
            _query(self._table, flt, low, high, limit), after_key, limit
        )
        page_keys = keys[:limit]
        concerts = await self._fetch([split_sort_key(k)[1] for k in page_keys])
        next_cursor = None
        if len(keys) > limit:
            # One match more than asked tells that another page exists.
            last_starts_at, last_id = split_sort_key(page_keys[-1])
            next_cursor = encode_cursor(last_starts_at, last_id)
        return Page(items=concerts, next_cursor=next_cursor)

    async def _matching_keys(
        self, request: QueryInputTypeDef, after_key: str | None, limit: int
    ) -> list[str]:
        """Sort keys of up to limit + 1 matches, in order.

        Limit applies before FilterExpression, so a page can hold fewer matches than asked
        (even none) while more follow: keep reading until there are enough or none remain.
        """
        keys: list[str] = []
        with translated_errors():
            async with aclosing(query_pages(self._db, request)) as pages:
                async for page in pages:
                    for item in page["Items"]:
                        key = get_s(item, "start_key")
                        if key != after_key:
                            keys.append(key)
                    if len(keys) > limit:
                        break
        return keys[: limit + 1]

    async def _fetch(self, concert_ids: list[str]) -> list[Concert]:
        """The concerts themselves (the index holds only the filter fields), in this order."""
        if not concert_ids:
            return []
        with translated_errors():
            items = await batch_get(self._db, self._table, [{"pk": s(i)} for i in concert_ids])
        found = {get_s(item, "id"): _concert_from_item(item) for item in items}
        return [found[i] for i in concert_ids if i in found]


def _query(table: str, flt: ConcertFilter, low: str, high: str, limit: int) -> QueryInputTypeDef:
    values: Item = {":list": s(CONCERT_LIST_PARTITION), ":low": s(low), ":high": s(high)}
    conditions: list[str] = []
    if flt.q:
        # contains() is a literal substring test: '%' and '_' match themselves.
        values[":q"] = s(flt.q.lower())
        conditions.append("(contains(title_lc, :q) OR contains(artist_lc, :q))")
    if flt.city:
        values[":city"] = s(flt.city.lower())
        conditions.append("city_lc = :city")
    if flt.genre:
        values[":genre"] = s(flt.genre.lower())
        conditions.append("genre_lc = :genre")
    request: QueryInputTypeDef = {
        "TableName": table,
        "IndexName": "by_start",
        "KeyConditionExpression": "list_pk = :list AND start_key BETWEEN :low AND :high",
        "ExpressionAttributeValues": values,
        # Unfiltered, limit + 2 entries are enough: the cursor's own entry and one extra.
        "Limit": FILTERED_PAGE if conditions else limit + 2,
    }
    if conditions:
        request["FilterExpression"] = " AND ".join(conditions)
    return request
