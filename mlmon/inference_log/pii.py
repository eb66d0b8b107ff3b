"""PII features never reach the store in clear: keyed hash (HMAC-SHA256) or dropped, per settings.

A keyed hash keeps equality (the same zip code gives the same token, so counts and joins still work) while a
plain SHA-256 of a zip code could be reversed by hashing every zip code. The key comes from
``MLMON_PII_HASH_KEY`` and must stay secret and stable (changing it changes every token).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import SecretStr

from mlmon.errors import ConfigError
from mlmon.spec import ModelSpec

log = logging.getLogger(__name__)

PiiMode = Literal["hash", "drop"]
# Keys that make stored PII reversible by enumeration: refused (an example file's value is not a secret).
PLACEHOLDER_KEYS = frozenset({"change-me", "changeme", "change-me-pii-hash-key", "secret", ""})
MIN_KEY_LENGTH = 16


def key_problem(spec: ModelSpec, mode: PiiMode, key: SecretStr | str | None) -> str | None:
    """Why this key cannot protect the spec's PII features, or None when it can (or there is none to protect)."""
    if mode != "hash" or not any(f.pii for f in spec.features):
        return None
    raw = key.get_secret_value() if isinstance(key, SecretStr) else key
    if raw is None:
        return "not set, and the spec has PII features to hash; set a random secret (e.g. `openssl rand -hex 32`)"
    if raw.lower() in PLACEHOLDER_KEYS or "change-me" in raw.lower() or len(raw) < MIN_KEY_LENGTH:
        return f"a placeholder or shorter than {MIN_KEY_LENGTH} characters; set a random secret"
    return None


class PiiProtector:
    def __init__(self, spec: ModelSpec, mode: PiiMode, key: SecretStr | str | None) -> None:
        if mode not in ("hash", "drop"):
            raise ValueError(f"unknown PII mode {mode!r}: use hash or drop")
        problem = key_problem(spec, mode, key)
        if problem is not None:
            raise ConfigError(f"MLMON_PII_HASH_KEY: {problem}", hint="or set MLMON_PII_MODE=drop")
        raw = key.get_secret_value() if isinstance(key, SecretStr) else (key or "")
        self.mode = mode
        self.fields = frozenset(f.name for f in spec.features if f.pii)
        self._key = raw.encode("utf-8")

    def token(self, value: Any) -> str:
        return hmac.new(self._key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()

    def protect(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``features`` with PII values hashed (missing stays None) or removed."""
        out = dict(features)
        for name in self.fields:
            if name not in out:
                continue
            if self.mode == "drop":
                del out[name]
            elif out[name] is not None:
                out[name] = self.token(out[name])
        return out
