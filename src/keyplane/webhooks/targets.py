"""Where a webhook may point: the private-address guard (server-side request forgery).

The host is resolved and every address it resolves to must be public: private (RFC 1918,
unique-local), loopback, link-local (which holds the cloud metadata address
169.254.169.254), carrier-grade NAT, multicast, reserved and unspecified addresses are
refused, and IPv4 addresses inside IPv6 (mapped, 6to4, NAT64...) are judged as IPv4.
Delivery resolves again and connects to the address it checked, so a name that
re-resolves to a private address after creation (DNS rebinding) reaches nothing.
`KEYPLANE_WEBHOOKS_ALLOW_PRIVATE=true` lifts the guard (development and tests).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL is malformed, does not resolve, or reaches a refused address."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    host: str
    port: int
    scheme: str
    address: str | None  # the checked address to connect to; None when the guard is off


def parse_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; raises TargetRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("must not hold credentials")
    if parts.fragment:
        raise TargetRefused("must not have a fragment")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in ipaddress.ip_network("64:ff9b::/96"):
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The target of `url`, its host resolved and every address checked; raises
    TargetRefused (the reason names no address the caller could not see anyway)."""
    scheme, host, port = parse_url(url)
    if allow_private:
        return Target(url=url, host=host, port=port, scheme=scheme, address=None)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise TargetRefused(f"the host {host} does not resolve ({exc})") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise TargetRefused(f"the host {host} does not resolve")
    refused = [a for a in addresses if not is_public(a)]
    if refused:
        raise TargetRefused(f"the host {host} resolves to a private, loopback, link-local or "
                            "otherwise non-public address; set KEYPLANE_WEBHOOKS_ALLOW_PRIVATE=true "
                            "to allow it (development only)")
    return Target(url=url, host=host, port=port, scheme=scheme, address=str(addresses[0]))
