"""Usage records, their queries, the exposure report and the metrics."""

from datetime import timedelta

from tamper import tampered


async def test_usage_counts_match_the_verifications_outcome_by_outcome(embedded, clock):
    key = await embedded.key(ratelimits=[{"name": "r", "limit": 3, "window_seconds": 3600}])
    for _ in range(5):
        await embedded.verify(key["key"], ip="198.51.100.7", user_agent="client/1")
    await embedded.verify(tampered(key["key"]))  # malformed: counted, but under no key
    await embedded.services.recorder.flush()
    usage = (await embedded.http.get(f"/v1/keys/{key['id']}/usage")).json()
    totals: dict[str, int] = {}
    for bucket in usage["items"]:
        for code, n in bucket["counts"].items():
            totals[code] = totals.get(code, 0) + n
    assert totals == {"VALID": 3, "RATE_LIMITED": 2}
    assert len(usage["items"]) == 24  # every hour of the default day, empty ones too
    assert (await embedded.http.get(f"/v1/keys/{key['id']}")).json()["last_used_at"] == "2026-01-01T00:00:00.000Z"


async def test_usage_by_day_and_by_owner_sums_the_matching_keys(embedded, clock):
    first = await embedded.key(owner_id="team_1")
    second = await embedded.key(owner_id="team_1")
    other = await embedded.key(owner_id="team_2")
    for key in (first, second, second, other):
        await embedded.verify(key["key"])
    clock.advance(days=1)
    await embedded.verify(first["key"])
    await embedded.services.recorder.flush()
    by_owner = (await embedded.http.get("/v1/usage", params={
        "owner_id": "team_1", "granularity": "day", "since": "2026-01-01T00:00:00Z",
        "until": "2026-01-03T00:00:00Z"})).json()
    assert [b["counts"] for b in by_owner["items"]] == [{"VALID": 3}, {"VALID": 1}]
    by_api = (await embedded.http.get("/v1/usage", params={
        "api_id": embedded.api_id, "granularity": "day", "since": "2026-01-01T00:00:00Z",
        "until": "2026-01-03T00:00:00Z"})).json()
    assert [b["counts"] for b in by_api["items"]] == [{"VALID": 4}, {"VALID": 1}]


async def test_a_bad_usage_range_is_a_400(embedded):
    for params in ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
                   {"since": "2000-01-01T00:00:00Z", "granularity": "hour"},
                   {"granularity": "minute"}, {"since": "yesterday"}):
        response = await embedded.http.get("/v1/usage", params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_events_list_a_keys_verifications_newest_first(embedded, clock):
    key = await embedded.key(ip_allowlist=["198.51.100.0/24"])
    for ip in ("198.51.100.1", "203.0.113.5", "198.51.100.2"):
        await embedded.verify(key["key"], ip=ip, user_agent="agent\x00with nul")
        clock.advance(seconds=1)
    await embedded.services.recorder.flush()
    page = (await embedded.http.get(f"/v1/keys/{key['id']}/events", params={"limit": 2})).json()
    assert [(e["ip"], e["code"]) for e in page["items"]] == [("198.51.100.2", "VALID"), ("203.0.113.5", "FORBIDDEN_IP")]
    assert page["items"][0]["user_agent"] == "agent\ufffdwith nul"
    rest = (await embedded.http.get(f"/v1/keys/{key['id']}/events",
                                    params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [e["ip"] for e in rest["items"]] == ["198.51.100.1"] and rest["next_cursor"] is None


async def test_expose_revokes_at_once_and_reports_recent_activity(embedded, clock):
    key = await embedded.key()
    for ip in ("192.0.2.1", "192.0.2.1", "203.0.113.9"):
        await embedded.verify(key["key"], ip=ip)
        clock.advance(seconds=30)
    # Not flushed on purpose: the report must include what is still buffered.
    response = await embedded.http.post(f"/v1/keys/{key['id']}/expose")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["key"]["revoked_at"] is not None
    assert report["activity"]["counts"] == {"VALID": 3}
    addresses = {a["ip"]: a for a in report["activity"]["addresses"]}
    assert addresses["192.0.2.1"]["count"] == 2
    assert addresses["192.0.2.1"]["first_seen"] == "2026-01-01T00:00:00.000Z"
    assert addresses["192.0.2.1"]["last_seen"] == "2026-01-01T00:00:30.000Z"
    assert [e["ip"] for e in report["activity"]["events"]] == ["203.0.113.9", "192.0.2.1", "192.0.2.1"]
    assert (await embedded.verify(key["key"]))["code"] == "REVOKED"
    audit = (await embedded.http.get("/v1/audit", params={"action": "key.expose"})).json()
    assert [e["target"] for e in audit["items"]] == [key["id"]]


async def test_exposing_an_already_revoked_key_is_still_recorded(embedded):
    key = await embedded.key()
    await embedded.http.post(f"/v1/keys/{key['id']}/revoke")
    assert (await embedded.http.post(f"/v1/keys/{key['id']}/expose")).status_code == 200
    audit = (await embedded.http.get("/v1/audit", params={"target": key["id"]})).json()
    assert [e["action"] for e in audit["items"]] == ["key.expose", "key.revoke", "key.create"]


async def test_metrics_count_verifications_by_api_and_code(embedded):
    key = await embedded.key(ratelimits=[{"name": "r", "limit": 1, "window_seconds": 60}])
    await embedded.verify(key["key"])
    await embedded.verify(key["key"])
    await embedded.verify("sk_m_nope")
    text = (await embedded.http.get("/metrics")).text
    api = embedded.api_id
    assert f'keyplane_verifications_total{{api_id="{api}",code="VALID"}} 1.0' in text
    assert f'keyplane_verifications_total{{api_id="{api}",code="RATE_LIMITED"}} 1.0' in text
    assert 'keyplane_verifications_total{api_id="unknown",code="MALFORMED"} 1.0' in text
    assert f'keyplane_ratelimit_rejections_total{{api_id="{api}"}} 1.0' in text
    assert "keyplane_verify_duration_seconds_count 3.0" in text
    assert 'keyplane_verify_duration_seconds_bucket{le="+Inf"} 3.0' in text
    buckets = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("keyplane_verify_duration_seconds_bucket")]
    assert len(buckets) == 13 and buckets == sorted(buckets)  # cumulative, as Prometheus reads them
    assert "keyplane_usage_buffer_depth 3.0" in text


async def test_old_usage_is_pruned_after_the_retention(embedded, clock):
    key = await embedded.key()
    await embedded.verify(key["key"])
    await embedded.services.recorder.flush()
    repository = embedded.services.usage._repository

    async def kept() -> int:
        return len(await repository.events(key["id"], since=None, before=None, limit=10))

    assert await kept() == 1
    assert await repository.prune(clock.now() - timedelta(days=90)) == 0  # within the retention
    clock.advance(days=91)
    # The recorder's own upkeep may prune it first (its first run comes a flush interval
    # after the start, whenever that falls): either way it is gone.
    await repository.prune(clock.now() - timedelta(days=90))
    assert await kept() == 0


async def test_unknown_keys_are_counted_under_the_api_they_were_verified_for(embedded, clock):
    # Verifications of no known key are counted by API (key_id ""): two APIs' unknown keys
    # in the same hour must stay two counts, each under its own API.
    from keyplane.credentials.format import generate_key

    other_api = (await embedded.http.post("/v1/apis", json={"name": "other"})).json()["id"]
    unknown = generate_key("kp")  # well-formed, checksum right, stored nowhere
    for _ in range(2):
        await embedded.verify(unknown, api_id=embedded.api_id)
    for _ in range(3):
        await embedded.verify(unknown, api_id=other_api)
    await embedded.services.recorder.flush()
    window = {"granularity": "day", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}

    async def counts(api_id: str) -> dict[str, int]:
        items = (await embedded.http.get("/v1/usage", params={"api_id": api_id, **window})).json()["items"]
        return dict(items[0]["counts"])

    assert await counts(embedded.api_id) == {"NOT_FOUND": 2}
    assert await counts(other_api) == {"NOT_FOUND": 3}
