"""A self-contained HTML drift report: the run told in the structure of every incident email (kind of change,
symptoms, likely causes ranked by effect × importance, top input shifts; ``mlmon.notify.summary``), then per
check baseline vs current bars (inline SVG), numbers, decision.

No external assets, so the file can be attached, mailed or opened from disk.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, select_autoescape

from drift_detector.run import DriftRun, check_row, summary_line
from mlmon.atomic import write_text_atomic

if TYPE_CHECKING:
    from drift_detector.baseline_cache import ServingBaseline

_ENV = Environment(autoescape=select_autoescape(default=True, default_for_string=True))

_TEMPLATE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mlmon drift report {{ run.model }} {{ run.version }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222} table{border-collapse:collapse}
td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.drift{color:#b00020;font-weight:bold} .pending{color:#b36b00} .ok{color:#2e7d32} .muted{color:#777}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}
</style></head><body>
<h1>Drift report: {{ run.model }} <span class="muted">version {{ run.version }}</span></h1>
<p><b>{{ summary }}</b></p>
{% if incident %}
<h2>{{ incident.first_line }}</h2>
{% if incident.symptoms %}<h3>Symptoms (what users feel)</h3>
<ul>{% for f in incident.symptoms %}<li><b>[{{ f.severity | upper }}]</b> {{ f.title }}</li>{% endfor %}</ul>{% endif %}
{% if incident.causes %}<h3>Likely causes (ranked by effect × importance)</h3>
<ol>{% for c in incident.causes %}<li><b>{{ c.name }}</b>: {{ c.text }}
<span class="muted">({{ c.ranking_text }})</span></li>{% endfor %}</ol>{% endif %}
{% if incident.top_shifts %}<h3>Top input shifts (before → after)</h3>
<ul>{% for c in incident.top_shifts %}<li><b>{{ c.name }}</b>: {{ c.text }}</li>{% endfor %}</ul>
<p class="muted">{{ incident.importance_note }}</p>{% endif %}
{% endif %}
<p>Window {{ run.window.start.isoformat() }} → {{ run.window.end.isoformat() }} ·
{{ run.rows }} predictions of version {{ run.version }} ·
{{ run.path }} path, counts from
{{ "Prometheus (serve-time counts)" if run.source == "prometheus" else "the store" }} ·
baseline {{ baseline_source }}</p>
{% for note in run.notes %}<p class="muted">Note: {{ note }}</p>{% endfor %}
<p class="legend">Bars: <span style="background:#9e9e9e"></span>baseline (training)
<span style="background:#1565c0"></span>current window</p>
<p>Outputs come first; input features follow, ranked by effect size, as likely causes.</p>
<table><tr><th>check</th><th>distribution</th><th>numbers</th><th>decision</th></tr>
{% for item in items %}
<tr><td><b>{{ item.row.feature }}</b><br><span class="muted">{{ item.row.role }} · {{ item.row.kind }}</span></td>
<td>{{ item.svg | safe }}</td>
<td>{{ item.row.method }} = {{ fmt(item.row.statistic) }} (threshold {{ fmt(item.row.threshold) }},
smallest detectable {{ fmt(item.row.mde) }})<br>
{{ item.row.significance_test }} p = {{ fmt(item.row.p_value) }}, BH-adjusted {{ fmt(item.row.p_adjusted) }}<br>
n baseline {{ item.row.n_ref }}, n current {{ item.row.n_cur }}
{% for f in item.row.findings %}<br>{{ f }}{% endfor %}</td>
<td class="{{ item.css }}">{{ item.row.status }}
{% if item.row.reason %}<br><span class="muted">{{ item.row.reason }}</span>{% endif %}</td></tr>
{% endfor %}
</table>
{% if prom %}<h2>Served output distribution from Prometheus</h2>
<p>{{ prom.method }} = {{ fmt(prom.statistic) }} (threshold {{ fmt(prom.threshold) }}) over {{ prom.n_cur }} predictions
counted by the model server's <code>mlmon_prediction</code> histogram.</p>{% endif %}
</body></html>
"""
)


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.4g}"


def bars_svg(labels: list[str], baseline: list[float], current: list[float], width: int = 360, height: int = 90) -> str:
    if not labels or len(baseline) != len(labels) or len(current) != len(labels):
        return '<span class="muted">no chart</span>'
    top = max([*baseline, *current, 1e-9])
    slot = width / len(labels)
    bar = max(slot / 2 - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for i, (label, ref, cur) in enumerate(zip(labels, baseline, current, strict=True)):
        x = i * slot
        for j, (value, colour) in enumerate(((ref, "#9e9e9e"), (cur, "#1565c0"))):
            h = (height - 4) * value / top
            parts.append(
                f'<rect x="{x + j * bar:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{_escape(label)}: {'baseline' if j == 0 else 'current'} {value:.2%}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def write_html_report(run: DriftRun, baseline: ServingBaseline, folder: Path) -> Path:
    items = []
    for check in run.checks:
        row = check_row(check, run.decision_for(check))
        css = {"drift": "drift", "pending": "pending", "no_drift": "ok"}.get(row["status"], "muted")
        items.append({"row": row, "css": css, "svg": bars_svg(check.labels, check.ref_shares, check.cur_shares)})
    prom = check_row(run.prometheus_check, None) if run.prometheus_check is not None else None
    incident = run.summary() if run.status == "ok" and run.drifted else None
    html = _TEMPLATE.render(
        run=run,
        summary=summary_line(run),
        incident=incident,
        items=items,
        prom=prom,
        fmt=_fmt,
        baseline_source=baseline.profile.source,
    )
    stamp = (run.finished_at or run.window.end).strftime("%Y%m%dT%H%M%S")
    path = folder / run.model / f"drift-{stamp}.html"
    write_text_atomic(path, html)
    write_text_atomic(folder / run.model / "latest.html", html)
    return path
