"""The verdict on a found key: a pure function, so every branch is tested without I/O."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv6Address

from keyplane.keys.model import Code, IPAddress, StoredKey
from keyplane.keys.permissions import PermissionQuery

_V4_MAPPED = bytes(10) + b"\xff\xff"


def decide(
    key: StoredKey, *, now: datetime, ip: IPAddress | None, need: PermissionQuery | None
) -> Code:
    """Revocation first (a revoked key is refused whatever else is true), then expiry,
    the enabled flag, the IP allow-list and finally permissions."""
    if key.revoked_at is not None:
        return Code.REVOKED
    config = key.config
    if config.expires_at is not None and config.expires_at <= now:
        return Code.EXPIRED
    if not config.enabled:
        return Code.DISABLED
    if config.ip_allowlist and (ip is None or not _allowed(ip, key)):
        return Code.FORBIDDEN_IP
    if need is not None and not need.satisfied_by(key.grants):
        return Code.INSUFFICIENT_PERMISSIONS
    return Code.VALID


def _allowed(ip: IPAddress, key: StoredKey) -> bool:
    networks = key.config.ip_allowlist
    if any(ip in net for net in networks):
        return True
    # An IPv4 client seen through an IPv6 socket (::ffff:203.0.113.7) is that IPv4 client,
    # and an allow-list may name it either way (203.0.113.0/24 or ::ffff:203.0.113.0/120).
    if isinstance(ip, IPv6Address):
        other: IPAddress | None = ip.ipv4_mapped
    else:
        other = IPv6Address(_V4_MAPPED + ip.packed)
    return other is not None and any(other in net for net in networks)
