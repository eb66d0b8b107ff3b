# One image for every mlmon Python service; the compose file picks the command:
#   mlmon serve | stats | drift | replay | register ... (the demo: mlmon demo --train-only)
# Build: docker build -t mlmon:local .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project from a throw-away copy of the sources (only what `pip install .` needs).
WORKDIR /tmp/mlmon-src
COPY pyproject.toml README.md ./
COPY mlmon ./mlmon
COPY model_server ./model_server
COPY stats_service ./stats_service
COPY drift_detector ./drift_detector
RUN pip install . \
    && rm -rf /tmp/mlmon-src

# Non-root user; the folders it writes are created here so that named volumes mounted on them
# (models, feature_repo/data, var) start out owned by it.
RUN groupadd --system --gid 10001 mlmon \
    && useradd --system --uid 10001 --gid mlmon --home-dir /srv/mlmon --shell /usr/sbin/nologin mlmon
WORKDIR /srv/mlmon
COPY --chown=mlmon:mlmon mlmon/demo/loan_default.yaml ./specs/loan_default.yaml
COPY --chown=mlmon:mlmon feature_repo ./feature_repo
RUN mkdir -p models var feature_repo/data \
    && chown -R mlmon:mlmon /srv/mlmon

USER mlmon
ENV MLMON_HOST=0.0.0.0 \
    MLMON_MODEL_SPEC=/srv/mlmon/specs/loan_default.yaml \
    MLMON_FEAST_REPO=/srv/mlmon/feature_repo \
    MLMON_MODEL_PATH=/srv/mlmon/models/loan_default \
    MLMON_VAR_DIR=/srv/mlmon/var \
    HEALTHCHECK_PATH=/healthz
EXPOSE 8000 8001 8002

# No curl in the image: the check uses Python's urllib. It follows redirects (/metrics -> /metrics/),
# reads MLMON_PORT of the running service and HEALTHCHECK_PATH; compose sets both per service.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s%s' % (os.environ.get('MLMON_PORT', '8000'), os.environ.get('HEALTHCHECK_PATH', '/healthz')), timeout=4)"]

# `mlmon serve --workers N` runs N uvicorn workers; set PROMETHEUS_MULTIPROC_DIR for the model server only (the
# master wipes its *.db files at start; default <MLMON_VAR_DIR>/metrics-multiproc): compose uses a tmpfs.
ENTRYPOINT ["mlmon"]
CMD ["--help"]
