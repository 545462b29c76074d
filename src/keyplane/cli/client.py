"""The small HTTP client the management commands use to talk to a running service.

The service is at KEYPLANE_URL (default http://127.0.0.1:8080), the caller authenticates
with KEYPLANE_ROOT_KEY; both can be given as `--url` / `--root-key` instead. HTTP errors
become a CliError carrying the problem's detail and field errors (RFC 9457); a service
that cannot be reached becomes a CliError that says so. The root key is sent only in the
Authorization header and never printed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer

from keyplane.cli.errors import BadConfiguration, CliError

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECONDS = 15.0
MIN_ROOT_KEY_LENGTH = 32
MAX_ROOT_KEY_LENGTH = 256

UrlOption = Annotated[str, typer.Option(
    "--url", envvar="KEYPLANE_URL", show_envvar=True,
    help="Base URL of the keyplane service.")]
RootKeyOption = Annotated[str | None, typer.Option(
    "--root-key", envvar="KEYPLANE_ROOT_KEY", show_envvar=True, show_default=False,
    help="A root key (prefer the environment variable: options show up in `ps`).")]

LimitOption = Annotated[int | None, typer.Option(
    "--limit", min=1, max=1000, help="Items a page (the service's default: 100).")]
CursorOption = Annotated[str | None, typer.Option(
    "--cursor", help="Start after this next_cursor of a previous page.")]
AllOption = Annotated[bool, typer.Option("--all", help="Follow next_cursor to the last page.")]

Params = Mapping[str, str | int | bool | None]


def resource(base: str, *segments: str) -> str:
    """`base` followed by `segments`, each escaped: an id typed by a user stays one segment."""
    return "/".join([base, *(quote(s, safe="") for s in segments)])


class Client:
    """A session with one keyplane service, authenticated by one root key."""

    def __init__(self, url: str, root_key: str) -> None:
        self.url = url
        self._http = httpx.Client(
            base_url=url, timeout=TIMEOUT_SECONDS,
            headers={"Authorization": f"Bearer {root_key}", "Accept": "application/json",
                     "User-Agent": "keyplane-cli"})

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._http.close()

    def get(self, path: str, params: Params | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body=body)

    def delete(self, path: str, params: Params | None = None) -> Any:
        return self.request("DELETE", path, params=params)

    def request(self, method: str, path: str, *, params: Params | None = None,
                body: Any = None) -> Any:
        """The decoded JSON answer (None for 204); raises CliError for anything else."""
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=query,
                                          json=body if body is not None else None)
        except httpx.ConnectError as exc:
            raise CliError(f"cannot connect to keyplane at {self.url} ({_reason(exc)})", [
                "Is `keyplane serve` running? Point KEYPLANE_URL (or --url) at the service."
            ]) from None
        except httpx.TimeoutException:
            raise CliError(f"keyplane at {self.url} did not answer within "
                           f"{TIMEOUT_SECONDS:g} seconds") from None
        except httpx.HTTPError as exc:
            raise CliError(f"request to {self.url} failed: {_reason(exc)}") from None
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(f"{self.url} answered {response.status_code} with a body that is not "
                           "JSON: is KEYPLANE_URL a keyplane service?") from None

    def pages(self, path: str, params: Params, *, every: bool) -> Iterator[dict[str, Any]]:
        """Each page of a paginated list; with `every`, follows `next_cursor` to the end."""
        query = dict(params)
        while True:
            page = self.get(path, query)
            yield page
            cursor = page.get("next_cursor")
            if not every or not cursor:
                return
            query["cursor"] = cursor

    def collect(self, path: str, params: Params, *, every: bool) -> dict[str, Any]:
        """One page, or (with `every`) all of them as one: {"items", "next_cursor"}."""
        items: list[Any] = []
        cursor = None
        for page in self.pages(path, params, every=every):
            items.extend(page.get("items", []))
            cursor = page.get("next_cursor")
        return {"items": items, "next_cursor": cursor}


def connect(url: str, root_key: str | None) -> Client:
    """A client for the service at `url`; raises BadConfiguration for a missing or
    malformed root key or URL, before anything is sent."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise BadConfiguration(f"KEYPLANE_URL must be an http:// or https:// URL, not {url!r}")
    if not root_key:
        raise BadConfiguration("no root key: set KEYPLANE_ROOT_KEY (or pass --root-key)", [
            "Create the first one with `keyplane bootstrap` on the service's host."])
    if not MIN_ROOT_KEY_LENGTH <= len(root_key) <= MAX_ROOT_KEY_LENGTH:
        raise BadConfiguration(f"KEYPLANE_ROOT_KEY: must be {MIN_ROOT_KEY_LENGTH} to "
                               f"{MAX_ROOT_KEY_LENGTH} characters long")
    if not (root_key.isascii() and root_key.isprintable()) or " " in root_key:
        raise BadConfiguration("KEYPLANE_ROOT_KEY: must be printable ASCII without spaces")
    return Client(url, root_key)


def _query_value(value: str | int | bool) -> str | int:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc)
    if "refused" in text.lower() or "errno 111" in text.lower():
        return "connection refused"
    return text or type(exc).__name__


_HINTS = {
    401: "Check KEYPLANE_ROOT_KEY: it must be a root key of this service.",
    403: "Use a root key holding that permission (or `*`).",
}


class HttpProblem(CliError):
    """The service answered with an error status (its RFC 9457 problem, if any)."""

    def __init__(self, status: int, message: str, details: list[str]) -> None:
        super().__init__(message, details)
        self.status = status


def _problem(response: httpx.Response) -> HttpProblem:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return HttpProblem(status, f"{status} {response.reason_phrase} from "
                                   f"{response.request.url.path}", [])
    title = str(body.get("title") or response.reason_phrase)
    detail = str(body.get("detail") or "")
    details = []
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            field, message = str(error.get("field") or ""), str(error.get("message") or "")
            line = f"{field}: {message}" if field else message
            if line not in detail:  # the detail usually sums the field errors up already
                details.append(line)
    hint = _HINTS.get(status)
    if hint:
        details.append(hint)
    message = f"{status} {title}: {detail}" if detail and detail != title else f"{status} {title}"
    return HttpProblem(status, message, details)
