"""CLIENT_IP_HEADER (e.g. CloudFront's `CloudFront-Viewer-Address`): the client's address as
our proxy writes it, believed only from TRUSTED_PROXIES; anything unreadable falls back to the
`X-Forwarded-For` walk. The real processes: tests/security/test_forwarded_headers.py."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from pydantic import ValidationError
from starlette.types import Scope

from app.platform.client_ip import ClientAddress, parse_networks, parse_viewer_address
from tests.conftest import make_settings

HEADER = "CloudFront-Viewer-Address"
TRUSTED = parse_networks("10.0.0.0/8")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("198.51.100.10:46532", "198.51.100.10"),  # AWS's example
        ("2406:2d40:728d:fa10::c4a:42838", "2406:2d40:728d:fa10::c4a"),  # as CloudFront sends IPv6
        ("2001:db8::1:443", "2001:db8::1"),  # ambiguous: read as address and port
        ("[2001:db8::1]:46532", "2001:db8::1"),
        ("198.51.100.10", "198.51.100.10"),  # a bare IP is tolerated
        ("2001:db8::1", "2001:db8::1"),
        ("2001:db8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:198.51.100.10:1234", "198.51.100.10"),
        (" 198.51.100.10:1 ", "198.51.100.10"),
        ("", None),
        ("garbage", None),
        ("garbage:443", None),
        ("198.51.100.10:99999", None),  # no such port, and no address either
        ("198.51.100.10:", None),
        ("198.51.100.10, 6.6.6.6", None),
        ("1.2.3.4:5:6", None),
        ("[2001:db8::1]x", None),
        ("[198.51.100.10]:80", None),
        ("[2001:db8::1", None),
        ("198.51.100.10:٤٤٣", None),  # non-ASCII digits are not a port
    ],
)
def test_parse_viewer_address(value: str, expected: str | None) -> None:
    parsed = parse_viewer_address(value)
    assert (str(parsed) if parsed is not None else None) == expected
    if expected is not None:
        assert parsed == ip_address(expected)


def scope(peer: str, viewer: list[str] | None = None, forwarded: str | None = None) -> Scope:
    headers = [(HEADER.lower().encode(), value.encode("latin-1")) for value in viewer or []]
    if forwarded is not None:
        headers.append((b"x-forwarded-for", forwarded.encode()))
    return {"type": "http", "client": (peer, 1234), "headers": headers}


@pytest.mark.parametrize(
    ("request_scope", "expected"),
    [
        # From our proxy: the header wins over X-Forwarded-For.
        (scope("10.0.0.5", ["198.51.100.10:46532"], "6.6.6.6, 130.176.0.1"), "198.51.100.10"),
        (scope("10.0.0.5", ["2001:db8::7:443"]), "2001:db8::7"),
        # From anyone else: ignored, whatever it says; the peer is the client.
        (scope("192.0.2.1", ["198.51.100.10:46532"]), "192.0.2.1"),
        (scope("192.0.2.1", ["198.51.100.10:46532"], "198.51.100.11"), "192.0.2.1"),
        # Unreadable, missing or repeated: the X-Forwarded-For walk, never the value.
        (scope("10.0.0.5", ["garbage"], "198.51.100.9, 130.176.0.1"), "130.176.0.1"),
        (scope("10.0.0.5", ["garbage"], "198.51.100.9"), "198.51.100.9"),
        (scope("10.0.0.5", [], "198.51.100.9"), "198.51.100.9"),
        (scope("10.0.0.5", ["198.51.100.10:1", "6.6.6.6:2"], "198.51.100.9"), "198.51.100.9"),
        (scope("10.0.0.5", ["garbage"]), "10.0.0.5"),
    ],
)
def test_the_header_counts_only_from_a_trusted_proxy(request_scope: Scope, expected: str) -> None:
    assert ClientAddress(TRUSTED, HEADER)(request_scope) == expected


def test_without_the_setting_the_header_is_not_read() -> None:
    request = scope("10.0.0.5", ["198.51.100.10:46532"], "198.51.100.9")
    assert ClientAddress(TRUSTED)(request) == "198.51.100.9"
    assert ClientAddress((), HEADER)(request) == "10.0.0.5"  # no proxies trusted: the peer


def test_the_header_name_is_matched_whatever_its_case() -> None:
    request = scope("10.0.0.5", ["198.51.100.10:46532"])
    assert ClientAddress(TRUSTED, "cloudfront-viewer-address")(request) == "198.51.100.10"
    assert ClientAddress(TRUSTED, " CLOUDFRONT-VIEWER-ADDRESS ")(request) == "198.51.100.10"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"client_ip_header": HEADER}, "CLIENT_IP_HEADER='CloudFront-Viewer-Address' is believed"),
        (
            {"client_ip_header": "CloudFront-Viewer-Address: 1", "trusted_proxies": "10.0.0.0/8"},
            "is not a header name",
        ),
    ],
)
def test_settings_refuse_a_header_they_cannot_use(overrides: dict[str, str], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        make_settings(**overrides)


def test_settings_take_the_header_with_trusted_proxies() -> None:
    settings = make_settings(client_ip_header=HEADER, trusted_proxies="10.0.0.0/8")
    assert settings.client_ip_header == HEADER
