"""Which audiences a token gets (RFC 8707 resource indicators): the client-credentials,
authorization-code, device and token-exchange flows all ask here, as they ask
`scopes.granted_scopes` for the scopes."""

from __future__ import annotations

from keyplane.errors import InvalidTarget
from keyplane.oauth.model import Client


def audience_for(client: Client, resources: tuple[str, ...]) -> tuple[str, ...]:
    """RFC 8707: the requested resources, each one the client may have; else its default."""
    if resources:
        unknown = [r for r in resources if r not in client.audiences]
        if unknown:
            raise InvalidTarget(f"this client may not get tokens for {unknown[0]}")
        return tuple(dict.fromkeys(resources))
    if client.default_audience is None:
        raise InvalidTarget("no resource was given and the client has no default audience")
    return (client.default_audience,)
