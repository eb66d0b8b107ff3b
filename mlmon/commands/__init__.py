"""The core's `mlmon` subcommands (registered through the ``mlmon.commands`` entry-point group)."""
