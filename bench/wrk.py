"""wrk (Debian package ``wrk``) as the load generator of ``bench/serving.py``: loopback only, bounded by duration.

wrk is a C event-loop client: it keeps ``-c`` keep-alive connections busy with far less CPU per request than any
Python client (on a 2-core machine the client's CPU is taken from the server). A Lua ``done`` hook prints the
whole latency histogram (microseconds, one line per distinct value), so percentiles are computed over every
sample of every round, not averaged per round.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

DONE_HOOK = """
done = function(summary, latency, requests)
  io.write(string.format("MLMON requests %d\\n", summary.requests))
  io.write(string.format("MLMON duration_us %d\\n", summary.duration))
  local e = summary.errors
  io.write(string.format("MLMON errors %d\\n", e.connect + e.read + e.write + e.status + e.timeout))
  for i = 1, #latency do
    local value, count = latency(i)
    io.write(string.format("MLMON lat %d %d\\n", value, count))
  end
end
"""


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (or `make components` as root)")
    return path


def version() -> str:
    out = subprocess.run([require_wrk(), "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def script(path: Path, method: str = "GET", body: bytes | None = None) -> Path:
    """A wrk Lua script: the request (``POST`` with a JSON ``body``) and the histogram hook."""
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/json"')
        lines.append(f"wrk.body = [==[{body.decode()}]==]")
    path.write_text("\n".join(lines) + "\n" + DONE_HOOK, encoding="utf-8")
    return path


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    errors: int = 0
    latency_us: Counter[int] = field(default_factory=Counter)  # value -> count

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def samples(self) -> int:
        return sum(self.latency_us.values())

    def percentile_ms(self, q: float) -> float:
        return percentile_ms(self.latency_us, q)


def percentile_ms(histogram: Counter[int], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of a value -> count histogram of microseconds, in ms."""
    total = sum(histogram.values())
    if not total:
        return math.nan
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value / 1000.0
    return max(histogram) / 1000.0


def merged(results: Iterable[WrkResult]) -> Counter[int]:
    total: Counter[int] = Counter()
    for result in results:
        total.update(result.latency_us)
    return total


def start(url: str, lua: Path, seconds: float, connections: int, threads: int = 1) -> subprocess.Popen[str]:
    """Start wrk against ``url`` (loopback only); ``finish`` collects it."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only loads loopback servers, not {url}")
    args = [
        require_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(lua),
        url,
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 120.0) -> WrkResult:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err.strip() or out[-500:]}")
    result = WrkResult()
    for line in out.splitlines():
        parts = line.split()
        if not parts or parts[0] != "MLMON":
            continue
        if parts[1] == "requests":
            result.requests = int(parts[2])
        elif parts[1] == "duration_us":
            result.seconds = int(parts[2]) / 1e6
        elif parts[1] == "errors":
            result.errors = int(parts[2])
        elif parts[1] == "lat":
            result.latency_us[int(parts[2])] += int(parts[3])
    return result


def run(url: str, lua: Path, seconds: float, connections: int) -> WrkResult:
    return finish(start(url, lua, seconds, connections), timeout=seconds + 120)
