"""Permissions and the permission query language.

A permission is a dotted name (`documents.read`, `projects.p_42.read`). A granted name
ending in `.*` covers every name below it (`documents.*` covers `documents.read` and
`documents.drafts.read`); `*` alone covers everything.

A query says what a request needs::

    query := or
    or    := and ("OR" and)*
    and   := term ("AND" term)*
    term  := PERMISSION | "(" or ")"

`AND` binds tighter than `OR`; keywords are case-insensitive. Queries are compiled once
and cached, so the verify path only evaluates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from keyplane.errors import Invalid

MAX_PERMISSION_LENGTH = 128
MAX_QUERY_LENGTH = 1000
MAX_DEPTH = 16

_SEGMENT = r"[A-Za-z0-9_:-]+"
_PERMISSION_RE = re.compile(rf"\*|{_SEGMENT}(?:\.{_SEGMENT})*(?:\.\*)?")
_TOKEN_RE = re.compile(r"\s*(?:(\()|(\))|([^\s()]+))")
_KEYWORDS = {"and", "or"}


def permission_error(name: str) -> str | None:
    """Why `name` is not a valid permission, or None when it is."""
    if not name or len(name) > MAX_PERMISSION_LENGTH:
        return f"must be 1 to {MAX_PERMISSION_LENGTH} characters"
    if name.lower() in _KEYWORDS:
        return "AND and OR are reserved words"
    if _PERMISSION_RE.fullmatch(name) is None:
        return "must be dotted names of letters, digits, '_', ':' or '-', optionally ending in '.*'"
    return None


@dataclass(frozen=True, slots=True)
class Grants:
    """A set of granted permissions, prepared for fast `covers` checks."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]  # "documents." for a grant of "documents.*"
    everything: bool

    @classmethod
    def of(cls, names: Iterable[str]) -> Grants:
        exact = frozenset(names)
        prefixes = tuple(sorted(n[:-1] for n in exact if n.endswith(".*")))
        return cls(exact=exact, prefixes=prefixes, everything="*" in exact)

    def covers(self, name: str) -> bool:
        return self.everything or name in self.exact or name.startswith(self.prefixes)


@dataclass(frozen=True, slots=True)
class Need:
    permission: str

    def satisfied_by(self, grants: Grants) -> bool:
        return grants.covers(self.permission)


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[PermissionQuery, ...]

    def satisfied_by(self, grants: Grants) -> bool:
        return all(p.satisfied_by(grants) for p in self.parts)


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[PermissionQuery, ...]

    def satisfied_by(self, grants: Grants) -> bool:
        return any(p.satisfied_by(grants) for p in self.parts)


PermissionQuery = Need | AllOf | AnyOf


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:  # only trailing whitespace is left
            break
        token = match.group(1) or match.group(2) or match.group(3)
        if token is None:
            break
        tokens.append(token)
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def fail(self, message: str) -> Invalid:
        return Invalid.field("permissions", message, status=400)

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> PermissionQuery:
        if not self.tokens:
            raise self.fail("the permission query is empty")
        query = self.or_(0)
        if self.pos != len(self.tokens):
            raise self.fail(f"unexpected {self.tokens[self.pos]!r} at token {self.pos + 1}")
        return query

    def or_(self, depth: int) -> PermissionQuery:
        parts = [self.and_(depth)]
        while (token := self.peek()) is not None and token.lower() == "or":
            self.pos += 1
            parts.append(self.and_(depth))
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    def and_(self, depth: int) -> PermissionQuery:
        parts = [self.term(depth)]
        while (token := self.peek()) is not None and token.lower() == "and":
            self.pos += 1
            parts.append(self.term(depth))
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def term(self, depth: int) -> PermissionQuery:
        token = self.peek()
        if token is None:
            raise self.fail("the query ends where a permission or '(' was expected")
        if token == "(":
            if depth >= MAX_DEPTH:
                raise self.fail(f"parentheses nest deeper than {MAX_DEPTH}")
            self.pos += 1
            inner = self.or_(depth + 1)
            if self.peek() != ")":
                raise self.fail("a '(' is not closed")
            self.pos += 1
            return inner
        if token == ")" or token.lower() in _KEYWORDS:
            raise self.fail(f"expected a permission or '(' but found {token!r} at token {self.pos + 1}")
        problem = permission_error(token)
        if problem is not None:
            raise self.fail(f"{token!r} is not a permission: {problem}")
        self.pos += 1
        return Need(token)


@lru_cache(maxsize=1024)
def parse_query(text: str) -> PermissionQuery:
    """Compile a permission query; raises Invalid (field `permissions`, status 400)."""
    if len(text) > MAX_QUERY_LENGTH:
        raise Invalid.field("permissions", f"the query is longer than {MAX_QUERY_LENGTH} characters", status=400)
    return _Parser(_tokenize(text)).parse()
