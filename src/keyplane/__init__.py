"""keyplane: self-hosted API keys and API tokens.

The public names of this package are the verifier SDK's (docs/sdk.md):
`Verifier`, `Principal`, `AuthError`.
"""

__version__ = "0.1.0"

from keyplane.sdk.errors import AuthError
from keyplane.sdk.principal import Principal
from keyplane.sdk.verifier import Verifier

__all__ = ["AuthError", "Principal", "Verifier", "__version__"]
