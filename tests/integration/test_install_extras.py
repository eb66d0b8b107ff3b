"""`pip install mlmon[serve]` in a fresh venv instruments a FastAPI app without Feast or scikit-learn: the
instrumentation, the inference log and the SQLite store need only the core and the `serve` extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    from pathlib import Path

    import numpy as np
    import pandas as pd
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    for absent in ("feast", "sklearn", "scipy", "aiosmtpd"):
        assert importlib.util.find_spec(absent) is None, f"{absent} is installed"

    from mlmon.baseline.profile import build_profile
    from mlmon.instrument import monitor
    from mlmon.registry import artifact
    from mlmon.settings import ModelServerSettings
    from mlmon.spec import parse_spec, spec_yaml

    root = Path(sys.argv[1])
    spec = parse_spec({"model": "tiny", "prediction": {"kind": "regression"},
                       "features": [{"name": "x", "type": "numeric"}, {"name": "kind", "type": "categorical"}]})
    rows = pd.DataFrame({"x": np.arange(200.0), "kind": ["a", "b"] * 100})
    profile = build_profile(spec, "v1", rows, rows["x"].to_numpy() * 2, source="a test")
    version_dir = root / "models" / "tiny" / "v1"
    version_dir.mkdir(parents=True)
    artifact.write_metadata(version_dir, {"model": "tiny", "version": "v1"})
    profile.save(version_dir / artifact.PROFILE_FILE)
    (version_dir / artifact.SPEC_FILE).write_text(spec_yaml(spec))
    artifact.set_current(root / "models" / "tiny", "v1")
    (root / "spec.yaml").write_text(spec_yaml(spec))

    settings = ModelServerSettings(
        _env_file=None, store=f"sqlite:///{root / 'events.db'}", model_spec=root / "spec.yaml",
        model_path=root / "models" / "tiny", var_dir=root / "var", feedback_token="t" * 16,
    )
    app = FastAPI()
    mon = monitor(app, settings=settings)

    @app.post("/score")
    def score(row: dict) -> dict:
        [pid] = mon.record([row], [2 * row["x"]])
        return {"id": pid}

    with TestClient(app) as client:
        ids = [client.post("/score", json={"x": float(i), "kind": "a"}).json()["id"] for i in range(5)]
        assert mon.log is not None and mon.log.flush(10)
        assert 'mlmon_requests_total{endpoint="/score"' in client.get("/metrics").text
    print(json.dumps({"ids": ids}))
    """
)


def test_serve_extra_instruments_an_app_without_feast_or_scikit_learn(tmp_path: Path) -> None:
    source = tmp_path / "src"  # what `pip install` needs, copied: the build writes next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for package in ("mlmon", "model_server", "stats_service", "drift_detector"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    install = subprocess.run([*pip, f"{source}[serve]"], capture_output=True, text=True, timeout=800)
    assert install.returncode == 0, install.stderr[-3000:]
    (tmp_path / "app.py").write_text(SCRIPT)
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run(
        [str(venv / "bin" / "python"), str(tmp_path / "app.py"), str(work)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=work,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(set(__import__("json").loads(run.stdout.strip().splitlines()[-1])["ids"])) == 5
