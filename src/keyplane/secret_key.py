"""The service secret (`KEYPLANE_SECRET_KEY`): the root of the key-hash pepper and of the
keys that encrypt signing keys at rest."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from keyplane.config import Settings

log = logging.getLogger("keyplane")

SECRET_FILE = "secret.key"


def load_secret_key(settings: Settings) -> bytes:
    """KEYPLANE_SECRET_KEY, or the one in the data directory, generated (mode 0600) on
    first start with a warning: every replica must share it, so a deployment sets it."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker wrote it a moment ago
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            log.warning("KEYPLANE_SECRET_KEY is not set: generated one in %s (mode 0600). Back it "
                        "up; every replica sharing this database must use the same one.", path)
    text = path.read_text().strip()
    if len(text) < 32:
        raise ValueError(f"{path} holds a secret shorter than 32 characters")
    return text.encode()
