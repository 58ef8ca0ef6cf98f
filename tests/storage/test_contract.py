"""The store contract (app/storage/ports.py), run against every backend of `conftest.backend`.

Each test makes its own records with unique ids, because the database lives for the session.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.storage.cursor import InvalidCursor
from app.storage.errors import (
    DuplicateKey,
    RecordNotFound,
    SeatsAlreadySold,
    StoreUnavailable,
    VersionConflict,
)
from app.storage.ports import Store
from app.storage.records import (
    Concert,
    ConcertFilter,
    LotteryRegistration,
    OrderStatus,
    OrderTransition,
    RefreshOutcome,
    Ticket,
)

from .factories import (
    T0,
    make_concert,
    make_order,
    make_refresh_token,
    make_ticket,
    make_transition,
    make_user,
    uid,
)

# --------------------------------------------------------------------------- users


class TestUsers:
    async def test_add_then_get_round_trips_with_lower_cased_email(self, store: Store) -> None:
        user = make_user(email=f"Ada.{uid()}@Example.COM", role="admin")
        await store.users.add(user)

        expected = replace(user, email=user.email.lower())
        assert await store.users.get(user.id) == expected

    async def test_get_by_email_ignores_case(self, store: Store) -> None:
        user = make_user()
        await store.users.add(user)

        found = await store.users.get_by_email(user.email.upper())

        assert found is not None
        assert found.id == user.id

    async def test_unknown_user_is_none(self, store: Store) -> None:
        assert await store.users.get(uid()) is None
        assert await store.users.get_by_email(f"{uid()}@example.com") is None

    async def test_email_taken_in_other_case_is_duplicate(self, store: Store) -> None:
        user = make_user()
        await store.users.add(user)

        with pytest.raises(DuplicateKey):
            await store.users.add(make_user(email=user.email.upper()))
        assert await store.users.get_by_email(user.email) == user

    async def test_id_taken_is_duplicate(self, store: Store) -> None:
        user = make_user()
        await store.users.add(user)

        with pytest.raises(DuplicateKey):
            await store.users.add(make_user(id=user.id))

    async def test_set_role_and_password_hash(self, store: Store) -> None:
        user = make_user()
        await store.users.add(user)

        await store.users.set_role(user.id, "admin")
        await store.users.set_password_hash(user.id, "$argon2id$new")

        assert await store.users.get(user.id) == replace(
            user, role="admin", password_hash="$argon2id$new"
        )

    async def test_replace_password_hash_only_replaces_the_hash_it_was_given(
        self, store: Store
    ) -> None:
        """A login upgrading an older hash must not undo a password change made meanwhile."""
        user = make_user(password_hash="$argon2id$old")
        await store.users.add(user)

        assert await store.users.replace_password_hash(user.id, "$argon2id$old", "$argon2id$up")
        assert (await store.users.get(user.id)) == replace(user, password_hash="$argon2id$up")
        # The hash changed since it was read (a password change): nothing is replaced.
        await store.users.set_password_hash(user.id, "$argon2id$changed")
        assert not await store.users.replace_password_hash(
            user.id, "$argon2id$up", "$argon2id$stale"
        )
        assert (await store.users.get(user.id)) == replace(user, password_hash="$argon2id$changed")
        assert not await store.users.replace_password_hash(uid(), "$argon2id$old", "x")

    async def test_updating_unknown_user_is_not_found(self, store: Store) -> None:
        with pytest.raises(RecordNotFound):
            await store.users.set_role(uid(), "admin")
        with pytest.raises(RecordNotFound):
            await store.users.set_password_hash(uid(), "x")

    async def test_verify_email_marks_the_address_once(self, store: Store) -> None:
        user = make_user(email=f"Vera.{uid()}@Example.com")
        await store.users.add(user)
        assert (await store.users.get(user.id)) == replace(user, email=user.email.lower())

        # Any spelling of the address the link was sent to.
        verified = await store.users.verify_email(user.id, user.email.upper(), T0)
        assert verified == replace(user, email=user.email.lower(), email_verified_at=T0)
        assert (await store.users.get(user.id)) == verified
        # Again (a second click, a retry): the first time stays.
        again = await store.users.verify_email(user.id, user.email, T0 + timedelta(hours=1))
        assert again == verified

    async def test_verify_email_of_another_address_or_account_is_none(self, store: Store) -> None:
        user = make_user()
        await store.users.add(user)

        assert await store.users.verify_email(user.id, f"old-{uid()}@example.com", T0) is None
        assert (await store.users.get(user.id)) == user  # nothing written
        assert await store.users.verify_email(uid(), user.email, T0) is None

    async def test_concurrent_verifications_keep_one_time(self, store: Store) -> None:
        user = make_user()
        await store.users.add(user)
        times = [T0 + timedelta(seconds=i) for i in range(8)]

        results = await asyncio.gather(
            *(store.users.verify_email(user.id, user.email, t) for t in times)
        )

        stored = await store.users.get(user.id)
        assert stored is not None
        assert stored.email_verified_at in times
        assert all(r == stored for r in results)

    async def test_naive_datetime_is_refused(self, store: Store) -> None:
        user = make_user(created_at=datetime(2030, 1, 1, 12, 0))  # naive on purpose

        with pytest.raises(ValueError, match="naive"):
            await store.users.add(user)
        assert await store.users.get(user.id) is None


# --------------------------------------------------------------------------- refresh tokens


class TestRefreshTokens:
    async def test_consume_rotates_once_then_reports_reuse(self, store: Store) -> None:
        token = make_refresh_token()
        await store.refresh_tokens.add(token)
        now = T0 + timedelta(hours=1)

        first = await store.refresh_tokens.consume(token.jti, now)
        second = await store.refresh_tokens.consume(token.jti, now + timedelta(seconds=1))

        assert first == (RefreshOutcome.ROTATED, replace(token, used_at=now))
        assert second == (RefreshOutcome.REUSED, replace(token, used_at=now))

    async def test_revoked_family(self, store: Store) -> None:
        family = uid("fam-")
        live = make_refresh_token(family_id=family)
        used = make_refresh_token(family_id=family)
        expired = make_refresh_token(family_id=family, expires_at=T0 + timedelta(minutes=1))
        other_family = make_refresh_token()
        for token in (live, used, expired, other_family):
            await store.refresh_tokens.add(token)
        now = T0 + timedelta(hours=1)
        await store.refresh_tokens.consume(used.jti, now)

        revoked = await store.refresh_tokens.revoke_family(family, now)

        assert revoked == 1  # only `live` was still live
        outcome, found = await store.refresh_tokens.consume(live.jti, now)
        assert outcome is RefreshOutcome.REVOKED
        assert found == replace(live, revoked_at=now)
        # Revoked wins over reused and over expired.
        assert (await store.refresh_tokens.consume(used.jti, now))[0] is RefreshOutcome.REVOKED
        assert (await store.refresh_tokens.consume(expired.jti, now))[0] is RefreshOutcome.REVOKED
        # Another family is untouched; revoking again finds nothing live.
        rotated = await store.refresh_tokens.consume(other_family.jti, now)
        assert rotated[0] is RefreshOutcome.ROTATED
        assert await store.refresh_tokens.revoke_family(family, now) == 0

    async def test_expired_token(self, store: Store) -> None:
        token = make_refresh_token(expires_at=T0 + timedelta(minutes=10))
        await store.refresh_tokens.add(token)

        # Expiry is exclusive: at expires_at the token is no longer live.
        outcome, found = await store.refresh_tokens.consume(token.jti, token.expires_at)

        assert outcome is RefreshOutcome.EXPIRED
        assert found == token  # not marked used

    async def test_unknown_token(self, store: Store) -> None:
        assert await store.refresh_tokens.consume(uid(), T0) == (RefreshOutcome.UNKNOWN, None)

    async def test_concurrent_consumers_exactly_one_rotates(self, store: Store) -> None:
        token = make_refresh_token()
        await store.refresh_tokens.add(token)
        now = T0 + timedelta(hours=1)

        results = await asyncio.gather(
            *(store.refresh_tokens.consume(token.jti, now) for _ in range(20))
        )

        outcomes = sorted(outcome.value for outcome, _ in results)
        assert outcomes == ["reused"] * 19 + ["rotated"]

    async def test_get_reads_a_token_as_stored(self, store: Store) -> None:
        token = make_refresh_token()
        await store.refresh_tokens.add(token)
        assert await store.refresh_tokens.get(token.jti) == token
        now = T0 + timedelta(hours=1)
        await store.refresh_tokens.consume(token.jti, now)
        assert await store.refresh_tokens.get(token.jti) == replace(token, used_at=now)
        await store.refresh_tokens.revoke_family(token.family_id, now)
        assert await store.refresh_tokens.get(token.jti) == replace(
            token, used_at=now, revoked_at=now
        )
        assert await store.refresh_tokens.get(uid("jti-")) is None

    async def test_revoke_user_revokes_every_family_of_that_user_only(self, store: Store) -> None:
        """A password change ends every login of the account (issue 16, item 5)."""
        user, other = uid("u-"), uid("u-")
        first, second = uid("fam-"), uid("fam-")
        live = make_refresh_token(user_id=user, family_id=first)
        used = make_refresh_token(user_id=user, family_id=first)
        rotated_to = make_refresh_token(user_id=user, family_id=first)
        elsewhere = make_refresh_token(user_id=user, family_id=second)
        expired = make_refresh_token(user_id=user, expires_at=T0 + timedelta(minutes=1))
        not_theirs = make_refresh_token(user_id=other)
        for token in (live, used, rotated_to, elsewhere, expired, not_theirs):
            await store.refresh_tokens.add(token)
        now = T0 + timedelta(hours=1)
        await store.refresh_tokens.consume(used.jti, now)

        revoked = await store.refresh_tokens.revoke_user(user, now)

        assert revoked == 3  # live, rotated_to and elsewhere were live
        for token in (live, used, rotated_to, elsewhere, expired):
            outcome, found = await store.refresh_tokens.consume(token.jti, now)
            assert outcome is RefreshOutcome.REVOKED, token
            assert found is not None
            assert found.revoked_at == now
        assert (await store.refresh_tokens.consume(not_theirs.jti, now))[0] is (
            RefreshOutcome.ROTATED
        )
        assert await store.refresh_tokens.revoke_user(user, now) == 0
        assert await store.refresh_tokens.revoke_user(uid("u-"), now) == 0  # unknown: none

    async def test_a_login_after_revoke_user_is_live(self, store: Store) -> None:
        user = uid("u-")
        await store.refresh_tokens.add(make_refresh_token(user_id=user))
        now = T0 + timedelta(hours=1)
        assert await store.refresh_tokens.revoke_user(user, now) == 1
        fresh = make_refresh_token(user_id=user, issued_at=now)
        await store.refresh_tokens.add(fresh)

        assert (await store.refresh_tokens.consume(fresh.jti, now))[0] is RefreshOutcome.ROTATED


# --------------------------------------------------------------------------- concerts


class TestConcerts:
    async def test_round_trip_keeps_layout_and_utc_times(self, store: Store) -> None:
        lisbon_summer = timezone(timedelta(hours=1))
        concert = make_concert(
            starts_at=datetime(2030, 7, 14, 21, 30, 0, 500, tzinfo=lisbon_summer)
        )
        await store.concerts.add(concert)

        found = await store.concerts.get(concert.id)

        assert found == concert
        assert found.sections == concert.sections
        assert found.seats_total == 7
        for moment in (found.starts_at, found.on_sale_at, found.created_at, found.updated_at):
            assert moment.tzinfo is UTC
        assert found.starts_at == datetime(2030, 7, 14, 20, 30, 0, 500, tzinfo=UTC)

    async def test_the_venue_time_zone_round_trips_and_defaults_to_utc(self, store: Store) -> None:
        new_york = make_concert(venue_time_zone="America/New_York")
        unset = make_concert()
        await store.concerts.add(new_york)
        await store.concerts.add(unset)

        found = await store.concerts.get(new_york.id)
        assert found is not None
        assert found.venue_time_zone == "America/New_York"
        assert found == new_york
        assert (await store.concerts.get(unset.id)) == unset
        assert unset.venue_time_zone == "UTC"
        listed = await store.concerts.search(ConcertFilter(q=new_york.title), 100, None)
        assert {c.id: c.venue_time_zone for c in listed.items}[new_york.id] == "America/New_York"

    async def test_an_update_changes_the_venue_time_zone(self, store: Store) -> None:
        concert = make_concert(venue_time_zone="Europe/Amsterdam")
        await store.concerts.add(concert)

        updated = await store.concerts.update(
            replace(concert, venue_time_zone="Asia/Tokyo"), expected_version=1
        )

        assert updated.venue_time_zone == "Asia/Tokyo"
        stored = await store.concerts.get(concert.id)
        assert stored is not None
        assert (stored.venue_time_zone, stored.version) == ("Asia/Tokyo", 2)

    async def test_a_cancellation_round_trips_and_defaults_to_none(self, store: Store) -> None:
        on = make_concert()
        await store.concerts.add(on)
        found = await store.concerts.get(on.id)
        assert found == on
        assert found.cancelled_at is None
        assert found.cancellation_finished_at is None
        assert (found.cancellation_refunded, found.cancellation_failed) == (0, 0)

        cancelled = replace(on, cancelled_at=T0 + timedelta(hours=1))
        updated = await store.concerts.update(cancelled, expected_version=1)
        progressed = replace(
            updated,
            cancellation_total=10,
            cancellation_refunded=7,
            cancellation_cancelled=2,
            cancellation_failed=1,
            cancellation_finished_at=T0 + timedelta(hours=2),
        )
        await store.concerts.update(progressed, expected_version=2)

        stored = await store.concerts.get(on.id)
        assert stored == replace(progressed, version=3)
        assert stored is not None
        assert stored.cancelled_at == T0 + timedelta(hours=1)
        listed = await store.concerts.search(ConcertFilter(q=on.title), 100, None)
        assert {c.id: c.cancellation_refunded for c in listed.items}[on.id] == 7

    async def test_unknown_concert_is_none(self, store: Store) -> None:
        assert await store.concerts.get(uid()) is None

    async def test_duplicate_id(self, store: Store) -> None:
        concert = make_concert()
        await store.concerts.add(concert)

        with pytest.raises(DuplicateKey):
            await store.concerts.add(make_concert(id=concert.id, title="Other"))

    async def test_update_with_expected_version(self, store: Store) -> None:
        concert = make_concert()
        await store.concerts.add(concert)
        changed = replace(
            concert,
            title="Night Shift (extra date)",
            sections=concert.sections[:1],
            updated_at=T0 + timedelta(days=1),
        )

        updated = await store.concerts.update(changed, expected_version=1)

        assert updated == replace(changed, version=2)
        assert await store.concerts.get(concert.id) == updated

    async def test_update_with_stale_version_conflicts(self, store: Store) -> None:
        concert = make_concert()
        await store.concerts.add(concert)
        await store.concerts.update(replace(concert, title="First"), expected_version=1)

        with pytest.raises(VersionConflict):
            await store.concerts.update(replace(concert, title="Second"), expected_version=1)

        stored = await store.concerts.get(concert.id)
        assert stored is not None
        assert (stored.title, stored.version) == ("First", 2)

    async def test_update_unknown_is_not_found(self, store: Store) -> None:
        with pytest.raises(RecordNotFound):
            await store.concerts.update(make_concert(), expected_version=1)

    async def test_version_alone_follows_every_update(self, store: Store) -> None:
        assert await store.concerts.get_version(uid()) is None
        concert = make_concert()
        await store.concerts.add(concert)
        assert await store.concerts.get_version(concert.id) == 1
        await store.concerts.update(replace(concert, title="Moved"), expected_version=1)
        await store.concerts.update(replace(concert, title="Moved again"), expected_version=2)
        assert await store.concerts.get_version(concert.id) == 3
        assert await store.concerts.get_version(make_concert().id) is None


class TestConcertSearch:
    @staticmethod
    async def add_all(store: Store, *concerts: Concert) -> None:
        for concert in concerts:
            await store.concerts.add(concert)

    @staticmethod
    def ids(concerts: list[Concert]) -> list[str]:
        return [c.id for c in concerts]

    async def test_q_matches_title_or_artist_case_insensitively(self, store: Store) -> None:
        tag = uid()
        by_title = make_concert(title=f"Live {tag.upper()} Session", starts_at=T0)
        by_artist = make_concert(artist=f"{tag} Quartet", starts_at=T0 + timedelta(days=1))
        unrelated = make_concert(description=f"mentions {tag} only in the description")
        await self.add_all(store, by_title, by_artist, unrelated)

        page = await store.concerts.search(ConcertFilter(q=tag.upper()), limit=10, cursor=None)
        lower = await store.concerts.search(ConcertFilter(q=tag), limit=10, cursor=None)

        assert self.ids(page.items) == [by_title.id, by_artist.id]
        assert self.ids(lower.items) == [by_title.id, by_artist.id]
        assert page.next_cursor is None

    async def test_q_treats_like_wildcards_literally(self, store: Store) -> None:
        tag = uid()
        percent = make_concert(title=f"{tag} 100% Hits")
        underscore = make_concert(title=f"{tag} a_b", starts_at=T0 + timedelta(days=1))
        decoy = make_concert(title=f"{tag} 100 Hits and ab", starts_at=T0 + timedelta(days=2))
        await self.add_all(store, percent, underscore, decoy)

        pct = await store.concerts.search(ConcertFilter(q=f"{tag} 100%"), limit=10, cursor=None)
        und = await store.concerts.search(ConcertFilter(q="a_b"), limit=10, cursor=None)
        slash = await store.concerts.search(ConcertFilter(q=f"{tag}/"), limit=10, cursor=None)

        assert self.ids(pct.items) == [percent.id]
        assert underscore.id in self.ids(und.items)
        assert decoy.id not in self.ids(und.items)
        assert slash.items == []

    async def test_city_and_genre_are_case_insensitive_equality(self, store: Store) -> None:
        # Upper-case non-ASCII in the stored value: SQLite's own lower() would not fold it.
        city = f"ØREBRO-{uid()}"
        genre = f"Jazz-{uid()}"
        match = make_concert(venue_city=city, genre=genre)
        same_city_other_genre = make_concert(venue_city=city, genre="pop")
        city_prefix_only = make_concert(venue_city=f"{city} Nord", genre=genre)
        await self.add_all(store, match, same_city_other_genre, city_prefix_only)

        by_city = await store.concerts.search(
            ConcertFilter(city=city.lower()), limit=10, cursor=None
        )
        by_genre = await store.concerts.search(
            ConcertFilter(genre=genre.lower()), limit=10, cursor=None
        )
        both = await store.concerts.search(
            ConcertFilter(city=city.title(), genre=genre.upper()), limit=10, cursor=None
        )

        assert sorted(self.ids(by_city.items)) == sorted([match.id, same_city_other_genre.id])
        assert sorted(self.ids(by_genre.items)) == sorted([match.id, city_prefix_only.id])
        assert self.ids(both.items) == [match.id]

    async def test_date_range_is_inclusive(self, store: Store) -> None:
        genre = uid("genre-")
        days = [make_concert(genre=genre, starts_at=T0 + timedelta(days=d)) for d in range(5)]
        await self.add_all(store, *days)

        page = await store.concerts.search(
            ConcertFilter(
                genre=genre,
                date_from=T0 + timedelta(days=1),
                date_to=T0 + timedelta(days=3),
            ),
            limit=10,
            cursor=None,
        )
        open_start = await store.concerts.search(
            ConcertFilter(genre=genre, date_to=T0 + timedelta(days=1)), limit=10, cursor=None
        )
        open_end = await store.concerts.search(
            ConcertFilter(genre=genre, date_from=T0 + timedelta(days=4)), limit=10, cursor=None
        )

        assert self.ids(page.items) == self.ids(days[1:4])
        assert self.ids(open_start.items) == self.ids(days[:2])
        assert self.ids(open_end.items) == self.ids(days[4:])

    async def test_pagination_walks_every_match_once_in_order(self, store: Store) -> None:
        genre = uid("genre-")
        # Three share a start time, so the id must break ties across page boundaries.
        starts = [T0 + timedelta(days=d) for d in (3, 1, 2, 2, 2, 0, 5)]
        concerts = [make_concert(genre=genre, starts_at=s) for s in starts]
        await self.add_all(store, *concerts)
        expected = sorted(concerts, key=lambda c: (c.starts_at, c.id))
        flt = ConcertFilter(genre=genre)

        first = await store.concerts.search(flt, limit=3, cursor=None)
        assert first.next_cursor is not None
        second = await store.concerts.search(flt, limit=3, cursor=first.next_cursor)
        assert second.next_cursor is not None
        third = await store.concerts.search(flt, limit=3, cursor=second.next_cursor)

        assert [len(p.items) for p in (first, second, third)] == [3, 3, 1]
        assert third.next_cursor is None
        walked = first.items + second.items + third.items
        assert self.ids(walked) == self.ids(expected)
        assert walked == expected

    async def test_exactly_full_last_page_has_no_cursor(self, store: Store) -> None:
        genre = uid("genre-")
        await self.add_all(store, *(make_concert(genre=genre) for _ in range(3)))

        page = await store.concerts.search(ConcertFilter(genre=genre), limit=3, cursor=None)

        assert len(page.items) == 3
        assert page.next_cursor is None

    async def test_invalid_cursor(self, store: Store) -> None:
        with pytest.raises(InvalidCursor):
            await store.concerts.search(ConcertFilter(), limit=3, cursor="not-a-cursor")


# --------------------------------------------------------------------------- orders


class TestOrders:
    async def test_add_and_lookups(self, store: Store) -> None:
        order = make_order(history=(make_transition(to_status=OrderStatus.PENDING_PAYMENT),))
        await store.orders.add(order)

        assert await store.orders.get(order.id) == order
        assert await store.orders.get_by_hold(order.hold_id) == order
        assert await store.orders.get(uid()) is None
        assert await store.orders.get_by_hold(uid()) is None
        assert await store.orders.get_by_payment_intent(uid()) is None

    async def test_second_order_for_a_hold_is_duplicate(self, store: Store) -> None:
        order = make_order()
        await store.orders.add(order)

        with pytest.raises(DuplicateKey):
            await store.orders.add(make_order(hold_id=order.hold_id))
        with pytest.raises(DuplicateKey):
            await store.orders.add(make_order(id=order.id))

    async def test_transition_appends_history_and_bumps_version(self, store: Store) -> None:
        order = make_order()
        await store.orders.add(order)
        at = T0 + timedelta(minutes=2)

        confirmed = await store.orders.transition(
            order.id, 1, OrderStatus.CONFIRMED, "payment_succeeded", at
        )
        refunded = await store.orders.transition(
            order.id, 2, OrderStatus.REFUNDED, "refund", at + timedelta(days=1)
        )

        assert confirmed == replace(
            order,
            status=OrderStatus.CONFIRMED,
            version=2,
            history=(
                OrderTransition(
                    OrderStatus.PENDING_PAYMENT, OrderStatus.CONFIRMED, "payment_succeeded", at
                ),
            ),
        )
        assert refunded.version == 3
        assert refunded.status is OrderStatus.REFUNDED
        assert refunded.history[1] == OrderTransition(
            OrderStatus.CONFIRMED, OrderStatus.REFUNDED, "refund", at + timedelta(days=1)
        )
        assert refunded.history[1].at.tzinfo is UTC
        assert await store.orders.get(order.id) == refunded

    async def test_stale_transition_conflicts_and_changes_nothing(self, store: Store) -> None:
        order = make_order()
        await store.orders.add(order)
        current = await store.orders.transition(
            order.id, 1, OrderStatus.CANCELLED, "buyer_cancelled", T0
        )

        with pytest.raises(VersionConflict):
            await store.orders.transition(order.id, 1, OrderStatus.EXPIRED, "hold_expired", T0)
        with pytest.raises(RecordNotFound):
            await store.orders.transition(uid(), 1, OrderStatus.EXPIRED, "hold_expired", T0)
        assert await store.orders.get(order.id) == current

    async def test_concurrent_transitions_from_one_version_one_wins(self, store: Store) -> None:
        order = make_order()
        await store.orders.add(order)

        results = await asyncio.gather(
            store.orders.transition(order.id, 1, OrderStatus.CONFIRMED, "paid", T0),
            store.orders.transition(order.id, 1, OrderStatus.EXPIRED, "hold_expired", T0),
            return_exceptions=True,
        )

        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, BaseException)]
        assert len(winners) == 1
        assert len(losers) == 1
        assert isinstance(losers[0], VersionConflict)
        stored = await store.orders.get(order.id)
        assert stored == winners[0]
        assert stored is not None
        assert len(stored.history) == 1
        assert stored.version == 2

    async def test_attach_payment_intent(self, store: Store) -> None:
        order = make_order()
        await store.orders.add(order)
        intent = uid("pi_")

        attached = await store.orders.attach_payment_intent(order.id, 1, intent)

        assert attached == replace(order, payment_intent_id=intent, version=2)
        assert await store.orders.get_by_payment_intent(intent) == attached
        with pytest.raises(VersionConflict):
            await store.orders.attach_payment_intent(order.id, 1, uid("pi_"))
        with pytest.raises(RecordNotFound):
            await store.orders.attach_payment_intent(uid(), 1, uid("pi_"))

    async def test_payment_intent_belongs_to_one_order(self, store: Store) -> None:
        first, second = make_order(), make_order()
        await store.orders.add(first)
        await store.orders.add(second)
        intent = uid("pi_")
        await store.orders.attach_payment_intent(first.id, 1, intent)

        with pytest.raises(DuplicateKey):
            await store.orders.attach_payment_intent(second.id, 1, intent)
        assert await store.orders.get(second.id) == second

    async def test_list_for_user_newest_first(self, store: Store) -> None:
        user_id = uid("u-")
        orders = [
            make_order(user_id=user_id, created_at=T0 + timedelta(minutes=m)) for m in (5, 1, 9, 3)
        ]
        for order in orders:
            await store.orders.add(order)
        await store.orders.add(make_order())  # someone else's

        newest_first = sorted(orders, key=lambda o: o.created_at, reverse=True)
        assert await store.orders.list_for_user(user_id, limit=10) == newest_first
        assert await store.orders.list_for_user(user_id, limit=2) == newest_first[:2]
        assert await store.orders.list_for_user(uid(), limit=10) == []

    async def test_list_for_concert_by_status(self, store: Store) -> None:
        concert_id = uid("c-")
        pending = make_order(concert_id=concert_id, created_at=T0 + timedelta(minutes=2))
        confirmed = make_order(concert_id=concert_id, status=OrderStatus.CONFIRMED, created_at=T0)
        expired = make_order(concert_id=concert_id, status=OrderStatus.EXPIRED)
        elsewhere = make_order(status=OrderStatus.CONFIRMED)
        for order in (pending, confirmed, expired, elsewhere):
            await store.orders.add(order)

        live = await store.orders.list_for_concert(
            concert_id, [OrderStatus.PENDING_PAYMENT, OrderStatus.CONFIRMED]
        )
        assert live == [confirmed, pending]  # oldest first
        assert await store.orders.list_for_concert(concert_id, [OrderStatus.EXPIRED]) == [expired]
        assert await store.orders.list_for_concert(uid("c-"), list(OrderStatus)) == []

    async def test_list_due(self, store: Store) -> None:
        # list_due is not scoped by user or concert, so this test uses a time window nobody
        # else writes in: every other order expires in 2030 (see factories.make_order).
        base = datetime(1999, 1, 1, tzinfo=UTC)
        due = [make_order(expires_at=base + timedelta(minutes=m)) for m in (3, 1, 2)]
        not_yet = make_order(expires_at=base + timedelta(minutes=10))
        other_status = make_order(expires_at=base, status=OrderStatus.CONFIRMED)
        for order in (*due, not_yet, other_status):
            await store.orders.add(order)
        cutoff = base + timedelta(minutes=10)  # exclusive: `not_yet` is not due

        found = await store.orders.list_due(OrderStatus.PENDING_PAYMENT, cutoff, limit=10)
        first_two = await store.orders.list_due(OrderStatus.PENDING_PAYMENT, cutoff, limit=2)
        confirmed = await store.orders.list_due(OrderStatus.CONFIRMED, cutoff, limit=10)

        oldest_first = sorted(due, key=lambda o: o.expires_at)
        assert found == oldest_first
        assert first_two == oldest_first[:2]
        assert confirmed == [other_status]


# --------------------------------------------------------------------------- sales


class TestSales:
    async def test_claim_then_sold_seats_and_counts(self, store: Store) -> None:
        concert_id, order_id = uid("c-"), uid("o-")
        empty_concert = uid("c-")

        await store.sales.claim(concert_id, ["A-1", "A-2", "A-3"], order_id, T0)

        assert await store.sales.sold_seats(concert_id) == dict.fromkeys(
            ["A-1", "A-2", "A-3"], order_id
        )
        assert await store.sales.count_sold([concert_id, empty_concert]) == {
            concert_id: 3,
            empty_concert: 0,
        }
        assert await store.sales.sold_seats(empty_concert) == {}

    async def test_overlapping_claim_writes_nothing(self, store: Store) -> None:
        concert_id, first, second = uid("c-"), uid("o-"), uid("o-")
        await store.sales.claim(concert_id, ["A-1", "A-2"], first, T0)

        with pytest.raises(SeatsAlreadySold) as caught:
            await store.sales.claim(concert_id, ["A-3", "A-2", "A-4", "A-1"], second, T0)

        assert caught.value.seat_ids == ["A-1", "A-2"]
        assert await store.sales.sold_seats(concert_id) == {"A-1": first, "A-2": first}

    async def test_reclaim_by_the_same_order_is_harmless(self, store: Store) -> None:
        concert_id, order_id = uid("c-"), uid("o-")
        await store.sales.claim(concert_id, ["A-1", "A-2"], order_id, T0)

        await store.sales.claim(concert_id, ["A-2", "A-1"], order_id, T0)
        await store.sales.claim(concert_id, ["A-1", "A-2", "A-3", "A-3"], order_id, T0)

        assert await store.sales.sold_seats(concert_id) == dict.fromkeys(
            ["A-1", "A-2", "A-3"], order_id
        )

    async def test_same_seat_ids_in_other_concerts_do_not_collide(self, store: Store) -> None:
        first_concert, second_concert = uid("c-"), uid("c-")
        await store.sales.claim(first_concert, ["A-1"], uid("o-"), T0)

        await store.sales.claim(second_concert, ["A-1"], "o-second", T0)

        assert await store.sales.sold_seats(second_concert) == {"A-1": "o-second"}

    async def test_release_puts_seats_back(self, store: Store) -> None:
        concert_id, refunded, buyer = uid("c-"), uid("o-"), uid("o-")
        await store.sales.claim(concert_id, ["A-1", "A-2"], refunded, T0)

        assert await store.sales.release(refunded) == 2
        assert await store.sales.release(refunded) == 0
        await store.sales.claim(concert_id, ["A-2"], buyer, T0)

        assert await store.sales.sold_seats(concert_id) == {"A-2": buyer}

    async def test_two_claims_on_one_seat_exactly_one_wins(self, store: Store) -> None:
        concert_id, first, second = uid("c-"), uid("o-"), uid("o-")

        results = await asyncio.gather(
            store.sales.claim(concert_id, ["A-1"], first, T0),
            store.sales.claim(concert_id, ["A-1"], second, T0),
            return_exceptions=True,
        )

        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1
        assert isinstance(failures[0], SeatsAlreadySold)
        assert failures[0].seat_ids == ["A-1"]
        winner = first if results[0] is None else second
        assert await store.sales.sold_seats(concert_id) == {"A-1": winner}

    async def test_concurrent_overlapping_claims_are_all_or_nothing(self, store: Store) -> None:
        concert_id = uid("c-")
        seats = [f"S-{n:02d}" for n in range(30)]
        rng = random.Random(20_240_601)  # fixed seed: reproducible
        claims = {uid("o-"): rng.sample(seats, rng.randint(2, 5)) for _ in range(20)}

        results = await asyncio.gather(
            *(store.sales.claim(concert_id, wanted, oid, T0) for oid, wanted in claims.items()),
            return_exceptions=True,
        )

        sold = await store.sales.sold_seats(concert_id)
        winners = set()
        for (order_id, wanted), result in zip(claims.items(), results, strict=True):
            owned = {seat for seat, owner in sold.items() if owner == order_id}
            if result is None:
                winners.add(order_id)
                assert owned == set(wanted), f"{order_id} claimed only part of its seats"
            else:
                assert isinstance(result, SeatsAlreadySold), repr(result)
                assert owned == set(), f"{order_id} failed but kept seats {owned}"
                assert result.seat_ids
                assert set(result.seat_ids) <= set(wanted)
                # Every seat reported as taken really belongs to a successful claim.
                assert all(sold[s] != order_id for s in result.seat_ids)
        # Every sold seat belongs to a winner: each seat sold at most once, fully accounted.
        assert set(sold.values()) == winners
        assert len(sold) == sum(len(claims[w]) for w in winners)
        # 20 claims of >= 2 seats over 30 seats must overlap, so someone lost.
        assert 1 <= len(winners) < len(claims)


# --------------------------------------------------------------------------- tickets


class TestTickets:
    async def test_add_many_is_idempotent_per_order_and_seat(self, store: Store) -> None:
        user_id, order_id = uid("u-"), uid("o-")
        tickets = [
            make_ticket(user_id=user_id, order_id=order_id, seat_id=f"A-{n}", number=n)
            for n in (1, 2)
        ]
        await store.tickets.add_many(tickets)

        # Issued again, e.g. by a redelivered webhook: new ticket ids, same seats.
        await store.tickets.add_many([replace(t, id=uid("t-")) for t in tickets])
        await store.tickets.add_many([])

        found = await store.tickets.list_for_orders([order_id])
        assert sorted(found, key=lambda t: t.id) == sorted(tickets, key=lambda t: t.id)

    async def test_list_for_user_newest_first(self, store: Store) -> None:
        user_id = uid("u-")
        older = make_ticket(user_id=user_id, issued_at=T0)
        newer = make_ticket(user_id=user_id, issued_at=T0 + timedelta(days=2))
        await store.tickets.add_many([older, newer, make_ticket()])

        assert await store.tickets.list_for_user(user_id) == [newer, older]
        assert await store.tickets.list_for_user(uid()) == []

    async def test_list_for_orders(self, store: Store) -> None:
        first, second = uid("o-"), uid("o-")
        first_tickets = [
            make_ticket(order_id=first, seat_id=f"B-{n}", row="B", number=n) for n in (2, 1)
        ]
        second_ticket = make_ticket(order_id=second)
        await store.tickets.add_many([*first_tickets, second_ticket, make_ticket()])

        found = await store.tickets.list_for_orders([second, first])

        expected = [second_ticket, *first_tickets]
        assert sorted(found, key=lambda t: t.id) == sorted(expected, key=lambda t: t.id)
        assert await store.tickets.list_for_orders([]) == []

    async def test_get_by_order_and_seat(self, store: Store) -> None:
        order_id = uid("o-")
        wanted = make_ticket(order_id=order_id, seat_id="floor-A-2", number=2)
        await store.tickets.add_many([make_ticket(order_id=order_id), wanted, make_ticket()])

        assert await store.tickets.get(order_id, "floor-A-2") == wanted
        assert wanted.checked_in_at is None
        assert await store.tickets.get(order_id, "floor-B-1") is None
        assert await store.tickets.get(uid("o-"), "floor-A-2") is None

    async def test_check_in_sets_the_time_once(self, store: Store) -> None:
        ticket = make_ticket(user_id=uid("u-"))
        other = make_ticket(order_id=ticket.order_id, seat_id="floor-A-2", number=2)
        await store.tickets.add_many([ticket, other])
        first_at, later = T0 + timedelta(days=30), T0 + timedelta(days=30, minutes=5)

        admitted, first = await store.tickets.check_in(ticket.order_id, ticket.seat_id, first_at)
        assert first is True
        assert admitted == replace(ticket, checked_in_at=first_at)

        again, first = await store.tickets.check_in(ticket.order_id, ticket.seat_id, later)
        assert first is False
        assert again.checked_in_at == first_at  # the first time, not this scan's

        assert await store.tickets.get(ticket.order_id, ticket.seat_id) == admitted
        assert await store.tickets.list_for_user(ticket.user_id) == [admitted]
        # Its neighbour in the same order is untouched.
        assert await store.tickets.get(other.order_id, other.seat_id) == other
        # Issuing the order's tickets again (a redelivered webhook) does not undo a check-in.
        await store.tickets.add_many([ticket, other])
        assert await store.tickets.get(ticket.order_id, ticket.seat_id) == admitted

    async def test_a_checked_in_ticket_round_trips(self, store: Store) -> None:
        ticket = make_ticket(checked_in_at=T0 + timedelta(days=30))
        await store.tickets.add_many([ticket])

        assert await store.tickets.get(ticket.order_id, ticket.seat_id) == ticket
        _, first = await store.tickets.check_in(ticket.order_id, ticket.seat_id, T0)
        assert first is False

    async def test_check_in_of_an_unknown_ticket(self, store: Store) -> None:
        with pytest.raises(RecordNotFound):
            await store.tickets.check_in(uid("o-"), "floor-A-1", T0)

    async def test_transfer_gives_the_ticket_a_new_holder_and_code_once(self, store: Store) -> None:
        sender, receiver, third = uid("u-"), uid("u-"), uid("u-")
        ticket = make_ticket(user_id=sender)
        other = make_ticket(user_id=sender, order_id=ticket.order_id, seat_id="floor-A-2", number=2)
        await store.tickets.add_many([ticket, other])

        given = await store.tickets.transfer(
            ticket.order_id, ticket.seat_id, sender, receiver, "new-code"
        )

        assert given == replace(ticket, user_id=receiver, code="new-code")
        assert await store.tickets.get(ticket.order_id, ticket.seat_id) == given
        assert await store.tickets.list_for_user(receiver) == [given]
        assert await store.tickets.list_for_user(sender) == [other]
        assert await store.tickets.list_for_orders([ticket.order_id]) == [given, other]
        # The sender no longer holds it: giving it again (or a second, racing transfer) fails.
        with pytest.raises(VersionConflict):
            await store.tickets.transfer(ticket.order_id, ticket.seat_id, sender, third, "x")
        # Issuing the order's tickets again does not undo the transfer.
        await store.tickets.add_many([ticket, other])
        assert await store.tickets.get(ticket.order_id, ticket.seat_id) == given

    async def test_a_checked_in_or_unknown_ticket_is_not_transferred(self, store: Store) -> None:
        sender = uid("u-")
        ticket = make_ticket(user_id=sender)
        await store.tickets.add_many([ticket])
        admitted, _ = await store.tickets.check_in(ticket.order_id, ticket.seat_id, T0)

        with pytest.raises(VersionConflict):
            await store.tickets.transfer(ticket.order_id, ticket.seat_id, sender, uid("u-"), "x")
        with pytest.raises(RecordNotFound):
            await store.tickets.transfer(uid("o-"), "floor-A-1", sender, uid("u-"), "x")
        assert await store.tickets.get(ticket.order_id, ticket.seat_id) == admitted

    async def test_concurrent_transfers_exactly_one_wins(self, store: Store) -> None:
        sender = uid("u-")
        ticket = make_ticket(user_id=sender)
        await store.tickets.add_many([ticket])
        receivers = [uid("u-") for _ in range(10)]

        results = await asyncio.gather(
            *(
                store.tickets.transfer(ticket.order_id, ticket.seat_id, sender, r, f"code-{r}")
                for r in receivers
            ),
            return_exceptions=True,
        )

        won = [r for r in results if isinstance(r, Ticket)]
        assert len(won) == 1
        assert all(isinstance(r, VersionConflict) for r in results if r is not won[0])
        assert await store.tickets.get(ticket.order_id, ticket.seat_id) == won[0]
        assert won[0].code == f"code-{won[0].user_id}"

    async def test_concurrent_check_ins_exactly_one_first(self, store: Store) -> None:
        ticket = make_ticket()
        await store.tickets.add_many([ticket])
        # Every scan a different time: the winner's is the one all of them report.
        scans = [T0 + timedelta(seconds=k) for k in range(25)]

        results = await asyncio.gather(
            *(store.tickets.check_in(ticket.order_id, ticket.seat_id, at) for at in scans)
        )

        firsts = [found for found, first in results if first]
        assert len(firsts) == 1
        winner_time = firsts[0].checked_in_at
        assert winner_time in scans
        assert {found.checked_in_at for found, _ in results} == {winner_time}
        stored = await store.tickets.get(ticket.order_id, ticket.seat_id)
        assert stored is not None
        assert stored.checked_in_at == winner_time


# --------------------------------------------------------------------------- payment events


class TestPaymentEvents:
    async def test_first_record_wins(self, store: Store) -> None:
        event_id = uid("evt_")

        assert await store.payment_events.record_if_absent(event_id, "payment.succeeded", T0)
        assert not await store.payment_events.record_if_absent(
            event_id, "payment.succeeded", T0 + timedelta(seconds=5)
        )

    async def test_a_forgotten_event_can_be_recorded_again(self, store: Store) -> None:
        event_id = uid("evt_")
        assert await store.payment_events.record_if_absent(event_id, "payment.succeeded", T0)
        await store.payment_events.forget(event_id)
        assert await store.payment_events.record_if_absent(event_id, "payment.succeeded", T0)
        await store.payment_events.forget(uid("evt_"))  # unknown: harmless

    async def test_concurrent_deliveries_record_once(self, store: Store) -> None:
        event_id = uid("evt_")

        results = await asyncio.gather(
            *(
                store.payment_events.record_if_absent(event_id, "payment.succeeded", T0)
                for _ in range(10)
            )
        )

        assert sorted(results) == [False] * 9 + [True]


# --------------------------------------------------------------------------- lottery


def _registration(
    concert_id: str, user_id: str, at: datetime = T0, entry_id: str | None = None
) -> LotteryRegistration:
    return LotteryRegistration(
        concert_id=concert_id,
        user_id=user_id,
        entry_id=entry_id or uid("e"),
        registered_at=at,
    )


class TestLotteryRegistrations:
    async def test_register_once_then_the_first_record_stays(self, store: Store) -> None:
        concert_id, user_id = uid("c"), uid("u")
        first = _registration(concert_id, user_id, T0 + timedelta(microseconds=123_457))

        assert await store.lottery_registrations.register(first)
        again = _registration(concert_id, user_id, T0 + timedelta(hours=1))
        assert not await store.lottery_registrations.register(again)

        stored = await store.lottery_registrations.get(concert_id, user_id)
        # Microseconds and UTC round-trip; the second write changed nothing.
        assert stored == first
        assert stored is not None
        assert stored.registered_at.utcoffset() == timedelta(0)
        assert await store.lottery_registrations.get(concert_id, uid("u")) is None
        assert await store.lottery_registrations.get(uid("c"), user_id) is None

    async def test_list_and_count_per_concert(self, store: Store) -> None:
        concert_id, other = uid("c"), uid("c")
        mine = [_registration(concert_id, uid("u")) for _ in range(25)]
        for reg in mine:
            assert await store.lottery_registrations.register(reg)
        # The same account in another concert is another registration.
        assert await store.lottery_registrations.register(_registration(other, mine[0].user_id))

        listed = await store.lottery_registrations.list_for_concert(concert_id)
        assert sorted(listed, key=lambda r: r.user_id) == sorted(mine, key=lambda r: r.user_id)
        assert await store.lottery_registrations.count(concert_id) == 25
        assert await store.lottery_registrations.count(other) == 1
        assert await store.lottery_registrations.count(uid("c")) == 0
        assert await store.lottery_registrations.list_for_concert(uid("c")) == []

    async def test_concurrent_registrations_of_one_account_create_one(self, store: Store) -> None:
        concert_id, user_id = uid("c"), uid("u")
        attempts = [
            _registration(concert_id, user_id, T0 + timedelta(seconds=i), entry_id=f"e{i}")
            for i in range(20)
        ]

        created = await asyncio.gather(
            *(store.lottery_registrations.register(reg) for reg in attempts)
        )

        assert sorted(created) == [False] * 19 + [True]
        winner = attempts[created.index(True)]
        assert await store.lottery_registrations.get(concert_id, user_id) == winner
        assert await store.lottery_registrations.list_for_concert(concert_id) == [winner]
        assert await store.lottery_registrations.count(concert_id) == 1

    async def test_many_accounts_registering_at_once_are_each_there_once(
        self, store: Store
    ) -> None:
        concert_id = uid("c")
        users = [uid("u") for _ in range(40)]
        # Every account twice, all at once.
        attempts = [_registration(concert_id, u) for u in users + users]
        random.shuffle(attempts)

        created = await asyncio.gather(
            *(store.lottery_registrations.register(reg) for reg in attempts)
        )

        assert created.count(True) == len(users)
        listed = await store.lottery_registrations.list_for_concert(concert_id)
        assert sorted(r.user_id for r in listed) == sorted(users)
        assert await store.lottery_registrations.count(concert_id) == len(users)

    async def test_withdraw_deletes_one_registration(self, store: Store) -> None:
        concert_id, user_id, other = uid("c"), uid("u"), uid("u")
        assert await store.lottery_registrations.register(_registration(concert_id, user_id))
        assert await store.lottery_registrations.register(_registration(concert_id, other))

        assert await store.lottery_registrations.withdraw(concert_id, user_id)
        assert not await store.lottery_registrations.withdraw(concert_id, user_id)

        assert await store.lottery_registrations.get(concert_id, user_id) is None
        assert await store.lottery_registrations.count(concert_id) == 1
        # Registering again after a withdrawal creates it again.
        assert await store.lottery_registrations.register(_registration(concert_id, user_id))

    async def test_naive_datetime_is_refused(self, store: Store) -> None:
        reg = _registration(uid("c"), uid("u"), datetime(2030, 1, 1, 12, 0))  # naive

        with pytest.raises(ValueError, match="naive"):
            await store.lottery_registrations.register(reg)
        assert await store.lottery_registrations.get(reg.concert_id, reg.user_id) is None


# --------------------------------------------------------------------------- health


class TestHealth:
    async def test_ping_answers(self, store: Store) -> None:
        await store.ping()

    async def test_unknown_ids_do_not_raise(self, store: Store) -> None:
        assert await store.sales.release(uid()) == 0
        assert await store.sales.count_sold([]) == {}


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1:1/encore", id="dead-postgres"),
        pytest.param("sqlite+aiosqlite:////nonexistent-dir/encore.db", id="unopenable-sqlite"),
    ],
)
async def test_unreachable_database_is_store_unavailable(url: str) -> None:
    from app.storage.sql import SqlStore

    dead = SqlStore(url)
    try:
        with pytest.raises(StoreUnavailable):
            await dead.ping()
        # Repository calls too: no driver exception may escape.
        with pytest.raises(StoreUnavailable):
            await dead.users.get("anyone")
        with pytest.raises(StoreUnavailable):
            await dead.sales.claim("c", ["A-1"], "o", T0)
    finally:
        await dead.close()
