from __future__ import annotations

import pytest

from mlmon.errors import ConfigError
from mlmon.inference_log import PiiProtector
from mlmon.spec import load_spec, parse_spec
from tests.conftest import REPO

SPEC = load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")  # postcode is PII
NO_PII = parse_spec(
    {"model": "m", "prediction": {"kind": "regression"}, "features": [{"name": "x", "type": "numeric"}]}
)
KEY = "a-random-secret-of-sufficient-length"


def test_token_is_hmac_sha256_rfc4231_vector() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?" (a spec without PII: no key rules)
    protector = PiiProtector(NO_PII, "hash", "Jefe")
    assert protector.token("what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_hash_mode_replaces_only_pii_values() -> None:
    protector = PiiProtector(SPEC, "hash", KEY)
    out = protector.protect({"postcode": "1011AB", "income": 5.0, "channel": "web"})
    assert protector.fields == {"postcode"}
    assert out["postcode"] != "1011AB" and len(out["postcode"]) == 64
    assert out["postcode"] == protector.protect({"postcode": "1011AB"})["postcode"]  # stable: counts still work
    assert PiiProtector(SPEC, "hash", KEY + "-other").token("1011AB") != out["postcode"]
    assert out["income"] == 5.0 and out["channel"] == "web"
    assert protector.protect({"postcode": None})["postcode"] is None


def test_drop_mode_removes_the_field_and_needs_no_key() -> None:
    out = PiiProtector(SPEC, "drop", None).protect({"postcode": "1011AB", "income": 5.0})
    assert out == {"income": 5.0}


@pytest.mark.parametrize("key", [None, "change-me", "change-me-pii-hash-key", "short"])
def test_a_missing_or_placeholder_key_is_refused_naming_the_setting(key: str | None) -> None:
    with pytest.raises(ConfigError, match=r"^MLMON_PII_HASH_KEY: ") as info:
        PiiProtector(SPEC, "hash", key)
    assert "MLMON_PII_MODE=drop" in str(info.value)
