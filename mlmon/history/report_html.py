"""The backtest report as one self-contained HTML page (inline CSS and SVG; no script, font or image from
anywhere): the summary tables, the incidents that would have opened, then per run a timeline of symptoms (one
lane per measure, its bound dashed, breached windows red, the open incidents as bands) and a heatmap of the
inputs' drift (statistic / threshold per feature and window)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlmon.atomic import write_text_atomic

WIDTH = 960
LABEL_W = 170
LANE_H = 56
CELL_H = 16
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>mlmon backtest {{ doc.model }} {{ doc.range.start }} .. {{ doc.range.end }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top} .muted{color:#777}
.crit{color:#b00020;font-weight:bold} .warn{color:#b36b00;font-weight:bold} h2{margin-top:1.6em}
svg text{font-size:11px;fill:#333} .num{text-align:right}
</style></head><body>
<h1>Backtest: {{ doc.model }} <span class="muted">{{ doc.model_version or "" }}</span></h1>
<p>{{ doc.windows }} windows of {{ doc.window }} from {{ doc.range.start }} to {{ doc.range.end }}; the statistics
and drift computations of a live run over each window, then the live incident tracker at the window's end
(as if live; emails counted, not sent). An incident marked <em>context only</em> had input shifts but no symptom
or break: live, it is told in the digest, not paged.</p>
{% for note in doc.notes %}<p class="muted">Note: {{ note }}</p>{% endfor %}
<h2>Summary</h2>
<table id="summary"><tr><th>run</th><th>settings</th><th class="num">incidents</th><th class="num">emails</th>
<th>first incident</th><th class="num">seconds</th></tr>
{% for run in doc.runs %}<tr><td>{{ run.label }}</td><td>{{ settings(run) }}</td>
<td class="num">{{ run.incidents|length }}</td>
<td class="num">{{ run.emails }}</td><td>{{ run.incidents[0].opened_at if run.incidents else "none" }}</td>
<td class="num">{{ run.seconds }}</td></tr>{% endfor %}</table>
<table id="per-month"><tr><th>month</th>
{% for run in doc.runs %}<th class="num">incidents {{ run.label }}</th>{% endfor %}</tr>
{% for month in months %}<tr><td>{{ month }}</td>{% for run in doc.runs %}
<td class="num">{{ run.per_month.get(month, {}).get("incidents", 0) }}</td>{% endfor %}</tr>{% endfor %}</table>
<table id="per-kind"><tr><th>kind of change</th>
{% for run in doc.runs %}<th class="num">incidents {{ run.label }}</th>{% endfor %}</tr>
{% for kind in kinds %}<tr><td>{{ kind }}</td>{% for run in doc.runs %}
<td class="num">{{ run.per_kind.get(kind, 0) }}</td>{% endfor %}</tr>{% endfor %}</table>
{% for run in doc.runs %}
<h2>Run {{ run.label }}: {{ settings(run) }}</h2>
<h3>Incidents that would have opened</h3>
{% if run.incidents %}<table class="incidents" id="incidents-{{ run.label }}">
<tr><th>opened</th><th>first window</th>
<th>severity</th><th>kind</th><th>headline</th><th>how long</th></tr>
{% for i in run.incidents %}<tr><td>{{ i.opened_at }}</td>
<td>{{ i.first_window.start }} .. {{ i.first_window.end }}</td>
<td class="{{ 'crit' if i.severity == 'critical' else 'warn' }}">{{ i.severity }}</td><td>{{ i.kind }}</td>
<td>{{ i.headline }}{% if not i.paged %} <span class="muted">(context only)</span>{% endif %}</td>
<td>{{ lasted(i) }}</td></tr>{% endfor %}</table>
{% else %}<p>None.</p>{% endif %}
<h3>Timeline of symptoms</h3>
{{ timeline(run) | safe }}
<h3>Causes: input drift (statistic / threshold)</h3>
{{ heatmap(run) | safe }}
{% endfor %}
</body></html>
"""


def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _tag(name: str, content: str = "", **attrs: Any) -> str:
    """``<name a="1" ...>content</name>``; attribute names use ``_`` for ``-``, ``class_`` for ``class``."""
    text = " ".join(f'{k.rstrip("_").replace("_", "-")}="{_esc(v)}"' for k, v in attrs.items() if v is not None)
    return f"<{name} {text}>{content}</{name}>"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _x(i: int, n: int) -> float:
    return LABEL_W + (WIDTH - LABEL_W) * i / max(n, 1)


def _svg(kind: str, label: str, height: float, parts: list[str]) -> str:
    return _tag(
        "svg", "".join(parts), xmlns="http://www.w3.org/2000/svg", id=f"{kind}-{label}", class_=kind,
        width=WIDTH, height=f"{height:.0f}", role="img",
    )  # fmt: skip


def _lanes(run: dict[str, Any]) -> list[tuple[str, list[dict[str, Any] | None]]]:
    names: dict[str, list[dict[str, Any] | None]] = {}
    timeline = run["timeline"]
    for i, entry in enumerate(timeline):
        for symptom in entry["symptoms"]:
            lane = names.setdefault(symptom["name"], [None] * len(timeline))
            lane[i] = symptom
    return list(names.items())


def _lane(name: str, points: list[dict[str, Any] | None], top: int, timeline: list[dict[str, Any]]) -> str:
    n = len(timeline)
    slot = (WIDTH - LABEL_W) / max(n, 1)
    values = [p["value"] for p in points if p is not None and p["value"] is not None]
    bounds = [p["bound"] for p in points if p is not None and p["bound"] is not None]
    lo, hi = min([*values, *bounds], default=0.0), max([*values, *bounds], default=1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5

    def y(v: float) -> float:
        return top + LANE_H - 8 - (LANE_H - 14) * (v - lo) / (hi - lo)

    parts = [_tag("text", _esc(name), x=0, y=f"{top + LANE_H / 2:.0f}")]
    base = top + LANE_H - 4
    parts.append(_tag("line", x1=LABEL_W, x2=WIDTH, y1=base, y2=base, stroke="#eee"))
    if bounds:
        yb = f"{y(bounds[-1]):.1f}"
        parts.append(_tag("line", x1=LABEL_W, x2=WIDTH, y1=yb, y2=yb, stroke="#555", stroke_dasharray="4 3"))
    path: list[str] = []
    for i, p in enumerate(points):
        if p is None or p["value"] is None:
            continue
        cx, cy = _x(i, n) + slot / 2, y(p["value"])
        path.append(f"{'L' if path else 'M'}{cx:.1f},{cy:.1f}")
        bound = "" if p["bound"] is None else f" (bound {p['op']} {_fmt(p['bound'])})"
        tip = _tag("title", _esc(f"{timeline[i]['start']}: {name} {_fmt(p['value'])}{bound}"))
        css = "point breached" if p["breached"] else "point"
        fill = "#b00020" if p["breached"] else "#1565c0"
        parts.append(_tag("circle", tip, class_=css, cx=f"{cx:.1f}", cy=f"{cy:.1f}", r="2.5", fill=fill))
    if path:
        parts.append(_tag("path", d=" ".join(path), fill="none", stroke="#1565c0", stroke_width=1, opacity=0.6))
    return _tag("g", "".join(parts), class_="lane", data_symptom=name)


def timeline_svg(run: dict[str, Any]) -> str:
    """One lane per symptom (its values, the bound dashed, breached windows red), open incidents shaded."""
    timeline = run["timeline"]
    n = len(timeline)
    lanes = _lanes(run)
    height = 22 + LANE_H * max(len(lanes), 1) + 18
    slot = (WIDTH - LABEL_W) / max(n, 1)
    parts = []
    for i, entry in enumerate(timeline):
        if entry["incident"]:
            tip = _tag("title", _esc(f"incident {entry['incident']} open after {entry['end']}"))
            x = f"{_x(i, n):.1f}"
            parts.append(_tag("rect", tip, class_="incident-band", x=x, y=18, width=f"{slot:.2f}", height=height - 36,
                              fill="#fde0dc"))  # fmt: skip
    parts.append(_tag("text", "incident open: shaded · bound breached: red", x=LABEL_W, y=12))
    parts += [_lane(name, points, 22 + k * LANE_H, timeline) for k, (name, points) in enumerate(lanes)]
    parts.append(_axis(timeline, height - 4))
    return _svg("timeline", str(run["label"]), height, parts)


def _axis(timeline: list[dict[str, Any]], y: float) -> str:
    n = len(timeline)
    ticks = sorted({0, n // 2, n - 1}) if n else []
    anchors = {0: "start", n - 1: "end"}
    return "".join(
        _tag("text", _esc(timeline[i]["start"][:10]), x=f"{_x(i + (i == n - 1), n):.1f}", y=f"{y:.0f}",
             text_anchor=anchors.get(i, "middle"))
        for i in ticks
    )  # fmt: skip


def _colour(ratio: float | None) -> str:
    if ratio is None:
        return "#f4f4f4"
    # below the threshold faint (noise stays quiet), past it a clear step, darkest at five times it
    share = 0.35 * max(ratio, 0.0) ** 2 if ratio < 1 else 0.55 + 0.45 * min((ratio - 1) / 4, 1.0)
    red = 255 - round(75 * share)
    other = 255 - round(235 * share)
    return f"#{red:02x}{other:02x}{other:02x}"


def _cell(entry: dict[str, Any], feature: str, x: float, top: int, slot: float) -> str:
    cause = entry["causes"].get(feature)
    ratio = cause["ratio"] if cause else None
    drift = bool(cause) and cause["status"] == "drift"
    if cause:
        tip = (
            f"{entry['start']}: {feature} {cause['test']} {_fmt(cause['statistic'])} / threshold "
            f"{_fmt(cause['threshold'])} = {_fmt(ratio)} ({cause['status']})"
        )
    else:
        tip = f"{entry['start']}: {feature} not measured"
    return _tag(
        "rect", _tag("title", _esc(tip)), class_="cell drift" if drift else "cell", x=f"{x:.1f}", y=top,
        width=f"{max(slot, 0.5):.2f}", height=CELL_H - 2, fill=_colour(ratio),
        stroke="#000" if drift else None, stroke_width=1 if drift else None,
    )  # fmt: skip


def heatmap_svg(run: dict[str, Any]) -> str:
    """Features × windows, coloured by statistic / threshold; decided drift outlined."""
    timeline = run["timeline"]
    n = len(timeline)
    features = sorted({f for entry in timeline for f in entry["causes"]})
    height = 20 + CELL_H * max(len(features), 1) + 18
    slot = (WIDTH - LABEL_W) / max(n, 1)
    legend = "faint: below the threshold · red: at it and beyond (darker: further) · outlined: decided drift"
    parts = [_tag("text", legend, x=LABEL_W, y=12)]
    for k, feature in enumerate(features):
        top = 18 + k * CELL_H
        parts.append(_tag("text", _esc(feature), x=0, y=top + CELL_H - 4))
        parts += [_cell(entry, feature, _x(i, n), top, slot) for i, entry in enumerate(timeline)]
    parts.append(_axis(timeline, height - 4))
    return _svg("heatmap", str(run["label"]), height, parts)


def _lasted(item: dict[str, Any]) -> str:
    if item["duration_s"] is None:
        return f"still open at the end ({item['windows']} windows)"
    hours = item["duration_s"] / 3600
    span = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} h"
    return f"{span} ({item['windows']} windows)"


def _settings(run: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in run["settings"].items()) or "configured settings"


def render(document: dict[str, Any]) -> str:
    from jinja2 import Environment, select_autoescape

    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    months = sorted({m for run in document["runs"] for m in run["per_month"]})
    kinds = sorted({k for run in document["runs"] for k in run["per_kind"]})
    return env.from_string(_PAGE).render(
        doc=document,
        months=months,
        kinds=kinds,
        settings=_settings,
        lasted=_lasted,
        timeline=timeline_svg,
        heatmap=heatmap_svg,
    )


def write(document: dict[str, Any], path: Path) -> None:
    write_text_atomic(path, render(document))
