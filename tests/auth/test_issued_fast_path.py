"""The fast path for our own tokens (app/auth/issued.py) says yes only where PyJWT says yes.

Every token here goes through both: `IssuedTokens.verify` (the fast path) and PyJWT's
`decode` with TokenService's options. A token the fast path accepts must be accepted by PyJWT
with the same claims; everything PyJWT refuses, the fast path must leave to it (None).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from typing import Any

import jwt
import pytest

from app.auth.tokens import ALGORITHM, LEEWAY_SECONDS, TokenService
from app.errors import NotAuthenticated
from app.settings import Settings
from tests.conftest import make_settings
from tests.helpers import token_claims as _claims
from tests.security.test_tokens import _b64, _raw


@pytest.fixture(scope="module")
def settings() -> Settings:
    return make_settings(jwt_previous_secrets="old-kid:an-old-secret-of-enough-length-123456")


def pyjwt(settings: Settings, token: str) -> dict[str, Any] | None:
    """What PyJWT, configured as TokenService configures it, makes of the token."""
    try:
        kid = str(jwt.get_unverified_header(token).get("kid"))
        key = settings.verification_keys.get(kid)
        if key is None:
            return None
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "typ"]},
            leeway=LEEWAY_SECONDS,
        )
    except jwt.PyJWTError:
        return None
    return claims


def fast(service: TokenService, token: str) -> dict[str, Any] | None:
    return service._issued.verify(token)


def test_tokens_as_issued_take_the_fast_path_with_pyjwts_claims(settings: Settings) -> None:
    service = TokenService(settings)
    for typ in ("access", "refresh"):
        token = service.issue(typ, "user-1", "admin", family="fam-1").token
        claims = fast(service, token)
        assert claims is not None
        assert claims == pyjwt(settings, token)
        assert service.decode(token, typ).sub == "user-1"


def test_a_token_of_a_previous_key_takes_the_fast_path_too(settings: Settings) -> None:
    service = TokenService(settings)
    old = jwt.encode(
        _claims(settings, "u"),
        "an-old-secret-of-enough-length-123456",
        algorithm="HS256",
        headers={"kid": "old-kid"},
    )
    assert fast(service, old) is not None
    assert fast(service, old) == pyjwt(settings, old)


def _signed(header_segment: str, payload: bytes, secret: str) -> str:
    """Our header, any payload, a correct signature: only the payload can be wrong."""
    signing_input = f"{header_segment}.{_b64(payload)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _signed_segment(header_segment: str, payload_segment: str, secret: str) -> str:
    """A correct signature over segments exactly as given (encoded canonically or not)."""
    signing_input = f"{header_segment}.{payload_segment}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _padding_bits_set(segment: str) -> str:
    """The same bytes to a lenient decoder: the last character's unused low bits set."""
    assert len(segment) % 4 in (2, 3), "this segment has no unused bits"
    last = _URLSAFE.index(segment[-1])
    return segment[:-1] + _URLSAFE[last | (0b1111 if len(segment) % 4 == 2 else 0b11)]


def _mutations(settings: Settings, service: TokenService) -> dict[str, str]:
    secret = settings.signing_secret
    kid = settings.jwt_kid
    good = service.issue("access", "user-1", "user").token
    head, body, sig = good.split(".")
    now = int(time.time())

    def ours(**overrides: Any) -> str:  # our exact header, our key, other claims
        claims = _claims(settings, "user-1", **overrides)
        return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})

    return {
        "expired": ours(exp=now - LEEWAY_SECONDS - 1),
        "not_yet_valid_nbf": ours(nbf=now + LEEWAY_SECONDS + 30),
        "issued_in_the_future": ours(iat=now + LEEWAY_SECONDS + 30),
        "bool_exp": ours(exp=True),
        "float_exp": ours(exp=now + 600.5),
        "string_exp": ours(exp=str(now + 600)),
        "audience_list": ours(aud=[settings.jwt_audience]),
        "other_audience": ours(aud="someone-else"),
        "other_issuer": ours(iss="someone-else"),
        "no_jti": ours(jti=None),
        "no_typ": ours(typ=None),
        "int_sub": ours(sub=42),
        "other_key": jwt.encode(
            _claims(settings, "u"), "x" * 40, algorithm="HS256", headers={"kid": kid}
        ),
        "reordered_header": _raw(
            {"kid": kid, "alg": "HS256", "typ": "JWT"}, _claims(settings, "u"), secret.encode()
        ),
        "extra_header_field": jwt.encode(
            _claims(settings, "u"), secret, algorithm="HS256", headers={"kid": kid, "x": 1}
        ),
        "alg_none": _raw({"alg": "none", "kid": kid}, _claims(settings, "u"), None),
        "signature_stripped": f"{head}.{body}.",
        "signature_flipped": f"{head}.{body}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}",
        "signature_padding_bits": f"{head}.{body}.{_padding_bits_set(sig)}",
        "payload_padding_bits": _signed_segment(head, _noncanonical(body), secret),
        "payload_of_strings": _signed(head, b'{"exp": "soon"}', secret),
        "payload_swapped": f"{head}.{_b64(json.dumps(_claims(settings, 'admin')).encode())}.{sig}",
        "payload_not_json": f"{head}.{_b64(b'not json')}.{sig}",
        "payload_a_list": _signed(head, b"[]", secret),
        "four_segments": f"{good}.x",
        "two_segments": f"{head}.{body}",
        "garbage": "garbage",
        "empty": "",
        "bad_base64": f"{head}.!!!.{sig}",
    }


def _noncanonical(body: str) -> str:
    """The payload segment with its unused bits set, padding the JSON until it has some."""
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    while len(_b64(json.dumps(claims).encode())) % 4 not in (2, 3):
        claims["pad"] = claims.get("pad", "") + "x"
    return _padding_bits_set(_b64(json.dumps(claims).encode()))


def test_the_fast_path_never_accepts_what_pyjwt_refuses(settings: Settings) -> None:
    service = TokenService(settings)
    for name, token in _mutations(settings, service).items():
        accepted = fast(service, token)
        reference = pyjwt(settings, token)
        if accepted is not None:
            assert accepted == reference, name
        if reference is None:
            assert accepted is None, name
            with pytest.raises(NotAuthenticated):
                service.decode(token, "access")


def test_encodings_a_lenient_decoder_accepts_are_left_to_pyjwt(settings: Settings) -> None:
    """Set padding bits decode to the same bytes; the fast path still says no (PyJWT decides)."""
    service = TokenService(settings)
    head, body, sig = service.issue("access", "user-1", "user").token.split(".")
    for token in (
        f"{head}.{body}.{_padding_bits_set(sig)}",
        _signed_segment(head, _noncanonical(body), settings.signing_secret),
    ):
        assert fast(service, token) is None


def test_random_corruptions_never_pass_the_fast_path_alone(settings: Settings) -> None:
    service = TokenService(settings)
    token = service.issue("access", "user-1", "user").token
    rng = random.Random(7)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for _ in range(2_000):
        chars = list(token)
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        corrupted = "".join(chars)
        if corrupted == token:
            continue
        accepted = fast(service, corrupted)
        if accepted is not None:  # only a change base64 ignores (padding bits) may pass
            assert accepted == pyjwt(settings, corrupted)
