"""The `list` and `get` commands a resource group has, made once: a page of
`GET /v1/<resources>` as a table (or its JSON), one `GET /v1/<resources>/{id}` as fields.

No `from __future__ import annotations` here: Typer reads each command's parameters from its
signature, so the annotations made below must be objects, not names to look up.
"""

import inspect
from collections.abc import Sequence
from typing import Any

import typer

from keyplane.cli.client import (
    DEFAULT_URL,
    AllOption,
    CursorOption,
    LimitOption,
    RootKeyOption,
    UrlOption,
    connect,
    resource,
)
from keyplane.cli.output import Column, JsonOption, print_object, print_page

_CONNECTION = (
    inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption),
    inspect.Parameter("url", inspect.Parameter.KEYWORD_ONLY, default=DEFAULT_URL, annotation=UrlOption),
    inspect.Parameter("root_key", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RootKeyOption),
)


def add_list_command(app: typer.Typer, path: str, columns: Sequence[Column], *, doc: str,
                     empty: str, name: str = "list") -> None:
    """`<group> list [--limit] [--cursor] [--all]`: a page of `path`, or every page."""

    def list_command(limit: LimitOption = None, cursor: CursorOption = None, every: AllOption = False,
                     json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                     root_key: RootKeyOption = None) -> None:
        with connect(url, root_key) as client:
            page = client.collect(path, {"limit": limit, "cursor": cursor}, every=every)
        print_page(page, columns, json_output=json_output, empty=empty)

    list_command.__doc__ = doc
    app.command(name)(list_command)


def add_get_command(app: typer.Typer, path: str, fields: Sequence[Column], *, id_name: str,
                    id_type: Any, doc: str, name: str = "get") -> None:
    """`<group> get ID`: one object of `path`. The id parameter is named `id_name` (its
    metavar in `--help`) and declared by `id_type` (an `Annotated[str, typer.Argument]`)."""

    def get_command(**given: Any) -> None:
        with connect(given["url"], given["root_key"]) as client:
            found = client.get(resource(path, given[id_name]))
        print_object(found, fields, json_output=given["json_output"])

    # The parameters Typer reads: the id, then the connection's.
    parameters = [inspect.Parameter(id_name, inspect.Parameter.KEYWORD_ONLY, annotation=id_type),
                  *_CONNECTION]
    get_command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    get_command.__annotations__ = {p.name: p.annotation for p in parameters}
    get_command.__doc__ = doc
    app.command(name)(get_command)
