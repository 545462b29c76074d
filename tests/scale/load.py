"""Mixed load on a keyplane cluster, recording every acknowledged write.

`Workload.prepare` makes what the load needs through the management API and the OAuth
endpoints (an API, a pool of keys, a confidential client, refresh-token chains got by the
device flow, and the special keys the fault checks count: a key with credits, one with a
rate limit, one usage key per replica). `Load.run` then sends, from `concurrency` tasks,
until `seconds` have passed or `max_requests` were sent, a mix of key verifications, key
creations, revocations, client_credentials and refresh grants and introspections, each to
a replica chosen at random, and keeps in a `Ledger`:

- every answer by operation and status (`transport` when no answer came: a dead replica);
- every acknowledged write: a 201 key (its id and plaintext), a 200 revocation;
- what contradicts an acknowledged write at once (a verification of an acknowledged revoked
  key that is not REVOKED, of an acknowledged key that is NOT_FOUND);
- the answers on the special keys, for exact counting against credits and limits;
- latencies per operation.

`check_acknowledged` verifies every acknowledged key afterwards. Everything is bounded in
count and time, and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import httpx

PASSWORD = "correct horse battery staple"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
AUDIENCE = "https://api.example.com"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST = re.compile(r'name="request" value="([^"]+)"')

WEIGHTS = {"verify": 40, "create": 10, "revoke": 4, "client_credentials": 12, "refresh": 5,
           "introspect": 12, "special": 12, "usage": 5}
OPERATIONS = list(WEIGHTS)


@dataclass
class Workload:
    """What the load works on; made once per cluster."""

    urls: list[str]
    root_key: str
    api_id: str
    client_id: str
    client_secret: str
    keys: list[tuple[str, str]]  # (id, plaintext) made before the load
    refresh_tokens: list[str]  # one per chain
    public_client_id: str
    special: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (id, plaintext)
    usage_keys: list[tuple[str, str]] = field(default_factory=list)  # one per replica

    @classmethod
    def prepare(cls, urls: list[str], root_key: str, *, keys: int = 20, chains: int = 8) -> Workload:
        # chains ≤ 10: the device pages take 10 user codes a minute per user and address.
        headers = {"Authorization": f"Bearer {root_key}"}
        with httpx.Client(base_url=urls[0], headers=headers, timeout=30.0) as admin:
            api_id = _ok(admin.post("/v1/apis", json={"name": "load", "key_prefix": "sk_load"}))["id"]
            made = [_ok(admin.post("/v1/keys", json={"api_id": api_id, "name": f"pool {n}"}))
                    for n in range(keys)]
            client = _ok(admin.post("/v1/clients", json={
                "name": "load service", "type": "confidential", "grant_types": ["client_credentials"],
                "scopes": ["documents.read"], "audiences": [AUDIENCE]}))
            public = _ok(admin.post("/v1/clients", json={
                "name": "load device", "type": "public", "token_endpoint_auth_method": "none",
                "grant_types": [DEVICE_GRANT, "refresh_token"], "scopes": ["documents.read"],
                "audiences": [AUDIENCE]}))
            username = "load-" + secrets.token_hex(4)
            _ok(admin.post("/v1/users", json={"username": username, "password": PASSWORD}))
            usage_keys = [_ok(admin.post("/v1/keys", json={"api_id": api_id, "name": f"usage {n}"}))
                          for n in range(len(urls))]
        tokens = _refresh_tokens(urls[0], public["client_id"], username, chains)
        return cls(urls=urls, root_key=root_key, api_id=api_id, client_id=client["client_id"],
                   client_secret=client["client_secret"], keys=[(k["id"], k["key"]) for k in made],
                   refresh_tokens=tokens, public_client_id=public["client_id"],
                   usage_keys=[(k["id"], k["key"]) for k in usage_keys])

    def add_special(self, name: str, **key: object) -> tuple[str, str]:
        """A key counted exactly by the load (`credits`, `ratelimit`)."""
        with httpx.Client(base_url=self.urls[0], timeout=30.0,
                          headers={"Authorization": f"Bearer {self.root_key}"}) as admin:
            made = _ok(admin.post("/v1/keys", json={"api_id": self.api_id, "name": name, **key}))
        self.special[name] = (made["id"], made["key"])
        return self.special[name]


def _ok(response: httpx.Response) -> dict[str, object]:
    if response.status_code not in (200, 201):
        raise AssertionError(f"{response.request.method} {response.request.url.path}: "
                             f"{response.status_code} {response.text}")
    body: dict[str, object] = response.json()
    return body


def _field(pattern: re.Pattern[str], page: httpx.Response) -> str:
    found = pattern.search(page.text)
    assert found is not None, f"{page.request.url.path}: {page.status_code} {page.text[:300]}"
    return found.group(1)


def _refresh_tokens(url: str, client_id: str, username: str, count: int) -> list[str]:
    """`count` refresh tokens of one user, each by a device flow approved on the pages."""
    tokens = []
    with httpx.Client(base_url=url, timeout=30.0) as device, \
            httpx.Client(base_url=url, timeout=30.0) as browser:
        signed_in = browser.post("/login", data={"csrf_token": _field(_CSRF, browser.get("/login")),
                                                 "username": username, "password": PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        for _ in range(count):
            started = _ok(device.post("/oauth/device_authorization", data={"client_id": client_id}))
            decision = browser.post("/device", data={"csrf_token": _field(_CSRF, browser.get("/device")),
                                                      "user_code": started["user_code"]})
            approved = browser.post("/device/decision", data={
                "csrf_token": _field(_CSRF, decision), "request": _field(_REQUEST, decision),
                "decision": "approve"})
            assert approved.status_code == 200, approved.text
            got = _ok(device.post("/oauth/token", data={
                "grant_type": DEVICE_GRANT, "client_id": client_id,
                "device_code": started["device_code"]}))
            tokens.append(str(got["refresh_token"]))
    return tokens


@dataclass
class Ledger:
    """What the load saw: answers, acknowledged writes, contradictions, latencies."""

    sent: int = 0
    answers: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    created: dict[str, str] = field(default_factory=dict)  # id: plaintext, 201 seen
    created_order: list[str] = field(default_factory=list)  # the same ids, to pick from in O(1)
    revoked: set[str] = field(default_factory=set)  # 200 seen
    revoking: set[str] = field(default_factory=set)  # sent, no answer (yet)
    contradictions: list[str] = field(default_factory=list)
    special: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    usage_answered: Counter[int] = field(default_factory=Counter)  # replica index: 200s
    usage_times: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    no_retry_after: int = 0  # 503s without Retry-After
    server_errors: list[str] = field(default_factory=list)  # 500s and other 5xx but 503
    tokens: list[str] = field(default_factory=list)

    def statuses(self) -> Counter[int | str]:
        total: Counter[int | str] = Counter()
        for (_op, status), n in self.answers.items():
            total[status] += n
        return total

    def by_operation(self) -> dict[str, dict[int | str, int]]:
        table: dict[str, dict[int | str, int]] = defaultdict(dict)
        for (op, status), n in sorted(self.answers.items(), key=str):
            table[op][status] = n
        return dict(table)


class Load:
    """The load generator over `workload`; `run` may be called once per phase."""

    def __init__(self, workload: Workload, ledger: Ledger | None = None, *,
                 weights: dict[str, int] | None = None) -> None:
        self.workload = workload
        self.ledger = ledger or Ledger()
        weights = weights or WEIGHTS
        self._ops = [op for op in OPERATIONS if weights.get(op)]
        self._weights = [weights[op] for op in self._ops]
        self._chains = workload.refresh_tokens  # shared: a chain goes on from phase to phase
        self._pool = list(workload.keys)
        self._root = {"Authorization": f"Bearer {workload.root_key}"}
        self._basic = httpx.BasicAuth(workload.client_id, workload.client_secret)
        self._clients: list[httpx.AsyncClient] = []
        self.stop_at = 0.0

    async def run(self, *, seconds: float, concurrency: int = 16,
                  max_requests: int = 1_000_000) -> Ledger:
        self._clients = [httpx.AsyncClient(base_url=url, timeout=10.0,
                                           limits=httpx.Limits(max_connections=concurrency))
                         for url in self.workload.urls]
        self.stop_at = time.monotonic() + seconds
        self._budget = max_requests
        try:
            await asyncio.gather(*(self._worker() for _ in range(concurrency)))
        finally:
            for client in self._clients:
                await client.aclose()
        return self.ledger

    async def _worker(self) -> None:
        while time.monotonic() < self.stop_at and self._budget > 0:
            self._budget -= 1
            op = random.choices(self._ops, self._weights)[0]
            await getattr(self, "_" + op)()

    async def _send(self, op: str, method: str, path: str, *, replica: int | None = None,
                    **kwargs: object) -> httpx.Response | None:
        index = random.randrange(len(self._clients)) if replica is None else replica
        self.ledger.sent += 1
        started = time.perf_counter()
        try:
            response = await self._clients[index].request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            self.ledger.answers[(op, "transport")] += 1
            return None
        self.ledger.latencies[op].append(time.perf_counter() - started)
        self.ledger.answers[(op, response.status_code)] += 1
        if response.status_code == 503 and "retry-after" not in response.headers:
            self.ledger.no_retry_after += 1
        if response.status_code >= 500 and response.status_code != 503:
            self.ledger.server_errors.append(f"{op} {path}: {response.status_code} {response.text[:200]}")
        return response

    async def _verify_code(self, op: str, key: str, *, replica: int | None = None) -> str | None:
        response = await self._send(op, "POST", "/v1/keys/verify", replica=replica, headers=self._root,
                                    json={"key": key, "api_id": self.workload.api_id})
        if response is None or response.status_code != 200:
            return None
        code: str = response.json()["code"]
        return code

    async def _verify(self) -> None:
        ledger = self.ledger
        if ledger.created_order and random.random() < 0.5:
            key_id = random.choice(ledger.created_order)
            key = ledger.created[key_id]
        else:
            key_id, key = random.choice(self._pool)
        revoked_before = key_id in ledger.revoked
        code = await self._verify_code("verify", key)
        if code is None:
            return
        if revoked_before and code != "REVOKED":
            ledger.contradictions.append(f"{key_id} acknowledged revoked, verified {code}")
        elif code not in ("VALID", "REVOKED"):
            ledger.contradictions.append(f"{key_id} acknowledged created, verified {code}")
        elif code == "REVOKED" and key_id not in ledger.revoked and key_id not in ledger.revoking:
            ledger.contradictions.append(f"{key_id} never revoked, verified REVOKED")

    async def _create(self) -> None:
        response = await self._send("create", "POST", "/v1/keys", headers=self._root,
                                    json={"api_id": self.workload.api_id, "name": "under load"})
        if response is not None and response.status_code == 201:
            body = response.json()
            self.ledger.created[body["id"]] = body["key"]
            self.ledger.created_order.append(body["id"])

    async def _revoke(self) -> None:
        ledger = self.ledger
        picks = [random.choice(ledger.created_order) for _ in range(8)] if ledger.created_order else []
        candidates = [k for k in picks if k not in ledger.revoked and k not in ledger.revoking]
        if not candidates:
            return await self._verify()
        key_id = candidates[0]
        ledger.revoking.add(key_id)
        response = await self._send("revoke", "POST", f"/v1/keys/{key_id}/revoke", headers=self._root)
        if response is not None and response.status_code == 200:
            ledger.revoked.add(key_id)
            ledger.revoking.discard(key_id)
        elif response is not None and response.status_code != 503:
            ledger.revoking.discard(key_id)
        # no answer or a 503: whether it happened is unknown; the key stays `revoking`

    async def _client_credentials(self) -> None:
        response = await self._send("client_credentials", "POST", "/oauth/token", auth=self._basic,
                                    data={"grant_type": "client_credentials"})
        if response is not None and response.status_code == 200:
            tokens = self.ledger.tokens
            tokens.append(response.json()["access_token"])
            if len(tokens) > 200:
                del tokens[:100]

    async def _refresh(self) -> None:
        if not self._chains:
            return await self._client_credentials()
        token = self._chains.pop()
        response = await self._send("refresh", "POST", "/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": token,
            "client_id": self.workload.public_client_id})
        if response is not None and response.status_code == 200:
            self._chains.append(response.json()["refresh_token"])
        elif response is not None and response.status_code == 503:
            self._chains.append(token)  # nothing was done: the same token again
        # no answer: the grant may have rotated the token; the chain ends here

    async def _introspect(self) -> None:
        if not self.ledger.tokens:
            return await self._client_credentials()
        token = random.choice(self.ledger.tokens)
        response = await self._send("introspect", "POST", "/oauth/introspect", auth=self._basic,
                                    data={"token": token})
        if response is not None and response.status_code == 200 and not response.json()["active"]:
            self.ledger.contradictions.append("an issued access token introspected inactive")

    async def _special(self) -> None:
        if not self.workload.special:
            return await self._verify()
        name = random.choice(list(self.workload.special))
        _id, key = self.workload.special[name]
        code = await self._verify_code(name, key)
        self.ledger.special[name][code or "unanswered"] += 1

    async def _usage(self) -> None:
        index = random.randrange(len(self.workload.urls))
        code = await self._verify_code("usage", self.workload.usage_keys[index][1], replica=index)
        if code is not None:
            self.ledger.usage_answered[index] += 1
            self.ledger.usage_times[index].append(time.monotonic())


async def check_acknowledged(urls: list[str], root_key: str, api_id: str, ledger: Ledger,
                             *, concurrency: int = 8) -> dict[str, int]:
    """Verify every acknowledged key on every replica in turn: a 201 key must be found
    (VALID, or REVOKED when a revocation was sent), an acknowledged revocation must hold.
    Returns counts; lost writes are listed in `ledger.contradictions`."""
    queue = list(ledger.created.items())
    checked: Counter[str] = Counter()
    headers = {"Authorization": f"Bearer {root_key}"}
    clients = [httpx.AsyncClient(base_url=url, timeout=30.0, headers=headers) for url in urls]

    async def one() -> None:
        while queue:
            key_id, key = queue.pop()
            client = clients[len(queue) % len(clients)]
            response = await client.post("/v1/keys/verify", json={"key": key, "api_id": api_id})
            code = response.json().get("code") if response.status_code == 200 else str(response.status_code)
            if key_id in ledger.revoked:
                checked["revocations"] += 1
                if code != "REVOKED":
                    ledger.contradictions.append(f"revocation of {key_id} lost: {code}")
            else:
                checked["keys"] += 1
                allowed = ("VALID", "REVOKED") if key_id in ledger.revoking else ("VALID",)
                if code not in allowed:
                    ledger.contradictions.append(f"key {key_id} lost: {code}")

    try:
        await asyncio.gather(*(one() for _ in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    return dict(checked)


async def usage_recorded(url: str, root_key: str, key_id: str) -> int:
    """How many verifications of `key_id` the store counts (its hourly usage)."""
    async with httpx.AsyncClient(base_url=url, timeout=30.0,
                                 headers={"Authorization": f"Bearer {root_key}"}) as client:
        response = await client.get(f"/v1/keys/{key_id}/usage", params={"granularity": "hour"})
        assert response.status_code == 200, response.text
        return sum(sum(item["counts"].values()) for item in response.json()["items"])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
