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

from mlmon.spec import ModelSpec

log = logging.getLogger(__name__)

DEFAULT_KEY = "change-me"
PiiMode = Literal["hash", "drop"]


class PiiProtector:
    def __init__(self, spec: ModelSpec, mode: PiiMode, key: SecretStr | str) -> None:
        if mode not in ("hash", "drop"):
            raise ValueError(f"unknown PII mode {mode!r}: use hash or drop")
        raw = key.get_secret_value() if isinstance(key, SecretStr) else key
        if mode == "hash" and raw == DEFAULT_KEY:
            log.warning("MLMON_PII_HASH_KEY is the default; set a secret key so PII tokens cannot be guessed")
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
