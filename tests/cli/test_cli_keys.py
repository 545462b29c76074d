"""`keyplane keys ...` against a live service: the life of a key, typed at a shell."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.live

KEY = re.compile(r"\b[a-z][a-z0-9_]*_[0-9A-Za-z]{28}\b")


@pytest.fixture
def api(keyplane) -> dict:
    made = keyplane("apis", "create", "documents", "--key-prefix", "sk_doc", "--json")
    assert made.exit_code == 0, made.stderr
    return json.loads(made.stdout)


def _create(keyplane, api_id: str, *args: str) -> dict:
    made = keyplane("keys", "create", "--api-id", api_id, *args, "--json")
    assert made.exit_code == 0, made.stderr
    return json.loads(made.stdout)


def _verify(keyplane, key: str, *args: str):
    return keyplane("keys", "verify", key, *args)


def test_keys_create_prints_the_key_once_clearly_labelled(keyplane, api) -> None:
    made = keyplane("keys", "create", "--api-id", api["id"], "--name", "mobile app",
                    "--owner-id", "team_42", "-p", "documents.read", "--permission", "documents.write",
                    "--ttl-seconds", "3600", "--metadata", '{"plan": "pro"}',
                    "--ip", "203.0.113.0/24", "--ratelimit", "requests:100:60", "--credits", "5")
    assert made.exit_code == 0, made.stderr
    assert made.stdout.startswith("Created key key_")
    keys = KEY.findall(made.stdout)
    assert len(keys) == 1 and keys[0].startswith("sk_doc_")
    assert "Key (shown only this once" in made.stdout
    for line in ("name          mobile app", "owner_id      team_42",
                 "permissions   documents.read, documents.write", 'metadata      {"plan":"pro"}',
                 "ip_allowlist  203.0.113.0/24", "ratelimits    requests 100/60s",
                 "credits       5", "status        active"):
        assert line in made.stdout


def test_keys_create_json_is_the_raw_response_with_the_key(keyplane, api) -> None:
    key = _create(keyplane, api["id"], "--owner-id", "team_7", "--disabled",
                  "--expires-at", "2099-01-01T00:00:00Z")
    assert key["key"].startswith("sk_doc_")
    assert key["owner_id"] == "team_7" and key["enabled"] is False
    assert key["expires_at"].startswith("2099-01-01T00:00:00")


def test_listing_and_showing_keys_never_prints_a_key(keyplane, api) -> None:
    key = _create(keyplane, api["id"], "--name", "quiet")
    listed = keyplane("keys", "list", "--api-id", api["id"])
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[0].split() == [
        "ID", "NAME", "OWNER", "START", "PERMISSIONS", "ROLES", "EXPIRES", "STATUS"]
    assert key["id"] in listed.stdout and key["start"] in listed.stdout
    shown = keyplane("keys", "get", key["id"])
    raw = keyplane("keys", "get", key["id"], "--json")
    for output in (listed.stdout, shown.stdout, raw.stdout):
        assert key["key"] not in output
        assert not KEY.search(output)
    assert json.loads(raw.stdout)["id"] == key["id"]


def test_keys_list_all_follows_next_cursor(keyplane, api) -> None:
    made = {_create(keyplane, api["id"], "--owner-id", "pager")["id"] for _ in range(3)}
    one = json.loads(keyplane("keys", "list", "--api-id", api["id"], "--limit", "2", "--json").stdout)
    assert len(one["items"]) == 2 and one["next_cursor"]
    every = json.loads(keyplane("keys", "list", "--owner-id", "pager", "--api-id", api["id"],
                                "--limit", "1", "--all", "--json").stdout)
    assert {k["id"] for k in every["items"]} == made
    assert every["next_cursor"] is None


def test_verify_exits_0_for_valid_and_1_with_the_code_otherwise(keyplane, api) -> None:
    key = _create(keyplane, api["id"], "-p", "documents.read")
    valid = _verify(keyplane, key["key"], "--permissions", "documents.read")
    assert valid.exit_code == 0
    assert valid.stdout.splitlines()[0] == "VALID"
    assert key["key"] not in valid.stdout

    lacking = _verify(keyplane, key["key"], "--permissions", "documents.write")
    assert lacking.exit_code == 1
    assert lacking.stdout.splitlines()[0] == "INSUFFICIENT_PERMISSIONS"

    elsewhere = _verify(keyplane, key["key"], "--api-id", "api_00000000000000000000000001", "--json")
    assert elsewhere.exit_code == 1
    assert json.loads(elsewhere.stdout)["code"] == "NOT_FOUND"


def test_verify_reads_the_key_from_stdin(keyplane, api) -> None:
    key = _create(keyplane, api["id"])
    ran = keyplane("keys", "verify", "-", "--json", stdin=key["key"] + "\n")
    assert ran.exit_code == 0
    assert json.loads(ran.stdout)["key_id"] == key["id"]


def test_verify_checks_the_ip_allow_list(keyplane, api) -> None:
    key = _create(keyplane, api["id"], "--ip", "198.51.100.0/24")
    assert _verify(keyplane, key["key"], "--ip", "198.51.100.7").exit_code == 0
    outside = _verify(keyplane, key["key"], "--ip", "192.0.2.1")
    assert outside.exit_code == 1 and outside.stdout.startswith("FORBIDDEN_IP")
    unsaid = _verify(keyplane, key["key"])
    assert unsaid.exit_code == 1
    assert unsaid.stdout.splitlines()[:2] == [
        "FORBIDDEN_IP", "the key allows only some networks (its ip_allowlist): give the end "
                        "client's address with --ip"]


def test_update_disables_and_enables_a_key(keyplane, api) -> None:
    key = _create(keyplane, api["id"])
    off = keyplane("keys", "update", key["id"], "--disable", "--name", "paused")
    assert off.exit_code == 0, off.stderr
    assert "status        disabled" in off.stdout and "name          paused" in off.stdout
    assert _verify(keyplane, key["key"]).stdout.startswith("DISABLED")

    on = keyplane("keys", "update", key["id"], "--enable", "--json")
    assert json.loads(on.stdout)["enabled"] is True
    assert _verify(keyplane, key["key"]).exit_code == 0


def test_update_changes_only_what_is_given(keyplane, api) -> None:
    key = _create(keyplane, api["id"], "--owner-id", "kept", "-p", "a.read", "--ttl-seconds", "60")
    changed = json.loads(keyplane("keys", "update", key["id"], "-p", "b.read", "--no-expiry",
                                  "--metadata", '{"tier": 2}', "--json").stdout)
    assert changed["owner_id"] == "kept"
    assert changed["permissions"] == ["b.read"]
    assert changed["expires_at"] is None
    assert changed["metadata"] == {"tier": 2}


def test_update_with_nothing_to_change_is_a_usage_error(keyplane, api) -> None:
    key = _create(keyplane, api["id"])
    ran = keyplane("keys", "update", key["id"])
    assert ran.exit_code == 2
    assert "nothing to change" in ran.stderr


def test_revoke_makes_verification_answer_revoked(keyplane, api) -> None:
    key = _create(keyplane, api["id"])
    revoked = keyplane("keys", "revoke", key["id"])
    assert revoked.exit_code == 0
    assert revoked.stdout.startswith(f"Revoked key {key['id']} at ")
    ran = _verify(keyplane, key["key"])
    assert ran.exit_code == 1 and ran.stdout.startswith("REVOKED")
    assert keyplane("keys", "get", key["id"], "--json").stdout.count('"revoked_at": "') == 1
    assert "revoked" in keyplane("keys", "list", "--api-id", api["id"]).stdout


def test_roll_prints_the_new_key_once_and_the_old_one_lasts_the_grace_period(keyplane, api) -> None:
    old = _create(keyplane, api["id"], "--owner-id", "roller")
    rolled = keyplane("keys", "roll", old["id"], "--grace-seconds", "3600")
    assert rolled.exit_code == 0, rolled.stderr
    keys = KEY.findall(rolled.stdout)
    assert len(keys) == 1 and keys[0] != old["key"]
    assert "Key (shown only this once" in rolled.stdout
    assert _verify(keyplane, keys[0]).exit_code == 0
    assert _verify(keyplane, old["key"]).exit_code == 0

    now = json.loads(keyplane("keys", "roll", old["id"], "--json").stdout)
    assert now["owner_id"] == "roller" and now["key"]


def test_delete_makes_the_key_unknown(keyplane, api) -> None:
    key = _create(keyplane, api["id"])
    deleted = keyplane("keys", "delete", key["id"])
    assert deleted.exit_code == 0 and deleted.stdout.strip() == f"Deleted key {key['id']}"
    assert _verify(keyplane, key["key"]).stdout.startswith("NOT_FOUND")
    assert keyplane("keys", "get", key["id"]).exit_code == 1


def test_bad_metadata_is_a_usage_error_before_anything_is_sent(keyplane, api) -> None:
    ran = keyplane("keys", "create", "--api-id", api["id"], "--metadata", "{not json")
    assert ran.exit_code == 2
    assert "--metadata" in ran.stderr and "not valid JSON" in ran.stderr
    assert keyplane("keys", "list", "--api-id", api["id"]).stdout.strip() == "No keys."


def test_both_expiries_are_refused_by_the_service_with_its_message(keyplane, api) -> None:
    ran = keyplane("keys", "create", "--api-id", api["id"], "--ttl-seconds", "60",
                   "--expires-at", "2099-01-01T00:00:00Z")
    assert ran.exit_code == 1
    assert "expires_at or ttl_seconds, not both" in ran.stderr


def test_keys_usage_events_and_expose_report_what_a_key_did(keyplane, api) -> None:
    key = _create(keyplane, api["id"])
    for _ in range(2):
        assert keyplane("keys", "verify", key["key"]).exit_code == 0
    exposed = keyplane("keys", "expose", key["id"])
    assert exposed.exit_code == 0, exposed.stderr
    assert f"Revoked key {key['id']}" in exposed.stdout
    assert "VALID 2" in exposed.stdout
    assert key["key"] not in exposed.stdout
    events = keyplane("keys", "events", key["id"], "--json")  # expose flushed them
    assert [e["code"] for e in json.loads(events.stdout)["items"]] == ["VALID", "VALID"]
    assert _verify(keyplane, key["key"]).exit_code == 1
    usage = keyplane("keys", "usage", key["id"], "--since", "1h")
    assert usage.exit_code == 0, usage.stderr
    assert "VALID 2" in usage.stdout
    summed = keyplane("usage", "--api-id", api["id"], "--granularity", "day", "--json")
    assert sum(b["counts"].get("VALID", 0) for b in json.loads(summed.stdout)["items"]) >= 2


@pytest.mark.parametrize(("refill", "expected", "shown"), [
    ("1000:daily", {"amount": 1000, "interval": "daily", "interval_seconds": None}, "refill 1000 daily"),
    ("50:monthly", {"amount": 50, "interval": "monthly", "interval_seconds": None}, "refill 50 monthly"),
    ("7:3600s", {"amount": 7, "interval": None, "interval_seconds": 3600}, "refill 7 every 3600s"),
])
def test_keys_create_sets_a_refill_as_the_http_api_does(keyplane, api, refill, expected, shown) -> None:
    key = _create(keyplane, api["id"], "--credits", "3", "--refill", refill)
    assert key["credits"] == {"remaining": 3, "refill": expected}
    assert f"credits       3 ({shown})" in keyplane("keys", "get", key["id"]).stdout


def test_a_refill_without_credits_starts_with_a_full_balance(keyplane, api) -> None:
    key = _create(keyplane, api["id"], "--refill", "20:daily")
    assert key["credits"]["remaining"] == 20 and key["credits"]["refill"]["amount"] == 20


def test_keys_update_sets_keeps_and_stops_a_refill(keyplane, api) -> None:
    key = _create(keyplane, api["id"], "--credits", "10")

    def update(*args: str) -> dict:
        ran = keyplane("keys", "update", key["id"], *args, "--json")
        assert ran.exit_code == 0, ran.stderr
        return json.loads(ran.stdout)["credits"]

    assert update("--credits", "9", "--refill", "100:60s") == {
        "remaining": 9, "refill": {"amount": 100, "interval": None, "interval_seconds": 60}}
    kept = update("--credits", "4")  # the balance alone changes; the refill stays
    assert kept["remaining"] == 4 and kept["refill"]["interval_seconds"] == 60
    assert update("--credits", "4", "--no-refill") == {"remaining": 4, "refill": None}


def test_a_refill_the_cli_cannot_send_is_a_usage_error_naming_the_forms(keyplane, api) -> None:
    for refill in ("1000:weekly", "1000", "daily", "1000:60", "x:daily"):
        ran = keyplane("keys", "create", "--api-id", api["id"], "--refill", refill)
        assert ran.exit_code == 2, refill
        assert "AMOUNT:daily, AMOUNT:monthly or AMOUNT:<N>s" in ran.stderr
    key = _create(keyplane, api["id"])
    alone = keyplane("keys", "update", key["id"], "--refill", "5:daily")
    assert alone.exit_code == 2 and "give --credits too" in alone.stderr
    zero = keyplane("keys", "create", "--api-id", api["id"], "--refill", "0:daily")
    assert zero.exit_code == 1 and "credits.refill.amount" in zero.stderr  # the service's rule


def test_keys_create_help_explains_refill_and_the_owner_part_of_a_rate_limit(keyplane) -> None:
    shown = " ".join(keyplane("keys", "create", "--help").stdout.split())
    assert "--refill AMOUNT:daily|monthly|<N>s" in shown
    assert "NAME:LIMIT:WINDOW_SECONDS[:owner]" in shown
    assert "shares the limit among all keys of the same --owner-id" in shown


def test_a_rate_limit_naming_an_owner_says_the_4th_part_can_only_be_owner(keyplane, api) -> None:
    ran = keyplane("keys", "create", "--api-id", api["id"], "--ratelimit", "requests:100:60:team_42")
    assert ran.exit_code == 2
    message = " ".join(ran.stderr.split())
    assert "the 4th part can only be `owner`" in message and "--owner-id" in message
    short = keyplane("keys", "create", "--api-id", api["id"], "--ratelimit", "requests:100")
    assert short.exit_code == 2 and "requests:1000:60:owner" in " ".join(short.stderr.split())


def test_an_owner_rate_limit_is_shared_by_the_owners_keys(keyplane, api) -> None:
    one = _create(keyplane, api["id"], "--owner-id", "team_shared", "--ratelimit", "calls:1:3600:owner")
    two = _create(keyplane, api["id"], "--owner-id", "team_shared", "--ratelimit", "calls:1:3600:owner")
    assert one["ratelimits"][0]["scope"] == "owner"
    assert _verify(keyplane, one["key"]).exit_code == 0
    assert _verify(keyplane, two["key"]).stdout.startswith("RATE_LIMITED")


def test_roll_says_until_when_the_old_key_keeps_working(keyplane, api) -> None:
    old = _create(keyplane, api["id"])
    rolled = keyplane("keys", "roll", old["id"], "--grace-seconds", "3600")
    assert rolled.exit_code == 0, rolled.stderr
    expires_at = json.loads(keyplane("keys", "get", old["id"], "--json").stdout)["expires_at"]
    assert (f"The old key {old['id']} keeps working until {expires_at}, then expires"
            in rolled.stdout)
    assert f"keyplane keys revoke {old['id']}" in rolled.stdout

    other = _create(keyplane, api["id"])
    at_once = keyplane("keys", "roll", other["id"])
    assert f"The old key {other['id']} no longer works (expired)." in at_once.stdout
    assert _verify(keyplane, other["key"]).stdout.startswith("EXPIRED")


def _typo(key: str) -> str:
    i = len(key) - 10
    return key[:i] + ("A" if key[i] != "A" else "B") + key[i + 1:]


def test_verify_says_what_makes_a_string_malformed(keyplane, api) -> None:
    key = _create(keyplane, api["id"])
    for given, reason in ((_typo(key["key"]), "checksum does not match: a typo?"),
                          (key["id"], "this is a key id, not a key; `keyplane keys get` takes ids"),
                          (key["key"][:-3], "cut short"),
                          ("hello", "not a key")):
        ran = _verify(keyplane, given)
        assert ran.exit_code == 1
        assert ran.stdout.splitlines()[0] == "MALFORMED"
        assert reason in ran.stdout.splitlines()[1], ran.stdout
        assert key["key"][-20:] not in ran.stdout + ran.stderr
    scripted = _verify(keyplane, _typo(key["key"]), "--json")
    assert json.loads(scripted.stdout)["code"] == "MALFORMED"
    assert "checksum does not match: a typo?" in scripted.stderr


def test_a_key_given_where_an_id_belongs_is_never_sent_nor_printed(keyplane, api, server) -> None:
    key = _create(keyplane, api["id"])
    for args in (("keys", "get"), ("keys", "revoke"), ("keys", "usage"), ("root-keys", "get")):
        for secret in (key["key"], _typo(key["key"])):
            ran = keyplane(*args, secret)
            assert ran.exit_code == 2, args
            assert secret not in ran.stdout + ran.stderr
            assert key["key"][-20:] not in ran.stdout + ran.stderr
            assert "not its id" in ran.stderr
    assert "keyplane keys verify -" in " ".join(keyplane("keys", "get", key["key"]).stderr.split())
    served, _ = server
    assert key["key"] not in served.log()  # not even in the access log: nothing was sent
    assert _verify(keyplane, key["key"]).exit_code == 0
