"""Whatever a client sends, the answer is a problem it can read, never a 500."""

from __future__ import annotations

import json
import unicodedata

import pytest
from v1_contract import assert_problem, create_key, post_raw

LIMIT = 64 * 1024


def writes(api_id: str, key_id: str, *, verify: bool = True) -> list[tuple[str, str]]:
    """Every endpoint that takes a JSON body."""
    return [("POST", "/v1/apis"), ("POST", "/v1/keys"), ("PATCH", f"/v1/keys/{key_id}"),
            ("PUT", f"/v1/apis/{api_id}/roles/reader"), ("POST", "/v1/root-keys"),
            ("POST", f"/v1/keys/{key_id}/roll"), *([("POST", "/v1/keys/verify")] if verify else [])]


@pytest.fixture
async def key(http, api):
    return await create_key(http, api)


UNREADABLE = [b"{", b"not json", b'{"name": "x",}', b"{'name': 'x'}", b'{"name": "x"} extra',
              b"\xff\xfe", b'{"name": "\xff"}', b"[" * 5000 + b"]" * 5000,
              b'{"a":' * 3000 + b"1" + b"}" * 3000, b'{"name": "\\x"}', b"{\"name\": \"x\"}\x00"]


async def test_unreadable_json_is_a_400_problem(http, api, key, subtests):
    # verify is checked with its own few cases in test_v1_verify.py (it reads JSON with msgspec)
    for body in UNREADABLE:
        for method, path in writes(api["id"], key["id"], verify=False):
            with subtests.test(body=body[:20], path=path):
                assert_problem(await post_raw(http, path, body, method=method), 400)
    for body in (b"{", b"not json", b"\xff\xfe", b"{'key': 'x'}"):
        assert_problem(await post_raw(http, "/v1/keys/verify", body), 400)


async def test_json_that_is_not_an_object_is_a_422_problem(http, api, key, subtests):
    for body in (b"[]", b"[{}]", b'"text"', b"42", b"true", b"null"):
        for method, path in writes(api["id"], key["id"]):
            if path.endswith("/roll") and body == b"null":
                continue  # no body at all is a roll without grace
            with subtests.test(body=body, path=path):
                assert_problem(await post_raw(http, path, body, method=method), 422)


WRONG_TYPES = [
    ("/v1/apis", {"name": 123}, "name"),
    ("/v1/apis", {"name": ["x"]}, "name"),
    ("/v1/apis", {"name": "x", "key_prefix": 5}, "key_prefix"),
    ("/v1/keys", {"ttl_seconds": "60"}, "ttl_seconds"),
    ("/v1/keys", {"ttl_seconds": 60.0}, "ttl_seconds"),
    ("/v1/keys", {"ttl_seconds": True}, "ttl_seconds"),
    ("/v1/keys", {"enabled": "true"}, "enabled"),
    ("/v1/keys", {"enabled": 1}, "enabled"),
    ("/v1/keys", {"permissions": "documents.read"}, "permissions"),
    ("/v1/keys", {"permissions": [1]}, "permissions[0]"),
    ("/v1/keys", {"metadata": []}, "metadata"),
    ("/v1/keys", {"metadata": "x"}, "metadata"),
    ("/v1/keys", {"ratelimits": [{"name": "r", "limit": "1", "window_seconds": 1}]}, "ratelimits[0].limit"),
    ("/v1/keys", {"credits": {"remaining": "5"}}, "credits.remaining"),
    ("/v1/keys", {"ip_allowlist": "10.0.0.0/8"}, "ip_allowlist"),
    ("/v1/root-keys", {"name": "x", "permissions": "keys.read"}, "permissions"),
]


async def test_wrong_types_are_422_naming_the_field(http, api, subtests):
    for path, body, field in WRONG_TYPES:
        with subtests.test(path=path, body=str(body)[:40]):
            if path == "/v1/keys":
                body = {"api_id": api["id"], **body}
            assert_problem(await http.post(path, json=body), 422, field=field)


async def test_unknown_fields_are_422_naming_the_field(http, api, subtests):
    for path, body, field in (
        ("/v1/apis", {"name": "x", "owner": "me"}, "owner"),
        ("/v1/keys", {"plaintext": "sk_test_x"}, "plaintext"),
        ("/v1/keys", {"ratelimits": [{"name": "r", "limit": 1, "window_seconds": 1, "burst": 5}]},
         "ratelimits[0].burst"),
        ("/v1/keys", {"credits": {"remaining": 1, "bonus": 1}}, "credits.bonus"),
        ("/v1/root-keys", {"name": "x", "permissions": ["keys.read"], "admin": True}, "admin"),
    ):
        with subtests.test(path=path, field=field):
            if path == "/v1/keys":
                body = {"api_id": api["id"], **body}
            assert_problem(await http.post(path, json=body), 422, field=field)


async def test_a_body_over_64_kib_is_a_413_problem(http, api, key):
    body = json.dumps({"name": "x", "metadata": {"pad": "x" * LIMIT}}).encode()
    for method, path in writes(api["id"], key["id"]):
        response = await post_raw(http, path, body, method=method)
        assert_problem(response, 413)


async def test_a_streamed_body_over_64_kib_is_a_413_problem_too(http, api, key):
    async def chunks():
        for _ in range(20):
            yield b" " * 4096
        yield b"{}"

    for method, path in writes(api["id"], key["id"]):
        response = await http.request(method, path, content=chunks(),
                                      headers={"content-type": "application/json"})
        assert "content-length" not in response.request.headers
        assert_problem(response, 413)


async def test_a_body_just_under_the_limit_is_read(http, api):
    padding = LIMIT - 200
    body = json.dumps({"name": "x", "key_prefix": "sk_pad"}).encode()
    body = body[:-1] + b" " * padding + b"}"
    response = await post_raw(http, "/v1/apis", body)
    assert response.status_code == 201, response.text


async def test_a_content_length_that_is_not_a_number_is_a_400_problem(http):
    response = await http.post("/v1/apis", content=b"{}", headers={"content-length": "abc",
                                                                   "content-type": "application/json"})
    assert_problem(response, 400)


async def test_nul_and_lone_surrogates_in_a_key_are_422(http, api, subtests):
    key = await create_key(http, api)
    for bad in ("\\u0000", "\\ud800", "\\udfff", "a\\udc00b", "\\ud800\\u0000", "\\u0001"):
        encoded = f'"{bad}"'
        values = {"name": f'"name": {encoded}', "owner_id": f'"owner_id": {encoded}',
                  "metadata_value": f'"metadata": {{"k": {encoded}}}',
                  "metadata_key": f'"metadata": {{{encoded}: 1}}',
                  "permissions": f'"permissions": [{encoded}]', "ip_allowlist": f'"ip_allowlist": [{encoded}]',
                  "roles": f'"roles": [{encoded}]', "unknown": f'{encoded}: 1', "api_id": f'"api_id": {encoded}',
                  "ratelimit": f'"ratelimits": [{{"name": {encoded}, "limit": 1, "window_seconds": 1}}]'}
        for field, value in values.items():
            if bad == "\\u0001" and field.startswith("metadata"):
                continue  # control characters other than NUL are fine inside JSON metadata
            with subtests.test(bad=bad, field=field):
                prefix = "" if field == "api_id" else f'"api_id": "{api["id"]}", '
                response = await post_raw(http, "/v1/keys", ("{" + prefix + value + "}").encode())
                assert_problem(response, 422)
                response.content.decode("utf-8")  # the problem itself is valid UTF-8
                if field != "api_id":
                    response = await post_raw(http, f"/v1/keys/{key['id']}", ("{" + value + "}").encode(),
                                              method="PATCH")
                    assert_problem(response, 422)


async def test_nul_and_lone_surrogates_elsewhere_are_422(http, api):
    for bad in ("\\u0000", "\\ud800", "x\\udfffy"):
        await _nul_and_lone_surrogates_elsewhere_are_422(http, api, bad)


async def _nul_and_lone_surrogates_elsewhere_are_422(http, api, bad):
    for path, body in (("/v1/apis", f'{{"name": "{bad}"}}'), ("/v1/apis", f'{{"name": "x", "key_prefix": "{bad}"}}'),
                       ("/v1/root-keys", f'{{"name": "{bad}", "permissions": ["keys.read"]}}'),
                       ("/v1/root-keys", f'{{"name": "x", "permissions": ["{bad}"]}}')):
        assert_problem(await post_raw(http, path, body.encode()), 422)
    key = await create_key(http, api)
    assert_problem(await post_raw(http, f"/v1/keys/{key['id']}", f'{{"owner_id": "{bad}"}}'.encode(),
                                  method="PATCH"), 422)
    assert_problem(await post_raw(http, f"/v1/apis/{api['id']}/roles/r", f'{{"permissions": ["{bad}"]}}'.encode(),
                                  method="PUT"), 422)


async def test_nul_and_oversized_query_strings_are_400(http, subtests):
    for query in ("owner_id=%00", "owner_id=a%00b", "owner_id=%01", "owner_id=" + "x" * 201):
        with subtests.test(query=query[:30]):
            assert_problem(await http.get(f"/v1/keys?{query}"), 400, field="owner_id")
    for query in ("api_id=%00", "api_id=a%00b", "api_id=" + "x" * 65):
        with subtests.test(query=query[:30]):
            assert_problem(await http.get(f"/v1/keys?{query}"), 400, field="api_id")


# Bytes that are not UTF-8 read as U+FFFD (the ASGI server's decoding): text, so an owner of
# that name has no keys (200), while an id, a limit or a cursor made of them is a bad
# parameter (400). Unknown parameters are ignored; of a repeated one the last counts.
ODD_QUERIES = [("owner_id=%ED%A0%80", 200), ("owner_id=%FF%FE", 200), ("owner_id=%F0%9F%92%A5", 200),
               ("owner_id=%C3%A9", 200), ("api_id=%ED%A0%80", 400), ("limit=%ED%A0%80", 400),
               ("cursor=%ED%A0%80", 400), ("nonsense=%00", 200), ("%00=%00", 200),
               ("owner_id=x&owner_id=y", 200), ("limit=1&limit=2", 200)]


async def test_odd_bytes_in_query_strings_never_cause_a_500(http, subtests):
    for query, status in ODD_QUERIES:
        with subtests.test(query=query):
            response = await http.get(f"/v1/keys?{query}")
            if status == 200:
                assert response.status_code == 200, response.text
                assert response.json()["items"] == []
            else:
                assert_problem(response, status)


async def test_non_finite_numbers_in_metadata_are_422(http, api, subtests):
    for number in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400"):
        with subtests.test(number=number):
            body = f'{{"api_id": "{api["id"]}", "metadata": {{"x": {number}}}}}'
            assert_problem(await post_raw(http, "/v1/keys", body.encode()), 422, field="metadata")


async def test_huge_integers_in_metadata_are_kept_exactly_or_unreadable(http, api):
    for number in ("1" + "0" * 30, "-" + "9" * 100):
        body = f'{{"api_id": "{api["id"]}", "metadata": {{"x": {number}}}}}'
        response = await post_raw(http, "/v1/keys", body.encode())
        assert response.status_code == 201, response.text
        assert (await http.get(f"/v1/keys/{response.json()['id']}")).json()["metadata"]["x"] == int(number)
    # past the JSON reader's 4300 digits (Python's int limit) the body cannot be read: a 400
    body = f'{{"api_id": "{api["id"]}", "metadata": {{"x": 1{"0" * 5000}}}}}'
    assert_problem(await post_raw(http, "/v1/keys", body.encode()), 400)


async def test_deeply_nested_metadata_is_422_or_400(http, api):
    nested = '{"a":' * 9 + "1" + "}" * 9
    body = f'{{"api_id": "{api["id"]}", "metadata": {nested}}}'
    assert_problem(await post_raw(http, "/v1/keys", body.encode()), 422, field="metadata")
    nested = "[" * 2000 + "]" * 2000
    body = f'{{"api_id": "{api["id"]}", "metadata": {{"a": {nested}}}}}'
    # nesting past the JSON reader's own depth limit cannot be read at all: a 400
    assert_problem(await post_raw(http, "/v1/keys", body.encode()), 400)


async def test_names_are_limited_after_normalisation_on_every_store(http, api, subtests):
    for name in ("x" * 200, "x" * 201, "\ufb2c" * 66, "\ufb2c" * 67, "\ufb2c" * 100, "\u0344" * 150,
                 "e\u0301" * 100, "e\u0301" * 150, "\U0001F4A5" * 200):
        with subtests.test(name=name[:3]):
            await _name_is_limited(http, api, name)


async def _name_is_limited(http, api, name):
    # At most 200 characters as sent and again once normalised to NFC (which can lengthen a
    # text); what is kept is the NFC form, exactly.
    stored = unicodedata.normalize("NFC", name)
    fits = len(name) <= 200 and len(stored) <= 200
    response = await http.post("/v1/apis", json={"name": name})
    if fits:
        assert response.status_code == 201, response.text
        assert response.json()["name"] == stored
        assert (await http.get(f"/v1/apis/{response.json()['id']}")).json()["name"] == stored
    else:
        assert_problem(response, 422, field="name")
    for field in ("name", "owner_id"):
        response = await http.post("/v1/keys", json={"api_id": api["id"], field: name})
        if fits:
            assert response.status_code == 201, response.text
            assert (await http.get(f"/v1/keys/{response.json()['id']}")).json()[field] == stored
        else:
            assert_problem(response, 422, field=field)


async def test_text_is_stored_in_nfc(http, api):
    key = await create_key(http, api, name="e\u0301", owner_id="\u212b")
    assert key["name"] == "\u00e9" and key["owner_id"] == "\u00c5"


async def test_a_very_long_unknown_field_name_is_422_with_a_short_answer(http, api):
    body = json.dumps({"api_id": api["id"], "x" * 50_000: 1}).encode()
    response = await post_raw(http, "/v1/keys", body)
    assert_problem(response, 422)
    assert len(response.content) < 4096


async def test_a_body_that_is_not_json_by_content_type_is_a_problem(http):
    # A body not declared JSON is not read: the required fields are missing (422).
    response = await post_raw(http, "/v1/apis", b'{"name": "x"}', content_type="text/plain")
    assert_problem(response, 422)
    response = await post_raw(http, "/v1/apis", b"name=x", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 422)


WRONG_METHODS = [
    ("PUT", "/v1/apis"), ("PATCH", "/v1/apis"), ("DELETE", "/v1/apis"),
    ("POST", "/v1/apis/{api}"), ("PUT", "/v1/apis/{api}"),
    ("PATCH", "/v1/alerts"), ("PUT", "/v1/webhooks"), ("GET", "/v1/leaks"),
    ("POST", "/v1/apis/{api}/roles"), ("POST", "/v1/apis/{api}/roles/reader"),
    ("PUT", "/v1/keys"), ("DELETE", "/v1/keys"), ("PUT", "/v1/keys/{key}"), ("POST", "/v1/keys/{key}"),
    ("GET", "/v1/keys/{key}/revoke"), ("GET", "/v1/keys/{key}/roll"), ("DELETE", "/v1/keys/{key}/revoke"),
    ("PUT", "/v1/root-keys"), ("PATCH", "/v1/root-keys/{key}"), ("POST", "/v1/audit"),
    ("DELETE", "/v1/audit"), ("PUT", "/v1/keys/verify"), ("GET", "/v1/keys/verify"),
    ("DELETE", "/v1/keys/verify"), ("PATCH", "/v1/keys/verify"), ("OPTIONS", "/v1/apis"),
]


async def test_a_wrong_method_is_a_405_problem(http, api, key, subtests):
    for method, path in WRONG_METHODS:
        with subtests.test(method=method, path=path):
            response = await http.request(method, path.format(api=api["id"], key=key["id"]), json={})
            assert_problem(response, 405)
            assert response.headers.get("allow")


async def test_an_unknown_path_is_a_404_problem(http, subtests):
    for path in ("/v1/nope", "/nope", "/v1", "/v1/", "/v1/apis/x/y/z", "/v1/keys/x/nope",
                 "/v1/keys/x/revoke/now", "/v1/%00", "/v1/%F0%9F%92%A5", "/v2/apis",
                 "/v1/apis/" + "x" * 5000 + "/z", "/v1/keys/verify/x"):
        for method in ("GET", "POST"):
            with subtests.test(method=method, path=path[:30]):
                assert_problem(await http.request(method, path), 404)


async def test_every_error_of_a_write_is_problem_json_even_without_authorization(http):
    request = http.build_request("POST", "/v1/apis", content=b"{", headers={"content-type": "application/json"})
    del request.headers["authorization"]
    response = await http.send(request)
    # FastAPI reads the body before the root-key dependency runs, so an unreadable body is
    # answered first (400); a readable one without a key is the 401 (test_v1_root_keys.py).
    assert_problem(response, 400)
