"""The verifier SDK: what the APIs of a trust domain use to accept keyplane's credentials.

Public names are re-exported by `keyplane` itself: `Verifier`, `Principal`, `AuthError`.
Framework adapters live in `keyplane.integrations`. The design and its staleness bounds:
docs/sdk.md.
"""

from keyplane.sdk.errors import AuthError
from keyplane.sdk.principal import Principal, RateLimitState
from keyplane.sdk.verifier import Verifier

__all__ = ["AuthError", "Principal", "RateLimitState", "Verifier"]
