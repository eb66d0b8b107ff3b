"""Dashboards and alert rules against the metrics the running services really export.

``tests/unit/stack/test_grafana_dashboards.py`` compares the dashboards with the hand-kept ``MLMON_METRICS``;
this test compares them, the Prometheus rules and that constant with reality: the real ``python -m
model_server`` (a model trained through Feast, SQLite store), ``python -m stats_service`` and ``python -m
drift_detector`` on free loopback ports, scraped by the Debian Prometheus (1 s, with the repo's rule files),
after real traffic that makes every labelled series appear: normal rows, fallback rows (no ``bureau_score`` and
``open_credit_lines``), empty answers (no ``income``), out-of-range values and unknown categories, 422s,
delayed ground truth; an SLO breach (fallback share) sends an email to a real aiosmtpd sink.

Metric names come from each service's ``/metrics`` page (every family, with or without samples); label names
come from the series Prometheus stored, so the scrape job's ``job``/``instance`` and the renamed
``exported_job`` are what the dashboards really see. Every panel query is also run on the live Prometheus.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlmon.demo.data import default_probability, generate_features
from mlmon.embedded.processes import SINGLE_THREAD_ENV
from mlmon.spec import load_spec
from tests.conftest import ManagedProcess, free_port, require_binary, wait_http, wait_until
from tests.fixtures.prom import PrometheusHandle, repo_rule_files, repo_scrape_jobs, run_prometheus
from tests.unit.stack.promql import usage
from tests.unit.stack.test_grafana_dashboards import (
    BUILTIN_DURATIONS,
    DASHBOARDS,
    load,
    queries,
    substitute,
    variable_selectors,
)
from tests.unit.test_stack_files import MLMON_METRICS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC_PATH = Path(__file__).resolve().parents[2] / "mlmon" / "demo" / "loan_default.yaml"
MODEL = "loan_default"
TOKEN = "live-metrics-feedback-token"
INTERVAL_S = 1.0  # both jobs
TRAFFIC_OFFSET = "8s"  # stats: volume compared with the same window this long ago (needs history in Prometheus)
ROUNDS, ROWS_PER_ROUND, ROUND_PAUSE_S = 5, 80, 1.2
FALLBACK_ROWS, EMPTY_ROWS = 12, 8  # per round
WAIT_S = 45.0  # after the traffic: every job has run on it and Prometheus has scraped it
SERVICES = ("model-server", "stats-service", "drift-detector")  # = the repo's scrape job names
# Series Prometheus itself adds for every target (not exported by a service, but real in PromQL).
PROMETHEUS_SERIES = {
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_series_added",
    "scrape_samples_post_metric_relabeling",
}
# Families a run may legitimately leave without samples: nothing failed, no email policy fired.
MAY_BE_EMPTY = {"mlmon_backend_errors", "mlmon_notifications"}
# Panels that may show nothing in a healthy run: the 5xx share has no 5xx series to sum.
MAY_HAVE_NO_DATA = re.compile(r'status=~"5\.\."')
_GRAFANA_VAR = re.compile(r"\$(?:\{(\w+)(?::[^}]*)?\}|(\w+))")


# -------------------------------------------------------------------------------------------- live set


@dataclass
class Family:
    name: str  # family name as prometheus_client reports it (counters without _total)
    kind: str
    services: set[str] = field(default_factory=set)
    series: set[str] = field(default_factory=set)  # sample names seen (what PromQL selects)
    labels: set[str] = field(default_factory=set)  # label names on /metrics (without le/quantile)

    @property
    def promql_name(self) -> str:
        """The name the team contract and PromQL use: counters are exposed as ``<name>_total``."""
        return f"{self.name}_total" if self.kind == "counter" else self.name

    def series_names(self) -> set[str]:
        """Every name a selector can use, also for a family that had no sample yet."""
        if self.kind == "counter":
            return {f"{self.name}_total", f"{self.name}_created"} | self.series
        if self.kind == "histogram":
            return {f"{self.name}{s}" for s in ("_bucket", "_sum", "_count", "_created")} | self.series
        return {self.name} | self.series


@dataclass
class LiveMetrics:
    families: dict[str, Family]  # by family name
    prom_labels: dict[str, set[str]]  # series name -> label names as stored by Prometheus
    pages: dict[str, str]  # service -> last /metrics text
    prometheus: PrometheusHandle
    model_version: str

    @property
    def series(self) -> set[str]:
        names = set(PROMETHEUS_SERIES)
        for fam in self.families.values():
            names |= fam.series_names()
        return names

    def labels_of(self, series: str) -> set[str] | None:
        """Label names of a series as PromQL sees them; None when the name is not live."""
        if series not in self.series:
            return None
        if series in self.prom_labels:
            return self.prom_labels[series] - {"__name__"}
        return None


def parse_page(service: str, text: str, families: dict[str, Family]) -> None:
    page: dict[str, Family] = {}
    for metric in text_string_to_metric_families(text):
        fam = page.setdefault(metric.name, Family(metric.name, metric.type, {service}))
        for sample in metric.samples:
            fam.series.add(sample.name)
            fam.labels |= set(sample.labels) - {"le", "quantile"}
    # prometheus_client writes a counter's or histogram's creation time as a separate ``<name>_created``
    # gauge family in the text format: part of that family, not a metric of its own.
    for name in [n for n in page if n.endswith("_created")]:
        base = page.get(name.removesuffix("_created"))
        if base is not None and base.kind in ("counter", "histogram", "summary"):
            base.series |= page.pop(name).series
    for name, fam in page.items():
        known = families.setdefault(name, Family(name, fam.kind))
        assert known.kind == fam.kind, f"{name}: {known.kind} in {sorted(known.services)}, {fam.kind} in {service}"
        known.services |= fam.services
        known.series |= fam.series
        known.labels |= fam.labels


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def sample_value(text: str, name: str, **labels: str) -> float | None:
    for metric in text_string_to_metric_families(text):
        for sample in metric.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def has_sample(text: str, name: str, **labels: str) -> bool:
    return sample_value(text, name, **labels) is not None


def prom_get(prom: PrometheusHandle, path: str, **params: Any) -> Any:
    url = f"{prom.url}{path}?" + urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read().decode())
    assert body["status"] == "success", body
    return body["data"]


# ------------------------------------------------------------------------------------------ traffic


def rows(n: int, seed: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Realistic applications as JSON rows (null for missing) and their true labels."""
    spec = load_spec(SPEC_PATH)
    rng = np.random.default_rng(seed)
    frame = generate_features(n, rng)
    truth = ["default" if d else "no_default" for d in rng.random(n) < default_probability(frame)]
    kinds = {f.name: f.type for f in spec.features}
    out = []
    for record in frame.to_dict("records"):
        row: dict[str, Any] = {}
        for name, kind in kinds.items():
            value = record.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                row[name] = None
            elif kind == "numeric":
                row[name] = float(value)
            elif kind == "boolean":
                row[name] = bool(value)
            else:
                row[name] = str(value)
        out.append(row)
    return out, truth


def send_round(client: httpx.Client, url: str, seed: int, kinds: dict[str, int]) -> list[dict[str, str]]:
    """One batch with every kind of answer, a single-object request and three 422s; returns the labels owed."""
    batch, truth = rows(ROWS_PER_ROUND, seed)
    for row in batch[:FALLBACK_ROWS]:  # enrichment outage → fallback answer
        row["bureau_score"] = row["open_credit_lines"] = None
    for row in batch[FALLBACK_ROWS : FALLBACK_ROWS + EMPTY_ROWS]:  # no income → empty answer
        row["income"] = None
    batch[-1]["age"] = 150.0  # out of range, still served
    batch[-2]["region"] = "atlantis"  # unknown category → __other__
    response = client.post(f"{url}/predict", json={"instances": batch})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    items = []
    for prediction, label in zip(predictions, truth, strict=True):
        kinds[prediction["kind"]] = kinds.get(prediction["kind"], 0) + 1
        items.append({"prediction_id": prediction["prediction_id"], "label": label})
    single = client.post(f"{url}/predict", json=batch[0])  # the one-object form
    assert single.status_code == 200, single.text
    for bad in ({**batch[0], "loan_amount": None}, {**batch[0], "income": "high"}, {**batch[0], "colour": "red"}):
        assert client.post(f"{url}/predict", json=bad).status_code == 422
    assert client.post(f"{url}/feedback", json=items[:1]).status_code == 401  # no token
    return items


def post_labels(client: httpx.Client, url: str, items: list[dict[str, str]], timeout: float = 10.0) -> int:
    """Ground truth for earlier predictions. The server logs events asynchronously, so a label for a
    prediction not stored yet comes back ``unknown``: those are sent again, for at most ``timeout`` s."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    written = 0
    pending = list(items)

    def all_written() -> bool:
        nonlocal written, pending
        while pending:
            response = client.post(f"{url}/feedback", json=pending[:100], headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            written += body["written"] + body["replaced"]
            unknown = set(body["unknown_ids"])
            pending = [i for i in pending[:100] if i["prediction_id"] in unknown] + pending[100:]
            if unknown:
                return False  # not stored yet: ask again on the next poll
        return True

    wait_until(all_written, timeout, "every labelled prediction stored")
    return written


# ------------------------------------------------------------------------------------------ services


def feast_repo_of(model_dir: Path) -> Path:
    version = (model_dir / "CURRENT").read_text().strip()
    meta = json.loads((model_dir / version / "metadata.json").read_text())
    return Path(meta["feast"]["repo"])


@contextlib.contextmanager
def services(
    folder: Path, model_dir: Path, ports: dict[str, int], prometheus_url: str, smtp_port: int
) -> Iterator[dict[str, ManagedProcess]]:
    """The three services started together (they import in parallel), each waited for, stopped by pid."""
    store = f"sqlite:///{folder / 'inference.db'}"
    common = {
        **SINGLE_THREAD_ENV,
        "MLMON_STORE": store,
        "MLMON_MODEL_PATH": str(model_dir),
        "MLMON_MODEL_SPEC": str(SPEC_PATH),
        "MLMON_FEAST_REPO": str(feast_repo_of(model_dir)),
        "MLMON_PROMETHEUS_URL": prometheus_url,
        "MLMON_VAR_DIR": str(folder / "var"),
        "MLMON_HOST": "127.0.0.1",
        "MLMON_LOG_LEVEL": "WARNING",
        "MLMON_SMTP_HOST": "127.0.0.1",
        "MLMON_SMTP_PORT": str(smtp_port),
        "MLMON_ALERT_EMAIL_TO": "ml-team@example.com",
    }
    envs = {
        "model-server": {
            "MLMON_FEEDBACK_TOKEN": TOKEN,
            "MLMON_PII_HASH_KEY": "test-pii-key-0123456789abcdef",
            "MLMON_FLUSH_INTERVAL_S": "0.2",
        },
        "stats-service": {
            "MLMON_INTERVAL_S": str(INTERVAL_S),
            "MLMON_WINDOWS": "5m",
            "MLMON_LABEL_DELAY_S": "0",
            "MLMON_MIN_LABELS": "50",
            "MLMON_MIN_ROWS": "100",
            "MLMON_TRAFFIC_OFFSETS": TRAFFIC_OFFSET,
        },
        "drift-detector": {
            "MLMON_INTERVAL_S": str(INTERVAL_S),
            "MLMON_WINDOW": "5m",
            "MLMON_MIN_ROWS": "100",
            "MLMON_CONSECUTIVE": "1",
        },
    }
    modules = {"model-server": "model_server", "stats-service": "stats_service", "drift-detector": "drift_detector"}
    ready = {"model-server": "/readyz", "stats-service": "/metrics", "drift-detector": "/metrics"}
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        procs: dict[str, ManagedProcess] = {}
        for name in SERVICES:
            env = {**common, **envs[name], "MLMON_PORT": str(ports[name])}
            procs[name] = ManagedProcess(
                [sys.executable, "-m", modules[name]], folder / f"{name}.log", env=env, cwd=folder
            )
            stack.callback(procs[name].stop)
        try:
            for name in SERVICES:
                wait_http(f"http://127.0.0.1:{ports[name]}{ready[name]}", timeout=60, proc=procs[name].proc)
            yield procs
        except BaseException:
            for name, proc in procs.items():
                print(f"--- {name} log ---\n{proc.log_text()[-2500:]}")
            raise


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path) -> Iterator[LiveMetrics]:
    from mlmon.embedded.smtp_sink import start_smtp_sink, stop_smtp_sink

    assert set(SERVICES) <= set(repo_scrape_jobs())
    folder = tmp_path_factory.mktemp("live-metrics")
    ports = {name: free_port() for name in SERVICES}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    smtp_port = free_port()
    smtp = start_smtp_sink("127.0.0.1", smtp_port, folder / "mail")
    started = time.monotonic()
    try:
        with (
            run_prometheus(
                folder / "prometheus", {n: [f"127.0.0.1:{p}"] for n, p in ports.items()}, rule_files=repo_rule_files()
            ) as prom,
            services(folder / "services", trained_model_dir, ports, prom.url, smtp_port) as procs,
            httpx.Client(timeout=30) as client,
        ):
            up_s = time.monotonic() - started
            server = urls["model-server"]
            # The request counters must be in Prometheus before the traffic, so increase() sees all of it.
            prom.wait_for_series(f'mlmon_responses_total{{model="{MODEL}",job="model-server"}}', timeout=20)
            kinds: dict[str, int] = {}
            owed: list[dict[str, str]] = []
            labelled = 0
            for n in range(ROUNDS):
                sent = send_round(client, server, seed=1000 + n, kinds=kinds)
                labelled += post_labels(client, server, owed)  # the previous round's: delayed ground truth
                owed = sent
                client.get(f"{server}/healthz")
                time.sleep(ROUND_PAUSE_S)
            labelled += post_labels(client, server, owed)
            assert kinds.get("fallback") and kinds.get("empty") and kinds.get("ok"), kinds
            assert labelled == ROUNDS * ROWS_PER_ROUND
            traffic_done = time.time()

            def missing() -> list[str]:
                """What the pages still lack: a run of each job after the traffic, the labelled series."""
                pages = {name: scrape(f"{url}/metrics") for name, url in urls.items()}
                stats, drift = pages["stats-service"], pages["drift-detector"]
                out = []
                for job, page in (("stats", stats), ("drift", drift)):
                    last = sample_value(page, "mlmon_job_last_success_timestamp_seconds")
                    if last is None or last < traffic_done + 2 * INTERVAL_S:
                        out.append(f"{job}: no successful run after the traffic")
                wanted = [
                    (stats, "mlmon_traffic_change_ratio", {}),
                    (stats, "mlmon_eval_metric", {}),
                    (stats, "mlmon_label_lag_seconds", {}),
                    (stats, "mlmon_slo_breach", {}),
                    (drift, "mlmon_drift_score", {"source": "prometheus"}),
                    (drift, "mlmon_drift_p_value", {}),
                    (drift, "mlmon_drift_detected", {}),
                ]
                out += [
                    f"{name}{labels or ''}" for page, name, labels in wanted if not has_sample(page, name, **labels)
                ]
                return out

            try:
                wait_until(lambda: not missing(), WAIT_S, "every series on the pages", step=0.3)
            except TimeoutError:
                logs = "\n".join(f"--- {n} ---\n{p.log_text()[-1500:]}" for n, p in procs.items())
                pytest.fail(f"after {WAIT_S:.0f}s the services still lack: {missing()}\n{logs}")
            # Prometheus holds what the pages hold once every job was scraped after now.
            settled = time.time()
            for job in ("model-server", "stats-service", "drift-detector"):
                prom.wait_scraped_after(settled, job=job)
            pages = {name: scrape(f"{url}/metrics") for name, url in urls.items()}
            families: dict[str, Family] = {}
            for name, text in pages.items():
                parse_page(name, text, families)
            found = prom_get(
                prom, "/api/v1/series", **{"match[]": '{__name__=~"mlmon_.+|up"}'}, start=str(time.time() - 300)
            )
            prom_labels: dict[str, set[str]] = {}
            for series in found:
                prom_labels.setdefault(series["__name__"], set()).update(series)
            version = (trained_model_dir / "CURRENT").read_text().strip()
            print(
                f"\nstack up in {up_s:.1f}s, ready after {time.monotonic() - started:.1f}s; responses {kinds}; "
                f"{labelled} labels; {len(families)} families, {len(prom_labels)} series names in Prometheus"
            )
            yield LiveMetrics(families, prom_labels, pages, prom, version)
            for name, proc in procs.items():
                assert proc.proc.poll() is None, f"{name} exited early:\n{proc.log_text()[-2000:]}"
    finally:
        stop_smtp_sink(smtp)


# ------------------------------------------------------------------------------------- expressions


@dataclass
class Expr:
    where: str
    text: str  # PromQL, Grafana variables substituted
    label_of: str | None = None  # label_values(selector, label): the label read


def _fill(expr: str, defined: set[str], values: Callable[[str], str] | None) -> str:
    return substitute(expr, defined) if values is None else values(expr)


def dashboard_exprs(values: Callable[[str], str] | None = None) -> list[Expr]:
    out = []
    for path in DASHBOARDS:
        board = load(path)
        defined = {v["name"] for v in board["templating"]["list"]}
        out += [Expr(where, _fill(expr, defined, values)) for where, expr in queries(board)]
        out += [
            Expr(f"{board['uid']} / ${name}", _fill(sel, defined, values), label)
            for name, sel, label in variable_selectors(board)
        ]
    return out


def rule_docs() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in repo_rule_files()]


def rule_exprs() -> list[Expr]:
    out = []
    for path, doc in rule_docs():
        for group in doc["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule.get("alert")
                out.append(Expr(f"{path.name} / {name}", str(rule["expr"])))
    return out


def recorded_labels() -> dict[str, set[str]]:
    """Series the recording rules define -> label names they can carry (the groupings of their expression)."""
    out: dict[str, set[str]] = {}
    for _, doc in rule_docs():
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    used = usage(str(rule["expr"]))
                    out[rule["record"]] = set(used.grouping_labels) - {"le"} | set(rule.get("labels", {}))
    return out


def check(exprs: list[Expr], live: LiveMetrics, defined: dict[str, set[str]]) -> list[str]:
    """Problems: names not exported, matcher or grouping labels the metric does not carry."""
    problems: list[str] = []
    for expr in exprs:
        used = usage(expr.text)
        if not used.selectors:
            problems.append(f"{expr.where}: no metric in {expr.text!r}")
        names: set[str] = set()
        for metric, matcher_labels in used.selectors:
            if metric not in defined and metric not in live.series:
                problems.append(f"{expr.where}: {metric!r} is exported by no service")
                continue
            labels = defined[metric] if metric in defined else live.labels_of(metric)
            if labels is None:
                problems.append(f"{expr.where}: {metric} has no series in Prometheus, labels unknown")
                continue
            unknown = set(matcher_labels) - labels
            if unknown:
                problems.append(f"{expr.where}: {metric} has no label {sorted(unknown)} (live: {sorted(labels)})")
            names |= labels
        missing = used.grouping_labels - names - {"le"}
        if names and missing:
            problems.append(f"{expr.where}: groups by {sorted(missing)}, which none of its metrics carries")
        if expr.label_of is not None and used.selectors and expr.label_of not in names:
            problems.append(f"{expr.where}: reads label {expr.label_of!r}, not on {used.selectors[0][0]}")
    return problems


# ------------------------------------------------------------------------------------------ tests


def test_every_service_page_is_exported_and_promtool_clean(live: LiveMetrics) -> None:
    promtool = require_binary("promtool")
    for name, text in live.pages.items():
        result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    for fam in live.families.values():
        if fam.name.startswith("mlmon_") and fam.name not in MAY_BE_EMPTY:
            assert fam.series, f"{fam.name} ({', '.join(sorted(fam.services))}) has no sample after the traffic"
        if fam.name.startswith("mlmon_") and fam.series:
            assert "model" in fam.labels, f"{fam.name} has no model label"


def test_dashboard_queries_use_only_live_metrics_and_labels(live: LiveMetrics) -> None:
    exprs = dashboard_exprs()
    problems = check(exprs, live, defined={})
    assert not problems, "dashboards vs live /metrics:\n" + "\n".join(problems)
    assert len(exprs) > 40


def test_rule_expressions_use_only_live_metrics_and_labels(live: LiveMetrics) -> None:
    exprs = rule_exprs()
    problems = check(exprs, live, defined=recorded_labels())
    assert not problems, "prometheus/rules vs live /metrics:\n" + "\n".join(problems)
    assert len(exprs) > 15
    # The live Prometheus loaded the same files and evaluates them on the live series without error
    # (a many-to-many match or a wrong vector type shows up only here).
    rules = [r for g in prom_get(live.prometheus, "/api/v1/rules")["groups"] for r in g["rules"]]
    assert len(rules) == len(exprs)
    broken = [f"{r['name']}: {r['health']} {r.get('lastError', '')}" for r in rules if r["health"] != "ok"]
    assert not broken, broken


def live_values(expr: str, model_version: str) -> str:
    """Grafana variables → this run's values (``.*`` for the multi-value ones), as Grafana sends them."""
    values = {"model": MODEL, "model_version": model_version}
    short = {**BUILTIN_DURATIONS, "__rate_interval": "1m", "__range": "5m"}  # the run lasted ~20 s

    def sub(m: re.Match[str]) -> str:
        name = m[1] or m[2]
        return short.get(name) or values.get(name, ".*")

    return _GRAFANA_VAR.sub(sub, expr)


def test_dashboard_queries_run_on_the_live_prometheus(live: LiveMetrics) -> None:
    """Every panel query parses and runs on the real Prometheus and, with this run's model and version,
    returns series; every variable's ``label_values`` finds values."""
    problems: list[str] = []
    empty: list[str] = []
    exprs = dashboard_exprs(lambda e: live_values(e, live.model_version))
    for expr in exprs:
        try:
            if expr.label_of is not None:
                found = prom_get(live.prometheus, "/api/v1/series", **{"match[]": expr.text})
                has_data = bool({s.get(expr.label_of) for s in found} - {None})
            else:
                has_data = bool(prom_get(live.prometheus, "/api/v1/query", query=expr.text)["result"])
        except urllib.error.HTTPError as exc:  # 400: does not parse / cannot run
            problems.append(f"{expr.where}: {exc.code} {exc.read().decode()[:300]} for {expr.text}")
            continue
        if not has_data:
            (empty if MAY_HAVE_NO_DATA.search(expr.text) else problems).append(f"{expr.where}: {expr.text}")
    print(f"\n{len(exprs)} dashboard queries run; allowed to be empty in a healthy run: {len(empty)}")
    assert not problems, "dashboard queries failing or without data on the live stack:\n" + "\n".join(problems)


def test_the_name_and_label_check_can_fail(live: LiveMetrics) -> None:
    """The same check flags a counter without ``_total``, an unknown metric, a label the metric does not
    carry and a grouping by a missing label; it accepts what the services really export."""
    bad = [
        Expr("counter", 'rate(mlmon_requests{model="x"}[5m])'),
        Expr("unknown", "mlmon_no_such_metric"),
        Expr("label", 'mlmon_requests_total{kind="ok"}'),
        Expr("grouping", "sum by (feature) (mlmon_requests_in_flight)"),
        Expr("variable", "mlmon_eval_metric", label_of="feature"),
    ]
    problems = check(bad, live, defined={})
    assert len(problems) == len(bad), problems
    for expr, problem in zip(bad, problems, strict=True):
        assert problem.startswith(f"{expr.where}:"), problems
    good = [
        Expr("job label of the scrape", "max by (job, exported_job) (mlmon_job_last_success_timestamp_seconds)"),
        Expr("histogram", 'sum by (le, endpoint) (rate(mlmon_request_duration_seconds_bucket{status!=""}[1m]))'),
    ]
    assert check(good[:1], live, defined={}) == []
    assert len(check(good[1:], live, defined={})) == 1  # the duration histogram has no status label


def _exported(live: LiveMetrics) -> dict[str, Family]:
    return {fam.promql_name: fam for fam in live.families.values() if fam.name.startswith("mlmon_")}


def test_mlmon_metrics_names_and_types_are_exported(live: LiveMetrics) -> None:
    """Each name of ``MLMON_METRICS`` (the unit tests' list) is on a live page, with the listed type."""
    exported = _exported(live)
    problems = []
    for name, (kind, _) in sorted(MLMON_METRICS.items()):
        fam = exported.get(name)
        if fam is None:
            problems.append(f"{name}: listed, but no service exports it")
        elif fam.kind != kind:
            problems.append(f"{name}: listed as {kind}, exported as {fam.kind}")
    assert not problems, "tests/unit/test_stack_files.py MLMON_METRICS vs live /metrics:\n" + "\n".join(problems)


def test_mlmon_metrics_labels_and_completeness_match_the_live_pages(live: LiveMetrics) -> None:
    """``MLMON_METRICS`` says it lists every metric mlmon exports with its labels: the unit tests reject a
    dashboard by it, so a label it lacks rejects a valid query and a metric it lacks cannot be charted."""
    exported = _exported(live)
    problems = []
    for name, (_, labels) in sorted(MLMON_METRICS.items()):
        fam = exported.get(name)
        if fam is not None and fam.series and set(labels) != fam.labels:
            problems.append(
                f"{name}: listed labels {sorted(labels)}, exported {sorted(fam.labels)} "
                f"({', '.join(sorted(fam.services))})"
            )
    unlisted = sorted(set(exported) - set(MLMON_METRICS))
    if unlisted:
        problems.append(f"exported but not in MLMON_METRICS: {unlisted}")
    assert not problems, "tests/unit/test_stack_files.py MLMON_METRICS vs live /metrics:\n" + "\n".join(problems)
