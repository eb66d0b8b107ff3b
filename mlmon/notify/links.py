"""Deep links for an incident: Kibana Discover (window + model), Grafana dashboard, the HTML report."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

KIBANA_INDEX_PATTERN = "mlmon-inference"
GRAFANA_DASHBOARD_UID = "mlmon-overview"
# Characters Kibana's rison state in the URL fragment keeps readable; everything else is %-encoded.
_RISON_SAFE = "():,'!*-._~/"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.astimezone(UTC).microsecond // 1000:03d}Z"


def rison_string(text: str) -> str:
    """A rison string literal: single quotes, ``!`` escapes ``'`` and ``!``."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def kql_quote(text: str) -> str:
    """A KQL quoted value: backslash escapes ``\\`` and ``"``."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kibana_discover_url(
    base: str, model: str, start: datetime, end: datetime, index_pattern: str = KIBANA_INDEX_PATTERN
) -> str:
    g = f"(time:(from:{rison_string(_iso(start))},to:{rison_string(_iso(end))}))"
    query = f"model.name:{kql_quote(model)}"
    a = f"(index:{rison_string(index_pattern)},query:(language:kuery,query:{rison_string(query)}))"
    return f"{base.rstrip('/')}/app/discover#/?_g={quote(g, safe=_RISON_SAFE)}&_a={quote(a, safe=_RISON_SAFE)}"


def grafana_url(
    base: str, model: str, start: datetime, end: datetime, dashboard_uid: str = GRAFANA_DASHBOARD_UID
) -> str:
    params = {
        "orgId": "1",
        "from": str(int(start.timestamp() * 1000)),
        "to": str(int(end.timestamp() * 1000)),
        "var-model": model,
    }
    return f"{base.rstrip('/')}/d/{quote(dashboard_uid)}/{quote(dashboard_uid)}?{urlencode(params)}"


def report_link(report_url: str | None, report_path: str | None, report_base_url: str | None) -> str | None:
    """The report's URL: given explicitly, else under ``report_base_url``, else a file:// URI of the path."""
    if report_url:
        return report_url
    if not report_path:
        return None
    if report_base_url:
        return f"{report_base_url.rstrip('/')}/{quote(Path(report_path).name)}"
    return Path(report_path).resolve().as_uri()
