from __future__ import annotations

from mlmon.inference_log import PiiProtector
from mlmon.spec import load_spec
from tests.conftest import REPO

SPEC = load_spec(REPO / "mlmon" / "demo" / "loan_default.yaml")


def test_token_is_hmac_sha256_rfc4231_vector() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    protector = PiiProtector(SPEC, "hash", "Jefe")
    assert protector.token("what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_hash_mode_replaces_only_pii_values() -> None:
    protector = PiiProtector(SPEC, "hash", "secret")
    out = protector.protect({"postcode": "1011AB", "income": 5.0, "channel": "web"})
    assert protector.fields == {"postcode"}
    assert out["postcode"] != "1011AB" and len(out["postcode"]) == 64
    assert out["postcode"] == protector.protect({"postcode": "1011AB"})["postcode"]  # stable: counts still work
    assert PiiProtector(SPEC, "hash", "other-key").token("1011AB") != out["postcode"]
    assert out["income"] == 5.0 and out["channel"] == "web"
    assert protector.protect({"postcode": None})["postcode"] is None


def test_drop_mode_removes_the_field() -> None:
    out = PiiProtector(SPEC, "drop", "secret").protect({"postcode": "1011AB", "income": 5.0})
    assert out == {"income": 5.0}
