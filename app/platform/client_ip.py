"""The client's IP address, believing `X-Forwarded-For` only from our own proxies.

Anyone can send `X-Forwarded-For: 1.2.3.4`. Believing it from anyone would let a client pick
its own rate-limit key, a fresh one per request. Each proxy *appends* the address it received
the request from, so only the right end of the list is written by machines we trust. So: if
the direct peer is one of TRUSTED_PROXIES, walk the list from the right, skip our own proxies,
and the first other address is the client. A peer that is not a trusted proxy is the client,
whatever the header says.

`X-Forwarded-Proto` likewise: from one of our proxies it names the scheme the client used (the
app's own absolute URLs, e.g. a trailing-slash redirect, then say https behind a TLS
terminator); from anyone else it is ignored. `ForwardedProto` applies it.

uvicorn has its own handling of both headers (`--proxy-headers`), on by default and trusting
127.0.0.1: every launcher turns it off (`app/serve.py`, `make run`), so that this module alone
decides (tests/security/test_forwarded_headers.py starts the real processes).

CLIENT_IP_HEADER (e.g. `CloudFront-Viewer-Address`) names a header in which our proxy writes
the client's address itself, `IP[:port]`: from one of TRUSTED_PROXIES it wins over the
`X-Forwarded-For` walk (a CDN whose edge servers have many, changing addresses then needs no
list of them in TRUSTED_PROXIES). From anyone else it is ignored, like `X-Forwarded-For`. A
missing, repeated or unparsable value falls back to the walk, never to the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ClientAddress",
    "ForwardedProto",
    "Network",
    "client_key",
    "parse_header_name",
    "parse_networks",
    "parse_viewer_address",
]

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"  # no peer address (e.g. a Unix socket without a proxy in front)


def parse_networks(value: str) -> tuple[Network, ...]:
    """TRUSTED_PROXIES: comma separated IPs or CIDRs, e.g. `10.0.0.0/8, 192.0.2.7`."""
    networks: list[Network] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR; use comma separated "
                "values such as '10.0.0.0/8, 192.0.2.7'."
            ) from None
    return tuple(networks)


def parse_header_name(value: str) -> bytes:
    """CLIENT_IP_HEADER: one header name (letters, digits, `-`), as ASGI spells it (lower case
    bytes); empty for none."""
    name = value.strip()
    if name and not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
        raise ValueError(
            f"CLIENT_IP_HEADER={value!r} is not a header name: use one name such as "
            "'CloudFront-Viewer-Address', or leave it unset."
        )
    return name.lower().encode("ascii")


def _ip(text: str) -> IPv4Address | IPv6Address | None:
    try:
        ip = ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d
    return ip


def parse_viewer_address(value: str) -> IPv4Address | IPv6Address | None:
    """The address in a CLIENT_IP_HEADER value: `IP:port` as CloudFront writes it
    (`198.51.100.10:46532`, IPv6 without brackets: `2001:db8::1:46532`), `[IPv6]:port`, or a
    bare IP. None for anything else. A value that reads both as an IPv6 address and as one
    with a port (`2001:db8::1:443`) is taken as address and port, the form CloudFront sends."""
    text = value.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not (rest[:1] == ":" and _is_port(rest[1:]))):
            return None
        return _ip(host) if ":" in host else None
    host, colon, port = text.rpartition(":")
    if colon and _is_port(port):
        ip = _ip(host)
        if ip is not None:
            return ip
    return _ip(text)


def _is_port(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit() and int(text) <= 65535


def _parse(address: str) -> IPv4Address | IPv6Address | None:
    """An address as a proxy may write it (`1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`)."""
    text = address.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return _ip(text)


def client_key(address: str) -> str:
    """The key a client counts under (rate limits, stream caps): its address, but an IPv6
    client per /64, as one host usually has a whole /64 to pick addresses from."""
    if ":" not in address:
        return address
    try:
        return str(ip_network(f"{address}/64", strict=False))
    except ValueError:
        return address


class ClientAddress:
    """Callable on an ASGI scope; returns the client's address as a string."""

    def __init__(self, trusted_proxies: Sequence[Network], client_ip_header: str = "") -> None:
        self._trusted = tuple(trusted_proxies)
        self._header = parse_header_name(client_ip_header)

    def _is_trusted(self, ip: IPv4Address | IPv6Address) -> bool:
        return any(ip in network for network in self._trusted)

    def from_proxy(self, scope: Scope) -> bool:
        """Whether the direct peer is one of our proxies."""
        client = scope.get("client")
        if not self._trusted or not client:
            return False
        hop = _parse(str(client[0]))
        return hop is not None and self._is_trusted(hop)

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        if not self._trusted:
            return peer or UNKNOWN  # the common case costs no parsing
        hop = _parse(peer)
        if hop is None or not self._is_trusted(hop):
            return peer or UNKNOWN
        if self._header:
            sent = [value for name, value in scope["headers"] if name == self._header]
            if len(sent) == 1:  # two: not one proxy's word; walk X-Forwarded-For instead
                viewer = parse_viewer_address(sent[0].decode("latin-1"))
                if viewer is not None:
                    return str(viewer)
        forwarded = b",".join(
            value for name, value in scope["headers"] if name == b"x-forwarded-for"
        ).decode("latin-1")
        for entry in reversed(forwarded.split(",")):
            if not entry.strip():
                continue
            ip = _parse(entry)
            if ip is None:
                break  # garbage where our proxy should have written an address: stop at our hop
            hop = ip
            if not self._is_trusted(ip):
                break
        return str(hop)


_SCHEMES = frozenset({"http", "https"})


class ForwardedProto:
    """The request's scheme from `X-Forwarded-Proto`, only when our own proxy sent it (the
    right-most value: the one our proxy wrote). Install it only with TRUSTED_PROXIES set."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network]) -> None:
        self.app = app
        self._proxies = ClientAddress(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._proxies.from_proxy(scope):
            sent = [value for name, value in scope["headers"] if name == b"x-forwarded-proto"]
            if sent:
                proto = sent[-1].decode("latin-1").rpartition(",")[2].strip().lower()
                if proto in _SCHEMES:
                    scope = {**scope, "scheme": proto}
        await self.app(scope, receive, send)
