"""The product knows nothing about the loan demo: no product module imports ``mlmon.demo`` or names a
feature, key or class of the demo spec (in code, strings or docstrings)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
PRODUCT = ["mlmon", "model_server", "stats_service", "drift_detector"]
DEMO = REPO / "mlmon" / "demo"


def product_files() -> list[Path]:
    files = []
    for package in PRODUCT:
        files += [p for p in (REPO / package).rglob("*.py") if DEMO not in p.parents]
    return sorted(files)


# Demo names that are also ordinary English words: only flagged as a whole string literal ("channel").
COMMON_WORDS = {"default", "age", "region", "channel"}


def demo_names() -> set[str]:
    spec = yaml.safe_load((DEMO / "loan_default.yaml").read_text())
    names = {f["name"] for f in spec["features"]}
    names |= set(spec["entity"]["keys"]) | set(spec["prediction"]["classes"]) | {spec["model"]}
    return names | {"loan", "loans", "lending"}


def test_no_product_module_imports_the_demo() -> None:
    offenders = []
    for path in product_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            offenders += [f"{path.relative_to(REPO)}: {m}" for m in modules if m.startswith("mlmon.demo")]
    assert not offenders, offenders


def test_no_product_module_names_a_demo_feature() -> None:
    words = demo_names() - COMMON_WORDS
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, words))) + r")\b")
    literals = {f'"{w}"' for w in COMMON_WORDS} | {f"'{w}'" for w in COMMON_WORDS}
    offenders = []
    for path in product_files():
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type not in (tokenize.NAME, tokenize.STRING, tokenize.COMMENT):
                continue
            if (m := pattern.search(token.string)) or token.string in literals:
                offenders.append(f"{path.relative_to(REPO)}:{token.start[0]}: {m.group(0) if m else token.string!r}")
    assert not offenders, "\n".join(offenders)
