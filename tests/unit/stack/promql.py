"""Just enough PromQL reading for the dashboard tests: which metrics and labels an expression uses.

Syntax itself is checked by ``promtool``; this only lists the selectors (metric name + matcher labels) and the
label names of ``by``/``without``/``on``/``ignoring``/``group_left``/``group_right`` clauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[a-zA-Z]*)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>=~|!~|!=|==|>=|<=|[-+*/^%<>=!{}()\[\],:@])
    )""",
    re.VERBOSE,
)
KEYWORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "atan2",
    "inf",
    "nan",
}
# aggregation operators may be followed by ``by (...)`` instead of ``(``: never metric names here
AGGREGATORS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
}
LABEL_CLAUSES = {"by", "without", "on", "ignoring", "group_left", "group_right"}


@dataclass
class Usage:
    selectors: list[tuple[str, list[str]]] = field(default_factory=list)  # (metric, matcher label names)
    grouping_labels: set[str] = field(default_factory=set)


def tokenize(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        match = _TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            raise ValueError(f"cannot read {expr[pos : pos + 20]!r} in {expr!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _label_list(tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    """Reads ``( a, b )`` starting at ``tokens[i] == "("``; returns the names and the index after ``)``."""
    names: list[str] = []
    assert tokens[i][1] == "(", tokens[i:]
    i += 1
    while tokens[i][1] != ")":
        if tokens[i][0] == "ident":
            names.append(tokens[i][1])
        i += 1
    return names, i + 1


def _matchers(tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    """Reads ``{ a="x", b=~"y" }`` starting at ``{``; returns the label names and the index after ``}``."""
    names: list[str] = []
    i += 1
    while tokens[i][1] != "}":
        if tokens[i][0] == "ident" and tokens[i + 1][1] in ("=", "!=", "=~", "!~"):
            names.append(tokens[i][1])
        i += 1
    return names, i + 1


def usage(expr: str) -> Usage:
    tokens = tokenize(expr)
    out = Usage()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "ident" and text in LABEL_CLAUSES:
            if nxt == "(":
                names, i = _label_list(tokens, i + 1)
                out.grouping_labels.update(names)
                continue
            i += 1
            continue
        if kind == "ident" and text in AGGREGATORS:
            i += 1
            continue
        if kind == "ident" and text not in KEYWORDS and nxt != "(":
            labels: list[str] = []
            i += 1
            if nxt == "{":
                labels, i = _matchers(tokens, i)
            out.selectors.append((text, labels))
            continue
        if kind == "op" and text == "{":  # a selector without a metric name
            labels, i = _matchers(tokens, i)
            out.selectors.append(("", labels))
            continue
        if kind == "op" and text == "[":  # range or subquery: durations only
            while tokens[i][1] != "]":
                i += 1
        i += 1
    return out
