"""`python -m stats_service` (the same command as `mlmon stats`)."""

import sys

from mlmon.jobs import add_job_arguments, service_main
from stats_service.cli import DESCRIPTION, handler

if __name__ == "__main__":
    sys.exit(service_main("python -m stats_service", DESCRIPTION, handler, add_job_arguments))
