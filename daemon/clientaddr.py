"""Who sent a request: the peer, or, behind a proxy we trust, the address it forwarded.

`X-Forwarded-For` is believed only when the peer is in TRUSTED_PROXIES; anyone else could
write any address there and so pick their own rate-limit bucket. Each proxy appends the
address it received from, so the list is read right to left, skipping trusted hops: the
first untrusted address is the client (everything left of it is the client's own claim).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from core.settings import IpNetwork

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Clients that rotate through an IPv6 /64 (one host's usual allocation) share one bucket.
_V6_PREFIX = 64


def _parse(text: str) -> IpAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IpAddress, trusted: Iterable[IpNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: tuple[IpNetwork, ...]
) -> IpAddress | None:
    """The client's address; None when the peer is unknown (a Unix socket)."""
    address = _parse(peer) if peer else None
    if address is None or not trusted or not _trusted(address, trusted):
        return address
    hops = [h for header in forwarded_for for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            return address  # a garbled hop: stop at the last proxy we trust
        address = parsed
        if not _trusted(address, trusted):
            return address
    return address  # every hop is a trusted proxy: the left-most is as far as we can see


def bucket_key(address: IpAddress | None) -> str:
    """The rate-limit key for an address (an IPv6 client's /64)."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, _V6_PREFIX), strict=False))
    return str(address)
