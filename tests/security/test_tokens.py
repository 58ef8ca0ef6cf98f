"""API2:2023 Broken Authentication: forged, confused and misplaced tokens are refused.

tests/auth/test_api.py already refuses alg=none, a wrong key, HS512, an unknown kid, a refresh
token as access token, expired, future nbf, wrong aud, wrong iss, no exp, garbage, and an
access token as a refresh token. This adds the rest of the usual forgery set: HS/RS algorithm
confusion, header-supplied keys (jwk, jku, x5u), kid injection, `none` in other spellings, a
stripped signature, missing claims, and tokens of the app's other kinds (a ticket code, a queue
pass) used as access tokens; and where tokens are accepted at all (header only).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from app.checkout.tickets import TicketSigner
from app.settings import Settings
from app.waiting_room.passes import PassSigner
from tests.conftest import Account
from tests.helpers import container_of
from tests.helpers import token_claims as _claims

ME = "/api/v1/auth/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _raw(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A token assembled by hand (PyJWT refuses to make most of these)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = (
        b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    )
    return f"{signing_input}.{_b64(signature)}"


def _forgeries(settings: Settings, sub: str) -> dict[str, str]:
    secret = settings.signing_secret.encode()
    kid = settings.jwt_kid
    good = _claims(settings, sub)
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_pem = attacker.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    valid = jwt.encode(good, settings.signing_secret, algorithm="HS256", headers={"kid": kid})
    head, body, signature = valid.split(".")
    other = _claims(settings, "someone-else")
    return {
        # HS/RS confusion: "RS256" in the header, HMAC'd with the secret as if it were a key.
        "rs256_header_hmac_signed": _raw({"alg": "RS256", "kid": kid}, good, secret),
        # A real RS256 token by a key the attacker made, offered inline or by URL.
        "rs256_embedded_jwk": jwt.encode(
            good, attacker_pem, algorithm="RS256", headers={"kid": kid, "jwk": public_jwk}
        ),
        "rs256_jku": jwt.encode(
            good,
            attacker_pem,
            algorithm="RS256",
            headers={"kid": kid, "jku": "https://evil.example/jwks.json"},
        ),
        "rs256_x5u": jwt.encode(
            good,
            attacker_pem,
            algorithm="RS256",
            headers={"kid": kid, "x5u": "https://evil.example/cert.pem"},
        ),
        # kid as an injection vector: path traversal, SQL, an empty key.
        "kid_path_traversal": _raw({"alg": "HS256", "kid": "../../../../dev/null"}, good, b""),
        "kid_sql": _raw({"alg": "HS256", "kid": "x' OR '1'='1"}, good, secret),
        "no_kid": _raw({"alg": "HS256"}, good, secret),
        "none_capitalised": _raw({"alg": "None", "kid": kid}, good, None),
        "none_upper": _raw({"alg": "NONE", "kid": kid}, good, None),
        "signature_stripped": f"{head}.{body}.",
        "signature_of_other_token": f"{head}.{_b64(json.dumps(other).encode())}.{signature}",
        "no_sub": jwt.encode(
            _claims(settings, sub, sub=None),
            settings.signing_secret,
            algorithm="HS256",
            headers={"kid": kid},
        ),
        "no_jti": jwt.encode(
            _claims(settings, sub, jti=None),
            settings.signing_secret,
            algorithm="HS256",
            headers={"kid": kid},
        ),
        "no_typ": jwt.encode(
            _claims(settings, sub, typ=None),
            settings.signing_secret,
            algorithm="HS256",
            headers={"kid": kid},
        ),
        "ticket_typ": jwt.encode(
            _claims(settings, sub, typ="ticket"),
            settings.signing_secret,
            algorithm="HS256",
            headers={"kid": kid},
        ),
        "huge": "a" * 20_000,
    }


FORGERIES = [
    "rs256_header_hmac_signed",
    "rs256_embedded_jwk",
    "rs256_jku",
    "rs256_x5u",
    "kid_path_traversal",
    "kid_sql",
    "no_kid",
    "none_capitalised",
    "none_upper",
    "signature_stripped",
    "signature_of_other_token",
    "no_sub",
    "no_jti",
    "no_typ",
    "ticket_typ",
    "huge",
]


@pytest.mark.parametrize("kind", FORGERIES)
async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient, app: FastAPI, user: Account, kind: str
) -> None:
    token = _forgeries(container_of(app).settings, user.id)[kind]
    for method, url in (("GET", ME), ("POST", "/api/v1/concerts")):
        r = await client.request(method, url, json={}, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (kind, url, r.text)
        assert r.json()["error"] == "NotAuthenticated"
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_control_the_hand_made_construction_passes_when_honest(app: FastAPI) -> None:
    """The hand-assembled tokens above are refused for what is wrong in them, not because the
    assembly is broken: the same assembly with the right header and key is accepted."""
    settings = container_of(app).settings
    token = _raw(
        {"alg": "HS256", "typ": "JWT", "kid": settings.jwt_kid},
        _claims(settings, "u1"),
        settings.signing_secret.encode(),
    )
    assert container_of(app).tokens.decode(token, "access").sub == "u1"


async def test_the_apps_other_signed_strings_are_not_access_tokens(
    client: httpx.AsyncClient, app: FastAPI, user: Account
) -> None:
    settings = container_of(app).settings
    queue_pass = PassSigner(settings.signing_secret, settings.jwt_issuer).sign(
        user.id, "c1", int(time.time() * 1000) + 60_000
    )
    ticket = TicketSigner(settings.ticket_signing_secret, settings.jwt_issuer).sign(
        "t1", "o1", "c1", "floor-A-1"
    )
    for token in (queue_pass, ticket):
        r = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, r.text


async def test_tokens_are_read_from_the_authorization_header_only(
    client: httpx.AsyncClient, user: Account
) -> None:
    token = user.access_token
    for attempt in (
        client.get(ME, params={"access_token": token}),
        client.get(ME, params={"token": token}),
        client.get(ME, headers={"Cookie": f"access_token={token}"}),
        client.get(ME, headers={"X-Access-Token": token}),
        client.get(ME, headers={"Authorization": f"Basic {token}"}),
        client.get(ME, headers={"Authorization": token}),
    ):
        r = await attempt
        assert r.status_code == 401, r.text
    assert (await client.get(ME, headers=user.headers)).status_code == 200  # control
