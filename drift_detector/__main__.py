"""`python -m drift_detector` (the same command as `mlmon drift`)."""

import sys

from drift_detector.cli import DESCRIPTION, handler
from mlmon.jobs import add_job_arguments, service_main

if __name__ == "__main__":
    sys.exit(service_main("python -m drift_detector", DESCRIPTION, handler, add_job_arguments))
