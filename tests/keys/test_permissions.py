"""Permissions, grants and the permission query language."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyplane.errors import Invalid
from keyplane.keys.permissions import (
    MAX_DEPTH,
    MAX_PERMISSION_LENGTH,
    MAX_QUERY_LENGTH,
    AllOf,
    AnyOf,
    Grants,
    Need,
    PermissionQuery,
    parse_query,
    permission_error,
)

PURE = settings(max_examples=200, deadline=None)


def satisfied(query: str, granted: Iterable[str]) -> bool:
    return parse_query(query).satisfied_by(Grants.of(granted))


def invalid_query(text: str) -> Invalid:
    with pytest.raises(Invalid) as caught:
        parse_query(text)
    error = caught.value
    assert error.status == 400
    assert [e.field for e in error.errors] == ["permissions"]
    assert error.errors[0].message
    return error


# -- parsing ---------------------------------------------------------------------------


def test_and_with_a_parenthesised_or_parses_into_their_tree() -> None:
    assert parse_query("a AND (b OR c)") == AllOf((Need("a"), AnyOf((Need("b"), Need("c")))))


def test_and_binds_tighter_than_or() -> None:
    assert parse_query("a OR b AND c") == AnyOf((Need("a"), AllOf((Need("b"), Need("c")))))
    assert parse_query("a AND b OR c") == AnyOf((AllOf((Need("a"), Need("b"))), Need("c")))
    assert satisfied("a OR b AND c", ["a"])
    assert not satisfied("a AND b OR c", ["a"])


def test_keywords_are_case_insensitive() -> None:
    expected = AnyOf((Need("a"), AllOf((Need("b"), Need("c")))))
    for text in ("a or b and c", "a Or b aNd c", "a OR b AND c"):
        assert parse_query(text) == expected


def test_a_single_permission_is_a_query() -> None:
    assert parse_query("documents.read") == Need("documents.read")
    assert parse_query("  documents.read\t") == Need("documents.read")
    assert parse_query("((documents.read))") == Need("documents.read")


def test_parentheses_need_no_surrounding_spaces() -> None:
    assert parse_query("a AND(b OR c)") == parse_query("a AND (b OR c)")
    assert parse_query("(a)AND(b)") == AllOf((Need("a"), Need("b")))


def test_the_documented_example_parses() -> None:
    query = "documents.read AND (documents.write OR admin)"
    assert satisfied(query, ["documents.read", "admin"])
    assert satisfied(query, ["documents.*"])
    assert not satisfied(query, ["documents.read"])
    assert not satisfied(query, ["documents.write", "admin"])


def test_parentheses_nest_up_to_the_limit_and_no_deeper() -> None:
    assert parse_query("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH) == Need("a")
    invalid_query("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))


def test_a_deep_nesting_attack_is_an_invalid_query_not_a_crash() -> None:
    half = MAX_QUERY_LENGTH // 2
    invalid_query("(" * (half - 1) + "a" + ")" * (half - 1))


def test_a_query_of_the_maximum_length_parses_and_a_longer_one_is_refused() -> None:
    base = " OR ".join(["a"] * 200)
    text = base + " " * (MAX_QUERY_LENGTH - len(base))
    assert len(text) == MAX_QUERY_LENGTH
    assert isinstance(parse_query(text), AnyOf)
    error = invalid_query(text + "x")
    assert str(MAX_QUERY_LENGTH) in error.errors[0].message


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "(",
        ")",
        "()",
        "(a",
        "a)",
        "((a)",
        "(a))",
        "a AND",
        "a OR",
        "a AND (b OR)",
        "AND a",
        "OR a",
        "and",
        "a b",
        "a (b)",
        "(a) b",
        "a AND AND b",
        "a OR AND b",
        "a AND OR b",
        "a & b",
        "a && b",
        "a || b",
        "NOT a",
        "a.",
        ".a",
        "a..b",
        "a.*.b",
        "a*",
        "a,b",
        "a;b",
        "docs/read",
        "documents.réad",
        "a\x00b",
        "x" * (MAX_PERMISSION_LENGTH + 1),
    ],
)
def test_a_malformed_query_is_invalid_for_the_permissions_field(text: str) -> None:
    invalid_query(text)


# -- grants ----------------------------------------------------------------------------


def test_a_wildcard_grant_covers_every_name_below_it() -> None:
    grants = Grants.of(["documents.*"])
    assert grants.covers("documents.read")
    assert grants.covers("documents.a.b")
    assert grants.covers("documents.drafts.*")
    assert not grants.covers("documentsX.read")
    assert not grants.covers("documents")
    assert not grants.covers("other.read")


def test_a_star_grant_covers_everything() -> None:
    grants = Grants.of(["*"])
    for name in ("documents.read", "a", "x.y.z", "*"):
        assert grants.covers(name)


def test_an_exact_grant_covers_only_that_name() -> None:
    grants = Grants.of(["documents.read"])
    assert grants.covers("documents.read")
    assert not grants.covers("documents.read.all")
    assert not grants.covers("documents.write")
    assert not grants.covers("documents")
    assert not grants.covers("*")


def test_no_grants_cover_nothing() -> None:
    assert not Grants.of([]).covers("a")
    assert not satisfied("a OR b", [])


def test_a_resource_can_be_named_in_a_permission() -> None:
    assert satisfied("projects.p_42.read", ["projects.p_42.*"])
    assert not satisfied("projects.p_43.read", ["projects.p_42.*"])


def test_permission_error_accepts_dotted_names_and_a_trailing_wildcard() -> None:
    for name in ("documents.read", "projects.p_42.read", "a", "A-b:c_d", "documents.*", "*",
                 "x" * MAX_PERMISSION_LENGTH):
        assert permission_error(name) is None, name


def test_permission_error_refuses_what_is_not_a_permission() -> None:
    for name in ("", "x" * (MAX_PERMISSION_LENGTH + 1), "AND", "or", "Or", "a.", ".a", "a..b",
                 "a.*.b", "a*", "*.a", "**", "a b", "a(b", "é", "a/b", "a.**"):
        assert permission_error(name) is not None, name


# -- properties ------------------------------------------------------------------------

NAMES = ["a", "b", "c", "d.read", "d.write", "d.x.y", "e:1", "f-2"]
GRANTABLE = NAMES + ["d.*", "d.x.*", "*"]

leaves = st.sampled_from(NAMES).map(Need)


def _extend(children: st.SearchStrategy[PermissionQuery]) -> st.SearchStrategy[PermissionQuery]:
    parts = st.lists(children, min_size=2, max_size=4).map(tuple)
    return parts.map(AllOf) | parts.map(AnyOf)


# Depth stays below MAX_DEPTH with 12 leaves of at least two per node.
queries = st.recursive(leaves, _extend, max_leaves=12)


def _covers(granted: set[str], name: str) -> bool:
    return any(g == "*" or g == name or (g.endswith(".*") and name.startswith(g[:-1])) for g in granted)


def evaluate(query: PermissionQuery, granted: set[str]) -> bool:
    """The meaning of a query, written independently of the code under test."""
    if isinstance(query, Need):
        return _covers(granted, query.permission)
    results = [evaluate(p, granted) for p in query.parts]
    return all(results) if isinstance(query, AllOf) else any(results)


def render(query: PermissionQuery, keyword: st.DataObject | None = None) -> str:
    """Text for `query`, every compound operand in parentheses; keywords in random case."""
    if isinstance(query, Need):
        return query.permission
    word = "AND" if isinstance(query, AllOf) else "OR"
    joined = []
    for part in query.parts:
        text = render(part, keyword)
        joined.append(text if isinstance(part, Need) else f"({text})")
    if keyword is not None:
        spelled = keyword.draw(st.sampled_from([word, word.lower(), word.capitalize()]))
        space = keyword.draw(st.sampled_from([" ", "  ", "\t", "\n "]))
        return f"{space}{spelled}{space}".join(joined)
    return f" {word} ".join(joined)


def render_minimal(query: PermissionQuery) -> str:
    """Text for `query` with parentheses only where precedence needs them."""
    if isinstance(query, Need):
        return query.permission
    if isinstance(query, AnyOf):
        return " OR ".join(render_minimal(p) for p in query.parts)
    return " AND ".join(f"({render_minimal(p)})" if isinstance(p, AnyOf) else render_minimal(p)
                        for p in query.parts)


grant_sets = st.sets(st.sampled_from(GRANTABLE), max_size=6)


@PURE
@given(queries, st.lists(grant_sets, min_size=1, max_size=8), st.data())
def test_a_rendered_query_parses_back_to_the_same_tree_and_meaning(
    query: PermissionQuery, grant_list: list[set[str]], data: st.DataObject
) -> None:
    parsed = parse_query(render(query, data))
    assert parsed == query
    for granted in grant_list:
        assert parsed.satisfied_by(Grants.of(granted)) == evaluate(query, granted)


@PURE
@given(queries, st.lists(grant_sets, min_size=1, max_size=8))
def test_a_query_with_only_the_needed_parentheses_keeps_its_meaning(
    query: PermissionQuery, grant_list: list[set[str]]
) -> None:
    parsed = parse_query(render_minimal(query))
    for granted in grant_list:
        assert parsed.satisfied_by(Grants.of(granted)) == evaluate(query, granted)


query_alphabet = st.sampled_from(
    ["a", "b.c", "d.*", "*", "AND", "and", "OR", "or", "(", ")", " ", "  ", "\t", ".", "x_y",
     "é", "\x00", ",", "&", "|", "NOT", ":", "-"]
)
junk = st.lists(query_alphabet, max_size=30).map("".join) | st.text(max_size=60)


@PURE
@given(junk)
def test_any_string_either_parses_or_is_an_invalid_permissions_query(text: str) -> None:
    try:
        query = parse_query(text)
    except Invalid as error:
        assert error.status == 400
        assert [e.field for e in error.errors] == ["permissions"]
    else:
        assert isinstance(query, Need | AllOf | AnyOf)
        query.satisfied_by(Grants.of(["*"]))


@PURE
@given(st.text(st.sampled_from("abc.*_:-XYZ019 ()"), max_size=40))
def test_permission_error_agrees_with_the_parser_on_single_names(name: str) -> None:
    stripped = name.strip()
    if stripped and not any(c in stripped for c in " ()\t\n") and permission_error(stripped) is None:
        assert parse_query(stripped) == Need(stripped)
