"""`python -m model_server` (the same command as `mlmon serve`)."""

import sys

from mlmon.jobs import service_main
from model_server.cli import DESCRIPTION, add_arguments, handler

if __name__ == "__main__":
    sys.exit(service_main("python -m model_server", DESCRIPTION, handler, add_arguments))
