"""Settings: one frozen object from the environment and `keyplane.toml`.

Every setting has an environment name `KEYPLANE_<NAME>` and the same name in lower case in
`keyplane.toml` (found in the working directory, or at `KEYPLANE_CONFIG`); the environment
wins. Nothing else in keyplane reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from keyplane.errors import FieldError, Invalid

ENV_PREFIX = "KEYPLANE_"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "keyplane"


class Settings(BaseModel):
    """What a keyplane process is configured with; built once and passed down."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    redis_url: str | None = None
    root_key: SecretStr | None = None
    issuer: str | None = None
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    auto_migrate: bool = True
    log_level: str = "info"
    # One JSON line a request on stdout, at log levels info and below (http/access_log.py).
    # Off by default: on one pinned core it cost 12-14 % of key verifications (2026-12-08,
    # bench/NOTES.md §17c), over the 5 % that what `keyplane serve` logs by default may cost.
    access_log: bool = False
    # Set by `keyplane serve --workers N` for its workers: with several processes and no
    # Redis, a process cannot hear the others' key changes (GET /v1/keys/changes refuses).
    workers: int = Field(default=1, ge=1, le=512)
    # Five flushes a second: each holds the GIL for less Python at a time, so verification's
    # p99 at half its maximum rate was 4.6-5.1 ms against 6.8-7.5 ms with 1 s (same runs,
    # one pinned core, 2026-12-07), and a crash loses 0.2 s of usage records, not 1 s.
    usage_flush_seconds: float = Field(default=0.2, gt=0, le=60)
    usage_buffer_size: int = Field(default=100_000, ge=100, le=10_000_000)
    usage_retention_days: int = Field(default=90, ge=1, le=3650)
    signing_alg: Literal["ES256", "EdDSA", "RS256"] = "ES256"
    signing_key_rotation_days: int = Field(default=30, ge=1, le=3650)
    signing_key_publish_ahead_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    access_token_ttl_seconds: int = Field(default=600, ge=10, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=60, le=366 * 86_400)
    refresh_token_idle_seconds: int = Field(default=7 * 86_400, ge=60, le=366 * 86_400)
    refresh_token_reuse_grace_seconds: int = Field(default=5, ge=0, le=60)
    device_code_ttl_seconds: int = Field(default=600, ge=60, le=1800)
    device_poll_interval_seconds: int = Field(default=5, ge=1, le=60)
    device_user_code_attempts: int = Field(default=10, ge=1, le=1000)
    device_user_code_window_seconds: int = Field(default=60, ge=1, le=86_400)
    session_idle_seconds: int = Field(default=1800, ge=60, le=30 * 86_400)
    session_absolute_seconds: int = Field(default=12 * 3600, ge=300, le=90 * 86_400)
    # /metrics names API ids and counts: true makes it ask for a root key with metrics.read.
    metrics_root_key_required: bool = False
    # Security alerts (docs/alerts.md): detectors read the verification batches and the
    # audit entries; the thresholds below are their defaults.
    alerts_enabled: bool = True
    alert_enumeration_threshold: int = Field(default=20, ge=2, le=1_000_000)
    alert_enumeration_window_seconds: int = Field(default=60, ge=1, le=86_400)
    alert_tracked_addresses: int = Field(default=100_000, ge=100, le=10_000_000)
    alert_spike_factor: float = Field(default=10.0, ge=1.5, le=10_000)
    alert_spike_floor: int = Field(default=1000, ge=1, le=1_000_000_000)
    alert_spike_baseline_hours: int = Field(default=24, ge=1, le=24 * 30)
    alert_expiring_days: int = Field(default=7, ge=1, le=365)
    alert_sweep_seconds: float = Field(default=60.0, ge=0.1, le=86_400)
    # Webhooks (docs/webhooks.md). Private, loopback and link-local targets are refused
    # unless allowed (development and tests).
    webhooks_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0, le=10)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0, le=86_400)
    webhook_retry_for_seconds: float = Field(default=86_400.0, gt=0, le=30 * 86_400)
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=4, ge=1, le=64)
    # The code host's secret-scanning keys (`POST /v1/leaks/github`; docs/leaks.md).
    github_scanning_keys: Path | None = None
    # RFC 9449 §8: require a server-issued nonce in every DPoP proof at the token endpoint.
    dpop_nonce_required: bool = False

    @field_validator("root_key", "secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'keyplane.db'}"

    @property
    def resolved_issuer(self) -> str:
        return (self.issuer or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from `keyplane.toml`, then the environment, then explicit overrides.

    Raises Invalid naming the offending setting when a value is wrong.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or Path(environ.get(f"{ENV_PREFIX}CONFIG", "keyplane.toml"))
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise Invalid.field(str(path), f"not valid TOML: {exc}", status=400) from None
    for name in Settings.model_fields:
        env_value = environ.get(ENV_PREFIX + name.upper())
        if env_value is not None and env_value != "":
            values[name] = env_value
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        errors = [
            FieldError(ENV_PREFIX + ".".join(str(p) for p in e["loc"]).upper(), e["msg"])
            for e in exc.errors()
        ]
        raise Invalid(errors, status=400) from None
