# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.installed-runtime
DEVSTAMP := $(VENV)/.installed-dev
BENCHSTAMP := $(VENV)/.installed-bench

.PHONY: demo test test-fast lint format bench components install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e '.[demo]'
	touch $@

$(DEVSTAMP): pyproject.toml | $(PY)
	$(PIP) install -q -e '.[dev]'
	touch $@ $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/mlmon demo $(DEMO_ARGS)

components:
	bash scripts/install_components.sh

# Two pytest workers, each test file on one of them (files share their servers and trained models): most
# tests wait on real servers, so two workers halve the run even on two cores. TEST_WORKERS=0 runs in-process.
TEST_WORKERS ?= 2

test: lint components
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The quick loop while developing: unit and contract tests (real SQLite and ES-API server), no services.
test-fast: $(DEVSTAMP)
	$(PY) -m pytest tests/unit tests/contract -m "not slow" $(PYTEST_ARGS)

lint: $(DEVSTAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy mlmon model_server stats_service drift_detector tests

format: $(DEVSTAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

$(BENCHSTAMP): pyproject.toml $(DEVSTAMP)
	$(PIP) install -q -e '.[bench]'
	touch $@

# wrk (Debian) is the serving benchmark's load generator.
bench: $(BENCHSTAMP) components
	command -v wrk >/dev/null || apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends wrk
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf var build *.egg-info
