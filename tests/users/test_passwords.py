"""argon2id password hashes: checks, the decoy for unknown users, re-hashing on login when
the parameters change (on SQLite and PostgreSQL for the login)."""

from __future__ import annotations

from argon2 import PasswordHasher

from keyplane.audit.events import SYSTEM
from keyplane.ratelimit.memory import MemoryLimiter
from keyplane.store.users import SqlUserRepository
from keyplane.users.passwords import Argon2Parameters, Passwords
from keyplane.users.service import UserService, username_key
from keyplane.users.throttle import LoginThrottle

CHEAP = Argon2Parameters(time_cost=1, memory_kib=8 * 1024, parallelism=1)
STRONGER = Argon2Parameters(time_cost=2, memory_kib=16 * 1024, parallelism=2)


async def test_a_hash_is_argon2id_with_the_parameters_and_checks_only_its_password():
    passwords = Passwords(CHEAP)
    stored = await passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert await passwords.check(stored, "correct horse battery") == (True, False)
    assert await passwords.check(stored, "correct horse batterY") == (False, False)
    assert await passwords.check("not a hash", "x") == (False, False)


async def test_an_unknown_user_is_checked_against_a_decoy_made_with_the_same_parameters():
    passwords = Passwords(CHEAP)
    assert await passwords.check(None, "anything at all") == (False, False)
    decoy = passwords._decoy
    assert decoy is not None and decoy.startswith("$argon2id$v=19$m=8192,t=1,p=1$")


async def test_the_default_parameters_are_rfc_9106s_second_recommendation():
    stored = await Passwords().hash("x" * 8)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).check_needs_rehash(stored)


async def test_a_login_rehashes_a_password_made_with_old_parameters(services, clock):
    repository = SqlUserRepository(services.db)

    def service(parameters):
        return UserService(repository, Passwords(parameters), LoginThrottle(MemoryLimiter()), clock,
                           audit=services.audit_writer)

    user = await service(CHEAP).create_user(SYSTEM, "Alice", "correct horse battery")
    before = (await repository.login_record(username_key("alice"))).password_hash
    assert "m=8192,t=1,p=1" in before
    assert (await service(STRONGER).login("alice", "correct horse battery", ip="192.0.2.1")).id == user.id
    after = (await repository.login_record(username_key("alice"))).password_hash
    assert "m=16384,t=2,p=2" in after and after != before
    assert (await service(STRONGER).login("ALICE", "correct horse battery", ip=None)).id == user.id
    assert (await repository.login_record(username_key("alice"))).password_hash == after
