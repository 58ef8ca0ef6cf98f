"""Proof of work at the waiting room's door: ALTCHA challenges (docs/waiting-room.md, "Proof of
work").

With a concert's `queue.challenge` on, joining its waiting room (and registering for its
lottery) needs a solved challenge. `Challenges.issue` makes one and `Challenges.check` accepts
each solution once.

- **Protocol.** ALTCHA v2 (the `altcha` package's default API, and what the `altcha` web
  component 3.x speaks natively): `{"parameters": {...}, "signature": ...}`, the payload
  base64 JSON of `{"challenge": ..., "solution": {"counter", "derivedKey", ...}}`. The
  algorithm is plain SHA-256 (cost 1): one hash per try, as ALTCHA v1's.
- **Difficulty.** Deterministic mode: the server picks a secret counter uniformly below the
  concert's `challenge_difficulty` (ALTCHA v1's `maxnumber`), derives its key and publishes
  half of it as `keyPrefix`; the client tries counters from 0 until one derives a key with that
  prefix, about half of `challenge_difficulty` tries on average. The derived key's HMAC
  (`keySignature`) lets the server verify a solution with one HMAC, without hashing again.
- **Bound to the concert.** The signed `data` names the concert; a solution made for another
  concert is refused. The signed `expiresAt` ends it after ALTCHA_CHALLENGE_TTL_SECONDS.
- **Good once.** A verified solution's nonce is remembered in Redis (`SET NX` with the
  challenge's remaining lifetime as expiry): of two concurrent uses exactly one passes.
- **Keys.** Both HMAC keys derive from ALTCHA_HMAC_KEY (app/settings.py): one signs the
  challenge parameters, the other the derived key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

import altcha
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field

from app.platform.redis import RedisClient
from app.storage.records import Concert
from app.waiting_room.errors import ChallengeFailed, ChallengeRequired, QueueChallengeOff

log = logging.getLogger(__name__)

ALGORITHM = "SHA-256"
COST = 1
# A payload is a few hundred bytes; anything much longer is not one of ours.
MAX_PAYLOAD_CHARS = 4096
USED_KEY_PREFIX = "altcha:used:"

CHALLENGES_ISSUED = Counter(
    "queue_challenges_issued_total", "Proof-of-work challenges issued for waiting rooms"
)
CHALLENGE_CHECKS = Counter(
    "queue_challenge_checks_total",
    "Proof-of-work solutions checked, by outcome: passed, missing, invalid, expired, "
    "another_concert, used",
    ["outcome"],
)


class ChallengeParametersRead(BaseModel):
    """What the client solves; signed as a whole (`signature`), so returned as issued."""

    model_config = ConfigDict(populate_by_name=True)

    algorithm: str = Field(description="The hash: SHA-256.")
    nonce: str
    salt: str
    cost: int = Field(description="Hashes per try (1).")
    key_length: int = Field(alias="keyLength")
    key_prefix: str = Field(
        alias="keyPrefix", description="Find the counter whose derived key starts with this."
    )
    key_signature: str = Field(alias="keySignature")
    expires_at: int = Field(alias="expiresAt", description="Unix time after which it is refused.")
    data: dict[str, str] = Field(description="`concert`: the concert it is good for.")


class ChallengeRead(BaseModel):
    """An ALTCHA v2 challenge, as the `altcha` web component (3.x) expects it."""

    parameters: ChallengeParametersRead
    signature: str


def _subkey(key: str, purpose: str) -> bytes:
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).digest()


class Challenges:
    """Issues and checks the proof-of-work challenges of queues with `challenge` on."""

    def __init__(self, redis: RedisClient, key: str, *, ttl_seconds: int) -> None:
        self._redis = redis
        self._signing_key = _subkey(key, "altcha-challenge")
        self._key_signing_key = _subkey(key, "altcha-derived-key")
        self._ttl = ttl_seconds

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    async def issue(self, concert: Concert) -> ChallengeRead:
        """A new challenge for `concert`; QueueChallengeOff when its queue asks for none."""
        if not concert.queue.challenge:
            raise QueueChallengeOff(
                "This concert's waiting room asks for no challenge: join it without one."
            )
        challenge = self.make(concert.id, concert.queue.challenge_difficulty)
        CHALLENGES_ISSUED.inc()
        return ChallengeRead.model_validate(challenge.to_dict())

    def make(
        self, concert_id: str, difficulty: int, *, expires_at: int | None = None
    ) -> altcha.Challenge:
        """The challenge itself (one SHA-256 and two HMACs: microseconds, no thread needed)."""
        return altcha.create_challenge(
            ALGORITHM,
            COST,
            counter=secrets.randbelow(max(1, difficulty)),
            expires_at=expires_at if expires_at is not None else int(time.time()) + self._ttl,
            data={"concert": concert_id},
            hmac_secret=self._signing_key,
            hmac_key_secret=self._key_signing_key,
        )

    async def check(self, concert: Concert, payload: str | None) -> None:
        """Accept a solved challenge of `concert` once: ChallengeRequired when there is none,
        ChallengeFailed when it is wrong, expired, made for another concert or already used."""
        if not payload:
            CHALLENGE_CHECKS.labels("missing").inc()
            raise ChallengeRequired()
        nonce, expires_at = self._verify(concert, payload)
        remaining_ms = max(1, expires_at * 1000 - int(time.time() * 1000))
        # The decision: of concurrent uses of one solution, exactly one SET succeeds.
        if not await self._redis.set(USED_KEY_PREFIX + nonce, b"1", nx=True, px=remaining_ms):
            CHALLENGE_CHECKS.labels("used").inc()
            raise ChallengeFailed(
                "This check was already used once. Reload the page so your device does a new "
                "one, then join again."
            )
        CHALLENGE_CHECKS.labels("passed").inc()

    def _verify(self, concert: Concert, payload: str) -> tuple[str, int]:
        """The solution's nonce and expiry if it is a correct, live solution of a challenge we
        issued for this concert."""
        if len(payload) > MAX_PAYLOAD_CHARS:
            CHALLENGE_CHECKS.labels("invalid").inc()
            raise ChallengeFailed()
        try:
            result = altcha.verify_solution(
                payload, self._signing_key, hmac_key_secret=self._key_signing_key
            )
            parsed = altcha.Payload.from_base64(payload) if result.verified else None
        except Exception:  # anything a hostile payload can make the parser raise
            result, parsed = None, None
        if result is not None and result.expired:
            CHALLENGE_CHECKS.labels("expired").inc()
            raise ChallengeFailed(
                "The check your device did has expired. Reload the page so it does a new one, "
                "then join again."
            )
        if result is None or parsed is None or not result.verified:
            CHALLENGE_CHECKS.labels("invalid").inc()
            raise ChallengeFailed()
        params = parsed.challenge.parameters
        data = params.data if isinstance(params.data, dict) else {}
        if data.get("concert") != concert.id:
            CHALLENGE_CHECKS.labels("another_concert").inc()
            raise ChallengeFailed(
                "This check was made for another concert. Reload this concert's page so your "
                "device does a new one, then join again."
            )
        if not isinstance(params.nonce, str) or not isinstance(params.expires_at, int):
            CHALLENGE_CHECKS.labels("invalid").inc()  # signed by us, so never; but be sure
            raise ChallengeFailed()
        return params.nonce, params.expires_at
