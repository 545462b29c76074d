"""What the commands print: aligned tables and field lists for people, JSON for scripts.

Values from the service are shown as they are, except that text which could steer a
terminal (control characters) is escaped, and lists, objects and empty values get a
compact form. A secret is printed only through `show_secret`, once, labelled as such.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import typer

JsonOption = Annotated[bool, typer.Option(
    "--json", help="Print the service's JSON response as is (for scripts).")]

Getter = Callable[[Mapping[str, Any]], Any]
Column = tuple[str, str | Getter]


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def text(value: Any) -> str:
    """One value as a single, terminal-safe line."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    rendered = str(value)
    if not rendered.isprintable():
        rendered = json.dumps(rendered, ensure_ascii=False)[1:-1]
    return rendered


def _cell(row: Mapping[str, Any], column: str | Getter) -> str:
    return text(row.get(column) if isinstance(column, str) else column(row))


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], *,
                empty: str = "(none)") -> None:
    """Rows under upper-case headers, columns aligned; `empty` when there are no rows."""
    if not rows:
        typer.echo(empty)
        return
    cells = [[header.upper() for header, _ in columns]]
    cells += [[_cell(row, getter) for _, getter in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())


def print_fields(obj: Mapping[str, Any], fields: Sequence[Column]) -> None:
    """One `name  value` line a field."""
    width = max(len(name) for name, _ in fields)
    for name, getter in fields:
        typer.echo(f"{name.ljust(width)}  {_cell(obj, getter)}")


def show_secret(label: str, secret: str, *, note: str) -> None:
    """The one time a key is printed: set apart and labelled, so no one mistakes it."""
    typer.echo("")
    typer.echo(f"{label} (shown only this once; store it now, keyplane keeps only a hash):")
    typer.echo("")
    typer.echo(f"    {secret}")
    typer.echo("")
    if note:
        typer.echo(note)


def print_next_page(page: Mapping[str, Any]) -> None:
    cursor = page.get("next_cursor")
    if cursor:
        typer.echo(f"(more: --cursor {cursor}, or --all for everything)", err=True)


def print_page(page: Mapping[str, Any], columns: Sequence[Column], *, json_output: bool,
               empty: str = "(none)") -> None:
    """A page of a list: the JSON as is for scripts; a table and the next-page hint for people."""
    if json_output:
        print_json(page)
        return
    print_table(page["items"], columns, empty=empty)
    print_next_page(page)


def print_object(obj: Mapping[str, Any], fields: Sequence[Column], *, json_output: bool,
                 headline: str | None = None) -> None:
    """One object: the JSON as is for scripts; an optional headline and its fields for people."""
    if json_output:
        print_json(obj)
        return
    if headline is not None:
        typer.echo(headline)
    print_fields(obj, fields)
