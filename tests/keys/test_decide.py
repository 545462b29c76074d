"""The verdict on a found key: every branch, and which one wins when several apply."""

from __future__ import annotations

import dataclasses
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keyplane.keys.decide import decide
from keyplane.keys.model import Code, IPAddress, KeyConfig, StoredKey
from keyplane.keys.permissions import Grants, PermissionQuery, parse_query

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLIENT = ipaddress.ip_address("203.0.113.7")


def stored_key(*, revoked_at: datetime | None = None, grants: tuple[str, ...] = ("documents.read",),
               **config: Any) -> StoredKey:
    return StoredKey(id="key_01jd8x0000000000000000000a", api_id="api_01jd8x0000000000000000000a",
                     start="sk_test_AbCd", config=KeyConfig(**config),
                     created_at=NOW - timedelta(days=1), updated_at=NOW - timedelta(days=1),
                     revoked_at=revoked_at, grants=Grants.of(grants))


def verdict(key: StoredKey, *, ip: str | None = "203.0.113.7", need: str | None = None,
            now: datetime = NOW) -> Code:
    address: IPAddress | None = ipaddress.ip_address(ip) if ip is not None else None
    query: PermissionQuery | None = parse_query(need) if need is not None else None
    return decide(key, now=now, ip=address, need=query)


def networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def test_a_plain_enabled_key_is_valid() -> None:
    assert verdict(stored_key()) is Code.VALID
    assert verdict(stored_key(), ip=None) is Code.VALID


def test_a_revoked_key_is_revoked() -> None:
    assert verdict(stored_key(revoked_at=NOW - timedelta(seconds=1))) is Code.REVOKED


def test_a_key_revoked_in_the_future_is_revoked_already() -> None:
    # Revocation is immediate: the stored time is when it happened, never a schedule.
    assert verdict(stored_key(revoked_at=NOW + timedelta(seconds=1))) is Code.REVOKED


def test_a_key_expires_at_its_expiry_instant() -> None:
    expires_at = NOW
    key = stored_key(expires_at=expires_at)
    assert verdict(key, now=expires_at - timedelta(microseconds=1)) is Code.VALID
    assert verdict(key, now=expires_at) is Code.EXPIRED
    assert verdict(key, now=expires_at + timedelta(days=365)) is Code.EXPIRED


def test_a_disabled_key_is_disabled() -> None:
    assert verdict(stored_key(enabled=False)) is Code.DISABLED


def test_a_key_with_an_allow_list_refuses_other_addresses() -> None:
    key = stored_key(ip_allowlist=networks("198.51.100.0/24"))
    assert verdict(key, ip="198.51.100.200") is Code.VALID
    assert verdict(key, ip="198.51.101.1") is Code.FORBIDDEN_IP


def test_a_key_with_an_allow_list_refuses_a_request_with_no_address() -> None:
    key = stored_key(ip_allowlist=networks("0.0.0.0/0", "::/0"))
    assert verdict(key, ip=None) is Code.FORBIDDEN_IP
    assert verdict(key, ip="192.0.2.1") is Code.VALID


def test_any_network_of_the_allow_list_admits_the_address() -> None:
    key = stored_key(ip_allowlist=networks("10.0.0.0/8", "192.0.2.4/32", "2001:db8::/32"))
    assert verdict(key, ip="10.255.0.1") is Code.VALID
    assert verdict(key, ip="192.0.2.4") is Code.VALID
    assert verdict(key, ip="192.0.2.5") is Code.FORBIDDEN_IP
    assert verdict(key, ip="2001:db8:1::1") is Code.VALID
    assert verdict(key, ip="2001:db9::1") is Code.FORBIDDEN_IP


def test_an_ipv6_allow_list_refuses_ipv4_clients_and_the_reverse() -> None:
    assert verdict(stored_key(ip_allowlist=networks("2000::/3")), ip="192.0.2.1") is Code.FORBIDDEN_IP
    assert verdict(stored_key(ip_allowlist=networks("0.0.0.0/0")), ip="2001:db8::1") is Code.FORBIDDEN_IP


def test_an_ipv4_client_is_judged_alike_whatever_socket_it_came_through() -> None:
    for cidrs in (("::/0",), ("0.0.0.0/0",), ("192.0.2.0/24",), ("2000::/3",), ("::ffff:0:0/96",)):
        key = stored_key(ip_allowlist=networks(*cidrs))
        assert verdict(key, ip="192.0.2.1") is verdict(key, ip="::ffff:192.0.2.1"), cidrs


def test_an_ipv4_client_seen_through_an_ipv6_socket_matches_its_ipv4_network() -> None:
    key = stored_key(ip_allowlist=networks("203.0.113.0/24"))
    assert verdict(key, ip="::ffff:203.0.113.7") is Code.VALID
    assert verdict(key, ip="::ffff:203.0.114.7") is Code.FORBIDDEN_IP


def test_an_ipv4_mapped_client_matches_an_allow_list_written_in_ipv6() -> None:
    key = stored_key(ip_allowlist=networks("::ffff:203.0.113.0/120"))
    assert verdict(key, ip="::ffff:203.0.113.7") is Code.VALID
    assert verdict(key, ip="::ffff:203.0.114.7") is Code.FORBIDDEN_IP


def test_a_key_lacking_a_needed_permission_is_insufficient() -> None:
    key = stored_key(grants=("documents.read",))
    assert verdict(key, need="documents.read") is Code.VALID
    assert verdict(key, need="documents.write") is Code.INSUFFICIENT_PERMISSIONS
    assert verdict(key, need="documents.read AND documents.write") is Code.INSUFFICIENT_PERMISSIONS
    assert verdict(key, need="documents.read OR documents.write") is Code.VALID


def test_permissions_come_from_the_grants_which_include_role_permissions() -> None:
    key = stored_key(permissions=("documents.read",), grants=("documents.read", "documents.*"))
    assert verdict(key, need="documents.write") is Code.VALID


def test_a_key_with_no_grants_satisfies_no_need_but_is_valid_without_one() -> None:
    key = stored_key(grants=())
    assert verdict(key) is Code.VALID
    assert verdict(key, need="a") is Code.INSUFFICIENT_PERMISSIONS


def test_revoked_beats_expired_beats_disabled_beats_ip_beats_permissions() -> None:
    everything_wrong: dict[str, Any] = dict(
        revoked_at=NOW - timedelta(days=1), expires_at=NOW, enabled=False,
        ip_allowlist=networks("10.0.0.0/8"), grants=(),
    )
    order = [("revoked_at", None, Code.REVOKED), ("expires_at", None, Code.EXPIRED),
             ("enabled", True, Code.DISABLED), ("ip_allowlist", (), Code.FORBIDDEN_IP),
             ("grants", ("documents.write",), Code.INSUFFICIENT_PERMISSIONS)]
    for name, fixed, code in order:
        assert verdict(stored_key(**everything_wrong), need="documents.write") is code
        everything_wrong[name] = fixed
    assert verdict(stored_key(**everything_wrong), need="documents.write") is Code.VALID


FAULTS: dict[str, tuple[Code, dict[str, Any]]] = {
    "revoked": (Code.REVOKED, {"revoked_at": NOW - timedelta(seconds=5)}),
    "expired": (Code.EXPIRED, {"expires_at": NOW - timedelta(seconds=5)}),
    "disabled": (Code.DISABLED, {"enabled": False}),
    "ip": (Code.FORBIDDEN_IP, {"ip_allowlist": networks("10.0.0.0/8")}),
    "permissions": (Code.INSUFFICIENT_PERMISSIONS, {"grants": ("other.read",)}),
}


@settings(max_examples=100, deadline=None)
@given(st.sets(st.sampled_from(sorted(FAULTS))))
def test_the_first_fault_in_order_is_the_verdict(faults: set[str]) -> None:
    fields: dict[str, Any] = {}
    for name in faults:
        fields.update(FAULTS[name][1])
    expected = next((FAULTS[n][0] for n in FAULTS if n in faults), Code.VALID)
    assert verdict(stored_key(**fields), need="documents.read") is expected


def test_decide_reads_the_key_config_not_a_copy() -> None:
    key = stored_key()
    disabled = dataclasses.replace(key, config=dataclasses.replace(key.config, enabled=False))
    assert verdict(key) is Code.VALID
    assert verdict(disabled) is Code.DISABLED


def test_an_ipv4_client_matches_an_allow_list_written_as_ipv4_mapped_ipv6() -> None:
    key = stored_key(ip_allowlist=networks("::ffff:203.0.113.0/120"))
    assert verdict(key, ip="203.0.113.7") is Code.VALID
    assert verdict(key, ip="203.0.114.7") is Code.FORBIDDEN_IP
